"""Which S3 endpoints get unsigned bodies: only where nobody can alter a body on the way (TLS, loopback); over
plain HTTP to another host the SigV4 signature keeps covering it."""
from __future__ import annotations

import pytest

from mock_server.objects.s3 import _s3_options


@pytest.mark.parametrize("endpoint, unsigned", [
    ("http://127.0.0.1:8333", True),
    ("http://127.5.6.7:8333", True),
    ("http://localhost:9000", True),
    ("http://[::1]:9000", True),
    ("https://s3.example.com", True),
    ("https://10.0.0.5:9000", True),
    ("http://10.0.0.5:9000", False),
    ("http://s3.example.com", False),
    ("http://localhost.example.com", False),
    ("http://128.0.0.1", False),
])
def test_bodies_are_signed_unless_the_way_is_safe(endpoint, unsigned):
    options = _s3_options(endpoint)
    assert options["addressing_style"] == "path"
    assert ("payload_signing_enabled" in options) == unsigned
    assert options.get("payload_signing_enabled", False) is False
