"""GS1 element strings (``01`` GTIN, ``21`` serial, ...) as barcodes carry them.

Fixed-length application identifiers need no separator; variable-length ones end at a GS
(0x1D) or at the end of the data. Only the AIs a check station uses are named; others are
kept by number so nothing read is thrown away.
"""

from __future__ import annotations

GS = "\x1d"

#: AI -> fixed data length (GS1 General Specifications, predefined-length table)
_FIXED: dict[str, int] = {
    "00": 18,
    "01": 14,
    "02": 14,
    "03": 14,
    "04": 16,
    "11": 6,
    "12": 6,
    "13": 6,
    "14": 6,
    "15": 6,
    "16": 6,
    "17": 6,
    "18": 6,
    "19": 6,
    "20": 2,
    "31": 6,
    "32": 6,
    "33": 6,
    "34": 6,
    "35": 6,
    "36": 6,
    "41": 13,
}
#: AI length (digits) by its first two digits, for AIs longer than two digits
_AI_LENGTH: dict[str, int] = {
    **{f"{n}": 3 for n in range(23, 24)},
    **{f"{n}": 3 for n in range(24, 26)},
    **{f"{n}": 3 for n in range(40, 43)},
    **{f"{n}": 4 for n in range(31, 37)},
    "39": 4,
    "70": 4,
    "71": 3,
    "72": 4,
    "80": 4,
    "81": 4,
    "82": 4,
    "90": 2,
    "91": 2,
    "92": 2,
    "93": 2,
    "94": 2,
    "95": 2,
    "96": 2,
    "97": 2,
    "98": 2,
    "99": 2,
}
#: fixed data length for four-digit AIs whose first two digits are in _FIXED (31nn..36nn)
_FOUR_DIGIT_FIXED = {"31", "32", "33", "34", "35", "36"}


class GS1ParseError(ValueError):
    """The data is not a well-formed GS1 element string."""


def parse(data: str) -> list[tuple[str, str]]:
    """(AI, value) pairs in order; raises GS1ParseError on malformed data."""
    text = data.lstrip(GS)
    if text.startswith("]"):  # symbology identifier prefix, e.g. ]C1
        text = text[3:]
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(text):
        head = text[i : i + 2]
        if len(head) < 2 or not head.isdigit():
            raise GS1ParseError(f"expected an application identifier at position {i}")
        ai_len = _AI_LENGTH.get(head, 2)
        ai = text[i : i + ai_len]
        if len(ai) < ai_len or not ai.isdigit():
            raise GS1ParseError(f"truncated application identifier at position {i}")
        i += ai_len
        fixed = _FIXED.get(head) if (ai_len == 2 or head in _FOUR_DIGIT_FIXED) else None
        if head == "41" and ai_len == 3:
            fixed = 13
        if fixed is not None:
            value = text[i : i + fixed]
            if len(value) < fixed:
                raise GS1ParseError(f"AI ({ai}) needs {fixed} characters, found {len(value)}")
            i += fixed
            if i < len(text) and text[i] == GS:
                i += 1
        else:
            end = text.find(GS, i)
            end = len(text) if end < 0 else end
            value = text[i:end]
            i = end + 1
        if not value:
            raise GS1ParseError(f"AI ({ai}) has no data")
        out.append((ai, value))
    return out


def serial_and_gtin(data: str) -> tuple[str | None, str | None]:
    """The serial (AI 21) and GTIN (AI 01) of an element string, where present."""
    fields = dict(parse(data))
    return fields.get("21"), fields.get("01")
