"""Hardware self-test: one pass/fail per part, with the numbers behind each verdict.

Runs against whatever devices it is given (real or simulated) and always leaves the lamps off.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import cv2
import numpy as np

from station.devices.camera import Frame
from station.devices.factory import DeviceSet, open_devices
from station.devices.lamp import PROTOCOL_MAJOR, LampController
from station.errors import InterlockOpen, StationError
from station.settings import StationSettings
from station.vision.reference import measure_reference_patch

PARTS = (
    "link",
    "handshake",
    "interlock",
    "watchdog",
    "white_lamp",
    "uv_lamp",
    "uv_intensity",
    "camera",
    "focus",
)


@dataclass
class PartResult:
    name: str
    passed: bool
    detail: str
    measured: dict[str, Any] = field(default_factory=dict)


@dataclass
class DoctorReport:
    parts: list[PartResult]
    started_at: str
    duration_s: float

    @property
    def passed(self) -> bool:
        return bool(self.parts) and all(p.passed for p in self.parts)

    def part(self, name: str) -> PartResult:
        return next(p for p in self.parts if p.name == name)

    def as_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "started_at": self.started_at,
            "duration_s": self.duration_s,
            "parts": [asdict(p) for p in self.parts],
        }


def focus_measure(image: np.ndarray, patch: tuple[float, float, float, float]) -> float:
    """Variance of the Laplacian around the reference patch, on a half-size image so sensor
    noise counts less than the patch's printed edges."""
    h, w = image.shape[:2]
    x, y, pw, ph = patch
    x0, y0 = max(0, int((x - pw / 2) * w)), max(0, int((y - ph / 2) * h))
    x1, y1 = min(w, int((x + 1.5 * pw) * w)), min(h, int((y + 1.5 * ph) * h))
    grey = cv2.cvtColor(image[y0:y1, x0:x1], cv2.COLOR_BGR2GRAY)
    small = cv2.pyrDown(grey)
    return float(cv2.Laplacian(small, cv2.CV_64F).var())


class _Doctor:
    def __init__(self, devices: DeviceSet, settings: StationSettings) -> None:
        self.lamp: LampController = devices.lamp
        self.camera = devices.camera
        self.s = settings
        self.d = settings.devices
        self.frames: dict[str, Frame] = {}
        self.results: list[PartResult] = []

    def run(self, name: str, check: Callable[[], PartResult]) -> None:
        try:
            result = check()
        except StationError as exc:
            result = PartResult(name, False, str(exc))
        self.results.append(result)

    def settle(self) -> float:
        return self.d.lamp_settle_ms / 1000.0

    def capture(self, key: str, white: int, uv: int, exposure_ms: float) -> Frame:
        acked = self.lamp.set_lamps(white, uv)
        frame = self.camera.capture(acked + self.settle(), exposure_ms, self.d.gain)
        self.frames[key] = frame
        return frame

    # ------------------------------------------------------------------ parts
    def link(self) -> PartResult:
        rtts = [self.lamp.ping() for _ in range(5)]
        stats = self.lamp.link_stats()
        measured = {
            "rtt_ms_min": round(min(rtts), 3),
            "rtt_ms_avg": round(sum(rtts) / len(rtts), 3),
            "rtt_ms_max": round(max(rtts), 3),
            **{
                k: v
                for k, v in stats.as_dict().items()
                if k in ("crc_errors", "retries", "timeouts")
            },
        }
        slow = measured["rtt_ms_avg"] > 100
        detail = (
            f"5 pings answered, round trip {measured['rtt_ms_avg']} ms on average"
            if not slow
            else f"link answers but slowly ({measured['rtt_ms_avg']} ms average): check the cable"
        )
        return PartResult("link", not slow, detail, measured)

    def handshake(self) -> PartResult:
        info = self.lamp.info
        caps = set(info.capabilities)
        missing = {"white", "uv", "lid"} - caps
        major_ok = info.protocol.split(".")[0] == str(PROTOCOL_MAJOR)
        ok = major_ok and not missing
        detail = (
            f"protocol {info.protocol}, firmware {info.firmware}, board {info.board_serial}"
            if ok
            else f"controller lacks {sorted(missing)} or speaks protocol {info.protocol}"
        )
        return PartResult("handshake", ok, detail, info.as_dict())

    def interlock(self) -> PartResult:
        st = self.lamp.status()
        if not st.lid_closed:
            try:
                self.lamp.set_lamps(0, 100)
            except InterlockOpen:
                return PartResult(
                    "interlock", True, "lid is open and UV was refused", {"method": "live"}
                )
            self.lamp.all_off()
            return PartResult(
                "interlock",
                False,
                "lid is open but UV was accepted: DO NOT USE",
                {"method": "live"},
            )
        ok, detail = self.lamp.self_test("interlock")
        return PartResult(
            "interlock",
            ok,
            f"built-in interlock test: {detail}" + ("" if ok else " — service the lid switch"),
            {"method": "self_test"},
        )

    def watchdog(self) -> PartResult:
        lease_ms = 200
        with self.lamp.renewal_suspended():
            start = self.lamp.set_lamps(20, 0, lease_ms=lease_ms)
            off_after: float | None = None
            while time.monotonic() - start < 1.5:
                time.sleep(0.05)
                if self.lamp.status().lamps["white"].level == 0:
                    off_after = (time.monotonic() - start) * 1000.0
                    break
        st = self.lamp.status()
        self.lamp.all_off()
        measured = {
            "lease_ms": lease_ms,
            "off_after_ms": None if off_after is None else round(off_after),
        }
        if off_after is None:
            return PartResult(
                "watchdog", False, "lamp stayed on after its lease ran out: DO NOT USE", measured
            )
        # well inside the 1 s silence watchdog, so it was the lease that ended it
        ok = "lease_expired" in st.faults and off_after <= lease_ms + 400
        detail = (
            f"lamp switched itself off {measured['off_after_ms']} ms after a {lease_ms} ms lease"
        )
        return PartResult("watchdog", ok, detail, measured)

    def lamp_part(self, name: str) -> PartResult:
        part = f"{name}_lamp"
        level = self.d.white_level if name == "white" else self.d.uv_level
        exposure = self.d.exposure_white_ms if name == "white" else self.d.exposure_uv_ms
        frame = self.capture(
            name, level if name == "white" else 0, level if name == "uv" else 0, exposure
        )
        st = self.lamp.status()
        self.lamp.all_off()
        lamp = st.lamps[name]
        nominal = self.lamp.info.nominal_current_ma.get(name, 0) * level / 100.0
        tol = self.d.lamp_current_tolerance
        measured = {
            "level": level,
            "current_ma": lamp.current_ma,
            "expected_ma": round(nominal),
            "frame_mean": round(float(frame.image.mean()), 2),
        }
        if lamp.level != level:
            return PartResult(
                part, False, f"{name} lamp is at {lamp.level}% though {level}% was set", measured
            )
        if lamp.fault or (nominal and abs(lamp.current_ma - nominal) > tol * nominal):
            return PartResult(
                part,
                False,
                f"{name} lamp draws {lamp.current_ma} mA, expected about {round(nominal)} mA"
                f"{f' ({lamp.fault})' if lamp.fault else ''}: replace the lamp or check its driver",
                measured,
            )
        return PartResult(
            part, True, f"{name} lamp draws {lamp.current_ma} mA at {level}%", measured
        )

    def uv_intensity(self) -> PartResult:
        if "uv" not in self.frames:
            return PartResult("uv_intensity", False, "no UV frame (UV lamp check failed)")
        dark = self.capture("dark_uv", 0, 0, self.d.exposure_uv_ms)
        v = self.s.vision
        level = measure_reference_patch(self.frames["uv"].image, dark.image, v.reference_patch)
        need = v.reference_nominal * v.reference_weak_fraction
        pct = 100.0 * level / v.reference_nominal if v.reference_nominal else 0.0
        measured = {
            "reference_level": round(level, 3),
            "nominal": v.reference_nominal,
            "minimum": round(need, 3),
            "percent_of_nominal": round(pct, 1),
            "patch": list(v.reference_patch),
        }
        if level < need:
            return PartResult(
                "uv_intensity",
                False,
                f"reference patch glows at {pct:.0f}% of nominal (UV minus dark), below "
                f"{100 * v.reference_weak_fraction:.0f}%: the UV lamp is weak or the patch is "
                "dirty or missing",
                measured,
            )
        return PartResult(
            "uv_intensity", True, f"reference patch glows at {pct:.0f}% of nominal", measured
        )

    def camera_part(self) -> PartResult:
        after = time.monotonic()
        frame = self.camera.capture(after, self.d.exposure_white_ms, self.d.gain)
        h, w = frame.image.shape[:2]
        measured = {
            "width": w,
            "height": h,
            "capture_ms": round((time.monotonic() - after) * 1000.0, 1),
            "mean": round(float(frame.image.mean()), 2),
        }
        fresh = frame.timestamp >= after
        return PartResult(
            "camera",
            fresh,
            f"{w}x{h} frames, fresh after request" if fresh else "camera returned an old frame",
            measured,
        )

    def focus(self) -> PartResult:
        if "white" not in self.frames:
            return PartResult("focus", False, "no white-light frame (white lamp check failed)")
        value = focus_measure(self.frames["white"].image, self.s.vision.reference_patch)
        need = self.d.focus_min
        measured = {"focus": round(value, 1), "minimum": need}
        if value < need:
            return PartResult(
                "focus",
                False,
                f"image is soft (focus {value:.0f} < {need:.0f}): refocus the lens",
                measured,
            )
        return PartResult("focus", True, f"focus {value:.0f} (≥ {need:.0f})", measured)


def run_doctor(devices: DeviceSet, settings: StationSettings) -> DoctorReport:
    """Self-test every part; exit status 0 in the CLI only when ``report.passed``."""
    started = datetime.now(UTC)
    t0 = time.monotonic()
    doc = _Doctor(devices, settings)
    doc.run("link", doc.link)
    doc.run("handshake", doc.handshake)
    doc.run("interlock", doc.interlock)
    doc.run("watchdog", doc.watchdog)
    doc.run("white_lamp", lambda: doc.lamp_part("white"))
    doc.run("uv_lamp", lambda: doc.lamp_part("uv"))
    doc.run("uv_intensity", doc.uv_intensity)
    doc.run("camera", doc.camera_part)
    doc.run("focus", doc.focus)
    with contextlib.suppress(StationError):
        devices.lamp.all_off()
    return DoctorReport(doc.results, started.isoformat(), round(time.monotonic() - t0, 3))


def doctor_configured(
    settings: StationSettings, use_sim: bool = False, faults: Sequence[str] = ()
) -> DoctorReport:
    """What ``station doctor [--sim]`` runs: opens the devices itself, so a dead link or camera
    still yields a report (every part failed with the reason) instead of a traceback."""
    started = datetime.now(UTC)
    t0 = time.monotonic()
    with contextlib.ExitStack() as stack:
        simulator = None
        if use_sim:
            from station.wiring import start_simulator

            simulator = stack.enter_context(start_simulator(settings, faults=faults))
        try:
            devices = stack.enter_context(open_devices(settings, simulator))
        except StationError as exc:
            parts = [PartResult(name, False, f"not reached: {exc}") for name in PARTS]
            report = DoctorReport(parts, started.isoformat(), round(time.monotonic() - t0, 3))
        else:
            report = run_doctor(devices, settings)
    return report
