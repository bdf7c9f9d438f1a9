"""Directory trees to and from an object store: a plan (copy / skip / conflict per file), then concurrent copies.

A file whose counterpart already has the same size and CRC-32 (recorded by the store; else the same MD5, where
the etag is one) is skipped, so running the same transfer again moves nothing. A counterpart with different content is a *conflict*: left alone unless
``overwrite=True``. ``dry_run=True`` returns the plan without moving anything.

Progress: ``progress=True`` shows a tqdm bar when tqdm is installed (nothing otherwise), a callable is
called with ``(bytes_done, bytes_total)`` from the worker threads (serialised), ``False`` disables it.
Transfers run on ``workers`` threads: files up to 1 MiB in batches (many files per call, see
:mod:`e6driver.stores._batches`), larger ones one call each. The first failure is raised once all
transfers have ended (what succeeded stays, and is skipped when the transfer is run again).
"""
from __future__ import annotations

import hashlib
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple, Union

from . import _checksums
from ..errors import InterfaceError
from . import _batches

if TYPE_CHECKING:
    from .objects import ObjectInfo, ObjectStoreClient

HASH_BLOCK = 1024 * 1024  # read size while hashing local files


def md5_file(path: Union[str, os.PathLike], chunk_size: int = HASH_BLOCK) -> str:
    """The MD5 hex digest of a local file: what an S3 store reports as the etag of the same bytes."""
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk_size), b""):
            digest.update(block)
    return digest.hexdigest()


def crc32_file(path: Union[str, os.PathLike], chunk_size: int = 4 * HASH_BLOCK) -> int:
    """The zlib CRC-32 of a local file: what the object store records for the same bytes (``ObjectInfo.crc32``)."""
    crc = 0
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk_size), b""):
            crc = _checksums.crc32(block, crc)
    return crc

PathLike = Union[str, "os.PathLike[str]"]


@dataclass
class FileTransfer:
    local_path: str
    key: str
    size: int
    action: str  # copy | skip | conflict


@dataclass
class TransferReport:
    direction: str  # upload | download
    bucket: str
    files: List[FileTransfer] = field(default_factory=list)
    dry_run: bool = False
    bytes_transferred: int = 0
    seconds: float = 0.0

    def _with(self, action: str) -> List[str]:
        return [f.key for f in self.files if f.action == action]

    @property
    def transferred(self) -> List[str]:
        """Keys copied (or, in a dry run, that would be)."""
        return self._with("copy")

    @property
    def skipped(self) -> List[str]:
        return self._with("skip")

    @property
    def conflicts(self) -> List[str]:
        return self._with("conflict")

    @property
    def bytes_planned(self) -> int:
        return sum(f.size for f in self.files if f.action == "copy")


def _join_key(prefix: str, relative: str) -> str:
    prefix = prefix.strip("/")
    return f"{prefix}/{relative}" if prefix else relative


def _same(local_path: str, size: int, remote: ObjectInfo) -> bool:
    if remote.size != size:
        return False
    if remote.crc32 is not None:
        return remote.crc32 == crc32_file(local_path)
    return remote.etag == md5_file(local_path)


def _action(local_path: str, size: int, other: Optional[ObjectInfo], overwrite: bool) -> str:
    if other is None:
        return "copy"
    if _same(local_path, size, other):
        return "skip"
    return "copy" if overwrite else "conflict"


class _Meter:
    """Aggregates per-file progress from worker threads into one (done, total) stream."""

    def __init__(self, progress: Union[bool, Callable[[int, int], None], None], total: int, label: str):
        self.total, self.done = total, 0
        self._lock = threading.Lock()
        self._callback: Optional[Callable[[int, int], None]] = None
        self._bar: Any = None
        if callable(progress):
            self._callback = progress
        elif progress and total:
            try:
                from tqdm import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self._bar = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=label)

    def file_progress(self) -> Callable[[int, int], None]:
        seen = [0]

        def update(done: int, _total: int) -> None:
            self.add(done - seen[0])
            seen[0] = done
        return update

    def add(self, delta: int) -> None:
        if not delta:
            return
        with self._lock:
            self.done += delta
            if self._bar is not None:
                self._bar.update(delta)
            if self._callback is not None:
                self._callback(self.done, self.total)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


Batch = Callable[[List[Tuple[str, str, int]], Callable[[int], None]], Dict[str, Any]]


def _run(report: TransferReport, work: Callable[[FileTransfer, Callable[[int, int], None]], None],
         batch: Batch, progress: Union[bool, Callable[[int, int], None], None], workers: int) -> TransferReport:
    """Copy the planned files: ``batch`` moves groups of small files (key -> ObjectInfo or exception),
    ``work`` one larger file."""
    todo = [f for f in report.files if f.action == "copy"]
    if report.dry_run or not todo:
        return report
    meter = _Meter(progress, report.bytes_planned, f"{report.direction} {report.bucket}")
    started = time.perf_counter()
    failures: List[BaseException] = []
    workers = max(1, workers)
    small = [f for f in todo if f.size <= _batches.BATCH_FILE_MAX]
    per_call = max(1, min(_batches.BATCH_FILES, -(-len(small) // workers)))  # spread over the workers

    def done(item: FileTransfer) -> None:
        with meter._lock:
            report.bytes_transferred += item.size

    def one(item: FileTransfer) -> None:
        try:
            work(item, meter.file_progress())
        except BaseException as exc:  # noqa: BLE001 - reported after every transfer ended
            failures.append(exc)
            return
        done(item)

    def group(items: List[FileTransfer]) -> None:
        try:
            outcomes = batch([(f.key, f.local_path, f.size) for f in items], meter.add)
        except BaseException as exc:  # noqa: BLE001 - the whole call failed
            failures.append(exc)
            return
        for item in items:
            outcome = outcomes.get(item.key)
            if isinstance(outcome, BaseException):
                failures.append(outcome)
            else:
                done(item)

    try:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="e6transfer") as pool:
            tasks = [pool.submit(group, items) for items in _batches.groups(small, per_call)]
            tasks += [pool.submit(one, f) for f in todo if f.size > _batches.BATCH_FILE_MAX]
            for task in tasks:
                task.result()
    finally:
        meter.close()
        report.seconds = time.perf_counter() - started
    if failures:
        raise failures[0]
    return report


def upload(client: ObjectStoreClient, local_path: PathLike, bucket: str, prefix: str = "",
           dry_run: bool = False, overwrite: bool = False,
           progress: Union[bool, Callable[[int, int], None]] = True, workers: int = 4) -> TransferReport:
    """Upload a file (as ``prefix/<name>``) or a directory tree (as ``prefix/<relative path>``)."""
    root = os.path.abspath(os.fspath(local_path))
    if os.path.isfile(root):
        pairs = [(root, _join_key(prefix, os.path.basename(root)))]
    elif os.path.isdir(root):
        pairs = []
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in sorted(filenames):
                path = os.path.join(dirpath, name)
                relative = os.path.relpath(path, root).replace(os.sep, "/")
                pairs.append((path, _join_key(prefix, relative)))
    else:
        raise InterfaceError(f"{local_path!r} is neither a file nor a directory")
    listed_prefix = prefix.strip("/")
    remote: Dict[str, ObjectInfo] = {o.key: o for o in client.list(bucket, listed_prefix)}
    report = TransferReport("upload", bucket, dry_run=dry_run)
    for path, key in pairs:
        size = os.path.getsize(path)
        report.files.append(FileTransfer(path, key, size, _action(path, size, remote.get(key), overwrite)))

    def work(item: FileTransfer, meter: Callable[[int, int], None]) -> None:
        client.put_file(bucket, item.key, item.local_path, progress=meter)

    def batch(items: List[Tuple[str, str, int]], added: Callable[[int], None]) -> Dict[str, Any]:
        return _batches.put_files(client, bucket, items, added)

    return _run(report, work, batch, progress, workers)


def download(client: ObjectStoreClient, bucket: str, prefix: str, local_path: PathLike,
             dry_run: bool = False, overwrite: bool = False,
             progress: Union[bool, Callable[[int, int], None]] = True, workers: int = 4) -> TransferReport:
    """Download ``prefix`` — one object (into ``local_path``, or into it when it is a directory) or every
    object under ``prefix/`` (to ``local_path/<key relative to prefix>``)."""
    root = os.path.abspath(os.fspath(local_path))
    prefix = prefix.strip("/")
    single = client.stat(bucket, prefix) if prefix else None
    if single is not None:
        target = os.path.join(root, prefix.rsplit("/", 1)[-1]) if os.path.isdir(root) else root
        objects = [(single, target)]
    else:
        objects = []
        base = f"{prefix}/" if prefix else ""
        for info in client.list(bucket, base):
            relative = info.key[len(base):]
            target = os.path.abspath(os.path.join(root, *relative.split("/")))
            if not target.startswith(root + os.sep):
                raise InterfaceError(f"object key {info.key!r} would be written outside {root!r}")
            objects.append((info, target))
    report = TransferReport("download", bucket, dry_run=dry_run)
    for info, target in objects:
        if os.path.isfile(target):
            local = os.path.getsize(target)
            action = "skip" if _same(target, local, info) else ("copy" if overwrite else "conflict")
        else:
            action = "copy"
        report.files.append(FileTransfer(target, info.key, info.size, action))

    def work(item: FileTransfer, meter: Callable[[int, int], None]) -> None:
        client.get_file(bucket, item.key, item.local_path, progress=meter)

    def batch(items: List[Tuple[str, str, int]], added: Callable[[int], None]) -> Dict[str, Any]:
        return _batches.get_files(client, bucket, items, added)

    return _run(report, work, batch, progress, workers)
