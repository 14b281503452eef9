"""RegisterIndex look-ups: exact, fuzzy with explanations, truncated labels, ranges, deltas."""

from __future__ import annotations

import mmap
import random
import threading
from pathlib import Path

import numpy as np
import pytest
from rapidfuzz.distance import Levenshtein
from stdnum import luhn

from station.errors import IdentifierRejected, IndexFileError
from station.matcher import RegisterIndex, RegisterRecord
from station.matcher.normalise import canonical
from station.settings import MatcherSettings

REGISTER = [
    RegisterRecord(1, "AB12CD34EF", "serial", "stolen", "CR/1/24", "met"),
    RegisterRecord(2, "356938035643809", "imei", "lost", None, "kent"),
    RegisterRecord(3, "PAL1000", "serial", "stolen", "CR/9/24", "met", range_end="PAL1999"),
    RegisterRecord(4, "XK7TQ3WM9P", "serial", "registered-owner", None, "immobilise"),
]


@pytest.fixture
def index() -> RegisterIndex:
    return RegisterIndex.build(REGISTER)


def test_exact_match(index: RegisterIndex) -> None:
    r = index.lookup("ab-12-cd-34-ef")
    assert r.verdict == "match"
    assert r.normalised == "AB12CD34EF"
    [c] = r.candidates
    assert (c.entry_id, c.distance, c.score, c.edits) == (1, 0, 1.0, [])
    assert (c.crime_ref, c.source, c.status) == ("CR/1/24", "met", "stolen")


def test_confusions_still_match_and_are_named(index: RegisterIndex) -> None:
    r = index.lookup("A812CD34EF")
    assert r.verdict == "match"
    assert r.candidates[0].entry_id == 1
    assert r.candidates[0].edits == ["read '8' for 'B' at position 2 (confusable)"]


@pytest.mark.parametrize(
    ("query", "edit"),
    [
        ("AB12XD34EF", "read 'X' for 'C' at position 5"),
        ("AB1CD34EF", "missing '2' at position 4"),
        ("AB12CD34EFX", "extra 'X' read after position 10"),
    ],
)
def test_one_edit_is_a_possible_match(index: RegisterIndex, query: str, edit: str) -> None:
    r = index.lookup(query)
    assert r.verdict == "possible_match"
    assert r.candidates[0].entry_id == 1
    assert r.candidates[0].edits == [edit]
    assert r.candidates[0].distance == 1


def test_two_edits_found_three_not(index: RegisterIndex) -> None:
    two = index.lookup("XB1CD34EF")
    assert [c.entry_id for c in two.candidates] == [1]
    assert two.candidates[0].distance == 2
    three = index.lookup("XB1CD3YEF")
    assert three.verdict == "no_match"
    assert three.candidates == []


def test_luhn_failing_imei_gets_its_correction(index: RegisterIndex) -> None:
    r = index.lookup("356938035643808")
    assert r.kind == "imei"
    assert r.verdict == "possible_match"
    c = r.candidates[0]
    assert c.entry_id == 2
    assert "check digit" in c.edits[0]
    assert c.score > 0.9


def test_truncated_label_prefix_and_suffix(index: RegisterIndex) -> None:
    pre = index.lookup("XK7TQ3")
    assert pre.verdict == "possible_match"
    assert pre.candidates[0].entry_id == 4
    assert "first 6 of 10" in pre.candidates[0].edits[0]
    suf = index.lookup("TQ3WM9P")
    assert suf.candidates[0].entry_id == 4
    assert "last 7 of 10" in suf.candidates[0].edits[0]
    assert index.lookup("XK7TQ").verdict == "no_match"  # shorter than min_partial_length


def test_serial_range(index: RegisterIndex) -> None:
    inside = index.lookup("PAL1500")
    assert inside.verdict == "match"
    assert inside.candidates[0].entry_id == 3
    assert "range PAL1000 to PAL1999" in inside.candidates[0].edits[-1]
    confused = index.lookup("PALI5OO")
    assert confused.candidates[0].entry_id == 3
    assert index.lookup("PAL2500").verdict == "no_match"


def test_absent_and_rejected(index: RegisterIndex) -> None:
    assert index.lookup("QQQQ9999").verdict == "no_match"
    with pytest.raises(IdentifierRejected):
        index.lookup("")
    with pytest.raises(IdentifierRejected, match="query 2"):
        index.lookup_many(["AB12CD34EF", "\x07bell"])


def test_thresholds_come_from_settings() -> None:
    strict = RegisterIndex.build(REGISTER, MatcherSettings(possible_match_score=0.9))
    assert strict.lookup("AB12XD34EF").verdict == "no_match"
    lax = RegisterIndex.build(REGISTER, MatcherSettings(match_score=0.75))
    assert lax.lookup("AB12XD34EF").verdict == "match"


def test_deltas_add_update_withdraw(index: RegisterIndex) -> None:
    index.apply_delta(added=[RegisterRecord(9, "NEW0000001", "serial", "stolen")])
    assert index.lookup("NEW0000001").candidates[0].entry_id == 9
    index.apply_delta(updated=[RegisterRecord(1, "AB12CD34EF", "serial", "recovered")])
    assert index.lookup("AB12CD34EF").candidates[0].status == "recovered"
    index.apply_delta(withdrawn=[1, 9])
    assert index.lookup("AB12CD34EF").verdict == "no_match"
    assert index.lookup("NEW0000001").verdict == "no_match"
    index.apply_delta(withdrawn=[1])  # idempotent
    assert index.lookup("XK7TQ3WM9P").verdict == "match"


def _random_register(rng: random.Random, n: int) -> list[RegisterRecord]:
    """IMEIs of a few models (shared first 8 digits), digit serials of 6-18 digits, and
    alphanumeric serials of 6-14 characters, drawn densely enough to have near neighbours."""
    alphabet = "0123456789ABCDEFGHJKMNPQRSTUVWXYZ"
    tacs = ["35693803", "35209900", "86012345"]
    out = []
    for i in range(n):
        if i % 3 == 0:
            body = rng.choice(tacs) + "".join(rng.choice("0123") for _ in range(6))
            out.append(RegisterRecord(i, body + luhn.calc_check_digit(body), "imei", "stolen"))
        elif i % 3 == 1:
            s = "".join(rng.choice("0123") for _ in range(rng.choice([6, 8, 10, 12, 13, 18])))
            out.append(RegisterRecord(i, s, "serial", "lost"))
        else:
            s = "".join(rng.choice(alphabet) for _ in range(rng.randint(6, 14)))
            out.append(RegisterRecord(i, s, "serial", "lost"))
    return out


def _tolerated(entry: str) -> int:
    """Edits a canonical register identifier tolerates, as docs/matching.md states the rule."""
    n = len(entry)
    if entry.isdigit():
        return 0 if n < 10 or 14 <= n <= 16 else (1 if n < 14 else 2)
    return 0 if n < 8 else (1 if n < 10 else 2)


def _imei_candidate(read: str, entry: str) -> bool:
    """The IMEI rules, brute force: which valid IMEIs an IMEI-shaped read stands for."""
    if entry == read:
        return True
    if not (len(entry) == 15 and entry.isdigit() and luhn.is_valid(entry)):
        return False
    if len(read) == 14:
        return any(entry[:p] + entry[p + 1 :] == read for p in range(15))
    if len(read) == 16:
        return any(read[:p] + read[p + 1 :] == entry for p in range(16))
    if luhn.is_valid(read):
        return False
    diffs = [p for p in range(15) if read[p] != entry[p]]
    swap = (
        len(diffs) == 2
        and diffs[1] == diffs[0] + 1
        and read[diffs[0]] == entry[diffs[1]]
        and read[diffs[1]] == entry[diffs[0]]
    )
    return len(diffs) == 1 or swap


def _expected(query: str, entry: str) -> bool:
    if query.isdigit() and 14 <= len(query) <= 16 and _imei_candidate(query, entry):
        return True
    odd = [p for p, c in enumerate(query) if not c.isdigit()]
    if len(odd) == 1 and len(query) in (15, 16) and entry.isdigit() and luhn.is_valid(entry):
        # one letter where an IMEI has only digits: an unknown digit, or one too many
        p = odd[0]
        if (
            len(query) == 15
            and len(entry) == 15
            and query[:p] + query[p + 1 :] == (entry[:p] + entry[p + 1 :])
        ):
            return True
        if len(query) == 16 and query[:p] + query[p + 1 :] == entry:
            return True
    return Levenshtein.distance(query, entry) <= _tolerated(entry)


def test_recall_equals_brute_force_on_random_register() -> None:
    """Every entry within its tolerated canonical edits (or an IMEI the read stands for) is
    a candidate, nothing else is."""
    rng = random.Random(11)
    register = _random_register(rng, 900)
    settings = MatcherSettings(max_candidates=1000, possible_match_score=0.0)
    index = RegisterIndex.build(register, settings)
    canon = {r.entry_id: canonical(r.identifier) for r in register}
    alphabet = "0123456789ABCDEFGHJKMNPQRSTUVWXYZ"
    compared = 0
    for trial in range(400):
        s = list(rng.choice(register).identifier)
        for _ in range(trial % 4):
            p = rng.randrange(len(s))
            op = rng.choice("sidt" if s[0].isdigit() else "sid")
            if op == "s":
                s[p] = rng.choice("0123456789" if s[0].isdigit() else alphabet)
            elif op == "i":
                s.insert(p, rng.choice(alphabet))
            elif op == "t" and p + 1 < len(s):
                s[p], s[p + 1] = s[p + 1], s[p]
            else:
                del s[p]
        query = "".join(s)
        qc = canonical(query)
        expected = {eid for eid, c in canon.items() if _expected(qc, c)}
        got = {
            c.entry_id
            for c in index.lookup(query, "serial").candidates
            if not any("truncated" in e for e in c.edits)
        }
        assert got == expected, query
        compared += len(expected)
    assert compared > 150


def test_concurrent_readers_during_deltas(index: RegisterIndex) -> None:
    errors: list[str] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            r = index.lookup("XK7TQ3WM9P")
            if r.verdict != "match":
                errors.append(r.verdict)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(50):
        index.apply_delta(added=[RegisterRecord(100 + i, f"ADD{i:07d}", "serial", "stolen")])
    stop.set()
    for t in threads:
        t.join()
    assert errors == []
    assert index.lookup("ADD0000049").verdict == "match"


def test_bulk_lookup_agrees_with_single_lookups(index: RegisterIndex) -> None:
    queries = ["AB12CD34EF", "A812XD34EF", "356938035643808", "PAL1500", "XK7TQ3", "NOPE0000"]
    many = index.lookup_many(queries)
    assert [m.model_dump() for m in many] == [index.lookup(q).model_dump() for q in queries]
    hits = index.search_many(queries)
    pairs = set(zip(hits.query_index.tolist(), hits.entry_id.tolist(), strict=True))
    assert pairs == {(0, 1), (1, 1), (2, 2)}


def test_save_load_keeps_base_overlay_and_masks(index: RegisterIndex, tmp_path: Path) -> None:
    index.apply_delta(
        added=[RegisterRecord(20, "LATE0000042", "serial", "stolen", "CR/20", "pnc")],
        withdrawn=[4],
        version=7,
    )
    index.save(tmp_path / "idx")
    index.save(tmp_path / "idx")  # replacing an existing index is atomic and fine
    loaded = RegisterIndex.load(tmp_path / "idx")
    assert loaded.version == 7
    assert len(loaded) == len(index)
    for q in ["AB12CD34EF", "A812XD34EF", "LATE0000042", "XK7TQ3WM9P", "PAL1234", "XK7TQ3"]:
        assert loaded.lookup(q).model_dump() == index.lookup(q).model_dump(), q
    assert loaded.lookup("LATE0000042").candidates[0].crime_ref == "CR/20"
    assert loaded.lookup("XK7TQ3WM9P").verdict == "no_match"
    assert isinstance(loaded._state.base.arrays["value"].base, np.memmap | mmap.mmap)


def test_damaged_index_is_refused_with_a_reason(index: RegisterIndex, tmp_path: Path) -> None:
    index.save(tmp_path / "idx")
    (tmp_path / "idx" / "base" / "meta.json").write_text("{", encoding="utf-8")
    with pytest.raises(IndexFileError, match="no readable index"):
        RegisterIndex.load(tmp_path / "idx")
    with pytest.raises(IndexFileError):
        RegisterIndex.load(tmp_path / "missing")


def test_settings_with_other_edit_budget_refuse_a_saved_index(
    index: RegisterIndex, tmp_path: Path
) -> None:
    index.save(tmp_path / "idx")
    with pytest.raises(IndexFileError, match="rebuild"):
        RegisterIndex.load(tmp_path / "idx", MatcherSettings(max_edits=1))


def test_compaction_folds_overlay_into_base(index: RegisterIndex) -> None:
    index.apply_delta(
        added=[RegisterRecord(30, "CMP0000001", "serial", "lost", "CR/30", "new-source")],
        updated=[RegisterRecord(1, "AB12CD34EF", "serial", "recovered", "CR/1/24", "met")],
        withdrawn=[2],
    )
    before = {q: index.lookup(q).model_dump() for q in ["CMP0000001", "AB12CD34EF", "PAL1001"]}
    index.compact()
    assert len(index._state.overlay) == 1  # only the range stays in the overlay
    assert {q: index.lookup(q).model_dump() for q in before} == before
    assert index.lookup("356938035643809").verdict == "no_match"
    assert index.lookup("CMP0000001").candidates[0].source == "new-source"


def test_imei_with_an_extra_digit_is_not_lost_to_the_imeisv_rule(index: RegisterIndex) -> None:
    query = "3569380356438809"  # 356938035643809 with an extra 8: 16 digits look like IMEISV
    r = index.lookup(query)
    assert r.candidates[0].entry_id == 2
    assert r.candidates[0].distance == 1
    assert index.lookup_many([query])[0].model_dump() == r.model_dump()
    hits = index.search_many([query])
    assert (hits.entry_id.tolist(), hits.distance.tolist()) == ([2], [1])


def test_queries_with_many_hits_are_complete_in_bulk() -> None:
    alphabet = "ACDEFHJKMNPQRTUVWXY0123456789"
    register = [
        RegisterRecord(i, f"ABCDEFGH{c}", "serial", "stolen") for i, c in enumerate(alphabet)
    ]
    settings = MatcherSettings(max_candidates=100, possible_match_score=0.0)
    index = RegisterIndex.build(register, settings)
    hits = index.search_many(["ABCDEFGHW", "ZZZZ9999"])
    assert sorted(hits.entry_id.tolist()) == list(range(len(alphabet)))
    assert set(hits.query_index.tolist()) == {0}
    [many] = index.lookup_many(["ABCDEFGHW"])
    assert many.model_dump() == index.lookup("ABCDEFGHW").model_dump()
    assert len(many.candidates) == len(alphabet)


def test_postcode_marks_match_households_and_bare_postcodes() -> None:
    index = RegisterIndex.build(
        [
            RegisterRecord(1, "12 NN1 4AB", "postcode_mark", "registered-owner"),
            RegisterRecord(2, "14 NN1 4AB", "postcode_mark", "registered-owner"),
        ]
    )
    r = index.lookup("12 NN1 4A8")  # UV-pen OCR reads B as 8
    assert r.verdict == "match"
    assert r.candidates[0].entry_id == 1
    households = index.lookup("NN1 4AB")  # house number smudged: every household there
    assert {c.entry_id for c in households.candidates} == {1, 2}
    assert households.verdict == "possible_match"


def test_empty_register_answers_no_match(tmp_path: Path) -> None:
    index = RegisterIndex.build([])
    assert len(index) == 0
    assert index.lookup("AB12CD34EF").verdict == "no_match"
    assert index.lookup_many(["AB12CD34EF"])[0].verdict == "no_match"
    index.save(tmp_path / "empty")
    assert RegisterIndex.load(tmp_path / "empty").lookup("AB12CD34EF").verdict == "no_match"


def test_long_and_symbol_identifiers_take_the_exact_slow_path() -> None:
    """Identifiers over 20 characters or with symbols are verified from the stored bytes."""
    rng = random.Random(5)
    alphabet = "0123456789ABCDEFGHJKMNPQRSTUVWXYZ+$%"
    register = [
        RegisterRecord(
            i,
            "".join(rng.choice(alphabet) for _ in range(rng.randint(18, 30))),
            "barcode",
            "stolen",
        )
        for i in range(400)
    ]
    settings = MatcherSettings(max_candidates=1000, possible_match_score=0.0)
    index = RegisterIndex.build(register, settings)
    canon = {r.entry_id: canonical(r.identifier) for r in register}
    for trial in range(150):
        s = list(rng.choice(register).identifier)
        for _ in range(trial % 4):
            p = rng.randrange(len(s))
            s[p] = rng.choice(alphabet)
        query = "".join(s)
        expected = {e for e, c in canon.items() if Levenshtein.distance(canonical(query), c) <= 2}
        got = {
            c.entry_id
            for c in index.lookup(query, "barcode").candidates
            if not any("truncated" in e for e in c.edits)
        }
        assert got == expected, query


def test_bulk_searches_from_several_threads_take_turns_safely() -> None:
    """The compiled bulk search shares one thread pool per process; callers must not collide."""
    index = RegisterIndex.build(
        [RegisterRecord(i, f"AB{i:08d}", "serial", "stolen") for i in range(3000)]
    )
    queries = [f"AB{i:08d}" for i in range(0, 3000, 3)]
    counts: list[int] = []

    def run() -> None:
        for _ in range(3):
            counts.append(int(index.search_many(queries).entry_id.size))

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert len(counts) == 9
    assert len(set(counts)) == 1 and counts[0] >= len(queries)
