"""Large objects read from S3 with parallel ranged GETs.

:func:`ranged_read` reads an object in PART_SIZE ranges, IN_FLIGHT at a time, yielded in order;
:func:`ranged_read_into` (same-host gets) has each range written straight into the client's file at its offset
by the thread that fetched it, and combines the ranges' CRC-32s in order. Every range after the first carries
If-Match with the first one's ETag, so a concurrent overwrite fails the read (ABORTED) instead of mixing two
versions.
"""
from __future__ import annotations

import collections
import re
import zlib
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any, Deque, Dict, Iterator, Optional, Tuple

import grpc

from mock_server.errors import EngineError
from mock_server.files import pwrite_all
from mock_server.objects.crc32 import crc32_combine
from mock_server.objects.s3_multipart import IN_FLIGHT, PART_SIZE, etag_of


def _code(exc: BaseException) -> str:
    return str((getattr(exc, "response", None) or {}).get("Error", {}).get("Code", ""))


def _fetch(client: Any, bucket: str, key: str, start: int, end: int, etag: Optional[str]) -> Dict[str, Any]:
    """One ranged GET, its body read into ``data``; pinned to ``etag`` when given."""
    kwargs: Dict[str, Any] = {"Bucket": bucket, "Key": key, "Range": f"bytes={start}-{end}"}
    if etag:
        kwargs["IfMatch"] = f'"{etag}"'
    try:
        response = client.get_object(**kwargs)
    except Exception as exc:
        if etag and _code(exc) in ("PreconditionFailed", "412"):
            raise EngineError(grpc.StatusCode.ABORTED,
                              f"object {key!r} in bucket {bucket!r} was replaced while being read") from None
        raise
    with response["Body"] as body:
        response["data"] = body.read()
    return response


def _first(client: Any, bucket: str, key: str) -> Tuple[Dict[str, Any], int, str, Deque[Tuple[int, int]]]:
    """The first range (its response describes the object), the object's size, its S3 ETag and the ranges
    left to read."""
    try:
        first = _fetch(client, bucket, key, 0, PART_SIZE - 1, None)
    except Exception as exc:
        if _code(exc) != "InvalidRange":
            raise
        first = {"data": b"", "ContentRange": "", "ETag": ""}  # an empty object has no byte 0
    total_match = re.search(r"/(\d+)$", first.get("ContentRange") or "")
    total = int(total_match.group(1)) if total_match else len(first["data"])
    ranges = collections.deque((start, min(start + PART_SIZE, total) - 1)
                               for start in range(PART_SIZE, total, PART_SIZE))
    return first, total, etag_of(first.get("ETag", "")), ranges


def ranged_read(client: Any, pool: ThreadPoolExecutor, bucket: str, key: str, chunk_size: int) -> Iterator[bytes]:
    """The object's bytes in pieces of at most ``chunk_size`` (botocore errors propagate)."""
    first, _, etag, ranges = _first(client, bucket, key)
    waiting: Deque[Future] = collections.deque()
    try:
        yield from _pieces(first["data"], chunk_size)
        while ranges or waiting:
            while ranges and len(waiting) < IN_FLIGHT:
                start, end = ranges.popleft()
                waiting.append(pool.submit(_fetch, client, bucket, key, start, end, etag))
            yield from _pieces(waiting.popleft().result()["data"], chunk_size)
    finally:
        for future in waiting:
            future.cancel()


def ranged_read_into(client: Any, pool: ThreadPoolExecutor, bucket: str, key: str,
                     fd: int) -> Tuple[Dict[str, Any], int, int]:
    """Write the object into the open file ``fd`` from offset 0, each range by the thread that fetched it;
    returns the first range's response (its headers describe the object), the bytes written and their CRC-32.
    Returns only once no thread writes into ``fd`` any more (also when it fails)."""
    first, _, etag, ranges = _first(client, bucket, key)
    data = first.pop("data")
    pwrite_all(fd, data, 0)
    written, crc = len(data), zlib.crc32(data)
    del data

    def fetch_into(start: int, end: int) -> Tuple[int, int]:
        got = _fetch(client, bucket, key, start, end, etag)["data"]
        if len(got) != end - start + 1:
            raise EngineError(grpc.StatusCode.ABORTED, f"object {key!r} in bucket {bucket!r} changed while read")
        pwrite_all(fd, got, start)
        return zlib.crc32(got), len(got)

    waiting: Deque[Future] = collections.deque()
    try:
        while ranges or waiting:
            while ranges and len(waiting) < IN_FLIGHT:
                waiting.append(pool.submit(fetch_into, *ranges.popleft()))
            part_crc, length = waiting.popleft().result()  # in order: the CRC-32s combine in order
            crc = crc32_combine(crc, part_crc, length)
            written += length
    finally:
        for future in waiting:
            future.cancel()
        wait(waiting)  # the descriptor is closed after this returns: no write may come later
    return first, written, crc


def _pieces(data: bytes, size: int) -> Iterator[bytes]:
    if len(data) <= size:
        if data:
            yield data
        return
    view = memoryview(data)
    for start in range(0, len(data), size):
        yield bytes(view[start:start + size])
