"""The register index: exact, fuzzy, truncated-label and range look-ups with explanations.

Two layers: a large immutable *base* (compact arrays, memory-mapped from disk, searched by
compiled code) and a small *overlay* holding deltas applied since the base was built.
Entries withdrawn or updated since the build are masked out of the base. Every change
builds a new state object and swaps one reference, so concurrent readers (threads) always
see a consistent register without locks.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from station.domain import Candidate, IdentifierKind, MatchResult
from station.errors import InputError
from station.matcher.normalise import Normalised, canonical, normal_value, normalise
from station.matcher.overlay import OverlayIndex, Prepared
from station.matcher.ranges import parse_range
from station.matcher.records import RegisterRecord
from station.matcher.scoring import (
    EntryView,
    fuzzy_candidate,
    partial_candidate,
    range_candidate,
    rank,
    verdict,
)
from station.settings import MatcherSettings


def prepare(record: RegisterRecord) -> Prepared:
    """Normalise a record for indexing; InputError when its range is malformed."""
    value = normal_value(record.kind, record.identifier)
    span = None
    if record.range_end:
        span = parse_range(value, normal_value(record.kind, record.range_end))
    return Prepared(record, value, canonical(value), span)


def _view(item: Prepared) -> EntryView:
    r = item.record
    return EntryView(r.entry_id, item.value, r.kind, r.status, r.crime_ref, r.source)


@dataclass(frozen=True)
class _State:
    overlay: OverlayIndex
    version: int


class RegisterIndex:
    """Look identifiers up in a register; see the module docstring for the layers."""

    def __init__(self, settings: MatcherSettings | None = None) -> None:
        self.settings = settings or MatcherSettings()
        self._write_lock = threading.Lock()
        self._state = _State(OverlayIndex((), self.settings.max_edits), 0)

    # -- building and updating ------------------------------------------------------------

    @classmethod
    def build(
        cls, records: Iterable[RegisterRecord], settings: MatcherSettings | None = None
    ) -> RegisterIndex:
        """Index a whole register."""
        index = cls(settings)
        items = _unique(prepare(r) for r in records)
        index._state = _State(OverlayIndex(items, index.settings.max_edits), 0)
        return index

    def apply_delta(
        self,
        added: Iterable[RegisterRecord] = (),
        updated: Iterable[RegisterRecord] = (),
        withdrawn: Iterable[int] = (),
        version: int | None = None,
    ) -> None:
        """Apply register changes without a rebuild; idempotent (re-adding replaces)."""
        changes = [prepare(r) for r in (*added, *updated)]
        gone = set(withdrawn)
        with self._write_lock:
            state = self._state
            keep = [it for it in state.overlay.items if it.record.entry_id not in gone]
            items = _unique([*keep, *changes])
            new_version = version if version is not None else state.version + 1
            self._state = _State(OverlayIndex(items, self.settings.max_edits), new_version)

    @property
    def version(self) -> int:
        """Register version the index reflects (set by whoever applies deltas)."""
        return self._state.version

    def __len__(self) -> int:
        return len(self._state.overlay)

    # -- look-ups -----------------------------------------------------------------------------

    def lookup(self, query: str, kind_hint: IdentifierKind | None = None) -> MatchResult:
        """Match one identifier; raises IdentifierRejected for unusable input."""
        return self._lookup(normalise(query, kind_hint), query)

    def lookup_many(
        self, queries: Sequence[str], kind_hint: IdentifierKind | None = None
    ) -> list[MatchResult]:
        """Match many identifiers; raises IdentifierRejected naming the first unusable one."""
        prepared = []
        for pos, q in enumerate(queries):
            try:
                prepared.append(normalise(q, kind_hint))
            except InputError as exc:
                raise type(exc)(f"query {pos + 1} ({q[:40]!r}): {exc}") from exc
        return [self._lookup(n, q) for n, q in zip(prepared, queries, strict=True)]

    def _lookup(self, q: Normalised, raw: str) -> MatchResult:
        state = self._state
        s = self.settings
        found: list[Candidate] = []
        ov = state.overlay
        for slot, _dist in ov.fuzzy(q.canonical):
            found.append(fuzzy_candidate(q.value, _view(ov.items[slot]), s))
        if len(q.canonical) >= s.min_partial_length:
            for slot, where in ov.partial(q.canonical, s.max_candidates * 4):
                found.append(partial_candidate(q.value, _view(ov.items[slot]), where, s))
        for slot, member in ov.ranges(q.canonical):
            item = ov.items[slot]
            end = item.span.member(item.span.last) if item.span else ""
            found.append(range_candidate(q.value, _view(item), member, end, s))
        ranked = rank(found, s)
        return MatchResult(
            query=raw,
            verdict=verdict(ranked, s),
            candidates=ranked,
            kind=q.kind,
            normalised=q.value,
        )


def _unique(items: Iterable[Prepared]) -> list[Prepared]:
    """Last record wins per entry id (a later delta replaces an earlier one)."""
    by_id: dict[int, Prepared] = {}
    for it in items:
        by_id[it.record.entry_id] = it
    return list(by_id.values())
