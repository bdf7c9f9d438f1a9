"""The two chunk decoder implementations, for tests that must run under both."""
from __future__ import annotations

import os
from types import ModuleType

import pytest

IMPLEMENTATIONS = ("python", "c")


def decoder_module(name: str) -> ModuleType:
    """The decoder module of one implementation. The C one must be built unless E6DRIVER_NO_EXT=1 says not."""
    if name == "python":
        from e6driver import _decode
        return _decode
    try:
        from e6driver import _cdecode
    except ImportError:
        if os.environ.get("E6DRIVER_NO_EXT") == "1":
            pytest.skip("C decoder disabled by E6DRIVER_NO_EXT=1")
        raise
    return _cdecode
