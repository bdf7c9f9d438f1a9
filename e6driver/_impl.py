"""The one place that chooses the chunk decoder: the Cython twin when built, else the pure-Python one.

``E6DRIVER_IMPL=c`` or ``python`` forces a choice; forcing ``c`` without a built extension is an ImportError.
"""
from __future__ import annotations

import logging
import os
from types import ModuleType

log = logging.getLogger("e6driver")


def _select() -> "tuple[str, ModuleType]":
    wanted = os.environ.get("E6DRIVER_IMPL", "").strip().lower()
    if wanted not in ("", "c", "python"):
        raise ImportError(f"E6DRIVER_IMPL must be 'c' or 'python', not {wanted!r}")
    if wanted != "python":
        try:
            from . import _cdecode  # type: ignore[attr-defined]
            return "c", _cdecode
        except ImportError as exc:
            if wanted == "c":
                raise ImportError(f"E6DRIVER_IMPL=c but the C decoder e6driver._cdecode is not built: {exc}") \
                    from exc
            log.warning("e6driver C decoder (e6driver._cdecode) is not built; using the pure-Python decoder")
    from . import _decode
    return "python", _decode


IMPL, decoder = _select()
from . import _decode as _python_decoder  # noqa: E402

_python_decoder.string_buffers = decoder.string_list_buffers  # columnar parsing uses the same implementation
decode_chunk = decoder.decode_chunk
decode_chunk_columns = decoder.decode_chunk_columns
