"""Attacks on the running service: chunked bodies, cross-site writes, caching, inputs that
used to give a 500."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers.api import Station

SAME = "http://testserver"
OTHER_PORT = "http://testserver:8081"


def _login(st: Station, role: str) -> str:
    st.headers(role)  # creates <role>-user with password <role>-password
    r = st.client.post(
        "/login",
        data={"username": f"{role}-user", "password": f"{role}-password"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    cookie: str = r.cookies["station_session"]
    st.client.cookies.clear()
    return cookie


class Chunks:
    """A chunked body that counts how much of it the server pulled."""

    def __init__(self, chunk: bytes, count: int) -> None:
        self.chunk, self.count, self.sent = chunk, count, 0

    def __iter__(self) -> Iterator[bytes]:
        for _ in range(self.count):
            self.sent += 1
            yield self.chunk


def test_chunked_body_without_credentials_stops_at_the_limit(sqlite_station: Station) -> None:
    body = Chunks(b"[" + b"1," * 32767, 200)  # about 13 MB, no Content-Length
    r = sqlite_station.client.post(
        "/api/dealer/check", content=body, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 413
    assert "limit" in r.json()["detail"]


def test_chunked_location_is_refused_not_stored(sqlite_station: Station) -> None:
    st = sqlite_station
    big = b'{"identifiers": ["ABC12345"], "location": "' + b"x" * (3 * 1024 * 1024) + b'"}'
    r = st.call(
        "custody",
        "POST",
        "/api/checks",
        content=Chunks(big, 1),
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 413
    assert st.call("custody", "GET", "/api/checks").json()["checks"] == []


@pytest.mark.parametrize(
    "location", ["x" * 201, "Desk 1\r\nInjected: yes", "Desk\x00 2", "Desk \u202e1 ksed"]
)
def test_location_must_be_short_plain_text(sqlite_station: Station, location: str) -> None:
    r = sqlite_station.call(
        "custody", "POST", "/api/checks", json={"identifiers": ["ABC12345"], "location": location}
    )
    assert r.status_code == 422, r.text


def test_cross_site_write_with_the_cookie_is_refused(sqlite_station: Station) -> None:
    st = sqlite_station
    cookie = _login(st, "custody")
    body = {"identifiers": ["ABC12345"]}
    cookies = {"station_session": cookie}
    other = st.client.post(
        "/api/checks", json=body, cookies=cookies, headers={"Origin": OTHER_PORT}
    )
    assert other.status_code == 403
    assert "8081" in other.json()["detail"]
    nameless = st.client.post("/api/checks", json=body, cookies=cookies)
    assert nameless.status_code == 403
    plain = st.client.post(
        "/api/checks",
        content=b'{"identifiers": ["ABC12345"]}',
        cookies=cookies,
        headers={"Origin": SAME, "Content-Type": "text/plain"},
    )
    assert plain.status_code == 403
    own = st.client.post("/api/checks", json=body, cookies=cookies, headers={"Origin": SAME})
    assert own.status_code == 201, own.text
    referred = st.client.post(
        "/api/checks", json=body, cookies=cookies, headers={"Referer": f"{SAME}/desk"}
    )
    assert referred.status_code == 201
    # an API token is never sent by a browser on its own: no origin needed
    assert st.call("custody", "POST", "/api/checks", json=body).status_code == 201


def test_cross_site_register_import_is_refused(sqlite_station: Station) -> None:
    st = sqlite_station
    cookie = _login(st, "admin")
    r = st.client.post(
        "/api/register/imports?filename=r.csv",
        content=b"identifier,kind,status\nZZ999999,serial,stolen\n",
        cookies={"station_session": cookie},
        headers={"Origin": OTHER_PORT, "Content-Type": "text/plain"},
    )
    assert r.status_code == 403
    assert st.state.ctx.matcher.stats()["entries"] == 0


def test_authenticated_answers_are_not_cached(sqlite_station: Station) -> None:
    st = sqlite_station
    assert st.call("custody", "GET", "/api/me").headers["cache-control"] == "no-store"
    cookie = _login(st, "custody")
    page = st.client.get("/", cookies={"station_session": cookie})
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize(
    ("url", "role"),
    [
        ("/api/checks?offset=9223372036854775808", "supervisor"),
        ("/api/checks?offset=9223372036854775807", "supervisor"),
        ("/api/audit?before_id=9223372036854775807", "admin"),
    ],
)
def test_huge_numbers_are_refused_not_crashed(sqlite_station: Station, url: str, role: str) -> None:
    assert sqlite_station.call(role, "GET", url).status_code == 422


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity"])
def test_nan_in_json_is_a_422(sqlite_station: Station, number: str) -> None:
    r = sqlite_station.call(
        "custody",
        "POST",
        "/api/checks",
        content=f'{{"identifiers": [{number}]}}'.encode(),
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 422
    assert r.json()["detail"]


def test_rejected_password_is_not_echoed(sqlite_station: Station) -> None:
    r = sqlite_station.call(
        "admin",
        "POST",
        "/api/users",
        json={"username": "newbie", "role": "custody", "password": "s3cr"},
    )
    assert r.status_code == 422
    assert "s3cr" not in r.text


@pytest.mark.parametrize(
    ("station_id", "day"),
    [("no-such-station", "2026-11-25"), ("station-1", "2099-01-01")],
)
def test_bookings_only_for_known_stations_and_past_days(
    sqlite_station: Station, station_id: str, day: str
) -> None:
    r = sqlite_station.call(
        "custody",
        "POST",
        "/api/bookings",
        json={"station_id": station_id, "day": day, "items": 3},
    )
    assert r.status_code == 422, r.text
    assert (
        sqlite_station.call(
            "custody",
            "POST",
            "/api/bookings",
            json={"station_id": "station-1", "day": "2026-11-25", "items": 3},
        ).status_code
        == 201
    )


@pytest.mark.parametrize("recipient", ["CPS\r\nX-Injected: 1", "CPS\x00", "\u202eSPC", "x" * 101])
def test_evidence_recipient_must_be_plain_text(sqlite_station: Station, recipient: str) -> None:
    doc = sqlite_station.manual_check("custody", "ABC12345")
    r = sqlite_station.call(
        "supervisor",
        "GET",
        f"/api/checks/{doc['id']}/evidence",
        params={"recipient": recipient},
    )
    assert r.status_code == 422


def test_register_fields_longer_than_their_column_are_bad_rows(sqlite_station: Station) -> None:
    body = (
        "identifier,kind,status,category,brand,model,crime_ref,force,reported_on\n"
        f"ZX12345678,serial,stolen,tool,Acme,T1,{'N' * 65},Northants,2026-10-01\n"
        "ZX12345679,serial,stolen,tool,Ac\u202eme,T1,NN/1/26,Northants,2026-10-01\n"
    ).encode()
    r = sqlite_station.call(
        "admin",
        "POST",
        "/api/register/imports?filename=r.csv",
        content=body,
        headers={"Content-Type": "text/csv"},
    )
    assert r.status_code == 422
    reasons = {p["line"]: p["reason"] for p in r.json()["problems"]}
    assert "crime_ref is longer than 64" in reasons[2]
    assert "brand" in reasons[3]


def test_api_reference_is_served_locally_without_a_cdn(sqlite_station: Station) -> None:
    r = sqlite_station.call("engineer", "GET", "/docs")
    assert r.status_code == 200
    assert "/api/checks" in r.text and "/api/dealer/check" in r.text
    assert "http://" not in r.text and "https://" not in r.text
    assert "<script" not in r.text


def test_upload_errors_name_no_server_paths(sqlite_station: Station) -> None:
    st = sqlite_station
    r = st.call(
        "admin",
        "POST",
        "/api/register/imports?filename=bad.csv",
        content=b"\xff\xfe not utf8",
        headers={"Content-Type": "text/csv"},
    )
    assert r.status_code == 422
    assert str(st.state.ctx.settings.data_dir.resolve()) not in r.text
    assert "/tmp" not in r.text and "/uploads/" not in r.text
