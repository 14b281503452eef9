"""A cheap barcode localiser: where in a frame bars (or a matrix code) probably are.

Bars are strong edges that all run one way. On a small copy of the frame the local
structure tensor of the grey-level gradient gives, per pixel, the edge energy (how much
contrast changes nearby) and its coherence (1 when every edge runs one way, 0 when they
run every way). Energetic, coherent patches are 1D symbols at any angle; energetic,
incoherent square patches may be matrix codes (text is energetic too, but in lines, so it
is kept only when square). Each region comes with the direction across its bars, so a
second look can turn the crop upright before decoding. A few milliseconds per frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from station.domain import BBox

#: the localiser works on a copy of the frame no larger than this on its longer side
WORK_SIDE = 800
#: mean squared Sobel response below this is flat paper, not print (about 20 grey levels of
#: edge contrast); relative to the frame's own busiest patches as well, see ``candidates``
_ENERGY_FLOOR = 1500.0
#: coherence above this is "edges all run one way" (bars); below _MATRIX_COHERENCE, every way
_BAR_COHERENCE = 0.8
_MATRIX_COHERENCE = 0.4
#: coherence a bars region joined from several patches keeps over all of them (a line of
#: text joined letter group by letter group falls to about 0.65; a symbol split by glare
#: stays near its patches' own)
_JOINED_COHERENCE = 0.7


@dataclass(frozen=True)
class Region:
    """A place worth a second look, in frame pixels."""

    #: centre
    cx: float
    cy: float
    #: extent across the bars (along ``angle``) and along them
    length: float
    height: float
    #: direction across the bars, degrees from the x axis towards the y axis (image axes, y
    #: down): ``cv2.getRotationMatrix2D(centre, angle, ...)`` turns the bars upright
    angle: float
    #: "bars" (1D) or "matrix" (2D)
    kind: str
    score: float

    @property
    def bbox(self) -> BBox:
        """The axis-aligned box around the (rotated) region."""
        a = math.radians(self.angle)
        c, s = abs(math.cos(a)), abs(math.sin(a))
        w = self.length * c + self.height * s
        h = self.length * s + self.height * c
        return int(self.cx - w / 2), int(self.cy - h / 2), math.ceil(w), math.ceil(h)


def _tensor(small: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    f = small.astype(np.float32)
    gx = cv2.Sobel(f, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(f, cv2.CV_32F, 0, 1, ksize=3)
    jxx = cv2.blur(gx * gx, (k, k))
    jyy = cv2.blur(gy * gy, (k, k))
    jxy = cv2.blur(gx * gy, (k, k))
    return jxx, jyy, jxy


def candidates(gray: np.ndarray, limit: int = 4) -> list[Region]:
    """The ``limit`` most promising code regions of a grey frame, best first."""
    h, w = gray.shape[:2]
    scale = min(1.0, WORK_SIDE / max(h, w))
    small = (
        cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        if scale < 1
        else gray
    )
    sh, sw = small.shape[:2]
    k = max(5, round(max(sh, sw) / 50)) | 1
    jxx, jyy, jxy = _tensor(small, k)
    energy = jxx + jyy
    coherence = np.sqrt((jxx - jyy) ** 2 + 4 * jxy * jxy) / (energy + 1e-3)
    busy = max(_ENERGY_FLOOR, 0.25 * float(np.percentile(energy, 99)))
    strong = energy > busy
    out: list[Region] = []
    min_area = max(40, int(0.0015 * sh * sw))
    for kind, mask in (
        ("bars", strong & (coherence > _BAR_COHERENCE)),
        ("matrix", strong & (coherence < _MATRIX_COHERENCE)),
    ):
        m = mask.astype(np.uint8) * 255
        m = cv2.morphologyEx(m, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, np.ones((k, k), np.uint8))
        n, labels, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
        pieces: list[_Piece] = []
        for i in range(1, n):
            area = int(stats[i, cv2.CC_STAT_AREA])
            if area < min_area // 3:
                continue
            x, y, bw, bh = (int(v) for v in stats[i, :4])
            comp = labels[y : y + bh, x : x + bw] == i
            ys, xs = np.nonzero(comp)
            pts = np.stack([xs + x, ys + y], axis=1).astype(np.float32)
            sums = (
                float(jxx[y : y + bh, x : x + bw][comp].sum()),
                float(jyy[y : y + bh, x : x + bw][comp].sum()),
                float(jxy[y : y + bh, x : x + bw][comp].sum()),
            )
            pieces.append(_Piece(pts, sums))
        if kind == "bars":
            pieces = _join_collinear(pieces, k)
        for piece in pieces:
            region = _region(piece, kind, k, scale, sh * sw)
            if region is not None and len(piece.pts) >= min_area:
                out.append(region)
    out.sort(key=lambda r: (r.kind != "bars", -r.score))
    return out[:limit]


@dataclass
class _Piece:
    """Pixels of one patch of the mask (small-copy coordinates) and its tensor sums."""

    pts: np.ndarray
    sums: tuple[float, float, float]  # Jxx, Jyy, Jxy
    #: patches joined into this one
    parts: int = 1

    @property
    def theta(self) -> float:
        """Direction of the patch's main gradient (across its bars), radians."""
        sxx, syy, sxy = self.sums
        return 0.5 * math.atan2(2 * sxy, sxx - syy)


def _join_collinear(pieces: list[_Piece], k: int) -> list[_Piece]:
    """Patches of one symbol split where its edges thin out (wide bars, a glare streak):
    joined when their bars run alike and they lie in line across the bars, close together."""
    joined = True
    while joined:
        joined = False
        for i, a in enumerate(pieces):
            for j in range(i + 1, len(pieces)):
                b = pieces[j]
                turn = abs(a.theta - b.theta) % math.pi
                if min(turn, math.pi - turn) > math.radians(10):
                    continue
                u = np.array([math.cos(a.theta), math.sin(a.theta)], np.float32)
                v = np.array([-u[1], u[0]], np.float32)
                ca, cb = a.pts.mean(axis=0), b.pts.mean(axis=0)
                ua, ub = a.pts @ u, b.pts @ u
                va, vb = a.pts @ v, b.pts @ v
                gap = max(ua.min(), ub.min()) - min(ua.max(), ub.max())
                overlap_v = min(va.max(), vb.max()) - max(va.min(), vb.min())
                thinner = min(va.max() - va.min(), vb.max() - vb.min())
                if gap < 2 * k and overlap_v > 0.5 * thinner and abs((cb - ca) @ v) < 2 * k:
                    pieces[i] = _Piece(
                        np.concatenate([a.pts, b.pts]),
                        (
                            a.sums[0] + b.sums[0],
                            a.sums[1] + b.sums[1],
                            a.sums[2] + b.sums[2],
                        ),
                        a.parts + b.parts,
                    )
                    del pieces[j]
                    joined = True
                    break
            if joined:
                break
    return pieces


def _region(piece: _Piece, kind: str, k: int, scale: float, pixels: int) -> Region | None:
    """The region a patch outlines, in frame pixels; None when it has no code's shape."""
    pts = piece.pts
    sxx, syy, sxy = piece.sums
    theta = piece.theta
    coh = math.hypot(sxx - syy, 2 * sxy) / max(sxx + syy, 1e-3)
    # the region's extent along and across that direction
    u = np.array([math.cos(theta), math.sin(theta)], np.float32)
    v = np.array([-u[1], u[0]], np.float32)
    pu, pv = pts @ u, pts @ v
    lo_u, hi_u, lo_v, hi_v = float(pu.min()), float(pu.max()), float(pv.min()), float(pv.max())
    length = hi_u - lo_u + k
    height = hi_v - lo_v + k
    mu, mv = (hi_u + lo_u) / 2, (hi_v + lo_v) / 2
    cx, cy = mu * u[0] + mv * v[0], mu * u[1] + mv * v[1]
    if kind == "matrix":
        if min(length, height) < 0.5 * max(length, height) or len(pts) < 0.4 * length * height:
            return None  # a matrix code is a filled square-ish patch, not a text line
    elif length < 3 * k / 2 or height < 4 or (piece.parts > 1 and coh < _JOINED_COHERENCE):
        # too short, or patches joined in line whose edges do not run one way together (the
        # strokes of a line of text); one patch alone keeps the pixels' own test (a small
        # crop's bars with their ends and digits sum to a low coherence, yet are bars)
        return None
    return Region(
        cx=float(cx) / scale,
        cy=float(cy) / scale,
        length=length / scale,
        height=height / scale,
        angle=math.degrees(theta),
        kind=kind,
        score=len(pts) * (coh if kind == "bars" else 1 - coh) / pixels,
    )
