"""Checks over HTTP on SQLite and PostgreSQL: manual entry, scans that fail, listing, events,
outcomes, evidence bundles and the audit trail they leave."""

from __future__ import annotations

import io
import json
import time
import zipfile
from pathlib import Path

from sqlalchemy import select, update

from station.db.models import AuditEntry
from station.records.evidence import main as evidence_main
from station.records.evidence import trusted_key, verify_bundle
from tests.helpers.api import Station


def _wait_finished(st: Station, check_id: str) -> dict:
    for _ in range(100):
        doc = st.call("custody", "GET", f"/api/checks/{check_id}").json()
        if doc["state"] != "started":
            return doc
        time.sleep(0.05)
    raise AssertionError("check never finished")


def test_manual_check_records_officer_purpose_and_matches(station: Station) -> None:
    station.load_register()
    doc = station.manual_check("custody", "c02xk1abjgh5", "NOT-ON-FILE-1", purpose="found_property")
    assert doc["state"] == "complete"
    assert doc["verdict"] == "match"
    assert doc["officer"] == "custody-user"  # from the token, not from the request body
    assert doc["purpose"] == "found_property"
    assert doc["mode"] == "manual"
    assert doc["register_version"] >= 1
    assert {i["value"] for i in doc["identifiers"]} == {"C02XK1ABJGH5", "NOTONFILE1"}
    assert all(i["source"] == "manual" for i in doc["identifiers"])
    hit = next(m for m in doc["matches"] if m["verdict"] == "match")
    assert hit["candidates"][0]["crime_ref"] == "NN/004211/26"
    # reading the record adds what the register says about the item, for comparison by eye
    read = station.call("custody", "GET", f"/api/checks/{doc['id']}").json()
    entry = next(m for m in read["matches"] if m["verdict"] == "match")["candidates"][0]["entry"]
    assert entry == {
        "category": "laptop",
        "brand": "Acme",
        "model": "Book Pro 14",
        "force": "Northamptonshire",
        "reported_on": "2026-09-14",
    }
    again = station.manual_check("store", "C02XK1ABJGH5")
    assert [e["check_id"] for e in again["earlier_checks"]] == [doc["id"]]


def test_officer_field_in_body_cannot_impersonate(station: Station) -> None:
    r = station.call(
        "custody",
        "POST",
        "/api/checks",
        json={"identifiers": ["ABC12345"], "officer": "someone-else"},
    )
    assert r.json()["officer"] == "custody-user"


def test_bad_identifier_and_bad_purpose_are_clear_422(station: Station) -> None:
    r = station.call("custody", "POST", "/api/checks", json={"identifiers": ["Ωmega123"]})
    assert r.status_code == 422
    assert "Ω" in r.json()["detail"] or "GREEK" in r.json()["detail"]
    r = station.call(
        "custody", "POST", "/api/checks", json={"identifiers": ["ABC12345"], "purpose": "curiosity"}
    )
    assert r.status_code == 422
    listed = station.call("admin", "GET", "/api/checks").json()
    assert listed["total_returned"] == 0  # nothing half-recorded by the rejected requests


def test_a_look_up_longer_than_one_record_is_413_saying_to_use_a_batch(station: Station) -> None:
    too_many = [f"SERIAL{n:06d}" for n in range(501)]
    r = station.call("custody", "POST", "/api/checks", json={"identifiers": too_many})
    assert r.status_code == 413
    detail = r.json()["detail"]
    assert "501 identifiers" in detail and "500" in detail and "/api/batches" in detail
    assert station.call("admin", "GET", "/api/checks").json()["total_returned"] == 0
    exactly = station.call("custody", "POST", "/api/checks", json={"identifiers": too_many[:500]})
    assert exactly.status_code == 201, exactly.text


def test_scan_without_hardware_is_recorded_incomplete_with_reason(station: Station) -> None:
    r = station.call("custody", "POST", "/api/checks", json={"purpose": "prisoner_property"})
    assert r.status_code == 202
    started = r.json()
    assert r.headers["Location"] == started["href"]
    doc = _wait_finished(station, started["id"])
    assert doc["state"] == "incomplete"
    assert "no scanner configured" in doc["error"]
    events = station.call("custody", "GET", started["events"]).text
    assert "event: state" in events and '"incomplete"' in events and "event: end" in events


def test_list_filters(station: Station) -> None:
    station.load_register()
    hit = station.manual_check("custody", "356938035643809")
    miss = station.manual_check("store", "QQQ123456")

    def ids(query: str) -> list[str]:
        r = station.call("supervisor", "GET", f"/api/checks?{query}")
        assert r.status_code == 200, r.text
        return [c["id"] for c in r.json()["checks"]]

    assert ids("verdict=match") == [hit["id"]]
    assert ids("officer=store-user") == [miss["id"]]
    assert ids("identifier=356938035643809") == [hit["id"]]
    assert set(ids("state=complete")) == {hit["id"], miss["id"]}
    assert ids("limit=1") == [miss["id"]]  # newest first
    assert station.call("supervisor", "GET", "/api/checks?limit=0").status_code == 422


def test_unknown_check_is_404(station: Station) -> None:
    r = station.call("custody", "GET", "/api/checks/00000000-0000-0000-0000-000000000000")
    assert r.status_code == 404
    assert "no check" in r.json()["detail"]


def test_outcome_follow_up_is_recorded_and_audited(station: Station) -> None:
    doc = station.manual_check("custody", "ABC12345")
    r = station.call(
        "store",
        "POST",
        f"/api/checks/{doc['id']}/outcomes",
        json={"kind": "returned_to_owner", "note": "collected by owner"},
    )
    assert r.status_code == 201
    outcomes = station.call("custody", "GET", f"/api/checks/{doc['id']}").json()["outcomes"]
    assert [(o["kind"], o["recorded_by"]) for o in outcomes] == [
        ("returned_to_owner", "store-user")
    ]
    bad = station.call("store", "POST", f"/api/checks/{doc['id']}/outcomes", json={"kind": "lost"})
    assert bad.status_code == 422
    log = station.call("admin", "GET", f"/api/audit?object_id={doc['id']}&action=alteration")
    assert [e["detail"]["outcome"] for e in log.json()] == ["returned_to_owner"]


def test_every_read_of_a_check_is_audited(station: Station) -> None:
    doc = station.manual_check("custody", "ABC12345")
    station.call("supervisor", "GET", f"/api/checks/{doc['id']}")
    log = station.call("admin", "GET", f"/api/audit?object_id={doc['id']}").json()
    actions = [(e["actor"], e["action"]) for e in reversed(log)]
    assert actions[0] == ("custody-user", "collection")
    assert ("supervisor-user", "consultation") in actions


def test_evidence_bundle_verifies_offline_and_tampering_is_found(
    station: Station, tmp_path: Path
) -> None:
    station.load_register()
    doc = station.manual_check("custody", "C02XK1ABJGH5")
    r = station.call("supervisor", "GET", f"/api/checks/{doc['id']}/evidence?recipient=CPS")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/zip"
    key = station.state.ctx.station_key.public_text
    report = verify_bundle(r.content, trusted_key(key))
    assert report.ok, report.problems
    assert report.check_id == doc["id"]
    assert report.audit_entries >= 2
    # the disclosure itself is on the audit log, with its recipient
    log = station.call("admin", "GET", "/api/audit?action=disclosure").json()
    assert [(e["object_id"], e["recipient"]) for e in log] == [(doc["id"], "CPS")]
    # change the verdict inside the bundle: verification names the file
    src = zipfile.ZipFile(io.BytesIO(r.content))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name == "check.json":
                d = json.loads(data)
                d["verdict"] = "no_match"
                data = json.dumps(d).encode()
            dst.writestr(name, data)
    bad = verify_bundle(out.getvalue(), trusted_key(key))
    assert not bad.ok
    assert any("check.json" in p for p in bad.problems)
    # the offline command line: exit 0 for the real bundle, 1 for the altered one
    good_zip, bad_zip = tmp_path / "good.zip", tmp_path / "bad.zip"
    good_zip.write_bytes(r.content)
    bad_zip.write_bytes(out.getvalue())
    assert evidence_main([str(good_zip), key]) == 0
    assert evidence_main([str(bad_zip), key]) == 1
    assert evidence_main([str(tmp_path / "missing.zip"), key]) == 1


def test_audit_tamper_detection_names_the_entry(station: Station) -> None:
    doc = station.manual_check("custody", "ABC12345")
    ok = station.call("supervisor", "GET", "/api/audit/verify").json()
    assert ok["ok"] is True and ok["entries"] >= 2
    with station.state.ctx.db.writer() as s:
        target = (
            s.execute(
                select(AuditEntry.id)
                .where(AuditEntry.object_id == doc["id"])
                .order_by(AuditEntry.id)
            )
            .scalars()
            .first()
        )
        s.execute(update(AuditEntry).where(AuditEntry.id == target).values(actor="mallory"))
    broken = station.call("supervisor", "GET", "/api/audit/verify").json()
    assert broken["ok"] is False
    assert broken["first_broken_id"] == target
    assert "changed" in broken["reason"]


def test_register_import_lookup_and_stats(station: Station) -> None:
    good = (
        b"identifier,kind,status,category,brand,model,crime_ref,force,reported_on\n"
        b"SN00112233,serial,stolen,bike,Trek,X,NN/1/26,Northants,2026-01-02\n"
    )
    r = station.call(
        "admin", "POST", "/api/register/imports?filename=reg.csv&source=nmpr", content=good
    )
    assert r.status_code == 201, r.text
    assert r.json()["added"] == 1
    look = station.call("custody", "GET", "/api/register/lookup?q=sn00112233").json()
    assert look["verdict"] == "match"
    assert station.call("custody", "GET", "/api/register/stats").json()["entries"] >= 1
    bad = b"identifier,kind,status\n,serial,stolen\nX1234567,serial,borrowed\n"
    r = station.call("admin", "POST", "/api/register/imports?filename=bad.csv", content=bad)
    assert r.status_code == 422
    lines = sorted(p["line"] for p in r.json()["problems"])
    assert lines[0] == 2 and 3 in lines
    assert (
        station.call("custody", "GET", "/api/register/lookup?q=X1234567").json()["verdict"]
        == "no_match"
    )


def test_health_and_metrics(station: Station) -> None:
    station.manual_check("custody", "ABC12345")
    h = station.call("engineer", "GET", "/api/health").json()
    assert h["database"]["ok"] is True
    assert h["devices"] == {"connected": False}
    assert h["last_self_test"]["status"] == "never run"
    m = station.call("engineer", "GET", "/metrics")
    assert m.status_code == 200
    assert (
        'station_http_requests_total{method="POST",route="/api/checks",status="201"} 1.0' in m.text
    )


def test_json_body_limit(station: Station) -> None:
    r = station.call(
        "custody",
        "POST",
        "/api/checks",
        content=b"{" + b" " * (2 * 1024 * 1024) + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 413


def test_checks_page_lists_and_filters(station: Station) -> None:
    station.load_register()
    hit = station.manual_check("custody", "C02XK1ABJGH5")
    miss = station.manual_check("custody", "NOTHING12345")
    everything = station.call("supervisor", "GET", "/checks").text
    assert hit["id"] in everything and miss["id"] in everything
    matches = station.call("supervisor", "GET", "/checks?verdict=match").text
    assert hit["id"] in matches and miss["id"] not in matches
    assert station.call("dealer", "GET", "/checks").status_code == 403


def test_audit_page_shows_chain_state_and_entries(station: Station) -> None:
    doc = station.manual_check("custody", "ABC12345")
    page = station.call("supervisor", "GET", "/audit?actor=custody-user").text
    assert "chain intact" in page and doc["id"][:8] in page
    with station.state.ctx.db.writer() as s:
        s.execute(update(AuditEntry).where(AuditEntry.id == 1).values(action="erasure"))
    assert "chain BROKEN at entry 1" in station.call("supervisor", "GET", "/audit").text
    assert station.call("custody", "GET", "/audit").status_code == 403
