"""DatasetService (protos/e6driver_datasets.proto): versioned encrypted datasets over gRPC.

Authentication is the engine's users' (:meth:`mock_server.sessions.SessionStore.caller`); storage,
encryption, grants and notifications are :class:`mock_server.datasets.store.DatasetStore`'s. Uploads arrive
as CRC-checked chunks of an Arrow IPC stream, a Parquet file or a CSV file; downloads leave as CRC-checked
chunks of an Arrow IPC stream. Uploads are spooled to disk and, given an ``upload_id``, resumable
(:mod:`mock_server.datasets.uploads`). Transfer failures are marked with the trailer ``e6-transfer-error``; with a
``rate_limit``, a user over it gets RESOURCE_EXHAUSTED and a ``retry-after`` trailer (seconds). A dataset is
named by its name or its id in every request. Poll is a long poll: it holds the call (a thread of the pool's
max_long_polls set aside for polls, :class:`mock_server.limits.LongPolls`) until
a notification arrives or ``wait_time`` passes (at most 60 s).
"""
from __future__ import annotations

import logging
from typing import Any, Iterator, Optional

import grpc

from e6driver._proto import e6driver_datasets_pb2 as ds_pb, e6driver_datasets_pb2_grpc
from mock_server import checksums
from mock_server import errors
from mock_server.limits import DEFAULT_LIMITS, Limits, LongPolls, exceeded
from mock_server.datasets.formats import read_rows
from mock_server.datasets.names import check_name
from mock_server.datasets.store import DatasetInfo, DatasetStore, check_freshness
from mock_server.datasets.rate_limit import RateLimiter
from mock_server.sessions import SessionStore

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024
TRANSFER_ERROR = "e6-transfer-error"
RETRY_AFTER = "retry-after"


def transfer_failure(context: grpc.ServicerContext, code: grpc.StatusCode, message: str) -> errors.EngineError:
    """An error of the transfer itself (not of the data or the request), marked for the client."""
    context.set_trailing_metadata(((TRANSFER_ERROR, "1"),))
    return errors.EngineError(code, message)


def info_message(info: DatasetInfo, access: str = "") -> ds_pb.DatasetInfo:
    return ds_pb.DatasetInfo(name=info.name, owner=info.owner, version=info.version, rows=info.rows,
                             bytes=info.bytes, created=info.created, access=access, id=info.id,
                             description=info.description, freshness=info.freshness, versions=info.versions,
                             checksum=info.checksum, updated=info.updated, downloads=info.downloads)


class DatasetServicer(e6driver_datasets_pb2_grpc.DatasetServiceServicer):
    def __init__(self, store: DatasetStore, sessions: SessionStore, rate_limit: Optional[float] = None,
                 limits: Limits = DEFAULT_LIMITS, polls: Optional[LongPolls] = None) -> None:
        self.store = store
        self.sessions = sessions
        self.limiter = RateLimiter(rate_limit) if rate_limit else None
        self.limits = limits
        self.polls = polls or LongPolls(limits)  # waiting polls: at most max_long_polls, on threads of their own
        store.configure(limits)

    def _admit(self, user: str, context: grpc.ServicerContext) -> None:
        """RESOURCE_EXHAUSTED (with ``retry-after``) when ``user`` is over the transfer rate limit."""
        wait = self.limiter.acquire(user) if self.limiter is not None else 0.0
        if wait > 0:
            context.set_trailing_metadata(((RETRY_AFTER, f"{wait:.3f}"),))
            raise errors.EngineError(grpc.StatusCode.RESOURCE_EXHAUSTED, f"user {user!r} is over the dataset "
                                     f"transfer rate limit; retry after {wait:.1f} s")

    @errors.rpc_method
    def List(self, request: Any, context: grpc.ServicerContext) -> Any:
        user = self.sessions.caller(request.auth, context.invocation_metadata())
        return ds_pb.ListDatasetsResponse(datasets=[info_message(i, a) for i, a in self.store.visible(user)])

    @errors.rpc_method
    def Upload(self, request_iterator: Iterator[Any], context: grpc.ServicerContext) -> Any:
        first = next(request_iterator, None)
        if first is None:
            raise errors.invalid("empty upload stream")
        user = self.sessions.caller(first.auth, context.invocation_metadata())
        self._admit(user, context)
        name = check_name(first.name) if first.create else self.store.require(user, first.name, write=True)
        check_freshness(first.freshness)
        upload = self.store.uploads.open(user, first.upload_id, name, first.format, first.create)
        keep = bool(first.upload_id)  # a resumable upload keeps what arrived until its last chunk did
        if upload.size:
            log.info("upload %s of dataset %s by %s continues at byte %d", upload.id, name, user, upload.size)
        try:
            message = first
            while True:
                if message.abort:  # the client gave up (its progress callback raised): keep nothing
                    keep = False
                    raise errors.EngineError(grpc.StatusCode.CANCELLED, "upload aborted by the client")
                if message.offset != upload.size:
                    raise transfer_failure(context, grpc.StatusCode.DATA_LOSS, f"chunk at offset {message.offset}"
                                           f" arrived when {upload.size} bytes were received")
                if checksums.crc32(message.data) != message.crc32:
                    raise transfer_failure(context, grpc.StatusCode.DATA_LOSS,
                                           f"checksum mismatch in the chunk at offset {message.offset}")
                if upload.size + len(message.data) > self.limits.max_upload_bytes:
                    keep = False  # nothing of an upload over the limit is kept for a resume
                    raise exceeded(self.limits, "max_upload_bytes", f"upload of dataset {name!r}")
                upload.append(message.data)
                if message.last:
                    break
                message = next(request_iterator, None)
                if message is None:
                    raise transfer_failure(context, grpc.StatusCode.ABORTED, "upload ended without its last chunk")
            keep = False
            if message.sha256 and upload.sha256() != message.sha256:
                raise transfer_failure(context, grpc.StatusCode.DATA_LOSS,
                                       f"SHA-256 mismatch: the {upload.size} bytes received are not those sent")
            # decoded from the encrypted spool batch by batch while the version is written
            current = None if first.create or first.allow_schema_change else self.store.current_schema(name)
            rows = read_rows(upload.payload(), first.format, self.limits, current)
            info = self.store.publish(user, name, rows, create=first.create, description=first.description,
                                      freshness=first.freshness, allow_schema_change=first.allow_schema_change)
        finally:
            upload.close(discard=not keep)
        log.info("dataset %s version %d (%d rows) by %s", name, info.version, info.rows, user)
        return ds_pb.UploadResponse(info=info_message(info, self.store.access(user, name)))

    @errors.rpc_method
    def UploadStatus(self, request: Any, context: grpc.ServicerContext) -> Any:
        user = self.sessions.caller(request.auth, context.invocation_metadata())
        offset = self.store.uploads.offset(user, request.upload_id)
        return ds_pb.UploadStatusResponse(found=offset is not None, offset=offset or 0)

    @errors.rpc_stream
    def Download(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        user = self.sessions.caller(request.auth, context.invocation_metadata())
        self._admit(user, context)
        info, total, pieces = self.store.download(user, request.name, request.version, CHUNK)
        offset, pending = 0, b""
        try:
            for piece in pieces:  # decoded from the file as gRPC takes the chunks: bounded memory
                pending += piece
                while len(pending) >= CHUNK:
                    yield self._chunk(user, info, offset, pending[:CHUNK], total)
                    offset += CHUNK
                    pending = pending[CHUNK:]
            if pending or offset == 0:
                yield self._chunk(user, info, offset, pending, total)
                offset += len(pending)
        finally:
            pieces.close()
        if offset != total:  # the client sees it too (the stream ends short of or past its announced size)
            log.error("download of dataset %s version %d: %d bytes sent, %d announced", info.name, info.version,
                      offset, total)
            raise errors.EngineError(grpc.StatusCode.INTERNAL, "the download stream did not have its announced size")
        self.store.count_download(info.name)  # gRPC took the last chunk: a completed download

    def _chunk(self, user: str, info: DatasetInfo, offset: int, data: bytes, total: int) -> Any:
        chunk = ds_pb.DownloadChunk(offset=offset, data=data, crc32=checksums.crc32(data))
        if offset == 0:
            chunk.info.CopyFrom(info_message(info, self.store.access(user, info.name)))
            chunk.total = total
        return chunk

    @errors.rpc_method
    def Subscribe(self, request: Any, context: grpc.ServicerContext) -> Any:
        user = self.sessions.caller(request.auth, context.invocation_metadata())
        return ds_pb.SubscribeResponse(subscribed=self.store.subscribe(user, request.name,
                                                                       not request.unsubscribe))

    @errors.rpc_method
    def Poll(self, request: Any, context: grpc.ServicerContext) -> Any:
        user = self.sessions.caller(request.auth, context.invocation_metadata())
        if request.wait_time > 0:
            with self.polls.slot(user):
                notices = self.store.poll(user, request.after, request.acknowledge, request.max_messages,
                                          request.wait_time, context.is_active)
        else:
            notices = self.store.poll(user, request.after, request.acknowledge, request.max_messages, 0.0,
                                      context.is_active)
        return ds_pb.PollResponse(notifications=[
            ds_pb.Notification(id=n.id, dataset=n.dataset, version=n.version, created=n.created, by=n.by,
                               dataset_id=n.dataset_id)
            for n in notices])

    @errors.rpc_method
    def Grant(self, request: Any, context: grpc.ServicerContext) -> Any:
        user = self.sessions.caller(request.auth, context.invocation_metadata())
        if request.user not in self.sessions.users:
            raise errors.invalid(f"unknown user {request.user!r}")
        return ds_pb.DatasetGrantResponse(access=self.store.grant(user, request.name, request.user,
                                                                  request.access))
