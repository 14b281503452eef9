"""Heavy segment keys: a key shared by many entries is probed through conditional keys, and
every path (uncompiled single look-up, compiled kernel, bulk, exact) still answers exactly
what brute force over the register answers."""

from __future__ import annotations

import random

import numpy as np
import pytest
from rapidfuzz.distance import Levenshtein
from rapidfuzz.process import cdist

from station.matcher import RegisterIndex, RegisterRecord, arrays, probe
from station.matcher.arrays import FOLD, ArrayIndex
from station.matcher.budget import budget_for

DIGITS = "0123456789"
LETTERS = "ABCDEFGHJKMNPQRSTUVWXYZ"
ALPHABET = DIGITS + LETTERS


def _structured(rng: random.Random) -> list[str]:
    """What real registers look like where one segment is shared by many entries: makers'
    prefixes and model codes, consecutive numbers, digit serials behind a letter prefix,
    IMEIs of a few type codes, and the same identifier reported more than once."""
    out = []
    for _ in range(900):  # factory prefix + random middle + model code (12 characters)
        out.append(
            rng.choice(["C02X", "F4GK", "DMPR"])
            + "".join(rng.choice(ALPHABET) for _ in range(4))
            + rng.choice(["Q6LR", "H2WN", "0D5T", "MMXL"])
        )
    for i in range(400):  # consecutive numbers behind a fixed prefix (10 characters)
        out.append(f"SN{4_100_000 + i:08d}")
    for _ in range(900):  # a few letters then digits, 8-14 characters
        length = rng.randint(8, 14)
        head = "".join(rng.choice(LETTERS) for _ in range(rng.randint(2, 4)))
        out.append(head + "".join(rng.choice(DIGITS) for _ in range(length - len(head))))
    for _ in range(600):  # IMEIs (luhn not needed here: the serial path is under test)
        out.append(
            rng.choice(["35693803", "35328406"]) + "".join(rng.choice(DIGITS) for _ in range(7))
        )
    out += ["ZX81ZX81ZX81"] * 30  # one identifier reported by many sources
    out += ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(5, 14))) for _ in range(400)]
    return out


def _misread(rng: random.Random, s: str, edits: int) -> str:
    for _ in range(edits):
        p = rng.randrange(len(s))
        match rng.randrange(3):
            case 0:
                s = s[:p] + rng.choice(ALPHABET) + s[p + 1 :]
            case 1 if len(s) > 1:
                s = s[:p] + s[p + 1 :]
            case _:
                s = s[:p] + rng.choice(ALPHABET) + s[p:]
    return s


def _index(values: list[str], heavy: int) -> ArrayIndex:
    return ArrayIndex.from_buffers(*_buffers(values), 2, heavy=heavy)


def _buffers(values: list[str]) -> tuple:  # type: ignore[type-arg]
    n = len(values)
    value, voff = arrays.pack_strings(values)
    return (
        value,
        voff,
        np.arange(1, n + 1, dtype=np.int64),
        np.zeros(n, dtype=np.uint8),
        ["serial"],
        np.zeros(n, dtype=np.uint8),
        ["stolen"],
        np.zeros(n, dtype=np.uint16),
        [""],
        np.zeros(0, dtype=np.uint8),
        np.zeros(n + 1, dtype=np.int64),
    )


def _brute(
    values: list[str], queries: list[str], kq: int, dead: np.ndarray
) -> list[dict[int, int]]:
    """Per query, slot -> distance of every live entry within min(kq, its own budget)."""
    table = FOLD.tobytes()
    folded = [v.encode().translate(table).decode() for v in values]
    fq = [q.encode().translate(table).decode() for q in queries]
    dist = cdist(fq, folded, scorer=Levenshtein.distance, score_cutoff=kq + 1, workers=1)
    budgets = np.array([min(kq, budget_for(len(v), v.isdigit(), 2)) for v in folded])
    out = []
    for row in dist:
        hit = np.flatnonzero((row <= budgets) & (dead == 0))
        out.append({int(s): int(row[s]) for s in hit})
    return out


@pytest.fixture(scope="module")
def world() -> tuple[list[str], list[str]]:
    rng = random.Random(17)
    values = _structured(rng)
    queries = [_misread(rng, rng.choice(values), rng.randrange(4)) for _ in range(500)]
    queries += ["C02X" + "".join(rng.choice(ALPHABET) for _ in range(8)) for _ in range(30)]
    queries += [f"SN{4_100_000 + rng.randrange(800):08d}" for _ in range(30)]
    return values, queries


@pytest.mark.parametrize("heavy", [2, 8, 0])
def test_every_path_answers_what_brute_force_answers(
    world: tuple[list[str], list[str]], heavy: int
) -> None:
    values, queries = world
    base = _index(values, heavy)
    a = base.arrays
    markers = int(np.count_nonzero((a["seg_post"][:, 2] & np.uint64(0xFFFFFFFF)) == probe.MARKER))
    if heavy:
        assert markers > 10  # the register really has heavy keys at this threshold
    else:
        assert markers == 0
    dead = np.zeros(len(values), dtype=np.uint8)
    dead[::13] = 1
    found = 0
    for kq in (0, 1, 2):
        want = _brute(values, queries, kq, dead)
        qbuf, qoff = arrays.pack_strings([q.upper() for q in queries])
        slots, dists, counts = base.fuzzy_many(
            qbuf, qoff, np.full(len(queries), kq, dtype=np.int64), dead, 1024
        )
        for i, q in enumerate(queries):
            py = probe.fuzzy(
                q.encode(), kq, a["value"], a["voff"], FOLD, a["seg_dir"], a["seg_post"],
                base.bits, dead, base.max_edits, 1024,
            )  # fmt: skip
            nb = base.fuzzy_compiled(q.encode(), kq, dead, 1024)
            assert not py[2] and not nb[2] and counts[i] >= 0
            assert dict(zip(py[0].tolist(), py[1].tolist(), strict=True)) == want[i], (q, kq)
            assert dict(zip(nb[0].tolist(), nb[1].tolist(), strict=True)) == want[i], (q, kq)
            c = int(counts[i])
            bulk = dict(zip(slots[i, :c].tolist(), dists[i, :c].tolist(), strict=True))
            assert bulk == want[i], (q, kq)
            found += len(want[i])
    assert found > 1000  # compared over real hits, not empty answers
    exact = base.exact([q.upper().encode() for q in queries], dead)
    want0 = _brute(values, queries, 0, dead)
    assert [sorted(e) for e in exact] == [sorted(w) for w in want0]


def test_heavy_keys_shorten_what_a_probe_scans(monkeypatch: pytest.MonkeyPatch) -> None:
    """The point of conditional keys: far fewer postings read per look-up where one segment
    is shared by many entries and the rest of each entry is its own (a maker's prefix on
    random serials). Where the rest is shared too (consecutive numbers, one model code on
    every unit) a conditional key is heavy in turn and this gains little."""
    rng = random.Random(23)
    values = [
        rng.choice(["C02X", "F4GK", "DMPR"]) + "".join(rng.choice(ALPHABET) for _ in range(8))
        for _ in range(3000)
    ]
    queries = [_misread(rng, rng.choice(values), rng.randrange(3)) for _ in range(300)]
    read = []
    real = probe._gather

    def counting(*args):  # type: ignore[no-untyped-def]
        owner, tags, marker = real(*args)
        read.append(int(tags.size))
        return owner, tags, marker

    monkeypatch.setattr(probe, "_gather", counting)
    scanned = {}
    for heavy in (0, 8):
        base = _index(values, heavy)
        a = base.arrays
        dead = np.zeros(len(values), dtype=np.uint8)
        read.clear()
        for q in queries:
            probe.fuzzy(
                q.encode(), 2, a["value"], a["voff"], FOLD, a["seg_dir"], a["seg_post"],
                base.bits, dead, base.max_edits, 1024,
            )  # fmt: skip
        scanned[heavy] = sum(read)
    assert scanned[8] * 2 < scanned[0], scanned


def test_a_register_index_built_with_heavy_keys_answers_like_one_without(
    world: tuple[list[str], list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    values, queries = world
    records = [RegisterRecord(i + 1, v, "serial", "stolen") for i, v in enumerate(values)]
    monkeypatch.setattr(arrays, "HEAVY_KEY", 0)
    without = RegisterIndex.build(records)
    monkeypatch.setattr(arrays, "HEAVY_KEY", 4)
    with_keys = RegisterIndex.build(records)
    a = [r.model_dump() for r in without.lookup_many(queries)]
    b = [r.model_dump() for r in with_keys.lookup_many(queries)]
    assert a == b
    assert [with_keys.lookup(q).model_dump() for q in queries[:100]] == a[:100]
