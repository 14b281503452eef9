"""Scenarios as data files: items on the tray, the starting state, scripted events, faults."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hw_sim.link import ScriptStep
from hw_sim.scene import Scene
from hw_sim.scene.generate import random_scene

SCENARIO_DIR = Path(__file__).parent / "scenarios"
ACTIONS = ("open_lid", "close_lid", "remove_item", "place_item")


class ScenarioError(ValueError):
    """A scenario name or file cannot be used; the message names the file and the field."""


@dataclass
class Scenario:
    name: str
    description: str = ""
    items: list[Scene] = field(default_factory=list)
    start_item: int | None = 0
    lid_open: bool = False
    script: list[ScriptStep] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)


def available() -> list[str]:
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.json"))


def scene_from_dict(d: dict[str, Any]) -> Scene:
    """A Scene from its JSON form, or ``{"random_seed": N}`` for a generated item."""
    if "random_seed" in d:
        extra = set(d) - {"random_seed"}
        if extra:
            raise ScenarioError(f"a random item takes only random_seed, not {sorted(extra)}")
        return random_scene(int(d["random_seed"]))
    return Scene.from_json(d)


def load_scenario(name_or_path: str | Path) -> Scenario:
    """A bundled scenario by name (``demo``) or a JSON file path."""
    path = Path(name_or_path)
    if not path.suffix:
        path = SCENARIO_DIR / f"{name_or_path}.json"
    if not path.is_file():
        raise ScenarioError(
            f"scenario {str(name_or_path)!r} not found; bundled scenarios: {', '.join(available())}"
        )
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ScenarioError(f"scenario file {path} is not valid JSON: {exc}") from exc
    try:
        items = [scene_from_dict(d) for d in raw.get("items", [])]
        start = raw.get("start", {})
        start_item = start.get("item", 0 if items else None)
        if start_item is not None and not 0 <= int(start_item) < len(items):
            raise ScenarioError(f"scenario {path}: start.item {start_item} is not an item index")
        script = []
        for step in raw.get("script", []):
            action = str(step["action"])
            if action.partition(":")[0] not in ACTIONS:
                raise ScenarioError(f"scenario {path}: unknown action {action!r}; use {ACTIONS}")
            script.append(ScriptStep(int(step["at_frame"]), action))
        return Scenario(
            name=str(raw.get("name", path.stem)),
            description=str(raw.get("description", "")),
            items=items,
            start_item=None if start_item is None else int(start_item),
            lid_open=start.get("lid", "closed") == "open",
            script=script,
            faults=[str(f) for f in raw.get("faults", [])],
        )
    except ScenarioError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise ScenarioError(f"scenario {path}: bad field ({exc!r})") from exc
