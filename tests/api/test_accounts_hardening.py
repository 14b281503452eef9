"""Accounts: password rules, look-alike names, token expiry and revocation, the last admin,
throttling that trusts no forged address, and the dealer's look-up rules."""

from __future__ import annotations

import pytest

from station.auth.passwords import password_problem
from station.errors import InputError
from tests.helpers.api import Station


@pytest.mark.parametrize(
    "password", ["12345678", "1234567890", "pc-wright1", "          ", "aaaaaaaaaaaa",
                 "Password123", "qwertyuiop", "ababababab"]
)  # fmt: skip
def test_weak_passwords_are_refused(sqlite_station: Station, password: str) -> None:
    assert password_problem(password, "pc-wright") is not None
    r = sqlite_station.call(
        "admin",
        "POST",
        "/api/users",
        json={"username": "pc-wright", "role": "custody", "password": password},
    )
    assert r.status_code == 422
    assert password.strip() == "" or password not in r.text


@pytest.mark.parametrize("name", ["Demo-Admin", "demo-\u0430dmin", "ｄemo-admin"])
def test_look_alike_user_names_are_refused(sqlite_station: Station, name: str) -> None:
    users = sqlite_station.state.users
    users.create_user("demo-admin", "admin", "a long passphrase")
    with pytest.raises(InputError):
        users.create_user(name, "custody", "another long passphrase")


def test_api_tokens_expire_and_are_revoked_one_by_one(sqlite_station: Station) -> None:
    st = sqlite_station
    st.headers("admin")
    users = st.state.users
    users.create_user("pc-lee", "custody", "a long passphrase")
    first = users.issue_token("pc-lee", name="laptop")
    second = users.issue_token("pc-lee", name="tablet")
    tokens = st.call("admin", "GET", "/api/users/pc-lee/tokens").json()
    assert [t["name"] for t in tokens] == ["laptop", "tablet"]
    assert all(t["expires_at"] for t in tokens)
    r = st.call("admin", "DELETE", f"/api/users/pc-lee/tokens/{tokens[0]['id']}")
    assert r.status_code == 200
    assert users.resolve(first) is None
    assert users.resolve(second) is not None
    expired = users.issue_token("pc-lee", name="old", days=0)
    assert users.resolve(expired) is None


def test_the_last_active_admin_cannot_be_suspended(sqlite_station: Station) -> None:
    st = sqlite_station
    st.headers("admin")
    r = st.call("admin", "PATCH", "/api/users/admin-user", json={"active": False})
    assert r.status_code == 422
    assert "last active admin" in r.json()["detail"]
    assert st.call("admin", "GET", "/api/me").status_code == 200


def test_forwarded_for_from_an_untrusted_peer_is_ignored(sqlite_station: Station) -> None:
    st = sqlite_station
    st.state.users.create_user("pc-king", "custody", "a long passphrase")
    for n in range(5):
        st.client.post(
            "/login",
            data={"username": "pc-king", "password": "wrong"},
            headers={"X-Forwarded-For": f"10.9.9.{n}"},
        )
    r = st.client.post(
        "/login",
        data={"username": "pc-king", "password": "a long passphrase"},
        headers={"X-Forwarded-For": "10.9.9.200"},
    )
    assert r.status_code == 429, "a new forged address does not reset the back-off"
    log = st.call("admin", "GET", "/api/audit?object_type=login").json()
    assert {e["detail"]["addr"] for e in log} == {"testclient"}
    # a colleague at the same desk still logs in
    st.state.users.create_user("pc-queen", "custody", "a long passphrase")
    ok = st.client.post(
        "/login",
        data={"username": "pc-queen", "password": "a long passphrase"},
        follow_redirects=False,
    )
    assert ok.status_code == 303


def test_dealer_answers_do_not_buy_only_for_an_exact_stolen_match(sqlite_station: Station) -> None:
    st = sqlite_station
    st.load_register()  # C02XK1ABJGH5 stolen, WX7Q2284115 lost

    def ask(identifier: str) -> dict:
        r = st.call("dealer", "POST", "/api/dealer/check", json={"identifier": identifier})
        assert r.status_code == 200, r.text
        return r.json()

    assert ask("C02XK1ABJGH5")["do_not_buy"] is True
    near = ask("C02XK1ABJGH6")
    assert near["do_not_buy"] is False and "police" in near["advice"]
    assert ask("ZZZZ99999999")["do_not_buy"] is False


def test_dealer_recovered_entry_is_not_stolen(sqlite_station: Station) -> None:
    st = sqlite_station
    path = st.tmp / "recovered.csv"
    path.write_text(
        "identifier,kind,status,category,brand,model,crime_ref,force,reported_on\n"
        "RC55512345,serial,recovered,bike,Acme,B1,NN/9/26,Northants,2026-10-01\n"
        "RO55512345,serial,registered-owner,bike,Acme,B1,,Northants,2026-10-01\n"
    )
    st.state.ctx.matcher.import_file(path, "test", "test", False)
    for ident in ("RC55512345", "RO55512345"):
        r = st.call("dealer", "POST", "/api/dealer/check", json={"identifier": ident}).json()
        assert r["do_not_buy"] is False


def test_dealer_look_ups_are_rate_limited_per_dealer(sqlite_station: Station) -> None:
    st = sqlite_station
    st.state.dealer_limit.limit = 3
    codes = [
        st.call(
            "dealer", "POST", "/api/dealer/check", json={"identifier": f"AB{n:08d}"}
        ).status_code
        for n in range(4)
    ]
    assert codes == [200, 200, 200, 429]
    st.state.users.create_user("dealer-two", "dealer", "a long passphrase")
    token = st.state.users.issue_token("dealer-two")
    other = st.client.post(
        "/api/dealer/check",
        json={"identifier": "AB00000001"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert other.status_code == 200


def test_tokens_listed_and_revoked_from_the_command_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from station.cli import app

    env = {"STATION_DATA_DIR": str(tmp_path), "STATION_OFFICER": "sysadmin"}
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    runner = CliRunner()
    added = runner.invoke(
        app,
        ["user", "add", "pc-cli", "--role", "custody", "--password-stdin", "--db", url],
        input="a long passphrase\n",
        env=env,
    )
    assert added.exit_code == 0, added.output
    runner.invoke(app, ["user", "token", "pc-cli", "--name", "one", "--db", url], env=env)
    runner.invoke(app, ["user", "token", "pc-cli", "--name", "two", "--db", url], env=env)
    listed = runner.invoke(app, ["user", "tokens", "pc-cli", "--db", url], env=env)
    first_id = listed.output.split()[0]
    assert "one" in listed.output and "expires" in listed.output
    revoked = runner.invoke(app, ["user", "revoke-token", "pc-cli", first_id, "--db", url], env=env)
    assert revoked.exit_code == 0, revoked.output
    after = runner.invoke(app, ["user", "tokens", "pc-cli", "--db", url], env=env).output
    assert after.count("revoked") == 1
