"""zbar through its C API, without pyzbar's symbol post-processing.

pyzbar converts every symbol's orientation into an enum, and zbar reports -1 (unknown) for
some symbols; through pyzbar's unsigned return type that arrives as 4294967295 and the enum
conversion raises ValueError, losing every symbol of the frame. The station never needs the
orientation, so it is not asked for: this module walks zbar's symbol list itself using
pyzbar's ctypes bindings (which locate and load libzbar) and reads only type, data and
location.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from pyzbar import wrapper as zb

#: zbar's image format code for 8-bit grey ("Y800"), as a little-endian FOURCC
_Y800 = int.from_bytes(b"Y800", "little")


@dataclass(frozen=True)
class ZbarSymbol:
    """One symbol as zbar decoded it: its type name (zbar's), raw bytes and outline points."""

    type_name: str
    data: bytes
    points: tuple[tuple[int, int], ...]


def _type_name(value: int) -> str:
    try:
        return zb.ZBarSymbol(value).name
    except ValueError:
        return f"ZBAR_{value}"  # a symbology this pyzbar release has no name for


def scan(gray: np.ndarray, symbols: Iterable[zb.ZBarSymbol] | None = None) -> list[ZbarSymbol]:
    """Every symbol zbar finds in a grey uint8 image; ``symbols`` restricts the symbologies."""
    if gray.dtype != np.uint8 or gray.ndim != 2:
        raise ValueError(f"zbar needs a 2-D uint8 image, got {gray.dtype} {gray.shape}")
    height, width = gray.shape
    pixels = np.ascontiguousarray(gray).tobytes()
    wanted = set(symbols) if symbols is not None else None
    scanner = zb.zbar_image_scanner_create()
    image = zb.zbar_image_create()
    try:
        if wanted is not None:
            for sym in zb.ZBarSymbol:
                on = 1 if sym in wanted else 0
                zb.zbar_image_scanner_set_config(scanner, sym, zb.ZBarConfig.CFG_ENABLE, on)
        zb.zbar_image_set_format(image, _Y800)
        zb.zbar_image_set_size(image, width, height)
        zb.zbar_image_set_data(
            image, ctypes.cast(ctypes.c_char_p(pixels), ctypes.c_void_p), len(pixels), None
        )
        if zb.zbar_scan_image(scanner, image) < 0:
            raise ValueError("zbar refused the image format")
        found: list[ZbarSymbol] = []
        symbol = zb.zbar_image_first_symbol(image)
        while symbol:
            data = ctypes.string_at(
                zb.zbar_symbol_get_data(symbol), zb.zbar_symbol_get_data_length(symbol)
            )
            points = tuple(
                (int(zb.zbar_symbol_get_loc_x(symbol, i)), int(zb.zbar_symbol_get_loc_y(symbol, i)))
                for i in range(zb.zbar_symbol_get_loc_size(symbol))
            )
            found.append(ZbarSymbol(_type_name(symbol.contents.type), data, points))
            symbol = zb.zbar_symbol_next(symbol)
        return found
    finally:
        zb.zbar_image_destroy(image)
        zb.zbar_image_scanner_destroy(scanner)
