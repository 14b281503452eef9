"""The station key: made once with owner-only permissions, stable across restarts, verifiable."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from station.errors import ConfigError, InputError
from station.records.signing import StationKey, public_key_from_text, verify_signature


def test_key_is_created_private_and_reloaded_unchanged(tmp_path: Path) -> None:
    first = StationKey.load_or_create(tmp_path)
    path = tmp_path / "keys" / "station.ed25519"
    assert path.stat().st_mode & 0o777 == 0o600
    again = StationKey.load_or_create(tmp_path)
    assert again.public_bytes == first.public_bytes and len(first.key_id) == 16


def test_signature_verifies_only_for_the_same_data_and_key(tmp_path: Path) -> None:
    key = StationKey.load_or_create(tmp_path / "a")
    other = StationKey.load_or_create(tmp_path / "b")
    sig = key.sign(b"check 42: match")
    assert verify_signature(key.public_bytes, sig, b"check 42: match")
    assert not verify_signature(key.public_bytes, sig, b"check 42: no_match")
    assert not verify_signature(other.public_bytes, sig, b"check 42: match")
    assert public_key_from_text(key.public_text) == key.public_bytes


def test_a_key_readable_by_others_is_refused_with_the_fix(tmp_path: Path) -> None:
    StationKey.load_or_create(tmp_path)
    path = tmp_path / "keys" / "station.ed25519"
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="readable by other users") as info:
        StationKey.load_or_create(tmp_path)
    assert "chmod 600" in info.value.fix


def test_a_malformed_public_key_text_is_named() -> None:
    with pytest.raises(InputError, match="32"):
        public_key_from_text("AAAA")
