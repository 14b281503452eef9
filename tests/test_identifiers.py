"""Identifier rules checked against an independent implementation of the same standard."""

from __future__ import annotations

import random

from stdnum import luhn

from station.identifiers import imei_valid, luhn_ok


def test_luhn_agrees_with_the_standard_library_of_numbers() -> None:
    rng = random.Random(4)
    valid = 0
    for n in range(20_000):
        body = "".join(rng.choice("0123456789") for _ in range(14))
        digits = body + (luhn.calc_check_digit(body) if n % 2 else rng.choice("0123456789"))
        expected = luhn.is_valid(digits)
        assert luhn_ok(digits) == expected, digits
        assert imei_valid(digits) == expected, digits
        valid += expected
    assert 10_000 <= valid < 12_000  # every valid one and about a tenth of the guesses


def test_an_imei_is_fifteen_ascii_digits() -> None:
    assert imei_valid("356938035643809")
    assert not imei_valid("35693803564380")  # 14 digits
    assert not imei_valid("3569380356438090")  # 16 digits
    assert not imei_valid("35693803564380X")
    assert not imei_valid("３５６９３８０３５６４３８０９")  # full-width digits are not ASCII


def test_mark_code_check_character_agrees_with_the_standard_library_of_numbers() -> None:
    from stdnum.iso7064 import mod_37_36

    from station.identifiers import mark_code_check_char

    rng = random.Random(9)
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    for _ in range(5000):
        data = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 14)))
        assert mark_code_check_char(data) == mod_37_36.calc_check_digit(data), data
    assert mark_code_check_char("a12425gabc1234002") == "M"  # the standard's worked example
