"""Scenario files, fault specs, and the standalone runner behind `station sim`."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from hw_sim.clock import ManualClock
from hw_sim.controller import SimController
from hw_sim.faults import FaultPlan, FaultSpecError, parse_fault
from hw_sim.link import FaultyLink
from hw_sim.runner import serve_forever
from hw_sim.scenario import ScenarioError, available, load_scenario
from hw_sim.world import World
from station.devices.camera import open_camera
from station.devices.codec import WireFrame, encode
from station.devices.lamp import LampController
from station.settings import DeviceSettings


def test_bundled_scenarios_load() -> None:
    assert {"demo", "empty", "property_store", "random_items"} <= set(available())
    store = load_scenario("property_store")
    assert len(store.items) == 3 and store.items[0].labels[1].ink == "uv"
    assert store.items[1].pen_marks[0].text == "12 AB1 2CD"
    generated = load_scenario("random_items")
    assert len(generated.items) == 5 and generated.items[0] != generated.items[1]
    assert generated.items[0] == load_scenario("random_items").items[0]  # reproducible
    assert [s.action for s in store.script][:3] == ["open_lid", "place_item:1", "close_lid"]


def test_scenario_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"bundled scenarios: .*demo"):
        load_scenario("no-such-scenario")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ScenarioError, match="not valid JSON"):
        load_scenario(bad)
    bad.write_text(json.dumps({"items": [], "script": [{"at_frame": 1, "action": "explode"}]}))
    with pytest.raises(ScenarioError, match="unknown action 'explode'"):
        load_scenario(bad)
    bad.write_text(json.dumps({"items": [{"labels": [{"txt": "x"}]}]}))
    with pytest.raises(ScenarioError, match="bad field"):
        load_scenario(bad)
    bad.write_text(json.dumps({"items": [{"random_seed": 1, "labels": []}]}))
    with pytest.raises(ScenarioError, match="only random_seed"):
        load_scenario(bad)


@pytest.mark.parametrize("name", ["demo", "property_store", "random_items"])
def test_every_bundled_item_renders(name: str) -> None:
    from hw_sim.scene import Lighting, build_layers, render

    for item in load_scenario(name).items:
        layers = build_layers(item)
        image = render(layers, Lighting(white=0.8), 8.0, 1.0, np.random.default_rng(0))
        assert image.shape == (item.height, item.width, 3) and image.std() > 5


def test_script_steps_fire_at_host_frame_numbers() -> None:
    scenario = load_scenario("property_store")
    world = World(ManualClock())
    world.place_item(scenario.items[0])
    fw = SimController(world)
    link = FaultyLink(
        fw, world, FaultPlan(), scenario.script, lambda i: world.place_item(scenario.items[i])
    )
    for seq in range(1, 201):
        link.from_host(encode(WireFrame("C", seq, "PING")))
    assert world.lid_open and world.item is scenario.items[0]
    link.from_host(encode(WireFrame("C", 201, "PING")))
    link.from_host(encode(WireFrame("C", 202, "PING")))
    assert not world.lid_open and world.item is scenario.items[1]


@pytest.mark.parametrize(
    "spec, message",
    [
        ("explode", "unknown fault 'explode'"),
        ("drop:at", "not key=value"),
        ("drop:at=x", "invalid literal"),
        ("corrupt:rate=2", "between 0 and 1"),
        ("after_reply:at=2,do=explode", "do= must be one of"),
    ],
)
def test_bad_fault_specs(spec: str, message: str) -> None:
    with pytest.raises(FaultSpecError, match=message):
        parse_fault(spec)


@pytest.mark.parametrize(
    "action, events",
    [
        ("open_lid", [b"WATCHDOG reason=lid", b"LID state=open"]),
        ("lease", [b"WATCHDOG reason=lease"]),
        ("reset", [b"BOOT boot="]),
    ],
)
def test_after_reply_sends_the_reply_and_its_events_in_one_write(
    action: str, events: list[bytes]
) -> None:
    world = World(ManualClock())
    fw = SimController(world)
    link = FaultyLink(fw, world, FaultPlan.parse([f"after_reply:at=2,do={action}"]))
    link.from_host(encode(WireFrame("C", 1, "HELLO", {"proto": "1.0", "host": "t"})))
    link.poll()
    link.due()  # boot banner, BOOT event and the HELLO reply: separate writes
    link.from_host(encode(WireFrame("C", 2, "LAMP", {"white": "40", "uv": "0", "lease": "800"})))
    link.poll()
    chunks = link.due()
    assert len(chunks) == 1, chunks
    frames = [f for f in chunks[0].data.split(b"\r\n") if f.startswith(b"$")]
    assert frames[0].startswith(b"$R2 OK white=40")
    for frame, event in zip(frames[1:], events, strict=True):
        assert event in frame
    assert fw.white == 0
    link.from_host(encode(WireFrame("C", 3, "PING")))
    link.poll()
    assert len(link.due()) == 1  # later output is back to one write per frame


def test_fault_schedule_is_by_frame_number_and_seeded() -> None:
    plan = FaultPlan.parse(["drop:at=3", "corrupt:from=5,count=2"])
    assert [i for i in range(1, 10) if plan.fires("drop", i)] == [3]
    assert [i for i in range(1, 10) if plan.fires("corrupt", i)] == [5, 6]
    a = FaultPlan.parse(["drop:rate=0.3"], seed=9)
    b = FaultPlan.parse(["drop:rate=0.3"], seed=9)
    assert [bool(a.fires("drop", i)) for i in range(50)] == [
        bool(b.fires("drop", i)) for i in range(50)
    ]


def test_serve_forever_reports_port_and_camera_then_stops() -> None:
    ready: dict[str, str] = {}
    got = threading.Event()
    stop = threading.Event()

    def on_ready(port: str, camera: str) -> None:
        ready.update(port=port, camera=camera)
        got.set()

    thread = threading.Thread(
        target=serve_forever, args=("demo", (), on_ready), kwargs={"stop": stop}
    )
    thread.start()
    try:
        assert got.wait(5)
        settings = DeviceSettings(reply_timeout_s=0.1)
        with LampController.connect(ready["port"], settings) as ctl:
            acked = ctl.set_lamps(80, 0)
            frame = open_camera(ready["camera"], settings).capture(acked + 0.06, 8, 1.0)
            assert frame.metadata["lighting"]["white"] == pytest.approx(0.8)
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()
    assert not Path(ready["port"]).exists()
