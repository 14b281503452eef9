"""The simulator's own check characters and GS1 strings agree with the station's readers."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hw_sim.scene.codes import GROUP_SEPARATOR, gs1_element_string, mod_37_36_check
from station.identifiers import parse_mark_code
from station.vision import gs1

_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def test_mod_37_36_matches_the_standards_worked_example() -> None:
    # ISO/IEC 7064 annex example for MOD 37-36: "A12425GABC1234002" has check "M"
    assert mod_37_36_check("A12425GABC1234002") == "M"


@given(
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=2, max_size=4),
    st.text(alphabet=_ALNUM, min_size=8, max_size=8),
)
def test_simulator_mark_codes_validate_in_the_station(prefix: str, body: str) -> None:
    code = f"{prefix}-{body[:4]}-{body[4:]}-{mod_37_36_check(prefix + body)}"
    parsed = parse_mark_code(code)
    assert parsed is not None and parsed[1], code
    wrong = next(c for c in _ALNUM if c != code[-1])
    assert parse_mark_code(code[:-1] + wrong) == (code[:-1] + wrong, False)


def test_gs1_strings_put_a_separator_only_after_variable_fields() -> None:
    text = gs1_element_string("(01)09504000059101(21)SN123(10)LOT7")
    assert text == f"010950400005910121SN123{GROUP_SEPARATOR}10LOT7"
    assert gs1.serial_and_gtin(text) == ("SN123", "09504000059101")
