"""The object stores as the engine's users see them: access-checked buckets, and the factory that opens them.

:class:`ObjectStores` (backend + grants + named tables) is what both the gRPC service
(:mod:`mock_server.objects.service`) and the SQL catalogs (:mod:`mock_server.catalogs`) consult.
"""
from __future__ import annotations

import os
import tempfile
from typing import List, Mapping, Optional

from mock_server.objects.grants import BucketGrants
from mock_server.objects.backend import ObjectBackend, not_found
from mock_server.objects.names import check_bucket
from mock_server.objects.store import LocalObjectBackend
from mock_server.objects.tables import NamedTables


class ObjectStores:
    """Backend + grants + named tables."""

    def __init__(self, backend: ObjectBackend, grants: BucketGrants, tables: Optional[NamedTables] = None) -> None:
        self.backend = backend
        self.grants = grants
        self.tables = tables if tables is not None else NamedTables(None)

    def bucket(self, user: str, bucket: str, write: bool = False) -> str:
        """``bucket`` if it exists and ``user`` may read (``write``: write) it; else INVALID_ARGUMENT,
        PERMISSION_DENIED or NOT_FOUND. Without access, a missing bucket is PERMISSION_DENIED too."""
        check_bucket(bucket)
        self.grants.require(user, bucket, write=write)
        if not self.backend.bucket_exists(bucket):
            raise not_found(bucket)
        return bucket

    def visible_buckets(self, user: str) -> List[str]:
        return [b for b in self.backend.buckets() if self.grants.can_read(user, b)]

    def close(self) -> None:
        self.backend.close()


def open_object_stores(data_dir: Optional[str], admin_user: str,
                       s3: Optional[Mapping[str, str]] = None) -> ObjectStores:
    """The server's object stores: on the S3-compatible service ``s3`` (endpoint, access_key, secret_key,
    region) when given, else in DATA_DIR/objects (a temporary directory without ``data_dir``). Grants live
    in DATA_DIR/object_grants.json, named tables in DATA_DIR/object_tables.json (in memory without
    ``data_dir``)."""
    if s3:
        from mock_server.objects.s3 import S3ObjectBackend  # loaded only for an S3-backed server

        backend: ObjectBackend = S3ObjectBackend(spool_root=data_dir, **dict(s3))
    elif data_dir:
        backend = LocalObjectBackend(os.path.join(data_dir, "objects"))
    else:
        backend = LocalObjectBackend(tempfile.mkdtemp(prefix="e6objects-"), temporary=True)
    grants = BucketGrants(os.path.join(data_dir, "object_grants.json") if data_dir else None, admin_user)
    tables = NamedTables(os.path.join(data_dir, "object_tables.json") if data_dir else None)
    return ObjectStores(backend, grants, tables)
