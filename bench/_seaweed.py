"""SeaweedFS for the benchmarks: the S3 tests' launcher (tests/seaweedfs.py), so both start it one way."""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "tests"))

from seaweedfs import ACCESS_KEY, SECRET_KEY, s3_client, seaweed  # noqa: E402

__all__ = ["ACCESS_KEY", "SECRET_KEY", "s3_client", "seaweed"]
