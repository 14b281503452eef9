"""Kill a real `station serve --sim` (SIGKILL, like a power cut) mid-check and mid-batch, then
restart it on the same data and look at what was recorded."""

from __future__ import annotations

import json
import os
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.servers import free_port, start_server, stop_server

#: each test starts and kills real server processes
pytestmark = pytest.mark.slow

TOKEN = "demo-admin-token"
#: for a server that never reads an image (killed before it would, or checking typed lists)
NO_READING = {"STATION_VISION__PRELOAD_OCR": "false"}


def call(
    base: str, method: str, path: str, body: bytes | None = None, ctype: str = "application/json"
) -> Any:
    req = urllib.request.Request(
        base + path,
        data=body,
        method=method,
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": ctype},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def server_db(request: pytest.FixtureRequest) -> str:
    """The server's database: its SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return ""
    url: str = request.getfixturevalue("pg_url")
    return url


def test_power_cut_mid_check_leaves_an_incomplete_record(
    data_dir: Path, server_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # slow controller replies keep the check on the tray long enough to cut the power
    monkeypatch.setenv("STATION_SIM_FAULTS", json.dumps(["latency:ms=300"]))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_server(data_dir, port, "--sim", db_url=server_db, env=NO_READING)
    try:
        started = call(base, "POST", "/api/checks", json.dumps({"purpose": "forensic"}).encode())
        assert started["state"] == "started"
        time.sleep(0.3)
        during = call(base, "GET", started["href"])
        assert during["state"] == "started"  # still capturing: the kill lands mid-check
        proc.kill()
        proc.wait()
    finally:
        stop_server(proc)
    monkeypatch.delenv("STATION_SIM_FAULTS")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_server(data_dir, port, "--sim", db_url=server_db)
    try:
        doc = call(base, "GET", started["href"])
        assert doc["state"] == "incomplete"
        assert "interrupted" in doc["error"]
        assert doc["purpose"] == "forensic" and doc["officer"] == "demo-admin"
        assert doc["conditions"]["last_self_test"]  # what was known at the start is kept
        chain = call(base, "GET", "/api/audit/verify")
        assert chain["ok"] is True, chain
        # and the restarted station checks normally
        fresh = call(base, "POST", "/api/checks?wait=true", b"{}")
        assert fresh["state"] == "complete"
    finally:
        stop_server(proc)


def test_power_cut_mid_batch_resumes_without_losing_or_repeating_rows(data_dir: Path) -> None:
    rows = [f"NOTONFILE{i:06d}" for i in range(12_000)]
    rows[100] = "C02XK1ABJGH5"
    rows[6_000] = "WX7Q2284115"
    rows[11_999] = "356938035643809"
    body = ("identifier\n" + "\n".join(rows) + "\n").encode()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_server(data_dir, port, "--sim", env=NO_READING)
    try:
        batch = call(base, "POST", "/api/batches?filename=bulk.csv", body, "text/csv")
        for _ in range(400):
            doc = call(base, "GET", batch["href"])
            if doc["done"] > 0:
                break
            time.sleep(0.02)
        assert 0 < doc["done"] < doc["total"], doc
        proc.kill()
        proc.wait()
    finally:
        stop_server(proc)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_server(data_dir, port, "--sim", env=NO_READING)
    try:
        for _ in range(600):
            doc = call(base, "GET", batch["href"])
            if doc["state"] in ("complete", "failed"):
                break
            time.sleep(0.1)
        assert doc["state"] == "complete", doc
        assert (doc["done"], doc["total"], doc["hits"]) == (12_000, 12_000, 3)
        assert sorted(h["line"] for h in doc["hits_detail"]) == [102, 6_002, 12_001]
    finally:
        stop_server(proc)
    # the raw upload was only a temporary file; the validated rows live in the database
    assert os.listdir(data_dir / "uploads" / "incoming") == []
