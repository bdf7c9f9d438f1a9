"""Envelope encryption of dataset versions: AES-256-GCM data keys wrapped by the server's master key.

The master key is 32 random bytes in a file (``--master-key-file``, default DATA_DIR/master.key), created
with mode 0600 on first start. Every version gets a fresh data key; the key is stored only wrapped
(AES-256-GCM under the master key, bound to dataset and version as associated data).

Version files of the first formats (new ones are Parquet modular encryption, :mod:`mock_server.datasets.modular`;
these stay readable, and :func:`encrypt_to` still writes them for tests of that): a magic number, an 8-byte nonce
prefix, then the plaintext in segments (``SEGMENTS``: the magic says their size; ``MAGIC``, 256 KiB segments, so a
reader of one column decrypts little more than that column; the very first format, 4 MiB segments),
each sealed with AES-256-GCM (nonce = prefix + 4-byte segment number; associated data = dataset, version,
segment number and a last-segment flag), so files stream in bounded memory and a reordered, truncated or
extended file fails to decrypt.
"""
from __future__ import annotations

import io
import os
import struct
import threading
from typing import Any, BinaryIO, Iterator, Tuple

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"E6DS\x02"
SEGMENTS = {b"E6DS\x01": 4 * 1024 * 1024, MAGIC: 256 * 1024}  # segment size by magic
SEGMENT = SEGMENTS[MAGIC]
HEAD = len(MAGIC) + 8
TAG = 16
KEY_BYTES = 32


class DecryptionError(ValueError):
    """The file or key is not what was encrypted (wrong key, damaged or tampered content)."""


def load_master_key(path: str) -> bytes:
    """The master key in ``path``, generated (0600) when the file does not exist yet."""
    try:
        with open(path, "rb") as handle:
            key = handle.read()
    except FileNotFoundError:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        key = AESGCM.generate_key(bit_length=256)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(key)
            handle.flush()
            os.fsync(handle.fileno())
        return key
    if len(key) != KEY_BYTES:
        raise ValueError(f"master key file {path} must hold exactly {KEY_BYTES} bytes, not {len(key)}")
    return key


def _context(dataset: str, version: int) -> bytes:
    return f"{dataset}\x00{version}".encode()


def new_data_key(master: bytes, dataset: str, version: int) -> Tuple[bytes, bytes]:
    """(data key, wrapped data key = nonce + ciphertext)."""
    key = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(12)
    return key, nonce + AESGCM(master).encrypt(nonce, key, _context(dataset, version))


def unwrap_data_key(master: bytes, wrapped: bytes, dataset: str, version: int) -> bytes:
    try:
        return AESGCM(master).decrypt(wrapped[:12], wrapped[12:], _context(dataset, version))
    except Exception:
        raise DecryptionError(f"cannot unwrap the data key of {dataset} version {version} "
                              "(wrong master key?)") from None


def _aad(dataset: str, version: int, index: int, last: bool) -> bytes:
    return _context(dataset, version) + struct.pack(">I?", index, last)


def encrypt_to(out: BinaryIO, plaintext: bytes, key: bytes, dataset: str, version: int) -> None:
    prefix = os.urandom(8)
    cipher = AESGCM(key)
    out.write(MAGIC + prefix)
    count = max(1, -(-len(plaintext) // SEGMENT))
    view = memoryview(plaintext)
    for index in range(count):
        piece = bytes(view[index * SEGMENT:(index + 1) * SEGMENT])
        nonce = prefix + struct.pack(">I", index)
        out.write(cipher.encrypt(nonce, piece, _aad(dataset, version, index, index == count - 1)))


def decrypt_segments(source: BinaryIO, key: bytes, dataset: str, version: int) -> Iterator[bytes]:
    """The plaintext, segment by segment; DecryptionError on any damage."""
    segment, prefix = _header(source.read(HEAD))
    cipher = AESGCM(key)
    index = 0
    block = source.read(segment + TAG)
    while True:
        following = source.read(segment + TAG)
        last = not following
        try:
            yield cipher.decrypt(prefix + struct.pack(">I", index), block,
                                 _aad(dataset, version, index, last))
        except Exception:
            raise DecryptionError(f"segment {index} of {dataset} version {version} failed authentication") \
                from None
        if last:
            return
        block, index = following, index + 1


def _header(head: bytes) -> Tuple[int, bytes]:
    """(segment size, nonce prefix) of a file starting with ``head``."""
    if len(head) != HEAD or head[:len(MAGIC)] not in SEGMENTS:
        raise DecryptionError("not an encrypted dataset file")
    return SEGMENTS[head[:len(MAGIC)]], head[len(MAGIC):]


def decrypt_file(path: str, key: bytes, dataset: str, version: int) -> bytes:
    with open(path, "rb") as handle:
        return b"".join(decrypt_segments(handle, key, dataset, version))


class PlaintextView(io.RawIOBase):
    """A read-only, seekable file over plaintext that a subclass produces by :meth:`pread` (``size`` bytes)."""

    size = 0

    def __init__(self) -> None:
        super().__init__()
        self._pos = 0

    def pread(self, size: int, offset: int) -> bytes:
        raise NotImplementedError

    def read(self, size: int = -1) -> bytes:
        data = self.pread(self.size - self._pos if size is None or size < 0 else size, self._pos)
        self._pos += len(data)
        return data

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True


class SegmentFile(PlaintextView):
    """A read-only, seekable view of an encrypted file's plaintext that decrypts only the segments read (each
    authenticated as it is decrypted), so Parquet readers fetch just the column chunks and footer they need. The
    plaintext is held in memory only: the segment last decrypted, never written anywhere."""

    def __init__(self, path: str, key: bytes, dataset: str, version: int) -> None:
        super().__init__()
        self._fd = os.open(path, os.O_RDONLY)
        try:
            body = os.fstat(self._fd).st_size - HEAD
            self._segment_size, self._prefix = _header(os.pread(self._fd, HEAD, 0))
            self._count = max(1, -(-body // (self._segment_size + TAG)))
            self.size = body - self._count * TAG  # plaintext bytes
            if self.size < 0:
                raise DecryptionError(f"{dataset} version {version} is truncated")
        except BaseException:
            os.close(self._fd)
            raise
        self._cipher = AESGCM(key)
        self._context = (dataset, version)
        self._cached: Tuple[int, bytes] = (-1, b"")
        self._lock = threading.Lock()

    def _segment(self, index: int) -> bytes:
        if self._cached[0] == index:
            return self._cached[1]
        sealed = os.pread(self._fd, self._segment_size + TAG, HEAD + index * (self._segment_size + TAG))
        dataset, version = self._context
        try:
            plain = self._cipher.decrypt(self._prefix + struct.pack(">I", index), sealed,
                                         _aad(dataset, version, index, index == self._count - 1))
        except Exception:
            raise DecryptionError(f"segment {index} of {dataset} version {version} failed authentication") \
                from None
        self._cached = (index, plain)
        return plain

    def pread(self, size: int, offset: int) -> bytes:
        """``size`` plaintext bytes at ``offset`` (fewer at the end)."""
        end = min(self.size, offset + size)
        parts = []
        with self._lock:
            while offset < end:
                index, within = divmod(offset, self._segment_size)
                piece = self._segment(index)[within:within + end - offset]
                parts.append(piece)
                offset += len(piece)
        return b"".join(parts)

    def close(self) -> None:
        if not self.closed:
            os.close(self._fd)
            self._cached = (-1, b"")
        super().close()
