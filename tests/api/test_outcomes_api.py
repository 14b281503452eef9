"""Supervisor figures, bookings, user administration and live status on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from tests.helpers.api import Station


def test_outcomes_per_day_and_station(station: Station) -> None:
    station.load_register()
    hit = station.manual_check("custody", "C02XK1ABJGH5")
    station.manual_check("custody", "NOTHING12345")
    station.call("custody", "POST", "/api/checks", json={})  # no hardware: incomplete
    station.call(
        "store", "POST", f"/api/checks/{hit['id']}/outcomes", json={"kind": "returned_to_owner"}
    )
    today = dt.datetime.now(dt.UTC).date().isoformat()
    r = station.call(
        "custody",
        "POST",
        "/api/bookings",
        json={"station_id": "station-1", "day": today, "items": 4},
    )
    assert r.status_code == 201
    assert (
        station.call(
            "custody",
            "POST",
            "/api/bookings",
            json={"station_id": "station-1", "day": today, "items": -1},
        ).status_code
        == 422
    )
    fig = station.call("supervisor", "GET", f"/api/outcomes?since={today}&until={today}").json()
    assert fig["days"] == [
        {
            "day": today,
            "station_id": "station-1",
            "booked_in": 4,
            "checked": 2,
            "incomplete": 1,
            "marked": 0,
            "matched": 1,
            "possible": 0,
            "returned": 1,
            "owner_notified": 0,
            "retained": 0,
        }
    ]
    assert fig["check_rate"] == 0.5
    other = station.call("supervisor", "GET", "/api/outcomes?station_id=elsewhere").json()
    assert other["days"] == []
    bad = station.call("supervisor", "GET", "/api/outcomes?since=2026-02-01&until=2026-01-01")
    assert bad.status_code == 422 and "before" in bad.json()["detail"]
    page = station.call("supervisor", "GET", "/outcomes").text
    assert 'id="t-checked">2<' in page and 'id="t-booked">4<' in page


def test_users_me_and_status(station: Station) -> None:
    station.headers("custody")
    users = station.call("admin", "GET", "/api/users").json()
    assert {u["username"] for u in users} >= {"admin-user", "custody-user"}
    assert "password" not in str(users).lower()
    me = station.call("custody", "GET", "/api/me").json()
    assert me["role"] == "custody" and "check:run" in me["permissions"]
    status = station.call("custody", "GET", "/api/station/status").json()
    assert status["connected"] is False and status["busy"] is False


def test_owner_erasure_is_audited_and_removes_personal_data(station: Station) -> None:
    from station.db.models import Owner

    with station.state.ctx.db.writer() as s:
        s.add(Owner(owner_ref="OWN-9", name="John Doe", address="2 Low Rd", postcode="NN2 2BB"))
    assert station.call("store", "DELETE", "/api/owners/OWN-9").status_code == 403
    r = station.call("admin", "DELETE", "/api/owners/OWN-9")
    assert r.status_code == 200 and r.json()["erased"] == "OWN-9"
    with station.state.ctx.db.session() as s:
        left = s.execute(select(Owner).where(Owner.owner_ref == "OWN-9")).scalar()
        assert left is None
    log = station.call("admin", "GET", "/api/audit?action=erasure").json()
    assert [(e["object_type"], e["object_id"]) for e in log] == [("owner", "OWN-9")]
    assert "John Doe" not in str(log)
    assert station.call("admin", "DELETE", "/api/owners/OWN-9").status_code == 404


def test_openapi_needs_a_login(station: Station) -> None:
    assert station.client.get("/openapi.json").status_code == 401
    spec = station.call("custody", "GET", "/openapi.json").json()
    assert "/api/checks" in spec["paths"] and "/api/batches" in spec["paths"]
    assert station.call("custody", "GET", "/docs").status_code == 200
