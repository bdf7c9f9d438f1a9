"""Versioned datasets of an e6driver engine (``conn.datasets``): publish, fetch, subscribe, grant.

Every upload is a new version, stored encrypted by the server and readable in SQL as
``datasets.main.<name>`` (current) or ``datasets.main."<name>@<N>"``. Needs pyarrow. Data may be a
``pyarrow.Table`` or ``RecordBatch``, a pandas ``DataFrame``, or the path of a ``.parquet``, ``.csv`` or
``.arrow``/``.arrows`` (IPC stream) file.
"""
from __future__ import annotations

import datetime
import os
import zlib
from dataclasses import dataclass
from typing import Any, Iterator, List, Tuple

from . import errors
from ._proto import e6driver_datasets_pb2 as ds_pb, e6driver_datasets_pb2_grpc as ds_grpc
from ._service_client import ServiceClient

CHUNK_SIZE = 1024 * 1024


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    owner: str
    version: int
    rows: int
    bytes: int  # stored (encrypted) size
    created: datetime.datetime
    access: str

    @classmethod
    def from_message(cls, msg: Any) -> "DatasetInfo":
        return cls(msg.name, msg.owner, msg.version, msg.rows, msg.bytes,
                   datetime.datetime.fromtimestamp(msg.created, datetime.timezone.utc), msg.access)


@dataclass(frozen=True)
class Notification:
    id: int
    dataset: str
    version: int
    created: datetime.datetime
    by: str


def _payload(data: Any) -> Tuple[bytes, str]:
    """(bytes, format) to upload for ``data``."""
    import pyarrow as pa

    if isinstance(data, (str, os.PathLike)):
        path = os.fspath(data)
        lower = path.lower()
        fmt = ("parquet" if lower.endswith((".parquet", ".pq")) else "csv" if lower.endswith(".csv")
               else "arrow" if lower.endswith((".arrow", ".arrows")) else None)
        if fmt is None:
            raise errors.InterfaceError(f"cannot tell the format of {path!r}: use .parquet, .csv or .arrow")
        with open(path, "rb") as handle:
            return handle.read(), fmt
    if isinstance(data, pa.RecordBatch):
        data = pa.Table.from_batches([data])
    if not isinstance(data, pa.Table) and type(data).__name__ == "DataFrame":
        data = pa.Table.from_pandas(data, preserve_index=False)
    if not isinstance(data, pa.Table):
        raise errors.InterfaceError(f"cannot upload a {type(data).__name__}: pass a pyarrow Table, a pandas "
                                    "DataFrame or a file path")
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, data.schema) as writer:
        writer.write_table(data)
    return sink.getvalue().to_pybytes(), "arrow"


class DatasetClient(ServiceClient):
    def __init__(self, connection: Any, chunk_size: int = CHUNK_SIZE) -> None:
        super().__init__(connection, ds_grpc.DatasetServiceStub)
        self.chunk_size = chunk_size

    def list(self) -> List[DatasetInfo]:
        """The datasets you may read, with their current version."""
        response = self._invoke("List", lambda stub, md: stub.List(
            ds_pb.ListDatasetsRequest(auth=self._auth()), metadata=md))
        return [DatasetInfo.from_message(d) for d in response.datasets]

    def upload(self, name: str, data: Any) -> DatasetInfo:
        """Create dataset ``name`` with ``data`` as version 1 (ProgrammingError if it exists)."""
        return self._upload(name, data, create=True)

    def update(self, name: str, data: Any) -> DatasetInfo:
        """Publish ``data`` as the next version of ``name`` (write access needed); subscribers are notified."""
        return self._upload(name, data, create=False)

    def _upload(self, name: str, data: Any, create: bool) -> DatasetInfo:
        payload, fmt = _payload(data)

        def messages() -> Iterator[ds_pb.UploadRequest]:
            offset = 0
            while True:
                piece = payload[offset:offset + self.chunk_size]
                msg = ds_pb.UploadRequest(offset=offset, data=piece, crc32=zlib.crc32(piece),
                                          last=offset + len(piece) >= len(payload))
                if offset == 0:
                    msg.auth.CopyFrom(self._auth())
                    msg.name, msg.format, msg.create = name, fmt, create
                yield msg
                offset += len(piece)
                if msg.last:
                    return

        response = self._invoke("Upload", lambda stub, md: stub.Upload(messages(), metadata=md))
        return DatasetInfo.from_message(response.info)

    def download(self, name: str, version: int = 0) -> Any:
        """Version ``version`` (0: the current one) as a ``pyarrow.Table``."""
        import pyarrow as pa

        def call(stub: Any, md: list) -> bytes:
            parts, offset = [], 0
            for chunk in stub.Download(ds_pb.DownloadRequest(auth=self._auth(), name=name, version=version),
                                       metadata=md):
                if chunk.offset != offset or zlib.crc32(chunk.data) != chunk.crc32:
                    raise errors.DataError(f"dataset {name}: damaged chunk at offset {chunk.offset}")
                parts.append(chunk.data)
                offset += len(chunk.data)
            return b"".join(parts)

        return pa.ipc.open_stream(pa.BufferReader(self._invoke("Download", call))).read_all()

    def subscribe(self, name: str) -> bool:
        """Be notified (see :meth:`poll_notifications`) of every new version of ``name``."""
        return self._invoke("Subscribe", lambda stub, md: stub.Subscribe(
            ds_pb.SubscribeRequest(auth=self._auth(), name=name), metadata=md)).subscribed

    def unsubscribe(self, name: str) -> None:
        self._invoke("Subscribe", lambda stub, md: stub.Subscribe(
            ds_pb.SubscribeRequest(auth=self._auth(), name=name, unsubscribe=True), metadata=md))

    def poll_notifications(self, after: int = 0, acknowledge: bool = True) -> List[Notification]:
        """New versions of subscribed datasets, oldest first: those not yet acknowledged (or, with
        ``after``, those with a larger id). ``acknowledge`` marks them seen."""
        response = self._invoke("Poll", lambda stub, md: stub.Poll(
            ds_pb.PollRequest(auth=self._auth(), after=after, acknowledge=acknowledge), metadata=md))
        return [Notification(n.id, n.dataset, n.version,
                             datetime.datetime.fromtimestamp(n.created, datetime.timezone.utc), n.by)
                for n in response.notifications]

    def grant(self, name: str, user: str, access: str = "read") -> str:
        """Give ``user`` ``read`` or ``write`` access (``none`` revokes); dataset owner or admin only."""
        return self._invoke("Grant", lambda stub, md: stub.Grant(
            ds_pb.DatasetGrantRequest(auth=self._auth(), name=name, user=user, access=access),
            metadata=md)).access
