"""Same-host transfers (protos/e6driver_local.proto): when the engine runs on this machine, object content moves
between the caller's files and the store by the kernel, not through gRPC messages.

Used only when all of these hold: the engine reports a socket name (GetCapabilities ``local_transfer``), the
connection's host is a loopback address (a tunnel or proxy to a remote engine never qualifies), the platform
has abstract Unix sockets (Linux), and neither ``local_transfer=False`` nor ``E6DRIVER_LOCAL_TRANSFER=0`` turned
it off. The client only ever hands over its own open files (for Arrow results, a memfd the engine writes the
stream into, which is then mapped: the batches are read where the engine wrote them). A transport failure (the socket is gone, the
engine restarted) or a busy engine (RESOURCE_EXHAUSTED) raises :class:`Unavailable`, and the caller moves the
content through gRPC as it would for a remote engine.
"""
from __future__ import annotations

import ipaddress
import logging
import mmap
import os
import socket
import sys
from typing import Any, List, Optional, Sequence, Tuple

import grpc

from .. import errors
from .._proto import e6driver_local_pb2 as local_pb, e6driver_stores_pb2 as st_pb
from .capabilities import acapabilities, capabilities

log = logging.getLogger(__name__)

MAX_KEYS = 200  # the engine's limit of descriptors per request
MAX_REQUEST_BYTES = 60 * 1024  # the engine reads requests of up to 64 KiB (its replies then stay well inside
                               # a Unix socket's send buffer)
MAX_REPLY_BYTES = 4 * 1024 * 1024


class Unavailable(Exception):
    """The same-host route cannot take this request now: use gRPC."""


def socket_name(session: Any, wanted: Optional[bool] = None) -> Optional[str]:
    """The engine's same-host transfer socket when this connection may use it (module doc), else None."""
    if not _may_use(session, wanted):
        return None
    return capabilities(session).get("local_transfer") or None


async def asocket_name(session: Any) -> Optional[str]:
    """:func:`socket_name` for an asyncio session."""
    if not _may_use(session, None):
        return None
    return (await acapabilities(session)).get("local_transfer") or None


def _may_use(session: Any, wanted: Optional[bool]) -> bool:
    if wanted is False or os.environ.get("E6DRIVER_LOCAL_TRANSFER", "1").strip().lower() in ("0", "false", "no"):
        return False
    if not sys.platform.startswith("linux") or not hasattr(socket, "send_fds") or not hasattr(os, "memfd_create"):
        return False
    return _loopback(session.endpoint.rpartition(":")[0].strip("[]"))


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class TimedOut(Unavailable):
    """No answer within the call's timeout."""


class Lost(Unavailable):
    """The request was sent and no answer came (the engine went away): it may have been carried out."""


def exchange(name: str, message: Any, files: Sequence[int], timeout: Optional[float] = None) -> Any:
    """Send ``message`` (a LocalRequest) with the descriptors ``files``; the LocalReply. :class:`Unavailable`
    when gRPC should take the request (no socket, connection lost, the engine busy)."""
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        connection.settimeout(timeout)
        try:
            connection.connect("\0" + name)
            socket.send_fds(connection, [message.SerializeToString()], list(files))
        except OSError as exc:
            raise Unavailable(f"same-host transfer socket: {exc}") from None
        try:
            data = connection.recv(MAX_REPLY_BYTES)
        except socket.timeout:
            raise TimedOut(f"no same-host answer within {timeout} s") from None
        except OSError as exc:
            raise Lost(f"same-host transfer socket: {exc}") from None
    finally:
        connection.close()
    if not data:
        raise Lost("the engine closed the same-host transfer connection without an answer")
    reply = local_pb.LocalReply.FromString(data)
    if reply.code == "RESOURCE_EXHAUSTED":
        raise Unavailable(reply.message)
    return reply


def request(name: str, message: Any, files: Sequence[int], rpc: str,
            not_found: Optional[type] = None) -> List[Any]:
    """:func:`exchange`, then the per-key results; a failure of the whole request raises the driver's error
    for its status. A request over the engine's limits (keys, bytes) goes as several."""
    keys = len(message.keys)
    if keys > 1 and (keys > MAX_KEYS or message.ByteSize() > MAX_REQUEST_BYTES):
        halves = []
        for part in (slice(0, keys // 2), slice(keys // 2, keys)):
            half = type(message)()
            half.CopyFrom(message)
            del half.keys[:], half.content_types[:]
            half.keys.extend(message.keys[part])
            half.content_types.extend(message.content_types[part])
            halves += request(name, half, files[part], rpc, not_found)
        return halves
    reply = exchange(name, message, files)
    if reply.code:
        raise errors.from_status(reply.code, reply.message, rpc, not_found if reply.code == "NOT_FOUND" else None)
    if len(reply.results) != len(files):
        raise errors.InterfaceError(f"{rpc}: the engine answered {len(reply.results)} of {len(files)} files")
    return list(reply.results)


class StatusError(grpc.RpcError):
    """A failure the engine reported on the socket, shaped like a failed gRPC call: the session's rules for
    failed calls (re-authentication, blue-green, resume, driver error classes) apply unchanged."""

    def __init__(self, code: str, details: str) -> None:
        super().__init__(details)
        self._code = getattr(grpc.StatusCode, code, grpc.StatusCode.UNKNOWN)
        self._details = details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> tuple:
        return ()


class ArrowPart:
    """A FetchArrow answer received on the socket: the fields of :class:`e6driver.protocol.answers.ArrowAnswer`,
    the Arrow stream a read-only mapping of the file the engine wrote it into."""

    __slots__ = ("_fields",)

    def __init__(self, ipc: Optional[memoryview], chunks: List[memoryview], end: bool, strategy: str) -> None:
        self._fields = (ipc, chunks, end, strategy)

    def fields(self) -> Tuple[Optional[memoryview], List[memoryview], bool, str]:
        return self._fields

    @property
    def new_strategy(self) -> Optional[str]:
        return self._fields[3] or None


def fetch_arrow(name: str, request: Any, metadata: Sequence[Tuple[str, str]],
                timeout: Optional[float]) -> ArrowPart:
    """QueryRunService.FetchArrow (``request``, sent with ``metadata``) answered on the socket: the engine writes
    the Arrow stream into a memfd of this process, which is mapped, not copied. Failures raise
    :class:`StatusError`; :class:`Unavailable` when gRPC should take the call."""
    colour = next((value for key, value in metadata if key == "strategy"), "")
    message = local_pb.LocalRequest(op="arrow", auth=st_pb.Auth(session_id=request.session_id),
                                    keys=[request.query_id], strategy=colour)
    fd = os.memfd_create("e6driver-arrow", os.MFD_CLOEXEC)
    try:
        try:
            reply = exchange(name, message, [fd], timeout)
        except TimedOut as exc:
            raise StatusError("DEADLINE_EXCEEDED", str(exc)) from None
        except Lost as exc:  # the engine may have taken the part: fetching on would skip its rows
            raise StatusError("ABORTED", f"FetchArrow: {exc}; the part it was answering is lost") from None
        result = reply.results[0] if not reply.code and len(reply.results) == 1 else None
        if result is None or result.code:
            raise StatusError(reply.code or (result.code if result is not None else "INTERNAL"),
                              reply.message or (result.message if result is not None else "no result"))
        part = result.arrow
        total = sum(part.batch_bytes) + part.ipc_bytes
        if os.fstat(fd).st_size < total:
            raise errors.DataError(f"FetchArrow: the engine reported {total} bytes and wrote {os.fstat(fd).st_size}")
        # Mapped, alive while a chunk or batch uses it (pyarrow keeps the buffer).
        written = memoryview(mmap.mmap(fd, total, prot=mmap.PROT_READ)) if total else memoryview(b"")
        chunks, offset = [], 0
        for length in part.batch_bytes:
            chunks.append(written[offset:offset + length])
            offset += length
        ipc = written[offset:] if part.ipc_bytes else None
        return ArrowPart(ipc, chunks, part.end_of_stream, part.new_strategy)
    finally:
        os.close(fd)
