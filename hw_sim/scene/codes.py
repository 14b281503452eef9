"""Identifiers as the simulated world prints them, computed here and not borrowed from the
station: a wrong check character in the product must show up as a failed read in the scene
tests, not cancel out.

ISO/IEC 7064 MOD 37-36 (the kit's mark codes) is written from the standard's pure-hybrid
recurrence; GS1 element strings are written the way a printer encodes them (AIs inline, a
GS character closing each variable-length field that is not last).
"""

from __future__ import annotations

#: ISO/IEC 7064 MOD 37-36 character set: digits then letters, values 0..35
_MOD36_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
#: ASCII group separator (FNC1 inside a GS1 element string)
GROUP_SEPARATOR = chr(29)
#: AIs whose data has a predefined length (GS1 General Specifications, the common ones)
_PREDEFINED_LENGTH_AIS = frozenset(
    {"00", "01", "02", "03", "04", "11", "12", "13", "15", "16", "17", "20"}
    | {"31", "32", "33", "34", "35", "36", "41"}
)


def mod_37_36_check(data: str) -> str:
    """The check character that makes ``data + check`` valid under ISO/IEC 7064 MOD 37-36.

    Hybrid system with M = 36: start with P = M; for each character S = (P + value) mod M
    (0 counts as M) and P = 2S mod (M + 1); the check value C satisfies (P + C) mod M = 1.
    """
    m = 36
    p = m
    for ch in data.upper():
        s = (p + _MOD36_CHARS.index(ch)) % m or m
        p = (2 * s) % (m + 1)
    return _MOD36_CHARS[(1 - p) % m]


def gs1_element_string(bracketed: str) -> str:
    """``(01)09504000059101(21)SN1`` as a decoder reports it: ``0109504000059101 21SN1``
    with a GS after each variable-length field that another field follows."""
    parts = [p for p in bracketed.replace(")", "(").split("(") if p]
    if len(parts) % 2:
        raise ValueError(f"not a bracketed GS1 string: {bracketed!r}")
    out: list[str] = []
    pairs = list(zip(parts[0::2], parts[1::2], strict=True))
    for i, (ai, value) in enumerate(pairs):
        out.append(ai + value)
        if ai[:2] not in _PREDEFINED_LENGTH_AIS and i + 1 < len(pairs):
            out.append(GROUP_SEPARATOR)
    return "".join(out)
