"""The pure codec: spec examples, CRC check value, round trip and resynchronisation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from station.devices.codec import (
    BadFrame,
    CodecError,
    FrameDecoder,
    WireFrame,
    crc16,
    encode,
    parse_body,
)

SPEC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


def spec_frames() -> list[str]:
    text = SPEC.read_text()
    block = text.split("## 11. Known-good frames", 1)[1].split("```", 2)[1]
    return [line for line in block.splitlines() if line.startswith("$")]


def test_crc_check_value() -> None:
    assert crc16(b"123456789") == 0x29B1


def test_spec_lists_known_good_frames() -> None:
    assert len(spec_frames()) >= 10


@pytest.mark.parametrize("line", spec_frames())
def test_known_good_frames_decode_and_reencode_identically(line: str) -> None:
    dec = FrameDecoder()
    out = dec.feed(line.encode() + b"\r\n")
    assert len(out) == 1 and isinstance(out[0], WireFrame), out
    assert encode(out[0]) == line.encode() + b"\r\n"


def test_spec_frame_fields() -> None:
    frame = FrameDecoder().feed(b"$C2 LAMP white=0 uv=100 lease=800*FD0F\n")[0]
    assert frame == WireFrame("C", 2, "LAMP", {"white": "0", "uv": "100", "lease": "800"})


def test_crc_mismatch_is_rejected_and_counted_with_salvaged_seq() -> None:
    dec = FrameDecoder()
    (bad,) = dec.feed(b"$C2 LAMP white=0 uv=100 lease=801*FD0F\r\n")
    assert isinstance(bad, BadFrame) and bad.reason == "CRC mismatch"
    assert (bad.kind, bad.seq) == ("C", 2)
    assert dec.crc_errors == 1 and dec.frames_ok == 0


@pytest.mark.parametrize(
    "body, fragment",
    [
        (b"X1 PING", "unknown kind"),
        (b"C01 PING", "sequence"),
        (b"C70000 PING", "sequence"),
        (b"C1 ping", "verb"),
        (b"C1 LAMP white", "key=value"),
        (b"C1 LAMP a=1 a=2", "repeated"),
        (b"C1", "no verb"),
    ],
)
def test_parse_body_names_the_problem(body: bytes, fragment: str) -> None:
    with pytest.raises(CodecError, match=fragment):
        parse_body(body)


def test_encode_refuses_bad_values() -> None:
    with pytest.raises(CodecError, match="invalid value"):
        encode(WireFrame("C", 1, "LAMP", {"white": "1 0"}))
    with pytest.raises(CodecError, match="sequence"):
        encode(WireFrame("C", 70000, "PING"))
    with pytest.raises(CodecError, match="more than"):
        encode(WireFrame("C", 1, "PING", {"x": "a" * 300}))


# ----------------------------------------------------------------- property-based
values = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, blacklist_characters="$*="),
    min_size=1,
    max_size=12,
)
frames = st.builds(
    WireFrame,
    kind=st.sampled_from(["C", "R", "E"]),
    seq=st.integers(0, 65535),
    verb=st.from_regex(re.compile(r"[A-Z]{1,8}"), fullmatch=True),
    args=st.dictionaries(
        st.from_regex(re.compile(r"[a-z0-9_]{1,6}"), fullmatch=True), values, max_size=6
    ),
)


@settings(max_examples=300, deadline=None)
@given(frames)
def test_round_trip(frame: WireFrame) -> None:
    wire = encode(frame)
    assert wire.startswith(b"$") and wire.endswith(b"\r\n")
    assert FrameDecoder().feed(wire) == [frame]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(frames, min_size=1, max_size=5),
    st.lists(st.binary(max_size=40), min_size=1, max_size=6),
    st.integers(1, 7),
)
def test_resynchronises_after_garbage(
    good: list[WireFrame], garbage: list[bytes], chunk: int
) -> None:
    """Whatever bytes come before a frame, its own '$' restarts the receiver."""
    stream = b""
    for i, frame in enumerate(good):
        stream += garbage[i % len(garbage)] + encode(frame)
    dec = FrameDecoder()
    got: list[WireFrame | BadFrame] = []
    for i in range(0, len(stream), chunk):
        got.extend(dec.feed(stream[i : i + chunk]))
    decoded = [f for f in got if isinstance(f, WireFrame)]
    assert decoded == good


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_never_crash_and_every_outcome_is_counted(data: bytes) -> None:
    dec = FrameDecoder()
    out = dec.feed(data)
    assert all(isinstance(item, WireFrame | BadFrame) for item in out)
    assert dec.frames_ok + dec.bad_frames == len(out)
    assert dec.frames_ok == sum(isinstance(item, WireFrame) for item in out)
