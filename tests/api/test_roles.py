"""Role matrix: every role against every endpoint — allowed, or 403; no token is 401."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from station.settings import StationSettings
from tests.helpers.api import Station, make_station

ALL = {"custody", "store", "engineer", "supervisor", "admin", "dealer"}

#: (method, url template, request kwargs, roles that may call it) — written out by hand from
#: the product rules, not derived from the code's grant table.
MATRIX: list[tuple[str, str, dict[str, Any], set[str]]] = [
    (
        "POST",
        "/api/checks",
        {"json": {"identifiers": ["ABC12345"]}},
        {"custody", "store", "engineer", "admin"},
    ),
    ("GET", "/api/checks", {}, {"custody", "store", "engineer", "supervisor", "admin"}),
    ("GET", "/api/checks/{check}", {}, {"custody", "store", "engineer", "supervisor", "admin"}),
    (
        "GET",
        "/api/checks/{check}/outcomes",
        {},
        {"custody", "store", "engineer", "supervisor", "admin"},
    ),
    (
        "POST",
        "/api/checks/{check}/outcomes",
        {"json": {"kind": "owner_notified"}},
        {"custody", "store", "supervisor", "admin"},
    ),
    ("GET", "/api/checks/{check}/owners", {}, {"store", "admin"}),
    ("GET", "/api/checks/{check}/evidence?recipient=CPS", {}, {"supervisor", "admin"}),
    ("GET", "/api/batches", {}, {"store", "supervisor", "admin"}),
    (
        "POST",
        "/api/batches?filename=a.csv",
        {"content": b"identifier\nABC12345\n"},
        {"store", "admin"},
    ),
    ("POST", "/api/uploads?filename=a.csv&size=20", {}, {"store", "admin"}),
    ("GET", "/api/register/stats", {}, {"custody", "store", "engineer", "supervisor", "admin"}),
    ("GET", "/api/register/lookup?q=ABC12345", {}, {"custody", "store", "admin"}),
    (
        "POST",
        "/api/register/imports?filename=r.csv",
        {"content": b"identifier,kind,status\n"},
        {"admin"},
    ),
    ("GET", "/api/audit", {}, {"supervisor", "admin"}),
    ("GET", "/api/audit/verify", {}, {"supervisor", "admin"}),
    ("GET", "/api/health", {}, {"engineer", "supervisor", "admin"}),
    ("POST", "/api/doctor", {}, {"engineer", "admin"}),
    ("GET", "/metrics", {}, {"engineer", "admin"}),
    ("GET", "/api/outcomes", {}, {"store", "supervisor", "admin"}),
    (
        "POST",
        "/api/bookings",
        {"json": {"station_id": "station-1", "day": "2026-11-25", "items": 3}},
        {"custody", "store", "supervisor", "admin"},
    ),
    ("GET", "/api/users", {}, {"admin"}),
    ("DELETE", "/api/owners/NO-SUCH-OWNER", {}, {"admin"}),
    ("GET", "/openapi.json", {}, ALL),
    ("POST", "/api/dealer/check", {"json": {"identifier": "ABC12345"}}, {"dealer"}),
    ("GET", "/api/station/status", {}, ALL),
    ("GET", "/api/me", {}, ALL),
]


@pytest.fixture(scope="module")
def matrix_station(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Station]:
    """One app for the whole matrix: users are created once per role."""
    tmp = tmp_path_factory.mktemp("matrix")
    settings = StationSettings(data_dir=tmp / "data", db_url=f"sqlite:///{tmp / 's.db'}")
    yield from make_station(settings, tmp)


@pytest.fixture(scope="module")
def check_id(matrix_station: Station) -> str:
    matrix_station.load_register()
    return str(matrix_station.manual_check("admin", "C02XK1ABJGH5")["id"])


@pytest.mark.parametrize(
    ("method", "url", "kw", "allowed"),
    MATRIX,
    ids=[f"{m} {u.split('?')[0]}" for m, u, _, _ in MATRIX],
)
def test_role_matrix(
    matrix_station: Station,
    check_id: str,
    method: str,
    url: str,
    kw: dict[str, Any],
    allowed: set[str],
) -> None:
    url = url.format(check=check_id)
    anonymous = matrix_station.call(None, method, url, **kw)
    assert anonymous.status_code == 401, (url, anonymous.text)
    for role in sorted(ALL):
        r = matrix_station.call(role, method, url, **kw)
        if role in allowed:
            assert r.status_code not in (401, 403), (role, url, r.status_code, r.text)
        else:
            assert r.status_code == 403, (role, url, r.status_code, r.text)


def test_bad_token_is_401(sqlite_station: Station) -> None:
    r = sqlite_station.client.get("/api/me", headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == "Bearer"


def test_dealer_sees_only_advice_and_reference(station: Station) -> None:
    station.load_register()
    r = station.call("dealer", "POST", "/api/dealer/check", json={"identifier": "C02XK1ABJGH5"})
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"advice", "do_not_buy", "reference"}
    assert body["do_not_buy"] is True
    assert "NN/004211/26" not in r.text and "stolen" not in r.text.lower()
    # the dealer's check is on record, with the purpose and the dealer as officer
    record = station.call("admin", "GET", f"/api/checks/{body['reference']}").json()
    assert record["purpose"] == "dealer_check"
    assert record["officer"] == "dealer-user"
    clean = station.call(
        "dealer", "POST", "/api/dealer/check", json={"identifier": "ZZZ9999999"}
    ).json()
    assert clean["do_not_buy"] is False


def test_owner_data_only_for_store_and_every_access_audited(station: Station) -> None:
    from station.db.models import Owner

    st = station
    st.load_register()
    with st.state.ctx.db.writer() as s:
        s.add(
            Owner(
                owner_ref="OWN-1",
                name="Jane Example",
                address="1 High St",
                postcode="NN1 1AA",
                phone="01604 000000",
            )
        )
    check = st.manual_check("custody", "C02XK1ABJGH5")
    # the check record itself carries no personal data, whoever reads it
    for role in ("custody", "supervisor", "store"):
        text = st.call(role, "GET", f"/api/checks/{check['id']}").text
        assert "Jane Example" not in text and "High St" not in text
    r = st.call("store", "GET", f"/api/checks/{check['id']}/owners")
    assert r.status_code == 200
    owners = r.json()
    assert [o["name"] for o in owners] == ["Jane Example"]
    assert owners[0]["entries"] == ["C02XK1ABJGH5"]
    assert st.call("custody", "GET", f"/api/checks/{check['id']}/owners").status_code == 403
    log = st.call("admin", "GET", "/api/audit?object_type=owner").json()
    assert [(e["actor"], e["object_id"], e["action"]) for e in log] == [
        ("store-user", "OWN-1", "consultation")
    ]
