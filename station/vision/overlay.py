"""Boxes and labels drawn over a frame for the desk UI and the evidence record."""

from __future__ import annotations

import cv2
import numpy as np

from station.domain import ReadResult
from station.errors import ImageInputError

#: BGR outline colour per mark class: strong colours for possible markings
MARK_COLOURS: dict[str, tuple[int, int, int]] = {
    "forensic_liquid": (0, 215, 255),
    "uv_pen": (255, 80, 200),
    "unknown": (0, 140, 255),
    "brightener": (160, 160, 160),
}
IDENTIFIER_COLOUR = (60, 200, 60)
INVALID_COLOUR = (40, 40, 230)


def _label(img: np.ndarray, text: str, x: int, y: int, colour: tuple[int, int, int]) -> None:
    scale = max(0.45, img.shape[1] / 2400)
    thick = max(1, round(scale * 2))
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    y = max(th + base + 2, y)
    cv2.rectangle(img, (x, y - th - base - 2), (x + tw + 4, y), colour, -1)
    cv2.putText(
        img, text, (x + 2, y - base), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thick, cv2.LINE_AA
    )


def draw_overlay(image: np.ndarray, result: ReadResult, min_score: float = 0.0) -> np.ndarray:
    """A copy of ``image`` (BGR or grey) with every mark and identifier outlined and named.

    Brighteners are drawn thin and grey so the officer sees them without mistaking them for
    markings; marks below ``min_score`` are drawn dashed-thin but never left out.
    """
    out = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image.copy()
    line = max(2, out.shape[1] // 640)
    for m in result.marks:
        x, y, w, h = m.bbox
        colour = MARK_COLOURS.get(m.mark_class, MARK_COLOURS["unknown"])
        weak = m.mark_class == "brightener" or m.score < min_score
        cv2.rectangle(out, (x, y), (x + w, y + h), colour, 1 if weak else line)
        _label(out, f"{m.mark_class} {m.score:.2f}", x, y - 2, colour)
    for ident in result.identifiers:
        x, y, w, h = ident.bbox
        if w <= 0 or h <= 0:
            continue
        colour = IDENTIFIER_COLOUR if ident.valid else INVALID_COLOUR
        cv2.rectangle(out, (x, y), (x + w, y + h), colour, line)
        _label(out, f"{ident.kind}: {ident.value}", x, y + h + 18, colour)
    return out


#: the desk shows overlays at card width; wider frames are scaled down to keep them light
OVERLAY_MAX_WIDTH = 960


def overlay_png(
    png: bytes, result: ReadResult, frame: str, max_width: int = OVERLAY_MAX_WIDTH
) -> bytes:
    """A stored PNG frame with the marks and the identifiers read on ``frame`` outlined."""
    img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise ImageInputError("the stored image could not be decoded")
    on_frame = result.model_copy(
        update={"identifiers": [i for i in result.identifiers if i.frame == frame]}
    )
    out = draw_overlay(img, on_frame)
    if out.shape[1] > max_width:
        f = max_width / out.shape[1]
        out = cv2.resize(out, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".png", out)
    if not ok:
        raise ImageInputError("the overlay could not be encoded as PNG")
    return bytes(buf.tobytes())
