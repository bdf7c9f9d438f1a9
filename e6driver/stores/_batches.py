"""Small files in batches: many whole objects per message, many messages per call (PutBatch / GetBatch).

A tree of small files moved one call per file pays a round trip and an authentication per file; here one
call carries up to BATCH_FILES files. Each object still has its CRC-32, checked on arrival (on a get also
against the CRC-32 recorded when the object was stored, or against its MD5 etag where none was recorded; the
engine computes a put's MD5 etag itself), and each is committed on its own, atomically: one
file's failure — a local file that cannot be read or written, a key the engine refuses — is that file's
result, and the rest of the batch goes on.
"""
from __future__ import annotations

import errno
import hashlib
import os
import stat
import uuid
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Optional, Set, Tuple, Union

import grpc

from . import _checksums
from .. import errors
from .._proto import e6driver_stores_pb2 as st_pb
from ..protocol import local_transfer

if TYPE_CHECKING:
    from .objects import ObjectInfo, ObjectStoreClient

BATCH_FILE_MAX = 1024 * 1024  # files up to this size travel in batches; larger ones in their own call
BATCH_FILES = 250  # files per call
MESSAGE_BYTES = 2 * 1024 * 1024  # bytes of files per message
GET_OBJECT_MAX = 4 * 1024 * 1024  # the engine sends larger objects only through Get

Outcome = Union["ObjectInfo", BaseException]  # per key: what was stored / written, or why not
Added = Callable[[int], None]  # called with the bytes of each file moved


_CODE_NAMES = {code.value[0]: code.name for code in grpc.StatusCode}


def _failure(client: "ObjectStoreClient", result: Any, rpc: str) -> errors.Error:
    # Shaped like a failed call, so it maps to the usual driver error.
    return client._error(local_transfer.StatusError(_CODE_NAMES.get(result.code, "UNKNOWN"), result.message), rpc)


def groups(items: List[Tuple[str, str, int]], limit: int = BATCH_FILES) -> List[List[Tuple[str, str, int]]]:
    """``items`` (key, path, size) cut into calls of at most ``limit`` files."""
    return [items[start:start + limit] for start in range(0, len(items), limit)]


def put_files(client: "ObjectStoreClient", bucket: str, items: List[Tuple[str, str, int]],
              added: Optional[Added] = None) -> Dict[str, Outcome]:
    """Store local files (key, path, size) in one PutBatch call (same-host requests where they can be used);
    every key's outcome."""
    from .objects import ObjectInfo

    done = _same_host(client, lambda name: _local_puts(client, name, bucket, items, added))
    if done is not None:
        return done

    outcomes: Dict[str, Outcome] = {}
    sent: List[str] = []

    def messages() -> Iterator[st_pb.PutBatchRequest]:
        message = st_pb.PutBatchRequest(auth=client._auth(), bucket=bucket)
        size = 0
        for key, path, _ in items:
            try:
                with open(path, "rb") as handle:
                    data = handle.read()
            except OSError as exc:  # this file fails; the batch goes on
                outcomes[key] = exc
                continue
            message.objects.append(st_pb.BatchObject(key=key, data=data, crc32=_checksums.crc32(data)))
            sent.append(key)
            size += len(data)
            if size >= MESSAGE_BYTES:
                yield message
                if added is not None:
                    added(size)
                message, size = st_pb.PutBatchRequest(), 0
        yield message  # possibly empty: it still carries the auth when no file could be read
        if added is not None and size:
            added(size)

    def call(stub: Any, md: list) -> Any:
        outcomes.clear()
        sent.clear()
        return stub.PutBatch(messages(), metadata=md)

    response = client._invoke("PutBatch", call)
    if len(response.results) != len(sent):
        raise errors.DataError(f"PutBatch answered {len(response.results)} results for {len(sent)} objects")
    for key, result in zip(sent, response.results):
        outcomes[key] = _failure(client, result, "PutBatch") if result.code else ObjectInfo.from_message(result.info)
    return outcomes


def get_files(client: "ObjectStoreClient", bucket: str, items: List[Tuple[str, str, int]],
              added: Optional[Added] = None) -> Dict[str, Outcome]:
    """Write objects (key, local path, size) in one GetBatch call (same-host requests where they can be used),
    each file atomically (a temporary file renamed into place); every key's outcome."""
    from .objects import ObjectInfo

    done = _same_host(client, lambda name: _local_gets(client, name, bucket, items, added))
    if done is not None:
        return done

    targets = {key: path for key, path, _ in items}
    outcomes: Dict[str, Outcome] = {}

    def call(stub: Any, md: list) -> None:
        outcomes.clear()
        request = st_pb.GetBatchRequest(auth=client._auth(), bucket=bucket, keys=list(targets))
        for chunk in stub.GetBatch(request, metadata=md):
            for result in chunk.failed:
                outcomes[result.key] = _failure(client, result, "GetBatch")
            for obj in chunk.objects:
                outcomes[obj.key] = _write(bucket, obj, targets.get(obj.key))
                if added is not None and isinstance(outcomes[obj.key], ObjectInfo):
                    added(len(obj.data))

    client._invoke("GetBatch", call)
    for key in targets:
        if key not in outcomes:
            outcomes[key] = errors.DataError(f"object {bucket}/{key}: GetBatch did not send it")
    return outcomes


def _same_host(client: "ObjectStoreClient", run: Callable[[str], Dict[str, Outcome]]) -> Optional[Dict[str, Outcome]]:
    """``run(socket name)`` when same-host requests can be used; None when gRPC must move the files."""
    name = client._local_socket()
    if name is None:
        return None
    try:
        return run(name)
    except local_transfer.Unavailable:
        return None


def _requests(count: int) -> List[Tuple[int, int]]:
    """(start, end) of the same-host requests moving ``count`` files: as few as MAX_KEYS allows, of equal
    size (250 files went as 200 and then 50, the last request's fixed costs for a few files)."""
    requests = -(-count // local_transfer.MAX_KEYS)
    size = -(-count // requests) if requests else 1
    return [(start, min(start + size, count)) for start in range(0, count, size)]


def _local_puts(client: "ObjectStoreClient", name: str, bucket: str, items: List[Tuple[str, str, int]],
                added: Optional[Added]) -> Dict[str, Outcome]:
    """:func:`put_files` by same-host requests: each hands over up to MAX_KEYS open files (:func:`_requests`)."""
    outcomes: Dict[str, Outcome] = {}
    for start, end in _requests(len(items)):
        keys, fds = [], []
        try:
            for key, path, _ in items[start:end]:
                try:
                    fds.append(_open_regular(path))
                except OSError as exc:  # this file fails; the batch goes on
                    outcomes[key] = exc
                    continue
                keys.append(key)
            if keys:
                results = client._local_many(name, "put", bucket, keys, fds)
                for key, result in zip(keys, results):
                    outcomes[key] = result
                    if added is not None and not isinstance(result, BaseException):
                        added(result.size)
        finally:
            for fd in fds:
                os.close(fd)
    return outcomes


def _open_regular(path: str) -> int:
    """``path`` opened for reading; IsADirectoryError (as ``open`` raises) for a directory."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    if stat.S_ISDIR(os.fstat(fd).st_mode):
        os.close(fd)
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
    return fd


def _local_gets(client: "ObjectStoreClient", name: str, bucket: str, items: List[Tuple[str, str, int]],
                added: Optional[Added]) -> Dict[str, Outcome]:
    """:func:`get_files` by same-host requests: the engine writes into temporary files handed over, which
    are renamed into place once it reported the object complete."""
    outcomes: Dict[str, Outcome] = {}
    made: Set[str] = set()  # directories made (or found) for earlier files
    names = f".e6get-{uuid.uuid4().hex}-"  # + a counter: one random name per call, not per file
    for start, end in _requests(len(items)):
        opened: List[Tuple[str, str, str, int]] = []  # (key, target, temporary, fd)
        published = set()
        try:
            for number, (key, target, _) in enumerate(items[start:end], start):
                directory = os.path.dirname(target)
                temporary = os.path.join(directory, f"{names}{number}")
                try:
                    if directory not in made:
                        os.makedirs(directory, exist_ok=True)
                        made.add(directory)
                    fd = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
                except OSError as exc:
                    outcomes[key] = exc
                    continue
                opened.append((key, target, temporary, fd))
            if opened:
                results = client._local_many(name, "get", bucket, [o[0] for o in opened], [o[3] for o in opened])
                for (key, target, temporary, fd), result in zip(opened, results):
                    outcome = outcomes[key] = _publish(bucket, key, result, fd, temporary, target)
                    if not isinstance(outcome, BaseException):
                        published.add(key)
                        if added is not None:
                            added(outcome.size)
        finally:
            for key, _, temporary, fd in opened:
                os.close(fd)
                if key not in published:
                    try:
                        os.unlink(temporary)
                    except OSError:
                        pass
    return outcomes


def _publish(bucket: str, key: str, result: Outcome, fd: int, temporary: str, target: str) -> Outcome:
    if isinstance(result, BaseException):
        return result
    written = os.fstat(fd).st_size
    if written != result.size:
        return errors.DataError(f"object {bucket}/{key}: {written} bytes written, expected {result.size}")
    try:
        os.replace(temporary, target)
    except OSError as exc:
        return exc
    return result


def _write(bucket: str, obj: Any, target: Optional[str]) -> Outcome:
    from .objects import ObjectInfo, _is_md5

    info = ObjectInfo.from_message(obj.info)
    if target is None:
        return errors.DataError(f"object {bucket}/{obj.key}: GetBatch sent a key that was not asked for")
    data = obj.data
    crc32 = _checksums.crc32(data)
    if crc32 != obj.crc32 or len(data) != info.size:
        return errors.DataError(f"object {bucket}/{obj.key}: damaged in transit")
    if info.crc32 is not None:
        if crc32 != info.crc32:
            return errors.DataError(f"object {bucket}/{obj.key}: content does not match the checksum recorded "
                                    "when it was stored")
    elif _is_md5(info.etag) and hashlib.md5(data).hexdigest() != info.etag:
        return errors.DataError(f"object {bucket}/{obj.key}: content does not match its etag")
    temporary = os.path.join(os.path.dirname(target), f".e6get-{uuid.uuid4().hex}")
    try:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # as get_file's temporary file
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.replace(temporary, target)
    except OSError as exc:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        return exc
    return info
