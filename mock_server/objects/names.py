"""Names in the object stores: bucket names, object keys and listing prefixes are checked against the rules
here before any path is built (so no name can leave its bucket), and a key's content type is guessed from it."""
from __future__ import annotations

import mimetypes
import re

import grpc

from mock_server.errors import EngineError


MAX_KEY_BYTES = 1024
MAX_LEVEL_BYTES = 250  # one '/'-separated level: a file name, with room for the store's own suffixes
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_CONTROL = re.compile("[\x00-\x1f]")  # checked on every object access: a regex, not a loop over characters


def bad_key(message: str) -> EngineError:
    return EngineError(grpc.StatusCode.INVALID_ARGUMENT, message)


def check_bucket(bucket: str) -> str:
    """``bucket`` if it follows the S3 naming rules, else INVALID_ARGUMENT."""
    if not _BUCKET.match(bucket or "") or ".." in bucket:
        raise bad_key(f"invalid bucket name {bucket!r}: 3-63 characters of a-z, 0-9, '.' and '-', "
                      "starting and ending with a letter or digit")
    return bucket


def check_key(key: str) -> str:
    """``key`` if it is a safe relative object key, else INVALID_ARGUMENT saying what is wrong."""
    if not key:
        raise bad_key("object key is empty")
    if "\x00" in key:
        raise bad_key(f"object key {key!r} contains a NUL character")
    if "\\" in key:
        raise bad_key(f"object key {key!r} contains a backslash; use '/' to separate levels")
    if key.startswith("/") or re.match(r"^[A-Za-z]:", key):
        raise bad_key(f"object key {key!r} is an absolute path; keys are relative to the bucket")
    if _CONTROL.search(key):
        raise bad_key(f"object key {key!r} contains a control character")
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise bad_key(f"object key is longer than {MAX_KEY_BYTES} bytes")
    parts = key.split("/")
    if any(len(part.encode("utf-8", "surrogatepass")) > MAX_LEVEL_BYTES for part in parts):
        raise bad_key(f"a level of object key {key[:80]!r}... is longer than {MAX_LEVEL_BYTES} bytes")
    if ".." in parts:
        raise bad_key(f"object key {key!r} contains a '..' segment")
    if "." in parts or "" in parts:
        raise bad_key(f"object key {key!r} has an empty or '.' segment (leading, trailing or double '/')")
    return key


def check_prefix(prefix: str) -> str:
    """``prefix`` if it is a safe listing prefix (empty, a key, a key ending in ``/``, or a partial last
    segment), else INVALID_ARGUMENT: the same rules as keys, so it can never leave the bucket."""
    if not prefix:
        return prefix
    head, _, last = prefix.rpartition("/")
    if head:
        check_key(head)
    if last in (".", ".."):
        raise bad_key(f"listing prefix {prefix!r} ends in a {last!r} segment")
    if last:
        check_key(last)
    elif prefix.startswith("/"):
        raise bad_key(f"listing prefix {prefix!r} is an absolute path; prefixes are relative to the bucket")
    return prefix


def guess_content_type(key: str) -> str:
    kind, encoding = mimetypes.guess_type(key, strict=False)
    if encoding == "gzip":
        return "application/gzip"
    if key.endswith((".zst", ".zstd")):
        return "application/zstd"
    if key.endswith(".parquet"):
        return "application/vnd.apache.parquet"
    if key.endswith((".jsonl", ".ndjson")):
        return "application/x-ndjson"
    return kind or "application/octet-stream"
