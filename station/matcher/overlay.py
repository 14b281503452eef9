"""A small pure-Python index for recent register deltas (and for small registers).

Immutable once built: a delta builds a new overlay and the register index swaps the
reference, so readers on other threads never see a half-updated structure.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from rapidfuzz.distance import Levenshtein

from station.matcher.budget import edit_budget, reach
from station.matcher.normalise import allowed_edits
from station.matcher.partition import probe_plan, segments
from station.matcher.ranges import SerialRange
from station.matcher.records import RegisterRecord

if TYPE_CHECKING:
    from station.matcher.arrays import ArrayIndex


@dataclass(frozen=True, slots=True)
class Prepared:
    """A record with its normal and canonical forms computed once."""

    record: RegisterRecord
    value: str
    canonical: str
    span: SerialRange | None


class OverlayIndex:
    """Exact, fuzzy (Pass-Join segments), prefix/suffix and range look-ups over a few records."""

    def __init__(self, items: Iterable[Prepared], max_edits: int) -> None:
        self.max_edits = max_edits
        self.items: list[Prepared] = list(items)
        self.by_entry: dict[int, int] = {}
        self._segments: dict[tuple[int, int, str], list[int]] = {}
        self._lengths: set[int] = set()
        self._ranges: dict[tuple[str, int], list[int]] = {}
        for slot, item in enumerate(self.items):
            self.by_entry[item.record.entry_id] = slot
            if item.span is not None:
                self._ranges.setdefault((item.span.prefix, item.span.width), []).append(slot)
                continue
            text = item.canonical
            k = allowed_edits(len(text), max_edits)
            self._lengths.add(len(text))
            for i, (start, seg_len) in enumerate(segments(len(text), k)):
                key = (len(text), i, text[start : start + seg_len])
                self._segments.setdefault(key, []).append(slot)
        singles = [(it.canonical, s) for s, it in enumerate(self.items) if it.span is None]
        self._sorted = sorted(singles)
        self._sorted_rev = sorted((c[::-1], s) for c, s in singles)
        self._range_shapes = sorted(self._ranges)
        self._arrays: tuple[ArrayIndex, np.ndarray, np.ndarray] | None = None
        self._arrays_lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.items)

    @property
    def has_ranges(self) -> bool:
        return bool(self._ranges)

    def as_arrays(self) -> tuple[ArrayIndex, np.ndarray, np.ndarray] | None:
        """The single identifiers as an array index (built on first use), with no slot dead,
        and the overlay slot of each of its slots; None when there are none.

        A bulk screen of 100,000 queries searches them with the compiled kernel instead of
        this class's Python look-ups (about 9 us a query even for a 1,000-entry overlay).
        """
        with self._arrays_lock:
            if self._arrays is None:
                from station.matcher.arrays import ArrayIndex

                slots = [s for s, it in enumerate(self.items) if it.span is None]
                if not slots:
                    return None
                singles = [self.items[s] for s in slots]
                arrays = ArrayIndex.from_columns(
                    [it.value for it in singles],
                    np.arange(len(singles), dtype=np.int64),
                    [it.record.kind for it in singles],
                    [it.record.status for it in singles],
                    [None] * len(singles),
                    [None] * len(singles),
                    self.max_edits,
                )
                dead = np.zeros(len(singles), dtype=np.uint8)
                self._arrays = (arrays, dead, np.asarray(slots, dtype=np.int64))
            return self._arrays

    def fuzzy(self, query: str, kq: int) -> list[tuple[int, int]]:
        """(slot, canonical edit distance) of every entry within its own budget and within
        ``kq`` edits of the query."""
        found: dict[int, int] = {}
        n = len(query)
        for length in range(n - kq, n + kq + 1):
            cap = min(kq, reach(length, self.max_edits))
            if length not in self._lengths or abs(n - length) > cap:
                continue
            k = allowed_edits(length, self.max_edits)
            for i, start, seg_len in probe_plan(n, length, k):
                for slot in self._segments.get((length, i, query[start : start + seg_len]), ()):
                    if slot in found:
                        continue
                    entry = self.items[slot].canonical
                    limit = min(cap, edit_budget(entry, self.max_edits))
                    d = Levenshtein.distance(query, entry, score_cutoff=limit)
                    if d <= limit:
                        found[slot] = d
        return list(found.items())

    def partial(self, query: str, limit: int) -> list[tuple[int, str]]:
        """Entries the query is a proper prefix or suffix of (a truncated label)."""
        out: list[tuple[int, str]] = []
        for where, table, key in (
            ("prefix", self._sorted, query),
            ("suffix", self._sorted_rev, query[::-1]),
        ):
            pos = bisect.bisect_left(table, (key, -1))
            while pos < len(table) and len(out) < limit and table[pos][0].startswith(key):
                if len(table[pos][0]) > len(key):
                    out.append((table[pos][1], where))
                pos += 1
        return out

    def ranges(self, query: str) -> list[tuple[int, str]]:
        """(slot, member) of every registered range that contains the query."""
        out: list[tuple[int, str]] = []
        for prefix_len, width in _shapes_for(self._range_shapes, len(query)):
            digits = query[prefix_len:]
            if not digits.isdigit():
                continue
            for slot in self._ranges.get((query[:prefix_len], width), ()):
                span = self.items[slot].span
                if span is not None and span.first <= int(digits) <= span.last:
                    out.append((slot, span.member(int(digits))))
        return out


def _shapes_for(shapes: list[tuple[str, int]], n: int) -> list[tuple[int, int]]:
    """Distinct (prefix length, width) splits of a query of length n among registered ranges."""
    return sorted({(len(p), w) for p, w in shapes if len(p) + w == n})
