"""Pass-Join style partitioning: which entry pieces to index, which query pieces to probe.

An entry of length L tolerating k edits is cut into k+1 segments. If a query is within k
edits, at least one segment survives intact, shifted by the net insertions before it. Taking
the *leftmost* intact segment i, the i segments before it each hold an edit, which bounds
the shift: max(i, |shift|) + |(n - L) - shift| <= k. So for k = 2 a query probes about 29
substrings over all candidate lengths instead of every substring.
"""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=4096)
def segments(length: int, k: int) -> tuple[tuple[int, int], ...]:
    """(start, length) of the k+1 segments of an entry; the last ones take the remainder."""
    parts = k + 1
    base, extra = divmod(length, parts)
    out: list[tuple[int, int]] = []
    start = 0
    for i in range(parts):
        seg_len = base + (1 if i >= parts - extra else 0)
        out.append((start, seg_len))
        start += seg_len
    return tuple(out)


@lru_cache(maxsize=16384)
def probe_plan(query_len: int, entry_len: int, k: int) -> tuple[tuple[int, int, int], ...]:
    """(segment index, start in query, segment length) to look up for entries of ``entry_len``."""
    delta = query_len - entry_len
    if abs(delta) > k:
        return ()
    probes: list[tuple[int, int, int]] = []
    for i, (start, seg_len) in enumerate(segments(entry_len, k)):
        for shift in range(-k, k + 1):
            if max(i, abs(shift)) + abs(delta - shift) > k:
                continue
            q_start = start + shift
            if q_start < 0 or q_start + seg_len > query_len:
                continue
            probes.append((i, q_start, seg_len))
    return tuple(probes)
