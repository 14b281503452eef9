"""UV lamp strength from the fluorescent reference patch fixed in a tray corner.

The patch glows by a known amount under a healthy lamp, so its measured glow scales the
mark thresholds (a weak lamp still finds faint marks) and tells when the lamp is degraded.
"""

from __future__ import annotations

import numpy as np

from station.errors import ImageInputError

Fractions = tuple[float, float, float, float]


def patch_box(shape: tuple[int, ...], patch_fractions: Fractions) -> tuple[int, int, int, int]:
    """Pixel box (x, y, w, h) of the patch in a frame of ``shape``."""
    h, w = shape[:2]
    fx, fy, fw, fh = patch_fractions
    x, y = round(fx * w), round(fy * h)
    bw, bh = max(1, round(fw * w)), max(1, round(fh * h))
    return x, y, min(bw, w - x), min(bh, h - y)


def measure_reference_patch(
    uv: np.ndarray, dark: np.ndarray | None, patch_fractions: Fractions
) -> float:
    """Glow of the reference patch, 0..1 of full scale (UV minus dark, brightest channel).

    The centre of the patch is measured (a margin absorbs small tray misalignment) and the
    median taken, so noise, dust or a glare speck do not move the figure.
    """
    if uv.ndim != 3 or uv.shape[2] != 3:
        raise ImageInputError(f"UV frame must be HxWx3 BGR, got shape {uv.shape}")
    if dark is not None and dark.shape != uv.shape:
        raise ImageInputError(f"dark frame shape {dark.shape} differs from UV frame {uv.shape}")
    x, y, w, h = patch_box(uv.shape, patch_fractions)
    mx, my = w // 5, h // 5
    roi = uv[y + my : y + h - my, x + mx : x + w - mx].astype(np.int16)
    if roi.size == 0:
        raise ImageInputError("reference patch lies outside the frame")
    if dark is not None:
        roi = roi - dark[y + my : y + h - my, x + mx : x + w - mx].astype(np.int16)
    glow = np.clip(roi, 0, 255).max(axis=2)
    return float(np.median(glow)) / 255.0
