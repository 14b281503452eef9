"""Faults during a check: the record is never lost, it says what happened, lamps end off."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from station.checks.service import CheckRequest
from station.context import StationContext, hardware
from station.db.models import Check, CheckImage
from station.errors import ControllerReset, DeviceError, InterlockOpen
from station.records import audit
from station.settings import StationSettings


def _run(settings: StationSettings) -> tuple[str, BaseException, list[str], dict[str, float]]:
    ctx = StationContext(settings)
    try:
        ctx.matcher.seed_demo_if_empty()
        with hardware(ctx, sim=True) as simulator:
            service = ctx.check_service()
            check_id = service.start(CheckRequest(officer="PC 9"))
            with pytest.raises(DeviceError) as info:
                service.run_scan(check_id, "PC 9")
            lamps = {name: simulator.world.drive(name) for name in ("white", "uv")}
        with ctx.db.session() as s:
            roles = sorted(
                i.role
                for i in s.execute(select(CheckImage).where(CheckImage.check_id == check_id))
                .scalars()
                .all()
            )
            assert audit.verify(s).ok
        return check_id, info.value, roles, lamps
    finally:
        ctx.close()


def _state(settings: StationSettings, check_id: str) -> Check:
    ctx = StationContext(settings)
    try:
        with ctx.db.session() as s:
            check = s.get(Check, check_id)
            assert check is not None
            return check
    finally:
        ctx.close()


def test_camera_lost_before_uv_frame_keeps_what_was_captured(
    sqlite_settings: StationSettings,
) -> None:
    sqlite_settings.sim_faults = ["cam_disconnect:at=3"]
    check_id, error, roles, lamps = _run(sqlite_settings)
    assert "camera" in str(error).lower()
    assert roles == ["dark", "white"]  # the two frames taken before the camera went
    check = _state(sqlite_settings, check_id)
    assert check.state == "incomplete"
    assert check.error and "disconnected" in check.error
    assert all(level == 0 for level in lamps.values()), lamps


def test_lid_open_refuses_uv_and_records_why(sqlite_settings: StationSettings) -> None:
    sqlite_settings.sim_scenario = "demo"
    ctx = StationContext(sqlite_settings)
    try:
        with hardware(ctx, sim=True) as simulator:
            simulator.world.open_lid()
            service = ctx.check_service()
            check_id = service.start(CheckRequest(officer="PC 9"))
            with pytest.raises(InterlockOpen, match="lid is open"):
                service.run_scan(check_id, "PC 9")
            assert simulator.world.drive("uv") == 0
    finally:
        ctx.close()
    check = _state(sqlite_settings, check_id)
    assert check.state == "incomplete" and "lid" in (check.error or "")


def test_interrupted_check_is_marked_incomplete_on_restart(
    sqlite_settings: StationSettings,
) -> None:
    ctx = StationContext(sqlite_settings)
    try:
        check_id = ctx.check_service().start(CheckRequest(officer="PC 9"))
        # the process dies here (power cut): nothing else runs for this check
    finally:
        ctx.close()
    ctx = StationContext(sqlite_settings)
    try:
        assert ctx.check_service().recover_interrupted() == 1
    finally:
        ctx.close()
    check = _state(sqlite_settings, check_id)
    assert check.state == "incomplete" and "interrupted" in (check.error or "")


def test_lid_opened_during_uv_aborts_instead_of_reading_a_dark_frame(
    sqlite_settings: StationSettings,
) -> None:
    sqlite_settings.sim_faults = ["lid_during_uv:frames=1"]
    check_id, error, roles, lamps = _run(sqlite_settings)
    assert isinstance(error, InterlockOpen)
    assert "uv" not in roles  # the spoiled UV frame is not kept as if it were evidence
    assert all(level == 0 for level in lamps.values()), lamps
    check = _state(sqlite_settings, check_id)
    assert check.state == "incomplete" and "lid" in (check.error or "")


def test_controller_reset_mid_check_aborts_it(sqlite_settings: StationSettings) -> None:
    sqlite_settings.sim_faults = ["reset:at=5"]  # a few frames into the capture session
    check_id, error, _roles, lamps = _run(sqlite_settings)
    assert isinstance(error, ControllerReset)
    assert all(level == 0 for level in lamps.values()), lamps
    check = _state(sqlite_settings, check_id)
    assert check.state == "incomplete" and "reset" in (check.error or "")
