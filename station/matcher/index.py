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
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from station.domain import Candidate, IdentifierKind, MatchResult
from station.errors import IndexFileError, InputError
from station.matcher.arrays import ArrayIndex, frozen, pack_strings
from station.matcher.budget import imei_erasure, imei_readings, imei_shaped, may_be_truncated
from station.matcher.normalise import Normalised, canonical, normal_value, normalise
from station.matcher.overlay import OverlayIndex, Prepared
from station.matcher.queries import QueryBatch
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
FUZZY_CAP = 4096
#: hits per query a bulk pass makes room for; queries with more are searched again alone
BULK_ROW = 24
#: queries a bulk search prepares at a time: the next block is normalised in Python while
#: the compiled search (which releases the interpreter) runs on the one before
SEARCH_BLOCK = 16_384


#: (query index, slot, distance) of every base hit of a bulk pass
_Found = tuple[np.ndarray, np.ndarray, np.ndarray]


class _Planned(NamedTuple):
    """What a bulk pass searches: query position of each form, packed forms, edits allowed
    and edits already assumed (a corrected IMEI reading)."""

    owner: np.ndarray
    qbuf: np.ndarray
    qoff: np.ndarray
    qk: np.ndarray
    assumed: np.ndarray


def prepare(record: RegisterRecord) -> Prepared:
    """Normalise a record for indexing; InputError when its range is malformed."""
    value = normal_value(record.kind, record.identifier)
    if not value:
        raise InputError(f"register entry {record.entry_id} has an empty identifier")
    span = None
    if record.range_end:
        span = parse_range(value, normal_value(record.kind, record.range_end))
    return Prepared(record, value, canonical(value), span)


def search_forms(q: Normalised, max_edits: int) -> list[SearchForm]:
    """What to search for a query, without repeats.

    Each reading of the query, searched up to ``max_edits`` (each entry's own budget then
    decides: an IMEI is found only exactly); with an IMEI-shaped reading the valid IMEIs it
    stands for (:func:`imei_readings`) are searched exactly, and so is the IMEI a read with
    one stray letter stands for (:func:`imei_erasure`).
    """
    out: dict[str, SearchForm] = {}
    for form in q.forms:
        c = canonical(form)
        if imei_shaped(c):
            out[c] = SearchForm(c, max_edits, 0)
            for reading, assumed in imei_readings(c):
                out.setdefault(reading, SearchForm(reading, 0, assumed))
        else:
            out[c] = SearchForm(c, max_edits, 0)
            erased = imei_erasure(c)
            if erased is not None:
                out.setdefault(erased, SearchForm(erased, 0, 1))
    return list(out.values())


class SearchForm(NamedTuple):
    """One string to search for a query."""

    text: str
    #: most edits to search it with (0: exact)
    edits: int
    #: edits between the query and this string (a corrected IMEI reading), added to distances
    assumed: int


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
        """Index a whole register (last record wins when an entry id repeats).

        Streams: per entry only its strings are kept until the arrays are packed, so a
        database cursor can feed millions of rows.
        """
        s = settings or MatcherSettings()
        values: list[str] = []
        ids: list[int] = []
        kinds: list[str] = []
        statuses: list[str] = []
        crimes: list[str | None] = []
        sources: list[str | None] = []
        ranges: list[Prepared] = []
        for record in records:
            if record.range_end:
                ranges.append(prepare(record))
                continue
            value = normal_value(record.kind, record.identifier)
            if not value:
                raise InputError(f"register entry {record.entry_id} has an empty identifier")
            values.append(value)
            ids.append(record.entry_id)
            kinds.append(record.kind)
            statuses.append(record.status)
            crimes.append(record.crime_ref)
            sources.append(record.source)
        id_array = np.array(ids, dtype=np.int64)
        range_ids = {it.record.entry_id for it in ranges}
        if np.unique(id_array).size != id_array.size or range_ids.intersection(ids):
            keep = _last_of_each(id_array, range_ids)
            values = [values[i] for i in keep]
            kinds = [kinds[i] for i in keep]
            statuses = [statuses[i] for i in keep]
            crimes = [crimes[i] for i in keep]
            sources = [sources[i] for i in keep]
            id_array = id_array[keep]
            ranges = _unique(ranges)
        base = ArrayIndex.from_columns(
            values, id_array, kinds, statuses, crimes, sources, s.max_edits
        )
        overlay = OverlayIndex(ranges, s.max_edits)
        dead = np.zeros(len(base), dtype=np.uint8)
        return cls(_State(base, dead, overlay, version), s)

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
        slots: list[int] = []
        forms = search_forms(q, self.settings.max_edits)
        exact = [f.text.encode() for f in forms if f.edits == 0]
        for found_exact in state.base.exact(exact, state.dead) if exact else []:
            slots.extend(found_exact)
        for form, kq, _assumed in forms:
            if kq:
                found, _d, _overflow = state.base.fuzzy(form.encode(), kq, state.dead, FUZZY_CAP)
                slots.extend(int(x) for x in found)
        return self._result(state, q, query, slots)

    def lookup_many(
        self, queries: Sequence[str], kind_hint: IdentifierKind | None = None
    ) -> list[MatchResult]:
        """Match many identifiers: one vectorised pass, explanations only where it hits.

        Raises IdentifierRejected naming the first unusable query.
        """
        prepared = self._normalise_all(queries, kind_hint)
        explained = self._explain_hits(prepared, queries)
        return [
            explained.get(i)
            or MatchResult(
                query=raw, verdict="no_match", candidates=[], kind=q.kind, normalised=q.value
            )
            for i, (q, raw) in enumerate(zip(prepared, queries, strict=True))
        ]

    def explain_hits(
        self, queries: Sequence[str], kind_hint: IdentifierKind | None = None
    ) -> dict[int, MatchResult]:
        """Results of the queries something was found for, by position; the rest are no-match.

        The bulk check's core: queries the vectorised pass finds nothing for (no fuzzy hit, no
        entry sharing a truncated label's key, nothing in the overlay) cost no per-query
        ranking and no result object. Raises IdentifierRejected naming the first bad query.
        """
        return self._explain_hits(self._normalise_all(queries, kind_hint), queries)

    def _explain_hits(self, prepared: QueryBatch, queries: Sequence[str]) -> dict[int, MatchResult]:
        state = self._state
        qidx, slots, _dists = self._fuzzy_many(state, prepared)
        truncated = self._maybe_partial(state, prepared)
        maybe = truncated.copy()
        maybe[qidx] = True
        if len(state.overlay):
            self._screen_overlay(state, prepared, maybe)
        per_query: dict[int, list[int]] = {}
        for qi, slot in zip(qidx.tolist(), slots.tolist(), strict=True):
            per_query.setdefault(qi, []).append(slot)
        out: dict[int, MatchResult] = {}
        for i in np.flatnonzero(maybe).tolist():
            result = self._result(
                state, prepared[i], queries[i], per_query.get(i, []), bool(truncated[i])
            )
            if result.candidates or result.verdict != "no_match":
                out[i] = result
        return out

    def screen_many(
        self, queries: Sequence[str], kind_hint: IdentifierKind | None = None
    ) -> np.ndarray:
        """True for each query that could have a candidate (the bulk check's first pass).

        Never false for a query :meth:`lookup` would give a candidate; may be true for a few
        that rank to nothing. Raises IdentifierRejected naming the first unusable query.
        """
        state = self._state
        prepared = self._normalise_all(queries, kind_hint)
        qidx, _slots, _dists = self._fuzzy_many(state, prepared)
        maybe = self._maybe_partial(state, prepared)
        maybe[qidx] = True
        if len(state.overlay):
            self._screen_overlay(state, prepared, maybe)
        return maybe

    def _screen_overlay(self, state: _State, prepared: QueryBatch, maybe: np.ndarray) -> None:
        """Mark the queries the overlay (recent deltas, ranges) may hold a candidate for.

        The overlay's single identifiers are searched as an array index by the compiled bulk
        kernel (whole identifiers, and truncated labels by their sort keys, as for the base);
        only its ranges are looked at query by query.
        """
        ov = state.overlay
        arrays = ov.as_arrays()
        if arrays is not None:
            base, dead, _slots = arrays
            qidx, _found, _d = self._fuzzy_many_on(base, dead, prepared)
            maybe[qidx] = True
            maybe |= self._maybe_partial_on(base, prepared)
        if ov.has_ranges:
            for i in np.flatnonzero(~maybe).tolist():
                maybe[i] = bool(ov.ranges(prepared[i].canonical))

    def _maybe_partial(self, state: _State, prepared: QueryBatch) -> np.ndarray:
        """Queries informative enough to be a truncated label, with a longer base entry
        sharing the key of their start or end (only those can have a partial candidate)."""
        return self._maybe_partial_on(state.base, prepared)

    def _maybe_partial_on(self, base: ArrayIndex, prepared: QueryBatch) -> np.ndarray:
        out = np.zeros(len(prepared), dtype=bool)
        shortest = self.settings.min_partial_length
        # plain queries: may_be_truncated on the batch's counts (a valid IMEI never is one)
        plain = prepared.plain_rows()
        plain = plain[~prepared.valid_imei[plain]]
        lengths = prepared.lengths[plain]
        digits = prepared.canon_digits[plain]
        letters = lengths - digits
        informative = np.where(letters == 0, digits >= 10, 2 * digits + 3 * letters >= 15)
        rows = plain[(lengths >= shortest) & informative]
        qbuf, qoff = prepared.packed(rows)
        others = [
            i
            for i in np.flatnonzero(prepared.one_by_one).tolist()
            if may_be_truncated(prepared[i].canonical, shortest)
        ]
        if others:
            slow_buf, slow_off = pack_strings([prepared[i].canonical for i in others])
            qbuf = np.concatenate([qbuf, slow_buf])
            qoff = np.concatenate([qoff, slow_off[1:] + qoff[-1]])
            rows = np.concatenate([rows, np.asarray(others, dtype=np.int64)])
        if not rows.size:
            return out
        qbuf, qoff = frozen(qbuf), frozen(qoff)
        lengths = np.diff(qoff).astype(np.int64)
        for from_end in (False, True):
            lo, hi = base.key_ranges(qbuf, qoff, from_end=from_end)
            out[rows[base.longer_in_ranges(lo, hi, lengths, from_end)]] = True
        return out

    def search_many(
        self, queries: Sequence[str], kind_hint: IdentifierKind | None = None
    ) -> BulkHits:
        """Whole-identifier fuzzy hits only, as arrays: the bulk core without explanations.

        Large inputs go in blocks of :data:`SEARCH_BLOCK`: while the compiled search runs on
        one block (on its own thread: it holds no interpreter lock), the next is normalised,
        so a two-core machine keeps both cores busy. Raises IdentifierRejected naming the
        first unusable query by its position in ``queries``.
        """
        state = self._state
        if len(queries) <= SEARCH_BLOCK:
            prepared = self._normalise_all(queries, kind_hint)
            found = self._run_planned(state.base, state.dead, self._plan(prepared))
            return self._bulk_hits(state, prepared, found, 0)
        blocks: list[tuple[int, QueryBatch, Future[_Found]]] = []
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="bulk-search") as pool:
            for start in range(0, len(queries), SEARCH_BLOCK):
                block = queries[start : start + SEARCH_BLOCK]
                prepared = QueryBatch(block, kind_hint, first=start)
                job = pool.submit(self._run_planned, state.base, state.dead, self._plan(prepared))
                blocks.append((start, prepared, job))
            parts = [self._bulk_hits(state, p, job.result(), start) for start, p, job in blocks]
        return BulkHits(
            np.concatenate([b.query_index for b in parts]),
            np.concatenate([b.entry_id for b in parts]),
            np.concatenate([b.distance for b in parts]),
        )

    def _bulk_hits(
        self,
        state: _State,
        prepared: QueryBatch,
        found: _Found,
        first: int,
    ) -> BulkHits:
        """One block's hits (base and overlay), one per (query, entry), positions + first."""
        qidx, slots, dists = found
        qids = [qidx]
        eids = [state.base.arrays["entry_id"][slots]]
        ds = [dists]
        if len(state.overlay):
            edits = self.settings.max_edits
            extra = [
                (i, state.overlay.items[s].record.entry_id, d + f.assumed)
                for i, q in enumerate(prepared)
                for f in search_forms(q, edits)
                for s, d in state.overlay.fuzzy(f.text, f.edits)
            ]
            if extra:
                qids.append(np.array([e[0] for e in extra], dtype=np.int64))
                eids.append(np.array([e[1] for e in extra], dtype=np.int64))
                ds.append(np.array([e[2] for e in extra], dtype=np.int64))
        q_all, e_all, d_all = np.concatenate(qids), np.concatenate(eids), np.concatenate(ds)
        if prepared.alternates:  # one hit per (query, entry), nearest form
            order = np.lexsort((d_all, e_all, q_all))
            q_all, e_all, d_all = q_all[order], e_all[order], d_all[order]
            first_hit = np.ones(q_all.size, dtype=bool)
            first_hit[1:] = (q_all[1:] != q_all[:-1]) | (e_all[1:] != e_all[:-1])
            q_all, e_all, d_all = q_all[first_hit], e_all[first_hit], d_all[first_hit]
        return BulkHits(q_all + first, e_all, d_all)

    @staticmethod
    def _normalise_all(queries: Sequence[str], kind_hint: IdentifierKind | None) -> QueryBatch:
        return QueryBatch(queries, kind_hint)

    def _fuzzy_many(
        self, state: _State, prepared: QueryBatch
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self._fuzzy_many_on(state.base, state.dead, prepared)

    def _fuzzy_many_on(
        self, base: ArrayIndex, dead: np.ndarray, prepared: QueryBatch
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Flat (query index, slot, distance) of the base hits of every form of every query."""
        qidx, slots, dists = self._run_planned(base, dead, self._plan(prepared))
        return qidx, slots, dists

    def _plan(self, prepared: QueryBatch) -> _Planned:
        """The forms a bulk pass searches (Python: the part that holds the interpreter).

        Plain queries are searched as the packed canonical bytes the batch holds (their one
        form); the others by their :func:`search_forms`.
        """
        edits = self.settings.max_edits
        plain = prepared.plain_rows()
        fast_buf, fast_off = prepared.packed(plain)
        forms: list[str] = []
        budgets: list[int] = []
        assumed: list[int] = []
        owners: list[int] = []
        for i in np.flatnonzero(prepared.one_by_one).tolist():
            for f in search_forms(prepared[i], edits):
                forms.append(f.text)
                budgets.append(f.edits)
                assumed.append(f.assumed)
                owners.append(i)
        owner = np.concatenate([plain, np.asarray(owners, dtype=np.int64)])
        qk = np.concatenate(
            [np.full(plain.size, edits, dtype=np.int64), np.asarray(budgets, dtype=np.int64)]
        )
        extra = np.concatenate(
            [np.zeros(plain.size, dtype=np.int64), np.asarray(assumed, dtype=np.int64)]
        )
        if forms:
            slow_buf, slow_off = pack_strings(forms)
            qbuf = np.concatenate([fast_buf, slow_buf])
            qoff = np.concatenate([fast_off, slow_off[1:] + fast_off[-1]])
        else:
            qbuf, qoff = fast_buf, fast_off
        return _Planned(owner, frozen(qbuf), frozen(qoff), qk, extra)

    @staticmethod
    def _run_planned(
        base: ArrayIndex, dead: np.ndarray, job: _Planned
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Search planned forms by the compiled kernel: flat (query index, slot, distance).

        Rows are sized for the usual handful of hits; the rare query with more is searched
        again on its own with room for :data:`FUZZY_CAP`.
        """
        owner, qbuf, qoff, qk, extra = job
        slots, dists, counts = base.fuzzy_many(qbuf, qoff, qk, dead, BULK_ROW)
        mask = np.arange(BULK_ROW)[None, :] < counts[:, None]
        rows = np.nonzero(mask)[0]
        q_parts, s_parts = [owner[rows]], [slots[mask]]
        d_parts = [dists[mask].astype(np.int64) + extra[rows]]
        for row in np.flatnonzero(counts < 0):
            form = qbuf[int(qoff[row]) : int(qoff[row + 1])].tobytes()
            more, more_d, _overflow = base.fuzzy_compiled(form, int(qk[row]), dead, FUZZY_CAP)
            q_parts.append(np.full(more.size, owner[row], dtype=np.int64))
            s_parts.append(more)
            d_parts.append(more_d.astype(np.int64) + extra[row])
        return np.concatenate(q_parts), np.concatenate(s_parts), np.concatenate(d_parts)

    def _result(
        self,
        state: _State,
        q: Normalised,
        raw: str,
        base_slots: list[int],
        base_partial: bool = True,
    ) -> MatchResult:
        """Explain and rank what was found for one query; ``base_partial=False`` when the
        bulk pass has shown no base entry can have the query as a truncated label."""
        s = self.settings
        found: list[Candidate] = []
        base, ov = state.base, state.overlay
        for slot in dict.fromkeys(base_slots):
            found.append(_best(q, base.view(slot), s))
        if len(ov):
            forms = search_forms(q, s.max_edits)
            for slot in dict.fromkeys(sl for f in forms for sl, _d in ov.fuzzy(f.text, f.edits)):
                found.append(_best(q, _view(ov.items[slot]), s))
        if may_be_truncated(q.canonical, s.min_partial_length):
            limit = s.max_candidates * 4
            partial = base.partial(q.canonical.encode(), state.dead, limit) if base_partial else []
            for slot, where in partial:
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


def _best(q: Normalised, entry: EntryView, settings: MatcherSettings) -> Candidate:
    """The candidate under the reading of the query that explains the entry best."""
    options = [fuzzy_candidate(form, entry, settings) for form in q.forms]
    return max(options, key=lambda c: (c.score, -c.distance))


def _last_of_each(ids: np.ndarray, drop: set[int]) -> list[int]:
    """Positions of the last occurrence of each id, in order, leaving out ``drop`` ids."""
    last: dict[int, int] = {}
    for pos, eid in enumerate(ids.tolist()):
        last[eid] = pos
    return sorted(pos for eid, pos in last.items() if eid not in drop)


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
