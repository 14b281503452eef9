"""Byte tables and constants the compiled kernels and the uncompiled look-up share (no numba)."""

from __future__ import annotations

import numpy as np

from station.matcher.normalise import CONFUSIONS

#: identifiers up to this length are verified from the posting (6 bits a character)
PACKED_CHARS = 20
#: characters per prefix/suffix sort key: 37**12 < 2**63
KEY_CHARS = 12


def signature_bits() -> np.ndarray:
    """6-bit code -> its class bit: one class per digit, six shared by the letters."""
    bits = np.zeros(64, dtype=np.uint64)
    for code in range(1, 37):
        bits[code] = 1 << (code - 1 if code <= 10 else 10 + code % 6)
    return bits


def fold_table() -> np.ndarray:
    """Byte -> canonical byte (confusable letters onto their digit, everything else kept)."""
    table = np.arange(256, dtype=np.uint8)
    for letter, digit in CONFUSIONS.items():
        table[ord(letter)] = ord(digit)
    return table


def pack_codes() -> np.ndarray:
    """Byte -> 6-bit code of its canonical character (1..36); 0 marks anything else."""
    codes = np.zeros(256, dtype=np.uint8)
    for i, c in enumerate("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"):
        codes[ord(c)] = i + 1
    return codes[fold_table()]


def key_codes() -> np.ndarray:
    """Byte -> 1..36 sort code of its canonical character (0 pads short identifiers)."""
    codes = np.full(256, 36, dtype=np.uint64)
    for i, c in enumerate("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"):
        codes[ord(c)] = i + 1
    fold = fold_table()
    return codes[fold]
