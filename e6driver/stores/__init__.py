"""Clients of the engine's own services: object stores (``conn.objects``), datasets (``conn.datasets``) and
administration (``conn.admin``).

They use only the protocol layer's public API (:meth:`e6driver.protocol.Session.call_service`).
"""
from .admin import AdminClient
from .datasets import DatasetClient, DatasetInfo, Notification
from .kv import ItemCursor, KVClient, KVTable
from .objects import Bucket, ObjectBatch, ObjectInfo, ObjectStoreClient, ObjectTable
from .streams import (GetRecordsResult, PutResult, Record, StreamClient, StreamInfo, StreamNotFoundError,
                      StreamRecord)
from .transfer import FileTransfer, TransferReport, md5_file

__all__ = ["AdminClient", "Bucket", "DatasetClient", "DatasetInfo", "FileTransfer", "Notification", "ObjectBatch",
           "ObjectInfo", "ObjectStoreClient", "ObjectTable", "TransferReport", "md5_file",
           "GetRecordsResult", "PutResult", "Record", "StreamClient", "StreamInfo", "StreamNotFoundError",
           "StreamRecord", "ItemCursor", "KVClient", "KVTable"]
