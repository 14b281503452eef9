"""One look-up in the array index without compiled code: the path a single check takes.

A single look-up makes a few dozen probes; done here in Python and numpy it costs a fraction
of a millisecond and needs neither numba nor its compiled-code cache, so a one-shot command
or the first check after a reboot is as fast as the hundredth. The bulk search over
thousands of queries stays in :mod:`station.matcher.kernels`. The two implement the same
probe rule and hash (a test compares them on random registers).
"""

from __future__ import annotations

import numpy as np
from rapidfuzz.distance import Levenshtein

from station.matcher.budget import budget_for, partition_edits, reach
from station.matcher.tables import KEY_CHARS

_MASK = (1 << 64) - 1
_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3
_M1 = 0xBF58476D1CE4E5B9
_M2 = 0x94D049BB133111EB
_C_MIX = 0x9E3779B97F4A7C15
#: the slot field of a heavy key's marker posting (:func:`station.matcher.kernels.build_segments`)
MARKER = 0xFFFFFFFF


def seg_hash(folded: bytes, total: int, seg: int) -> int:
    """The kernels' segment hash of already folded bytes."""
    h = ((_FNV_OFFSET ^ (total << 8) ^ seg) * _FNV_PRIME) & _MASK
    for c in folded:
        h = ((h ^ c) * _FNV_PRIME) & _MASK
    h = ((h ^ (h >> 30)) * _M1) & _MASK
    h = ((h ^ (h >> 27)) * _M2) & _MASK
    return h ^ (h >> 31)


def _finish(h: int) -> int:
    h = ((h ^ (h >> 30)) * _M1) & _MASK
    h = ((h ^ (h >> 27)) * _M2) & _MASK
    return h ^ (h >> 31)


def rest_hash(anchor: int, part: int, folded: bytes) -> int:
    """The kernels' conditional key: part ``part`` of a rest, under its anchor's hash."""
    h = ((anchor ^ (((part + 1) * _C_MIX) & _MASK)) * _FNV_PRIME) & _MASK
    for c in folded:
        h = ((h ^ c) * _FNV_PRIME) & _MASK
    return _finish(h)


def cut(length: int, parts: int, r: int) -> tuple[int, int]:
    """(start, length) of part r when ``length`` characters are cut into ``parts``."""
    base, extra = divmod(length, parts)
    start = sum(base + (1 if j >= parts - extra else 0) for j in range(r))
    return start, base + (1 if r >= parts - extra else 0)


def conditional(
    q: bytes, anchor: int, total: int, k: int, qs: int, seg_len: int, max_edits: int
) -> list[int]:
    """Conditional keys a probe of a heavy key reads instead (the kernels' rule): the read
    without the anchor at ``qs``, cut as the entries' rests, by the rightmost intact part."""
    rest = q[:qs] + q[qs + seg_len :]
    parts = partition_edits(total, max_edits) + 1
    delta = len(q) - total
    out = []
    for r in range(parts):
        after = parts - 1 - r
        if after > k:
            continue
        start, length = cut(total - seg_len, parts, r)
        for sh in range(-k, k + 1):
            at = start + sh
            if abs(sh) + max(after, abs(delta - sh)) > k or at < 0 or at + length > len(rest):
                continue
            out.append(rest_hash(anchor, r, rest[at : at + length]))
    return out


def _gather(
    hashes: np.ndarray, dirs: np.ndarray, post: np.ndarray, bits: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(owner, tag, marker) of every posting whose fingerprint matches the key it was read
    for: which key, the posting's tag word, and whether it is a heavy key's marker."""
    buckets = (hashes >> np.uint64(64 - bits)).astype(np.int64)
    lo = dirs[buckets].astype(np.int64)
    hi = dirs[buckets + 1].astype(np.int64)
    sizes = hi - lo
    owner = np.repeat(np.arange(hashes.size), sizes)
    rows = np.arange(int(sizes.sum())) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    rows += np.repeat(lo, sizes)
    tags = post[rows, 2]
    same = (tags >> np.uint64(48)) == (hashes[owner] & np.uint64(0xFFFF))
    owner, tags = owner[same], tags[same]
    return owner, tags, (tags & np.uint64(0xFFFFFFFF)) == np.uint64(MARKER)


def probes(n: int, kq: int, max_edits: int) -> list[tuple[int, int, int, int, int]]:
    """(entry length, edits tolerated, segment number, query start, segment length) per probe
    of a query of ``n`` characters searched with at most ``kq`` edits (the kernels'
    rightmost-segment rule: |shift| + max(segments after, |delta - shift|) <= k)."""
    out = []
    for total in range(max(1, n - kq), n + kq + 1):
        kp = partition_edits(total, max_edits)
        k = min(kq, kp, reach(total, max_edits))
        delta = n - total
        if abs(delta) > k or total < kp + 1:
            continue
        parts = kp + 1
        base, extra = divmod(total, parts)
        start = 0
        for i in range(parts):
            seg_len = base + (1 if i >= parts - extra else 0)
            after = parts - 1 - i
            for sh in range(-k, k + 1):
                qs = start + sh
                if after > k or abs(sh) + max(after, abs(delta - sh)) > k:
                    continue
                if qs < 0 or qs + seg_len > n:
                    continue
                out.append((total, k, i, qs, seg_len))
            start += seg_len
    return out


def fuzzy(
    query: bytes,
    kq: int,
    value: np.ndarray,
    voff: np.ndarray,
    fold: np.ndarray,
    dirs: np.ndarray,
    post: np.ndarray,
    bits: int,
    dead: np.ndarray,
    max_edits: int,
    cap: int,
) -> tuple[np.ndarray, np.ndarray, bool]:
    """(slots, canonical distances, overflowed) of entries within their own budget and within
    ``kq`` edits of the query."""
    table = fold.tobytes()
    q = query.translate(table)
    plan = probes(len(q), kq, max_edits)
    empty = np.zeros(0, dtype=np.int64)
    if not plan:
        return empty, np.zeros(0, dtype=np.int8), False
    hashes = np.array(
        [seg_hash(q[qs : qs + ln], total, i) for total, _k, i, qs, ln in plan], dtype=np.uint64
    )
    owner, tags, marker = _gather(hashes, dirs, post, bits)
    if marker.any():
        heavy = np.unique(owner[marker]).tolist()
        more = [
            (p, c)
            for p in heavy
            for c in conditional(
                q, int(hashes[p]), plan[p][0], plan[p][1], plan[p][3], plan[p][4], max_edits
            )
        ]
        if more:
            c_owner, c_tags, c_marker = _gather(
                np.array([c for _p, c in more], dtype=np.uint64), dirs, post, bits
            )
            via = np.array([p for p, _c in more], dtype=np.int64)
            owner = np.concatenate([owner[~marker], via[c_owner[~c_marker]]])
            tags = np.concatenate([tags[~marker], c_tags[~c_marker]])
        else:
            owner, tags = owner[~marker], tags[~marker]
    if not tags.size:
        return empty, np.zeros(0, dtype=np.int8), False
    totals = np.array([t for t, *_ in plan], dtype=np.int64)
    cand = (tags & np.uint64(0xFFFFFFFF)).astype(np.int64)
    keep = (voff[cand + 1] - voff[cand]) == totals[owner]
    keep &= dead[cand] == 0
    owner, cand = owner[keep], cand[keep]
    if cand.size > _SCREEN_FROM:
        ks = np.array([k for _t, k, *_ in plan], dtype=np.int64)[owner]
        passed = screen(q, cand, ks, value, voff, fold)
        owner, cand = owner[passed], cand[passed]
    slots: dict[int, int] = {}
    for p, s in zip(owner.tolist(), cand.tolist(), strict=True):
        if s in slots:
            continue
        entry = value[int(voff[s]) : int(voff[s + 1])].tobytes().translate(table)
        k = min(plan[p][1], budget_for(len(entry), entry.isdigit(), max_edits))
        d = entry != q if k == 0 else Levenshtein.distance(q, entry, score_cutoff=k)
        if d > k:
            continue
        if len(slots) == cap:
            return (*_arrays(slots), True)
        slots[s] = int(d)
    return (*_arrays(slots), False)


#: below this many candidates the loop alone is quicker than screening them first
_SCREEN_FROM = 48
#: candidates screened at a time (bounds the temporary arrays: a few bytes per character)
_SCREEN_CHUNK = 1 << 16


def screen(
    q: bytes, cand: np.ndarray, ks: np.ndarray, value: np.ndarray, voff: np.ndarray,
    fold: np.ndarray,
) -> np.ndarray:  # fmt: skip
    """Which candidates may lie within their ``ks`` edits of the folded query ``q``.

    A segment shared by a large share of the register (a maker's serial prefix, a run of
    consecutive numbers) puts thousands of entries behind one probe, and checking each in
    Python would cost seconds. This necessary condition is checked for all at once: in an
    alignment with at most k edits every character of the entry is either one of the k edits
    or equal to a query character at most k places away (the shift so far is at most the
    number of insertions and deletions), so more than k characters of the entry with no equal
    within k places of their own position rule the entry out. Survivors get the exact
    distance."""
    qa = np.frombuffer(q, dtype=np.uint8)
    n = qa.size
    keep = np.zeros(cand.size, dtype=bool)
    for lo in range(0, cand.size, _SCREEN_CHUNK):
        c = cand[lo : lo + _SCREEN_CHUNK]
        k = ks[lo : lo + _SCREEN_CHUNK]
        starts = voff[c].astype(np.int64)
        lens = voff[c + 1].astype(np.int64) - starts
        width = int(lens.max())
        pos = np.arange(width)
        inside = pos[None, :] < lens[:, None]
        chars = fold[value[np.where(inside, starts[:, None] + pos[None, :], 0)]]
        near = np.zeros(chars.shape, dtype=bool)
        reach = int(k.max())
        for shift in range(-reach, reach + 1):
            j = pos + shift
            valid = (j >= 0) & (j < n)
            near |= (chars == qa[np.clip(j, 0, max(n - 1, 0))][None, :]) & valid[None, :]
        misses = np.count_nonzero(inside & ~near, axis=1)
        keep[lo : lo + _SCREEN_CHUNK] = misses <= k
    return keep


def _arrays(slots: dict[int, int]) -> tuple[np.ndarray, np.ndarray]:
    return (
        np.fromiter(slots.keys(), dtype=np.int64, count=len(slots)),
        np.fromiter(slots.values(), dtype=np.int8, count=len(slots)),
    )


def sort_key(folded_codes: list[int], from_end: bool) -> int:
    """The kernels' base-37 key of an identifier's first (or last) 12 characters."""
    n = len(folded_codes)
    v = 0
    for p in range(KEY_CHARS):
        c = 0
        if p < n:
            c = folded_codes[n - 1 - p] if from_end else folded_codes[p]
        v = v * 37 + c
    return v


def partial(
    query: bytes,
    value: np.ndarray,
    voff: np.ndarray,
    fold: np.ndarray,
    codes: np.ndarray,
    keys: np.ndarray,
    order: np.ndarray,
    dead: np.ndarray,
    from_end: bool,
    cap: int,
) -> list[int]:
    """Entries longer than the query that start (or end) with it, by the sorted keys."""
    table = fold.tobytes()
    q = query.translate(table)
    n = len(q)
    code_of = codes.tolist()
    lo = sort_key([code_of[c] for c in query], from_end)
    hi = lo + 37 ** (KEY_CHARS - min(n, KEY_CHARS))
    pos = int(np.searchsorted(keys, np.uint64(lo)))
    out: list[int] = []
    while pos < keys.size and int(keys[pos]) < hi and len(out) < cap:
        s = int(order[pos])
        pos += 1
        start, end = int(voff[s]), int(voff[s + 1])
        if dead[s] or end - start <= n:
            continue
        part = value[end - n : end] if from_end else value[start : start + n]
        if part.tobytes().translate(table) == q:
            out.append(s)
    return out


def exact_many(
    queries: list[bytes],
    value: np.ndarray,
    voff: np.ndarray,
    fold: np.ndarray,
    dirs: np.ndarray,
    post: np.ndarray,
    bits: int,
    dead: np.ndarray,
    max_edits: int,
) -> list[list[int]]:
    """Per query, the live slots whose canonical form equals it: one probe each (its last
    segment, as the kernels' rightmost rule with no edit), all bucket reads in one pass."""
    table = fold.tobytes()
    folded = [q.translate(table) for q in queries]
    out: list[list[int]] = [[] for _ in queries]
    plan = [probes(len(q), 0, max_edits) for q in folded]
    which = [i for i, p in enumerate(plan) if p]
    if not which:
        return out
    hashes = np.array(
        [
            seg_hash(
                folded[i][plan[i][0][3] : plan[i][0][3] + plan[i][0][4]],
                len(folded[i]),
                plan[i][0][2],
            )
            for i in which
        ],
        dtype=np.uint64,
    )
    owner, tags, marker = _gather(hashes, dirs, post, bits)
    if marker.any():
        # a heavy key: no edit anywhere, so the last part of the rest is intact in place
        heavy = np.unique(owner[marker]).tolist()
        more = []
        for p in heavy:
            i = which[p]
            total, _k, _i, qs, ln = plan[i][0]
            more += [
                (p, c) for c in conditional(folded[i], int(hashes[p]), total, 0, qs, ln, max_edits)
            ]
        c_owner, c_tags, c_marker = _gather(
            np.array([c for _p, c in more], dtype=np.uint64), dirs, post, bits
        )
        via = np.array([p for p, _c in more], dtype=np.int64)
        owner = np.concatenate([owner[~marker], via[c_owner[~c_marker]]])
        tags = np.concatenate([tags[~marker], c_tags[~c_marker]])
    cand = (tags & np.uint64(0xFFFFFFFF)).astype(np.int64)
    lengths = np.array([len(folded[i]) for i in which], dtype=np.int64)
    keep = (voff[cand + 1] - voff[cand]) == lengths[owner]
    keep &= dead[cand] == 0
    for p, s in zip(owner[keep].tolist(), cand[keep].tolist(), strict=True):
        i = which[p]
        entry = value[int(voff[s]) : int(voff[s + 1])].tobytes().translate(table)
        if entry == folded[i] and s not in out[i]:
            out[i].append(s)
    return out
