"""Normal and confusion-aware canonical forms of identifiers, and the edits that explain a match.

The *normal* form is what an identifier is stored and shown as (upper case, no separators,
kind rules applied). The *canonical* form additionally folds characters that readers and
people confuse (0/O, 1/I/L, 2/Z, 5/S, 6/G, 8/B) onto one representative, so confusable
readings meet in the index; a confusion substitution therefore costs nothing to find and
little to score.
"""

from __future__ import annotations

from dataclasses import dataclass

from stdnum import luhn

from station.domain import IdentifierKind
from station.identifiers import classify, compact, imei_from

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


def canonical(value: str) -> str:
    """Fold confusable characters of an already normal value onto one representative."""
    return value.translate(_FOLD)


def normal_value(kind: str, value: str) -> str:
    """Kind rules on top of :func:`compact`: IMEISV -> IMEI, GTIN leading zeros dropped."""
    flat = compact(value)
    if kind == "imei":
        return imei_from(flat) or flat
    if kind == "barcode" and flat.isdigit():
        # GTINs are zero-padded to 14 digits in some symbologies; the padding is not identity
        return flat.lstrip("0") or "0"
    return flat


def normalise(raw: str, kind_hint: IdentifierKind | None = None) -> Normalised:
    """Classify and normalise one query; raises IdentifierRejected for unusable input."""
    cls = classify(raw, kind_hint)
    value = normal_value(cls.kind, cls.value)
    return Normalised(cls.kind, value, canonical(value), cls.valid)


def allowed_edits(length: int, max_edits: int) -> int:
    """Edits tolerated for an identifier of ``length`` characters.

    Two edits on a four-character serial would match half the register, so tolerance grows
    with length: 0 below 5 characters, 1 below 8, then ``max_edits``.
    """
    if length < 5:
        return 0
    if length < 8:
        return min(1, max_edits)
    return max_edits


def is_confusion(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` are distinct characters readers mistake for each other."""
    return a != b and canonical(a) == canonical(b)


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


def align(query: str, entry: str, confusion_cost: float = 0.1) -> Alignment:
    """Cheapest alignment of ``query`` (as read) onto ``entry`` (the register's identifier).

    Weighted Levenshtein: confusion substitutions cost ``confusion_cost``, every other edit 1.
    Strings are short (<= 64), so the quadratic table is cheap; only verified candidates get here.
    """
    n, m = len(query), len(entry)
    dp = [[0.0] * (m + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        dp[i][0] = float(i)
    for j in range(1, m + 1):
        dp[0][j] = float(j)
    for i in range(1, n + 1):
        qa = query[i - 1]
        row, prev = dp[i], dp[i - 1]
        for j in range(1, m + 1):
            eb = entry[j - 1]
            if qa == eb:
                sub = 0.0
            elif canonical(qa) == canonical(eb):
                sub = confusion_cost
            else:
                sub = 1.0
            row[j] = min(prev[j - 1] + sub, prev[j] + 1.0, row[j - 1] + 1.0)
    edits: list[str] = []
    subs: list[tuple[int, str, str]] = []
    hard = confusions = 0
    i, j = n, m
    eps = 1e-9
    while i > 0 or j > 0:
        if i > 0 and j > 0:
            qa, eb = query[i - 1], entry[j - 1]
            if qa == eb and abs(dp[i][j] - dp[i - 1][j - 1]) < eps:
                i, j = i - 1, j - 1
                continue
            conf = canonical(qa) == canonical(eb)
            cost = confusion_cost if conf else 1.0
            if abs(dp[i][j] - (dp[i - 1][j - 1] + cost)) < eps:
                if conf:
                    confusions += 1
                    edits.append(f"read '{qa}' for '{eb}' at position {j} (confusable)")
                else:
                    hard += 1
                    subs.append((j, qa, eb))
                    edits.append(f"read '{qa}' for '{eb}' at position {j}")
                i, j = i - 1, j - 1
                continue
        if i > 0 and abs(dp[i][j] - (dp[i - 1][j] + 1.0)) < eps:
            hard += 1
            edits.append(f"extra '{query[i - 1]}' read after position {j}")
            i -= 1
            continue
        hard += 1
        edits.append(f"missing '{entry[j - 1]}' at position {j}")
        j -= 1
    edits.reverse()
    subs.reverse()
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
