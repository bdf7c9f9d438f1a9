"""CRC-32 of what the driver sends and receives (zlib's polynomial: the values the engine records and checks).

zlib-ng's when the ``zlib-ng`` package is installed (the ``server`` and ``fast`` extras): the same values as
:func:`zlib.crc32`, about 15 times faster, which matters because every byte of a put or get is checksummed.
"""
from __future__ import annotations

try:
    from zlib_ng.zlib_ng import crc32
except ImportError:  # the same function, slower
    from zlib import crc32

__all__ = ["crc32"]
