"""Same-host transfers (protos/e6driver_local.proto): a client on the engine's machine hands over its own open
files, and the engine moves object content between them and the store with the kernel's file copy instead of
through gRPC messages (a 200 MiB put or get then costs about what a file copy does).

The socket is an abstract Unix socket (Linux; no file to protect or clean up) named with 128 random bits at
every start: no other process can hold the name before the engine binds it, and a client learns it only from
GetCapabilities. SOCK_SEQPACKET keeps one request per record, so the descriptors sent with a request arrive with
it. Every request authenticates like a store call on gRPC; the engine never sends a descriptor of its own, and
checks each received one (a regular file, readable or writable as the operation needs) before using it.
Limits: ``max_local_transfers`` connections at once (each served on its own thread), ``max_local_transfers_per_user``
requests of one user at once, 200 descriptors and 64 KiB per request, and an idle connection is closed after a
minute. A connection cannot be tied to a user before its first request, so when every slot is taken the one
idle longest (at least :data:`EVICT_IDLE_SECONDS`: the driver sends its request as soon as it connects) makes
room for the newcomer; only when none is idle is the newcomer refused with RESOURCE_EXHAUSTED. Idle connections
therefore cannot lock other clients out (the driver falls back to gRPC when refused).
"""
from __future__ import annotations

import fcntl
import logging
import os
import secrets
import socket
import stat as stat_module
import sys
import threading
import time
from collections import Counter
from typing import Any, Callable, Dict, List, Optional

import grpc

from e6driver._proto import e6driver_local_pb2 as local_pb
from mock_server.errors import EngineError
from mock_server.limits import Limits, exceeded

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 64 * 1024
MAX_FDS = 200
IDLE_SECONDS = 60.0
EVICT_IDLE_SECONDS = 1.0

# A handler answers one request: (request, its descriptors, the caller's user) -> results, one per key.
Handler = Callable[[Any, List[int], str], List[Any]]
Authenticate = Callable[[Any], str]  # request -> user (raises EngineError)


def supported() -> bool:
    return sys.platform.startswith("linux") and hasattr(socket, "recv_fds")


class LocalTransferServer:
    """Serves same-host transfer requests to ``handlers`` (by ``LocalRequest.op``) until :meth:`stop`."""

    def __init__(self, handlers: Dict[str, Handler], authenticate: Authenticate, limits: Limits,
                 authenticators: Optional[Dict[str, Authenticate]] = None) -> None:
        self.handlers = handlers
        self.authenticate = authenticate
        self.authenticators = authenticators or {}  # operations that authenticate their own way
        self.limits = limits
        self.name = f"e6driver-{secrets.token_hex(16)}"
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._listener.bind("\0" + self.name)
        self._listener.listen(64)
        self._lock = threading.Lock()
        # connection -> when it started waiting for a request (time.monotonic()), None while it answers one
        self._connections: Dict[socket.socket, Optional[float]] = {}
        self._per_user: Counter = Counter()
        self.served: Counter = Counter()  # requests answered, by operation (observability, tests)
        self._stopped = False
        self._thread = threading.Thread(target=self._accept_loop, name="e6-local-transfer", daemon=True)
        self._thread.start()

    def _accept_loop(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return  # closed by stop()
            with self._lock:
                if self._stopped:
                    connection.close()
                    return
                evicted = None
                if len(self._connections) >= self.limits.max_local_transfers:
                    evicted = self._idlest()
                    if evicted is not None:
                        del self._connections[evicted]
                busy = len(self._connections) >= self.limits.max_local_transfers
                if not busy:
                    self._connections[connection] = time.monotonic()
            if evicted is not None:
                _stop_reading(evicted)
            if busy:
                _reply_error(connection, exceeded(self.limits, "max_local_transfers",
                                                  "same-host transfer connections"))
                connection.close()
                continue
            threading.Thread(target=self._serve, args=(connection,), name="e6-local-transfer-conn",
                             daemon=True).start()

    def _idlest(self) -> Optional[socket.socket]:
        """The connection idle longest, if at least EVICT_IDLE_SECONDS (caller holds the lock)."""
        waiting = [(since, id(c), c) for c, since in self._connections.items() if since is not None]
        if not waiting:
            return None
        since, _, connection = min(waiting)
        return connection if time.monotonic() - since >= EVICT_IDLE_SECONDS else None

    def _mark(self, connection: socket.socket, idle: bool) -> None:
        with self._lock:
            if connection in self._connections:  # else evicted: it answers what it received, then ends
                self._connections[connection] = time.monotonic() if idle else None

    def _serve(self, connection: socket.socket) -> None:
        try:
            connection.settimeout(IDLE_SECONDS)
            while True:
                try:
                    data, fds, flags, _ = socket.recv_fds(connection, MAX_REQUEST_BYTES, MAX_FDS)
                except (socket.timeout, OSError):
                    return
                if not data and not fds:
                    return  # the client closed the connection, or it was evicted while idle
                self._mark(connection, idle=False)
                try:
                    reply = self._answer(data, fds, flags)
                finally:
                    for fd in fds:
                        _close(fd)
                try:
                    connection.sendall(reply.SerializeToString())
                except OSError:
                    return
                self._mark(connection, idle=True)
        finally:
            with self._lock:
                self._connections.pop(connection, None)
            connection.close()

    def _answer(self, data: bytes, fds: List[int], flags: int) -> Any:
        try:
            if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
                raise EngineError(grpc.StatusCode.INVALID_ARGUMENT,
                                  f"same-host transfer request over {MAX_REQUEST_BYTES} bytes or "
                                  f"{MAX_FDS} files")
            request = local_pb.LocalRequest()
            try:
                request.ParseFromString(data)
            except Exception:  # noqa: BLE001 - protobuf's DecodeError, or anything malformed bytes cause
                raise EngineError(grpc.StatusCode.INVALID_ARGUMENT, "malformed same-host transfer request") \
                    from None
            handler = self.handlers.get(request.op)
            if handler is None:
                raise EngineError(grpc.StatusCode.UNIMPLEMENTED,
                                  f"unknown same-host transfer operation {request.op[:40]!r}")
            if len(request.keys) != len(fds):
                raise EngineError(grpc.StatusCode.INVALID_ARGUMENT,
                                  f"{len(request.keys)} key(s) but {len(fds)} file(s) attached")
            user = self.authenticators.get(request.op, self.authenticate)(request)
            with self._admitted(user):
                reply = local_pb.LocalReply(results=handler(request, fds, user))
            with self._lock:
                self.served[request.op] += 1
            return reply
        except EngineError as exc:
            return local_pb.LocalReply(code=exc.code.name, message=exc.message)
        except Exception:  # noqa: BLE001 - a bug must not end the connection's thread silently
            log.exception("same-host transfer failed")
            return local_pb.LocalReply(code="INTERNAL", message="internal error in a same-host transfer")

    def _admitted(self, user: str) -> "_Admission":
        return _Admission(self, user)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            connections = list(self._connections)
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Admission:
    """At most ``max_local_transfers_per_user`` requests of one user at once."""

    def __init__(self, server: LocalTransferServer, user: str) -> None:
        self.server, self.user = server, user

    def __enter__(self) -> None:
        limits = self.server.limits
        with self.server._lock:
            if self.server._per_user[self.user] >= limits.max_local_transfers_per_user:
                raise exceeded(limits, "max_local_transfers_per_user", f"same-host transfers of {self.user!r}")
            self.server._per_user[self.user] += 1

    def __exit__(self, *exc: object) -> None:
        with self.server._lock:
            self.server._per_user[self.user] -= 1
            if not self.server._per_user[self.user]:
                del self.server._per_user[self.user]


def _reply_error(connection: socket.socket, exc: EngineError) -> None:
    try:
        connection.sendall(local_pb.LocalReply(code=exc.code.name, message=exc.message).SerializeToString())
    except OSError:
        pass


def _stop_reading(connection: socket.socket) -> None:
    """Evict a connection: its thread's wait for a request ends (a request already sent is still read and
    answered), and the client's next send fails at once (EPIPE), before the engine took anything."""
    try:
        connection.shutdown(socket.SHUT_RD)
    except OSError:
        pass


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


def checked_descriptor(fd: int, write: bool) -> os.stat_result:
    """``fd``'s status if it is a regular file open for reading (``write``: for writing, not appending), else
    INVALID_ARGUMENT: no descriptor can make the engine block on a pipe, read a device or write out of turn."""
    stat = os.fstat(fd)
    if not stat_module.S_ISREG(stat.st_mode):
        raise EngineError(grpc.StatusCode.INVALID_ARGUMENT, "the file handed over is not a regular file")
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    mode = flags & os.O_ACCMODE
    if write and (mode == os.O_RDONLY or flags & os.O_APPEND):
        raise EngineError(grpc.StatusCode.INVALID_ARGUMENT,
                          "the file handed over for a get is not open for writing (or is open for appending)")
    if not write and mode == os.O_WRONLY:
        raise EngineError(grpc.StatusCode.INVALID_ARGUMENT, "the file handed over for a put is not open for reading")
    return stat


def result_error(exc: EngineError) -> Any:
    return local_pb.LocalResult(code=exc.code.name, message=exc.message)
