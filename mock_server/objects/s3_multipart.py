"""Large objects put to S3 without a store-and-forward pause: multipart uploads that stream.

:class:`MultipartUpload` spools a put like any :class:`~mock_server.objects.backend.Upload`, and each time a full
part is spooled it goes out (UploadPart with a CRC-32 the endpoint checks) on the backend's I/O threads while
the rest is still arriving. :meth:`MultipartUpload.complete` runs only after the whole object was received and
checked (every chunk's running CRC-32, and the client's MD5 when it sent one); any failure before that aborts the
multipart upload, so a reader never sees a partial or unverified object.

The object's CRC-32 (and with it the store's etag, :func:`mock_server.objects.backend.local_etag`) is not known
when S3 needs its metadata (at CreateMultipartUpload), so :class:`EtagIndex` remembers both next to the ETag S3
gave the completed object; an entry whose ETag no longer matches (the object was replaced behind the engine's
back) is ignored. No MD5 is computed: it would be the one serial pass over the content (about 0.45 CPU s per
200 MiB, as much as the rest of the engine's work), and a multipart object's etag is not an MD5 on S3 either.

A same-host put (:meth:`MultipartUpload.copy_from`) reads the parts straight from the client's file: no spool
copy, each part's CRC-32 computed once (sent as S3's part checksum; the object's follows by
:func:`mock_server.checksums.crc32_combine`). Ranged reads are in :mod:`mock_server.objects.s3_ranges`.
"""
from __future__ import annotations

import base64
import json
import logging
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Dict, List, Optional, Tuple

import grpc

from mock_server import checksums
from mock_server.errors import EngineError
from mock_server.objects.backend import Upload

log = logging.getLogger(__name__)

PART_SIZE = 8 * 1024 * 1024  # multipart part and ranged-GET size (S3's minimum part is 5 MiB)
IN_FLIGHT = 6  # parts or ranges of one object moving at once (each held in memory while it moves)


def etag_of(raw: str) -> str:
    return (raw or "").strip('"')


class EtagIndex:
    """(bucket, key) -> (S3 ETag, the store's etag, CRC-32) of the multipart objects the engine wrote; appended
    to a JSON-lines file when ``path`` is given (the last line of a key wins), else in memory only. The store's
    etag is kept under ``md5``: engines before this one recorded the object's MD5 there."""

    def __init__(self, path: Optional[str]) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._entries: Dict[Tuple[str, str], Tuple[str, str, Optional[int]]] = {}
        if path and os.path.exists(path):
            with open(path, encoding="utf-8") as handle:
                for line in handle:
                    try:
                        item = json.loads(line)
                        self._entries[(item["bucket"], item["key"])] = (item["etag"], item["md5"],
                                                                        crc32_or_none(item.get("crc32")))
                    except (ValueError, KeyError, TypeError):
                        continue  # a line torn by a crash: that object just shows S3's ETag

    def remember(self, bucket: str, key: str, etag: str, store_etag: str, crc32: Optional[int] = None) -> None:
        with self._lock:
            self._entries[(bucket, key)] = (etag, store_etag, crc32)
            if self._path:
                with open(self._path, "a", encoding="utf-8") as handle:
                    handle.write(json.dumps({"bucket": bucket, "key": key, "etag": etag, "md5": store_etag,
                                             "crc32": crc32}) + "\n")

    def lookup(self, bucket: str, key: str, etag: str) -> Optional[Tuple[str, Optional[int]]]:
        """The store's etag and CRC-32 of ``bucket/key`` if its current S3 ETag is the one recorded, else None."""
        with self._lock:
            entry = self._entries.get((bucket, key))
        return entry[1:] if entry is not None and entry[0] == etag else None


def crc32_or_none(value: Any) -> Optional[int]:
    """A recorded CRC-32 (an int, or its decimal text in S3 metadata), None when absent or malformed."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 0 <= number < 2 ** 32 else None


class MultipartUpload(Upload):
    """A put to S3 that starts uploading parts while it is still being received. The spool file only stages
    the content (parts and the small-object PutObject are read back from it): the put is durable once S3 has
    it, so the spool is never fsynced."""

    durable = False

    def __init__(self, client: Any, pool: ThreadPoolExecutor, spool: str, bucket: str, key: str,
                 content_type: str) -> None:
        super().__init__(spool)
        self._client, self._pool = client, pool
        self.bucket, self.key, self.content_type = bucket, key, content_type
        self.upload_id: Optional[str] = None
        self._queued = 0  # bytes handed to part uploads
        self._parts: List[Future] = []

    @property
    def multipart(self) -> bool:
        return self.upload_id is not None

    def write(self, offset: int, data: bytes, crc32: Optional[int] = None,
              running_crc32: Optional[int] = None) -> None:
        super().write(offset, data, crc32, running_crc32)
        while self.size - self._queued >= PART_SIZE:
            self._queue_part(PART_SIZE)

    def copy_from(self, source: int, size: int) -> None:
        """A same-host put of an object of at least one part: its parts are read from the client's file and
        sent as they are read, with no spool copy; the CRC-32 is of the very bytes sent. A smaller object is
        spooled for its single PutObject."""
        if size < PART_SIZE:
            return super().copy_from(source, size)
        while self.size < size:
            data = os.pread(source, min(PART_SIZE, size - self.size), self.size)
            if not data:
                raise EngineError(grpc.StatusCode.ABORTED,
                                  f"the file was {size} bytes and ended after {self.size} while being stored")
            crc = checksums.crc32(data)  # S3's part checksum, and through it the object's
            self._queue_part(len(data), data, crc)
            self.crc32 = checksums.crc32_combine(self.crc32, crc, len(data))
            self.size += len(data)

    def _queue_part(self, length: int, body: Optional[bytes] = None, crc: Optional[int] = None) -> None:
        """Send the next ``length`` bytes as a part: ``body`` (whose CRC-32 is ``crc``), or read back from the
        spool file."""
        if body is None and not self._file.closed:
            self._file.flush()  # the part is read back from the spool file
        if self.upload_id is None:
            self.upload_id = self._client.create_multipart_upload(
                Bucket=self.bucket, Key=self.key, ContentType=self.content_type,
                ChecksumAlgorithm="CRC32")["UploadId"]
        # Bound the parts in flight (each holds its bytes in memory): wait for the oldest ones.
        pending = [p for p in self._parts if not p.done()]
        if len(pending) >= IN_FLIGHT:
            pending[0].result()
        for done in self._parts:
            if done.done() and done.exception() is not None:
                raise done.exception()  # type: ignore[misc]
        number, start = len(self._parts) + 1, self._queued
        self._parts.append(self._pool.submit(self._send_part, number, start, length, body, crc))
        self._queued += length

    def _send_part(self, number: int, start: int, length: int, body: Optional[bytes] = None,
                   crc: Optional[int] = None) -> Dict[str, Any]:
        if body is None:
            with open(self.path, "rb") as spool:
                body = os.pread(spool.fileno(), length, start)
        if len(body) != length:
            raise EngineError(grpc.StatusCode.INTERNAL, f"spooled part {number} of {self.key!r} is short")
        # The endpoint checks the part's CRC-32; given, botocore does not compute it again.
        checksum = {"ChecksumCRC32": base64.b64encode(crc.to_bytes(4, "big")).decode()} if crc is not None else {}
        response = self._client.upload_part(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id,
                                            PartNumber=number, Body=body, ChecksumAlgorithm="CRC32", **checksum)
        part = {"PartNumber": number, "ETag": response["ETag"]}
        if response.get("ChecksumCRC32"):
            part["ChecksumCRC32"] = response["ChecksumCRC32"]
        return part

    def complete(self) -> str:
        """Send the last part, wait for every part and complete the upload (after :meth:`finish` checked the
        content); the completed object's S3 ETag."""
        if self.size > self._queued:
            self._queue_part(self.size - self._queued)
        parts = [future.result() for future in self._parts]
        response = self._client.complete_multipart_upload(
            Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, MultipartUpload={"Parts": parts})
        self.upload_id = None  # completed: nothing to abort any more
        return etag_of(response.get("ETag", ""))

    def discard(self) -> None:
        try:
            if self.upload_id is not None:
                for future in self._parts:
                    future.cancel()
                for future in self._parts:
                    if not future.cancelled():
                        try:
                            future.result()
                        except Exception:  # noqa: BLE001 - aborting anyway
                            pass
                try:
                    self._client.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id)
                except Exception:  # noqa: BLE001 - the endpoint expires abandoned uploads itself
                    log.warning("could not abort the multipart upload of %s/%s", self.bucket, self.key)
                self.upload_id = None
        finally:
            super().discard()
