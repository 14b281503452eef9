"""Image files in, frames out: every way a file can be unusable becomes an ImageInputError."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from station.domain import ReadResult
from station.errors import ImageInputError, StationError
from station.records.imagelimits import check_header
from station.settings import VisionSettings
from station.vision.frames import CaptureFrames

#: file name endings of the photographs the station reads (folders, zips, camera folders)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")

#: leading bytes of the formats OpenCV is built to decode here
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"P5", "PGM"),
    (b"P6", "PPM"),
)


def _sniff(head: bytes) -> str | None:
    for magic, name in _SIGNATURES:
        if head.startswith(magic):
            return name
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    return None


def _decode_with_pillow(data: bytes) -> np.ndarray | None:
    """BGR pixels by Pillow, or None when it cannot decode them either."""
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            rgb = np.asarray(img.convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError):
        return None
    return np.ascontiguousarray(rgb[..., ::-1])


def load_image(path: str | Path, settings: VisionSettings | None = None) -> np.ndarray:
    """Read an image file as BGR uint8, or say exactly why it cannot be used."""
    cfg = settings or VisionSettings()
    p = Path(path)
    if not p.exists():
        raise ImageInputError(f"{p}: file does not exist")
    if not p.is_file():
        raise ImageInputError(f"{p}: not a regular file")
    size = p.stat().st_size
    if size == 0:
        raise ImageInputError(f"{p}: file is empty")
    if size > cfg.max_image_bytes:
        raise ImageInputError(
            f"{p}: file is {size / 1e6:.0f} MB, larger than the {cfg.max_image_bytes / 1e6:.0f} MB "
            "limit for one image"
        )
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ImageInputError(f"{p}: cannot read file ({exc.strerror or exc})") from exc
    kind = _sniff(data[:16])
    if kind is None:
        raise ImageInputError(
            f"{p}: unsupported format (not PNG, JPEG, WebP, BMP, TIFF or PNM by its content)"
        )
    check_header(data, cfg.max_image_pixels, str(p))  # a decompression bomb stops here
    # a file OpenCV cannot decode becomes an ImageInputError naming it; OpenCV's own log
    # lines on stderr would only repeat that in C++ terms
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if (image is None or image.size == 0) and kind == "WebP":
        image = _decode_with_pillow(data)  # OpenCV refuses valid WebP files under 32 bytes
    if image is None or image.size == 0:
        raise ImageInputError(f"{p}: {kind} data is corrupt or truncated; cannot decode it")
    h, w = image.shape[:2]
    if h * w > cfg.max_image_pixels:
        raise ImageInputError(
            f"{p}: image is {w}x{h} = {h * w / 1e6:.0f} Mpx, over the "
            f"{cfg.max_image_pixels / 1e6:.0f} Mpx limit"
        )
    return np.ascontiguousarray(image)


def read_files(
    white_paths: Sequence[str | Path],
    uv: str | Path | None = None,
    dark: str | Path | None = None,
    settings: VisionSettings | None = None,
) -> list[ReadResult]:
    """Run the pipeline on image files; each result's ``file`` names its white image.

    With ``uv``/``dark`` the files are one capture and exactly one white image is allowed;
    without them every white image is an independent photograph read on its own.
    """
    from station.vision.pipeline import read_item

    cfg = settings or VisionSettings()
    if not white_paths:
        raise ImageInputError("no white image given")
    if (uv is not None or dark is not None) and len(white_paths) != 1:
        raise ImageInputError(
            f"--uv/--dark belong to one capture, but {len(white_paths)} white images were given"
        )
    uv_img = load_image(uv, cfg) if uv is not None else None
    dark_img = load_image(dark, cfg) if dark is not None else None
    results: list[ReadResult] = []
    for path in white_paths:
        white = load_image(path, cfg)
        frames = CaptureFrames(white=white, uv=uv_img, dark=dark_img)
        try:
            frames.validate()
        except ImageInputError as exc:
            others = ", ".join(str(o) for o in (uv, dark) if o is not None)
            raise ImageInputError(f"{path} (with {others}): {exc}") from exc
        result = read_item(frames, cfg)
        results.append(result.model_copy(update={"file": str(path)}))
    return results


log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileRead:
    """One photograph's outcome in a multi-file read: a result, or why there is none."""

    file: str
    result: ReadResult | None = None
    error: str | None = None


def read_each(
    white_paths: Sequence[str | Path], settings: VisionSettings | None = None
) -> Iterator[FileRead]:
    """Read independent photographs one by one; a file that fails never stops the rest.

    Unusable files give their ImageInputError message; anything unexpected is logged with
    its traceback and reported by type and message, so a folder always reads to the end.
    """
    from station.vision.pipeline import read_item

    cfg = settings or VisionSettings()
    for path in white_paths:
        name = str(path)
        try:
            frames = CaptureFrames(white=load_image(path, cfg))
            result = read_item(frames, cfg).model_copy(update={"file": name})
        except StationError as exc:
            yield FileRead(name, error=str(exc))
        except Exception as exc:
            log.exception("reading %s failed", name)
            yield FileRead(name, error=f"{name}: could not be read ({type(exc).__name__}: {exc})")
        else:
            yield FileRead(name, result=result)
