"""The uncompiled single look-up on registers whose identifiers share long prefixes."""

from __future__ import annotations

import random

import numpy as np
import pytest

from station.matcher import RegisterIndex, RegisterRecord, arrays, probe
from station.matcher.arrays import FOLD

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTUVWXYZ"


def _shared_prefix_register(rng: random.Random) -> list[RegisterRecord]:
    """A maker's prefix on random tails, and a run of consecutive numbers: one segment of each
    identifier is shared by thousands of entries, as in real serial registers."""
    out = []
    for i in range(1, 3001):
        tail = "".join(rng.choice(ALPHABET) for _ in range(8))
        out.append(RegisterRecord(i, "C02X" + tail, "serial", "stolen"))
    for i in range(3001, 6001):
        out.append(RegisterRecord(i, f"SN{4_100_000 + i:08d}", "serial", "stolen"))
    return out


def _misread(rng: random.Random, s: str) -> str:
    p = rng.randrange(len(s))
    match rng.randrange(3):
        case 0:
            return s[:p] + rng.choice(ALPHABET) + s[p + 1 :]
        case 1:
            return s[:p] + s[p + 1 :]
        case _:
            return s[:p] + rng.choice(ALPHABET) + s[p:]


def _fuzzy(index: RegisterIndex, query: str, kq: int) -> tuple[dict[int, int], bool]:
    base = index._state.base
    a = base.arrays
    slots, dist, over = probe.fuzzy(
        query.encode(),
        kq,
        a["value"],
        a["voff"],
        FOLD,
        a["seg_dir"],
        a["seg_post"],
        base.bits,
        index._state.dead,
        base.max_edits,
        64,
    )
    return dict(zip(slots.tolist(), dist.tolist(), strict=True)), over


def test_screening_shared_segments_changes_no_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(11)
    register = _shared_prefix_register(rng)
    monkeypatch.setattr(arrays, "HEAVY_KEY", 0)  # long lists behind one key, screened
    index = RegisterIndex.build(register)
    queries = [rng.choice(register).identifier for _ in range(40)]
    queries += [_misread(rng, q) for q in queries]
    queries += ["C02X" + "".join(rng.choice(ALPHABET) for _ in range(8)) for _ in range(20)]
    screened = []
    real = probe.screen

    def counting(*args: object) -> np.ndarray:
        kept = real(*args)  # type: ignore[arg-type]
        screened.append((len(kept), int(kept.sum())))
        return kept

    monkeypatch.setattr(probe, "screen", counting)
    with_screen = [_fuzzy(index, q, 2) for q in queries]
    # the screen ran on the big candidate lists and ruled most of them out
    assert screened and sum(n for n, _ in screened) > 3 * sum(k for _, k in screened)
    monkeypatch.setattr(probe, "_SCREEN_FROM", 1 << 30)
    without = [_fuzzy(index, q, 2) for q in queries]
    assert with_screen == without
    assert sum(len(s) for s, _ in with_screen) > 60  # compared over real hits


def test_screen_keeps_every_entry_within_its_edits() -> None:
    """The screen is a necessary condition: brute force over random pairs finds no entry
    within k edits that it rules out."""
    from rapidfuzz.distance import Levenshtein

    rng = random.Random(3)
    entries = []
    for _ in range(4000):
        s = "".join(rng.choice("0123456789AB") for _ in range(rng.randint(6, 12)))
        entries.append(s)
    value = np.frombuffer("".join(entries).encode(), dtype=np.uint8)
    voff = np.zeros(len(entries) + 1, dtype=np.int64)
    voff[1:] = np.cumsum([len(e) for e in entries])
    ident = np.arange(256, dtype=np.uint8)
    near = 0
    for _ in range(60):
        q = _misread(rng, _misread(rng, rng.choice(entries)))
        for k in (0, 1, 2):
            kept = probe.screen(
                q.encode(),
                np.arange(len(entries)),
                np.full(len(entries), k, dtype=np.int64),
                value,
                voff,
                ident,
            )
            within = np.array([Levenshtein.distance(q, e) <= k for e in entries])
            assert not (within & ~kept).any(), q
            near += int(within.sum())
            assert kept.sum() < len(entries)
    assert near > 60
