"""The register entry as the matcher sees it: the database-independent meeting point."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RegisterRecord:
    """One register entry to index.

    ``identifier`` may be raw (separators, lower case); the index normalises it by ``kind``.
    ``range_end`` makes the entry a range of consecutive serials from ``identifier`` to it
    (a stolen pallet): both ends share a prefix and end in a number of equal width.
    """

    entry_id: int
    identifier: str
    kind: str
    status: str
    crime_ref: str | None = None
    source: str | None = None
    range_end: str | None = None
