"""Many small objects per call (PutBatch / GetBatch of protos/e6driver_stores.proto).

One call authenticates and checks the bucket once, then moves whole objects several per message. A put batch
stores objects concurrently on a small thread pool as they arrive: each is still its own atomic put
(spooled, CRC- and MD5-checked, fsynced, renamed), so their fsyncs overlap instead of queueing, and each
directory is flushed once per call instead of once per object (before the call answers). One object's
failure (bad key, checksum, a key under another object...) is reported in its result; the others go on.
"""
from __future__ import annotations

import collections
import logging
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Deque, Iterable, Iterator, List, Set, Tuple

import grpc

from e6driver._proto import e6driver_stores_pb2 as st_pb
from mock_server import checksums
from mock_server.errors import EngineError, sanitize
from mock_server.limits import Limits, exceeded
from mock_server.objects.backend import ObjectBackend, ObjectInfo, not_found
from mock_server.objects.names import check_key, guess_content_type

log = logging.getLogger(__name__)

MAX_GET_KEYS = 1000  # keys in one GetBatch request
MAX_GET_OBJECT = 4 * 1024 * 1024  # larger objects are refused by GetBatch: use Get
GET_MESSAGE = 4 * 1024 * 1024  # bytes of objects per GetBatch message
PUT_THREADS = 32  # objects stored at once: their fsyncs overlap (the disk commits them together)
IN_FLIGHT_BYTES = 16 * 1024 * 1024  # received objects not yet stored, per call
# One pool per process, shared by every engine in it (threads start on first use and stay idle after).
_POOL = ThreadPoolExecutor(max_workers=PUT_THREADS, thread_name_prefix="e6batch")


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
        """One result per object of ``messages``, in order. Objects are stored on the pool as they arrive
        (at most IN_FLIGHT_BYTES held); the directories of the stored ones are flushed once, at the end,
        before the call answers."""
        pending: Deque[Tuple[Future, int]] = collections.deque()
        results: List[st_pb.BatchResult] = []
        flush: Set[str] = set()  # directories the stored objects changed
        held = 0
        try:
            for message in messages:
                for obj in message.objects:
                    while pending and held + len(obj.data) > IN_FLIGHT_BYTES:
                        future, size = pending.popleft()
                        results.append(future.result())
                        held -= size
                    pending.append((_POOL.submit(self._store_one, bucket, if_absent, obj, flush),
                                    len(obj.data)))
                    held += len(obj.data)
        finally:
            results += [future.result() for future, _ in pending]  # also when the stream broke: let them end
        self.backend.sync_dirs(flush)
        return results

    def _store_one(self, bucket: str, if_absent: bool, obj: Any, flush: Set[str]) -> st_pb.BatchResult:
        try:
            key = check_key(obj.key)
            if len(obj.data) > self.limits.max_object_bytes:
                raise exceeded(self.limits, "max_object_bytes", f"object {key!r} in bucket {bucket!r}")
            content_type = obj.content_type or guess_content_type(key)
            upload = self.backend.upload(bucket, key, content_type)
            try:
                upload.write(0, obj.data, running_crc32=obj.crc32)  # whole object: its CRC is the running one
                digest = upload.finish(obj.md5)
                info = self.backend.commit(upload, bucket, key, digest, content_type, if_absent=if_absent,
                                           flush=flush)
            finally:
                upload.discard()
            return st_pb.BatchResult(key=key, info=info_message(info))
        except Exception as exc:  # noqa: BLE001 - reported per object
            return _failure(obj.key, exc)


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
