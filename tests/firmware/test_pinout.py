"""The pinout table of docs/hardware.md says what firmware/pins.h says: someone wires a board
from the document and flashes the firmware built from the header, so the two must agree."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PINS_H = ROOT / "firmware" / "pins.h"
HARDWARE_MD = ROOT / "docs" / "hardware.md"

_DEFINE = re.compile(r"^#define\s+(\w+)_(PORT|BIT|ARDUINO)\s+(\S+)", re.MULTILINE)


def header_pins(text: str) -> dict[str, tuple[str, str]]:
    """Signal name -> (AVR pin such as "PB1", Nano pin such as "D9"), from pins.h."""
    parts: dict[str, dict[str, str]] = {}
    for name, field, value in _DEFINE.findall(text):
        parts.setdefault(name, {})[field] = value.strip("'\"")
    pins = {}
    for name, p in parts.items():
        missing = {"PORT", "BIT", "ARDUINO"} - p.keys()
        if missing:
            raise AssertionError(f"pins.h: {name} lacks {', '.join(sorted(missing))}")
        pins[name] = (f"P{p['PORT']}{p['BIT']}", p["ARDUINO"])
    return pins


def document_pins(text: str) -> dict[str, tuple[str, str]]:
    """Signal name -> (AVR pin, Nano pin), from the rows of the document's pinout table."""
    section = text.split("## 3. Pinout", 1)[1].split("\n## ", 1)[0]
    pins: dict[str, tuple[str, str]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 4 or not re.fullmatch(r"`\w+`", cells[1]):
            continue
        name = cells[1].strip("`")
        if name in pins:
            raise AssertionError(f"docs/hardware.md lists {name} twice")
        pins[name] = (cells[2], cells[3])
    return pins


def pinout_problems(
    header: dict[str, tuple[str, str]], document: dict[str, tuple[str, str]]
) -> list[str]:
    """Every way the document's table differs from the header, one sentence each."""
    problems = []
    if only := sorted(set(header) - set(document)):
        problems.append(f"only in pins.h: {only}")
    if only := sorted(set(document) - set(header)):
        problems.append(f"only in docs/hardware.md: {only}")
    for name in sorted(set(header) & set(document)):
        if document[name] != header[name]:
            problems.append(
                f"{name}: docs/hardware.md says {document[name]}, pins.h {header[name]}"
            )
    return problems


def test_the_document_lists_every_pin_of_the_header_with_the_same_avr_and_nano_pins() -> None:
    header = header_pins(PINS_H.read_text())
    assert len(header) >= 10, "pins.h parsed to too few signals: has its format changed?"
    assert pinout_problems(header, document_pins(HARDWARE_MD.read_text())) == []


def test_no_two_signals_share_a_pin() -> None:
    pins = header_pins(PINS_H.read_text())
    by_pin: dict[str, list[str]] = {}
    for name, (avr, _nano) in pins.items():
        by_pin.setdefault(avr, []).append(name)
    assert {p: n for p, n in by_pin.items() if len(n) > 1} == {}


@pytest.mark.parametrize(
    ("old", "new", "complaint"),
    [
        ("| `UV_PWM` | PB2 | D10 |", "| `UV_PWM` | PB3 | D11 |", "UV_PWM: docs/hardware.md says"),
        ("| `STATUS_LED` |", "| status LED |", "only in pins.h: ['STATUS_LED']"),
        ("| `LID` |", "| `LID_SW` |", "only in docs/hardware.md: ['LID_SW']"),
    ],
    ids=["moved-pin", "missing-row", "renamed-signal"],
)
def test_a_drifted_document_is_caught(old: str, new: str, complaint: str) -> None:
    text = HARDWARE_MD.read_text()
    assert old in text
    header = header_pins(PINS_H.read_text())
    problems = pinout_problems(header, document_pins(text.replace(old, new)))
    assert any(p.startswith(complaint) for p in problems), problems
