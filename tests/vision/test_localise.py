"""The cheap localiser: bars at any angle are found with the direction across them; flat
paper, noise and text give no bars region."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import zxingcpp

from station.vision.localise import candidates


def _bars(text: str = "SN-4471-XK-2209", scale: int = 2) -> np.ndarray:
    code = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.Code128)
    return np.asarray(code.to_image(scale=scale, add_quiet_zones=True))


def _paste_rotated(
    symbol: np.ndarray, angle: float, size: tuple[int, int] = (1280, 720)
) -> tuple[np.ndarray, tuple[float, float]]:
    """The symbol turned ``angle`` degrees (cv2's sense) in the middle of a grey frame."""
    w, h = size
    frame = np.full((h, w), 170, np.uint8)
    sh, sw = symbol.shape
    x0, y0 = (w - sw) // 2, (h - sh) // 2
    frame[y0 : y0 + sh, x0 : x0 + sw] = symbol
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    frame = cv2.warpAffine(frame, m, (w, h), borderValue=170)
    noise = np.random.default_rng(5).normal(0, 4, frame.shape)
    return np.clip(frame + noise, 0, 255).astype(np.uint8), (w / 2, h / 2)


def _turn(a: float, b: float) -> float:
    d = abs(a - b) % 180.0
    return min(d, 180.0 - d)


@pytest.mark.parametrize("angle", [0.0, 35.0, -60.0, 90.0])
def test_bars_are_found_at_any_angle_with_their_direction(angle: float) -> None:
    frame, (cx, cy) = _paste_rotated(_bars(), angle)
    regions = [r for r in candidates(frame) if r.kind == "bars"]
    assert regions, "no bars region found"
    best = regions[0]
    assert abs(best.cx - cx) < 60 and abs(best.cy - cy) < 60
    # standing the bars upright means turning back by the symbol's own angle
    assert _turn(best.angle, -angle) < 8, (best.angle, angle)
    assert best.length > best.height


def test_plain_noise_and_text_give_no_bars() -> None:
    rng = np.random.default_rng(11)
    frame = np.clip(rng.normal(150, 6, (720, 1280)), 0, 255).astype(np.uint8)
    for k, line in enumerate(("EVIDENCE BAG 22", "SEALED BY PC 4471", "DO NOT OPEN")):
        cv2.putText(frame, line, (120, 200 + 120 * k), cv2.FONT_HERSHEY_SIMPLEX, 2.0, 30, 4)
    assert [r for r in candidates(frame) if r.kind == "bars"] == []
