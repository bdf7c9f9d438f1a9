"""Clients of the engine's own services: object stores (``conn.objects``) and datasets (``conn.datasets``).

They use only the protocol layer's public API (:meth:`e6driver.protocol.Session.call_service`).
"""
from .datasets import DatasetClient, DatasetInfo, Notification
from .objects import Bucket, ObjectBatch, ObjectInfo, ObjectStoreClient, ObjectTable
from .streams import (GetRecordsResult, PutResult, Record, StreamClient, StreamInfo, StreamNotFoundError,
                      StreamRecord)
from .transfer import FileTransfer, TransferReport, md5_file

__all__ = ["Bucket", "DatasetClient", "DatasetInfo", "FileTransfer", "Notification", "ObjectBatch", "ObjectInfo",
           "ObjectStoreClient", "ObjectTable", "TransferReport", "md5_file",
           "GetRecordsResult", "PutResult", "Record", "StreamClient", "StreamInfo", "StreamNotFoundError",
           "StreamRecord"]
