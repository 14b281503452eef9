"""The result card: a check record put into an officer's words, one result per check.

One place decides what a check means for the person at the desk (stolen, lost, nothing read …),
what to do next (from settings, so a force words its own policy), and how faults, identifiers
and earlier checks read. The pages render this model; nothing here touches the database.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field

from station.checks.outcomes import OUTCOME_WORDS, sensible_outcomes
from station.domain import (
    CheckRecord,
    DescribedCandidate,
    DescribedMatch,
    FluorescentMark,
    Identifier,
)
from station.settings import DeskSettings

ResultKind = Literal[
    "stolen",
    "lost",
    "recovered",
    "registered_owner",
    "possible_match",
    "no_match",
    "nothing_read",
    "incomplete",
    "started",
]

#: the headline of each result, in words: never colour alone
HEADLINES: dict[str, str] = {
    "stolen": "STOLEN — on the register",
    "lost": "LOST — on the register",
    "recovered": "RECOVERED — on the register",
    "registered_owner": "REGISTERED OWNER — not reported stolen",
    "possible_match": "POSSIBLE MATCH — check by eye",
    "no_match": "No register match",
    "nothing_read": "NOTHING READ — no code, serial or marking found",
    "incomplete": "CHECK INCOMPLETE — no result",
    "started": "Checking…",
}

#: register statuses in the order the most serious one decides the result
_STATUS_ORDER = ("stolen", "lost", "registered-owner", "recovered")
_STATUS_RESULT = {
    "stolen": "stolen",
    "lost": "lost",
    "registered-owner": "registered_owner",
    "recovered": "recovered",
}
STATUS_WORDS = {
    "stolen": "stolen",
    "lost": "lost",
    "registered-owner": "registered owner",
    "recovered": "recovered",
}
KIND_WORDS = {
    "imei": "IMEI (phone)",
    "serial": "Serial number",
    "mark_code": "Marking-kit code",
    "barcode": "Barcode",
    "postcode_mark": "UV pen mark (house and postcode)",
}
PURPOSE_WORDS = {
    "prisoner_property": "prisoner property",
    "property_office": "property office",
    "found_property": "found property",
    "forensic": "forensic",
    "dealer_check": "dealer check",
}
_SYMBOLOGY_WORDS = {
    "CODE128": "Code 128",
    "CODE39": "Code 39",
    "CODE93": "Code 93",
    "EAN13": "EAN-13",
    "EAN8": "EAN-8",
    "UPCA": "UPC-A",
    "UPCE": "UPC-E",
    "QRCODE": "QR code",
    "QR": "QR code",
    "DATAMATRIX": "Data Matrix",
    "I25": "Interleaved 2 of 5",
    "ITF": "Interleaved 2 of 5",
}

#: faults by exception class: (what happened, the one thing to do), in the officer's words
_FAULTS: dict[str, tuple[str, str]] = {
    "InterlockOpen": ("The lid was open.", "Close the lid, then check again."),
    "LampFault": (
        "The UV lamp did not light.",
        "Call the station engineer: the UV lamp did not light.",
    ),
    "LinkTimeout": (
        "The lamp controller stopped answering.",
        "Call the station engineer: the lamp controller is not answering.",
    ),
    "LinkLost": (
        "The lamp controller was disconnected.",
        "Call the station engineer: the lamp controller is disconnected.",
    ),
    "LinkError": (
        "The lamp controller cannot be reached.",
        "Call the station engineer: the lamp controller cannot be reached.",
    ),
    "ControllerReset": (
        "The lamp controller restarted during the check.",
        "Check again. If it happens again, call the station engineer.",
    ),
    "ProtocolVersionMismatch": (
        "The lamp controller runs software this station does not understand.",
        "Call the station engineer: the controller's software needs updating.",
    ),
    "CameraError": (
        "The camera gave no usable picture.",
        "Call the station engineer: the camera is not working.",
    ),
    "CameraTimeout": (
        "The camera gave no picture in time.",
        "Call the station engineer: the camera is not working.",
    ),
    "CameraDisconnected": (
        "The camera was disconnected.",
        "Call the station engineer: the camera is disconnected.",
    ),
}
_INTERRUPTED = (
    "The station stopped before the check finished.",
    "Check the item again.",
)
_UNKNOWN_FAULT = (
    "The check could not finish.",
    "Check again. If it happens again, call the station engineer.",
)


class Fault(BaseModel):
    """A fault in the officer's words, the one thing to do, and the engineer's detail."""

    what: str
    todo: str
    detail: str


class CardIdentifier(BaseModel):
    """One identifier in plain words; the same value read twice is one line."""

    kind: str
    kind_words: str
    value: str
    read_by: list[str]
    verdict: str
    verdict_words: str
    check_digit_fails: bool = False


class CardCandidate(BaseModel):
    """A register entry the item may be, described for comparison with the item in hand."""

    status: str
    status_words: str
    identifier: str
    query: str
    item: str
    crime_ref: str | None
    force: str | None
    reported_on: str | None
    register_name: str | None
    edits: str
    verdict: str


class CardMarking(BaseModel):
    kind: str
    advice: str
    score: float | None = None


class CardEarlier(BaseModel):
    check_id: str
    when: str
    station_id: str
    verdict_words: str
    identifiers: list[str]


class CardOutcome(BaseModel):
    kind: str
    words: str
    recorded_by: str
    when: str
    note: str | None


class ResultCard(BaseModel):
    """Everything the result card shows, in the order it shows it."""

    id: str
    state: str
    verdict: str | None
    result: ResultKind
    headline: str
    next_step: str
    marking: CardMarking | None
    fault: Fault | None
    identifiers: list[CardIdentifier]
    candidates: list[CardCandidate]
    purpose_words: str
    officer: str
    station_id: str
    register_version: int | None
    when: str
    earlier: list[CardEarlier]
    earlier_shown: int
    search_all: str = Field(description="the checks-list search that shows every earlier check")
    images: list[str]
    outcomes: list[CardOutcome]
    suggested_outcomes: list[tuple[str, str]]
    other_outcomes: list[tuple[str, str]]
    owner_contact_needed: bool


def result_of(record: CheckRecord) -> ResultKind:
    """The one result of a check: what it means for the officer at the desk."""
    if record.state == "started":
        return "started"
    if record.state != "complete":
        return "incomplete"
    statuses = {c.status for m in record.matches if m.verdict == "match" for c in m.candidates}
    if statuses or record.verdict == "match":
        for status in _STATUS_ORDER:
            if status in statuses:
                return _STATUS_RESULT[status]  # type: ignore[return-value]
        return "stolen"  # a match of unknown status is treated as the most serious
    if record.verdict == "possible_match":
        return "possible_match"
    if not record.identifiers and not record.marked:
        return "nothing_read"
    return "no_match"


def fault_of(error: str | None) -> Fault | None:
    """The stored error as the officer should read it, with the detail kept for the engineer."""
    if not error:
        return None
    name, sep, _ = error.partition(":")
    if error.startswith("interrupted"):
        what, todo = _INTERRUPTED
    elif sep and name.strip() in _FAULTS:
        what, todo = _FAULTS[name.strip()]
    else:
        what, todo = _UNKNOWN_FAULT
    return Fault(what=what, todo=todo, detail=error)


def read_by_words(source: str) -> str:
    """``barcode:CODE128`` -> "barcode label (Code 128)", ``ocr`` -> "printed text"."""
    head, _, symbology = source.partition(":")
    sym = _SYMBOLOGY_WORDS.get(symbology.upper().replace("-", "").replace("_", ""), symbology)
    if head == "barcode":
        return f"barcode label ({sym})" if sym else "barcode label"
    if head == "uv_code":
        return f"UV kit label ({sym})" if sym else "UV kit label"
    if head == "ocr":
        return "printed text"
    if head == "manual":
        return "typed"
    return source


def when_words(iso: str | None) -> str:
    """An ISO timestamp as people write it: "5 May 2026, 14:03 UTC"."""
    if not iso:
        return ""
    try:
        t = dt.datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if t.tzinfo is not None:
        t = t.astimezone(dt.UTC)
    return f"{t.day} {t:%b %Y, %H:%M} UTC"


def _verdict_words(verdict: str | None, status: str | None = None) -> str:
    if verdict == "match":
        return f"on register: {STATUS_WORDS.get(status or '', status or 'match')}"
    if verdict == "possible_match":
        return "possible match"
    if verdict == "no_match":
        return "not on register"
    return "not checked"


def _overlaps(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def marking_of(record: CheckRecord, desk: DeskSettings, threshold: float) -> CardMarking | None:
    """The marking advice: the strongest marking, told apart from the kit's own UV label."""
    if record.state != "complete" or record.mode == "manual":
        return None  # a typed check looked at nothing under UV: no marking advice to give
    strong = [m for m in record.marks if m.mark_class != "brightener" and m.score >= threshold]
    if not strong:
        quiet = "brightener" if record.marks else "none"
        return CardMarking(kind=quiet, advice=desk.marking(quiet))
    best: FluorescentMark = max(strong, key=lambda m: m.score)
    kind: str = best.mark_class
    uv_labels = [i for i in record.identifiers if i.source.startswith("uv_code")]
    on_label = any(_overlaps(best.bbox, i.bbox) for i in uv_labels)
    postcode_read = any(i.kind == "postcode_mark" for i in record.identifiers)
    if kind in ("uv_pen", "unknown") and uv_labels and (on_label or not postcode_read):
        kind = "kit_label"
    return CardMarking(kind=kind, advice=desk.marking(kind), score=round(best.score, 2))


def identifiers_of(record: CheckRecord) -> list[CardIdentifier]:
    """Identifiers in plain words, one line per value however many ways it was read."""
    by_query: dict[str, DescribedMatch] = {}
    for match in record.matches:
        by_query[match.normalised or match.query] = match
        by_query.setdefault(match.query, match)
    lines: dict[tuple[str, str], CardIdentifier] = {}
    for ident in record.identifiers:
        key = (ident.kind, ident.value)
        words = read_by_words(ident.source)
        if key in lines:
            if words not in lines[key].read_by:
                lines[key].read_by.append(words)
            continue
        m: DescribedMatch | None = by_query.get(ident.value) or by_query.get(ident.raw)
        status = m.candidates[0].status if m and m.candidates else None
        lines[key] = CardIdentifier(
            kind=ident.kind,
            kind_words=KIND_WORDS.get(ident.kind, ident.kind),
            value=ident.value,
            read_by=[words],
            verdict=m.verdict if m else "",
            verdict_words=_verdict_words(m.verdict if m else None, status),
            check_digit_fails=not ident.valid and ident.kind in ("imei", "mark_code"),
        )
    return list(lines.values())


def _candidate(c: DescribedCandidate, query: str, verdict: str) -> CardCandidate:
    e = c.entry
    item = " ".join(x for x in (e.category, e.brand, e.model) if x) if e else ""
    edits = "assuming " + ", ".join(c.edits) if c.edits else ""
    return CardCandidate(
        status=c.status,
        status_words=STATUS_WORDS.get(c.status, c.status),
        identifier=c.identifier,
        query=query,
        item=item,
        crime_ref=c.crime_ref,
        force=e.force if e else None,
        reported_on=e.reported_on if e else None,
        register_name=c.source,
        edits=edits,
        verdict=verdict,
    )


def _search_for(identifiers: list[Identifier]) -> str:
    return identifiers[0].value if identifiers else ""


def result_card(record: CheckRecord, desk: DeskSettings, mark_threshold: float) -> ResultCard:
    """The card for ``record``: result, next step, marking, identifiers, earlier checks."""
    result = result_of(record)
    outcomes = [
        CardOutcome(
            kind=o.kind,
            words=OUTCOME_WORDS.get(o.kind, o.kind),
            recorded_by=o.recorded_by,
            when=when_words(o.recorded_at),
            note=o.note or None,
        )
        for o in record.outcomes or []
    ]
    suggested = sensible_outcomes(result, [o.kind for o in outcomes])
    others = [k for k in OUTCOME_WORDS if k not in suggested]
    if result != "possible_match":
        others = [k for k in others if k not in ("match_confirmed", "match_rejected")]
    earlier = [
        CardEarlier(
            check_id=e.check_id,
            when=when_words(e.started_at),
            station_id=e.station_id,
            verdict_words=_verdict_words(e.verdict) if e.verdict else "check incomplete",
            identifiers=e.identifiers or [e.identifier],
        )
        for e in record.earlier_checks
    ]
    return ResultCard(
        id=record.id,
        state=record.state,
        verdict=record.verdict,
        result=result,
        headline=HEADLINES[result],
        next_step="" if result == "started" else desk.next_step(result),
        marking=marking_of(record, desk, mark_threshold),
        fault=fault_of(record.error) if record.state == "incomplete" else None,
        identifiers=identifiers_of(record),
        candidates=[
            _candidate(c, m.query, m.verdict)
            for m in record.matches
            if m.verdict in ("match", "possible_match")
            for c in m.candidates
        ],
        purpose_words=PURPOSE_WORDS.get(record.purpose, record.purpose),
        officer=record.officer,
        station_id=record.station_id,
        register_version=record.register_version,
        when=when_words(record.started_at),
        earlier=earlier,
        earlier_shown=desk.earlier_shown,
        search_all=_search_for(record.identifiers),
        images=[i.role for i in record.images if i.role in ("white", "uv")],
        outcomes=outcomes,
        suggested_outcomes=[(k, OUTCOME_WORDS[k]) for k in suggested],
        other_outcomes=[(k, OUTCOME_WORDS[k]) for k in others],
        owner_contact_needed=result in ("registered_owner", "lost", "recovered", "stolen"),
    )
