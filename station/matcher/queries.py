"""Many queries normalised at once: plain ones as packed bytes in numpy, the rest one by one.

A bulk check of 100,000 serials spent more Python time building a :class:`Normalised`
object and a search form per query than the compiled search spent finding candidates. Most
queries are plain letters and digits whose canonical form is a byte-table look-up away, so
those are folded in one vectorised pass and handed to the index as packed bytes; a query
becomes an object only when something asks for it (a hit to explain, a result to return).
Anything else (separators, other scripts, IMEI- or IMEISV-shaped reads, property-mark codes,
a kind hint) goes through :func:`normalise` one by one, so the rules stay in one place. A
valid 15-digit IMEI, the commonest read of all, is searched as plain bytes too (its one
search form is itself); it is normalised only when a hit of it is explained.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from station.domain import IdentifierKind
from station.errors import InputError
from station.identifiers import MAX_IDENTIFIER_LENGTH, mark_codes_valid
from station.matcher.normalise import CONFUSIONS, Normalised, normalise


def _tables() -> tuple[np.ndarray, ...]:
    upper = np.arange(256, dtype=np.uint8)
    upper[ord("a") : ord("z") + 1] -= 32
    fold = np.arange(256, dtype=np.uint8)
    for letter, folded in CONFUSIONS.items():
        fold[ord(letter)] = ord(folded)
    canon = fold[upper]  # upper-case, then fold the confusable letters onto their digits
    digit = np.zeros(256, dtype=np.int64)
    digit[ord("0") : ord("9") + 1] = 1
    alpha = np.zeros(256, dtype=np.int64)
    alpha[ord("A") : ord("Z") + 1] = 1
    alpha[ord("a") : ord("z") + 1] = 1
    for table in (upper, canon, digit, alpha):
        table.flags.writeable = False
    return upper, canon, digit, alpha


_UPPER, _CANON, _DIGIT, _ALPHA = _tables()


#: Luhn weight of each digit where it is doubled (the sum of the doubled digit's digits)
_DOUBLED = np.array([0, 2, 4, 6, 8, 1, 3, 5, 7, 9], dtype=np.int64)


def _luhn_ok(raw: np.ndarray, starts: np.ndarray, width: int) -> np.ndarray:
    """Per row, whether the ``width`` ASCII digits from ``starts`` pass the Luhn check."""
    digits = raw[starts[:, None] + np.arange(width)[None, :]].astype(np.int64) - 48
    doubled = (width - 1 - np.arange(width)) % 2 == 1
    weights = np.where(doubled[None, :], _DOUBLED[digits], digits)
    return weights.sum(axis=1) % 10 == 0


def _counts(flags: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Per query, how many of its bytes are flagged (empty queries count 0)."""
    running = np.zeros(flags.size + 1, dtype=np.int64)
    np.cumsum(flags, out=running[1:])
    return running[ends] - running[starts]


class QueryBatch(Sequence[Normalised]):
    """The queries of one bulk call; item ``i`` is :func:`normalise` of query ``i``."""

    def __init__(
        self, queries: Sequence[str], kind_hint: IdentifierKind | None = None, first: int = 0
    ) -> None:
        """``first``: the position of ``queries[0]`` in the caller's list (for error messages)."""
        self.raw = queries
        n = len(queries)
        lengths = np.fromiter(map(len, queries), dtype=np.int64, count=n)
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        # a character outside ASCII becomes "?", which no plain query contains
        raw = np.frombuffer("".join(queries).encode("ascii", "replace"), dtype=np.uint8)
        starts, ends = offsets[:-1], offsets[1:]
        digits = _counts(_DIGIT[raw], starts, ends)
        letters = _counts(_ALPHA[raw], starts, ends)
        canonical = _CANON[raw]
        canon_digits = _counts(_DIGIT[canonical], starts, ends)
        plain = (lengths >= 1) & (lengths <= MAX_IDENTIFIER_LENGTH) & (digits + letters == lengths)
        # 2-4 letters, 8 characters and a check character that holds: a property-mark code
        prefix = np.clip(lengths - 9, 0, None)
        mark_shaped = (
            plain
            & (lengths >= 11)
            & (lengths <= 13)
            & (_counts(_ALPHA[raw], starts, starts + prefix) == prefix)
        )
        shaped = np.flatnonzero(mark_shaped)
        mark_shaped[shaped] = mark_codes_valid(_UPPER[raw], starts[shaped], lengths[shaped])
        # read by the IMEI rules (readings, erasure) or the IMEISV rule
        imei_shaped = (lengths >= 14) & (lengths <= 16) & (canon_digits >= lengths - 1)
        one_by_one = ~plain | mark_shaped | imei_shaped
        # a valid IMEI read as 15 plain digits: searched as plain bytes, normalised lazily
        imeis = np.flatnonzero((lengths == 15) & (digits == 15))
        valid_imei = np.zeros(n, dtype=bool)
        if imeis.size:
            valid_imei[imeis[_luhn_ok(raw, starts[imeis], 15)]] = True
        one_by_one &= ~valid_imei
        if kind_hint is not None:
            one_by_one[:] = True
            valid_imei[:] = False
        self.lengths = lengths
        self.offsets = offsets
        #: canonical bytes of every plain query (other queries' bytes are not meaningful)
        self.canonical = canonical
        #: True where the query went through :func:`normalise` on its own
        self.one_by_one = one_by_one
        #: digits of each plain query's canonical form
        self.canon_digits = canon_digits
        #: True where a plain query is a valid IMEI (normalised only when asked for)
        self.valid_imei = valid_imei
        self._normalised: dict[int, Normalised] = {}
        for i in np.flatnonzero(one_by_one).tolist():
            try:
                self._normalised[i] = normalise(queries[i], kind_hint)
            except InputError as exc:
                raise type(exc)(f"query {first + i + 1} ({queries[i][:40]!r}): {exc}") from exc

    def __len__(self) -> int:
        return len(self.raw)

    def __getitem__(self, i: int) -> Normalised:  # type: ignore[override]
        found = self._normalised.get(i)
        if found is None and self.valid_imei[i]:
            found = self._normalised[i] = normalise(self.raw[i])
        elif found is None:
            value = self.raw[i].upper()
            lo, hi = int(self.offsets[i]), int(self.offsets[i + 1])
            canonical = self.canonical[lo:hi].tobytes().decode("ascii")
            found = self._normalised[i] = Normalised("serial", value, canonical, len(value) >= 4)
        return found

    def __iter__(self) -> Iterator[Normalised]:
        return (self[i] for i in range(len(self)))

    @property
    def alternates(self) -> bool:
        """Whether any query has a second form to search (only one-by-one queries can)."""
        return any(q.alternates for q in self._normalised.values())

    def plain_rows(self) -> np.ndarray:
        """Positions of the queries searched as their plain canonical bytes."""
        return np.flatnonzero(~self.one_by_one)

    def packed(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Canonical bytes and offsets of the given plain queries, in that order."""
        lengths = self.lengths[rows]
        offsets = np.zeros(rows.size + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        if rows.size == len(self):
            return self.canonical, offsets
        take = np.arange(int(offsets[-1]), dtype=np.int64)
        take += np.repeat(self.offsets[rows] - offsets[:-1], lengths)
        return self.canonical[take], offsets
