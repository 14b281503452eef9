"""Image files: good ones load, each kind of bad one is refused with its file and problem named."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from station.errors import ImageInputError
from station.settings import VisionSettings
from station.vision.io import load_image, read_files


def _write_png(path: Path, w: int = 64, h: int = 48) -> np.ndarray:
    img = np.zeros((h, w, 3), np.uint8)
    img[:, : w // 2] = (10, 200, 30)
    assert cv2.imwrite(str(path), img)
    return img


def test_loads_png_as_bgr(tmp_path: Path) -> None:
    img = _write_png(tmp_path / "a.png")
    loaded = load_image(tmp_path / "a.png")
    assert loaded.shape == img.shape and loaded.dtype == np.uint8
    assert np.array_equal(loaded, img)


def test_grey_png_becomes_three_channels(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "g.png"), np.full((20, 30), 77, np.uint8))
    loaded = load_image(tmp_path / "g.png")
    assert loaded.shape == (20, 30, 3) and int(loaded[0, 0, 1]) == 77


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "does not exist"),
        (b"", "empty"),
        (b"GIF89a" + b"\x00" * 100, "unsupported format"),
        (b"hello, this is text not an image", "unsupported format"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "corrupt"),
    ],
)
def test_bad_files_name_file_and_problem(
    tmp_path: Path, content: bytes | None, problem: str
) -> None:
    path = tmp_path / "item.png"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ImageInputError) as err:
        load_image(path)
    assert str(path) in str(err.value)
    assert problem in str(err.value)


def test_truncated_jpeg_is_refused(tmp_path: Path) -> None:
    ok, buf = cv2.imencode(".jpg", np.full((200, 200, 3), 128, np.uint8))
    assert ok
    path = tmp_path / "cut.jpg"
    path.write_bytes(buf.tobytes()[:40])
    with pytest.raises(ImageInputError, match=r"cut\.jpg"):
        load_image(path)


def test_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ImageInputError, match="not a regular file"):
        load_image(tmp_path)


def test_too_large_file_and_too_many_pixels(tmp_path: Path) -> None:
    _write_png(tmp_path / "big.png", 400, 300)
    with pytest.raises(ImageInputError, match="larger than"):
        load_image(tmp_path / "big.png", VisionSettings(max_image_bytes=100))
    with pytest.raises(ImageInputError, match="Mpx limit"):
        load_image(tmp_path / "big.png", VisionSettings(max_image_pixels=1000))


def test_read_files_one_result_per_white_image(tmp_path: Path) -> None:
    paths = []
    for i in range(3):
        _write_png(tmp_path / f"p{i}.png")
        paths.append(tmp_path / f"p{i}.png")
    results = read_files(paths)
    assert [r.file for r in results] == [str(p) for p in paths]
    assert all(r.identifiers == [] and r.marks == [] for r in results)


def test_read_files_refuses_uv_with_several_whites(tmp_path: Path) -> None:
    _write_png(tmp_path / "w1.png")
    _write_png(tmp_path / "w2.png")
    _write_png(tmp_path / "uv.png")
    with pytest.raises(ImageInputError, match="one capture"):
        read_files([tmp_path / "w1.png", tmp_path / "w2.png"], uv=tmp_path / "uv.png")


def test_read_files_refuses_frames_of_different_sizes(tmp_path: Path) -> None:
    _write_png(tmp_path / "w.png", 64, 48)
    _write_png(tmp_path / "uv.png", 80, 48)
    with pytest.raises(ImageInputError, match="same size") as err:
        read_files([tmp_path / "w.png"], uv=tmp_path / "uv.png")
    assert "uv.png" in str(err.value)


def test_a_tiny_valid_webp_is_read_even_where_opencv_refuses_it(tmp_path: Path) -> None:
    from PIL import Image

    from station.vision.io import load_image

    path = tmp_path / "dot.webp"
    Image.new("RGB", (1, 1), (200, 30, 10)).save(path, lossless=True)
    assert path.stat().st_size < 40  # below OpenCV's 32-byte WebP header check territory
    image = load_image(path)
    assert image.shape == (1, 1, 3)
    assert np.array_equal(image[0, 0], [10, 30, 200])  # BGR
