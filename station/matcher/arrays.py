"""The large, immutable layer of the register index: flat arrays, memory-mappable from disk.

One copy of each normal identifier (bytes + offsets), the entry fields a candidate reports,
a bucketed hash table of Pass-Join segments, and sorted prefix/suffix keys for truncated
labels. About 40 bytes per entry plus the identifiers themselves; nothing is a Python object
per entry, so loading is mapping files, not parsing them.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from station.errors import IndexFileError, InputError
from station.matcher import jit, probe
from station.matcher.scoring import EntryView
from station.matcher.tables import KEY_CHARS, fold_table, key_codes, pack_codes

FORMAT_VERSION = 4
#: a segment key shared by more entries than this is stored as conditional keys (a probe
#: of it costs a dozen extra probes instead of scanning every entry behind it)
HEAVY_KEY = 64
_FIELDS = (
    "value",
    "voff",
    "entry_id",
    "kind",
    "status",
    "source",
    "crime",
    "coff",
    "seg_dir",
    "seg_post",
    "pre_key",
    "pre_slot",
    "suf_key",
    "suf_slot",
    "id_sorted",
    "id_slot",
)
#: numba's parallel thread pool is one per process and must not be entered from two Python
#: threads at once (it hangs or aborts), so bulk searches take turns; single look-ups do not
#: use the pool and run concurrently
_PARALLEL_POOL = threading.Lock()
FOLD = fold_table()
CODES = key_codes()
PACK = pack_codes()
for _table in (FOLD, CODES, PACK):
    _table.flags.writeable = False


def frozen(array: np.ndarray) -> np.ndarray:
    """A read-only view, C-contiguous.

    The kernels are compiled per argument type and numba types read-only and writable arrays
    apart; arrays mapped from disk are read-only, so every array a kernel sees is made
    read-only too, and a process that loads an index uses the machine code of the process
    that built it (no second compile).
    """
    if not array.flags.writeable and array.flags.c_contiguous:
        return array
    view = np.ascontiguousarray(array).view()
    view.flags.writeable = False
    return view


def pack_strings(items: Sequence[str | None], text: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Strings as one byte array plus offsets (None packs as empty).

    Identifiers must be ASCII (one byte per character, which the kernels rely on);
    ``text=True`` packs free text such as crime references as UTF-8.
    """
    texts = [t or "" for t in items]
    if text:
        encoded = [t.encode("utf-8") for t in texts]
        data = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        lengths = np.fromiter((len(e) for e in encoded), dtype=np.int64, count=len(encoded))
    else:
        joined = "".join(texts)
        if not joined.isascii():
            bad = next(t for t in texts if not t.isascii())
            raise InputError(f"register identifier {bad!r} is not ASCII; only Latin is accepted")
        data = np.frombuffer(joined.encode("ascii"), dtype=np.uint8)
        lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return frozen(data), frozen(offsets)


def _codes(items: Sequence[str | None], vocab: list[str], dtype: type) -> np.ndarray:
    """Small-vocabulary strings as integer codes, growing ``vocab``; "" stands for None."""
    lookup = {v: i for i, v in enumerate(vocab)}
    out: np.ndarray = np.empty(len(items), dtype=dtype)
    for i, item in enumerate(items):
        key = item or ""
        code = lookup.get(key)
        if code is None:
            code = lookup[key] = len(vocab)
            vocab.append(key)
        out[i] = code
    if len(vocab) > np.iinfo(dtype).max:
        raise InputError(f"more than {np.iinfo(dtype).max} distinct values in a register column")
    return out


@dataclass
class ArrayIndex:
    """See the module docstring. Slots are positions 0..n-1; entry ids are the register's."""

    arrays: dict[str, np.ndarray]
    kinds: list[str]
    statuses: list[str]
    sources: list[str]
    bits: int
    max_edits: int

    # -- construction ---------------------------------------------------------------------

    @classmethod
    def from_columns(
        cls,
        values: Sequence[str],
        entry_ids: Sequence[int] | np.ndarray,
        kinds: Sequence[str],
        statuses: Sequence[str],
        crime_refs: Sequence[str | None],
        sources: Sequence[str | None],
        max_edits: int,
    ) -> ArrayIndex:
        """Build from per-entry columns of normal identifiers and their fields."""
        value, voff = pack_strings(values)
        crime, coff = pack_strings(crime_refs, text=True)
        kind_vocab: list[str] = []
        status_vocab: list[str] = []
        source_vocab: list[str] = [""]
        return cls.from_buffers(
            value,
            voff,
            np.asarray(entry_ids, dtype=np.int64),
            _codes(kinds, kind_vocab, np.uint8),
            kind_vocab,
            _codes(statuses, status_vocab, np.uint8),
            status_vocab,
            _codes(sources, source_vocab, np.uint16),
            source_vocab,
            crime,
            coff,
            max_edits,
        )

    @classmethod
    def from_buffers(
        cls,
        value: np.ndarray,
        voff: np.ndarray,
        entry_id: np.ndarray,
        kind: np.ndarray,
        kind_vocab: list[str],
        status: np.ndarray,
        status_vocab: list[str],
        source: np.ndarray,
        source_vocab: list[str],
        crime: np.ndarray,
        coff: np.ndarray,
        max_edits: int,
        heavy: int | None = None,
    ) -> ArrayIndex:
        """Build from packed columns (the fast path for large registers and rebuilds);
        ``heavy`` overrides :data:`HEAVY_KEY` (0: no conditional keys)."""
        value, voff = frozen(value), frozen(voff)
        n = voff.size - 1
        if len(np.unique(entry_id)) != n:
            raise InputError("register entry ids are not unique")
        segments = int(np.count_nonzero(np.diff(voff) >= 1)) * (max_edits + 1)
        bits = max(8, min(30, math.ceil(math.log2(max(segments, 1))) - 1))
        from station.matcher import kernels

        shared = kernels.heavy_keys(
            value, voff, FOLD, max_edits, HEAVY_KEY if heavy is None else heavy
        )
        seg_dir, seg_post = kernels.build_segments(value, voff, FOLD, PACK, max_edits, bits, shared)
        del shared
        pre = kernels.sort_keys(value, voff, CODES, False)
        pre_slot = np.argsort(pre, kind="stable").astype(np.uint32)
        pre_key = pre[pre_slot]
        del pre
        suf = kernels.sort_keys(value, voff, CODES, True)
        suf_slot = np.argsort(suf, kind="stable").astype(np.uint32)
        suf_key = suf[suf_slot]
        del suf
        id_slot = np.argsort(entry_id, kind="stable").astype(np.uint32)
        arrays = {
            "value": value,
            "voff": voff,
            "entry_id": entry_id,
            "kind": kind,
            "status": status,
            "source": source,
            "crime": crime,
            "coff": coff,
            "seg_dir": seg_dir,
            "seg_post": seg_post,
            "pre_key": pre_key,
            "pre_slot": pre_slot,
            "suf_key": suf_key,
            "suf_slot": suf_slot,
            "id_sorted": entry_id[id_slot],
            "id_slot": id_slot,
        }
        return cls(arrays, kind_vocab, status_vocab, source_vocab, bits, max_edits)

    def __post_init__(self) -> None:
        self.arrays = {name: frozen(a) for name, a in self.arrays.items()}

    # -- persistence ----------------------------------------------------------------------

    def save(self, directory: Path) -> None:
        """Write every array as .npy plus meta.json (the caller makes the directory atomic)."""
        directory.mkdir(parents=True, exist_ok=True)
        for name in _FIELDS:
            np.save(directory / f"{name}.npy", np.ascontiguousarray(self.arrays[name]))
        meta = {
            "format": FORMAT_VERSION,
            "entries": len(self),
            "bits": self.bits,
            "max_edits": self.max_edits,
            "kinds": self.kinds,
            "statuses": self.statuses,
            "sources": self.sources,
        }
        (directory / "meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> ArrayIndex:
        """Map a saved index; pages are read on demand, so this takes milliseconds."""
        try:
            meta = json.loads((directory / "meta.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise IndexFileError(f"no readable index in {directory}: {exc}") from exc
        if meta.get("format") != FORMAT_VERSION:
            raise IndexFileError(
                f"index in {directory} has format {meta.get('format')}, "
                f"this station reads {FORMAT_VERSION}: rebuild it"
            )
        arrays: dict[str, np.ndarray] = {}
        for name in _FIELDS:
            try:
                arrays[name] = np.asarray(np.load(directory / f"{name}.npy", mmap_mode="r"))
            except (OSError, ValueError) as exc:
                raise IndexFileError(f"index file {name}.npy in {directory}: {exc}") from exc
        if arrays["voff"].size != meta["entries"] + 1:
            raise IndexFileError(f"index in {directory} is inconsistent: rebuild it")
        return cls(
            arrays,
            list(meta["kinds"]),
            list(meta["statuses"]),
            list(meta["sources"]),
            int(meta["bits"]),
            int(meta["max_edits"]),
        )

    # -- look-ups -------------------------------------------------------------------------

    def __len__(self) -> int:
        return int(self.arrays["voff"].size - 1)

    def fuzzy(
        self, query: bytes, kq: int, dead: np.ndarray, cap: int
    ) -> tuple[np.ndarray, np.ndarray, bool]:
        """(slots, canonical distances, overflowed) of entries within ``kq`` edits of the
        query and within their own budget (:mod:`station.matcher.budget`).

        Compiled code once this process has warmed the kernels (a server), numpy otherwise
        (a one-shot command: nothing to load or compile); both give the same answer.
        """
        if jit.warmed():
            return self.fuzzy_compiled(query, kq, dead, cap)
        a = self.arrays
        return probe.fuzzy(
            query,
            kq,
            a["value"],
            a["voff"],
            FOLD,
            a["seg_dir"],
            a["seg_post"],
            self.bits,
            dead,
            self.max_edits,
            cap,
        )

    def exact(self, queries: list[bytes], dead: np.ndarray) -> list[list[int]]:
        """Per query, the live slots whose canonical form equals it (one probe each, numpy:
        an IMEI read's few dozen readings cost one vectorised pass, compiled or not)."""
        a = self.arrays
        return probe.exact_many(
            queries,
            a["value"],
            a["voff"],
            FOLD,
            a["seg_dir"],
            a["seg_post"],
            self.bits,
            dead,
            self.max_edits,
        )

    def fuzzy_compiled(
        self, query: bytes, kq: int, dead: np.ndarray, cap: int
    ) -> tuple[np.ndarray, np.ndarray, bool]:
        """:meth:`fuzzy` by the compiled kernel (the bulk search's own code, for comparison)."""
        from station.matcher import kernels

        a = self.arrays
        q = np.frombuffer(query, dtype=np.uint8)
        return kernels.fuzzy_one(  # type: ignore[no-any-return]
            q,
            kq,
            a["value"],
            a["voff"],
            FOLD,
            PACK,
            a["seg_dir"],
            a["seg_post"],
            self.bits,
            frozen(dead),
            self.max_edits,
            cap,
        )

    def fuzzy_many(
        self, qbuf: np.ndarray, qoff: np.ndarray, qk: np.ndarray, dead: np.ndarray, cap: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Vectorised :meth:`fuzzy` (query i tolerating qk[i] edits) on all cores:
        (slots[nq, cap], dists[nq, cap], counts)."""
        from station.matcher import kernels

        a = self.arrays
        with _PARALLEL_POOL:
            return kernels.fuzzy_many(  # type: ignore[no-any-return]
                qbuf,
                qoff,
                frozen(np.asarray(qk, dtype=np.int64)),
                a["value"],
                a["voff"],
                FOLD,
                PACK,
                a["seg_dir"],
                a["seg_post"],
                self.bits,
                frozen(dead),
                self.max_edits,
                cap,
            )

    def partial(self, query: bytes, dead: np.ndarray, cap: int) -> list[tuple[int, str]]:
        """(slot, "prefix"|"suffix") of entries a truncated label could be."""
        a = self.arrays
        out: list[tuple[int, str]] = []
        for where, keys, order, from_end in (
            ("prefix", a["pre_key"], a["pre_slot"], False),
            ("suffix", a["suf_key"], a["suf_slot"], True),
        ):
            found = probe.partial(
                query, a["value"], a["voff"], FOLD, CODES, keys, order, dead, from_end, cap
            )
            out.extend((int(s), where) for s in found)
        return out

    def key_ranges(
        self, qbuf: np.ndarray, qoff: np.ndarray, from_end: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per query, the positions in the prefix (or suffix) keys of entries sharing its start.

        A superset of what :meth:`partial` reports (it also counts shorter and withdrawn
        entries): an empty range proves a query is no truncated label of any entry.
        """
        from station.matcher import kernels

        a = self.arrays
        keys = a["suf_key"] if from_end else a["pre_key"]
        lo_key = kernels.sort_keys(qbuf, qoff, CODES, from_end)
        short = np.maximum(KEY_CHARS - np.minimum(np.diff(qoff), KEY_CHARS), 0)
        span = np.power(np.uint64(37), short.astype(np.uint64))
        lo = np.searchsorted(keys, lo_key)
        hi = np.searchsorted(keys, lo_key + span)
        return lo, hi

    def longer_in_ranges(
        self,
        lo: np.ndarray,
        hi: np.ndarray,
        lengths: np.ndarray,
        from_end: bool,
        widest: int = 64,
    ) -> np.ndarray:
        """Per query, whether the key range [lo, hi) of :meth:`key_ranges` holds an entry
        longer than the query's ``lengths`` (only such an entry can make it a truncated label).

        A superset of what :meth:`partial` reports, one vectorised pass for all queries;
        ranges wider than ``widest`` keys are answered True without looking.
        """
        a = self.arrays
        order = a["suf_slot"] if from_end else a["pre_slot"]
        width = (hi - lo).astype(np.int64)
        out = width > widest
        small = np.flatnonzero((width > 0) & ~out)
        if small.size:
            w = width[small]
            owner = np.repeat(small, w)
            pos = np.arange(int(w.sum()), dtype=np.int64) - np.repeat(np.cumsum(w) - w, w)
            pos += np.repeat(lo[small].astype(np.int64), w)
            slots = order[pos].astype(np.int64)
            voff = a["voff"]
            longer = (voff[slots + 1] - voff[slots]) > lengths[owner]
            out[owner[longer]] = True
        return out

    def slot_of(self, entry_id: int) -> int | None:
        """Slot holding ``entry_id``, or None."""
        ids = self.arrays["id_sorted"]
        pos = int(np.searchsorted(ids, entry_id))
        if pos < ids.size and int(ids[pos]) == entry_id:
            return int(self.arrays["id_slot"][pos])
        return None

    def identifier(self, slot: int) -> str:
        a = self.arrays
        return bytes(a["value"][a["voff"][slot] : a["voff"][slot + 1]]).decode("ascii")

    def view(self, slot: int) -> EntryView:
        """The reported fields of one entry."""
        a = self.arrays
        crime = bytes(a["crime"][a["coff"][slot] : a["coff"][slot + 1]]).decode("utf-8")
        return EntryView(
            entry_id=int(a["entry_id"][slot]),
            identifier=self.identifier(slot),
            kind=self.kinds[int(a["kind"][slot])],
            status=self.statuses[int(a["status"][slot])],
            crime_ref=crime or None,
            source=self.sources[int(a["source"][slot])] or None,
        )
