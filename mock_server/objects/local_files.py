"""Object puts and gets of same-host transfers (:mod:`mock_server.local_transfer`): the client hands over its
own open files, and content moves between them and the store by the kernel.

A put reads the client's file (opened for reading; its size when the request arrives) into the spool and
publishes it like any put: CRC-32 computed from the spool, fsynced, renamed atomically, etag and CRC recorded.
A get writes the object into the client's file (empty, opened for writing, not appending) and checks the
content it copied against the CRC-32 recorded when the object was stored: a damaged object is DATA_LOSS, and
the client discards its file. Every descriptor is checked before use (a regular file, the access the
operation needs), so no client can make the engine block on a pipe, read a device or write past an object.
The keys of a request go to the backend's ``put_files`` together, each its own atomic put (local buckets:
:mod:`mock_server.objects.local_puts`, one sync for their content and one for their names). A backend whose
objects are not local files (S3) moves them through its own uploads and reads, still without gRPC messages: a
put's parts read straight from the client's file, a get's ranges written straight into it
(:meth:`~mock_server.objects.backend.ObjectBackend.read_into`).
"""
from __future__ import annotations

import errno
import logging
import os
from typing import Any, List, Set, Tuple

import grpc

from e6driver._proto import e6driver_local_pb2 as local_pb
from mock_server.errors import EngineError
from mock_server.limits import Limits, exceeded
from mock_server.local_transfer import checked_descriptor, result_error
from mock_server.objects.batch import info_message
from mock_server.objects.buckets import ObjectStores
from mock_server.objects.copies import copy_with_crc
from mock_server.objects.backend import FilePut, ObjectInfo, checked_read, not_found
from mock_server.objects.names import check_key, guess_content_type

log = logging.getLogger(__name__)


def _result_error(exc: BaseException, what: str) -> Any:
    """A key's failure: the engine's error, or an OSError told by its errno alone (never a server path)."""
    if isinstance(exc, OSError):
        code = grpc.StatusCode.RESOURCE_EXHAUSTED if exc.errno in (errno.ENOSPC, errno.EDQUOT) \
            else grpc.StatusCode.FAILED_PRECONDITION
        exc = EngineError(code, f"{what}: {os.strerror(exc.errno) if exc.errno else type(exc).__name__}")
    return result_error(exc)


class LocalFiles:
    """The ``put`` and ``get`` handlers of same-host transfers for one engine's object stores."""

    def __init__(self, stores: ObjectStores, limits: Limits) -> None:
        self.stores, self.limits = stores, limits
        self.backend = stores.backend

    def handlers(self) -> dict:
        return {"put": self.put, "get": self.get}

    def put(self, request: Any, fds: List[int], user: str) -> List[Any]:
        """Each key's put, its own atomic put; all durable before the answer (the backend's put_files)."""
        bucket = self.stores.bucket(user, request.bucket, write=True)
        results: List[Any] = [None] * len(fds)
        files: List[Tuple[int, FilePut]] = []
        for index, (key, fd) in enumerate(zip(request.keys, fds)):
            try:
                check_key(key)
                size = checked_descriptor(fd, write=False).st_size
                if size > self.limits.max_object_bytes:
                    raise exceeded(self.limits, "max_object_bytes", f"object {key!r} in bucket {bucket!r}")
                content_type = request.content_types[index] if index < len(request.content_types) else ""
                files.append((index, FilePut(key, fd, size, content_type or guess_content_type(key))))
            except (EngineError, OSError) as exc:
                results[index] = _result_error(exc, f"put of {key!r}")
        outcomes = self.backend.put_files(bucket, [item for _, item in files], request.if_absent) if files else []
        for (index, item), outcome in zip(files, outcomes):
            results[index] = local_pb.LocalResult(info=info_message(outcome)) if isinstance(outcome, ObjectInfo) \
                else _result_error(outcome, f"put of {item.key!r}")
        log.info("same-host put into %s by %s: %d of %d stored", bucket, user,
                 sum(1 for r in results if not r.code), len(fds))
        return results

    def get(self, request: Any, fds: List[int], user: str) -> List[Any]:
        bucket = self.stores.bucket(user, request.bucket)
        results = []
        verified: Set[str] = set()  # directories checked for links once per request
        for key, fd in zip(request.keys, fds):
            try:
                info = self._get_one(bucket, check_key(key), fd, verified)
                results.append(local_pb.LocalResult(info=info_message(info)))
            except (EngineError, OSError) as exc:
                results.append(_result_error(exc, f"get of {key!r}"))
        return results

    def _get_one(self, bucket: str, key: str, fd: int, verified: Set[str]) -> ObjectInfo:
        if checked_descriptor(fd, write=True).st_size:
            raise EngineError(grpc.StatusCode.INVALID_ARGUMENT, "the file handed over for a get is not empty")
        try:
            opened = self.backend.open_object(bucket, key, verified)
        except NotImplementedError:  # not a local file (S3): the backend writes it into the client's file
            return self.backend.read_into(bucket, key, fd)
        if opened is None:
            raise not_found(bucket, key)
        source, info = opened
        try:
            copied, crc = copy_with_crc(source, fd, info.size, checksummed=source)
        finally:
            os.close(source)
        if copied != info.size:
            raise EngineError(grpc.StatusCode.DATA_LOSS, f"object {key!r} in bucket {bucket!r} is shorter than "
                              "recorded")
        return checked_read(info, copied, crc)
