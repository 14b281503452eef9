"""Creating users, checking passwords and tokens. Passwords are argon2id-hashed; tokens SHA-256."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select

from station.auth.models import ApiToken, User
from station.auth.passwords import normal_username, password_problem, username_problem
from station.auth.roles import ROLES
from station.db.engine import Database
from station.errors import InputError, NotFound
from station.records import audit

SESSION_HOURS = 12
#: API tokens expire; a new one is issued before the old one runs out
API_TOKEN_DAYS = 90
_hasher = PasswordHasher()
#: verified against when the user does not exist, so timing does not reveal usernames
_DUMMY_HASH = _hasher.hash("not-a-real-password")

#: demo accounts for `station serve --sim` only (username, role, password, token)
DEMO_USERS: tuple[tuple[str, str, str, str], ...] = tuple(
    (f"demo-{role}", role, f"{role}-demo-pass", f"demo-{role}-token") for role in ROLES
)


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of a request."""

    user_id: int
    username: str
    role: str
    display_name: str = ""
    token_kind: str = "api"


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class UserStore:
    """Users and tokens in the station database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create_user(
        self,
        username: str,
        role: str,
        password: str,
        display_name: str = "",
        actor: str = "system",
    ) -> Principal:
        problem = username_problem(username.strip())
        if problem is not None:
            raise InputError(problem)
        username = normal_username(username)
        if role not in ROLES:
            raise InputError(f"role {role!r} is not one of {', '.join(ROLES)}")
        problem = password_problem(password, username)
        if problem is not None:
            raise InputError(problem, fix="choose a longer password that is not easy to guess")
        with self.db.writer() as s:
            taken = s.execute(
                select(User.username).where(func.lower(User.username) == username)
            ).scalar()
            if taken is not None:
                raise InputError(f"user {taken!r} already exists")
            user = User(
                username=username,
                role=role,
                display_name=display_name or username,
                password_hash=_hasher.hash(password),
            )
            s.add(user)
            s.flush()
            audit.append(s, actor, "collection", "user", username, {"role": role})
            return Principal(user.id, user.username, user.role, user.display_name)

    def count(self) -> int:
        with self.db.session() as s:
            return int(s.execute(select(func.count(User.id))).scalar() or 0)

    def list_users(self) -> list[dict[str, Any]]:
        with self.db.session() as s:
            users = s.execute(select(User).order_by(User.username)).scalars().all()
            return [
                {
                    "username": u.username,
                    "display_name": u.display_name,
                    "role": u.role,
                    "active": u.active,
                }
                for u in users
            ]

    def authenticate(self, username: str, password: str) -> Principal | None:
        """The user if the password is right and the account active; None otherwise."""
        username = normal_username(username)
        with self.db.session() as s:
            user = s.execute(select(User).where(User.username == username)).scalar()
            stored = user.password_hash if user is not None else _DUMMY_HASH
            try:
                _hasher.verify(stored, password)
            except (VerificationError, InvalidHashError):
                return None
            if user is None or not user.active:
                return None
            return Principal(user.id, user.username, user.role, user.display_name)

    def issue_token(
        self,
        username: str,
        name: str = "",
        kind: str = "api",
        token: str | None = None,
        actor: str = "system",
        days: int | None = API_TOKEN_DAYS,
    ) -> str:
        """A new random token for ``username``; shown once, stored only as a hash. API tokens
        expire after ``days`` (None: never, for the simulator's demo tokens only)."""
        token = token or secrets.token_urlsafe(32)
        now = dt.datetime.now(dt.UTC)
        if kind == "session":
            expires: dt.datetime | None = now + dt.timedelta(hours=SESSION_HOURS)
        else:
            expires = now + dt.timedelta(days=days) if days is not None else None
        with self.db.writer() as s:
            user = s.execute(select(User).where(User.username == username)).scalar()
            if user is None:
                raise NotFound(f"no user {username!r}")
            s.add(
                ApiToken(
                    user_id=user.id,
                    token_sha256=token_digest(token),
                    kind=kind,
                    name=name,
                    expires_at=expires,
                )
            )
            if kind == "api":
                audit.append(
                    s,
                    actor,
                    "system",
                    "api_token",
                    username,
                    {"name": name, "expires": expires.isoformat() if expires else None},
                )
        return token

    def list_tokens(self, username: str) -> list[dict[str, Any]]:
        """A user's API tokens (never the tokens themselves): id, name, dates, state."""
        with self.db.session() as s:
            user = s.execute(select(User).where(User.username == username)).scalar()
            if user is None:
                raise NotFound(f"no user {username!r}")
            rows = s.execute(
                select(ApiToken)
                .where(ApiToken.user_id == user.id, ApiToken.kind == "api")
                .order_by(ApiToken.id)
            ).scalars()
            return [
                {
                    "id": t.id,
                    "name": t.name,
                    "created_at": t.created_at.isoformat(),
                    "expires_at": t.expires_at.isoformat() if t.expires_at else None,
                    "revoked": t.revoked,
                }
                for t in rows
            ]

    def revoke_token(self, username: str, token_id: int, actor: str = "system") -> None:
        """Revoke one API token of ``username`` by its id (the others keep working)."""
        with self.db.writer() as s:
            tok = s.execute(
                select(ApiToken)
                .join(User, User.id == ApiToken.user_id)
                .where(ApiToken.id == token_id, User.username == username)
            ).scalar()
            if tok is None:
                raise NotFound(f"user {username!r} has no token {token_id}")
            tok.revoked = True
            audit.append(s, actor, "alteration", "api_token", username, {"revoked": token_id})

    def resolve(self, token: str) -> Principal | None:
        """The principal a bearer token stands for, or None if unknown, revoked or expired."""
        if not token or len(token) > 200:
            return None
        with self.db.session() as s:
            row = s.execute(
                select(ApiToken, User)
                .join(User, User.id == ApiToken.user_id)
                .where(ApiToken.token_sha256 == token_digest(token))
            ).first()
            if row is None:
                return None
            tok, user = row
            if tok.revoked or not user.active:
                return None
            if tok.expires_at is not None:
                expires = tok.expires_at
                if expires.tzinfo is None:
                    expires = expires.replace(tzinfo=dt.UTC)
                if expires < dt.datetime.now(dt.UTC):
                    return None
            return Principal(user.id, user.username, user.role, user.display_name, tok.kind)

    def set_active(self, username: str, active: bool, actor: str = "system") -> None:
        """Suspend (or restore) an account: its tokens and sessions stop working at once."""
        with self.db.writer() as s:
            user = s.execute(select(User).where(User.username == username)).scalar()
            if user is None:
                raise NotFound(f"no user {username!r}")
            if not active and user.role == "admin" and user.active:
                admins = s.execute(
                    select(func.count(User.id)).where(User.role == "admin", User.active)
                ).scalar()
                if (admins or 0) <= 1:
                    raise InputError(
                        f"{username!r} is the last active admin; suspending them would leave "
                        "no one to administer the station",
                        fix="make or restore another admin first",
                    )
            user.active = active
            audit.append(s, actor, "alteration", "user", username, {"active": active})

    def revoke(self, token: str) -> None:
        with self.db.writer() as s:
            tok = s.execute(
                select(ApiToken).where(ApiToken.token_sha256 == token_digest(token))
            ).scalar()
            if tok is not None:
                tok.revoked = True

    def seed_demo(self) -> list[tuple[str, str, str, str]]:
        """Create one demo user per role (simulator only) when there are no users at all."""
        if self.count():
            return []
        for username, role, password, token in DEMO_USERS:
            self.create_user(username, role, password, display_name=f"Demo {role}")
            self.issue_token(username, name="demo", token=token, days=None)
        return list(DEMO_USERS)
