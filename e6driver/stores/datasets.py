"""Versioned datasets of an e6driver engine (``conn.datasets``): publish, fetch, subscribe, grant.

Every upload is a new version, stored encrypted by the server and readable in SQL as
``datasets.<owner>.<name>`` or ``datasets.main.<name>`` (current) or ``datasets.main."<name>@<N>"``;
``datasets.information.datasets`` lists the metadata. A dataset has an id (a UUID) and a name: every method
taking a ``dataset`` accepts either. Needs pyarrow. Data may be a
``pyarrow.Table`` or ``RecordBatch``, a pandas ``DataFrame``, a list of dicts, or the path of a ``.parquet``,
``.csv``, ``.arrow``/``.feather``/``.ipc`` (IPC file), ``.arrows`` (IPC stream) or ``.jsonl``/``.ndjson``/
``.json`` (JSON lines, or an array of objects) file; :meth:`DatasetClient.download` writes the same formats.

Names: 1-63 characters of lower-case ``a-z``, ``0-9``, ``_`` and ``-``, starting with a letter or ``_``, not
ending with ``-``, without ``--``, not shaped like an id; quote names with ``-`` in SQL:
``datasets.main."sales-2024"``.

Not found and not allowed: a dataset you may not read looks missing — every method raises
:class:`~e6driver.errors.DatasetNotFoundError` for it, by name and by id, exactly as for a dataset that does
not exist (so names and ids of others' datasets do not leak; only ``upload`` of a taken name says it exists).
``PermissionDeniedError`` means you may read the dataset but not do this (``update`` without a write grant,
``grant`` when not its owner).

Errors: :class:`~e6driver.errors.DatasetNotFoundError` for a missing dataset or version, :class:`~e6driver.errors.RateLimitError` (``retry_after``) over the
server's transfer rate limit, :class:`~e6driver.errors.UploadError` / :class:`~e6driver.errors.DownloadError`
when the bytes did not travel intact (connection lost, chunk out of order, checksum mismatch), ``DataError``
when the stored version itself is damaged or cannot be decrypted.

Uploads are resumable: a connection lost mid-upload is retried (until the connection's ``connect_timeout``)
from the last byte the server acknowledged, and an ``UploadError`` carries the ``upload_id`` to continue with
later, e.g. after a server restart: ``conn.datasets.update(name, data, upload_id=exc.upload_id)``.
"""
from __future__ import annotations

import dataclasses
import datetime
import os
import tempfile
import uuid
from dataclasses import dataclass
from typing import Any, Iterator, List, Optional

import grpc

from . import _checksums
from .. import errors
from .._proto import e6driver_datasets_pb2 as ds_pb, e6driver_datasets_pb2_grpc as ds_grpc
from ..protocol import Session
from . import dataset_files
from ._client import ServiceClient
from .dataset_files import Progress

CHUNK_SIZE = 1024 * 1024
MAX_WAIT = 60.0  # the server's cap on a long poll (seconds)
TRANSFER_ERROR = "e6-transfer-error"  # trailer the server puts on failures of the transfer itself
_BROKEN_TRANSFER = ("UNAVAILABLE", "ABORTED", "DEADLINE_EXCEEDED")
_TRANSFER_ERRORS = {"Upload": errors.UploadError, "Download": errors.DownloadError}


_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def _time(seconds: float) -> datetime.datetime:
    # round(seconds * 1e6) µs, as the engine's SQL view computes it: fromtimestamp() rounds the float
    # differently and could differ from the SQL value by 1 µs.
    return _EPOCH + datetime.timedelta(microseconds=round(seconds * 1_000_000))


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    owner: str
    version: int  # the version described: the current one unless you asked for another
    rows: int
    bytes: int  # stored (encrypted) size of that version
    created: datetime.datetime  # the dataset's creation
    access: str  # yours: read | write | admin
    id: str = ""  # UUID
    description: str = ""
    freshness: str = ""  # hourly | daily | weekly | monthly | "" (unset)
    versions: int = 0  # stored versions
    checksum: str = ""  # "sha256:<hex>" of that version's stored file (earlier formats: of its Parquet bytes)
    updated: Optional[datetime.datetime] = None  # that version's publication
    downloads: int = 0  # completed downloads of the dataset through this API (any version); SQL reads not counted

    @classmethod
    def from_message(cls, msg: Any) -> "DatasetInfo":
        return cls(msg.name, msg.owner, msg.version, msg.rows, msg.bytes, _time(msg.created), msg.access,
                   msg.id, msg.description, msg.freshness, msg.versions, msg.checksum, _time(msg.updated),
                   msg.downloads)


@dataclass(frozen=True)
class Notification:
    id: int
    dataset: str  # name
    version: int
    created: datetime.datetime
    by: str
    dataset_id: str = ""
    path: Optional[str] = None  # the downloaded file, with ``poll_notifications(auto_download=True)``


class DatasetClient(ServiceClient):
    """``conn.datasets`` (see the module doc). A dataset you may not read looks missing: every method raises
    :class:`~e6driver.errors.DatasetNotFoundError` for it, by name or by id, with the same message as for a
    dataset that does not exist; :class:`~e6driver.errors.PermissionDeniedError` only when you may read it but
    the call needs more (``update`` without a write grant, ``grant`` when you are not its owner)."""

    not_found_error = errors.DatasetNotFoundError

    def __init__(self, session: Session, chunk_size: int = CHUNK_SIZE) -> None:
        super().__init__(session, ds_grpc.DatasetServiceStub)
        self.chunk_size = chunk_size

    def _error(self, exc: grpc.RpcError, rpc: str) -> errors.Error:
        """Failures of an upload's or download's transfer become UploadError / DownloadError."""
        transfer = _TRANSFER_ERRORS.get(rpc)
        if transfer is not None and (errors.grpc_trailer(exc, TRANSFER_ERROR) is not None
                                     or errors.grpc_code_name(exc) in _BROKEN_TRANSFER):
            return errors.from_rpc_error(exc, rpc, cls=transfer)
        return super()._error(exc, rpc)

    def list(self) -> List[DatasetInfo]:
        """The datasets you may read, with their current version and ``downloads`` (completed downloads through
        this API, any version; SQL reads are not counted)."""
        response = self._invoke("List", lambda stub, md: stub.List(
            ds_pb.ListDatasetsRequest(auth=self._auth()), metadata=md))
        return [DatasetInfo.from_message(d) for d in response.datasets]

    def upload(self, name: str, data: Any, description: str = "", freshness: Optional[str] = None,
               upload_id: Optional[str] = None, progress_callback: Progress = None) -> DatasetInfo:
        """Create dataset ``name`` with ``data`` as version 1 (ProgrammingError if it exists); the returned
        info carries its new ``id``. ``freshness`` says how often new versions are expected (``hourly``,
        ``daily``, ``weekly``, ``monthly``).

        ``progress_callback(bytes_done, bytes_total)`` is called as the bytes are sent (from the thread sending
        them; ``bytes_total`` None when unknown). If it raises, the upload is aborted (the server discards what
        it received, nothing is published) and its exception is raised here.

        ``upload_id`` continues an interrupted upload of the same data: pass the ``upload_id`` of the
        :class:`~e6driver.errors.UploadError` it raised (also on a new connection, after a server restart)."""
        return self._upload(name, data, True, upload_id, description, freshness or "", progress_callback, False)

    def update(self, dataset: str, data: Any, description: Optional[str] = None,
               freshness: Optional[str] = None, upload_id: Optional[str] = None,
               progress_callback: Progress = None, allow_schema_change: bool = False) -> DatasetInfo:
        """Publish ``data`` as the next version of ``dataset`` (id or name; write access needed); subscribers
        are notified. A ``description`` or ``freshness`` given replaces the dataset's. Its columns must be the
        current version's (names and types, any order): ProgrammingError naming the differing columns
        otherwise, unless ``allow_schema_change=True``. ``upload_id`` and ``progress_callback`` as in
        :meth:`upload`."""
        return self._upload(dataset, data, False, upload_id, description or "", freshness or "",
                            progress_callback, allow_schema_change)

    def upload_status(self, upload_id: str) -> Optional[int]:
        """Bytes the server kept of your interrupted upload ``upload_id`` (None: it has no such upload)."""
        status = self._invoke("UploadStatus", lambda stub, md: stub.UploadStatus(
            ds_pb.UploadStatusRequest(auth=self._auth(), upload_id=upload_id), metadata=md))
        return status.offset if status.found else None

    def _upload(self, name: str, data: Any, create: bool, upload_id: Optional[str], description: str,
                freshness: str, progress: Progress, allow_schema_change: bool) -> DatasetInfo:
        """One resumable upload: a retry after a lost connection continues at the server's offset."""
        with dataset_files.payload(data) as payload:
            return self._send(payload, name, create, upload_id, description, freshness, progress,
                              allow_schema_change)

    def _send(self, payload: dataset_files.Payload, name: str, create: bool, upload_id: Optional[str],
              description: str, freshness: str, progress: Progress, allow_schema_change: bool) -> DatasetInfo:
        digest = payload.sha256()
        fmt = payload.fmt
        resume = upload_id is not None
        upload_id = upload_id or uuid.uuid4().hex
        aborted: List[BaseException] = []  # what the progress callback raised

        def messages(offset: int) -> Iterator[ds_pb.UploadRequest]:
            # The data chunks, then an empty last message: a progress callback that raises (even after the
            # last data chunk) sends an abort instead, so nothing is published.
            first = True
            while True:
                piece = payload.read(offset, self.chunk_size)
                msg = ds_pb.UploadRequest(offset=offset, data=piece, crc32=_checksums.crc32(piece))
                if first:
                    msg.auth.CopyFrom(self._auth())
                    msg.name, msg.format, msg.create, msg.upload_id = name, fmt, create, upload_id
                    msg.description, msg.freshness = description, freshness
                    msg.allow_schema_change = allow_schema_change
                    first = False
                yield msg  # returns once gRPC asks for the next message: this one has been sent
                offset += len(piece)
                if progress is not None:
                    try:
                        progress(offset, payload.size)
                    except BaseException as exc:  # noqa: BLE001 - raised to the caller once the server gave up
                        aborted.append(exc)
                        yield ds_pb.UploadRequest(abort=True)
                        return
                if offset >= payload.size:
                    yield ds_pb.UploadRequest(offset=offset, crc32=_checksums.crc32(b""), last=True, sha256=digest)
                    return

        def call(stub: Any, md: list) -> Any:
            nonlocal resume
            offset = 0
            if resume:
                status = stub.UploadStatus(ds_pb.UploadStatusRequest(auth=self._auth(), upload_id=upload_id),
                                           metadata=md)
                offset = status.offset if status.found else 0
                if offset > payload.size:
                    raise errors.UploadError(f"upload {upload_id} holds {offset} bytes: more than the "
                                             f"{payload.size} of this data")
            resume = True
            return stub.Upload(messages(offset), metadata=md)

        try:
            response = self._invoke("Upload", call)
        except errors.UploadError as exc:
            exc.upload_id = upload_id
            raise
        except errors.Error:
            if aborted:
                raise aborted[0] from None
            raise
        return DatasetInfo.from_message(response.info)

    def download(self, dataset: str, output_path: Optional[str] = None, version: int = 0,
                 progress_callback: Progress = None, format: Optional[str] = None) -> Any:
        """Version ``version`` (0: the current one) of ``dataset`` (id or name): a ``pyarrow.Table``, or, with
        ``output_path``, written there and the path returned. The file's format is ``format`` or follows its
        extension: ``.parquet``, ``.csv``, ``.arrow``/``.feather``/``.ipc`` (Arrow IPC file), ``.arrows``
        (Arrow IPC stream), ``.jsonl``/``.ndjson``/``.json`` (JSON lines); ProgrammingError for another
        extension. The file is written batch by batch as the data arrives (memory stays bounded) into a
        temporary file in the same folder, renamed when complete: a failed download leaves no file.
        ``progress_callback(bytes_done, bytes_total)`` is called after every chunk received."""
        import pyarrow as pa

        if isinstance(output_path, int) and not isinstance(output_path, bool):  # download(name, 2): old order
            output_path, version = None, output_path
        if not isinstance(version, int) or not 0 <= version < 2 ** 31:
            raise errors.ProgrammingError(f"version must be an int from 0 (the current one) to 2**31-1, not "
                                          f"{version!r}")
        if output_path is not None:
            path = os.fspath(output_path)
            return self._download_to(dataset, path, version, progress_callback,
                                     dataset_files.file_format(path, format))
        if format is not None:
            raise errors.ProgrammingError("format= needs an output_path (without one, download returns a Table)")

        def read(stub: Any, md: list) -> Any:
            stream = dataset_files.ChunkStream(self._chunks(stub, md, dataset, version), dataset,
                                               progress_callback)
            try:
                table = pa.ipc.open_stream(stream).read_all()
            except pa.ArrowInvalid as exc:
                raise errors.DownloadError(f"dataset {dataset}: the downloaded bytes are not an Arrow stream: "
                                           f"{exc}") from None
            stream.finish()
            return table
        return self._invoke("Download", read)

    def _chunks(self, stub: Any, md: list, dataset: str, version: int) -> Any:
        return stub.Download(ds_pb.DownloadRequest(auth=self._auth(), name=dataset, version=version), metadata=md)

    def _download_to(self, dataset: str, path: str, version: int, progress: Progress, fmt: str) -> str:
        folder = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".part")
        os.close(fd)

        def write(stub: Any, md: list) -> None:  # a retried call starts the file over
            with open(tmp, "wb") as out:
                stream = dataset_files.ChunkStream(self._chunks(stub, md, dataset, version), dataset, progress)
                dataset_files.write_stream(stream, out, fmt)
                out.flush()
                os.fsync(out.fileno())
        try:
            self._invoke("Download", write)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
        return path

    def subscribe(self, dataset: str) -> bool:
        """Be notified (see :meth:`poll_notifications`) of every new version of ``dataset`` (id or name)."""
        return self._invoke("Subscribe", lambda stub, md: stub.Subscribe(
            ds_pb.SubscribeRequest(auth=self._auth(), name=dataset), metadata=md)).subscribed

    def unsubscribe(self, dataset: str) -> None:
        self._invoke("Subscribe", lambda stub, md: stub.Subscribe(
            ds_pb.SubscribeRequest(auth=self._auth(), name=dataset, unsubscribe=True), metadata=md))

    def poll_notifications(self, max_messages: int = 10, wait_time: float = 20.0, auto_download: bool = False,
                           output_dir: Optional[str] = None, *, after: int = 0,
                           acknowledge: bool = True) -> List[Notification]:
        """New versions of subscribed datasets, oldest first, at most ``max_messages`` (0: all): those not yet
        acknowledged (or, with ``after``, those with a larger id). A long poll: with none pending, the server
        holds the call until one arrives or ``wait_time`` seconds pass (at most 60; 0 returns at once).
        ``acknowledge`` marks them seen. With ``auto_download``, each notified version is downloaded into
        ``output_dir`` (default: the current directory) as ``<name>@<version>.arrows`` (an Arrow IPC stream)
        and the notification's ``path`` names the file."""
        wait = min(max(float(wait_time), 0.0), MAX_WAIT)
        response = self._invoke("Poll", lambda stub, md: stub.Poll(
            ds_pb.PollRequest(auth=self._auth(), after=after, acknowledge=acknowledge,
                              max_messages=max_messages, wait_time=wait), metadata=md))
        notices = [Notification(n.id, n.dataset, n.version, _time(n.created), n.by, n.dataset_id)
                   for n in response.notifications]
        if auto_download:
            folder = os.fspath(output_dir) if output_dir is not None else os.getcwd()
            os.makedirs(folder, exist_ok=True)
            notices = [dataclasses.replace(n, path=self.download(
                n.dataset_id or n.dataset, os.path.join(folder, f"{n.dataset}@{n.version}.arrows"), n.version))
                for n in notices]
        return notices

    def grant(self, dataset: str, user: str, access: str = "read") -> str:
        """Give ``user`` ``read`` or ``write`` access to ``dataset`` (id or name; ``none`` revokes); dataset
        owner or admin only."""
        return self._invoke("Grant", lambda stub, md: stub.Grant(
            ds_pb.DatasetGrantRequest(auth=self._auth(), name=dataset, user=user, access=access),
            metadata=md)).access
