"""Register entries covering ranges of consecutive serials (a stolen pallet)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from station.errors import InputError
from station.matcher.normalise import canonical

_TAIL = re.compile(r"^(.*?)([0-9]+)$")
#: larger ranges are almost certainly a typing error in the register
MAX_RANGE_SIZE = 10_000_000


@dataclass(frozen=True, slots=True)
class SerialRange:
    """Serials ``prefix`` + a ``width``-digit number from ``first`` to ``last``."""

    #: canonical (confusion-folded) prefix, what queries are compared with
    prefix: str
    #: prefix as the register spells it
    raw_prefix: str
    width: int
    first: int
    last: int

    def member(self, number: int) -> str:
        """The serial of the range with this number, spelt as the register spells it."""
        return f"{self.raw_prefix}{number:0{self.width}d}"


def parse_range(start: str, end: str) -> SerialRange:
    """Read a range from its first and last serial (both normal form); InputError if not one."""
    m1, m2 = _TAIL.match(start), _TAIL.match(end)
    if m1 is None or m2 is None:
        raise InputError(f"range {start}..{end}: both ends must end in a number")
    if m1.group(1) != m2.group(1) or len(m1.group(2)) != len(m2.group(2)):
        raise InputError(f"range {start}..{end}: ends must share their prefix and number width")
    first, last = int(m1.group(2)), int(m2.group(2))
    if last < first:
        raise InputError(f"range {start}..{end}: the end comes before the start")
    if last - first + 1 > MAX_RANGE_SIZE:
        raise InputError(f"range {start}..{end}: more than {MAX_RANGE_SIZE} serials")
    return SerialRange(canonical(m1.group(1)), m1.group(1), len(m1.group(2)), first, last)
