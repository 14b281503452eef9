"""Settings come from defaults, a TOML file and STATION_* variables, in that order of strength."""

from __future__ import annotations

from pathlib import Path

import pytest

from station.errors import ConfigError
from station.settings import load_settings


def test_env_overrides_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "station.toml"
    cfg.write_text('station_id = "desk-7"\n[devices]\nlamp_port = "/dev/ttyAMA0"\nuv_level = 90\n')
    monkeypatch.setenv("STATION_DEVICES__UV_LEVEL", "75")
    monkeypatch.setenv("STATION_DATA_DIR", str(tmp_path / "d"))
    s = load_settings(cfg)
    assert s.station_id == "desk-7"
    assert s.devices.lamp_port == "/dev/ttyAMA0"
    assert s.devices.uv_level == 75
    assert s.database_url == f"sqlite:///{(tmp_path / 'd' / 'station.db').resolve()}"


def test_explicit_override_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATION_DB_URL", "sqlite:///env.db")
    assert load_settings(db_url="sqlite:///flag.db").database_url == "sqlite:///flag.db"


def test_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.toml"):
        load_settings(tmp_path / "nope.toml")


def test_bad_value_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATION_DEVICES__UV_LEVEL", "bright")
    with pytest.raises(ConfigError, match="uv_level"):
        load_settings()


def test_structured_values_come_as_json_and_sections_merge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = tmp_path / "station.toml"
    cfg.write_text('[devices]\nbaudrate = 57600\n[vision]\nocr_engine = "tesseract"\n')
    monkeypatch.setenv("STATION_SIM_FAULTS", '["corrupt:rate=0.05", "drop"]')
    monkeypatch.setenv("STATION_DEVICES", '{"lamp_port": "/dev/ttyS1", "uv_level": 60}')
    monkeypatch.setenv("station_devices__uv_level", "65")  # names are case-insensitive
    monkeypatch.setenv("STATION_DEVICES__COLOUR_GAINS", "[2.0, 1.5]")
    monkeypatch.setenv("STATION_OFFICER", "not a setting")
    s = load_settings(cfg, station_id="desk-9")
    assert s.sim_faults == ["corrupt:rate=0.05", "drop"]
    assert (s.devices.lamp_port, s.devices.uv_level, s.devices.baudrate) == (
        "/dev/ttyS1",
        65,
        57600,
    )
    assert s.devices.colour_gains == (2.0, 1.5)
    assert s.vision.ocr_engine == "tesseract" and s.station_id == "desk-9"


def test_a_variable_that_is_not_json_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATION_SIM_FAULTS", "corrupt")
    with pytest.raises(ConfigError, match="STATION_SIM_FAULTS is not valid JSON"):
        load_settings()
