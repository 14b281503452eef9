"""One typed settings object for the whole station.

Sources, highest priority first: explicit arguments (CLI flags), ``STATION_*`` environment
variables (nested sections with ``__``, e.g. ``STATION_DEVICES__LAMP_PORT``), the TOML file
given by ``--config`` or ``STATION_CONFIG``, then the defaults below.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from types import UnionType
from typing import Any, ClassVar, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, model_validator


class DeviceSettings(BaseModel):
    """Where the hardware is and how patient to be with it."""

    #: pyserial URL or device path of the lamp controller ("" = not configured)
    lamp_port: str = ""
    baudrate: int = 115200
    #: seconds to wait for one reply before a retry
    reply_timeout_s: float = 0.25
    retries: int = 4
    #: lamp lease the host asks for; renewed well before it runs out
    lease_ms: int = 800
    #: camera source: OpenCV index ("0"), device path, URL, image folder, or "sim"
    camera_source: str = ""
    camera_width: int = 1920
    camera_height: int = 1080
    #: time for a lamp to reach steady output after switching
    lamp_settle_ms: int = 25
    white_level: int = 80
    uv_level: int = 100
    exposure_white_ms: float = 8.0
    exposure_uv_ms: float = 40.0
    gain: float = 1.0
    #: white balance held fixed (auto white balance would "correct" the UV glow away)
    white_balance_k: int = 5000
    #: picamera2: fixed red and blue colour gains instead of a colour temperature
    colour_gains: tuple[float, float] = (1.9, 1.6)
    #: doctor: least focus measure (variance of Laplacian around the reference patch)
    focus_min: float = 20.0
    #: doctor: lamp current must be within this fraction of nominal for its level
    lamp_current_tolerance: float = 0.3
    #: doctor: a link whose average PING round trip is slower than this fails
    doctor_rtt_max_ms: float = 100.0
    #: doctor: a lamp left without renewal must be off within its lease plus this
    doctor_lease_slack_ms: int = 400


class VisionSettings(BaseModel):
    """Thresholds for the vision pipeline."""

    min_mark_area_px: int = 12
    mark_score_threshold: float = 0.3
    ocr_enabled: bool = True
    #: text recognition engine for serials, IMEIs and pen postcodes (see docs/vision.md)
    ocr_engine: Literal["tesseract", "rapidocr"] = "rapidocr"
    #: tray corner (x, y, w, h as fractions of the frame) holding the fluorescent reference patch
    reference_patch: tuple[float, float, float, float] = (0.015, 0.02, 0.05, 0.07)
    #: reference patch glow (0..1 of full scale, UV minus dark) a healthy lamp gives
    reference_nominal: float = 0.55
    #: below this fraction of nominal the UV lamp is reported as degraded
    reference_weak_fraction: float = 0.6
    #: image files larger than this are refused before decoding
    max_image_bytes: int = 60_000_000
    #: decoded images with more pixels than this are refused (decompression bombs)
    max_image_pixels: int = 40_000_000
    #: read barcodes with both decoders and combine (False: zxing-cpp only, faster)
    combine_decoders: bool = True
    #: places per frame where a code probably is but none was read that get a second look
    #: (cut out, turned upright, enlarged; see station/vision/second_look.py); 0: none
    barcode_second_look: int = Field(default=3, ge=0, le=8)
    #: run native decoders in worker processes, so a crash costs one reading, not the check
    isolate_decoders: bool = True
    #: decoder worker processes (started once, reused; a dead one is replaced)
    decoder_workers: int = Field(default=2, ge=1, le=8)
    #: a decoder call that takes longer than this is stopped and noted as failed
    decoder_timeout_s: float = Field(default=20.0, gt=0)
    #: start the decoder workers and load the OCR model in each before the first reading:
    #: `station serve` says it is ready only once they have, `station scan` starts them first.
    #: Off, they start at the first reading, which takes that much longer (for servers that
    #: never read images: demos, tests of other parts)
    preload_ocr: bool = True


class MatcherSettings(BaseModel):
    """Verdict rules for the register matcher."""

    #: 0-3; the compiled probe plan is sized for at most 3
    max_edits: int = Field(default=2, ge=0, le=3)
    match_score: float = 0.95
    possible_match_score: float = 0.6
    min_partial_length: int = 6
    index_dir: str = ""
    #: score lost per confusion substitution (two confusions still make a match)
    confusion_penalty: float = 0.02
    #: score lost per confusion on an identifier too short to tolerate an edit (see
    #: station.matcher.budget): there "O" and "0" may be two items, so never a full match
    short_confusion_penalty: float = 0.1
    #: score lost per other edit on a 12+ character identifier (more on shorter ones)
    edit_penalty: float = 0.2
    #: score lost by a single-digit correction (or neighbouring swap) that restores a failing
    #: IMEI check digit, or by a 14-digit read whose missing check digit completes an IMEI
    luhn_correction_penalty: float = 0.08
    #: best score a truncated-label (prefix/suffix) match can reach: never a full match
    partial_score_max: float = 0.9
    #: candidates reported per query
    max_candidates: int = 10
    #: overlay entries (deltas since the last build) before the index is rebuilt
    max_overlay: int = 200_000


class ApiSettings(BaseModel):
    """The HTTP service."""

    host: str = "127.0.0.1"
    port: int = 8000
    max_upload_mb: int = 200
    #: reverse proxies whose X-Forwarded-For is believed (addresses or networks); nobody else's
    trusted_proxies: list[str] = Field(default_factory=list)
    #: dealer look-ups allowed per dealer account per hour
    dealer_checks_per_hour: int = 60


def _next_steps() -> dict[str, str]:
    return {
        "stolen": "Seize the item and keep it as evidence. Tell the officer in the case, "
        "quoting the crime reference.",
        "lost": "Keep the item. Tell the force that recorded it lost that it has been found, "
        "quoting the reference.",
        "recovered": "Already recorded as recovered. Check the crime reference with the officer "
        "in the case before the item is released.",
        "registered_owner": "Not reported stolen or lost. The property store contacts the "
        "registered owner to confirm the item is theirs.",
        "possible_match": "Compare the item with the register entry below by eye, then confirm "
        "or reject the match.",
        "no_match": "Nothing on the register for what was read. Carry on with the usual process.",
        "nothing_read": "Nothing was read. Turn the item so its labels face the camera and check "
        "again, or type the serial number.",
        "incomplete": "The check did not finish. Do the one thing shown, then check again.",
    }


def _marking_advice() -> dict[str, str]:
    return {
        "forensic_liquid": "Forensic marking present: swab and submit it.",
        "uv_pen": "UV pen marking: read the house number and postcode under UV.",
        "kit_label": "Marking-kit label read under UV: its code is checked below.",
        "unknown": "Possible marking: look at the outlined area with a UV torch.",
        "none": "No fluorescent marking seen.",
        "brightener": "Only optical brighteners seen (paper, fabric): not a marking.",
    }


class DeskSettings(BaseModel):
    """What the desk says to officers: a force words its own policy here."""

    #: the next step shown under each result (keys: stolen, lost, recovered, registered_owner,
    #: possible_match, no_match, nothing_read, incomplete)
    next_steps: dict[str, str] = Field(default_factory=_next_steps)
    #: the advice shown for a fluorescent marking, by class (plus kit_label, none, brightener)
    marking_advice: dict[str, str] = Field(default_factory=_marking_advice)
    #: a shared desk logs its user out after this long without a touch or key (0 = never)
    idle_logout_s: int = Field(default=300, ge=0)
    #: earlier checks shown on the result card before "show all"
    earlier_shown: int = Field(default=3, ge=1)

    def next_step(self, result: str) -> str:
        return self.next_steps.get(result) or _next_steps().get(result, "")

    def marking(self, kind: str) -> str:
        return self.marking_advice.get(kind) or _marking_advice().get(kind, "")


class LinkSettings(BaseModel):
    """How an enrolled station's link to the centre tries again after a failure."""

    #: seconds before the first retry; each failure in a row doubles the wait...
    retry_first: float = Field(default=0.5, gt=0)
    #: ...up to this many seconds
    retry_max: float = Field(default=30.0, gt=0)
    #: share of each wait left out at random (0-1), so stations that failed together drift
    #: apart instead of retrying on the same beat
    retry_spread: float = Field(default=0.5, ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> LinkSettings:
        if self.retry_max < self.retry_first:
            raise ValueError(
                f"link.retry_max ({self.retry_max}) is below link.retry_first ({self.retry_first})"
            )
        return self


class StationSettings(BaseModel):
    """Everything configurable about one station.

    Made directly, it reads ``STATION_*`` variables and ``$STATION_CONFIG`` too (values given
    as arguments win); :func:`load_settings` also names a TOML file.
    """

    model_config = ConfigDict(extra="ignore", validate_default=True)
    #: variables that set a field start with this; nested sections are joined by ``__``
    ENV_PREFIX: ClassVar[str] = "STATION_"

    #: SQLAlchemy URL; default is a SQLite file in data_dir
    db_url: str = ""
    data_dir: Path = Path("var")
    station_id: str = "station-1"
    location: str = "unknown"
    sim: bool = False
    sim_scenario: str = "demo"
    #: faults the simulator injects, e.g. ["corrupt:rate=0.05"] (see `station sim --help`)
    sim_faults: list[str] = Field(default_factory=list)
    devices: DeviceSettings = Field(default_factory=DeviceSettings)
    vision: VisionSettings = Field(default_factory=VisionSettings)
    matcher: MatcherSettings = Field(default_factory=MatcherSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    desk: DeskSettings = Field(default_factory=DeskSettings)
    link: LinkSettings = Field(default_factory=LinkSettings)

    def __init__(self, _toml_file: Path | None = None, **values: Any) -> None:
        toml_path = _toml_file or os.environ.get("STATION_CONFIG")
        merged: dict[str, Any] = _toml_values(Path(toml_path)) if toml_path else {}
        merged = _deep_merge(merged, _env_values(type(self), os.environ))
        super().__init__(**_deep_merge(merged, values))

    @property
    def database_url(self) -> str:
        if self.db_url:
            return self.db_url
        return f"sqlite:///{(self.data_dir / 'station.db').resolve()}"

    @property
    def image_dir(self) -> Path:
        return self.data_dir / "images"


def load_settings(config_file: Path | None = None, **overrides: Any) -> StationSettings:
    """Build settings from environment, optional TOML file and explicit overrides."""
    from station.errors import ConfigError

    if config_file is not None and not config_file.is_file():
        raise ConfigError(f"config file {config_file} does not exist")
    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        return StationSettings(config_file, **clean)
    except Exception as exc:  # pydantic ValidationError, bad JSON or TOML
        raise ConfigError(f"invalid settings: {exc}") from exc


# -- sources: the TOML file and the environment --------------------------------------------
# (pydantic-settings does the same, but importing it takes about a tenth of a one-shot
# command's start-up)


def _toml_values(path: Path) -> dict[str, Any]:
    import tomllib

    with path.open("rb") as f:
        return tomllib.load(f)


def _deep_merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``over`` laid on top; sections (dicts) merge key by key."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _deep_merge(dict(out[key]), value)
        else:
            out[key] = value
    return out


def _structured(annotation: Any) -> bool:
    """Whether a variable for a field of this type holds JSON (a list, table or section)."""
    origin = get_origin(annotation)
    if origin in (Union, UnionType):
        return any(_structured(a) for a in get_args(annotation) if a is not type(None))
    if origin in (list, tuple, dict, set, frozenset):
        return True
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _env_values(model: type[BaseModel], environ: Mapping[str, str]) -> dict[str, Any]:
    """The fields that ``STATION_*`` variables set (names case-insensitive, ``__`` nests);
    structured fields take JSON, the rest a string that validation converts."""
    prefix = StationSettings.ENV_PREFIX
    out: dict[str, Any] = {}
    for key, raw in sorted(environ.items()):
        if not key.upper().startswith(prefix):
            continue
        path = key[len(prefix) :].lower().split("__")
        annotation: Any = model
        for name in path:
            fields = annotation.model_fields if _is_model(annotation) else {}
            annotation = fields[name].annotation if name in fields else None
            if annotation is None:
                break
        if annotation is None:
            continue  # not a setting (STATION_CONFIG, STATION_OFFICER, ...)
        value: Any = raw
        if _structured(annotation):
            try:
                value = json.loads(raw)
            except ValueError as exc:
                raise ValueError(f"{key} is not valid JSON: {exc}") from None
        node = out
        for name in path[:-1]:
            node = node.setdefault(name, {})
        leaf = path[-1]
        if isinstance(value, Mapping) and isinstance(node.get(leaf), Mapping):
            value = _deep_merge(node[leaf], value)
        node[leaf] = value
    return out


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)
