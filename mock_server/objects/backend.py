"""What an object store is to the rest of the engine: :class:`ObjectBackend` (local directory or S3), the
:class:`ObjectInfo` it describes objects with, and :class:`Upload`, a put being received (spooled to a temp file,
CRC-checked chunk by chunk, etag :func:`local_etag`); the spool is swept of a previous run's leftovers at start."""
from __future__ import annotations

import hashlib
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO, Iterable, Iterator, List, Optional, Set, Tuple, Union

import grpc

from mock_server import checksums
from mock_server.errors import EngineError
from mock_server.files import spread_subdirectories
from mock_server.objects.copies import READ_CHUNK, WRITEBACK_STEP, copy_with_crc, create_spool_file, start_writeback

if TYPE_CHECKING:
    import pyarrow.fs


log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ObjectInfo:
    bucket: str
    key: str
    size: int
    etag: str
    last_modified: float
    content_type: str
    crc32: Optional[int] = None  # zlib CRC-32 of the content, recorded when stored (None: not known)


def not_found(bucket: str, key: str = "") -> EngineError:
    what = f"object {key!r} in bucket {bucket!r}" if key else f"bucket {bucket!r}"
    return EngineError(grpc.StatusCode.NOT_FOUND, f"{what} not found")


def data_loss(message: str) -> EngineError:
    return EngineError(grpc.StatusCode.DATA_LOSS, message)


def check_md5(sent: str, digest: str) -> None:
    """DATA_LOSS unless ``sent`` (a client's MD5 of what it sent, any case) is ``digest`` (of what arrived)."""
    if sent.lower() != digest:
        raise data_loss(f"object checksum mismatch: sent {sent}, received content has {digest}")


def local_etag(crc32: int, size: int) -> str:
    """The etag the local store gives content it writes: its CRC-32 and size (the store computes the CRC-32
    anyway; an MD5 would cost a second pass at a sixth of the speed). Not 32 hex digits, so no client takes it
    for an MD5; S3's own etags are not MD5s either for multipart or KMS-encrypted objects."""
    return f"{crc32:08x}-{size:x}"


class Upload:
    """Content of one put being received: spooled to a temp file, CRC-checked per chunk. ``crc32`` is the
    CRC-32 of what was received so far; the etag comes from it (:func:`local_etag`)."""

    # The spool file becomes the object (local buckets): it is flushed to disk before the put is acknowledged.
    # A backend that sends the content elsewhere (S3) only stages it here and turns this off.
    durable = True

    def __init__(self, directory: str) -> None:
        fd, self.path = create_spool_file(directory)
        self._file: BinaryIO = os.fdopen(fd, "wb", buffering=0)  # chunks are large: no buffer to copy through
        self.size = 0
        self.crc32 = 0
        self._written_back = 0  # bytes whose writeback to disk has been started

    def write(self, offset: int, data: bytes, crc32: Optional[int] = None,
              running_crc32: Optional[int] = None) -> None:
        """Append one chunk, checked against ``running_crc32`` (the CRC-32 of the object through this chunk:
        one pass checks the chunk and extends the whole object's CRC) or else ``crc32`` (of the chunk alone)."""
        if offset != self.size:
            raise data_loss(f"chunk at offset {offset} arrived when {self.size} bytes were received")
        running = checksums.crc32(data, self.crc32)
        if running_crc32 is not None:
            if running != running_crc32:
                raise data_loss(f"checksum mismatch in the chunk at offset {offset}")
        elif checksums.crc32(data) != crc32:
            raise data_loss(f"checksum mismatch in the chunk at offset {offset}")
        _write_all(self._file, data)
        self.size += len(data)
        self.crc32 = running
        self._write_back()

    def _write_back(self) -> None:
        if self.durable and self.size - self._written_back >= WRITEBACK_STEP:
            # Start writing to disk now, while the rest arrives: the fsync in finish() then has little left.
            start_writeback(self._file.fileno(), self._written_back, self.size - self._written_back)
            self._written_back = self.size

    def copy_from(self, source: int, size: int) -> None:
        """The whole content at once: ``size`` bytes of the open file ``source`` (a client's file, handed over
        by a same-host transfer), copied by the kernel; the CRC-32 is computed from the spool file, one step
        behind the copy, so it describes what was stored whatever the client does to its file meanwhile. Only
        into an empty upload."""
        assert self.size == 0, "copy_from fills an empty upload"
        copied, self.crc32 = copy_with_crc(source, self._file.fileno(), size, checksummed=self._file.fileno(),
                                           on_step=self._copied)
        if copied != size:
            raise EngineError(grpc.StatusCode.ABORTED,
                              f"the file was {size} bytes and ended after {copied} while being stored")

    def _copied(self, size: int) -> None:
        self.size = size
        self._write_back()

    def finish(self, md5: str = "", sync: bool = True) -> str:
        """Fsync (once, for the whole object, when ``durable``; ``sync=False``: the caller makes several
        uploads durable at once with :func:`mock_server.files.sync_files` before committing them); returns
        the etag. ``md5`` (a client's MD5 of what it sent) is checked against the spooled content."""
        if self.durable and sync:
            os.fsync(self._file.fileno())
        self._file.close()
        if md5:
            check_md5(md5, md5_file(self.path)[0])
        return local_etag(self.crc32, self.size)

    def discard(self) -> None:
        if not self._file.closed:
            self._file.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def checked_read(info: ObjectInfo, size: int, crc: int) -> ObjectInfo:
    """``info`` if ``size`` bytes with CRC-32 ``crc`` were read of the object it describes; else ABORTED (other
    size: replaced meanwhile) or DATA_LOSS (the content is not what was stored)."""
    if size != info.size:
        raise EngineError(grpc.StatusCode.ABORTED,
                          f"object {info.key!r} in bucket {info.bucket!r} changed while read")
    if info.crc32 is not None and crc != info.crc32:
        raise data_loss(f"object {info.key!r} in bucket {info.bucket!r} does not match the checksum recorded "
                        "when it was stored")
    return info


def _write_all(handle: BinaryIO, data: bytes) -> None:
    """Write all of ``data`` to an unbuffered file (a raw write may take less than asked)."""
    view = memoryview(data)
    while view:
        view = view[handle.write(view):]


@dataclass(frozen=True)
class FilePut:
    """One whole object to store: ``size`` bytes of the open file ``source`` (a same-host put), or ``data`` (an
    object of a PutBatch message, already checked against the client's checksums, whose CRC-32 is ``crc32``;
    ``source`` is then -1)."""
    key: str
    source: int
    size: int
    content_type: str
    data: Optional[bytes] = None
    crc32: int = 0  # of ``data``, computed when it was checked: not computed again to describe the object


PutOutcome = Union[ObjectInfo, EngineError, OSError]  # per file: what was stored, or why not


# Objects the default put_files stores at once, shared by every backend of the process (threads start on first use).
_PUT_POOL = ThreadPoolExecutor(max_workers=16, thread_name_prefix="e6put")


class ObjectBackend:
    """What a store does; the service checks names and permissions before calling it."""

    def spool_dir(self) -> str:
        raise NotImplementedError

    def upload(self, bucket: str, key: str, content_type: str) -> Upload:
        """Where a put of ``bucket/key`` is received before :meth:`commit` (a spool file by default)."""
        return Upload(self.spool_dir())

    def create_bucket(self, bucket: str) -> bool:
        raise NotImplementedError

    def buckets(self) -> List[str]:
        raise NotImplementedError

    def bucket_exists(self, bucket: str) -> bool:
        raise NotImplementedError

    def commit(self, upload: Upload, bucket: str, key: str, etag: str, content_type: str,
               if_absent: bool = False, flush: Optional[Set[str]] = None) -> ObjectInfo:
        """Make a finished upload the object ``bucket/key`` atomically, its name durable before this returns;
        with ``flush`` (a set), the directories to flush for that are added to it instead, and the caller makes
        them durable later with :meth:`sync_dirs` (a batch flushes each directory once)."""
        raise NotImplementedError

    def sync_dirs(self, directories: Iterable[str]) -> None:
        """Flush the directories :meth:`commit` collected."""

    def put_files(self, bucket: str, files: List[FilePut], if_absent: bool = False) -> List[PutOutcome]:
        """Store whole objects (:class:`FilePut`), each its own atomic put, all durable before this returns; one
        outcome per object, in order. This default spools and commits each on its own, several at once (a
        remote store's round trips overlap)."""
        return list(_PUT_POOL.map(lambda item: self._put_one(bucket, item, if_absent), files))

    def _put_one(self, bucket: str, item: FilePut, if_absent: bool) -> PutOutcome:
        try:
            upload = self.upload(bucket, item.key, item.content_type)
            try:
                if item.data is None:
                    upload.copy_from(item.source, item.size)
                else:
                    upload.write(0, item.data, running_crc32=item.crc32)  # one pass: checked and extended
                etag = upload.finish()
                return self.commit(upload, bucket, item.key, etag, item.content_type, if_absent=if_absent)
            finally:
                upload.discard()
        except (EngineError, OSError) as exc:
            return exc

    def stat(self, bucket: str, key: str) -> Optional[ObjectInfo]:
        raise NotImplementedError

    def read(self, bucket: str, key: str, chunk_size: int = READ_CHUNK) -> Iterator[bytes]:
        raise NotImplementedError

    def open_object(self, bucket: str, key: str,
                    verified: Optional[Set[str]] = None) -> Optional[Tuple[int, ObjectInfo]]:
        """The object's file opened for reading, and its description (None: no such object); a backend whose
        objects are not local files returns :meth:`read` alone (NotImplementedError here). ``verified``: the
        directories one request already checked (see :func:`_no_link_below`)."""
        raise NotImplementedError

    def read_into(self, bucket: str, key: str, fd: int) -> ObjectInfo:
        """Write the object into the empty open file ``fd`` (a same-host get from a backend whose objects are
        not local files: no :meth:`open_object`), checked against the CRC-32 recorded with it (DATA_LOSS when it
        differs, see :func:`checked_read`)."""
        raise NotImplementedError

    def delete(self, bucket: str, key: str) -> bool:
        raise NotImplementedError

    def list(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]:
        """Objects whose key starts with ``prefix``, in key order."""
        raise NotImplementedError

    def usage(self, bucket: str) -> Tuple[int, int]:
        """(objects, bytes) of ``bucket``: the objects :meth:`list` gives, without describing each one."""
        objects = size = 0
        for info in self.list(bucket):
            objects, size = objects + 1, size + info.size
        return objects, size

    def arrow_filesystem(self) -> "pyarrow.fs.FileSystem":
        """The Arrow filesystem SQL reads objects through (:mod:`mock_server.objects.scan`)."""
        raise NotImplementedError

    def arrow_path(self, bucket: str, key: str) -> str:
        """The object's path on :meth:`arrow_filesystem`."""
        raise NotImplementedError

    def close(self) -> None:
        pass


def prepare_spool(directory: str) -> None:
    """Make the spool directory ready at start: made if missing and marked so its subdirectories (one per
    concurrent same-host put, see :mod:`mock_server.objects.local_puts`) are spread over the filesystem
    (:func:`mock_server.files.spread_subdirectories`); puts a previous run left half received are removed (the
    spool holds nothing a restart could resume), and so are the subdirectories, so each is placed afresh."""
    os.makedirs(directory, exist_ok=True)
    spread_subdirectories(directory)
    removed = _sweep(directory)
    for entry in _entries(directory):
        if entry.is_dir(follow_symlinks=False):
            removed += _sweep(entry.path)
            try:
                os.rmdir(entry.path)
            except OSError:  # not empty (something the sweep does not remove): kept as it is
                pass
    if removed:
        log.info("removed %d leftover spool file(s) of unfinished puts", removed)


def _entries(directory: str) -> List[os.DirEntry]:
    try:
        with os.scandir(directory) as entries:
            return list(entries)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _sweep(directory: str) -> int:
    removed = 0
    for entry in _entries(directory):
        if entry.is_dir(follow_symlinks=False):
            continue
        try:
            os.unlink(entry.path)
            removed += 1
        except (IsADirectoryError, PermissionError, FileNotFoundError):
            continue
    return removed


def md5_file(path: Union[str, int]) -> Tuple[str, int]:
    """Hex MD5 and CRC-32 of a file, by name or open descriptor (the etag and checksum of an object the store
    did not write itself)."""
    digest, crc32, offset = hashlib.md5(), 0, 0
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC) if isinstance(path, str) else path
    try:
        while True:
            block = os.pread(fd, READ_CHUNK, offset)
            if not block:
                return digest.hexdigest(), crc32
            digest.update(block)
            crc32 = checksums.crc32(block, crc32)
            offset += len(block)
    finally:
        if isinstance(path, str):
            os.close(fd)
