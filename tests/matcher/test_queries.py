"""A batch of queries normalises exactly as one query at a time, whatever its shape."""

from __future__ import annotations

import random

import pytest

from station.errors import IdentifierRejected
from station.identifiers import mark_code_check_char
from station.matcher import RegisterIndex, RegisterRecord
from station.matcher.normalise import normalise
from station.matcher.queries import QueryBatch

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
DIGITS = "0123456789"


def _luhn_digit(body: str) -> str:
    total = 0
    for i, c in enumerate(reversed(body)):
        d = int(c) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return str(-total % 10)


def _shapes(rng: random.Random) -> list[str]:
    """Reads of every shape the normaliser treats differently."""
    imei_body = "".join(rng.choice(DIGITS) for _ in range(14))
    imei = imei_body + _luhn_digit(imei_body)
    body = "".join(rng.choice(LETTERS + DIGITS) for _ in range(8))
    prefix = "".join(rng.choice(LETTERS) for _ in range(rng.randint(2, 4)))
    code = prefix + body + mark_code_check_char(prefix + body)
    serial = "".join(rng.choice(LETTERS + DIGITS) for _ in range(rng.randint(1, 10)))
    long_serial = "".join(rng.choice(LETTERS + DIGITS) for _ in range(rng.randint(17, 40)))
    return [
        serial,
        serial.lower(),
        imei,  # valid IMEI
        imei[:-1] + str((int(imei[-1]) + 1) % 10),  # check digit fails
        imei[:14],  # 14 digits
        imei + "7",  # 16 digits: IMEISV
        imei[:6] + "O" + imei[7:],  # a letter read in an IMEI
        imei[:6] + "Q" + imei[7:],  # an unknown character in an IMEI
        code,  # a valid property-mark code
        code.lower(),
        code[:-1] + ("0" if code[-1] != "0" else "1"),  # its check character fails
        f"{code[:3]}-{code[3:7]}-{code[7:]}",  # with separators
        "".join(rng.choice(DIGITS) for _ in range(rng.randint(1, 13))),
        "SN 12-34/56",
        "ab.cd 12",
        "bo1l5z2g6",  # every confusable letter
        "X" * 64,
        long_serial.lower(),
        "".join(rng.choice(LETTERS + DIGITS) for _ in range(rng.randint(11, 16))),
    ]


def test_every_query_of_a_batch_equals_normalise() -> None:
    rng = random.Random(3)
    queries = [q for _ in range(60) for q in _shapes(rng)]
    batch = QueryBatch(queries)
    assert len(batch) == len(queries)
    for i, q in enumerate(queries):
        assert batch[i] == normalise(q), q
    # plain serials (any case, digits, confusables) were folded in the vectorised pass, or
    # the batch saves nothing; positions 0, 1, 10 (a failed mark code), 12 and 15-17 of each group of shapes
    width = len(_shapes(random.Random(0)))
    plain = [i for i in range(len(queries)) if i % width in (0, 1, 10, 12, 15, 16, 17)]
    assert not batch.one_by_one[plain].any()


def test_a_kind_hint_goes_one_by_one() -> None:
    batch = QueryBatch(["12345678", "abc123"], "serial")
    assert [batch[i] for i in range(2)] == [normalise(q, "serial") for q in ("12345678", "abc123")]


@pytest.mark.parametrize("bad", ["", "X" * 65, "\x07bell", "   ", "Ünïcode123"])
def test_a_bad_query_is_named_by_its_position(bad: str) -> None:
    with pytest.raises(IdentifierRejected, match="query 3"):
        QueryBatch(["AB12CD34EF", "356938035643809", bad])


def test_bulk_answers_of_every_shape_equal_single_look_ups() -> None:
    rng = random.Random(8)
    shapes = [q for _ in range(40) for q in _shapes(rng)]
    register = [
        RegisterRecord(
            i + 1, q.upper(), "imei" if q.isdigit() and len(q) == 15 else "serial", "stolen"
        )
        for i, q in enumerate(shapes[::3])
        if q.isascii() and q.isalnum()
    ]
    index = RegisterIndex.build(register)
    # the register's own identifiers, near misses of them and the other shapes
    queries = [*shapes, *(r.identifier[:-1] + "8" for r in register[:100])]
    many = index.lookup_many(queries)
    single = [index.lookup(q) for q in queries]
    assert [m.model_dump() for m in many] == [s.model_dump() for s in single]
    assert sum(1 for s in single if s.candidates) > 50
    # the bare search finds whole identifiers only, each one a candidate of the single look-up
    hits = index.search_many(queries)
    assert hits.query_index.size > 50
    for q, e in zip(hits.query_index.tolist(), hits.entry_id.tolist(), strict=True):
        if len(single[q].candidates) < 10:
            assert e in {c.entry_id for c in single[q].candidates}, queries[q]


def test_a_search_in_blocks_answers_as_one_block_and_names_a_bad_query_by_its_place(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Large inputs are searched in blocks (the next normalised while one is searched); the
    hits and the position named in an error are those of the whole input."""
    from station.matcher import index as index_module
    from station.matcher.index import BulkHits

    rng = random.Random(9)
    shapes = [q for _ in range(30) for q in _shapes(rng)]
    register = [
        RegisterRecord(i + 1, q.upper(), "serial", "stolen")
        for i, q in enumerate(shapes[::3])
        if q.isascii() and q.isalnum()
    ]
    index = RegisterIndex.build(register)
    queries = [*shapes, *(r.identifier[:-1] + "8" for r in register)]
    whole = index.search_many(queries)
    monkeypatch.setattr(index_module, "SEARCH_BLOCK", 7)
    blocked = index.search_many(queries)

    def rows(h: BulkHits) -> list[tuple[int, int, int]]:
        q, e, d = h.query_index.tolist(), h.entry_id.tolist(), h.distance.tolist()
        return sorted(zip(q, e, d, strict=True))

    assert rows(blocked) == rows(whole)
    assert len(rows(whole)) > 50 and max(whole.query_index.tolist()) > 7 * 20
    with pytest.raises(IdentifierRejected, match="query 40 "):
        index.search_many([*queries[:39], "\x07bell", *queries[39:]])
