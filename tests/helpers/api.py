"""A real app (TestClient) on real SQLite / PostgreSQL, with one user per role on demand."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from station.api.app import create_app
from station.api.deps import AppState
from station.settings import StationSettings

REGISTER_CSV = """identifier,kind,status,category,brand,model,crime_ref,force,reported_on,owner_ref
C02XK1ABJGH5,serial,stolen,laptop,Acme,Book Pro 14,NN/004211/26,Northamptonshire,2026-09-14,OWN-1
356938035643809,imei,stolen,phone,Acme,X1,NN/003876/26,Northamptonshire,2026-08-30,
WX7Q2284115,serial,lost,power tool,Tradesman,TD-18,LE/001122/26,Leicestershire,2026-10-11,OWN-2
"""


class Station:
    """The running app plus helpers to act as a user of a given role."""

    def __init__(self, client: TestClient, tmp: Path) -> None:
        self.client = client
        self.tmp = tmp
        self._tokens: dict[str, str] = {}

    @property
    def state(self) -> AppState:
        state: AppState = self.client.app.state.station  # type: ignore[attr-defined]
        return state

    def headers(self, role: str) -> dict[str, str]:
        if role not in self._tokens:
            username = f"{role}-user"
            self.state.users.create_user(username, role, f"{role}-password")
            self._tokens[role] = self.state.users.issue_token(username, name="test")
        return {"Authorization": f"Bearer {self._tokens[role]}"}

    def call(self, role: str | None, method: str, url: str, **kw: Any) -> Any:
        headers = {**kw.pop("headers", {}), **(self.headers(role) if role else {})}
        return self.client.request(method, url, headers=headers, **kw)

    def load_register(self) -> None:
        path = self.tmp / "register.csv"
        path.write_text(REGISTER_CSV)
        self.state.ctx.matcher.import_file(path, "test-register", "test", False)

    def manual_check(self, role: str, *identifiers: str, purpose: str = "property_office") -> Any:
        r = self.call(
            role, "POST", "/api/checks", json={"identifiers": list(identifiers), "purpose": purpose}
        )
        assert r.status_code == 201, r.text
        return r.json()


def make_station(settings: StationSettings, tmp: Path) -> Iterator[Station]:
    app = create_app(settings)
    with TestClient(app) as client:
        yield Station(client, tmp)
