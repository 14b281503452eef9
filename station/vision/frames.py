"""The frames one check captures, as the vision pipeline receives them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from station.errors import ImageInputError


@dataclass(frozen=True)
class CaptureFrames:
    """White, UV and dark (lamps off) frames of one item, all BGR uint8 of one size.

    ``uv_long`` is an optional longer UV exposure that lifts faint marks out of the noise.
    """

    white: np.ndarray
    uv: np.ndarray | None = None
    dark: np.ndarray | None = None
    uv_long: np.ndarray | None = None

    def validate(self) -> None:
        """Refuse frames the pipeline cannot compare pixel for pixel."""
        _check_frame("white", self.white)
        shape = self.white.shape
        for name in ("uv", "dark", "uv_long"):
            frame = getattr(self, name)
            if frame is None:
                continue
            _check_frame(name, frame)
            if frame.shape != shape:
                raise ImageInputError(
                    f"{name} frame is {frame.shape[1]}x{frame.shape[0]} but the white frame is "
                    f"{shape[1]}x{shape[0]}; all frames of one capture must have the same size"
                )


def _check_frame(name: str, frame: np.ndarray) -> None:
    if not isinstance(frame, np.ndarray):
        raise ImageInputError(f"{name} frame is not an image array")
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ImageInputError(
            f"{name} frame must be 8-bit BGR (HxWx3 uint8), got {frame.dtype} {frame.shape}"
        )
    if frame.shape[0] < 1 or frame.shape[1] < 1:
        raise ImageInputError(f"{name} frame is empty ({frame.shape[1]}x{frame.shape[0]})")
