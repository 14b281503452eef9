"""Verdict policy on realistic registers: IMEIs of shared models, short mostly-digit serials.

The register is written out by hand (and IMEIs completed with an independent Luhn routine):
nothing here is derived from the matcher's own rules.
"""

from __future__ import annotations

import numpy as np
import pytest

from station.matcher import RegisterIndex, RegisterRecord


def luhn_digit(body: str) -> str:
    """The check digit that makes ``body`` + digit pass Luhn (written out here, on purpose)."""
    total = 0
    for i, c in enumerate(reversed(body)):
        d = int(c)
        if i % 2 == 0:  # doubled: these sit at odd positions from the right once the check joins
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def imei(body: str) -> str:
    assert len(body) == 14
    return body + luhn_digit(body)


TAC = "35209900"
#: three handsets of one model: the serial digits 176148, 176149 and 276148
PHONE_A = imei(TAC + "176148")
PHONE_B = imei(TAC + "176149")
PHONE_C = imei(TAC + "276148")


@pytest.fixture(scope="module")
def index() -> RegisterIndex:
    records = [
        RegisterRecord(1, PHONE_A, "imei", "stolen", "CR/1"),
        RegisterRecord(2, PHONE_B, "imei", "stolen", "CR/2"),
        RegisterRecord(3, PHONE_C, "imei", "lost", "CR/3"),
        RegisterRecord(10, "204817", "serial", "stolen"),
        RegisterRecord(11, "20481A", "serial", "stolen"),
        RegisterRecord(12, "7743910", "serial", "stolen"),
        RegisterRecord(20, "X7K9QF2M4T", "serial", "stolen"),
    ]
    # the rest of that model's stolen handsets: a crowded shared prefix
    records += [
        RegisterRecord(100 + i, imei(TAC + f"{500000 + 7 * i:06d}"), "imei", "stolen")
        for i in range(2000)
    ]
    return RegisterIndex.build(records)


def test_a_valid_imei_one_digit_from_a_stolen_one_is_another_phone(
    index: RegisterIndex,
) -> None:
    stranger = imei(TAC + "176147")  # same model, neighbouring serial, valid check digit
    assert stranger not in (PHONE_A, PHONE_B, PHONE_C)
    r = index.lookup(stranger)
    assert (r.verdict, r.candidates) == ("no_match", [])


def test_a_valid_imei_matches_only_itself(index: RegisterIndex) -> None:
    r = index.lookup(PHONE_A)
    assert r.verdict == "match"
    assert [c.entry_id for c in r.candidates] == [1]


def test_a_read_failing_luhn_stands_for_the_valid_imeis_one_digit_away(
    index: RegisterIndex,
) -> None:
    wrong = str((int(PHONE_A[10]) + 3) % 10)
    read = PHONE_A[:10] + wrong + PHONE_A[11:]
    r = index.lookup(read)
    assert r.verdict == "possible_match"
    assert [c.entry_id for c in r.candidates] == [1]
    assert "check digit" in r.candidates[0].edits[0]
    # two digits off is no correction of anything on the register
    two = PHONE_A[:9] + str((int(PHONE_A[9]) + 1) % 10) + read[10:]
    assert 1 not in [c.entry_id for c in index.lookup(two).candidates]


def test_neighbouring_digits_swapped_are_put_back(index: RegisterIndex) -> None:
    p = next(i for i in range(8, 13) if PHONE_C[i] != PHONE_C[i + 1])
    read = PHONE_C[:p] + PHONE_C[p + 1] + PHONE_C[p] + PHONE_C[p + 2 :]
    assert luhn_digit(read[:14]) != read[14]  # Luhn catches this swap
    r = index.lookup(read)
    assert r.candidates[0].entry_id == 3
    assert r.verdict == "possible_match"
    assert "swap" in r.candidates[0].edits[0]


def test_fourteen_digits_are_an_imei_without_its_check_digit(index: RegisterIndex) -> None:
    r = index.lookup(PHONE_B[:14])
    assert r.verdict == "possible_match"
    assert r.candidates[0].entry_id == 2
    assert r.candidates[0].edits == [
        f"check digit '{PHONE_B[14]}' not read: the 14 digits read are this IMEI's"
    ]


def test_a_letter_in_an_imei_is_the_digit_the_check_digit_allows(index: RegisterIndex) -> None:
    read = PHONE_A[:11] + "K" + PHONE_A[12:]
    r = index.lookup(read)
    assert r.candidates[0].entry_id == 1
    assert r.verdict == "possible_match"
    assert "only digits" in r.candidates[0].edits[0]


def test_no_bucket_holds_a_whole_models_shared_prefix(index: RegisterIndex) -> None:
    """IMEIs are stored once, under their serial digits: 2003 handsets of one model."""
    sizes = np.diff(index._state.base.arrays["seg_dir"].astype(np.int64))
    assert sizes.max() < 50


def test_short_numeric_serials_match_exactly_only(index: RegisterIndex) -> None:
    assert index.lookup("204817").verdict == "match"
    neighbour = index.lookup("204818")  # the next item off the line, not a misreading
    assert (neighbour.verdict, neighbour.candidates) == ("no_match", [])
    assert index.lookup("7743911").verdict == "no_match"
    assert index.lookup("774391").verdict == "no_match"  # no truncated 6-digit label either


def test_a_confusion_on_a_short_serial_is_only_possible(index: RegisterIndex) -> None:
    r = index.lookup("2O4817")  # O read for 0: on six characters two items may differ so
    assert r.verdict == "possible_match"
    assert r.candidates[0].entry_id == 10
    long = index.lookup("X7K9QF2M4T".replace("2", "Z"))
    assert long.verdict == "match"  # on a long serial a confusion is still a reading slip


def test_long_alphanumeric_serials_keep_two_edits(index: RegisterIndex) -> None:
    r = index.lookup("X7K9QF2M")  # two characters lost from the end... and still found
    assert r.candidates and r.candidates[0].entry_id == 20
    r = index.lookup("X7K0QF2N4T")
    assert r.verdict == "possible_match"
    assert r.candidates[0].entry_id == 20
    assert r.candidates[0].distance == 2


def test_bulk_search_follows_the_same_policy(index: RegisterIndex) -> None:
    queries = [
        imei(TAC + "176147"),
        PHONE_A[:11] + "K" + PHONE_A[12:],
        PHONE_B[:14],
        "204818",
        "X7K0QF2N4T",
    ]
    many = index.lookup_many(queries)
    assert [m.model_dump() for m in many] == [index.lookup(q).model_dump() for q in queries]
    hits = index.search_many(queries)
    pairs = set(zip(hits.query_index.tolist(), hits.entry_id.tolist(), strict=True))
    assert pairs == {(1, 1), (2, 2), (4, 20)}
    assert sorted(hits.distance.tolist()) == [1, 1, 2]


def _valid(s: str) -> bool:
    return luhn_digit(s[:-1]) == s[-1]


@pytest.mark.parametrize("length", [14, 15, 16])
def test_imei_readings_are_every_valid_imei_one_correction_away(length: int) -> None:
    """The readings equal a brute force over every substitution, swap, insertion, deletion."""
    from station.matcher.budget import imei_readings

    rng = np.random.default_rng(length)
    for _ in range(200):
        read = "".join(str(x) for x in rng.integers(0, 10, size=length))
        got = dict(imei_readings(read))
        want: dict[str, int] = {}
        if length == 15 and not _valid(read):
            for p in range(15):
                for c in "0123456789":
                    s = read[:p] + c + read[p + 1 :]
                    if s != read and _valid(s):
                        want.setdefault(s, 1)
            for p in range(14):
                s = read[:p] + read[p + 1] + read[p] + read[p + 2 :]
                if s != read and _valid(s):
                    want.setdefault(s, 2)
        elif length == 14:
            want = {
                s: 1
                for p in range(15)
                for c in "0123456789"
                if _valid(s := read[:p] + c + read[p:])
            }
        elif length == 16:
            want = {s: 1 for p in range(16) if _valid(s := read[:p] + read[p + 1 :])}
        assert got == want, read
