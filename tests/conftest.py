"""Session-wide test configuration: the report header names the decoder implementation under test."""
import os


def pytest_report_header(config):
    try:
        import e6driver

        impl = getattr(e6driver, "__impl__", "unknown")
    except Exception as exc:  # noqa: BLE001 - the header must never break collection
        impl = f"import failed: {exc!r}"
    return f"e6driver decoder: {impl} (E6DRIVER_IMPL={os.environ.get('E6DRIVER_IMPL', 'unset')})"


import pytest  # noqa: E402

from decoders import IMPLEMENTATIONS, decoder_module  # noqa: E402


@pytest.fixture(params=IMPLEMENTATIONS)
def decoder(request):
    """Every decoding test runs once per implementation."""
    return decoder_module(request.param)
