"""The JSON contracts of DESIGN.md 3.2 as typed models, shared by the CLI, the API and storage.

Field names here are an outside contract: extend, never rename.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

IdentifierKind = Literal["imei", "serial", "mark_code", "barcode", "postcode_mark"]
FrameName = Literal["white", "uv"]
MarkClass = Literal["forensic_liquid", "uv_pen", "brightener", "unknown"]
Verdict = Literal["match", "possible_match", "no_match"]
RegisterStatus = Literal["stolen", "lost", "registered-owner", "recovered"]

#: control, format (bidi overrides, zero-width), surrogate, private and unassigned characters
_NOT_PLAIN = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def plain_text(value: str, what: str = "text", multiline: bool = False) -> str:
    """``value`` if it holds only visible characters and spaces (and line breaks when
    ``multiline``); ValueError naming the first bad character otherwise. Line breaks forge log
    lines and headers, bidi overrides make a page say something other than what is stored."""
    for ch in value:
        if multiline and ch in "\n\t":
            continue
        if unicodedata.category(ch) in _NOT_PLAIN:
            raise ValueError(
                f"{what} contains the control or formatting character U+{ord(ch):04X}; "
                "use plain text"
            )
    return value


#: one line of visible text (names, places, references)
PlainText = Annotated[str, AfterValidator(plain_text)]
#: free text that may run over several lines (notes)
PlainNote = Annotated[str, AfterValidator(lambda v: plain_text(v, "text", multiline=True))]

#: [x, y, w, h] in pixels of the frame named by ``frame``
BBox = tuple[int, int, int, int]


class Identifier(BaseModel):
    """One code or serial read from an item (or typed by an officer)."""

    model_config = ConfigDict(frozen=True)

    kind: IdentifierKind
    value: str = Field(description="normalised form used for matching")
    raw: str = Field(description="exactly as read")
    source: str = Field(description="barcode:<SYMBOLOGY> | uv_code:<SYMBOLOGY> | ocr | manual")
    confidence: float = Field(ge=0.0, le=1.0)
    valid: bool = Field(description="check digit / format holds")
    bbox: BBox = (0, 0, 0, 0)
    frame: FrameName = "white"


class FluorescentMark(BaseModel):
    """A region that glows under UV and might be a property marking."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    kind: Literal["fluorescence"] = "fluorescence"
    bbox: BBox
    area_px: int
    mark_class: MarkClass = Field(alias="class")
    score: float = Field(ge=0.0, le=1.0)


class ReadResult(BaseModel):
    """Everything the vision pipeline found on one item or one photograph."""

    file: str | None = None
    identifiers: list[Identifier] = Field(default_factory=list)
    marks: list[FluorescentMark] = Field(default_factory=list)
    timings_ms: dict[str, float] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)


class Candidate(BaseModel):
    """A register entry that may be the queried identifier, with why."""

    entry_id: int
    identifier: str
    kind: str
    status: str
    distance: int = Field(description="edit distance assumed between query and entry")
    edits: list[str] = Field(default_factory=list, description="the edits assumed, readable")
    score: float = Field(ge=0.0, le=1.0)
    crime_ref: str | None = None
    source: str | None = Field(default=None, description="the register the entry came from")


class MatchResult(BaseModel):
    """The answer for one queried identifier."""

    query: str
    verdict: Verdict
    candidates: list[Candidate] = Field(default_factory=list)
    kind: str | None = None
    normalised: str | None = None


# --- the check record (a read plus its matches, as stored and served) ---------------------------

CheckState = Literal["started", "complete", "incomplete"]


class EntrySummary(BaseModel):
    """What the register says about a candidate's item, to compare with the item in hand.

    Never owner data: that lives apart and is shown only to roles that need it."""

    category: str | None = None
    brand: str | None = None
    model: str | None = None
    force: str | None = None
    reported_on: str | None = None


class DescribedCandidate(Candidate):
    """A candidate with the register's description of its item (``entry``), when known."""

    entry: EntrySummary | None = None


class DescribedMatch(MatchResult):
    """A match whose candidates carry the register's description of their items."""

    candidates: list[DescribedCandidate] = Field(default_factory=list)  # type: ignore[assignment]


class StoredImageRef(BaseModel):
    """A frame stored with the record, named by the SHA-256 of its PNG bytes."""

    role: str
    sha256: str
    width: int
    height: int
    size_bytes: int


class EarlierCheck(BaseModel):
    """An earlier check of one of this record's identifiers (any station)."""

    check_id: str
    started_at: str | None
    station_id: str
    verdict: str | None
    identifier: str
    #: every identifier this earlier check shares with the record (one line per check)
    identifiers: list[str] = Field(default_factory=list)


class OutcomeRecord(BaseModel):
    """What happened after a check: owner told, returned, kept as evidence …"""

    id: int
    check_id: str
    kind: str
    note: str | None = None
    recorded_by: str
    recorded_at: str | None


class CheckRecord(ReadResult):
    """One check as the JSON contract: the read, its matches and what the record holds.

    The CLI's ``--json``, the API's check documents and the evidence bundle's check.json are
    all this model."""

    id: str
    record_id: str
    state: CheckState
    purpose: str
    officer: str
    station_id: str
    location: str | None = None
    mode: str
    started_at: str | None
    completed_at: str | None = None
    register_version: int | None = None
    verdict: Verdict | None = None
    #: what the check means at the desk: stolen, lost, recovered, registered_owner,
    #: possible_match, no_match, nothing_read, incomplete (started while it runs)
    result: str | None = None
    marked: bool = False
    matches: list[DescribedMatch] = Field(default_factory=list)
    images: list[StoredImageRef] = Field(default_factory=list)
    conditions: dict[str, Any] | None = None
    error: str | None = None
    earlier_checks: list[EarlierCheck] = Field(default_factory=list)
    outcomes: list[OutcomeRecord] | None = None

    def document(self) -> dict[str, Any]:
        """The record as JSON-ready data, field names as in the contract (``class`` for marks)."""
        return self.model_dump(mode="json", by_alias=True)


class CheckSummary(BaseModel):
    """One line of the checks list."""

    id: str
    state: str
    purpose: str
    officer: str
    station_id: str
    mode: str
    started_at: str | None
    completed_at: str | None
    verdict: str | None
    marked: bool
    identifiers: list[str]


class CheckList(BaseModel):
    total_returned: int
    checks: list[CheckSummary]
    #: more checks match beyond this page (ask again with offset + limit)
    more: bool = False
