"""The etag the local object store gives content it wrote, written independently of the engine's
``mock_server.objects.backend.local_etag``: a change of the format fails the tests that use it."""
import zlib


def stored_etag(data: bytes) -> str:
    return f"{zlib.crc32(data):08x}-{len(data):x}"
