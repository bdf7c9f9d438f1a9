"""Clients of the engine's own services: object stores (``conn.objects``), datasets (``conn.datasets``),
key-value tables (``conn.kv``), streams (``conn.streams``) and administration (``conn.admin``).

They use only the protocol layer's public API (:meth:`e6driver.protocol.Session.call_service`).
"""
from .admin import AdminClient, Grant, NewUser, Statistics, User
from .datasets import DatasetClient, DatasetInfo, Notification
from .kv import ItemCursor, KVClient, KVTable
from .objects import (Bucket, CompressedObject, CompressReport, ObjectBatch, ObjectInfo, ObjectStoreClient,
                      ObjectTable)
from .streams import (GetRecordsResult, PutResult, Record, StreamClient, StreamInfo, StreamNotFoundError,
                      StreamRecord)
from .transfer import FileTransfer, TransferReport, md5_file

__all__ = [
    # conn.objects
    "ObjectStoreClient", "Bucket", "ObjectInfo", "ObjectTable", "ObjectBatch", "CompressReport", "CompressedObject",
    "FileTransfer", "TransferReport", "md5_file",
    # conn.datasets
    "DatasetClient", "DatasetInfo", "Notification",
    # conn.kv
    "KVClient", "KVTable", "ItemCursor",
    # conn.streams
    "StreamClient", "StreamInfo", "StreamRecord", "PutResult", "Record", "GetRecordsResult", "StreamNotFoundError",
    # conn.admin
    "AdminClient", "User", "NewUser", "Grant", "Statistics",
]
