"""`station doctor`'s engine against the simulator: healthy passes, each fault fails its part."""

from __future__ import annotations

import json

import pytest

from hw_sim.runner import SimStation
from station.checks.doctor import PARTS, doctor_configured, run_doctor
from station.devices.factory import open_devices
from station.settings import DeviceSettings, StationSettings

pytestmark = pytest.mark.controllers


def settings() -> StationSettings:
    return StationSettings(devices=DeviceSettings(reply_timeout_s=0.1, retries=3))


def failed(report) -> set[str]:  # type: ignore[no-untyped-def]
    return {p.name for p in report.parts if not p.passed}


def test_healthy_sim_passes_every_part() -> None:
    report = doctor_configured(settings(), use_sim=True)
    assert [p.name for p in report.parts] == list(PARTS)
    assert report.passed, [(p.name, p.detail) for p in report.parts if not p.passed]
    doc = json.loads(json.dumps(report.as_dict()))
    assert doc["passed"] is True and len(doc["parts"]) == len(PARTS)
    uv = report.part("uv_intensity").measured
    assert uv["reference_level"] > uv["minimum"] and uv["percent_of_nominal"] > 90


@pytest.mark.parametrize(
    "fault, parts",
    [
        ("dim:lamp=uv,factor=0.4", {"uv_lamp", "uv_intensity"}),
        # an aged LED draws full current: only the reference patch can tell
        ("aged:lamp=uv,factor=0.4", {"uv_intensity"}),
        ("nostrike:lamp=white", {"white_lamp", "focus"}),
        ("stuck:sensor=lid,value=closed", {"interlock"}),
        ("cam_black:at=4", {"camera"}),
    ],
)
def test_faults_fail_exactly_their_parts(fault: str, parts: set[str]) -> None:
    report = doctor_configured(settings(), use_sim=True, faults=[fault])
    assert not report.passed
    assert failed(report) == parts, [(p.name, p.detail) for p in report.parts]


def test_dead_link_reports_every_part_not_reached() -> None:
    report = doctor_configured(settings(), use_sim=True, faults=["silent:from=1"])
    assert failed(report) == set(PARTS)
    assert "did not answer HELLO" in report.part("link").detail


def test_version_mismatch_is_reported() -> None:
    report = doctor_configured(settings(), use_sim=True, faults=["version:proto=2.0"])
    assert not report.passed and "protocol 2.0" in report.part("handshake").detail


def test_lid_open_interlock_checked_live() -> None:
    s = settings()
    with SimStation("demo") as sim, open_devices(s, sim) as devices:
        sim.world.open_lid()
        report = run_doctor(devices, s)
        part = report.part("interlock")
        assert part.passed and part.measured["method"] == "live"
        assert "uv_lamp" in failed(report)
        assert sim.world.drive("uv") == 0 and sim.world.drive("white") == 0


def test_soft_focus_fails_focus() -> None:
    s = settings()
    s.devices.focus_min = 10_000
    report = doctor_configured(s, use_sim=True)
    assert failed(report) == {"focus"}
    assert "refocus" in report.part("focus").detail
