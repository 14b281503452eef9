"""Web login, sessions, throttling, password storage, tokens."""

from __future__ import annotations

from sqlalchemy import select

from station.auth.models import ApiToken, User
from station.auth.throttle import LoginThrottle
from station.auth.users import DEMO_USERS, UserStore
from tests.helpers.api import Station


def test_login_sets_session_and_logout_revokes_it(station: Station) -> None:
    st = station
    st.state.users.create_user("pc-smith", "custody", "correct horse")
    r = st.client.post(
        "/login", data={"username": "pc-smith", "password": "correct horse"}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = r.cookies["station_session"]
    assert "httponly" in r.headers["set-cookie"].lower()
    assert "samesite=strict" in r.headers["set-cookie"].lower()
    me = st.client.get("/api/me", cookies={"station_session": cookie})
    assert me.json()["username"] == "pc-smith"
    st.client.post("/logout", cookies={"station_session": cookie})
    assert st.client.get("/api/me", cookies={"station_session": cookie}).status_code == 401


def test_pages_redirect_to_login_and_respect_roles(sqlite_station: Station) -> None:
    st = sqlite_station
    r = st.client.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert st.call("dealer", "GET", "/outcomes").status_code == 403
    assert st.call("supervisor", "GET", "/outcomes").status_code == 200
    assert st.call("engineer", "GET", "/engineer").status_code == 200
    assert st.call("custody", "GET", "/engineer").status_code == 403


def test_wrong_password_then_throttled(sqlite_station: Station) -> None:
    st = sqlite_station
    st.state.users.create_user("pc-jones", "custody", "right-password")
    for _ in range(5):
        r = st.client.post("/login", data={"username": "pc-jones", "password": "guess"})
        assert r.status_code == 401
    r = st.client.post("/login", data={"username": "pc-jones", "password": "right-password"})
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) > 0
    log = st.call("admin", "GET", "/api/audit?object_type=login").json()
    assert sum(1 for e in log if e["object_id"] == "failed") == 5


def test_throttle_backs_off_exponentially_per_user_at_a_client() -> None:
    now = [0.0]
    t = LoginThrottle(free_failures=2, base_s=10, max_wait_s=100, clock=lambda: now[0])
    t.failed("pc-a", "desk")
    t.failed("pc-a", "desk")
    assert t.retry_after("pc-a", "desk") == 10
    assert t.retry_after("pc-b", "desk") == 0, "a colleague at the same desk is not locked"
    assert t.retry_after("pc-a", "elsewhere") == 0, "a guesser elsewhere cannot lock pc-a"
    now[0] = 11
    assert t.retry_after("pc-a", "desk") == 0
    t.failed("pc-a", "desk")
    assert t.retry_after("pc-a", "desk") == 20
    now[0] = 40
    t.failed("pc-a", "desk")
    assert t.retry_after("pc-a", "desk") == 40


def test_passwords_and_tokens_are_stored_hashed(sqlite_station: Station) -> None:
    st = sqlite_station
    st.state.users.create_user("pc-brown", "store", "s3cret-pass")
    token = st.state.users.issue_token("pc-brown")
    with st.state.ctx.db.session() as s:
        user = s.execute(select(User).where(User.username == "pc-brown")).scalar_one()
        assert "s3cret-pass" not in user.password_hash
        assert user.password_hash.startswith("$argon2id$")
        stored = s.execute(select(ApiToken.token_sha256)).scalars().all()
        assert token not in stored
    assert st.state.users.authenticate("pc-brown", "s3cret-pass") is not None
    assert st.state.users.authenticate("pc-brown", "S3cret-pass") is None
    assert st.state.users.authenticate("nobody", "s3cret-pass") is None


def test_admin_creates_users_and_tokens(station: Station) -> None:
    st = station
    r = st.call(
        "admin",
        "POST",
        "/api/users",
        json={"username": "dealer-bob", "role": "dealer", "password": "dealerpass1"},
    )
    assert r.status_code == 201
    bad = st.call(
        "admin",
        "POST",
        "/api/users",
        json={"username": "x", "role": "chief", "password": "dealerpass1"},
    )
    assert bad.status_code == 422
    dup = st.call(
        "admin",
        "POST",
        "/api/users",
        json={"username": "dealer-bob", "role": "dealer", "password": "dealerpass1"},
    )
    assert dup.status_code == 422 and "already exists" in dup.json()["detail"]
    tok = st.call("admin", "POST", "/api/users/dealer-bob/tokens", json={"name": "shop"}).json()
    me = st.client.get("/api/me", headers={"Authorization": f"Bearer {tok['token']}"}).json()
    assert me["role"] == "dealer" and me["permissions"] == ["dealer:check"]


def test_demo_users_only_seed_an_empty_table(sqlite_station: Station) -> None:
    store = UserStore(sqlite_station.state.ctx.db)
    seeded = store.seed_demo()
    assert {role for _, role, _, _ in seeded} == {r for _, r, _, _ in DEMO_USERS}
    assert store.resolve(DEMO_USERS[0][3]) is not None
    assert store.seed_demo() == []  # never again once users exist


def test_login_page_shows_demo_accounts_only_in_sim(sqlite_station: Station) -> None:
    page = sqlite_station.client.get("/login").text
    assert "demo-custody" not in page


def test_suspended_user_loses_access_at_once(station: Station) -> None:
    st = station
    headers = st.headers("custody")
    assert st.client.get("/api/me", headers=headers).status_code == 200
    r = st.call("admin", "PATCH", "/api/users/custody-user", json={"active": False})
    assert r.status_code == 200
    assert st.client.get("/api/me", headers=headers).status_code == 401
    assert st.state.users.authenticate("custody-user", "custody-password") is None
    st.call("admin", "PATCH", "/api/users/custody-user", json={"active": True})
    assert st.client.get("/api/me", headers=headers).status_code == 200
    assert st.call("admin", "PATCH", "/api/users/ghost", json={"active": False}).status_code == 404
    assert (
        st.call(
            "supervisor", "PATCH", "/api/users/custody-user", json={"active": False}
        ).status_code
        == 403
    )
