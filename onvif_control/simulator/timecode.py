"""A machine-readable capture clock burned into the picture, for glass-to-glass latency.

The simulator can write the wall-clock time of each frame's capture (milliseconds since
the Unix epoch, modulo 2**32) into the top rows of the picture as a row of black and white
blocks, before the frame is encoded. Whoever decodes the picture later (a browser, an
RTSP client) reads the blocks back and compares them with its own clock: on one machine,
one clock, so the difference is the latency from capture to decoded frame
(bench/bench_latency.py).

Layout: ``BITS`` blocks side by side across the full width (32 bits of the time, most
significant first, then an 8-bit check: the sum of the four bytes modulo 256), each block
``width // BITS`` pixels wide and ``band_rows(width)`` tall (at least 16 rows: whole
macroblocks, so H.264 at any sane quality keeps black and white apart). A block is luma
16 (black) or 235 (white), its chroma neutral. The check rejects a half-updated or
misread band instead of reporting a wrong latency.

Off by default (``SimulatedCamera(burn_in_clock=True)``, ``--burn-in-clock``): the band
covers the top of the scene.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

TIME_BITS = 32
CHECK_BITS = 8
BITS = TIME_BITS + CHECK_BITS
MODULUS = 1 << TIME_BITS
BLACK, WHITE, NEUTRAL = 16, 235, 128


def band_rows(width: int) -> int:
    """Rows the band takes: as tall as a block is wide, at least one macroblock (16),
    rounded up to an even number (chroma rows are halves)."""
    rows = max(16, width // BITS)
    return rows + rows % 2


def _check(value: int) -> int:
    return sum(value.to_bytes(4, "big")) % 256


def bits_of(millis: int) -> list[int]:
    """The band's bits for a time in milliseconds: 32 of ``millis mod 2**32``, MSB first,
    then 8 of the check."""
    value = millis % MODULUS
    word = (value << CHECK_BITS) | _check(value)
    return [(word >> (BITS - 1 - i)) & 1 for i in range(BITS)]


def value_of(bits: list[int]) -> int | None:
    """The time (ms modulo 2**32) of the band's bits, or None when the check fails."""
    if len(bits) != BITS:
        return None
    word = 0
    for bit in bits:
        word = (word << 1) | (1 if bit else 0)
    value, check = word >> CHECK_BITS, word & ((1 << CHECK_BITS) - 1)
    return value if _check(value) == check else None


def burn(i420: NDArray[np.uint8], width: int, height: int, millis: int) -> None:
    """Write the band for ``millis`` into an I420 buffer of shape (height * 3 / 2, width)."""
    block = width // BITS
    rows = min(band_rows(width), height)
    flat = i420.reshape(-1)
    luma = flat[: width * height].reshape(height, width)
    luma[:rows, :] = BLACK
    for i, bit in enumerate(bits_of(millis)):
        if bit:
            luma[:rows, i * block : (i + 1) * block] = WHITE
    quarter = width * height // 4
    for start in (width * height, width * height + quarter):
        plane = flat[start : start + quarter].reshape(height // 2, width // 2)
        plane[: rows // 2, :] = NEUTRAL


def read(luma: NDArray[np.uint8]) -> int | None:
    """The time (ms modulo 2**32) burned into a decoded picture's luma (or any one grey
    channel, shape (height, width)), or None when there is no readable band. Each bit is
    the mean of its block's middle, so a few pixels of coding noise do not flip it."""
    height, width = luma.shape[:2]
    block = width // BITS
    rows = min(band_rows(width), height)
    if block < 2:
        return None
    y0, y1 = rows // 4, max(rows // 4 + 1, 3 * rows // 4)
    x_in = max(1, block // 4)
    bits = []
    for i in range(BITS):
        patch = luma[y0:y1, i * block + x_in : (i + 1) * block - x_in]
        bits.append(1 if float(patch.mean()) > (BLACK + WHITE) / 2 else 0)
    return value_of(bits)


def latency_ms(burned: int, now_millis: int) -> int:
    """How many milliseconds before ``now_millis`` a band read as ``burned`` was captured
    (both on the same clock; the modulo wraps every ~49.7 days)."""
    return (now_millis - burned) % MODULUS
