"""Fault injection plan: which fault fires at which frame, parsed from short text specs.

A spec is ``kind[:key=value,...]``, e.g. ``corrupt:rate=0.05``, ``drop:at=3,dir=out``,
``reset:at=12``, ``vanish:at=5,ms=400``, ``cam_black:at=2``. Faults are scheduled by frame
number (``at``, ``from``/``count``) or a seeded per-frame ``rate``, never by wall clock, so a
run is reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: kind -> one-line description (also the list ``station sim --help`` can show)
FAULT_KINDS: dict[str, str] = {
    "drop": "lose a frame (dir=in|out|both)",
    "corrupt": "flip a bit in a frame so its CRC fails",
    "duplicate": "deliver a frame twice",
    "truncate": "cut a frame short",
    "garbage": "noise bytes and a boot banner when the host opens the port (bytes=n)",
    "trickle": "send the controller's bytes one at a time (ms=gap)",
    "latency": "delay replies (ms=delay)",
    "silent": "controller stops answering and hears nothing (from=k, count=n)",
    "deaf": "host frames stop reaching the controller, i.e. heartbeat lost (from=k)",
    "vanish": "serial port disappears and comes back (at=k, ms=gone)",
    "reset": "controller reboots with a new boot id (at=k)",
    "after_reply": (
        "right after answering host frame k, do=open_lid|close_lid|remove_item|lease|reset; "
        "the reply and the events it causes leave in one write (at=k)"
    ),
    "version": "controller speaks another protocol version (proto=2.0)",
    "lid_during_uv": "lid opens k frames after UV was switched on (frames=k)",
    "nostrike": "a lamp fails to strike (lamp=white|uv)",
    "dim": "a lamp gives only part of its light and draws less current (lamp=..., factor=0.4)",
    "aged": "an aged LED: full current, only part of its light (lamp=..., factor=0.4)",
    "stuck": "a sensor is stuck (sensor=lid|item, value=0|1)",
    "cam_timeout": "camera delivers no frame",
    "cam_black": "camera delivers an all-black frame",
    "cam_overexposed": "camera delivers a saturated frame",
    "cam_stale": "camera keeps delivering an old frame",
    "cam_disconnect": "camera goes away",
}


#: what an ``after_reply`` fault can do right after the board answered
AFTER_REPLY_ACTIONS = ("open_lid", "close_lid", "remove_item", "lease", "reset")


class FaultSpecError(ValueError):
    """A fault spec cannot be parsed; the message names the spec and the problem."""


@dataclass(frozen=True)
class Fault:
    kind: str
    at: int | None = None
    start: int | None = None
    count: int | None = None
    rate: float | None = None
    params: dict[str, str] = field(default_factory=dict)

    def param(self, key: str, default: str) -> str:
        return self.params.get(key, default)

    def scheduled(self, index: int) -> bool:
        """True if frame number ``index`` (1-based) is in this fault's window (ignoring rate)."""
        if self.at is not None:
            return index == self.at
        if self.start is not None:
            if index < self.start:
                return False
            return self.count is None or index < self.start + self.count
        return True


def parse_fault(spec: str) -> Fault:
    kind, _, rest = spec.strip().partition(":")
    kind = kind.strip()
    if kind not in FAULT_KINDS:
        known = ", ".join(sorted(FAULT_KINDS))
        raise FaultSpecError(f"unknown fault {kind!r} in {spec!r}; known faults: {known}")
    params: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in rest.split(","))):
        key, sep, value = part.partition("=")
        if not sep or not key or not value:
            raise FaultSpecError(f"fault {spec!r}: {part!r} is not key=value")
        params[key.strip()] = value.strip()
    try:
        at = int(params.pop("at")) if "at" in params else None
        start = int(params.pop("from")) if "from" in params else None
        count = int(params.pop("count")) if "count" in params else None
        rate = float(params.pop("rate")) if "rate" in params else None
    except ValueError as exc:
        raise FaultSpecError(f"fault {spec!r}: {exc}") from exc
    if rate is not None and not 0.0 <= rate <= 1.0:
        raise FaultSpecError(f"fault {spec!r}: rate must be between 0 and 1")
    if kind == "after_reply" and params.get("do", "open_lid") not in AFTER_REPLY_ACTIONS:
        raise FaultSpecError(f"fault {spec!r}: do= must be one of {', '.join(AFTER_REPLY_ACTIONS)}")
    return Fault(kind, at, start, count, rate, params)


class FaultPlan:
    """The faults of one simulator run, with their own seeded random stream."""

    def __init__(self, faults: list[Fault] | None = None, seed: int = 0) -> None:
        self.faults: list[Fault] = list(faults or [])
        self._rng = np.random.default_rng(seed + 7919)
        #: how many times each kind fired, for tests and the sim's log
        self.fired: dict[str, int] = {}

    @classmethod
    def parse(cls, specs: list[str] | tuple[str, ...] | None, seed: int = 0) -> FaultPlan:
        return cls([parse_fault(s) for s in specs or () if s.strip()], seed)

    def add(self, spec: str) -> None:
        self.faults.append(parse_fault(spec))

    def clear(self) -> None:
        self.faults.clear()

    def of(self, kind: str) -> list[Fault]:
        return [f for f in self.faults if f.kind == kind]

    def has(self, kind: str) -> bool:
        return any(f.kind == kind for f in self.faults)

    def fires(self, kind: str, index: int, direction: str | None = None) -> Fault | None:
        """The fault of ``kind`` that applies to frame ``index`` (1-based), if any."""
        for f in self.faults:
            if f.kind != kind or not f.scheduled(index):
                continue
            if direction is not None and f.param("dir", "both") not in (direction, "both"):
                continue
            if f.rate is not None and self._rng.random() >= f.rate:
                continue
            self.fired[kind] = self.fired.get(kind, 0) + 1
            return f
        return None

    def random_bit(self, n: int) -> int:
        return int(self._rng.integers(0, max(1, n)))

    def random_bytes(self, n: int) -> bytes:
        return bytes(self._rng.integers(0, 256, n, dtype=np.uint8).tolist())
