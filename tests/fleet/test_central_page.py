"""The supervisor's central page and the `station central` commands, on real PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from station.api.central import create_central_app
from station.auth.users import UserStore
from station.db.engine import Database
from station.db.migrate import upgrade
from station.fleet.stations import StationRoll


@pytest.fixture
def central(pg_url: str) -> Iterator[Database]:
    db = Database(pg_url)
    upgrade(db)
    yield db
    db.dispose()


def test_the_page_shows_stations_and_figures_to_supervisors_only(central: Database) -> None:
    roll = StationRoll(central)
    roll.add("custody-n1", location="North custody")
    roll.record_status(
        "custody-n1",
        {"register_version": 7, "backlog": 3, "last_self_test": {"passed": True, "at": "x"},
         "lamp": {"uv_lamp": {"passed": False, "detail": "weak"}},
         "outcomes": {"booked_in": 12, "returned": 2}},
    )  # fmt: skip
    users = UserStore(central)
    users.create_user("sup", "supervisor", "lamp-Tray-7731")
    users.create_user("pc", "custody", "desk-Lid-4420")
    sup, pc = users.issue_token("sup"), users.issue_token("pc")
    client = TestClient(create_central_app(central))
    assert client.get("/api/central/overview").status_code == 401
    assert (
        client.get("/api/central/overview", headers={"Authorization": f"Bearer {pc}"}).status_code
        == 403
    )
    doc = client.get("/api/central/overview", headers={"Authorization": f"Bearer {sup}"}).json()
    (station,) = doc["stations"]
    assert (station["register_version"], station["backlog"]) == (7, 3)
    assert doc["figures"]["booked_in"] == 12 and doc["figures"]["returned"] == 2
    assert (
        client.post(
            "/central/login", data={"username": "pc", "password": "desk-Lid-4420"}
        ).status_code
        == 401
    )
    page = client.post("/central/login", data={"username": "sup", "password": "lamp-Tray-7731"})
    assert page.status_code == 200 and "custody-n1" in page.text and "uv_lamp: fault" in page.text


def test_central_commands_add_a_station_write_the_nats_auth_and_list_keys(
    pg_url: str, tmp_path: Path
) -> None:
    env = {**os.environ, "STATION_DATA_DIR": str(tmp_path / "centre"), "STATION_DB_URL": pg_url}
    auth = tmp_path / "auth.conf"

    def station(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "station", *args], env=env,
                              capture_output=True, text=True, timeout=120)  # fmt: skip

    added = station("central", "add-station", "desk-9", "--nats-auth", str(auth), "--json")
    assert added.returncode == 0, added.stderr
    login = json.loads(added.stdout)
    assert login["nats_user"] == "desk-9" and len(login["nats_password"]) >= 20
    text = auth.read_text()
    assert '"user": "desk-9"' in text and login["nats_password"] not in text  # only its hash
    again = station("central", "add-station", "desk-9")
    assert again.returncode != 0 and "already exists" in again.stderr
    bad = station("central", "add-station", "desk 9!")
    assert bad.returncode != 0 and "letters, digits" in bad.stderr
    assert station("central", "revoke", "desk-9", "--nats-auth", str(auth)).returncode == 0
    assert '"user": "desk-9"' not in auth.read_text()
    keys = station("central", "keys")
    assert keys.returncode == 0 and json.loads(keys.stdout) == {"keys": []}  # never enrolled
