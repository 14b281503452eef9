"""Normal and canonical forms, edit explanations and the Pass-Join probe plan."""

from __future__ import annotations

import itertools
import random

import pytest
from rapidfuzz.distance import Levenshtein

from station.errors import IdentifierRejected
from station.matcher.normalise import (
    align,
    allowed_edits,
    canonical,
    luhn_correction,
    normal_value,
    normalise,
)
from station.matcher.partition import probe_plan, segments


def test_confusable_readings_share_a_canonical_form() -> None:
    assert canonical("OIL ZSGB") == canonical("011 2568")
    assert normalise("ab-12 cd/34.ef").value == "AB12CD34EF"
    assert normalise("AB12CD34EF").canonical == normalise("A812CD34EF").canonical


def test_imeisv_reduces_to_imei_with_check_digit() -> None:
    n = normalise("35-693803-564380-12")  # IMEISV: 14-digit body + software version
    assert n.kind == "imei"
    assert n.value == "356938035643809"
    assert n.valid


def test_gtin_padding_is_not_identity() -> None:
    assert normalise("00012345678905", "barcode").value == "12345678905"


@pytest.mark.parametrize("bad", ["", "   ", "A" * 65, "AB\x00CD", "АВ12СD"])  # last: Cyrillic
def test_unusable_input_is_rejected_with_a_reason(bad: str) -> None:
    with pytest.raises(IdentifierRejected) as err:
        normalise(bad)
    assert str(err.value)


def test_alignment_names_each_edit_and_separates_confusions() -> None:
    al = align("A8I2XD34EFQ", "AB12CD34EF")
    assert al.confusions == 2  # 8/B and I/1
    assert al.hard_edits == 2  # X for C, extra Q
    assert al.distance == 4
    assert any("'X' for 'C' at position 5" in e for e in al.edits)
    assert any("extra 'Q'" in e for e in al.edits)
    assert sum("confusable" in e for e in al.edits) == 2


def test_alignment_reports_missing_characters() -> None:
    al = align("AB1CD34EF", "AB12CD34EF")
    assert al.edits == ("missing '2' at position 4",)


def test_luhn_correction_only_for_failing_reads() -> None:
    assert luhn_correction("356938035643808", "356938035643809") == (15, "8", "9")
    assert luhn_correction("356938035643809", "356938035643809") is None
    assert luhn_correction("356938035643808", "356938035643817") is None  # two digits differ


def test_short_identifiers_tolerate_fewer_edits() -> None:
    assert [allowed_edits(n, 2) for n in (4, 5, 7, 8, 15)] == [0, 1, 1, 2, 2]


def test_segments_cover_the_string_exactly() -> None:
    for length in range(3, 40):
        segs = segments(length, 2)
        assert len(segs) == 3
        assert segs[0][0] == 0
        assert sum(s for _, s in segs) == length
        assert all(a[0] + a[1] == b[0] for a, b in itertools.pairwise(segs))


def _edit(rng: random.Random, s: str, edits: int) -> str:
    alphabet = "0123456789ACDEFHJKMNPQRTUVWXY"
    for _ in range(edits):
        op = rng.choice("sid")
        p = rng.randrange(len(s))
        if op == "s":
            s = s[:p] + rng.choice(alphabet) + s[p + 1 :]
        elif op == "i":
            s = s[:p] + rng.choice(alphabet) + s[p:]
        elif len(s) > 1:
            s = s[:p] + s[p + 1 :]
    return s


def test_probe_plan_never_misses_a_pair_within_two_edits() -> None:
    """Pigeonhole guarantee: some probed query piece equals the entry's segment."""
    rng = random.Random(7)
    alphabet = "0123456789ACDEFHJKMNPQRTUVWXY"
    for _ in range(3000):
        entry = "".join(rng.choice(alphabet) for _ in range(rng.randint(8, 16)))
        query = _edit(rng, entry, rng.randint(0, 2))
        if Levenshtein.distance(query, entry) > 2:
            continue
        segs = segments(len(entry), 2)
        hits = [
            query[start : start + ln] == entry[segs[i][0] : segs[i][0] + ln]
            for i, start, ln in probe_plan(len(query), len(entry), 2)
        ]
        assert any(hits), (query, entry)


def test_short_path_agrees_with_the_identifier_rules() -> None:
    """Plain alphanumeric input takes a fast path; it must classify exactly like classify()."""
    from station.identifiers import classify, mark_code_check_char

    rng = random.Random(3)
    samples = [
        "356938035643809",
        "356938035643808",
        "3569380356438012",
        "SW7K3PQ9XDR",
        "abc",
        "0001234",
        "AB12cd34EF",
        "SWAB12CD34X",
        "12NN14AB",
    ]
    for _ in range(3000):
        alphabet = rng.choice(["0123456789", "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefgh"])
        samples.append("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 20))))
    # mark-code shaped: 2-4 letters and 8 characters, with the right check character or not
    letters, chars = "ABCDEFGHJKSWXZabsw", "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    for n in range(600):
        body = "".join(rng.choice(letters) for _ in range(2 + n % 3))
        body += "".join(rng.choice(chars) for _ in range(8))
        check = mark_code_check_char(body)
        samples += [body + check, body + rng.choice(chars), (body + check).lower()]
    for raw in samples:
        c = classify(raw)
        n = normalise(raw)
        assert (n.kind, n.value, n.valid) == (c.kind, normal_value(c.kind, c.value), c.valid), raw
        assert n.canonical == canonical(n.value)
    assert sum(normalise(raw).kind == "mark_code" for raw in samples) > 300


def test_the_bulk_mark_code_check_agrees_with_the_check_character_rule() -> None:
    """mark_code_valid (one table-driven pass) says valid exactly when the last character is
    the MOD 37-36 check character of the rest."""
    from station.identifiers import mark_code_check_char, mark_code_valid

    rng = random.Random(12)
    chars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    valid = 0
    for n in range(20_000):
        body = "".join(rng.choice(chars) for _ in range(rng.randint(1, 14)))
        code = body + (mark_code_check_char(body) if n % 3 == 0 else rng.choice(chars))
        expected = mark_code_check_char(body) == code[-1]
        assert mark_code_valid(code) == expected, code
        valid += expected
    assert valid > 6000
    assert not mark_code_valid("AB1234567*") and not mark_code_valid("ab12345678c")
