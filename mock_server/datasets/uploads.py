"""Uploads in progress, spooled to disk encrypted under a client-chosen upload id so an interrupted one can continue.

Layout: ``<dir>/<id>.part`` (the chunks received so far, in order, each sealed on its own: a 4-byte length, a
12-byte nonce, AES-256-GCM ciphertext bound to the upload id and the chunk's number; written unbuffered) and
``<id>.json`` (user, dataset, format, create, and the upload's own key wrapped by the master key). Nothing of
the payload reaches the disk in clear. The acknowledged offset of an upload is the plaintext its complete
chunks hold, also after the server was killed (a chunk torn by a crash is cut off when the upload continues).
Partial uploads older than ``ttl`` seconds are removed when the store opens. One stream at a time may write an
upload.
"""
from __future__ import annotations

import bisect
import hashlib
import json
import os
import re
import struct
import threading
import time
import uuid
from typing import List, Optional, Set, Tuple

import grpc
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from mock_server.datasets.crypto import DecryptionError, PlaintextView, new_data_key, unwrap_data_key
from mock_server.errors import EngineError

_ID = re.compile(r"^[0-9a-f]{32}$")
DEFAULT_TTL = 24 * 3600.0
_LENGTH = struct.Struct(">I")
_NONCE = 12


def _key_context(upload_id: str) -> str:
    return f".upload/{upload_id}"  # not a dataset name: an upload's wrapped key opens nothing else


def _records(path: str) -> Tuple[List[Tuple[int, int, int]], int]:
    """([(plaintext offset, file offset of the sealed chunk, sealed length)], bytes of complete records) of a
    spool file; a torn last record is left out."""
    records, plain, pos = [], 0, 0
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            while pos + _LENGTH.size + _NONCE <= size:
                handle.seek(pos)
                (sealed,) = _LENGTH.unpack(handle.read(_LENGTH.size))
                end = pos + _LENGTH.size + _NONCE + sealed
                if sealed < 16 or end > size:
                    break
                records.append((plain, pos + _LENGTH.size, sealed))
                plain += sealed - 16
                pos = end
    except FileNotFoundError:
        pass
    return records, pos


def spooled_bytes(path: str) -> int:
    """Payload bytes the complete chunks of spool file ``path`` hold."""
    return _payload_size(_records(path)[0])


def _payload_size(records: List[Tuple[int, int, int]]) -> int:
    return records[-1][0] + records[-1][2] - 16 if records else 0


class SpooledPayload(PlaintextView):
    """The received payload as a seekable file, decrypted chunk by chunk as it is read."""

    def __init__(self, upload: "PartialUpload") -> None:
        super().__init__()
        self._upload = upload
        self._starts = [r[0] for r in upload.records]
        self.size = upload.size

    def pread(self, size: int, offset: int) -> bytes:
        end, parts = min(self.size, offset + size), []
        while offset < end:
            index = bisect.bisect_right(self._starts, offset) - 1
            chunk = self._upload.chunk(index)
            piece = chunk[offset - self._starts[index]:end - self._starts[index]]
            parts.append(piece)
            offset += len(piece)
        return b"".join(parts)


class PartialUpload:
    def __init__(self, spool: "UploadSpool", upload_id: str, key: bytes) -> None:
        self.spool = spool
        self.id = upload_id
        self.part = os.path.join(spool.dir, f"{upload_id}.part")
        self._cipher = AESGCM(key)
        self.records, complete = _records(self.part)
        self._fd = os.open(self.part, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        os.ftruncate(self._fd, complete)  # a chunk torn by a crash was never acknowledged
        self._end = complete
        self.size = _payload_size(self.records)

    def _aad(self, index: int) -> bytes:
        return f"{self.id}\x00{index}".encode()

    def append(self, data: bytes) -> None:
        nonce = os.urandom(_NONCE)
        sealed = self._cipher.encrypt(nonce, bytes(data), self._aad(len(self.records)))
        view = memoryview(_LENGTH.pack(len(sealed)) + nonce + sealed)
        while view:
            view = view[os.write(self._fd, view):]
        self.records.append((self.size, self._end + _LENGTH.size, len(sealed)))
        self._end += _LENGTH.size + _NONCE + len(sealed)
        self.size += len(data)

    def chunk(self, index: int) -> bytes:
        """Received chunk ``index``, decrypted (DecryptionError when the spool file was altered)."""
        _, pos, sealed = self.records[index]
        raw = os.pread(self._fd, _NONCE + sealed, pos)
        try:
            return self._cipher.decrypt(raw[:_NONCE], raw[_NONCE:], self._aad(index))
        except Exception:
            raise DecryptionError(f"chunk {index} of upload {self.id} failed authentication") from None

    def sha256(self) -> bytes:
        digest = hashlib.sha256()
        for index in range(len(self.records)):
            digest.update(self.chunk(index))
        return digest.digest()

    def payload(self) -> SpooledPayload:
        return SpooledPayload(self)

    def read(self) -> bytes:
        return self.payload().readall()

    def close(self, discard: bool) -> None:
        """Release the upload; ``discard`` also removes its files."""
        os.close(self._fd)
        if discard:
            for path in (self.part, os.path.join(self.spool.dir, f"{self.id}.json")):
                _remove(path)
        self.spool.release(self.id)


class UploadSpool:
    def __init__(self, directory: str, master: bytes, ttl: float = DEFAULT_TTL) -> None:
        self.dir = directory
        self._master = master  # wraps each upload's own key
        os.makedirs(directory, exist_ok=True)
        self._lock = threading.Lock()
        self._active: Set[str] = set()
        self.sweep(ttl)

    def _key(self, upload_id: str, meta: Optional[dict]) -> Optional[bytes]:
        """The key of a spooled upload (None when it has none this server can unwrap)."""
        try:
            return unwrap_data_key(self._master, bytes.fromhex(meta["key"]), _key_context(upload_id), 0)
        except (TypeError, KeyError, ValueError):  # no meta, no key, or DecryptionError
            return None

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
        if self._key(upload_id, meta) is None:
            return 0  # spooled in clear by an older server: it starts over (see open)
        return spooled_bytes(os.path.join(self.dir, f"{upload_id}.part"))

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
            if meta is not None and {k: meta.get(k) for k in wanted} != wanted:
                raise EngineError(grpc.StatusCode.FAILED_PRECONDITION,
                                  f"upload {upload_id} belongs to another user, dataset or format")
            key = self._key(upload_id, meta)
            if key is None:  # new, or spooled in clear by an older server, or under another master key: start over
                _remove(os.path.join(self.dir, f"{upload_id}.part"))
                key, wrapped = new_data_key(self._master, _key_context(upload_id), 0)
                with open(os.path.join(self.dir, f"{upload_id}.json"), "w") as handle:
                    json.dump({**wanted, "key": wrapped.hex()}, handle)
            self._active.add(upload_id)
        try:
            return PartialUpload(self, upload_id, key)
        except BaseException:
            self.release(upload_id)
            raise


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
