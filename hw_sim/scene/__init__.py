"""Synthetic tray scenes: what the simulated camera sees under white and UV light.

A scene is data (labels, fluorescent splashes, the reference patch); ``render`` turns it into
a camera frame for a given lighting, exposure and gain. Rendering is pure given its inputs and
``rng``, so tests and benchmarks are reproducible.
"""

from hw_sim.scene.model import Label, Lighting, Scene, Splash, demo_scene
from hw_sim.scene.render import SceneLayers, build_layers, render

__all__ = [
    "Label",
    "Lighting",
    "Scene",
    "SceneLayers",
    "Splash",
    "build_layers",
    "demo_scene",
    "render",
]
