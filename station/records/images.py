"""Content-addressed image store: a file's name is the SHA-256 of its bytes.

Files are written to a temporary name, fsynced and renamed, so a power cut never leaves a
half-written image under a valid name.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from station.errors import NotFound, StationError


@dataclass(frozen=True)
class StoredImage:
    sha256: str
    path: Path
    size_bytes: int
    width: int
    height: int
    media_type: str = "image/png"


class ImageStore:
    """Stores PNG-encoded frames under ``root/ab/cd/<sha256>.png``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise NotFound(f"{sha256!r} is not a SHA-256 image reference")
        return self.root / sha256[:2] / sha256[2:4] / f"{sha256}.png"

    def put_array(self, image: np.ndarray) -> StoredImage:
        import cv2  # only when a frame is stored: manual checks never load OpenCV

        ok, buf = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 1])
        if not ok:
            raise StationError("could not encode frame as PNG")
        h, w = image.shape[:2]
        return self.put_bytes(buf.tobytes(), width=w, height=h)

    def put_bytes(self, data: bytes, width: int, height: int) -> StoredImage:
        digest = hashlib.sha256(data).hexdigest()
        path = self.path_for(digest)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".tmp{os.getpid()}")
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
            _fsync_dir(path.parent)
        return StoredImage(digest, path, len(data), width, height)

    def read_bytes(self, sha256: str) -> bytes:
        path = self.path_for(sha256)
        if not path.exists():
            raise NotFound(f"image {sha256} is not in the store at {self.root}")
        return path.read_bytes()

    def verify(self, sha256: str) -> bool:
        """True when the stored file still hashes to its name."""
        return hashlib.sha256(self.read_bytes(sha256)).hexdigest() == sha256


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
