"""Scans on the in-process simulator through the API: images, overlays, conditions, evidence."""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from station.records.evidence import trusted_key, verify_bundle
from station.settings import StationSettings
from tests.helpers.api import Station, make_station
from tests.helpers.hostile import forge_bundle


@pytest.fixture
def sim_station(settings: StationSettings, tmp_path: Path) -> Iterator[Station]:
    settings.sim = True
    yield from make_station(settings, tmp_path)


def test_scan_stores_frames_and_serves_them_with_overlays(sim_station: Station) -> None:
    st = sim_station
    r = st.call("custody", "POST", "/api/checks?wait=true", json={"purpose": "forensic"})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["state"] == "complete" and doc["verdict"] == "match" and doc["marked"] is True
    assert {i["role"] for i in doc["images"]} >= {"white", "uv"}
    # lamp and camera settings and the last self-test are on the record
    assert doc["conditions"]["uv_level"] == st.state.ctx.settings.devices.uv_level
    assert "last_self_test" in doc["conditions"]
    for image in doc["images"]:
        if image["role"] not in ("white", "uv"):
            continue
        raw = st.call("custody", "GET", f"/api/checks/{doc['id']}/images/{image['role']}")
        assert raw.headers["content-type"] == "image/png"
        assert hashlib.sha256(raw.content).hexdigest() == image["sha256"]
        assert raw.headers["X-Content-SHA256"] == image["sha256"]
        over = st.call(
            "custody", "GET", f"/api/checks/{doc['id']}/images/{image['role']}?overlay=true"
        )
        pic = cv2.imdecode(np.frombuffer(over.content, np.uint8), cv2.IMREAD_COLOR)
        assert pic is not None and pic.shape[1] <= 960
        assert hashlib.sha256(over.content).hexdigest() != image["sha256"]
    assert st.call("custody", "GET", f"/api/checks/{doc['id']}/images/uv_long").status_code == 404
    assert st.call("custody", "GET", f"/api/checks/{doc['id']}/images/thermal").status_code == 422


def test_evidence_bundle_carries_the_frames(sim_station: Station) -> None:
    st = sim_station
    doc = st.call("custody", "POST", "/api/checks?wait=true", json={}).json()
    r = st.call("admin", "GET", f"/api/checks/{doc['id']}/evidence?recipient=court")
    key = trusted_key(st.state.ctx.station_key.public_text)
    report = verify_bundle(r.content, key)
    assert report.ok, report.problems
    names = zipfile.ZipFile(io.BytesIO(r.content)).namelist()
    assert sum(n.startswith("images/") for n in names) == len(doc["images"])

    # swap the UV frame for another picture and recompute every hash: the signature names it
    def swap_uv(files: dict[str, bytes]) -> None:
        for n in list(files):
            if n.startswith("images/uv-"):
                files[n] = cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))[1].tobytes()

    bad = verify_bundle(forge_bundle(r.content, swap_uv), key)
    assert not bad.ok
    assert any(p.startswith("images/uv-") and "changed after" in p for p in bad.problems)


def test_station_status_and_health_on_the_simulator(sim_station: Station) -> None:
    st = sim_station
    status = st.call("custody", "GET", "/api/station/status").json()
    assert status == {
        "connected": True,
        "lid_closed": True,
        "item_present": True,
        "busy": False,
        "sim": True,
        "silent": False,
    }
    health = st.call("engineer", "GET", "/api/health").json()
    assert health["devices"]["connected"] is True
    assert health["devices"]["lamp_link_stats"]["crc_errors"] == 0
    usage = health["lamp_usage"]
    assert usage["scans"] == 0
    st.call("custody", "POST", "/api/checks?wait=true", json={})
    again = st.call("engineer", "GET", "/api/health").json()
    assert again["lamp_usage"]["scans"] == 1 and again["lamp_usage"]["uv_on_s_estimate"] > 0
    assert again["devices"]["lamps"]["uv"]["fault"] is None
    metrics = st.call("engineer", "GET", "/metrics").text
    assert 'station_checks_total{state="complete",verdict="match"} 1.0' in metrics
    assert "station_scan_seconds_count 1.0" in metrics
    events = st.client.stream("GET", "/api/station/events", headers=st.headers("custody"))
    with events as resp:
        first = next(resp.iter_lines())
    assert first == "event: status"


def test_self_test_is_recorded_and_travels_with_later_checks(sim_station: Station) -> None:
    st = sim_station
    r = st.call("engineer", "POST", "/api/doctor")
    assert r.status_code == 200, r.text
    report = r.json()
    names = {p["name"] for p in report["parts"]}
    assert {"link", "interlock", "watchdog"} <= names
    health = st.call("engineer", "GET", "/api/health").json()
    assert health["last_self_test"]["status"] == ("passed" if report["passed"] else "failed")
    doc = st.call("custody", "POST", "/api/checks?wait=true", json={}).json()
    assert doc["conditions"]["last_self_test"]["id"] == health["last_self_test"]["id"]
    assert st.call("custody", "POST", "/api/doctor").status_code == 403


def test_a_changed_image_file_in_the_store_shows_in_the_bundle(sim_station: Station) -> None:
    st = sim_station
    doc = st.call("custody", "POST", "/api/checks?wait=true", json={}).json()
    white = next(i for i in doc["images"] if i["role"] == "white")
    path = st.state.ctx.images.path_for(white["sha256"])
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")
    r = st.call("supervisor", "GET", f"/api/checks/{doc['id']}/evidence?recipient=CPS")
    report = verify_bundle(r.content, trusted_key(st.state.ctx.station_key.public_text))
    assert not report.ok
    assert any(f"white-{white['sha256']}" in p and "hash" in p for p in report.problems)
