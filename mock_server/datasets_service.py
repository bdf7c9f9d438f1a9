"""DatasetService (protos/e6driver_datasets.proto): versioned encrypted datasets over gRPC.

Authentication is the object stores' (:meth:`mock_server.stores_service.ObjectStores.caller`); storage,
encryption, grants and notifications are :class:`mock_server.dataset_store.DatasetStore`'s. Uploads arrive
as CRC-checked chunks of an Arrow IPC stream, a Parquet file or a CSV file; downloads leave as CRC-checked
chunks of an Arrow IPC stream.
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
import zlib
from typing import Any, Iterator, Optional

import grpc
import pyarrow as pa

from e6driver._proto import e6driver_datasets_pb2 as ds_pb, e6driver_datasets_pb2_grpc
from mock_server import errors
from mock_server.dataset_store import DatasetInfo, DatasetStore, check_name, read_table
from mock_server.object_store import data_loss
from mock_server.stores_service import ObjectStores, _streaming

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024


def info_message(info: DatasetInfo, access: str = "") -> ds_pb.DatasetInfo:
    return ds_pb.DatasetInfo(name=info.name, owner=info.owner, version=info.version, rows=info.rows,
                             bytes=info.bytes, created=info.created, access=access)


class DatasetServicer(e6driver_datasets_pb2_grpc.DatasetServiceServicer):
    def __init__(self, store: DatasetStore, stores: ObjectStores) -> None:
        self.store = store
        self.stores = stores

    @errors.rpc_method
    def List(self, request: Any, context: grpc.ServicerContext) -> Any:
        user = self.stores.caller(request.auth, context)
        return ds_pb.ListDatasetsResponse(datasets=[info_message(i, a) for i, a in self.store.visible(user)])

    @errors.rpc_method
    def Upload(self, request_iterator: Iterator[Any], context: grpc.ServicerContext) -> Any:
        first = next(request_iterator, None)
        if first is None:
            raise errors.invalid("empty upload stream")
        user = self.stores.caller(first.auth, context)
        name = check_name(first.name)
        if not first.create:
            self.store.require(user, name, write=True)
        data, message = bytearray(), first
        while True:
            if message.offset != len(data):
                raise data_loss(f"chunk at offset {message.offset} arrived when {len(data)} bytes were received")
            if zlib.crc32(message.data) != message.crc32:
                raise data_loss(f"checksum mismatch in the chunk at offset {message.offset}")
            data += message.data
            if message.last:
                break
            message = next(request_iterator, None)
            if message is None:
                raise errors.EngineError(grpc.StatusCode.ABORTED, "upload ended without its last chunk")
        table = read_table(bytes(data), first.format)
        info = self.store.publish(user, name, table, create=first.create)
        log.info("dataset %s version %d (%d rows) by %s", name, info.version, info.rows, user)
        return ds_pb.UploadResponse(info=info_message(info, self.store.access(user, name)))

    @_streaming
    def Download(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        user = self.stores.caller(request.auth, context)
        info, table = self.store.read(user, request.name, request.version)
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        payload = memoryview(sink.getvalue().to_pybytes())
        offset = 0
        while True:
            piece = bytes(payload[offset:offset + CHUNK])
            chunk = ds_pb.DownloadChunk(offset=offset, data=piece, crc32=zlib.crc32(piece))
            if offset == 0:
                chunk.info.CopyFrom(info_message(info, self.store.access(user, info.name)))
            yield chunk
            offset += len(piece)
            if offset >= len(payload):
                return

    @errors.rpc_method
    def Subscribe(self, request: Any, context: grpc.ServicerContext) -> Any:
        user = self.stores.caller(request.auth, context)
        return ds_pb.SubscribeResponse(subscribed=self.store.subscribe(user, request.name,
                                                                       not request.unsubscribe))

    @errors.rpc_method
    def Poll(self, request: Any, context: grpc.ServicerContext) -> Any:
        user = self.stores.caller(request.auth, context)
        notices = self.store.poll(user, request.after, request.acknowledge)
        return ds_pb.PollResponse(notifications=[
            ds_pb.Notification(id=n.id, dataset=n.dataset, version=n.version, created=n.created, by=n.by)
            for n in notices])

    @errors.rpc_method
    def Grant(self, request: Any, context: grpc.ServicerContext) -> Any:
        user = self.stores.caller(request.auth, context)
        if request.user not in self.stores.sessions.users:
            raise errors.invalid(f"unknown user {request.user!r}")
        return ds_pb.DatasetGrantResponse(access=self.store.grant(user, request.name, request.user,
                                                                  request.access))


class TemporaryDatasetStore(DatasetStore):
    """A dataset store in a temporary directory (a server without ``data_dir``), removed on close."""

    def __init__(self, admin_user: str, master_key_file: Optional[str] = None) -> None:
        self._dir = tempfile.mkdtemp(prefix="e6datasets-")
        super().__init__(self._dir, admin_user, master_key_file)

    def close(self) -> None:
        super().close()
        shutil.rmtree(self._dir, ignore_errors=True)


def open_datasets(data_dir: Optional[str], admin_user: str, master_key_file: Optional[str] = None) -> DatasetStore:
    """Datasets under DATA_DIR (a temporary directory without ``data_dir``)."""
    if data_dir:
        os.makedirs(data_dir, exist_ok=True)
        return DatasetStore(data_dir, admin_user, master_key_file)
    return TemporaryDatasetStore(admin_user, master_key_file)
