"""`station install --root DIR`: the appliance's files, checked by the tools that will read them."""

from __future__ import annotations

import configparser
import json
import os
import re
import shutil
import subprocess
from pathlib import Path, PurePosixPath

import pytest

from station.appliance.install import ApplianceConfig, lamp_id_from_by_id, plan
from station.errors import ConfigError
from tests.helpers.cli import run_station

LAMP = "usb-Check_Station_Lamp_Controller_LC0042-if00"
UNITS = ("station.service", "station-doctor.service", "station-kiosk.service")


def _install(root: Path, *args: str) -> dict[str, list[str]]:
    proc = run_station(root.parent / "data", "install", "--root", str(root), "--json", *args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc: dict[str, list[str]] = json.loads(proc.stdout)
    return doc


def _unit(root: Path, name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(root / "etc/systemd/system" / name)
    return parser


@pytest.fixture
def installed(tmp_path: Path) -> tuple[Path, dict[str, list[str]]]:
    root = tmp_path / "root"
    return root, _install(root, "--lamp-id", LAMP, "--camera", "0", "--port", "8123")


def test_install_writes_the_appliance_under_the_root_and_starts_nothing(
    installed: tuple[Path, dict[str, list[str]]],
) -> None:
    root, doc = installed
    for path in (
        *(f"/etc/systemd/system/{u}" for u in UNITS),
        "/etc/udev/rules.d/60-station-lamp.rules",
        "/etc/logrotate.d/station",
        "/etc/systemd/journald.conf.d/station.conf",
        "/etc/sysusers.d/station.conf",
        "/etc/station/station.env",
    ):
        assert path in doc["written"]
        assert (root / path.lstrip("/")).is_file()
    assert (
        "systemctl enable station-doctor.service station.service station-kiosk.service"
        in (doc["commands"])
    )
    assert any("nothing was started" in n for n in doc["notes"])
    env = (root / "etc/station/station.env").read_text()
    assert "STATION_DATA_DIR=/var/lib/station\n" in env
    assert "STATION_DEVICES__LAMP_PORT=/dev/station-lamp\n" in env
    assert "STATION_DEVICES__CAMERA_SOURCE=0\n" in env


def test_server_unit_restarts_runs_as_its_own_user_migrates_and_is_hardened(
    installed: tuple[Path, dict[str, list[str]]],
) -> None:
    root, _ = installed
    svc = _unit(root, "station.service")["Service"]
    assert svc["Restart"] == "on-failure"
    assert svc["User"] == "station"
    assert svc["StateDirectory"] == "station"
    assert svc["ExecStartPre"].endswith("/bin/station db upgrade")
    assert svc["ExecStart"].endswith("/bin/station serve --host 127.0.0.1 --port 8123")
    assert Path(svc["ExecStart"].split()[0]).is_file()
    for option in ("NoNewPrivileges", "ProtectKernelModules", "RestrictNamespaces", "PrivateTmp"):
        assert svc[option] == "yes", option
    assert svc["ProtectSystem"] == "strict"
    doctor = _unit(root, "station-doctor.service")
    assert doctor["Unit"]["Before"] == "station.service"
    assert doctor["Service"]["Type"] == "oneshot"
    assert doctor["Service"]["ExecStart"].endswith("/bin/station doctor --json")


def test_kiosk_unit_opens_the_desk_full_screen_after_the_server_answers(
    installed: tuple[Path, dict[str, list[str]]],
) -> None:
    root, _ = installed
    kiosk = _unit(root, "station-kiosk.service")
    cmd = kiosk["Service"]["ExecStart"]
    assert cmd.startswith("/usr/bin/cage ")
    assert "/usr/bin/chromium --kiosk --app=http://127.0.0.1:8123/ " in cmd
    assert "--touch-events=enabled" in cmd
    assert "station.appliance.ready http://127.0.0.1:8123/" in kiosk["Service"]["ExecStartPre"]
    assert kiosk["Service"]["User"] == "station-kiosk"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze missing")
def test_systemd_accepts_the_units(installed: tuple[Path, dict[str, list[str]]]) -> None:
    root, _ = installed
    units = [str(root / "etc/systemd/system" / u) for u in UNITS]
    proc = subprocess.run(
        ["systemd-analyze", "verify", *units], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0 and not proc.stderr.strip(), proc.stderr


def test_udev_rule_names_the_controller_by_its_usb_serial(
    installed: tuple[Path, dict[str, list[str]]],
) -> None:
    root, _ = installed
    rules = [
        line
        for line in (root / "etc/udev/rules.d/60-station-lamp.rules").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert len(rules) == 1
    pairs = dict(
        (m.group(1), (m.group(2), m.group(3)))
        for m in re.finditer(r'([A-Z_]+(?:\{[A-Za-z_]+\})?)(==|\+=|=)"([^"]*)"', rules[0])
    )
    assert pairs["SUBSYSTEM"] == ("==", "tty")
    assert pairs["ENV{ID_SERIAL}"] == ("==", "Check_Station_Lamp_Controller_LC0042")
    assert pairs["SYMLINK"] == ("+=", "station-lamp")
    assert pairs["GROUP"] == ("=", "dialout")
    # every key=value pair of the line was understood (nothing malformed left over)
    assert re.sub(r'[A-Z_]+(\{[A-Za-z_]+\})?(==|\+=|=)"[^"]*"', "", rules[0]).strip(" ,") == ""


@pytest.mark.skipif(shutil.which("systemd-sysusers") is None, reason="systemd-sysusers missing")
def test_sysusers_creates_the_service_accounts(
    installed: tuple[Path, dict[str, list[str]]],
) -> None:
    root, _ = installed
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (root / "etc/group").write_text("root:x:0:\ndialout:x:20:\nvideo:x:44:\n")
    proc = subprocess.run(
        ["systemd-sysusers", f"--root={root}", str(root / "etc/sysusers.d/station.conf")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    passwd = (root / "etc/passwd").read_text()
    assert re.search(r"^station:x:\d+:\d+:Check Station server:/var/lib/station:", passwd, re.M)
    assert re.search(r"^station-kiosk:x:", passwd, re.M)
    group = (root / "etc/group").read_text()
    assert re.search(r"^dialout:x:20:station$", group, re.M)


@pytest.mark.skipif(shutil.which("logrotate") is None, reason="logrotate missing")
def test_logrotate_accepts_the_rotation_rule(
    installed: tuple[Path, dict[str, list[str]]], tmp_path: Path
) -> None:
    root, _ = installed
    rule = (root / "etc/logrotate.d/station").read_text()
    logs = tmp_path / "log"
    logs.mkdir()
    (logs / "doctor.log").write_text("{}\n" * 10)
    # the same rule, pointed at a test folder and owned by the test's user
    me = os.getuid()
    import pwd

    name = pwd.getpwuid(me).pw_name
    local = rule.replace("/var/log/station", str(logs)).replace("su station station", "")
    local = local.replace("create 0640 station station", f"create 0640 {name}")
    conf = tmp_path / "station.logrotate"
    conf.write_text(local)
    proc = subprocess.run(
        ["logrotate", "--force", "--state", str(tmp_path / "state"), str(conf)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert (logs / "doctor.log.1").read_text() == "{}\n" * 10  # rotated (compressed next time)
    assert (logs / "doctor.log").read_text() == ""


def test_reinstall_after_an_update_keeps_the_station_settings(tmp_path: Path) -> None:
    root = tmp_path / "root"
    _install(root, "--lamp-id", LAMP)
    env = root / "etc/station/station.env"
    env.write_text(env.read_text() + "STATION_LOCATION=Custody suite B\n")
    unit = root / "etc/systemd/system/station.service"
    unit.write_text("stale\n")
    doc = _install(root, "--lamp-id", LAMP)
    assert doc["kept"] == ["/etc/station/station.env"]
    assert "STATION_LOCATION=Custody suite B" in env.read_text()
    assert unit.read_text().startswith("# Check Station server")


def test_without_a_lamp_id_no_rule_is_written_and_the_note_says_why(tmp_path: Path) -> None:
    root = tmp_path / "root"
    doc = _install(root, "--no-kiosk")
    assert not (root / "etc/udev/rules.d/60-station-lamp.rules").exists()
    assert not (root / "etc/systemd/system/station-kiosk.service").exists()
    assert any("no --lamp-id given" in n for n in doc["notes"])


def test_lamp_id_comes_from_the_by_id_name() -> None:
    assert lamp_id_from_by_id("/dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A10K5ABC-if00-port0") == (
        "FTDI_FT232R_USB_UART_A10K5ABC"
    )
    with pytest.raises(ConfigError, match="not a /dev/serial/by-id name"):
        lamp_id_from_by_id("/dev/ttyUSB0")


def test_bad_layout_is_refused_with_the_reason() -> None:
    with pytest.raises(ConfigError, match=r"must be /var/lib/<name>"):
        ApplianceConfig(data_dir=PurePosixPath("/srv/station"))
    with pytest.raises(ConfigError, match="not a valid system user name"):
        ApplianceConfig(user="Station Server")
    # an app under /home keeps the home folders readable for the service
    unit = next(
        f
        for f in plan(ApplianceConfig(app_dir=Path("/home/pi/check-station")))
        if f.path.name == "station.service"
    )
    assert "ProtectHome=read-only" in unit.text
