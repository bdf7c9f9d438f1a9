"""Object stores of an e6driver engine (``conn.objects``): buckets, objects, grants and tree transfers.

Calls go to ``ObjectStoreService`` (protos/e6driver_stores.proto) on the connection's channel, authenticated
with the connection's user and password (or its session / bearer token). Content moves in chunks of
``chunk_size`` bytes, each with the running CRC-32 of the object so far, so one pass checks every chunk and
ends with the whole object's CRC-32: a put is acknowledged only when the engine received exactly what was sent
(the engine computes the MD5 etag itself), and a get is checked against the CRC-32 recorded when the object was
stored (against its MD5 etag when the store recorded none).
Errors are the driver's: :class:`~e6driver.errors.PermissionDeniedError` without a grant,
:class:`~e6driver.errors.ObjectNotFoundError` for a missing bucket or object, ``ProgrammingError`` for a bad
key or bucket name, ``DataError`` when content was damaged on the way.
"""
from __future__ import annotations

import datetime
import io
import logging
import os
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, BinaryIO, Callable, Dict, Iterator, List, Optional, Union

from . import _checksums
from .. import errors
from .._proto import e6driver_stores_pb2 as st_pb, e6driver_stores_pb2_grpc as st_grpc
from .._proto import e6driver_local_pb2 as local_pb
from ..protocol import Session, local_transfer
from . import transfer
from ._client import ServiceClient
from ._digest import StreamDigest

log = logging.getLogger(__name__)

CHUNK_SIZE = 1024 * 1024
# Files and gets move in larger messages: gRPC sends one message at a time per call and waits for each, so
# fewer, larger messages move a large object faster.
FILE_CHUNK_SIZE = 4 * 1024 * 1024
Progress = Callable[[int, int], None]  # (bytes done, bytes total)


@dataclass(frozen=True)
class ObjectInfo:
    bucket: str
    key: str
    size: int
    etag: str  # S3: hex MD5 of the content; local buckets: "<CRC-32 hex>-<size hex>" (see crc32)
    last_modified: datetime.datetime  # aware, UTC
    content_type: str
    crc32: Optional[int] = None  # zlib CRC-32 of the content recorded by the store (None: not recorded)

    @classmethod
    def from_message(cls, msg: Any) -> "ObjectInfo":
        return cls(msg.bucket, msg.key, msg.size, msg.etag,
                   datetime.datetime.fromtimestamp(msg.last_modified, datetime.timezone.utc), msg.content_type,
                   msg.crc32 if msg.HasField("crc32") else None)


@dataclass(frozen=True)
class Bucket:
    name: str
    access: str  # read | write | admin


@dataclass(frozen=True)
class ObjectTable:
    """A named table ``objects.<bucket>.<name>`` over the objects under ``pattern`` (prefix or glob)."""
    bucket: str
    name: str
    pattern: str
    format: str  # parquet | csv | tsv | json, or "" (from the file names)
    owner: str

    @classmethod
    def from_message(cls, msg: Any) -> "ObjectTable":
        return cls(msg.bucket, msg.name, msg.pattern, msg.format, msg.owner)


@dataclass(frozen=True)
class CompressedObject:
    key: str
    target: str  # <key>.zst / <key>.gz
    action: str  # compressed | would_compress | skipped | failed
    bytes_before: int
    bytes_after: int
    reason: str  # why skipped or failed

    @classmethod
    def from_message(cls, msg: Any) -> "CompressedObject":
        return cls(msg.key, msg.target, msg.action, msg.bytes_before, msg.bytes_after, msg.reason)


@dataclass(frozen=True)
class CompressReport:
    """What :meth:`ObjectStoreClient.compress` did (or, dry run, would do), object by object."""
    dry_run: bool
    files: int  # compressed (dry run: to be compressed)
    bytes_before: int
    bytes_after: int  # 0 in a dry run
    objects: List[CompressedObject]

    @property
    def ratio(self) -> Optional[float]:
        """Compressed / original size of the compressed files (None in a dry run or with none)."""
        return self.bytes_after / self.bytes_before if self.bytes_after and self.bytes_before else None

    @property
    def skipped(self) -> List[CompressedObject]:
        return [o for o in self.objects if o.action == "skipped"]

    @property
    def failed(self) -> List[CompressedObject]:
        return [o for o in self.objects if o.action == "failed"]


def _is_md5(etag: str) -> bool:
    return len(etag) == 32 and all(c in "0123456789abcdef" for c in etag)


class ObjectStoreClient(ServiceClient):
    """Buckets and objects of the connection's server; thread-safe (share it between threads)."""

    def __init__(self, session: Session, chunk_size: int = CHUNK_SIZE,
                 file_chunk_size: int = FILE_CHUNK_SIZE, local_transfer: Optional[bool] = None) -> None:
        super().__init__(session, st_grpc.ObjectStoreServiceStub)
        self.chunk_size = chunk_size  # put() of bytes or a file object
        self.file_chunk_size = file_chunk_size  # put_file(), and every get
        # put_file/get_file (and tree transfers) on the engine's own machine: the kernel copies the files
        # (e6driver.protocol.local_transfer); False keeps every transfer on gRPC.
        self.local_transfer = local_transfer

    # ------------------------------------------------------------------ buckets and grants

    def create_bucket(self, bucket: str) -> bool:
        """Create ``bucket`` (its creator owns it); False if it already existed (and you may write it)."""
        return self._invoke("CreateBucket", lambda stub, md: stub.CreateBucket(
            st_pb.CreateBucketRequest(auth=self._auth(), bucket=bucket), metadata=md)).created

    def buckets(self) -> List[Bucket]:
        """The buckets you may read, with your access to each."""
        response = self._invoke("ListBuckets", lambda stub, md: stub.ListBuckets(
            st_pb.ListBucketsRequest(auth=self._auth()), metadata=md))
        return [Bucket(b.name, b.access) for b in response.buckets]

    def grant(self, bucket: str, user: str, access: str = "read") -> str:
        """Give ``user`` ``read`` or ``write`` access to ``bucket`` (``none`` revokes); bucket owner or admin."""
        return self._invoke("Grant", lambda stub, md: stub.Grant(
            st_pb.GrantRequest(auth=self._auth(), bucket=bucket, user=user, access=access), metadata=md)).access

    def revoke(self, bucket: str, user: str) -> str:
        return self.grant(bucket, user, "none")

    # ------------------------------------------------------------------ named tables

    def register_table(self, bucket: str, name: str, prefix_or_glob: str, format: Optional[str] = None,
                       replace: bool = False) -> ObjectTable:
        """Make ``SELECT ... FROM objects.<bucket>.<name>`` read the objects under a key prefix (or matching a
        glob: ``*``/``?`` within a level, ``**`` across levels), as ``format`` (parquet, csv, tsv, json;
        None: from the file names). Needs write access to the bucket; whoever may read the bucket sees the
        table. ``replace``: replace a table of that name instead of failing (ProgrammingError)."""
        return ObjectTable.from_message(self._invoke("RegisterTable", lambda stub, md: stub.RegisterTable(
            st_pb.RegisterTableRequest(auth=self._auth(), bucket=bucket, name=name, pattern=prefix_or_glob,
                                       format=format or "", replace=replace), metadata=md)).table)

    def drop_table(self, bucket: str, name: str) -> bool:
        """Forget a named table (the objects stay); False when there was none. Needs write access."""
        return self._invoke("DropTable", lambda stub, md: stub.DropTable(
            st_pb.DropTableRequest(auth=self._auth(), bucket=bucket, name=name), metadata=md)).dropped

    def tables(self, bucket: str) -> List[ObjectTable]:
        """The named tables of ``bucket``, by name."""
        response = self._invoke("ListTables", lambda stub, md: stub.ListTables(
            st_pb.ListTablesRequest(auth=self._auth(), bucket=bucket), metadata=md))
        return [ObjectTable.from_message(t) for t in response.tables]

    # ------------------------------------------------------------------ objects

    def stat(self, bucket: str, key: str) -> Optional[ObjectInfo]:
        """The object's description, or None when there is no such key."""
        response = self._invoke("Stat", lambda stub, md: stub.Stat(
            st_pb.StatRequest(auth=self._auth(), bucket=bucket, key=key), metadata=md))
        return ObjectInfo.from_message(response.info) if response.exists else None

    def list(self, bucket: str, prefix: str = "") -> List[ObjectInfo]:
        """Objects whose key starts with ``prefix``, in key order."""
        def call(stub: Any, md: list) -> List[ObjectInfo]:
            pages = stub.List(st_pb.ListRequest(auth=self._auth(), bucket=bucket, prefix=prefix), metadata=md)
            return [ObjectInfo.from_message(o) for page in pages for o in page.objects]
        return self._invoke("List", call)

    def delete(self, bucket: str, key: str) -> bool:
        """Delete one object; False when it did not exist."""
        return self._invoke("Delete", lambda stub, md: stub.Delete(
            st_pb.DeleteRequest(auth=self._auth(), bucket=bucket, key=key), metadata=md)).deleted

    def put(self, bucket: str, key: str, data: Union[str, bytes, bytearray, memoryview, BinaryIO],
            content_type: str = "", if_absent: bool = False, progress: Optional[Progress] = None) -> ObjectInfo:
        """Store ``data`` (text, stored UTF-8; bytes; or a binary file object read to its end) as ``bucket/key``,
        atomically. ``if_absent``: fail (ProgrammingError) instead of replacing an existing object."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        if isinstance(data, (bytes, bytearray, memoryview)):
            total = len(data)
            opener: Callable[[], BinaryIO] = lambda: io.BytesIO(bytes(data))
        else:
            if not callable(getattr(data, "read", None)) or isinstance(data, io.TextIOBase):
                raise TypeError(f"put() takes str, bytes, bytearray, memoryview or a binary file object, not "
                                f"{type(data).__name__}" + (" (open the file in 'rb' mode)"
                                                            if isinstance(data, io.TextIOBase) else ""))
            start = data.tell() if data.seekable() else None
            total = -1
            if start is not None:
                total = data.seek(0, io.SEEK_END) - start
                data.seek(start)

            def opener() -> BinaryIO:
                if start is not None:
                    data.seek(start)
                return data
        return self._put(bucket, key, opener, total, content_type, if_absent, progress)

    def put_file(self, bucket: str, key: str, path: Union[str, os.PathLike], content_type: str = "",
                 if_absent: bool = False, progress: Optional[Progress] = None) -> ObjectInfo:
        """Store the local file ``path`` as ``bucket/key``."""
        total = os.path.getsize(path)
        local = self._local_socket()
        if local is not None:
            try:
                with open(path, "rb") as handle:
                    info = self._local_one(local, "put", bucket, key, handle.fileno(), content_type, if_absent)
                if progress is not None:
                    progress(info.size, info.size)
                return info
            except local_transfer.Lost as exc:
                if if_absent:  # it may be stored: sent again, it would be refused as existing
                    raise errors.OperationalError(f"put_file {bucket}/{key}: {exc}; whether it was stored is "
                                                  "unknown (stat it)") from None
                log.debug("put_file %s/%s through gRPC: %s", bucket, key, exc)
            except local_transfer.Unavailable as exc:
                log.debug("put_file %s/%s through gRPC: %s", bucket, key, exc)
        handles: List[BinaryIO] = []

        def opener() -> BinaryIO:
            for old in handles:
                old.close()
            handles.append(open(path, "rb"))
            return handles[-1]
        try:
            return self._put(bucket, key, opener, total, content_type, if_absent, progress, self.file_chunk_size)
        finally:
            for handle in handles:
                handle.close()

    def _put(self, bucket: str, key: str, opener: Callable[[], BinaryIO], total: int, content_type: str,
             if_absent: bool, progress: Optional[Progress], chunk_size: int = 0) -> ObjectInfo:
        def call(stub: Any, md: list) -> ObjectInfo:
            sent: List[int] = []  # the running CRC-32 of what was sent
            messages = self._put_messages(bucket, key, opener(), content_type, if_absent, total, progress,
                                          chunk_size or self.chunk_size, sent)
            info = ObjectInfo.from_message(stub.Put(messages, metadata=md).info)
            if info.crc32 is not None and sent and info.crc32 != sent[-1]:
                raise errors.DataError(f"object {bucket}/{key}: the engine stored other bytes than were sent")
            return info
        return self._invoke("Put", call)

    def _put_messages(self, bucket: str, key: str, reader: BinaryIO, content_type: str, if_absent: bool,
                      total: int, progress: Optional[Progress], chunk_size: int,
                      sent: List[int]) -> Iterator[st_pb.PutRequest]:
        offset, running = 0, 0
        first: Optional[st_pb.PutRequest] = st_pb.PutRequest(
            auth=self._auth(), bucket=bucket, key=key, content_type=content_type, if_absent=if_absent)
        data = reader.read(chunk_size)
        while True:
            following = reader.read(chunk_size) if data else b""
            message = first if first is not None else st_pb.PutRequest()
            first = None
            running = _checksums.crc32(data, running)
            message.offset, message.data, message.running_crc32 = offset, data, running
            offset += len(data)
            message.last = not following
            sent.append(running)
            yield message
            if progress is not None:
                progress(offset, total if total >= 0 else offset)
            if not following:
                return
            data = following

    def get(self, bucket: str, key: str, progress: Optional[Progress] = None) -> bytes:
        """The content of ``bucket/key``."""
        out = io.BytesIO()
        self._get(bucket, key, lambda: out, progress)
        return out.getvalue()

    def get_file(self, bucket: str, key: str, path: Union[str, os.PathLike],
                 progress: Optional[Progress] = None) -> ObjectInfo:
        """Write ``bucket/key`` to the local file ``path`` (atomically: a temp file renamed into place)."""
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        local = self._local_socket()
        if local is not None:
            try:
                info = self._local_get_file(local, bucket, key, path, directory)
                if progress is not None:
                    progress(info.size, info.size)
                return info
            except local_transfer.Unavailable as exc:
                log.debug("get_file %s/%s through gRPC: %s", bucket, key, exc)
        handles: List[Any] = []

        def opener() -> BinaryIO:
            for old in handles:
                old.close()
                os.unlink(old.name)
            handles.append(tempfile.NamedTemporaryFile(dir=directory, prefix=".e6get-", delete=False))
            return handles[-1]
        try:
            info = self._get(bucket, key, opener, progress)
            handles[-1].close()
            os.replace(handles[-1].name, path)
            handles.clear()
            return info
        finally:
            for handle in handles:
                handle.close()
                os.unlink(handle.name)

    def _get(self, bucket: str, key: str, opener: Callable[[], BinaryIO],
             progress: Optional[Progress]) -> ObjectInfo:
        def call(stub: Any, md: list) -> ObjectInfo:
            sink = opener()
            sink.seek(0)
            sink.truncate()
            digest: Optional[StreamDigest] = None  # only for an object without a recorded CRC-32
            offset, running, info = 0, 0, None
            try:
                for chunk in stub.Get(st_pb.GetRequest(auth=self._auth(), bucket=bucket, key=key,
                                                       chunk_size=self.file_chunk_size, running_crc32=True),
                                      metadata=md):
                    if info is None:
                        info = ObjectInfo.from_message(chunk.info)
                        if info.crc32 is None and _is_md5(info.etag):
                            digest = StreamDigest()
                    data = chunk.data  # each read of the field copies it
                    running = _checksums.crc32(data, running)
                    if chunk.offset != offset or not chunk.HasField("running_crc32") or \
                            running != chunk.running_crc32:
                        raise errors.DataError(f"object {bucket}/{key}: damaged chunk at offset {chunk.offset}")
                    sink.write(data)  # a buffered file or BytesIO: writes it all
                    if digest is not None:
                        digest.update(data)
                    offset += len(data)
                    if progress is not None:
                        progress(offset, info.size)
                if info is None or offset != info.size:
                    raise errors.DataError(f"object {bucket}/{key}: received {offset} bytes, expected "
                                           f"{info.size if info else '?'}")
                if info.crc32 is not None and running != info.crc32:
                    raise errors.DataError(f"object {bucket}/{key}: content does not match the checksum "
                                           "recorded when it was stored")
                if digest is not None and digest.hexdigest() != info.etag:
                    raise errors.DataError(f"object {bucket}/{key}: content does not match its etag")
            finally:
                if digest is not None:
                    digest.close()
            sink.flush()
            return info
        return self._invoke("Get", call)

    # ------------------------------------------------------------------ same-host transfers

    def _local_socket(self) -> Optional[str]:
        try:
            return local_transfer.socket_name(self._session, self.local_transfer)
        except errors.Error as exc:  # capabilities unreachable: the gRPC call reports it
            log.debug("same-host transfers not used: %s", exc)
            return None

    def _local_many(self, name: str, op: str, bucket: str, keys: List[str], files: List[int],
                    content_types: Optional[List[str]] = None, if_absent: bool = False) -> List[Any]:
        """One same-host request: per key, its ObjectInfo or the driver error for its failure."""
        message = local_pb.LocalRequest(op=op, auth=self._auth(), bucket=bucket, keys=keys,
                                        content_types=content_types or [], if_absent=if_absent)
        rpc = f"same-host {op}"
        results = local_transfer.request(name, message, files, rpc, self.not_found_error)
        return [ObjectInfo.from_message(r.info) if not r.code else
                errors.from_status(r.code, r.message, rpc, self.not_found_error if r.code == "NOT_FOUND" else None)
                for r in results]

    def _local_one(self, name: str, op: str, bucket: str, key: str, fd: int, content_type: str = "",
                   if_absent: bool = False) -> ObjectInfo:
        result = self._local_many(name, op, bucket, [key], [fd], [content_type], if_absent)[0]
        if isinstance(result, errors.Error):
            raise result
        return result

    def _local_get_file(self, name: str, bucket: str, key: str, path: Union[str, os.PathLike],
                        directory: str) -> ObjectInfo:
        handle = tempfile.NamedTemporaryFile(dir=directory, prefix=".e6get-", delete=False)
        try:
            with handle:
                info = self._local_one(name, "get", bucket, key, handle.fileno())
                written = os.fstat(handle.fileno()).st_size
            if written != info.size:
                raise errors.DataError(f"object {bucket}/{key}: {written} bytes written, expected {info.size}")
            os.replace(handle.name, path)
            return info
        except BaseException:
            try:
                os.unlink(handle.name)
            except FileNotFoundError:
                pass
            raise

    # ------------------------------------------------------------------ compression on the server

    def compress(self, bucket: str, prefix: str = "", min_size: int = 0, codec: str = "zstd",
                 level: Optional[int] = None, keep_original: bool = False, dry_run: bool = True,
                 progress_callback: Optional[Callable[[int, int, CompressedObject], None]] = None
                 ) -> CompressReport:
        """Compress, on the server, the objects under ``prefix`` of at least ``min_size`` bytes that are not
        already compressed (nor Parquet) to ``<key>.zst`` (``codec="zstd"``) or ``<key>.gz`` (``"gzip"``).
        Each copy is verified by decompressing it before the original is removed (``keep_original`` keeps it);
        atomic per object and resumable: run it again after a failure. ``dry_run`` (the default) only reports.
        ``progress_callback(done, total, object)`` is called as each object is handled. Needs write access."""
        def call(stub: Any, md: list) -> CompressReport:
            request = st_pb.CompressRequest(auth=self._auth(), bucket=bucket, prefix=prefix, min_size=min_size,
                                            codec=codec, keep_original=keep_original, dry_run=dry_run)
            if level is not None:
                request.level = level
            objects: List[CompressedObject] = []
            report: Optional[CompressReport] = None
            for message in stub.Compress(request, metadata=md):  # read to the end of the stream: the server
                if message.last:                                 # has then ended the job (its bucket is free)
                    r = message.report
                    report = CompressReport(dry_run, r.files, r.bytes_before, r.bytes_after, objects)
                    continue
                objects.append(CompressedObject.from_message(message.object))
                if progress_callback is not None:
                    progress_callback(message.done, message.total, objects[-1])
            if report is not None:
                return report
            raise errors.ConnectionLostError(f"compression of {bucket}/{prefix} ended without its report; "
                                             "run it again to finish (it resumes)")
        return self._invoke("Compress", call)

    # ------------------------------------------------------------------ many at once

    def upload(self, local_path: Union[str, os.PathLike], bucket: str, prefix: str = "", dry_run: bool = False,
               overwrite: bool = False, progress: Union[bool, Progress] = True, workers: int = 4) -> Any:
        """Upload a file or directory tree under ``prefix``; see :func:`e6driver.stores.transfer.upload`."""
        return transfer.upload(self, local_path, bucket, prefix, dry_run=dry_run, overwrite=overwrite,
                      progress=progress, workers=workers)

    def download(self, bucket: str, prefix: str, local_path: Union[str, os.PathLike], dry_run: bool = False,
                 overwrite: bool = False, progress: Union[bool, Progress] = True, workers: int = 4) -> Any:
        """Download the objects under ``prefix`` into ``local_path``; see
        :func:`e6driver.stores.transfer.download`."""
        return transfer.download(self, bucket, prefix, local_path, dry_run=dry_run, overwrite=overwrite,
                        progress=progress, workers=workers)

    def batch(self, workers: int = 8) -> "ObjectBatch":
        """Queue puts, gets and deletes that run concurrently; leaving the block waits for all of them."""
        return ObjectBatch(self, workers)


class ObjectBatch:
    """``with conn.objects.batch() as b: b.put(...); b.delete(...)`` — each call returns a Future.

    On leaving the block every operation has finished; the first failure is raised (unless the block itself
    raised), and the futures still tell each operation's result.
    """

    def __init__(self, client: ObjectStoreClient, workers: int = 8) -> None:
        self.client = client
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="e6objects")
        self.futures: List[Future] = []

    def _submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future:
        future = self._pool.submit(fn, *args, **kwargs)
        self.futures.append(future)
        return future

    def put(self, bucket: str, key: str, data: Union[str, bytes, BinaryIO], **kwargs: Any) -> Future:
        return self._submit(self.client.put, bucket, key, data, **kwargs)

    def put_file(self, bucket: str, key: str, path: Union[str, os.PathLike], **kwargs: Any) -> Future:
        return self._submit(self.client.put_file, bucket, key, path, **kwargs)

    def get(self, bucket: str, key: str) -> Future:
        return self._submit(self.client.get, bucket, key)

    def get_file(self, bucket: str, key: str, path: Union[str, os.PathLike]) -> Future:
        return self._submit(self.client.get_file, bucket, key, path)

    def delete(self, bucket: str, key: str) -> Future:
        return self._submit(self.client.delete, bucket, key)

    def results(self) -> Dict[int, Any]:
        return {i: f.result() for i, f in enumerate(self.futures)}

    def __enter__(self) -> "ObjectBatch":
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        self._pool.shutdown(wait=True)
        if exc_type is None:
            for future in self.futures:
                error = future.exception()
                if error is not None:
                    raise error
