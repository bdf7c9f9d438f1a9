"""Many small objects per call (PutBatch / GetBatch of protos/e6driver_stores.proto).

One call authenticates and checks the bucket once, then moves whole objects several per message. A put batch
checks each object as it arrives (key, size limit, CRC-32, MD5 when sent) and stores them in groups through
the backend's ``put_files``: each is still its own atomic put (spooled, made durable, renamed), the group's
objects synced together. One object's failure (bad key, checksum, a key under another object...) is
reported in its result; the others go on.
"""
from __future__ import annotations

import hashlib
import logging
from typing import Any, Iterable, Iterator, List, Optional, Tuple

import grpc

from e6driver._proto import e6driver_stores_pb2 as st_pb
from mock_server import checksums
from mock_server.errors import EngineError, sanitize
from mock_server.limits import Limits, exceeded
from mock_server.objects.backend import FilePut, ObjectBackend, ObjectInfo, check_md5, data_loss, not_found
from mock_server.objects.names import check_key, guess_content_type

log = logging.getLogger(__name__)

MAX_GET_KEYS = 1000  # keys in one GetBatch request
MAX_GET_OBJECT = 4 * 1024 * 1024  # larger objects are refused by GetBatch: use Get
GET_MESSAGE = 4 * 1024 * 1024  # bytes of objects per GetBatch message
# A call's objects are stored in groups of up to GROUP_BYTES or GROUP_OBJECTS, each by the backend's put_files:
# locally one spool directory, one filesystem sync and small files in turns per group (local_puts), where a
# thread per object with an fsync each cost ~0.9 CPU s per 1,000 objects of 64 KiB.
GROUP_BYTES = 8 * 1024 * 1024
GROUP_OBJECTS = 200


def info_message(info: ObjectInfo) -> st_pb.ObjectInfo:
    return st_pb.ObjectInfo(bucket=info.bucket, key=info.key, size=info.size, etag=info.etag,
                            last_modified=info.last_modified, content_type=info.content_type, crc32=info.crc32)


def _failure(key: str, exc: BaseException) -> st_pb.BatchResult:
    if isinstance(exc, EngineError):
        return st_pb.BatchResult(key=key, code=exc.code.value[0], message=exc.message)
    log.exception("batch object %r failed", key)
    return st_pb.BatchResult(key=key, code=grpc.StatusCode.INTERNAL.value[0], message=sanitize(str(exc)))


class BatchPuts:
    """Stores the objects of PutBatch streams into one backend."""

    def __init__(self, backend: ObjectBackend, limits: Limits) -> None:
        self.backend, self.limits = backend, limits

    def store(self, bucket: str, if_absent: bool, messages: Iterable[Any]) -> List[st_pb.BatchResult]:
        """One result per object of ``messages``, in order. Each object is checked as it arrives, then stored
        with the others of its group (module doc); a stream that breaks stores nothing more."""
        results: List[Optional[st_pb.BatchResult]] = []
        group: List[Tuple[int, FilePut]] = []  # (index in results, the checked object)
        held = 0
        for message in messages:
            for obj in message.objects:
                results.append(None)
                try:
                    group.append((len(results) - 1, self._checked(bucket, obj)))
                    held += len(obj.data)
                except EngineError as exc:
                    results[-1] = _failure(obj.key, exc)
                if held >= GROUP_BYTES or len(group) >= GROUP_OBJECTS:
                    self._store(bucket, if_absent, group, results)
                    group, held = [], 0
        self._store(bucket, if_absent, group, results)
        assert all(result is not None for result in results)
        return results  # type: ignore[return-value]

    def _checked(self, bucket: str, obj: Any) -> FilePut:
        key = check_key(obj.key)
        if len(obj.data) > self.limits.max_object_bytes:
            raise exceeded(self.limits, "max_object_bytes", f"object {key!r} in bucket {bucket!r}")
        crc = checksums.crc32(obj.data)  # the only pass over the content: the stored object is described with it
        if crc != obj.crc32:  # the whole object: its CRC is the running one
            raise data_loss("checksum mismatch in the chunk at offset 0")
        if obj.md5:
            check_md5(obj.md5, hashlib.md5(obj.data).hexdigest())
        return FilePut(key, -1, len(obj.data), obj.content_type or guess_content_type(key), data=obj.data, crc32=crc)

    def _store(self, bucket: str, if_absent: bool, group: List[Tuple[int, FilePut]],
               results: List[Optional[st_pb.BatchResult]]) -> None:
        if not group:
            return
        outcomes = self.backend.put_files(bucket, [item for _, item in group], if_absent)
        for (index, item), outcome in zip(group, outcomes):
            results[index] = (st_pb.BatchResult(key=item.key, info=info_message(outcome))
                              if isinstance(outcome, ObjectInfo) else _failure(item.key, outcome))


def get_batch(backend: ObjectBackend, bucket: str, keys: List[str]) -> Iterator[st_pb.GetBatchChunk]:
    """GetBatch's messages: whole objects up to GET_MESSAGE bytes each, failures alongside."""
    if len(keys) > MAX_GET_KEYS:
        raise EngineError(grpc.StatusCode.RESOURCE_EXHAUSTED,
                          f"GetBatch asks for {len(keys)} objects; at most {MAX_GET_KEYS} per call")
    chunk, size = st_pb.GetBatchChunk(), 0
    for key in keys:
        try:
            check_key(key)
            info = backend.stat(bucket, key)
            if info is None:
                raise not_found(bucket, key)
            if info.size > MAX_GET_OBJECT:
                raise EngineError(grpc.StatusCode.FAILED_PRECONDITION,
                                  f"object {key!r} is larger than a batch carries ({MAX_GET_OBJECT} bytes); use Get")
            data = b"".join(backend.read(bucket, key, MAX_GET_OBJECT))
            if len(data) != info.size:
                raise EngineError(grpc.StatusCode.ABORTED, f"object {key!r} changed while being read")
        except Exception as exc:  # noqa: BLE001 - reported per object
            chunk.failed.append(_failure(key, exc))
            continue
        chunk.objects.append(st_pb.BatchObject(key=key, data=data, crc32=checksums.crc32(data), md5=info.etag,
                                               info=info_message(info)))
        size += len(data)
        if size >= GET_MESSAGE:
            yield chunk
            chunk, size = st_pb.GetBatchChunk(), 0
    if chunk.objects or chunk.failed:
        yield chunk
