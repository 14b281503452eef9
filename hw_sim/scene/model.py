"""Scene description: plain data, serialisable to and from JSON scenario files."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

SplashKind = Literal["forensic_liquid", "uv_pen", "brightener"]


@dataclass(frozen=True)
class Label:
    """A printed code on the item: ``symbology`` is a zxing-cpp format name."""

    text: str
    x: int
    y: int
    symbology: str = "Code128"
    module_px: int = 3
    #: "print": black on white, seen under white light; "uv": invisible ink that glows under UV
    ink: Literal["print", "uv"] = "print"


@dataclass(frozen=True)
class Splash:
    """A fluorescent region: a forensic liquid dab, a UV pen stroke, or a brightener look-alike."""

    kind: SplashKind
    cx: int
    cy: int
    rx: int
    ry: int
    strength: float = 1.0


@dataclass(frozen=True)
class Lighting:
    """Lamp output as fractions of full power, as the simulated controller reports it."""

    white: float = 0.0
    uv: float = 0.0


@dataclass(frozen=True)
class Scene:
    """One item on the tray."""

    width: int = 1280
    height: int = 720
    item_box: tuple[int, int, int, int] = (300, 150, 680, 420)
    item_grey: int = 70
    labels: tuple[Label, ...] = ()
    splashes: tuple[Splash, ...] = ()
    #: fluorescent reference patch in the tray corner (always present on a real tray)
    reference_patch: bool = True
    noise_sigma: float = 2.0
    truth: dict[str, object] = field(default_factory=dict, compare=False, hash=False)


def demo_scene() -> Scene:
    """The scene `station serve --sim` starts with: a laptop with a serial label and a dab."""
    return Scene(
        labels=(Label(text="C02XK1ABJGH5", x=380, y=220, symbology="Code128", module_px=3),),
        splashes=(Splash(kind="forensic_liquid", cx=820, cy=470, rx=40, ry=28),),
        truth={"serial": "C02XK1ABJGH5", "marks": ["forensic_liquid"]},
    )
