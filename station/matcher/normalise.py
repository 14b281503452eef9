"""Normal and confusion-aware canonical forms of identifiers, and the edits that explain a match.

The *normal* form is what an identifier is stored and shown as (upper case, no separators,
kind rules applied). The *canonical* form additionally folds characters that readers and
people confuse (0/O, 1/I/L, 2/Z, 5/S, 6/G, 8/B) onto one representative, so confusable
readings meet in the index; a confusion substitution therefore costs nothing to find and
little to score.
"""

from __future__ import annotations

from dataclasses import dataclass

from rapidfuzz.distance import Levenshtein
from stdnum import luhn

from station.domain import IdentifierKind
from station.identifiers import (
    MAX_IDENTIFIER_LENGTH,
    classify,
    compact,
    imei_from,
    luhn_ok,
    mark_code_valid,
)
from station.matcher.budget import partition_edits

#: reading confusions of DESIGN.md 3.4: each letter folds onto the digit it is mistaken for
CONFUSIONS: dict[str, str] = {"O": "0", "I": "1", "L": "1", "Z": "2", "S": "5", "G": "6", "B": "8"}
_FOLD = str.maketrans(CONFUSIONS)


@dataclass(frozen=True, slots=True)
class Normalised:
    """An identifier ready for matching."""

    kind: IdentifierKind
    #: stored/shown form: upper case, separators removed, kind rules applied
    value: str
    #: confusion-folded form the index is keyed on
    canonical: str
    #: the identifier's own check (IMEI Luhn, mark-code check character) holds
    valid: bool
    #: other readings worth searching, e.g. the 16 digits an IMEISV rule reduced to an IMEI
    #: (an IMEI with one extra digit read looks like an IMEISV)
    alternates: tuple[str, ...] = ()

    @property
    def forms(self) -> tuple[str, ...]:
        """Normal value first, then the alternates."""
        return (self.value, *self.alternates)


def canonical(value: str) -> str:
    """Fold confusable characters of an already normal value onto one representative."""
    return value.translate(_FOLD)


def normal_value(kind: str, value: str) -> str:
    """Kind rules on top of :func:`compact`: IMEISV -> IMEI, GTIN leading zeros dropped."""
    # stored register identifiers are already compact: skip the regex for them (index builds)
    plain = value.isalnum() and value.isascii() and (value.isupper() or value.isdigit())
    flat = value if plain else compact(value)
    if kind == "imei":
        return imei_from(flat) or flat
    if kind == "barcode" and flat.isdigit():
        # GTINs are zero-padded to 14 digits in some symbologies; the padding is not identity
        return flat.lstrip("0") or "0"
    return flat


def normalise(raw: str, kind_hint: IdentifierKind | None = None) -> Normalised:
    """Classify and normalise one query; raises IdentifierRejected for unusable input.

    Plain letters-and-digits input that cannot be a mark code, IMEISV or postcode mark takes
    a short path with the same result as :func:`station.identifiers.classify` (bulk checks
    spend most of their Python time here).
    """
    if kind_hint is None and raw.isascii() and raw.isalnum() and len(raw) <= MAX_IDENTIFIER_LENGTH:
        v = raw.upper()
        if v.isdigit():
            if len(v) == 15:
                return Normalised("imei", v, v, luhn_ok(v))
            if len(v) != 16:
                return Normalised("serial", v, v, len(v) >= 4)
        elif not (11 <= len(v) <= 13 and v[: len(v) - 9].isalpha()) or not mark_code_valid(v):
            # a mark code is 2-4 letters, 8 characters and a check character that holds
            return Normalised("serial", v, v.translate(_FOLD), len(v) >= 4)
    cls = classify(raw, kind_hint)
    value = normal_value(cls.kind, cls.value)
    flat = compact(raw)
    alternates = (flat,) if flat != value and cls.kind in ("imei", "barcode") else ()
    return Normalised(cls.kind, value, canonical(value), cls.valid, alternates)


def allowed_edits(length: int, max_edits: int) -> int:
    """Most edits any identifier of ``length`` characters may tolerate (the index partition).

    Two edits on a four-character serial would match half the register, so tolerance grows
    with length: 0 below 5 characters, 1 below 8, then ``max_edits``. What a given
    identifier tolerates is :func:`station.matcher.budget.edit_budget`, never more.
    """
    return partition_edits(length, max_edits)


@dataclass(frozen=True, slots=True)
class Alignment:
    """How a query differs from a register identifier."""

    #: number of edits assumed, confusion substitutions included
    distance: int
    #: edits that are not reading confusions
    hard_edits: int
    #: confusion substitutions
    confusions: int
    #: readable explanation, one string per edit, positions 1-based in the register identifier
    edits: tuple[str, ...]
    #: (position, read, true) of hard substitutions, for kind-specific rescoring
    substitutions: tuple[tuple[int, str, str], ...]


def align(query: str, entry: str) -> Alignment:
    """An alignment of ``query`` (as read) onto ``entry`` (the register's identifier).

    The fewest edits that are not reading confusions (an exact Levenshtein alignment of the
    canonical forms, by rapidfuzz); characters it pairs up that differ in the normal forms are
    the confusion substitutions assumed.
    """
    edits: list[str] = []
    subs: list[tuple[int, str, str]] = []
    hard = confusions = 0
    for op in Levenshtein.opcodes(canonical(query), canonical(entry)):
        tag, i1, i2, j1, j2 = op.tag, op.src_start, op.src_end, op.dest_start, op.dest_end
        if tag == "equal":
            for i, j in zip(range(i1, i2), range(j1, j2), strict=True):
                if query[i] != entry[j]:
                    confusions += 1
                    edits.append(
                        f"read '{query[i]}' for '{entry[j]}' at position {j + 1} (confusable)"
                    )
            continue
        paired = min(i2 - i1, j2 - j1) if tag == "replace" else 0
        for p in range(paired):
            hard += 1
            subs.append((j1 + p + 1, query[i1 + p], entry[j1 + p]))
            edits.append(f"read '{query[i1 + p]}' for '{entry[j1 + p]}' at position {j1 + p + 1}")
        for i in range(i1 + paired, i2):
            hard += 1
            edits.append(f"extra '{query[i]}' read after position {j1 + paired}")
        for j in range(j1 + paired, j2):
            hard += 1
            edits.append(f"missing '{entry[j]}' at position {j + 1}")
    return Alignment(hard + confusions, hard, confusions, tuple(edits), tuple(subs))


def luhn_correction(query: str, entry: str) -> tuple[int, str, str] | None:
    """The single digit change that turns a Luhn-failing IMEI read into ``entry``, if it is one.

    Luhn catches every single-digit error, so when the read fails its check and one digit
    change yields a valid IMEI on the register, that change is a likely correction.
    """
    if not (len(query) == len(entry) == 15 and query.isdigit() and entry.isdigit()):
        return None
    if luhn.is_valid(query) or not luhn.is_valid(entry):
        return None
    diffs = [(p + 1, a, b) for p, (a, b) in enumerate(zip(query, entry, strict=True)) if a != b]
    return diffs[0] if len(diffs) == 1 else None
