"""The register index: exact, fuzzy, truncated-label and range look-ups with explanations.

Two layers: a large immutable *base* (:class:`ArrayIndex`: flat arrays, memory-mapped from
disk, searched by compiled code) and a small *overlay* (:class:`OverlayIndex`) holding
serial ranges and the deltas applied since the base was built. Entries withdrawn or updated
since the build are masked out of the base. Every change builds a new state object and
swaps one reference, so concurrent readers (threads) always see a consistent register
without taking a lock.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from station.domain import Candidate, IdentifierKind, MatchResult
from station.errors import InputError
from station.matcher.arrays import ArrayIndex, IndexFileError, pack_strings
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

#: fuzzy candidates gathered per query before ranking (more means a degenerate query)
FUZZY_CAP = 256


def prepare(record: RegisterRecord) -> Prepared:
    """Normalise a record for indexing; InputError when its range is malformed."""
    value = normal_value(record.kind, record.identifier)
    if not value:
        raise InputError(f"register entry {record.entry_id} has an empty identifier")
    span = None
    if record.range_end:
        span = parse_range(value, normal_value(record.kind, record.range_end))
    return Prepared(record, value, canonical(value), span)


def _view(item: Prepared) -> EntryView:
    r = item.record
    return EntryView(r.entry_id, item.value, r.kind, r.status, r.crime_ref, r.source)


@dataclass(frozen=True)
class _State:
    base: ArrayIndex
    #: 1 where a base slot was withdrawn or superseded by the overlay
    dead: np.ndarray
    overlay: OverlayIndex
    version: int


@dataclass(frozen=True, slots=True)
class BulkHits:
    """Raw fuzzy hits of many queries: row i of the arrays is hit i."""

    query_index: np.ndarray
    entry_id: np.ndarray
    distance: np.ndarray


class RegisterIndex:
    """Look identifiers up in a register; see the module docstring for the layers."""

    def __init__(self, state: _State, settings: MatcherSettings) -> None:
        self.settings = settings
        self._write_lock = threading.Lock()
        self._state = state

    # -- building -------------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        records: Iterable[RegisterRecord],
        settings: MatcherSettings | None = None,
        version: int = 0,
    ) -> RegisterIndex:
        """Index a whole register (last record wins when an entry id repeats)."""
        s = settings or MatcherSettings()
        items = _unique(prepare(r) for r in records)
        singles = [it for it in items if it.span is None]
        base = ArrayIndex.from_columns(
            [it.value for it in singles],
            np.fromiter((it.record.entry_id for it in singles), np.int64, len(singles)),
            [it.record.kind for it in singles],
            [it.record.status for it in singles],
            [it.record.crime_ref for it in singles],
            [it.record.source for it in singles],
            s.max_edits,
        )
        ranges = OverlayIndex([it for it in items if it.span is not None], s.max_edits)
        dead = np.zeros(len(base), dtype=np.uint8)
        return cls(_State(base, dead, ranges, version), s)

    @classmethod
    def from_arrays(
        cls,
        base: ArrayIndex,
        settings: MatcherSettings | None = None,
        version: int = 0,
    ) -> RegisterIndex:
        """Wrap an already built array layer (large registers built without Python records)."""
        s = settings or MatcherSettings()
        if base.max_edits != s.max_edits:
            raise InputError(f"array index allows {base.max_edits} edits, settings {s.max_edits}")
        empty = OverlayIndex((), s.max_edits)
        return cls(_State(base, np.zeros(len(base), dtype=np.uint8), empty, version), s)

    # -- updating -------------------------------------------------------------------------

    def apply_delta(
        self,
        added: Iterable[RegisterRecord] = (),
        updated: Iterable[RegisterRecord] = (),
        withdrawn: Iterable[int] = (),
        version: int | None = None,
    ) -> None:
        """Apply register changes without a rebuild; idempotent (re-applying changes nothing).

        Added and updated entries replace any entry with the same id; withdrawn ids vanish.
        """
        changes = [prepare(r) for r in (*added, *updated)]
        changed = {it.record.entry_id for it in changes} | set(withdrawn)
        with self._write_lock:
            state = self._state
            dead = state.dead
            slots = [state.base.slot_of(eid) for eid in changed]
            hit = [sl for sl in slots if sl is not None]
            if hit:
                dead = dead.copy()
                dead[hit] = 1
            keep = [it for it in state.overlay.items if it.record.entry_id not in changed]
            overlay = OverlayIndex([*keep, *_unique(changes)], self.settings.max_edits)
            new_version = version if version is not None else state.version + 1
            self._state = _State(state.base, dead, overlay, new_version)

    @property
    def needs_compaction(self) -> bool:
        """The overlay has grown past ``max_overlay``: run :meth:`compact` (off the hot path)."""
        return len(self._state.overlay) > self.settings.max_overlay

    def compact(self) -> None:
        """Fold the overlay into a new base; readers keep using the old one meanwhile."""
        with self._write_lock:
            state = self._state
            live = np.flatnonzero(state.dead == 0)
            singles = [it for it in state.overlay.items if it.span is None]
            ranges = [it for it in state.overlay.items if it.span is not None]
            base = _merge(state.base, live, singles, self.settings.max_edits)
            dead = np.zeros(len(base), dtype=np.uint8)
            overlay = OverlayIndex(ranges, self.settings.max_edits)
            self._state = _State(base, dead, overlay, state.version)

    @property
    def version(self) -> int:
        """Register version the index reflects (set by whoever applies deltas)."""
        return self._state.version

    def __len__(self) -> int:
        state = self._state
        return int(len(state.base) - int(state.dead.sum())) + len(state.overlay)

    # -- persistence ----------------------------------------------------------------------

    def save(self, directory: str | Path) -> None:
        """Persist atomically: a complete new directory replaces the old one."""
        target = Path(directory)
        state = self._state
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            state.base.save(tmp / "base")
            np.save(tmp / "dead.npy", state.dead)
            with (tmp / "overlay.jsonl").open("w", encoding="utf-8") as fh:
                for it in state.overlay.items:
                    fh.write(json.dumps(asdict(it.record)) + "\n")
            meta = {"version": state.version, "max_edits": self.settings.max_edits}
            (tmp / "state.json").write_text(json.dumps(meta), encoding="utf-8")
            old = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.old")
            if target.exists():
                os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    @classmethod
    def load(cls, directory: str | Path, settings: MatcherSettings | None = None) -> RegisterIndex:
        """Open a saved index; the base is memory-mapped, so this takes well under a second."""
        s = settings or MatcherSettings()
        d = Path(directory)
        base = ArrayIndex.load(d / "base")
        if base.max_edits != s.max_edits:
            raise IndexFileError(
                f"index in {d} was built for {base.max_edits} edits, settings ask for "
                f"{s.max_edits}: rebuild it"
            )
        try:
            meta = json.loads((d / "state.json").read_text(encoding="utf-8"))
            dead = np.array(np.load(d / "dead.npy"), dtype=np.uint8)
            with (d / "overlay.jsonl").open(encoding="utf-8") as fh:
                records = [RegisterRecord(**json.loads(line)) for line in fh if line.strip()]
        except (OSError, ValueError, TypeError) as exc:
            raise IndexFileError(f"index in {d} is damaged: {exc}") from exc
        if dead.size != len(base):
            raise IndexFileError(f"index in {d} is inconsistent: rebuild it")
        overlay = OverlayIndex([prepare(r) for r in records], s.max_edits)
        return cls(_State(base, dead, overlay, int(meta["version"])), s)

    # -- look-ups -------------------------------------------------------------------------

    def lookup(self, query: str, kind_hint: IdentifierKind | None = None) -> MatchResult:
        """Match one identifier; raises IdentifierRejected for unusable input."""
        q = normalise(query, kind_hint)
        state = self._state
        base_hits, _d, _overflow = state.base.fuzzy(q.canonical.encode(), state.dead, FUZZY_CAP)
        return self._result(state, q, query, [int(s) for s in base_hits])

    def lookup_many(
        self, queries: Sequence[str], kind_hint: IdentifierKind | None = None
    ) -> list[MatchResult]:
        """Match many identifiers in one vectorised pass over the base.

        Raises IdentifierRejected naming the first unusable query.
        """
        state = self._state
        prepared = self._normalise_all(queries, kind_hint)
        slots, _dists, counts = self._fuzzy_many(state, prepared)
        return [
            self._result(state, q, raw, [int(x) for x in slots[i, : max(int(counts[i]), 0)]])
            if counts[i] != -1
            else self._result(state, q, raw, [int(x) for x in slots[i]])
            for i, (q, raw) in enumerate(zip(prepared, queries, strict=True))
        ]

    def search_many(
        self, queries: Sequence[str], kind_hint: IdentifierKind | None = None
    ) -> BulkHits:
        """Whole-identifier fuzzy hits only, as arrays: the bulk core without explanations."""
        state = self._state
        prepared = self._normalise_all(queries, kind_hint)
        slots, dists, counts = self._fuzzy_many(state, prepared)
        counts = np.where(counts < 0, slots.shape[1], counts)
        mask = np.arange(slots.shape[1])[None, :] < counts[:, None]
        qi = np.nonzero(mask)[0]
        hit_slots = slots[mask]
        ids = state.base.arrays["entry_id"][hit_slots]
        qids = [qi]
        eids = [ids]
        ds = [dists[mask].astype(np.int64)]
        if len(state.overlay):
            extra = [
                (i, s, d)
                for i, q in enumerate(prepared)
                for s, d in state.overlay.fuzzy(q.canonical)
            ]
            if extra:
                qids.append(np.array([e[0] for e in extra], dtype=np.int64))
                eids.append(
                    np.array([state.overlay.items[e[1]].record.entry_id for e in extra], np.int64)
                )
                ds.append(np.array([e[2] for e in extra], dtype=np.int64))
        return BulkHits(np.concatenate(qids), np.concatenate(eids), np.concatenate(ds))

    @staticmethod
    def _normalise_all(
        queries: Sequence[str], kind_hint: IdentifierKind | None
    ) -> list[Normalised]:
        out = []
        for pos, q in enumerate(queries):
            try:
                out.append(normalise(q, kind_hint))
            except InputError as exc:
                raise type(exc)(f"query {pos + 1} ({q[:40]!r}): {exc}") from exc
        return out

    @staticmethod
    def _fuzzy_many(
        state: _State, prepared: list[Normalised]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        qbuf, qoff = pack_strings([q.canonical for q in prepared])
        return state.base.fuzzy_many(qbuf, qoff, state.dead, FUZZY_CAP)

    def _result(self, state: _State, q: Normalised, raw: str, base_slots: list[int]) -> MatchResult:
        s = self.settings
        found: list[Candidate] = []
        base, ov = state.base, state.overlay
        for slot in base_slots:
            found.append(fuzzy_candidate(q.value, base.view(slot), s))
        if len(ov):
            for slot, _dist in ov.fuzzy(q.canonical):
                found.append(fuzzy_candidate(q.value, _view(ov.items[slot]), s))
        if len(q.canonical) >= s.min_partial_length:
            limit = s.max_candidates * 4
            for slot, where in base.partial(q.canonical.encode(), state.dead, limit):
                found.append(partial_candidate(q.value, base.view(slot), where, s))
            if len(ov):
                for slot, where in ov.partial(q.canonical, limit):
                    found.append(partial_candidate(q.value, _view(ov.items[slot]), where, s))
        if len(ov):
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


def _take_strings(data: np.ndarray, off: np.ndarray, slots: np.ndarray) -> Iterator[bytes]:
    for s in slots:
        yield bytes(data[off[s] : off[s + 1]])


def _merge(base: ArrayIndex, live: np.ndarray, extra: list[Prepared], max_edits: int) -> ArrayIndex:
    """A new array layer of the live base slots plus overlay entries."""
    a = base.arrays
    kinds, statuses, sources = list(base.kinds), list(base.statuses), list(base.sources)

    def code(vocab: list[str], value: str | None) -> int:
        key = value or ""
        if key not in vocab:
            vocab.append(key)
        return vocab.index(key)

    values = [*_take_strings(a["value"], a["voff"], live), *(it.value.encode() for it in extra)]
    crimes = [
        *_take_strings(a["crime"], a["coff"], live),
        *((it.record.crime_ref or "").encode() for it in extra),
    ]

    def packed(parts: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
        off = np.zeros(len(parts) + 1, dtype=np.int64)
        np.cumsum([len(p) for p in parts], out=off[1:])
        return np.frombuffer(b"".join(parts), dtype=np.uint8), off

    value, voff = packed(values)
    crime, coff = packed(crimes)
    n_extra = len(extra)
    return ArrayIndex.from_buffers(
        value,
        voff,
        np.concatenate(
            [a["entry_id"][live], np.array([it.record.entry_id for it in extra], dtype=np.int64)]
        ),
        np.concatenate(
            [
                a["kind"][live],
                np.array([code(kinds, it.record.kind) for it in extra], dtype=np.uint8).reshape(
                    n_extra
                ),
            ]
        ),
        kinds,
        np.concatenate(
            [
                a["status"][live],
                np.array(
                    [code(statuses, it.record.status) for it in extra], dtype=np.uint8
                ).reshape(n_extra),
            ]
        ),
        statuses,
        np.concatenate(
            [
                a["source"][live],
                np.array(
                    [code(sources, it.record.source) for it in extra], dtype=np.uint16
                ).reshape(n_extra),
            ]
        ),
        sources,
        crime,
        coff,
        max_edits,
    )
