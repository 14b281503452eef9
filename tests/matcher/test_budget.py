"""The Luhn arithmetic behind the IMEI rules, against its plain definition."""

from __future__ import annotations

import random

from station.matcher.budget import imei_erasure, luhn_ok


def _luhn(digits: str) -> bool:
    """Double every second digit from the right, add the digits of the products."""
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = int(c) * (2 if i % 2 else 1)
        total += d // 10 + d % 10
    return total % 10 == 0


def test_luhn_and_erasure_equal_their_definitions() -> None:
    rng = random.Random(4)
    erased = 0
    for _ in range(20_000):
        n = rng.randint(1, 17)
        s = "".join(rng.choice("0123456789") for _ in range(n))
        assert luhn_ok(s) == _luhn(s), s
        p = rng.randrange(n)
        read = s[:p] + rng.choice("ABX") + s[p + 1 :]
        fits = [read[:p] + d + read[p + 1 :] for d in "0123456789"]
        if n == 15:
            want = next(f for f in fits if _luhn(f))  # a check digit corrects one unknown
        elif n == 16:
            rest = read[:p] + read[p + 1 :]
            want = rest if _luhn(rest) else None
        else:
            want = None
        assert imei_erasure(read) == want, read
        erased += want is not None
    assert erased > 1000
