"""Decoders that fail the way native libraries do, for the decoder-isolation tests.

They live in an importable module because decoder worker processes receive functions by
name, exactly as they receive the real decoders.
"""

from __future__ import annotations

import ctypes
import os
import time

import numpy as np

from station.vision.isolation import InProcess, Outcome


def aborting_decoder(gray: np.ndarray) -> list[object]:
    """A C assertion failing inside the decoder: the process aborts (SIGABRT)."""
    os.abort()


def segfaulting_decoder(gray: np.ndarray) -> list[object]:
    """A wild pointer inside the decoder: the process is killed by SIGSEGV."""
    ctypes.string_at(0)
    return []


def raising_decoder(gray: np.ndarray) -> list[object]:
    """A binding bug surfacing as a Python exception (like pyzbar's orientation ValueError)."""
    raise ValueError("4294967295 is not a valid ZBarOrientation")


def hanging_decoder(gray: np.ndarray) -> list[object]:
    """A decoder caught in a loop: it never answers."""
    time.sleep(3600)
    return []


def pixel_count(gray: np.ndarray) -> int:
    """A well-behaved job: proves the worker (or its replacement) serves the next call."""
    return int(gray.size)


def has_module(name: str) -> bool:
    """Whether a worker process has imported a module (e.g. an OCR model's runtime)."""
    import sys

    return name in sys.modules


def rapidocr_loaded() -> bool:
    """Whether this worker already holds its RapidOCR model (the work a scan then skips)."""
    from station.vision import ocr_engines

    return ocr_engines._rapid is not None


class CountingRunner(InProcess):
    """Runs decoders in this process, counting the calls (a path that must not decode)."""

    def __init__(self) -> None:
        self.calls = 0

    def run(
        self, decoder: str, fn: object, *args: object, timeout: float | None = None
    ) -> Outcome[object]:
        self.calls += 1
        return super().run(decoder, fn, *args)  # type: ignore[arg-type]
