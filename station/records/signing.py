"""The station's own Ed25519 key: what makes a record, an audit checkpoint or a bundle its own.

A hash proves nothing to someone who can recompute it; a signature made with a key that never
leaves the station does. The key is created on first use in ``data_dir/keys/`` with owner-only
permissions. Its public half (and the short key id derived from it) is what a force lists in
its key list so that anyone can verify offline which station signed what.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from station.errors import ConfigError, InputError

KEY_FILE = "station.ed25519"


def key_id(public: bytes) -> str:
    """A short, stable name for a public key: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(public).hexdigest()[:16]


def public_key_from_text(text: str) -> bytes:
    """A raw 32-byte Ed25519 public key from its base64 text (as printed and listed)."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except ValueError as exc:
        raise InputError(f"public key {text[:20]!r}… is not base64") from exc
    if len(raw) != 32:
        raise InputError(f"public key has {len(raw)} bytes; an Ed25519 key has 32")
    return raw


def verify_signature(public: bytes, signature: bytes, data: bytes) -> bool:
    """True when ``signature`` is the holder of ``public``'s signature over ``data``."""
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, data)
    except (InvalidSignature, ValueError):
        return False
    return True


@dataclass(frozen=True)
class StationKey:
    """The station's signing key (private half in memory only while the process runs)."""

    private: Ed25519PrivateKey

    @classmethod
    def load_or_create(cls, data_dir: Path) -> StationKey:
        """The key in ``data_dir/keys``; made there, readable by this user only, if absent."""
        folder = data_dir / "keys"
        path = folder / KEY_FILE
        if path.exists():
            if path.stat().st_mode & 0o077:
                raise ConfigError(
                    f"the station key {path} is readable by other users",
                    fix=f"run: chmod 600 {path}  (and check who could have copied it)",
                )
            try:
                key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            except ValueError as exc:
                raise ConfigError(
                    f"the station key {path} is damaged",
                    fix="restore it from the station's backup; a new key makes a new identity",
                ) from exc
            if not isinstance(key, Ed25519PrivateKey):
                raise ConfigError(f"the station key {path} is not an Ed25519 key")
            return cls(key)
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return cls(key)

    @property
    def public_bytes(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    @property
    def public_text(self) -> str:
        """The public key as base64, for key lists and `station evidence verify --key`."""
        return base64.b64encode(self.public_bytes).decode("ascii")

    @property
    def key_id(self) -> str:
        return key_id(self.public_bytes)

    def sign(self, data: bytes) -> bytes:
        return self.private.sign(data)
