"""From an alignment to a ranked, explained candidate and a verdict."""

from __future__ import annotations

from dataclasses import dataclass

from station.domain import Candidate, Verdict
from station.matcher.budget import edit_budget, imei_erasure, imei_shaped, luhn_ok
from station.matcher.normalise import align, canonical, luhn_correction
from station.settings import MatcherSettings


@dataclass(frozen=True, slots=True)
class EntryView:
    """The fields of a register entry a candidate reports."""

    entry_id: int
    identifier: str
    kind: str
    status: str
    crime_ref: str | None
    source: str | None


def fuzzy_candidate(query: str, entry: EntryView, settings: MatcherSettings) -> Candidate:
    """Score a whole-identifier match: confusions are cheap, other edits cost by length.

    A confusion is cheap only on an identifier long enough to tolerate an edit (or an IMEI,
    which has no letters): on a short serial "O" and "0" may be two real items, so a
    confusion there costs ``short_confusion_penalty`` and leaves a possible match.
    """
    if query == entry.identifier:  # read as registered: nothing to align or correct
        return _candidate(entry, 0, [], 1.0)
    al = align(query, entry.identifier)
    edits = list(al.edits)
    per_edit = settings.edit_penalty * min(1.0, 12.0 / max(len(entry.identifier), 1))
    entry_canonical = canonical(entry.identifier)
    short = edit_budget(entry_canonical, settings.max_edits) == 0 and not imei_shaped(
        entry_canonical
    )
    per_confusion = settings.short_confusion_penalty if short else settings.confusion_penalty
    penalty = al.confusions * per_confusion + al.hard_edits * per_edit
    fix = imei_correction(query, entry.identifier)
    if fix is not None:
        edits = [fix]
        penalty = settings.luhn_correction_penalty
    return _candidate(entry, al.distance, edits, 1.0 - penalty)


def imei_correction(query: str, entry: str) -> str | None:
    """How a read that is no valid IMEI becomes the register's valid IMEI, if one simple
    correction does: one digit (Luhn catches every single-digit error), a letter where only
    a digit can be, two neighbouring digits swapped, or the check digit missing. None
    otherwise."""
    fix = luhn_correction(query, entry)
    if fix is not None:
        pos, read, true = fix
        return (
            f"read '{read}' for '{true}' at position {pos}: "
            "the read fails the IMEI check digit and this correction restores it"
        )
    if not (entry.isdigit() and len(entry) == 15 and luhn_ok(entry)):
        return None
    folded = canonical(query)
    odd = [p for p, c in enumerate(folded) if not c.isdigit()]
    if len(odd) == 1 and imei_erasure(folded) == entry:
        p = odd[0]
        if len(query) == 15:
            return (
                f"read '{query[p]}' for '{entry[p]}' at position {p + 1}: an IMEI has only "
                "digits, and this is the one its check digit allows there"
            )
        return (
            f"extra '{query[p]}' read after position {p}: an IMEI has only digits, and "
            "without it the check digit holds"
        )
    if not query.isdigit():
        return None
    if len(query) == 14 and entry[:14] == query:
        return f"check digit '{entry[14]}' not read: the 14 digits read are this IMEI's"
    if len(query) == 15 == len(entry) and not luhn_ok(query):
        diffs = [p for p in range(15) if query[p] != entry[p]]
        if len(diffs) == 2 and diffs[1] == diffs[0] + 1:
            p = diffs[0]
            if query[p] == entry[p + 1] and query[p + 1] == entry[p]:
                return (
                    f"read '{query[p : p + 2]}' for '{entry[p : p + 2]}' at positions {p + 1}-"
                    f"{p + 2}: the read fails the IMEI check digit and this swap restores it"
                )
    return None


def partial_candidate(
    query: str, entry: EntryView, where: str, settings: MatcherSettings
) -> Candidate:
    """A truncated label: the query is the start (``prefix``) or end (``suffix``) of the entry."""
    missing = len(entry.identifier) - len(query)
    coverage = len(query) / max(len(entry.identifier), 1)
    if where == "prefix":
        edit = f"label truncated: read the first {len(query)} of {len(entry.identifier)} characters"
    else:
        edit = f"label truncated: read the last {len(query)} of {len(entry.identifier)} characters"
    score = min(settings.partial_score_max, settings.possible_match_score + 0.3 * coverage)
    return _candidate(entry, missing, [edit], score)


def range_candidate(
    query: str, entry: EntryView, member: str, range_end: str, settings: MatcherSettings
) -> Candidate:
    """A serial inside a registered range of consecutive serials; ``member`` is the one meant."""
    al = align(query, member)
    edits = [*al.edits, f"inside registered range {entry.identifier} to {range_end}"]
    penalty = al.confusions * settings.confusion_penalty
    return _candidate(entry, al.distance, edits, 1.0 - penalty)


def _candidate(entry: EntryView, distance: int, edits: list[str], score: float) -> Candidate:
    return Candidate(
        entry_id=entry.entry_id,
        identifier=entry.identifier,
        kind=entry.kind,
        status=entry.status,
        distance=distance,
        edits=edits,
        score=round(max(0.0, min(1.0, score)), 4),
        crime_ref=entry.crime_ref,
        source=entry.source,
    )


def verdict(candidates: list[Candidate], settings: MatcherSettings) -> Verdict:
    """match / possible_match / no_match from the best candidate's score."""
    best = max((c.score for c in candidates), default=0.0)
    if best >= settings.match_score:
        return "match"
    if best >= settings.possible_match_score:
        return "possible_match"
    return "no_match"


def rank(candidates: list[Candidate], settings: MatcherSettings) -> list[Candidate]:
    """Best first, one candidate per entry, weak ones dropped, at most ``max_candidates``."""
    best: dict[int, Candidate] = {}
    for c in candidates:
        if c.score < settings.possible_match_score:
            continue
        old = best.get(c.entry_id)
        if old is None or c.score > old.score:
            best[c.entry_id] = c
    ordered = sorted(best.values(), key=lambda c: (-c.score, c.distance, c.entry_id))
    return ordered[: settings.max_candidates]
