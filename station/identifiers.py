"""Identifier rules of DESIGN.md 3.4: classification, normalisation and validation.

Pure functions, shared by the vision pipeline (what was read), manual entry and the matcher.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import numpy as np
from stdnum import luhn

from station.domain import IdentifierKind
from station.errors import IdentifierRejected

MAX_IDENTIFIER_LENGTH = 64

_SEPARATORS = re.compile(r"[\s\-_./:]+")
_MARK_CODE = re.compile(r"^([A-Z]{2,4})([0-9A-Z]{8})([0-9A-Z*])$")
_MARK_CODE_TEXT = re.compile(
    r"^([A-Za-z]{2,4})-?([0-9A-Za-z]{4})-?([0-9A-Za-z]{4})-?([0-9A-Za-z*])$"
)
#: UK postcode (outward + inward), the format UV-pen marks carry after the house number/name
_POSTCODE = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?) ?([0-9][A-Z]{2})$")
_POSTCODE_MARK = re.compile(
    r"^([0-9]{1,4}[A-Z]?|[A-Z]{1,4})\s*([A-Z]{1,2}[0-9][A-Z0-9]?)\s*([0-9][A-Z]{2})$"
)


@dataclass(frozen=True)
class Classified:
    """What an identifier string is, its normalised value, and whether its check holds."""

    kind: IdentifierKind
    value: str
    valid: bool


def clean(raw: str) -> str:
    """Reject what cannot be an identifier; return the text stripped of surrounding space."""
    text = unicodedata.normalize("NFKC", raw).strip()
    if not text:
        raise IdentifierRejected("empty identifier")
    if len(text) > MAX_IDENTIFIER_LENGTH:
        raise IdentifierRejected(
            f"identifier is {len(text)} characters long; the limit is {MAX_IDENTIFIER_LENGTH}"
        )
    bad = [c for c in text if not c.isprintable()]
    if bad:
        raise IdentifierRejected(f"identifier contains non-printable character {bad[0]!r}")
    if not text.isascii():
        odd = next(c for c in text if not c.isascii())
        raise IdentifierRejected(
            f"identifier contains {odd!r} ({unicodedata.name(odd, 'unknown')}); "
            "only Latin letters, digits and separators are accepted"
        )
    return text


def compact(text: str) -> str:
    """Upper case without spaces, dashes, dots or slashes: the serial normal form."""
    return _SEPARATORS.sub("", text).upper()


def imei_valid(digits: str) -> bool:
    """True when ``digits`` is 15 digits whose Luhn check digit holds."""
    return len(digits) == 15 and digits.isdigit() and digits.isascii() and luhn_ok(digits)


def luhn_ok(digits: str) -> bool:
    """The Luhn check over ASCII digits (a register import runs it a million times)."""
    total = sum(_LUHN_PLAIN[c] for c in digits[-1::-2]) + sum(
        _LUHN_DOUBLE[c] for c in digits[-2::-2]
    )
    return total % 10 == 0


_LUHN_PLAIN = {str(d): d for d in range(10)}
_LUHN_DOUBLE = {str(d): (2 * d) // 10 + (2 * d) % 10 for d in range(10)}


def imei_from(digits: str) -> str | None:
    """The 15-digit IMEI (check digit recomputed for IMEISV) or None if not IMEI-shaped."""
    if not digits.isdigit():
        return None
    if len(digits) == 15:
        return digits
    if len(digits) == 16:  # IMEISV: 14-digit body + 2-digit software version, no check digit
        body = digits[:14]
        return body + luhn.calc_check_digit(body)
    return None


def mark_code_check_char(prefix_and_body: str) -> str:
    """ISO/IEC 7064 MOD 37-36 check character over scheme prefix and body (the hybrid
    system: M = 36; a bulk check asks it for every query shaped like a mark code).

    ValueError for a character outside 0-9 and A-Z."""
    p = 36
    for ch in prefix_and_body.upper():
        value = _MOD36_VALUE.get(ch)
        if value is None:
            raise ValueError(f"{ch!r} is not a MOD 37-36 character")
        p = (2 * ((p + value) % 36 or 36)) % 37
    return _MOD36[(1 - p) % 36]


_MOD36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_MOD36_VALUE = {c: v for v, c in enumerate(_MOD36)}

#: the hybrid system's carry from one character to the next: (p or 36) * 2 mod 37
_MOD36_CARRY = [((p or 36) * 2) % 37 for p in range(37)]
#: each byte's MOD 37-36 value (upper-case letters and digits), 36 for any other byte
_MOD36_BYTE = bytes(_MOD36_VALUE.get(chr(b), 36) for b in range(256))
#: the running sum after one more character: _MOD36_STEP[sum * 37 + value]; a value of 36
#: (not a MOD 37-36 character) leads to 37, which no character leaves and no code ends at
_MOD36_STEP = bytes(
    37 if p == 37 or v == 36 else (_MOD36_CARRY[p] + v) % 36 for p in range(38) for v in range(37)
)


def mark_code_valid(compact_code: str) -> bool:
    """Whether an upper-case code without hyphens ends in the MOD 37-36 check character of
    the rest (ISO/IEC 7064 hybrid system: the running sum over the whole code ends at 1),
    the rule :func:`parse_mark_code` applies, in one table-driven pass for bulk checks."""
    if not compact_code.isascii():
        return False
    step = _MOD36_STEP
    total = 18
    for v in compact_code.encode("ascii").translate(_MOD36_BYTE):
        total = step[total * 37 + v]
    return total == 1


def mark_codes_valid(upper: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """:func:`mark_code_valid` of many codes at once: ``upper`` holds upper-case ASCII bytes,
    code i is ``upper[starts[i] : starts[i] + lengths[i]]`` (a bulk check's whole sheet)."""
    values = np.frombuffer(_MOD36_BYTE, dtype=np.uint8)[upper].astype(np.int64)
    step = np.frombuffer(_MOD36_STEP, dtype=np.uint8).astype(np.int64)
    total = np.full(starts.size, 18, dtype=np.int64)
    for pos in range(int(lengths.max(initial=0))):
        active = pos < lengths
        at = np.where(active, starts + pos, 0)
        total = np.where(active, step[total * 37 + values[at]], total)
    return total == 1


def parse_mark_code(text: str) -> tuple[str, bool] | None:
    """Canonical ``PREFIX-XXXX-XXXX-C`` and check validity, or None if not mark-code shaped."""
    m = _MARK_CODE_TEXT.match(text.strip())
    if not m:
        return None
    prefix, b1, b2, check = (g.upper() for g in m.groups())
    valid = mark_code_check_char(prefix + b1 + b2) == check
    return f"{prefix}-{b1}-{b2}-{check}", valid


def format_postcode(text: str) -> str | None:
    """A UK postcode in canonical spacing, or None when the format does not hold."""
    m = _POSTCODE.match(compact(text))
    return f"{m.group(1)} {m.group(2)}" if m else None


def parse_postcode_mark(text: str) -> str | None:
    """House number or name letters plus postcode, e.g. ``12 NN1 4AB`` -> ``12 NN1 4AB``."""
    m = _POSTCODE_MARK.match(" ".join(text.upper().split()))
    if not m:
        return None
    return f"{m.group(1)} {m.group(2)} {m.group(3)}"


def classify(raw: str, hint: IdentifierKind | None = None) -> Classified:
    """Decide the kind of ``raw`` and normalise it.

    ``hint`` is what the reader knows (e.g. the text came after "IMEI" on a label).
    Raises IdentifierRejected for empty, over-long, non-printable or non-Latin input.
    """
    text = clean(raw)
    flat = compact(text)
    if hint in (None, "imei") and flat.isdigit() and len(flat) in (15, 16):
        imei = imei_from(flat)
        if imei is not None:
            return Classified("imei", imei, imei_valid(imei) if len(flat) == 15 else True)
    if hint in (None, "mark_code"):
        mark = parse_mark_code(text)
        if mark is not None and (hint == "mark_code" or mark[1] or "-" in text):
            return Classified("mark_code", mark[0], mark[1])
    if hint in (None, "postcode_mark"):
        pm = parse_postcode_mark(text)
        if pm is not None and (hint == "postcode_mark" or " " in text.strip()):
            return Classified("postcode_mark", pm, True)
    if hint == "imei":
        return Classified("imei", flat, imei_valid(flat))
    if hint == "barcode":
        return Classified("barcode", flat, True)
    return Classified("serial", flat, len(flat) >= 4 and flat.isalnum())


_ENTRY_CHARS = re.compile(r"^[A-Za-z0-9\s\-_./:]+$")
#: shortest typed serial accepted: two characters ("a1") are a slip of the finger, while short
#: asset numbers such as "SN7" are real and must be answered
MIN_SERIAL_LENGTH = 3


def validate_entry(raw: str) -> Classified:
    """Classify a typed identifier, refusing one that fails its format rules, with the reason.

    Reads from a camera are kept even when their check fails (the matcher may correct them);
    a person typing can retype, so entry is stricter: junk is refused, not checked."""
    text = clean(raw)
    if not _ENTRY_CHARS.match(text):
        odd = next(c for c in text if not (c.isalnum() or _SEPARATORS.match(c)))
        raise IdentifierRejected(
            f"{text[:40]!r} contains {odd!r}: identifiers are letters and digits "
            "(spaces and hyphens are allowed)"
        )
    c = classify(text)
    flat = compact(text)
    if c.kind == "imei" and not c.valid:
        raise IdentifierRejected(
            f"IMEI {c.value} fails its check digit: one of the 15 digits is wrong; "
            "compare each digit with the label"
        )
    if c.kind == "mark_code" and not c.valid:
        raise IdentifierRejected(
            f"marking-kit code {c.value} fails its check character: one character is wrong; "
            "compare each character with the kit label"
        )
    if c.kind == "serial" and len(flat) < MIN_SERIAL_LENGTH:
        raise IdentifierRejected(
            f"{text[:40]!r} is too short for a serial number (at least {MIN_SERIAL_LENGTH} "
            "letters or digits)"
        )
    return c


def search_forms(text: str) -> tuple[set[str], str | None]:
    """The stored forms an identifier typed into a search may take, and a bare postcode.

    A mark code with or without hyphens, an IMEI with spaces, a postcode mark with or without
    spaces all find the same checks; a postcode on its own finds every mark at that postcode."""
    try:
        cleaned = clean(text)
    except IdentifierRejected:
        return set(), None
    flat = compact(cleaned)
    forms = {flat}
    forms.add(classify(cleaned).value)
    mark = parse_mark_code(flat)
    if mark is not None:
        forms.add(mark[0])
    pm = parse_postcode_mark(cleaned)
    if pm is not None:
        forms.add(pm)
    postcode = format_postcode(flat)
    if len(flat) > 5 and postcode is None:
        inward = flat[-3:]
        for cut in range(2, 5):
            outward, house = flat[-3 - cut : -3], flat[: -3 - cut]
            if house and _POSTCODE.match(outward + inward):
                candidate = parse_postcode_mark(f"{house} {outward} {inward}")
                if candidate is not None:
                    forms.add(candidate)
    return forms, postcode
