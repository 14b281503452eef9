"""Images are stored under their SHA-256 and can be verified against it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from station.errors import NotFound
from station.records.images import ImageStore


def test_put_and_read_back(tmp_path: Path) -> None:
    store = ImageStore(tmp_path)
    img = np.random.default_rng(3).integers(0, 255, (40, 60, 3), dtype=np.uint8)
    stored = store.put_array(img)
    data = stored.path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == stored.sha256
    assert stored.path.name == f"{stored.sha256}.png"
    decoded = cv2.imdecode(
        np.frombuffer(store.read_bytes(stored.sha256), np.uint8), cv2.IMREAD_COLOR
    )
    assert np.array_equal(decoded, img)
    assert (stored.width, stored.height) == (60, 40)


def test_same_image_stored_once(tmp_path: Path) -> None:
    store = ImageStore(tmp_path)
    img = np.zeros((10, 10, 3), np.uint8)
    a, b = store.put_array(img), store.put_array(img)
    assert a.sha256 == b.sha256
    assert len(list(tmp_path.rglob("*.png"))) == 1


def test_tampered_file_fails_verification(tmp_path: Path) -> None:
    store = ImageStore(tmp_path)
    stored = store.put_array(np.full((8, 8, 3), 7, np.uint8))
    assert store.verify(stored.sha256)
    stored.path.write_bytes(stored.path.read_bytes() + b"x")
    assert not store.verify(stored.sha256)


@pytest.mark.parametrize("ref", ["../../etc/passwd", "abc", "g" * 64])
def test_bad_reference_rejected(tmp_path: Path, ref: str) -> None:
    with pytest.raises(NotFound):
        ImageStore(tmp_path).read_bytes(ref)
