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
from station.auth.roles import ROLES
from station.db.engine import Database
from station.errors import InputError, NotFound
from station.records import audit

SESSION_HOURS = 12
MIN_PASSWORD = 8
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
        username = username.strip()
        if (
            not username
            or len(username) > 100
            or not username.replace("-", "").replace("_", "").replace(".", "").isalnum()
        ):
            raise InputError(
                f"username {username!r} must be 1-100 letters, digits, '.', '-' or '_'"
            )
        if role not in ROLES:
            raise InputError(f"role {role!r} is not one of {', '.join(ROLES)}")
        if len(password) < MIN_PASSWORD:
            raise InputError(f"password must be at least {MIN_PASSWORD} characters")
        with self.db.writer() as s:
            if s.execute(select(User.id).where(User.username == username)).scalar() is not None:
                raise InputError(f"user {username!r} already exists")
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
    ) -> str:
        """A new random token for ``username``; shown once, stored only as a hash."""
        token = token or secrets.token_urlsafe(32)
        expires = (
            dt.datetime.now(dt.UTC) + dt.timedelta(hours=SESSION_HOURS)
            if kind == "session"
            else None
        )
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
                audit.append(s, actor, "system", "api_token", username, {"name": name})
        return token

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
            self.issue_token(username, name="demo", token=token)
        return list(DEMO_USERS)
