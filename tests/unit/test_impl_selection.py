"""Choosing the decoder implementation at import: E6DRIVER_IMPL forces one, a forced but missing C decoder is an
ImportError, and without the variable a missing C decoder falls back to the pure-Python one with a warning.
Each case imports e6driver in a fresh interpreter."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from decoders import decoder_module

BLOCK_C = "import sys; sys.modules['e6driver._cdecode'] = None\n"  # makes `from . import _cdecode` an ImportError
REPORT = "import e6driver; print(e6driver.__impl__, e6driver.decode_chunk.__module__)"


def run(code: str, impl: "str | None") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "E6DRIVER_IMPL"}
    if impl is not None:
        env["E6DRIVER_IMPL"] = impl
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def c_built():
    decoder_module("c")  # skips when E6DRIVER_NO_EXT=1 says the extension is deliberately absent


def test_python_forced():
    result = run(REPORT, "python")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["python", "e6driver._decode"]


def test_c_forced(c_built):
    result = run(REPORT, "c")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["c", "e6driver._cdecode"]


@pytest.mark.parametrize("impl", ["C", " python "])
def test_value_is_case_and_space_insensitive(c_built, impl):
    result = run(REPORT, impl)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == impl.strip().lower()


def test_default_prefers_c_when_built(c_built):
    for impl in (None, ""):
        result = run(REPORT, impl)
        assert result.returncode == 0, result.stderr
        assert result.stdout.split()[0] == "c"


def test_bogus_value_is_an_import_error():
    result = run(REPORT, "bogus")
    assert result.returncode != 0
    assert "ImportError" in result.stderr and "bogus" in result.stderr


def test_forced_c_without_the_extension_is_an_import_error():
    result = run(BLOCK_C + REPORT, "c")
    assert result.returncode != 0
    assert "ImportError" in result.stderr and "E6DRIVER_IMPL=c" in result.stderr


def test_missing_extension_falls_back_to_python_with_a_warning():
    result = run(BLOCK_C + REPORT, None)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["python", "e6driver._decode"]
    assert "C decoder" in result.stderr and "pure-Python" in result.stderr  # the warning, whatever its wording


def test_forced_python_never_imports_the_extension():
    result = run(REPORT + "; import sys; print('e6driver._cdecode' in sys.modules)", "python")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["python", "e6driver._decode", "False"]
