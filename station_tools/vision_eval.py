"""`station eval vision`: the whole vision evaluation as one call, printed as tables.

Three parts, each optional: generated scenes against ground truth (marks per class, codes
per symbology, OCR), folders of real photographs (found/expected per symbology for the
station's combined reader and for zxing-cpp and pyzbar alone, in the same run), and the
median vision time per capture at given frame sizes.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hw_sim.scene import build_layers
from hw_sim.scene.generate import random_scene
from station.errors import InputError
from station.settings import VisionSettings
from station.vision.pipeline import read_item
from station_tools.photo_eval import format_table, score
from station_tools.scene_eval import capture, evaluate_scenes, format_report

#: frame sizes the speed targets are set for (1080p camera, 12 Mpx Raspberry Pi HQ camera)
SPEED_SIZES: tuple[tuple[int, int], ...] = ((1920, 1080), (4056, 3040))


def measure_speed(
    sizes: Sequence[tuple[int, int]] = SPEED_SIZES,
    captures: int = 9,
    seed: int = 5000,
    settings: VisionSettings | None = None,
) -> dict[str, dict[str, float]]:
    """Median milliseconds of ``read_item`` (and of each stage) per frame size."""
    cfg = settings or VisionSettings()
    out: dict[str, dict[str, float]] = {}
    # a station reads item after item: its decoder workers and OCR model are already loaded
    warm = random_scene(seed - 1, 640, 480)
    read_item(capture(warm, build_layers(warm), np.random.default_rng(0)), cfg)
    for w, h in sizes:
        stages: dict[str, list[float]] = {}
        for k in range(captures):
            scene = random_scene(seed + k, w, h)
            frames = capture(scene, build_layers(scene), np.random.default_rng(seed + k))
            t0 = time.perf_counter()
            result = read_item(frames, cfg)
            stages.setdefault("wall", []).append((time.perf_counter() - t0) * 1000.0)
            for name, ms in result.timings_ms.items():
                stages.setdefault(name, []).append(ms)
        out[f"{w}x{h}"] = {k: round(statistics.median(v), 1) for k, v in stages.items()}
    return out


def measure_render(
    sizes: Sequence[tuple[int, int]] = ((1280, 720), (1920, 1080)), frames: int = 30
) -> dict[str, float]:
    """Median milliseconds per simulated camera frame (hw_sim.scene.render) per size."""
    from hw_sim.scene import Lighting, render

    out: dict[str, float] = {}
    for w, h in sizes:
        scene = random_scene(77, w, h)
        layers = build_layers(scene)
        rng = np.random.default_rng(0)
        times = []
        for i in range(frames):
            lighting = Lighting(white=1.0) if i % 2 else Lighting(uv=0.8)
            t0 = time.perf_counter()
            render(layers, lighting, 20.0, 1.0, rng, scene.noise_sigma)
            times.append((time.perf_counter() - t0) * 1000.0)
        out[f"{w}x{h}"] = round(statistics.median(times), 2)
    return out


def format_speed(speed: dict[str, dict[str, float]], title: str) -> str:
    stages = sorted({s for v in speed.values() for s in v} - {"wall", "total"})
    lines = [
        title,
        f"{'frame':12s}{'median ms':>10s}  stages (median ms; zbar/ocr run in parallel)",
    ]
    for size, v in speed.items():
        detail = ", ".join(f"{s} {v[s]:.0f}" for s in stages if s in v)
        lines.append(f"{size:12s}{v['wall']:10.1f}  {detail}")
    return "\n".join(lines)


def run_eval(
    photo_dirs: Sequence[Path] = (),
    scenes: int = 500,
    seed: int = 1000,
    speed: bool = True,
    out: Callable[[str], None] = print,
    settings: VisionSettings | None = None,
    ocr_labels: int = 0,
    ocr_seed: int = 9000,
    scene_ocr: bool = True,
    speed_captures: int = 9,
    photo_tables: bool = True,
    ocr_hri: bool = True,
) -> dict[str, Any]:
    """Run the evaluation, print its tables through ``out``, return the numbers as JSON-able.

    ``photo_dirs`` are folders in the layout of the shared test photographs (one folder per
    symbology, NAME.png with NAME.txt). Raises InputError when a folder does not exist.
    """
    cfg = settings or VisionSettings()
    summary: dict[str, Any] = {}
    for d in photo_dirs:
        if not Path(d).is_dir():
            raise InputError(f"{d}: not a folder of photographs")
    if scenes > 0:
        t0 = time.perf_counter()
        scene_cfg = cfg if scene_ocr else cfg.model_copy(update={"ocr_enabled": False})
        report = evaluate_scenes(scenes, seed=seed, settings=scene_cfg)
        out(format_report(report))
        out(f"(scene evaluation took {time.perf_counter() - t0:.0f} s)\n")
        summary["scenes"] = {
            "count": report.scenes,
            "marking_recall": report.markings.recall,
            "false_marks_per_scene": report.false_marks / max(1, report.scenes),
            "mark_classes": {
                k: {"recall": c.recall, "precision": c.precision}
                for k, c in report.mark_classes.items()
            },
            "codes": {
                k: {
                    "expected": c.expected,
                    "found": c.found,
                    "reported": c.reported,
                    "correct": c.correct,
                }
                for k, c in report.codes.items()
            },
            "wrong_code_reads": report.wrong_codes,
            "ocr": {
                k: {
                    "expected": c.expected,
                    "found": c.found,
                    "reported": c.reported,
                    "correct": c.correct,
                }
                for k, c in report.ocr.items()
            },
            "ocr_wrong": report.ocr_wrong,
        }
    photos: dict[str, Any] = {}
    for d in photo_dirs if photo_tables else ():
        table, unreadable = score(Path(d))
        out(format_table(table, f"real photographs: {d}"))
        if unreadable:
            out("images the station refused (counted nowhere):")
            for u in unreadable:
                out(f"  {u}")
        out("")
        photos[str(d)] = {
            reader: {
                sym: {"images": t.images, "found": t.found, "wrong": t.wrong}
                for sym, t in per_sym.items()
            }
            for reader, per_sym in table.items()
        }
    if photos:
        summary["photographs"] = photos
    if ocr_labels > 0:
        from station_tools.ocr_eval import evaluate_labels, format_ocr, ocr_summary

        table_l = evaluate_labels(ocr_labels, seed=ocr_seed)
        out(
            format_ocr(
                table_l, f"OCR on {ocr_labels} generated label photographs (seeds {ocr_seed}+)"
            )
        )
        out("")
        summary["ocr_labels"] = ocr_summary(table_l)
    if ocr_hri:
        from station_tools.ocr_eval import evaluate_hri, format_ocr, ocr_summary

        for d in photo_dirs:
            table_h = evaluate_hri(Path(d))
            out(format_ocr(table_h, f"OCR of the printed line under 1D barcodes: {d}"))
            out("")
            summary.setdefault("ocr_hri", {})[str(d)] = ocr_summary(table_h)
    if speed:
        timings = measure_speed(captures=speed_captures, settings=cfg)
        out(
            format_speed(
                timings,
                f"vision time per capture (white + UV + dark frames, OCR by {cfg.ocr_engine})",
            )
        )
        other = "tesseract" if cfg.ocr_engine == "rapidocr" else "rapidocr"
        alt = measure_speed(
            captures=speed_captures, settings=cfg.model_copy(update={"ocr_engine": other})
        )
        out(format_speed(alt, f"the same with OCR by {other}"))
        no_ocr = measure_speed(
            captures=speed_captures, settings=cfg.model_copy(update={"ocr_enabled": False})
        )
        out(format_speed(no_ocr, "the same without OCR"))
        render_ms = measure_render()
        out(
            "simulated camera frame (render), median ms: "
            + ", ".join(f"{k} {v:.1f}" for k, v in render_ms.items())
        )
        summary["speed_ms"] = {
            "with_ocr": timings,
            f"with_{other}": alt,
            "without_ocr": no_ocr,
            "render": render_ms,
        }
    return summary


def eval_command(photos: Sequence[Path], scenes: int = 0, seed: int = 1000) -> None:
    """`station eval vision`: photograph tables and/or the scene report, printed.

    Raises InputError (the CLI prints it) when there is nothing to do or a folder is missing.
    """
    if not photos and scenes <= 0:
        raise InputError("give a folder of photographs and/or --scenes N")
    for folder in photos:
        if not Path(folder).is_dir():
            raise InputError(f"{folder} is not a folder of photographs")
        table, unreadable = score(Path(folder))
        print(format_table(table, f"real photographs in {folder}"))
        for problem in unreadable:
            print(f"  unreadable: {problem}")
    if scenes > 0:
        print(format_report(evaluate_scenes(scenes, seed=seed)))
