"""Scene description: plain data, serialisable to and from JSON scenario files."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

SplashKind = Literal["forensic_liquid", "uv_pen", "brightener"]
ConfounderKind = Literal["paper", "fabric", "lint", "glare"]


@dataclass(frozen=True)
class Label:
    """A printed code on the item: ``symbology`` is a zxing-cpp format name.

    ``ink="print"`` is black on white, seen under white light; ``ink="uv"`` is invisible ink
    that glows under UV (the marking kit's code labels). ``caption`` is printed under the code
    (e.g. ``"S/N C02XK1ABJGH5"``); ``gs1`` encodes ``text`` as a GS1 element string written
    with AIs in brackets, e.g. ``"(01)09504000059101(21)SN123"``.

    UV ink only: ``ink_colour`` is the ink's emission (see ``UV_INK_BGR``), ``glow`` its
    strength; ``ground`` what it is printed on ("label": matt label stock that does not glow,
    "white_paper": paper with optical brightener that glows blue-white itself, "item": straight
    onto the item); ``bleed_px`` how far the ink spreads into the paper; ``tilt`` how far the
    label leans out of the tray plane (0..0.3, foreshortening one side); ``inverse`` prints
    the ground and leaves the modules bare (a flood-printed label).
    """

    text: str
    x: int
    y: int
    symbology: str = "Code128"
    module_px: int = 3
    ink: Literal["print", "uv"] = "print"
    angle: float = 0.0
    caption: str = ""
    gs1: bool = False
    ink_colour: str = "blue"
    glow: float = 1.0
    ground: Literal["label", "white_paper", "item"] = "label"
    bleed_px: float = 0.0
    tilt: float = 0.0
    inverse: bool = False


@dataclass(frozen=True)
class TextLabel:
    """Printed text (a serial plate, an IMEI sticker) for OCR, black on a white label."""

    lines: tuple[str, ...]
    x: int
    y: int
    scale: float = 1.0
    angle: float = 0.0


@dataclass(frozen=True)
class PenMark:
    """Text written with a UV pen (house number + postcode): invisible under white light."""

    text: str
    x: int
    y: int
    scale: float = 1.2
    thickness: int = 3
    strength: float = 1.0
    angle: float = 0.0


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
class Confounder:
    """Something that glows or shines but is not a marking.

    paper/fabric: large diffuse blue-white brightener glow (fabric has a weave);
    lint: thin brightener fibres; glare: a specular highlight of the lamps.
    """

    kind: ConfounderKind
    x: int
    y: int
    w: int
    h: int
    strength: float = 1.0
    seed: int = 0


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
    texts: tuple[TextLabel, ...] = ()
    pen_marks: tuple[PenMark, ...] = ()
    confounders: tuple[Confounder, ...] = ()
    #: fluorescent reference patch in the tray corner (always present on a real tray)
    reference_patch: bool = True
    noise_sigma: float = 2.0
    #: camera defocus (Gaussian sigma, pixels)
    blur_sigma: float = 0.0
    #: corner displacement of the perspective warp, as a fraction of the frame size
    perspective: float = 0.0
    perspective_seed: int = 0
    #: item colour as BGR 0..255 (overrides item_grey when given)
    item_bgr: tuple[int, int, int] | None = None
    #: UV lamp falloff: the glow at the far edge of the lamp's cone is (1 - uv_falloff) of
    #: the glow at its centre, which sits off-centre by ``uv_falloff_seed``
    uv_falloff: float = 0.0
    uv_falloff_seed: int = 0
    truth: dict[str, object] = field(default_factory=dict, compare=False, hash=False)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Scene:
        """Inverse of :meth:`to_json`; unknown keys are an error so typos do not pass."""
        d = dict(doc)
        d["labels"] = tuple(Label(**x) for x in d.get("labels", ()))
        d["splashes"] = tuple(Splash(**x) for x in d.get("splashes", ()))
        d["texts"] = tuple(
            TextLabel(**{**x, "lines": tuple(x["lines"])}) for x in d.get("texts", ())
        )
        d["pen_marks"] = tuple(PenMark(**x) for x in d.get("pen_marks", ()))
        d["confounders"] = tuple(Confounder(**x) for x in d.get("confounders", ()))
        if "item_box" in d:
            d["item_box"] = tuple(d["item_box"])
        if d.get("item_bgr") is not None:
            d["item_bgr"] = tuple(d["item_bgr"])
        return cls(**d)


def demo_scene() -> Scene:
    """The scene `station serve --sim` starts with: a laptop with a serial label and a dab."""
    return Scene(
        labels=(Label(text="C02XK1ABJGH5", x=380, y=220, symbology="Code128", module_px=3),),
        splashes=(Splash(kind="forensic_liquid", cx=820, cy=470, rx=40, ry=28),),
        truth={"serial": "C02XK1ABJGH5", "marks": ["forensic_liquid"]},
    )
