"""ObjectStoreService (protos/e6driver_stores.proto): buckets and objects over gRPC.

Every call authenticates (user + password, a session id, or a bearer token) with the engine's users, then
checks the caller's access to the bucket (:mod:`mock_server.objects.grants`) before touching the backend
(:mod:`mock_server.objects.store`). Content travels in chunks, each with a CRC-32; a put also checks the
whole object's MD5 when the client sends it, and commits only a complete, verified object.
"""
from __future__ import annotations

import itertools
import logging
import threading
from typing import Any, Dict, Iterator

import grpc

from e6driver._proto import e6driver_stores_pb2 as st_pb, e6driver_stores_pb2_grpc
from mock_server import checksums
from mock_server import errors
from mock_server.limits import DEFAULT_LIMITS, Limits, exceeded
from mock_server.objects.batch import BatchPuts, get_batch, info_message
from mock_server.objects.buckets import ObjectStores
from mock_server.objects.compress import (MAX_COMPRESSIONS_PER_USER, CompressOptions, Compressor, Outcome,
                                          busy as compress_busy, too_many as compress_limit)
from mock_server.objects.backend import not_found
from mock_server.objects.copies import READ_CHUNK
from mock_server.objects.names import check_bucket, check_key, check_prefix, guess_content_type
from mock_server.objects.tables import NamedTable, check_table_name
from mock_server.sessions import SessionStore

log = logging.getLogger(__name__)

LIST_PAGE = 1000
MAX_CHUNK = 8 * 1024 * 1024


class ObjectStoreServicer(e6driver_stores_pb2_grpc.ObjectStoreServiceServicer):
    def __init__(self, stores: ObjectStores, sessions: SessionStore, limits: Limits = DEFAULT_LIMITS) -> None:
        self.stores = stores
        self.limits = limits
        self.sessions = sessions
        self.backend = stores.backend
        self.grants = stores.grants
        self.batches = BatchPuts(self.backend, limits)
        self._compressing: Dict[str, str] = {}  # bucket being compressed -> by whom: one job per bucket
        self._compressing_lock = threading.Lock()

    def _bucket(self, user: str, bucket: str, write: bool = False) -> str:
        return self.stores.bucket(user, bucket, write)

    @errors.rpc_method
    def Put(self, request_iterator: Iterator[Any], context: grpc.ServicerContext) -> Any:
        first = next(request_iterator, None)
        if first is None:
            raise errors.invalid("empty put stream")
        key = check_key(first.key)
        user = self.sessions.caller(first.auth, context.invocation_metadata())
        bucket = self._bucket(user, first.bucket, write=True)
        content_type = first.content_type or guess_content_type(key)
        upload = self.backend.upload(bucket, key, content_type)
        try:
            message, md5 = first, ""
            while True:
                data = message.data  # each read of the field copies it
                if upload.size + len(data) > self.limits.max_object_bytes:
                    raise exceeded(self.limits, "max_object_bytes", f"object {key!r} in bucket {bucket!r}")
                running = message.running_crc32 if message.HasField("running_crc32") else None
                if data or message.crc32 or running:
                    upload.write(message.offset, data, message.crc32, running)
                if message.last:
                    md5 = message.md5
                    break
                message = next(request_iterator, None)
                if message is None:
                    raise errors.EngineError(grpc.StatusCode.ABORTED,
                                             "put stream ended without its last chunk; nothing was stored")
            digest = upload.finish(md5)
            info = self.backend.commit(upload, bucket, key, digest, content_type, if_absent=first.if_absent)
        finally:
            upload.discard()
        log.info("put %s/%s (%d bytes) by %s", bucket, key, info.size, user)
        return st_pb.PutResponse(info=info_message(info))

    @errors.rpc_method
    def PutBatch(self, request_iterator: Iterator[Any], context: grpc.ServicerContext) -> Any:
        first = next(request_iterator, None)
        if first is None:
            raise errors.invalid("empty put batch stream")
        user = self.sessions.caller(first.auth, context.invocation_metadata())
        bucket = self._bucket(user, first.bucket, write=True)
        results = self.batches.store(bucket, first.if_absent, itertools.chain([first], request_iterator))
        stored = sum(1 for r in results if not r.code)
        log.info("put batch into %s by %s: %d stored, %d failed", bucket, user, stored, len(results) - stored)
        return st_pb.PutBatchResponse(results=results)

    @errors.rpc_stream
    def GetBatch(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        user = self.sessions.caller(request.auth, context.invocation_metadata())
        bucket = self._bucket(user, request.bucket)
        yield from get_batch(self.backend, bucket, list(request.keys))

    @errors.rpc_stream
    def Get(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        key = check_key(request.key)
        user = self.sessions.caller(request.auth, context.invocation_metadata())
        bucket = self._bucket(user, request.bucket)
        info = self.backend.stat(bucket, key)
        if info is None:
            raise not_found(bucket, key)
        size = min(MAX_CHUNK, request.chunk_size) if request.chunk_size > 0 else READ_CHUNK
        offset, sent_info, running = 0, False, 0
        for data in self.backend.read(bucket, key, size):
            if request.running_crc32:  # one pass: the chunk's check and, at the end, the whole object's CRC
                running = checksums.crc32(data, running)
                chunk = st_pb.GetChunk(offset=offset, data=data, running_crc32=running)
            else:
                chunk = st_pb.GetChunk(offset=offset, data=data, crc32=checksums.crc32(data))
            if not sent_info:
                chunk.info.CopyFrom(info_message(info))
                sent_info = True
            offset += len(data)
            yield chunk
        if not sent_info:  # empty object
            yield st_pb.GetChunk(info=info_message(info), offset=0, crc32=0,
                                 running_crc32=0 if request.running_crc32 else None)

    @errors.rpc_method
    def Stat(self, request: Any, context: grpc.ServicerContext) -> Any:
        key = check_key(request.key)
        user = self.sessions.caller(request.auth, context.invocation_metadata())
        bucket = self._bucket(user, request.bucket)
        info = self.backend.stat(bucket, key)
        if info is None:
            return st_pb.StatResponse(exists=False)
        return st_pb.StatResponse(exists=True, info=info_message(info))

    @errors.rpc_method
    def Delete(self, request: Any, context: grpc.ServicerContext) -> Any:
        key = check_key(request.key)
        user = self.sessions.caller(request.auth, context.invocation_metadata())
        bucket = self._bucket(user, request.bucket, write=True)
        deleted = self.backend.delete(bucket, key)
        return st_pb.DeleteResponse(deleted=deleted)

    @errors.rpc_stream
    def List(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        user = self.sessions.caller(request.auth, context.invocation_metadata())
        bucket = self._bucket(user, request.bucket)
        check_prefix(request.prefix)  # the same rule for every backend (S3 included)
        page = st_pb.ListPage()
        for info in self.backend.list(bucket, request.prefix):
            page.objects.append(info_message(info))
            if len(page.objects) >= LIST_PAGE:
                yield page
                page = st_pb.ListPage()
        yield page

    @errors.rpc_method
    def CreateBucket(self, request: Any, context: grpc.ServicerContext) -> Any:
        user = self.sessions.caller(request.auth, context.invocation_metadata())
        bucket = check_bucket(request.bucket)
        if self.backend.bucket_exists(bucket):
            self.grants.require(user, bucket, write=True)
            return st_pb.CreateBucketResponse(created=False)
        created = self.backend.create_bucket(bucket)
        if created:
            self.grants.created(user, bucket)
            log.info("bucket %s created by %s", bucket, user)
        return st_pb.CreateBucketResponse(created=created)

    @errors.rpc_method
    def ListBuckets(self, request: Any, context: grpc.ServicerContext) -> Any:
        user = self.sessions.caller(request.auth, context.invocation_metadata())
        return st_pb.ListBucketsResponse(buckets=[
            st_pb.BucketInfo(name=b, access=self.grants.access(user, b))
            for b in self.stores.visible_buckets(user)])

    @errors.rpc_method
    def Grant(self, request: Any, context: grpc.ServicerContext) -> Any:
        user = self.sessions.caller(request.auth, context.invocation_metadata())
        bucket = check_bucket(request.bucket)
        if not self.backend.bucket_exists(bucket):
            if self.grants.can_read(user, bucket):
                raise not_found(bucket)
            raise errors.EngineError(grpc.StatusCode.PERMISSION_DENIED,
                                     f"user {user!r} may not grant access to bucket {bucket!r} (no grant)")
        if request.user not in self.sessions.users:
            raise errors.invalid(f"unknown user {request.user!r}")
        access = self.grants.grant(user, bucket, request.user, request.access)
        log.info("%s set %s's access to bucket %s: %s", user, request.user, bucket, access)
        return st_pb.GrantResponse(access=access)

    @errors.rpc_method
    def RegisterTable(self, request: Any, context: grpc.ServicerContext) -> Any:
        user = self.sessions.caller(request.auth, context.invocation_metadata())
        bucket = self._bucket(user, request.bucket, write=True)
        check_table_name(request.name)
        pattern = request.pattern
        check_key(pattern.rstrip("/") or pattern)  # a prefix may end with '/'
        table = self.stores.tables.register(
            NamedTable(bucket, request.name, pattern, request.format.lower(), user), replace=request.replace)
        log.info("table objects.%s.%s over %r registered by %s", bucket, table.name, pattern, user)
        return st_pb.RegisterTableResponse(table=_table_message(table))

    @errors.rpc_method
    def DropTable(self, request: Any, context: grpc.ServicerContext) -> Any:
        user = self.sessions.caller(request.auth, context.invocation_metadata())
        bucket = self._bucket(user, request.bucket, write=True)
        dropped = self.stores.tables.drop(bucket, request.name)
        if dropped:
            log.info("table objects.%s.%s dropped by %s", bucket, request.name, user)
        return st_pb.DropTableResponse(dropped=dropped)

    @errors.rpc_method
    def ListTables(self, request: Any, context: grpc.ServicerContext) -> Any:
        user = self.sessions.caller(request.auth, context.invocation_metadata())
        bucket = self._bucket(user, request.bucket)
        return st_pb.ListTablesResponse(tables=[_table_message(t) for t in self.stores.tables.in_bucket(bucket)])

    @errors.rpc_stream
    def Compress(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        user = self.sessions.caller(request.auth, context.invocation_metadata())
        bucket = self._bucket(user, request.bucket, write=True)
        check_prefix(request.prefix)
        options = CompressOptions(request.min_size, request.codec or "zstd",
                                  request.level if request.HasField("level") else None, request.keep_original,
                                  request.dry_run)
        compressor = Compressor(self.backend, bucket, options, self.limits)
        with self._compressing_lock:
            if bucket in self._compressing:
                raise compress_busy(bucket)
            if sum(1 for u in self._compressing.values() if u == user) >= MAX_COMPRESSIONS_PER_USER:
                raise compress_limit(user)
            self._compressing[bucket] = user
        try:
            objects = compressor.candidates(request.prefix)
            report = st_pb.CompressReport()
            for done, outcome in enumerate(compressor.run(objects), 1):
                if not context.is_active():  # the client went away: stop between objects
                    log.info("compression of %s/%s stopped by the client after %d object(s)", bucket,
                             request.prefix, done - 1)
                    return
                _count(report, outcome)
                yield st_pb.CompressProgress(object=st_pb.CompressedObject(
                    key=outcome.key, target=outcome.target, action=outcome.action,
                    bytes_before=outcome.bytes_before, bytes_after=outcome.bytes_after, reason=outcome.reason),
                    done=done, total=len(objects))
        finally:
            with self._compressing_lock:
                self._compressing.pop(bucket, None)
        # The bucket is free before the report goes out: a caller may start the next job as soon as it has it.
        log.info("compression of %s/%r by %s (dry run %s): %d file(s) %d -> %d bytes, %d skipped, %d failed",
                 bucket, request.prefix, user, options.dry_run, report.files, report.bytes_before,
                 report.bytes_after, report.skipped, report.failed)
        yield st_pb.CompressProgress(report=report, done=len(objects), total=len(objects), last=True)


def _count(report: Any, outcome: Outcome) -> None:
    if outcome.action in ("compressed", "would_compress"):
        report.files += 1
        report.bytes_before += outcome.bytes_before
        report.bytes_after += outcome.bytes_after
    elif outcome.action == "skipped":
        report.skipped += 1
    else:
        report.failed += 1


def _table_message(table: NamedTable) -> st_pb.TableInfo:
    return st_pb.TableInfo(bucket=table.bucket, name=table.name, pattern=table.pattern, format=table.format,
                           owner=table.owner)
