"""Large objects read from S3 with parallel ranged GETs.

:func:`ranged_read` reads an object in PART_SIZE ranges, IN_FLIGHT at a time, yielded in order;
:func:`ranged_read_into` (same-host gets) writes them in order straight into the client's file, checksummed
as written. Every range after the first carries
If-Match with the first one's ETag, so a concurrent overwrite fails the read (ABORTED) instead of mixing two
versions.
"""
from __future__ import annotations

import collections
import itertools
import re
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Deque, Dict, Iterator, Optional, Tuple

import grpc

from mock_server import checksums
from mock_server.errors import EngineError
from mock_server.files import pwrite_all
from mock_server.objects.s3_multipart import IN_FLIGHT, PART_SIZE, etag_of


def _code(exc: BaseException) -> str:
    return str((getattr(exc, "response", None) or {}).get("Error", {}).get("Code", ""))


def _request(client: Any, bucket: str, key: str, start: int, end: int, etag: Optional[str]) -> Dict[str, Any]:
    """One ranged GET, its body not read yet; pinned to ``etag`` when given."""
    kwargs: Dict[str, Any] = {"Bucket": bucket, "Key": key, "Range": f"bytes={start}-{end}"}
    if etag:
        kwargs["IfMatch"] = f'"{etag}"'
    try:
        return client.get_object(**kwargs)
    except Exception as exc:
        if etag and _code(exc) in ("PreconditionFailed", "412"):
            raise EngineError(grpc.StatusCode.ABORTED,
                              f"object {key!r} in bucket {bucket!r} was replaced while being read") from None
        raise


def _fetch(client: Any, bucket: str, key: str, start: int, end: int, etag: Optional[str]) -> Dict[str, Any]:
    """:func:`_request` with its body read into ``data``."""
    response = _request(client, bucket, key, start, end, etag)
    with response["Body"] as body:
        response["data"] = body.read()
    return response


def _first(client: Any, bucket: str, key: str,
           read: Callable[[Dict[str, Any]], int]) -> Tuple[Dict[str, Any], str, Deque[Tuple[int, int]]]:
    """The first range's response (it describes the object), the object's S3 ETag and the ranges left;
    ``read(response)`` takes the first range's body and says how many bytes it had."""
    try:
        first = _request(client, bucket, key, 0, PART_SIZE - 1, None)
        got = read(first)
    except Exception as exc:
        if _code(exc) != "InvalidRange":
            raise
        first, got = {"ContentRange": "", "ETag": ""}, 0  # an empty object has no byte 0
    total_match = re.search(r"/(\d+)$", first.get("ContentRange") or "")
    total = int(total_match.group(1)) if total_match else got
    ranges = collections.deque((start, min(start + PART_SIZE, total) - 1)
                               for start in range(PART_SIZE, total, PART_SIZE))
    return first, etag_of(first.get("ETag", "")), ranges


def _body(response: Dict[str, Any]) -> int:
    with response["Body"] as body:
        response["data"] = body.read()
    return len(response["data"])


def _in_order(client: Any, pool: ThreadPoolExecutor, bucket: str, key: str, etag: str,
              ranges: Deque[Tuple[int, int]]) -> Iterator[bytes]:
    """The bodies of ``ranges``, fetched IN_FLIGHT at a time on ``pool``, in order."""
    waiting: Deque[Future] = collections.deque()
    try:
        while ranges or waiting:
            while ranges and len(waiting) < IN_FLIGHT:
                start, end = ranges.popleft()
                waiting.append(pool.submit(_fetch, client, bucket, key, start, end, etag))
            yield waiting.popleft().result()["data"]
    finally:
        for future in waiting:
            future.cancel()


def ranged_read(client: Any, pool: ThreadPoolExecutor, bucket: str, key: str, chunk_size: int) -> Iterator[bytes]:
    """The object's bytes in pieces of at most ``chunk_size`` (botocore errors propagate)."""
    first, etag, ranges = _first(client, bucket, key, _body)
    yield from _pieces(first.get("data", b""), chunk_size)
    for data in _in_order(client, pool, bucket, key, etag, ranges):
        yield from _pieces(data, chunk_size)


def ranged_read_into(client: Any, pool: ThreadPoolExecutor, bucket: str, key: str,
                     fd: int) -> Tuple[Dict[str, Any], int, int]:
    """Write the object into the open file ``fd`` from offset 0, ranges fetched in parallel and written in
    order by this thread (one writer: parallel writers of one file measured several times the CPU, queueing
    on its lock); returns the first range's response (its headers describe the object), the bytes written and
    their CRC-32."""
    first, etag, ranges = _first(client, bucket, key, _body)
    written, crc = 0, 0
    for data in itertools.chain([first.pop("data", b"")], _in_order(client, pool, bucket, key, etag, ranges)):
        pwrite_all(fd, data, written)
        written, crc = written + len(data), checksums.crc32(data, crc)
    return first, written, crc


def _pieces(data: bytes, size: int) -> Iterator[bytes]:
    if len(data) <= size:
        if data:
            yield data
        return
    view = memoryview(data)
    for start in range(0, len(data), size):
        yield bytes(view[start:start + size])
