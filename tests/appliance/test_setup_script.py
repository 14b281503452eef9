"""scripts/setup.sh on a machine whose Python package index cannot be reached."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _refused_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_setup_fails_early_with_a_network_error_when_the_index_is_unreachable(
    tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    (project / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "setup.sh", project / "scripts" / "setup.sh")
    shutil.copy(ROOT / "pyproject.toml", project / "pyproject.toml")
    index = f"http://127.0.0.1:{_refused_port()}/simple"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    # no configuration files: no local mirror or wheel folder can stand in for the index
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_INDEX_URL=index, PIP_DEFAULT_TIMEOUT="5")
    proc = subprocess.run(
        ["bash", "scripts/setup.sh"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "cannot download from the Python package index" in proc.stderr
    message = proc.stderr[proc.stderr.index("setup: cannot download") :]
    assert index in message  # names the index it tried
    assert "Connection refused" in message  # and why it failed
    assert not list((project / ".venv").glob(".installed-*"))
