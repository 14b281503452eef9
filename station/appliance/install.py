"""`station install`: make this machine a check-station appliance.

Writes the systemd units (server, boot self-test, desk kiosk), the udev rule that names the
lamp controller /dev/station-lamp, log rotation, a journal size cap, the service accounts and
the station's settings file, then (on the real root only) creates the accounts, reloads udev
and systemd and (re)starts the services. Running it again after an update rewrites the units
and keeps the settings file and every byte of data; the server migrates the database before
it starts. ``--root DIR`` writes the same files under DIR and changes nothing else.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path, PurePosixPath

from station.errors import ConfigError

#: Debian packages the kiosk needs on the station (the server's come from scripts/setup.sh)
KIOSK_PACKAGES = ("cage", "chromium")
UNITS = ("station-doctor.service", "station.service")
KIOSK_UNIT = "station-kiosk.service"
_TOKEN = re.compile(r"@[A-Z_]+@")
_BY_ID = re.compile(r"^usb-(?P<serial>.+?)-if[0-9a-fA-F]{2}(-port\d+)?$")


def lamp_id_from_by_id(name: str) -> str:
    """The udev ID_SERIAL in a /dev/serial/by-id name (``usb-<ID_SERIAL>-if00[-port0]``)."""
    match = _BY_ID.match(PurePosixPath(name).name)
    if match is None:
        raise ConfigError(
            f"{name!r} is not a /dev/serial/by-id name of a USB serial device "
            "(expected usb-<vendor>_<product>_<serial>-if00); give --lamp-id as shown by "
            "`ls /dev/serial/by-id`"
        )
    return match.group("serial")


def detect_lamp_ids(by_id_dir: Path = Path("/dev/serial/by-id")) -> list[str]:
    """USB serial devices plugged in now, as /dev/serial/by-id names."""
    if not by_id_dir.is_dir():
        return []
    return sorted(p.name for p in by_id_dir.iterdir() if _BY_ID.match(p.name))


@dataclass(frozen=True)
class ApplianceConfig:
    """Where the station lives on this machine and how the appliance is laid out."""

    root: Path = Path("/")
    app_dir: Path = field(default_factory=lambda: Path(sys.prefix).parent)
    python: Path = field(default_factory=lambda: Path(sys.executable))
    station: Path = field(default_factory=lambda: Path(sys.prefix) / "bin" / "station")
    user: str = "station"
    kiosk_user: str = "station-kiosk"
    data_dir: PurePosixPath = field(default_factory=lambda: PurePosixPath("/var/lib/station"))
    host: str = "127.0.0.1"
    port: int = 8000
    tty: str = "tty7"
    #: the controller's /dev/serial/by-id name or its ID_SERIAL; None: no udev rule
    lamp_id: str | None = None
    camera: str = "0"
    kiosk: bool = True

    def __post_init__(self) -> None:
        if self.data_dir.parent != PurePosixPath("/var/lib") or not self.data_dir.name:
            raise ConfigError(
                f"data directory {self.data_dir} must be /var/lib/<name> (systemd creates "
                "and owns it for the service account)"
            )
        for name in (self.user, self.kiosk_user):
            if not re.fullmatch(r"[a-z_][a-z0-9_-]{0,30}", name):
                raise ConfigError(f"account name {name!r} is not a valid system user name")
        if not 0 < self.port < 65536:
            raise ConfigError(f"port {self.port} is out of range 1-65535")
        if not re.fullmatch(r"tty\d+", self.tty):
            raise ConfigError(f"kiosk console {self.tty!r} must be a virtual console like tty7")

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}/"

    @property
    def lamp_serial(self) -> str | None:
        if self.lamp_id is None:
            return None
        if self.lamp_id.startswith("usb-") or "/" in self.lamp_id:
            return lamp_id_from_by_id(self.lamp_id)
        return self.lamp_id


@dataclass(frozen=True)
class PlannedFile:
    """One file the appliance consists of, at its path on the target system."""

    path: PurePosixPath
    text: str
    mode: int = 0o644
    #: written only when absent: the operator's settings survive reinstalls and updates
    keep_existing: bool = False


@dataclass
class InstallReport:
    written: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    commands: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "written": self.written,
            "kept": self.kept,
            "commands": [" ".join(c) for c in self.commands],
            "notes": self.notes,
        }


def _template(name: str) -> str:
    return resources.files("station.appliance").joinpath("files", name).read_text("utf-8")


def _fill(text: str, values: dict[str, str], name: str) -> str:
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    left = _TOKEN.findall(text)
    if left:
        raise AssertionError(f"template {name} has unfilled placeholders {sorted(set(left))}")
    return text


def plan(cfg: ApplianceConfig) -> list[PlannedFile]:
    """Every file the appliance installs, filled in for ``cfg``."""
    home_like = any(
        cfg.app_dir == top or top in cfg.app_dir.parents for top in (Path("/home"), Path("/root"))
    )
    values = {
        "APP_DIR": str(cfg.app_dir),
        "STATION": str(cfg.station),
        "PYTHON": str(cfg.python),
        "USER": cfg.user,
        "KIOSK_USER": cfg.kiosk_user,
        "DATA_DIR": str(cfg.data_dir),
        "STATE_NAME": cfg.data_dir.name,
        "ENV_FILE": "/etc/station/station.env",
        "HOST": cfg.host,
        "PORT": str(cfg.port),
        "URL": cfg.url,
        "TTY": cfg.tty,
        "PROTECT_HOME": "read-only" if home_like else "yes",
        "LAMP_PORT": "/dev/station-lamp",
        "CAMERA": cfg.camera,
        "LAMP_ID_SERIAL": cfg.lamp_serial or "",
    }
    etc = PurePosixPath("/etc")
    systemd = etc / "systemd" / "system"
    files = [PlannedFile(systemd / unit, _fill(_template(unit), values, unit)) for unit in UNITS]
    if cfg.kiosk:
        files.append(
            PlannedFile(systemd / KIOSK_UNIT, _fill(_template(KIOSK_UNIT), values, KIOSK_UNIT))
        )
    if cfg.lamp_serial:
        rules = "60-station-lamp.rules"
        files.append(
            PlannedFile(etc / "udev/rules.d" / rules, _fill(_template(rules), values, rules))
        )
    files += [
        PlannedFile(
            etc / "logrotate.d/station", _fill(_template("logrotate.conf"), values, "logrotate")
        ),
        PlannedFile(
            etc / "systemd/journald.conf.d/station.conf",
            _fill(_template("journald.conf"), values, "journald"),
        ),
        PlannedFile(
            etc / "sysusers.d/station.conf", _fill(_template("sysusers.conf"), values, "sysusers")
        ),
        PlannedFile(
            etc / "station/station.env",
            _fill(_template("station.env"), values, "station.env"),
            mode=0o640,
            keep_existing=True,
        ),
    ]
    return files


def activation_commands(cfg: ApplianceConfig, missing_packages: list[str]) -> list[list[str]]:
    """What makes the written files live on the running system, in order."""
    units = [*UNITS, *([KIOSK_UNIT] if cfg.kiosk else [])]
    cmds: list[list[str]] = []
    if missing_packages:
        cmds.append(["apt-get", "install", "-y", "--no-install-recommends", *missing_packages])
    cmds += [
        ["systemd-sysusers", "/etc/sysusers.d/station.conf"],
        ["chgrp", cfg.user, "/etc/station/station.env"],
        ["udevadm", "control", "--reload"],
        ["udevadm", "trigger", "--subsystem-match=tty"],
        ["systemctl", "daemon-reload"],
        ["systemctl", "restart", "systemd-journald.service"],
        ["systemctl", "enable", *units],
        # restart = start on a first install; after an update the server migrates and comes back
        ["systemctl", "restart", *units[1:]],
    ]
    return cmds


def _missing_packages(packages: tuple[str, ...]) -> list[str]:
    missing = []
    for pkg in packages:
        probe = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", pkg], capture_output=True, text=True, check=False
        )
        if "install ok installed" not in probe.stdout:
            missing.append(pkg)
    return missing


def _check_readable_by_others(path: Path) -> None:
    """The service account must reach the virtual environment through every parent folder."""
    for folder in [path, *path.parents]:
        if folder.exists() and not folder.stat().st_mode & 0o001:
            raise ConfigError(
                f"{folder} is not accessible to other users, so the station service account "
                f"cannot run {path}: clone the project under /opt (e.g. /opt/check-station), "
                "run scripts/setup.sh there, then `station install` again"
            )


def install(
    cfg: ApplianceConfig,
    run: Callable[[list[str]], None] | None = None,
) -> InstallReport:
    """Write the appliance files under ``cfg.root``; on the real root also activate them."""
    report = InstallReport()
    live = cfg.root.resolve() == Path("/")
    if live and os.geteuid() != 0:
        raise ConfigError("`station install` changes the system: run it as root (sudo)")
    if live:
        _check_readable_by_others(cfg.station.parent)
    if cfg.lamp_serial is None:
        plugged = detect_lamp_ids()
        report.notes.append(
            "no --lamp-id given: no udev rule written, so /dev/station-lamp will not appear; "
            + (
                f"USB serial devices now: {', '.join(plugged)}"
                if plugged
                else "plug the lamp controller in and see `ls /dev/serial/by-id`"
            )
        )
    for item in plan(cfg):
        target = cfg.root / str(item.path).lstrip("/")
        if item.keep_existing and target.exists():
            report.kept.append(str(item.path))
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".new")
        tmp.write_text(item.text, encoding="utf-8")
        tmp.chmod(item.mode)
        tmp.replace(target)
        report.written.append(str(item.path))
    missing = _missing_packages(KIOSK_PACKAGES) if cfg.kiosk and live else []
    report.commands = activation_commands(cfg, missing)
    if not live:
        report.notes.append(f"written under {cfg.root} only: nothing was started")
        return report
    runner = run or _run_checked
    for cmd in report.commands:
        runner(cmd)
    return report


def _run_checked(cmd: list[str]) -> None:
    if shutil.which(cmd[0]) is None:
        raise ConfigError(f"`{cmd[0]}` is not installed; the appliance needs systemd and udev")
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ConfigError(
            f"`{' '.join(cmd)}` failed ({proc.returncode}): {proc.stderr.strip()[-400:]}"
        )
