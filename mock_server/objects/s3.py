"""The S3-compatible object-store backend: buckets and objects on an S3 endpoint (AWS, SeaweedFS, MinIO...).

The store API goes through botocore (the client boto3 wraps); SQL reads go through s3fs, wrapped as a
pyarrow filesystem for the Arrow datasets of :mod:`mock_server.objects.scan` (DuckDB itself touches no
files). A put is spooled and verified locally (:class:`mock_server.objects.backend.Upload`). A small one is
then sent in one PutObject with its Content-MD5 (the endpoint checks it); a larger one becomes a multipart
upload whose parts (each with a CRC-32 the endpoint checks) go out on worker threads *while* the rest is still
arriving, and which is completed only once the whole object was received and checked (aborted otherwise:
nothing becomes visible). Large objects are read back with parallel ranged GETs, pinned to one version by
If-Match.

Etags: a single-part object's is its MD5 (S3's ETag, also kept in the object's metadata); a multipart object
the engine wrote has the local store's etag, CRC-32 and size (:func:`mock_server.objects.backend.local_etag`,
recorded in :class:`mock_server.objects.s3_multipart.EtagIndex`): computing an MD5 too would cost as much CPU
as the rest of the put. Any other object shows the endpoint's ETag.
"""
from __future__ import annotations

import base64
import calendar
import fcntl
import ipaddress
import logging
import os
import re
import tempfile
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterator, List, Optional, Set, Tuple

import grpc

from mock_server.errors import EngineError
from mock_server.objects.s3_multipart import EtagIndex, MultipartUpload, crc32_or_none, etag_of
from mock_server.objects.s3_ranges import ranged_read, ranged_read_into
from mock_server.objects.backend import (ObjectBackend, ObjectInfo, Upload, checked_read, local_etag, md5_file,
                                         not_found, prepare_spool)
from mock_server.objects.copies import READ_CHUNK
from mock_server.objects.names import guess_content_type

log = logging.getLogger(__name__)

MD5_META = "md5"  # x-amz-meta-md5
CRC32_META = "crc32"  # x-amz-meta-crc32: decimal zlib CRC-32 of the content
_MD5 = re.compile("^[0-9a-f]{32}$")
IO_THREADS = 16  # multipart parts and ranged GETs, shared by every put and get of the backend


def _missing(exc: Exception) -> bool:
    response = getattr(exc, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return status == 404 or code in ("404", "NoSuchKey", "NoSuchBucket", "NotFound")


def _readable(fd: int) -> bool:
    return fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE != os.O_WRONLY


def _s3_options(endpoint: str) -> dict:
    """botocore's S3 options for ``endpoint``. Bodies are not SHA-256 signed where nobody can alter them on the
    way (TLS, or loopback): hashing costs both ends a pass over every byte (a 200 MiB put: 0.2-0.3 CPU s here),
    and the CRC-32 or Content-MD5 header, which is signed, still lets the endpoint check the body. Over plain
    HTTP to another host the signature keeps covering the body."""
    options: dict = {"addressing_style": "path"}
    parts = urllib.parse.urlsplit(endpoint)
    if parts.scheme == "https" or _loopback(parts.hostname or ""):
        options["payload_signing_enabled"] = False
    return options


def _loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name
        return False


def _unix(moment: Any) -> float:
    return calendar.timegm(moment.utctimetuple()) + moment.microsecond / 1e6


class S3ObjectBackend(ObjectBackend):
    """Buckets are the endpoint's buckets. ``spool_root`` holds uploads being received (default: temp), in
    ``objects-spool``, emptied at start."""

    def __init__(self, endpoint: str, access_key: str, secret_key: str, region: str = "us-east-1",
                 spool_root: Optional[str] = None) -> None:
        import botocore.config
        import botocore.session

        self.endpoint, self.region = endpoint, region
        self._access_key, self._secret_key = access_key, secret_key
        self._filesystem: Any = None  # see arrow_filesystem
        config = botocore.config.Config(s3=_s3_options(endpoint), retries={"max_attempts": 3},
                                        max_pool_connections=32)
        self._client = botocore.session.get_session().create_client(
            "s3", endpoint_url=endpoint, region_name=region, aws_access_key_id=access_key,
            aws_secret_access_key=secret_key, config=config)
        if spool_root:
            self._spool = os.path.join(spool_root, "objects-spool")
            prepare_spool(self._spool)  # as for local buckets
        else:
            self._spool = tempfile.mkdtemp(prefix="e6spool-")
        # The file keeps its first name: engines before this one recorded multipart MD5s in it.
        self._etags = EtagIndex(os.path.join(spool_root, "s3-multipart-md5.jsonl") if spool_root else None)
        self._pool = ThreadPoolExecutor(max_workers=IO_THREADS, thread_name_prefix="e6s3")
        log.info("object stores on S3 endpoint %s (region %s)", endpoint, region)

    def spool_dir(self) -> str:
        return self._spool

    def upload(self, bucket: str, key: str, content_type: str) -> Upload:
        return MultipartUpload(self._client, self._pool, self._spool, bucket, key, content_type)

    def create_bucket(self, bucket: str) -> bool:
        if self.bucket_exists(bucket):
            return False
        kwargs: dict = {"Bucket": bucket}
        if self.region and self.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            self._client.create_bucket(**kwargs)
        except self._client.exceptions.BucketAlreadyOwnedByYou:
            return False
        return True

    def buckets(self) -> List[str]:
        return sorted(b["Name"] for b in self._client.list_buckets().get("Buckets", []))

    def bucket_exists(self, bucket: str) -> bool:
        try:
            self._client.head_bucket(Bucket=bucket)
            return True
        except Exception as exc:  # botocore ClientError
            if _missing(exc):
                return False
            raise

    def commit(self, upload: Upload, bucket: str, key: str, etag: str, content_type: str,
               if_absent: bool = False, flush: Optional[Set[str]] = None) -> ObjectInfo:
        if not self.bucket_exists(bucket):
            raise not_found(bucket)
        if if_absent and self.stat(bucket, key) is not None:
            raise EngineError(grpc.StatusCode.ALREADY_EXISTS, f"object {key!r} already exists")
        if isinstance(upload, MultipartUpload) and upload.multipart:
            self._etags.remember(bucket, key, upload.complete(), local_etag(upload.crc32, upload.size), upload.crc32)
        else:
            digest = md5_file(upload.path)[0]  # the endpoint checks the body against it, and it is the ETag
            with open(upload.path, "rb") as body:
                self._client.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type,
                                        ContentMD5=base64.b64encode(bytes.fromhex(digest)).decode(),
                                        Metadata={MD5_META: digest, CRC32_META: str(upload.crc32)})
        info = self.stat(bucket, key)
        if info is None:
            raise EngineError(grpc.StatusCode.INTERNAL, f"object {key!r} vanished right after its put")
        return info

    def stat(self, bucket: str, key: str) -> Optional[ObjectInfo]:
        try:
            head = self._client.head_object(Bucket=bucket, Key=key)
        except Exception as exc:
            if _missing(exc):
                return None
            raise
        return self._described(bucket, key, head, int(head["ContentLength"]))

    def _described(self, bucket: str, key: str, response: dict, size: int) -> ObjectInfo:
        """The object as a HEAD or GET ``response`` describes it."""
        meta = response.get("Metadata", {})
        etag, crc32 = meta.get(MD5_META), crc32_or_none(meta.get(CRC32_META))
        if not etag:
            etag, crc32 = self._etag(bucket, key, response.get("ETag", ""))
        return ObjectInfo(bucket, key, size, etag, _unix(response["LastModified"]),
                          response.get("ContentType") or guess_content_type(key), crc32)

    def read(self, bucket: str, key: str, chunk_size: int = READ_CHUNK) -> Iterator[bytes]:
        try:
            yield from ranged_read(self._client, self._pool, bucket, key, chunk_size)
        except Exception as exc:
            if _missing(exc):
                raise not_found(bucket, key) from None
            raise

    def read_into(self, bucket: str, key: str, fd: int) -> ObjectInfo:
        """Parallel ranged GETs written in order straight into the client's file; the CRC-32 of what was written
        checked against the one recorded (else, for an object written behind the engine's back whose etag is an
        MD5, the MD5 of what was written, read back where the file is readable)."""
        try:
            first, size, crc = ranged_read_into(self._client, self._pool, bucket, key, fd)
        except Exception as exc:
            if _missing(exc):
                raise not_found(bucket, key) from None
            raise
        info = self._described(bucket, key, first, size) if "LastModified" in first else self.stat(bucket, key)
        if info is None:
            raise not_found(bucket, key)
        checked_read(info, size, crc)
        if info.crc32 is None and _MD5.match(info.etag) and _readable(fd) and md5_file(fd)[0] != info.etag:
            raise EngineError(grpc.StatusCode.DATA_LOSS, f"object {key!r} in bucket {bucket!r} does not match "
                              "its etag")
        return info

    def delete(self, bucket: str, key: str) -> bool:
        if self.stat(bucket, key) is None:
            return False
        self._client.delete_object(Bucket=bucket, Key=key)
        return True

    def list(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]:
        if not self.bucket_exists(bucket):
            raise not_found(bucket)
        pages = self._client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for page in pages:
            for item in page.get("Contents", []):
                key = item["Key"]
                if key.endswith("/"):
                    continue  # a "directory marker" some tools create
                etag, crc32 = self._etag(bucket, key, item.get("ETag", ""))
                yield ObjectInfo(bucket, key, int(item["Size"]), etag, _unix(item["LastModified"]),
                                 guess_content_type(key), crc32)

    def _etag(self, bucket: str, key: str, raw: str) -> Tuple[str, Optional[int]]:
        """The store's etag (a single-part ETag is the MD5; a multipart one the engine wrote is looked up), else
        S3's ETag; and the CRC-32 where the engine recorded it."""
        etag = etag_of(raw)
        recorded = self._etags.lookup(bucket, key, etag) if "-" in etag else None
        return recorded if recorded is not None else (etag, None)

    def arrow_filesystem(self) -> Any:
        """s3fs (one instance, made on first use) wrapped as an Arrow filesystem."""
        if self._filesystem is None:
            import pyarrow.fs
            import s3fs

            s3 = s3fs.S3FileSystem(
                key=self._access_key, secret=self._secret_key, endpoint_url=self.endpoint,
                client_kwargs={"region_name": self.region}, use_listings_cache=False, skip_instance_cache=True,
                config_kwargs={"s3": {"addressing_style": "path"}})
            self._filesystem = pyarrow.fs.PyFileSystem(pyarrow.fs.FSSpecHandler(s3))
        return self._filesystem

    def arrow_path(self, bucket: str, key: str) -> str:
        return f"{bucket}/{key}"

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._client.close()
