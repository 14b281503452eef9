"""Axis-aligned boxes (x, y, width, height): their union, and overlapping ones merged."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from station.domain import BBox


def enclosing(boxes: Sequence[BBox]) -> BBox:
    """The smallest box holding every box given (at least one)."""
    x0 = min(b[0] for b in boxes)
    y0 = min(b[1] for b in boxes)
    x1 = max(b[0] + b[2] for b in boxes)
    y1 = max(b[1] + b[3] for b in boxes)
    return x0, y0, x1 - x0, y1 - y0


def merge_overlapping(boxes: Sequence[BBox]) -> list[BBox]:
    """Overlapping boxes replaced by their union, until none overlap."""
    out = list(boxes)
    changed = True
    while changed:
        changed = False
        for i, j in itertools.combinations(range(len(out)), 2):
            a, b = out[i], out[j]
            if (
                a[0] < b[0] + b[2]
                and b[0] < a[0] + a[2]
                and a[1] < b[1] + b[3]
                and b[1] < a[1] + a[3]
            ):
                out[i] = enclosing([a, b])
                del out[j]
                changed = True
                break
    return out
