"""Same-host transfers (protos/e6driver_local.proto): when the engine runs on this machine, object content moves
between the caller's files and the store by the kernel, not through gRPC messages.

Used only when all of these hold: the engine reports a socket name (GetCapabilities ``local_transfer``), the
connection's host is a loopback address (a tunnel or proxy to a remote engine never qualifies), the platform
has abstract Unix sockets (Linux), and neither ``local_transfer=False`` nor ``E6DRIVER_LOCAL_TRANSFER=0`` turned
it off. The client only ever hands over its own open files. A transport failure (the socket is gone, the
engine restarted) or a busy engine (RESOURCE_EXHAUSTED) raises :class:`Unavailable`, and the caller moves the
content through gRPC as it would for a remote engine.
"""
from __future__ import annotations

import ipaddress
import logging
import os
import socket
import sys
from typing import Any, List, Optional, Sequence

from .. import errors
from .._proto import e6driver_local_pb2 as local_pb
from .capabilities import capabilities

log = logging.getLogger(__name__)

MAX_KEYS = 200  # the engine's limit of descriptors per request
MAX_REPLY_BYTES = 4 * 1024 * 1024


class Unavailable(Exception):
    """The same-host route cannot take this request now: use gRPC."""


def socket_name(session: Any, wanted: Optional[bool] = None) -> Optional[str]:
    """The engine's same-host transfer socket when this connection may use it (module doc), else None."""
    if wanted is False or os.environ.get("E6DRIVER_LOCAL_TRANSFER", "1").strip().lower() in ("0", "false", "no"):
        return None
    if not sys.platform.startswith("linux") or not hasattr(socket, "send_fds"):
        return None
    if not _loopback(session.endpoint.rpartition(":")[0].strip("[]")):
        return None
    name = capabilities(session).get("local_transfer")
    return name or None


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def request(name: str, message: Any, files: Sequence[int], rpc: str,
            not_found: Optional[type] = None) -> List[Any]:
    """Send ``message`` (a LocalRequest) with the descriptors ``files``; the per-key results. A failure of the
    whole request raises the driver's error for its status; :class:`Unavailable` when gRPC should take it."""
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        try:
            connection.connect("\0" + name)
            socket.send_fds(connection, [message.SerializeToString()], list(files))
            data = connection.recv(MAX_REPLY_BYTES)
        except OSError as exc:
            raise Unavailable(f"same-host transfer socket: {exc}") from None
    finally:
        connection.close()
    if not data:
        raise Unavailable("the engine closed the same-host transfer connection")
    reply = local_pb.LocalReply.FromString(data)
    if reply.code == "RESOURCE_EXHAUSTED":
        raise Unavailable(reply.message)
    if reply.code:
        raise errors.from_status(reply.code, reply.message, rpc, not_found if reply.code == "NOT_FOUND" else None)
    if len(reply.results) != len(files):
        raise errors.InterfaceError(f"{rpc}: the engine answered {len(reply.results)} of {len(files)} files")
    return list(reply.results)
