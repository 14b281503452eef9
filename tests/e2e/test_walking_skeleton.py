"""One real check end to end: simulated controller on a pty, simulated camera, vision, match, record."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from station.checks.service import CheckRequest
from station.context import StationContext, hardware
from station.db.models import Check, CheckImage
from station.records import audit
from station.settings import StationSettings

DEMO_SERIAL = "C02XK1ABJGH5"


def test_full_check_through_the_simulator(settings: StationSettings) -> None:
    settings.sim = True
    ctx = StationContext(settings)
    try:
        assert ctx.matcher.seed_demo_if_empty()
        with hardware(ctx, sim=True) as simulator:
            # the lamp controller really is on a serial device opened through pyserial
            assert ctx.devices is not None
            assert simulator is not None
            assert os.path.realpath(simulator.port_url).startswith("/dev/pts/")
            doc = (
                ctx.check_service()
                .scan(CheckRequest(purpose="prisoner_property", officer="PC 101"))
                .document()
            )
    finally:
        ctx.close()

    assert doc["state"] == "complete", doc.get("error")
    serials = [i for i in doc["identifiers"] if i["value"] == DEMO_SERIAL]
    assert serials, f"demo serial not read: {doc['identifiers']}"
    assert serials[0]["source"].startswith("barcode:")
    assert serials[0]["frame"] == "white"
    assert doc["verdict"] == "match"
    hit = next(m for m in doc["matches"] if m["query"] == DEMO_SERIAL)
    assert hit["verdict"] == "match"
    assert hit["candidates"][0]["crime_ref"] == "NN/004211/26"
    assert doc["marked"] is True
    assert any(m["class"] == "forensic_liquid" for m in doc["marks"])
    assert doc["purpose"] == "prisoner_property" and doc["officer"] == "PC 101"
    assert doc["conditions"]["controller"]  # who lit the lamps, for court
    assert doc["conditions"]["uv_lamp_weak"] is False
    assert doc["conditions"]["uv_reference_level"] > 0
    assert doc["register_version"] >= 1

    # the stored record, read back from the database, with image hashes that match the files
    ctx = StationContext(settings)
    try:
        with ctx.db.session() as s:
            check = s.get(Check, doc["id"])
            assert check is not None and check.state == "complete" and check.verdict == "match"
            images = (
                s.execute(select(CheckImage).where(CheckImage.check_id == doc["id"]))
                .scalars()
                .all()
            )
            assert {i.role for i in images} == {"dark", "white", "uv"}
            for img in images:
                data = ctx.images.path_for(img.sha256).read_bytes()
                assert hashlib.sha256(data).hexdigest() == img.sha256
                assert len(data) == img.size_bytes
            report = audit.verify(s)
            assert report.ok and report.entries >= 3
    finally:
        ctx.close()


def test_scan_cli_json(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "STATION_DATA_DIR": str(tmp_path),
        "STATION_DB_URL": f"sqlite:///{tmp_path}/s.db",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "station", "scan", "--sim", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["verdict"] == "match"
    assert DEMO_SERIAL in [i["value"] for i in doc["identifiers"]]
    assert {"kind", "value", "raw", "source", "confidence", "valid", "bbox", "frame"} <= set(
        doc["identifiers"][0]
    )


def test_weak_uv_lamp_is_recorded_with_the_check(sqlite_settings: StationSettings) -> None:
    sqlite_settings.sim = True
    sqlite_settings.sim_faults = ["aged:lamp=uv,factor=0.3"]
    ctx = StationContext(sqlite_settings)
    try:
        ctx.matcher.seed_demo_if_empty()
        with hardware(ctx, sim=True):
            weak = ctx.check_service().scan(CheckRequest(officer="PC 1")).document()
    finally:
        ctx.close()
    assert weak["conditions"]["uv_lamp_weak"] is True
    assert (
        weak["conditions"]["uv_reference_level"] < 0.6 * weak["conditions"]["uv_reference_nominal"]
    )
    assert any("weak" in w.lower() for w in weak["warnings"])
