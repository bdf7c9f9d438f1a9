"""Uploads in progress, spooled to disk under a client-chosen upload id so an interrupted one can continue.

Layout: ``<dir>/<id>.part`` (the bytes received so far, a prefix of the payload: written unbuffered, in
order) and ``<id>.json`` (user, dataset, format, create). The acknowledged offset of an upload is the size of
its ``.part`` file, also after the server was killed. Partial uploads older than ``ttl`` seconds are removed
when the store opens. One stream at a time may write an upload.
"""
from __future__ import annotations

import json
import os
import re
import threading
import time
import uuid
from typing import Optional, Set

import grpc

from mock_server.errors import EngineError

_ID = re.compile(r"^[0-9a-f]{32}$")
DEFAULT_TTL = 24 * 3600.0


class PartialUpload:
    def __init__(self, spool: "UploadSpool", upload_id: str) -> None:
        self.spool = spool
        self.id = upload_id
        self.part = os.path.join(spool.dir, f"{upload_id}.part")
        self._fd = os.open(self.part, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self.size = os.fstat(self._fd).st_size

    def append(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view):]
        self.size += len(data)

    def read(self) -> bytes:
        with open(self.part, "rb") as handle:
            return handle.read()

    def close(self, discard: bool) -> None:
        """Release the upload; ``discard`` also removes its files."""
        os.close(self._fd)
        if discard:
            for path in (self.part, os.path.join(self.spool.dir, f"{self.id}.json")):
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass
        self.spool.release(self.id)


class UploadSpool:
    def __init__(self, directory: str, ttl: float = DEFAULT_TTL) -> None:
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self._lock = threading.Lock()
        self._active: Set[str] = set()
        self.sweep(ttl)

    def release(self, upload_id: str) -> None:
        """Mark ``upload_id`` as no longer being received (it may be continued again)."""
        with self._lock:
            self._active.discard(upload_id)

    def sweep(self, ttl: float) -> None:
        cutoff = time.time() - ttl
        for entry in os.listdir(self.dir):
            path = os.path.join(self.dir, entry)
            try:
                if os.path.getmtime(path) < cutoff:
                    os.unlink(path)
            except FileNotFoundError:
                pass

    def _meta(self, upload_id: str) -> Optional[dict]:
        try:
            with open(os.path.join(self.dir, f"{upload_id}.json")) as handle:
                return json.load(handle)
        except (FileNotFoundError, ValueError):
            return None

    def offset(self, user: str, upload_id: str) -> Optional[int]:
        """Bytes acknowledged for ``user``'s upload ``upload_id`` (None: no such upload)."""
        meta = self._meta(upload_id) if _ID.match(upload_id or "") else None
        if meta is None or meta["user"] != user:
            return None
        try:
            return os.path.getsize(os.path.join(self.dir, f"{upload_id}.part"))
        except FileNotFoundError:
            return None

    def open(self, user: str, upload_id: str, name: str, fmt: str, create: bool) -> PartialUpload:
        """Upload ``upload_id`` (empty: a fresh random one), new or continued; the caller must close it."""
        upload_id = upload_id or uuid.uuid4().hex
        if not _ID.match(upload_id):
            raise EngineError(grpc.StatusCode.INVALID_ARGUMENT, "upload_id must be 32 lowercase hex digits")
        wanted = {"user": user, "dataset": name, "format": fmt, "create": create}
        with self._lock:
            if upload_id in self._active:
                raise EngineError(grpc.StatusCode.ABORTED, f"upload {upload_id} is being written by another stream")
            meta = self._meta(upload_id)
            if meta is not None and meta != wanted:
                raise EngineError(grpc.StatusCode.FAILED_PRECONDITION,
                                  f"upload {upload_id} belongs to another user, dataset or format")
            if meta is None:
                with open(os.path.join(self.dir, f"{upload_id}.json"), "w") as handle:
                    json.dump(wanted, handle)
            self._active.add(upload_id)
        try:
            return PartialUpload(self, upload_id)
        except BaseException:
            self.release(upload_id)
            raise
