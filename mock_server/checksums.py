"""CRC-32 for every checksum the engine keeps (zlib's polynomial: the values clients and stored objects carry).

:func:`crc32` is zlib-ng's when the ``zlib-ng`` package is installed (the ``server`` extra): the same values as
:func:`zlib.crc32`, about 15 times faster (carry-less multiplication), which matters because every put and get
checksums every byte. :func:`crc32_combine` gives the CRC-32 of concatenated pieces from the pieces' CRC-32s
(zlib's crc32_combine, which Python does not bind): a transfer that checksums its pieces out of order or on
several threads still ends with the whole object's CRC-32 without a second pass over the bytes."""
from __future__ import annotations

import functools
from typing import Tuple

try:
    from zlib_ng.zlib_ng import crc32
except ImportError:  # the same function, slower
    from zlib import crc32

__all__ = ["crc32", "crc32_combine"]


def _times(matrix: Tuple[int, ...], vector: int) -> int:
    """A GF(2) 32x32 matrix (its columns as ints) times a vector."""
    total, column = 0, 0
    while vector:
        if vector & 1:
            total ^= matrix[column]
        vector >>= 1
        column += 1
    return total


def _squared(matrix: Tuple[int, ...]) -> Tuple[int, ...]:
    return tuple(_times(matrix, matrix[n]) for n in range(32))


@functools.lru_cache(maxsize=8)
def _zeros_operator(length: int) -> Tuple[int, ...]:
    """The GF(2) operator that extends a CRC-32 by ``length`` zero bytes (zlib's crc32_combine method); cached:
    every full part has the same length."""
    result = tuple(1 << n for n in range(32))  # identity
    step = (0xEDB88320,) + tuple(1 << n for n in range(31))  # one zero bit
    for _ in range(3):
        step = _squared(step)  # 2, 4, then 8 zero bits: one zero byte
    while length:
        if length & 1:
            result = tuple(_times(step, column) for column in result)
        length >>= 1
        if length:
            step = _squared(step)
    return result


def crc32_combine(crc1: int, crc2: int, length2: int) -> int:
    """The CRC-32 of A+B from crc1 = CRC-32 of A, crc2 = CRC-32 of B and B's length (zlib has no binding for
    it): each part's CRC-32 is computed once, for S3's part checksum, and the object's follows from them."""
    return _times(_zeros_operator(length2), crc1) ^ crc2 if length2 else crc1
