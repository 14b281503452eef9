"""The JSON contracts of DESIGN.md 3.2 as typed models, shared by the CLI, the API and storage.

Field names here are an outside contract: extend, never rename.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

IdentifierKind = Literal["imei", "serial", "mark_code", "barcode", "postcode_mark"]
FrameName = Literal["white", "uv"]
MarkClass = Literal["forensic_liquid", "uv_pen", "brightener", "unknown"]
Verdict = Literal["match", "possible_match", "no_match"]
RegisterStatus = Literal["stolen", "lost", "registered-owner", "recovered"]

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
