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
