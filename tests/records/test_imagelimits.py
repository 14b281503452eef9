"""Image sizes are read from the header and a decompression bomb is refused before decoding."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from station.batches.service import BatchService
from station.batches.uploads import extract_images
from station.errors import ImageInputError, UploadRejected
from station.records.imagelimits import check_header, dimensions
from station.settings import StationSettings
from station.vision.io import load_image
from tests.helpers.hostile import bomb_png, zip_of

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bomb() -> bytes:
    """30000 x 30000 pixels in about 110 KB."""
    return bomb_png(30000, 30000)


@pytest.mark.parametrize("ext", [".png", ".jpg", ".webp", ".bmp", ".tiff"])
def test_header_size_matches_the_encoder(ext: str) -> None:
    image = np.zeros((37, 123, 3), np.uint8)
    ok, buf = cv2.imencode(ext, image)
    assert ok
    found = dimensions(buf.tobytes())
    assert found is not None and found[1:] == (123, 37)


def test_lossless_webp_header_size() -> None:
    ok, buf = cv2.imencode(
        ".webp", np.zeros((41, 77, 3), np.uint8), [cv2.IMWRITE_WEBP_QUALITY, 101]
    )
    assert ok
    assert dimensions(buf.tobytes()) == ("WebP", 77, 41)


def test_bomb_header_is_refused_naming_the_size(bomb: bytes) -> None:
    assert len(bomb) < 200_000
    with pytest.raises(ImageInputError, match=r"30000x30000 = 900 Mpx.*before decoding"):
        check_header(bomb, 40_000_000, "bomb.png")


def test_text_file_with_an_image_name_has_no_header() -> None:
    with pytest.raises(ImageInputError, match="no PNG, JPEG"):
        check_header(b"identifier\nABC123\n", 40_000_000, "list.png")


def _limit_memory() -> None:
    # far below the 2.7 GB a decoded 30000x30000 frame needs, far above the interpreter's own
    resource.setrlimit(resource.RLIMIT_AS, (1_500_000_000, 1_500_000_000))


def test_station_read_refuses_a_bomb_without_decoding_it(tmp_path: Path, bomb: bytes) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(bomb)
    proc = subprocess.run(
        [sys.executable, "-m", "station", "read", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "STATION_DATA_DIR": str(tmp_path)},
        preexec_fn=_limit_memory,
    )
    assert proc.returncode != 0
    said = " ".join(proc.stderr.split())
    assert "before decoding" in said, said[-2000:]
    assert "Traceback" not in proc.stderr


def test_load_image_refuses_bomb(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    path.write_bytes(bomb_png(3000, 3000))
    from station.settings import VisionSettings

    with pytest.raises(ImageInputError, match="before decoding"):
        load_image(path, VisionSettings(max_image_pixels=1_000_000))


def test_zip_batch_with_a_bomb_is_refused_at_upload(tmp_path: Path, bomb: bytes) -> None:
    archive = tmp_path / "captures.zip"
    _ok, good = cv2.imencode(".png", np.zeros((20, 20, 3), np.uint8))
    archive.write_bytes(zip_of({"good.png": good.tobytes(), "bomb.png": bomb}))
    with pytest.raises(UploadRejected) as err:
        extract_images(archive, tmp_path / "out", 10_000_000, max_pixels=40_000_000)
    assert any("bomb.png" in str(member) for member, _ in err.value.problems)
    assert not (tmp_path / "out").exists()


def test_batch_service_refuses_a_bomb_zip(
    sqlite_settings: StationSettings, tmp_path: Path, bomb: bytes
) -> None:
    from station.context import StationContext

    ctx = StationContext(sqlite_settings)
    try:
        service = BatchService(ctx.db, ctx.matcher, sqlite_settings)
        archive = tmp_path / "upload.zip"
        archive.write_bytes(zip_of({"bomb.png": bomb}))
        with pytest.raises(UploadRejected, match="nothing was stored"):
            service.create(archive, "captures.zip", "store-officer")
        assert list((sqlite_settings.data_dir / "uploads").glob("*")) == []
    finally:
        ctx.close()


def _png(width: int = 20, height: int = 20) -> bytes:
    ok, buf = cv2.imencode(".png", np.full((height, width, 3), 200, np.uint8))
    assert ok
    return buf.tobytes()


def test_zip_members_sharing_one_stored_image_are_refused(tmp_path: Path) -> None:
    from tests.helpers.hostile import overlapping_zip

    archive = tmp_path / "overlap.zip"
    archive.write_bytes(overlapping_zip(_png(), 1000))
    with pytest.raises(UploadRejected) as err:
        extract_images(archive, tmp_path / "out", 10_000_000_000, max_pixels=40_000_000)
    assert any("shares its stored bytes" in reason for _, reason in err.value.problems)
    assert not (tmp_path / "out").exists()


def test_finished_zip_batch_leaves_no_extracted_files_and_no_server_paths(
    sqlite_settings: StationSettings, tmp_path: Path
) -> None:
    from station.context import StationContext

    ctx = StationContext(sqlite_settings)
    try:
        service = BatchService(ctx.db, ctx.matcher, sqlite_settings)
        archive = tmp_path / "upload.zip"
        # a header that lies about nothing but whose pixel data is cut short
        archive.write_bytes(zip_of({"a.png": _png(), "cut.png": _png(300, 300)[:120]}))
        batch_id = service.create(archive, "captures.zip", "store-officer")
        assert (sqlite_settings.data_dir / "uploads" / batch_id).is_dir()
        service.run(batch_id)
        assert not (sqlite_settings.data_dir / "uploads" / batch_id).exists()
        errors = [u for u in service.unreadable(batch_id)]
        assert errors, "the cut image is reported as unreadable"
        text = repr(errors)
        assert str(sqlite_settings.data_dir.resolve()) not in text
        assert str(sqlite_settings.data_dir) not in text
        assert "cut.png" in text
    finally:
        ctx.close()
