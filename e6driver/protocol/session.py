"""A session with an e6data-protocol engine: every QueryEngineService RPC goes through one call path,
:meth:`SessionRules.call_plan`, run blocking by :class:`Session` and with asyncio by ``aio.AsyncSession``.

Its rules (spec §4, §8, §9; docs/engine-contract.md):

* the session is created lazily and renewed when the server says it expired (``INTERNAL`` + ``Access denied``)
  or when a blue-green switch was applied (the endpoint's ``generation`` moved) — then the call is retried;
* new work sends the endpoint's active colour and, when the server refuses it with ``status: 456``, detects the
  colour again (bounded attempts, no recursion); per-query calls send the query's own colour;
* ``status: 503`` (suspended cluster) resumes the cluster when ``auto_resume`` and retries;
* an unreachable server is retried for new work until ``connect_timeout``; for a query the error is raised
  marked *replayable* so the caller can replay it when no row has reached the user.

Nothing here knows PEP 249 cursors; errors are the driver's (``e6driver.errors``).
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import grpc

from .. import errors
from .._proto import cluster_pb2, e6x_engine_pb2 as pb
from ..errors import OperationalError
from . import bluegreen
from . import local_transfer
from .bearer import ClientCredentials, StaticToken
from .plan import EnsureSession, Plan, ResumeCluster, Rpc, Sleep, drive
from .releaser import RELEASE_FLUSH_SECONDS, RELEASER
from .transport import ClientCertificate, Transport, tls_rejection

log = logging.getLogger(__name__)

ACCESS_DENIED = "Access denied"
TRANSACTION_LOST = "transaction lost"  # the engine's ABORTED answer for a session whose transaction it rolled back
SUSPENDED = "status: 503"
MAX_SESSION_RENEWALS = 3
MAX_COLOUR_ATTEMPTS = 4
RETRY_CODES = ("UNAVAILABLE",)
_RESUME_LOCKS: Dict[str, threading.Lock] = {}
_RESUME_LOCKS_GUARD = threading.Lock()


def backoff_delay(attempt: int) -> float:
    """The one retry pause of the driver: 0.1 s doubling per attempt, at most 1 s."""
    return min(1.0, 0.05 * (2 ** min(attempt, 5)))


def backoff(attempt: int) -> None:
    time.sleep(backoff_delay(attempt))


def dropped_by_transport(details: str) -> bool:
    """CANCELLED without an engine message: the call was dropped (server shutting down), nobody cancelled."""
    return details.strip().lower() in ("", "cancelled", "canceled", "channel closed!")


def never_sent(code: str, details: str) -> bool:
    """UNAVAILABLE because no connection could be made: the request cannot have reached the server."""
    lowered = details.lower()
    return code == "UNAVAILABLE" and ("failed to connect" in lowered or "connection refused" in lowered)


def replayable(exc: BaseException, rpc: str, query_id: Optional[str]) -> errors.Error:
    """The driver error for a per-query failure the caller may answer by running the query again."""
    error = errors.from_rpc_error(exc, rpc, query_id)
    error.replayable = True
    return error


def _resume_lock(endpoint: str) -> threading.Lock:
    with _RESUME_LOCKS_GUARD:
        lock = _RESUME_LOCKS.get(endpoint)
        if lock is None:
            lock = _RESUME_LOCKS[endpoint] = threading.Lock()
        return lock


class QueryHandle:
    """What every per-query call needs: the ids the server minted and the colour the query runs under."""

    __slots__ = ("query_id", "engine_ip", "colour", "__weakref__")

    def __init__(self, query_id: str, engine_ip: str, colour: Optional[str]):
        self.query_id = query_id
        self.engine_ip = engine_ip
        self.colour = colour


class SessionRules:
    """Credentials, blue-green state and the live session id of one connection, and the plans (``plan.py``)
    that hold every rule of the call path; :class:`Session` runs them blocking, ``aio.AsyncSession`` with asyncio.
    """

    def __init__(self, host: str, port: int, *, username: str, password: str,
                 bearer: Union[None, StaticToken, ClientCredentials],
                 cluster_name: Optional[str], secure: bool, ssl_cert: Union[None, str, bytes],
                 channel_options: List[Tuple[str, Any]], auto_resume: bool, connect_timeout: float,
                 rpc_timeout: Optional[float], query_timeout: Optional[float], auto_resume_timeout: float,
                 prepare_timeout: float, client_certificate: Optional[ClientCertificate] = None):
        self.endpoint = f"{host}:{port}"
        self.cluster_name = cluster_name
        self.auto_resume = auto_resume
        self.connect_timeout = connect_timeout
        self.rpc_timeout = rpc_timeout
        self.query_timeout = query_timeout
        self.auto_resume_timeout = auto_resume_timeout
        self.prepare_timeout = prepare_timeout
        self.transport = self._open_transport(host, port, secure, ssl_cert, channel_options, client_certificate)
        self.colours = bluegreen.REGISTRY.for_endpoint(self.endpoint)
        self._username, self._password, self._bearer = username, password, bearer
        self._lock = threading.RLock()
        self._session_id: Optional[str] = None
        self._session_generation = -1
        self.closed = False
        # Transactions (protocol/transaction.py): the session id holding the open transaction, or why it was lost.
        self._transaction_session: Optional[str] = None
        self._transaction_lost: Optional[str] = None
        self._transaction_in_sql = False  # begun by a BEGIN the caller wrote (autocommit on), not by the driver
        self.capabilities: Optional[Dict[str, Any]] = None  # AdminService.GetCapabilities, asked once
        self.batch_v2: Optional[bool] = None  # the server has getNextResultBatchV2 (None: not asked yet)
        # FetchArrow answered on the engine's same-host socket (protocol/local_transfer.py), once a columnar
        # reader found it usable; None: over gRPC.
        self.same_host_arrow: Optional[str] = None

    @staticmethod
    def _open_transport(host: str, port: int, secure: bool, ssl_cert: Union[None, str, bytes],
                        channel_options: List[Tuple[str, Any]],
                        client_certificate: Optional[ClientCertificate] = None) -> Any:
        raise NotImplementedError  # each front-end opens its own kind of channel

    # ------------------------------------------------------------------ life cycle
    def check_open(self) -> None:
        if self.closed:
            raise errors.InterfaceError("connection is closed")

    def apply_pending_switch(self) -> bool:
        """Apply an announced colour now if no query of the endpoint is open; the session re-authenticates."""
        if not self.colours.apply_pending():
            return False
        self.forget()
        return True

    def forget(self) -> None:
        """Drop the session id; the next call authenticates again."""
        with self._lock:
            self._session_id = None

    # ------------------------------------------------------------------ transaction state
    @property
    def in_transaction(self) -> bool:
        """A transaction is open (or was lost and not yet ended by commit/rollback)."""
        return self._transaction_session is not None or self._transaction_lost is not None

    @property
    def transaction_lost(self) -> Optional[str]:
        return self._transaction_lost

    @property
    def keeps_session(self) -> bool:
        """Calls run in a server session (user and password), not one by one under a bearer token."""
        return self._bearer is None

    def transaction_started(self, in_sql: bool = False) -> None:
        """A transaction is open on the current session: begun by the driver (autocommit off), or by a
        ``BEGIN`` the caller wrote (``in_sql``), which the driver tracks only to report its loss."""
        with self._lock:
            self._transaction_session, self._transaction_lost = self._session_id, None
            self._transaction_in_sql = in_sql

    def transaction_finished(self) -> None:
        with self._lock:
            self._transaction_session = self._transaction_lost = None

    def lose_transaction(self, why: str) -> OperationalError:
        """Mark the open transaction lost (the caller must end it with rollback) and return the error to raise.
        A transaction begun in the caller's SQL is reported once and forgotten: nothing the driver opened stays
        to be ended."""
        with self._lock:
            self._transaction_session = None
            if self._transaction_in_sql:
                self._transaction_in_sql = False
                return OperationalError(f"the transaction begun with BEGIN was lost: {why}; the server rolled it "
                                        "back (or may not have run its last statement): run the transaction again")
            self._transaction_lost = why
        return OperationalError(f"the open transaction was lost: {why}; the server rolled it back (or may "
                                "not have run its last statement): call rollback() and run the transaction again")

    @property
    def user(self) -> str:
        return self._username

    def query_deadline(self) -> Optional[float]:
        """The monotonic time by which a query started now must end (``query_timeout``), or None."""
        return time.monotonic() + self.query_timeout if self.query_timeout else None

    # ------------------------------------------------------------------ sessions
    def metadata(self, colour: Optional[str], engine_ip: Optional[str] = None) -> List[Tuple[str, str]]:
        """The routing and authorisation headers of a call (spec §3)."""
        metadata = []
        if engine_ip:
            metadata.append(("plannerip", engine_ip))
        if self.cluster_name:
            metadata.append(("cluster-name", self.cluster_name))
        if colour:
            metadata.append(("strategy", colour))
        if self._bearer is not None:
            metadata.append(("authorization", f"Bearer {self._bearer.token()}"))
        return metadata

    def valid_session_id(self) -> Optional[str]:
        """The live session id, or None when there is none or a blue-green switch retired it (then the caller
        authenticates under the session's lock). A transaction never continues on a new session."""
        with self._lock:
            if self._session_id and self._session_generation == self.colours.generation:
                return self._session_id
            if self._transaction_session is not None:
                raise self.lose_transaction("its session was retired by a blue-green switch or dropped")
            self._session_id = None
            return None

    def authenticate_plan(self) -> Plan:
        """Authenticate under the endpoint's colour, detecting it again (bounded) when the server refuses it;
        returns the new session id."""
        deadline = time.monotonic() + self.connect_timeout
        last: Optional[BaseException] = None
        rounds = waits = 0
        resumed = False
        while rounds < MAX_COLOUR_ATTEMPTS:
            retry = False
            for colour in self.colours.candidates():
                try:
                    response = yield Rpc("engine", "authenticate",
                                         pb.AuthenticateRequest(user=self._username, password=self._password),
                                         self.metadata(colour), self.timeout(deadline))
                except grpc.RpcError as exc:
                    code, details = errors.grpc_code_name(exc), errors.grpc_details(exc)
                    last = exc
                    if bluegreen.is_refused_colour(code, details):
                        self.colours.refused(colour)
                        continue
                    if code == "UNAVAILABLE" and SUSPENDED in details and self.auto_resume and not resumed:
                        yield ResumeCluster()
                        resumed = retry = True
                        break
                    if code == "UNAVAILABLE" and SUSPENDED not in details and time.monotonic() < deadline:
                        waits += 1
                        yield Sleep(backoff_delay(waits))
                        retry = True
                        break
                    if code == "UNAUTHENTICATED":
                        raise errors.AuthenticationError(
                            f"authentication failed for user {self._username!r}: {details or code}",
                            grpc_code=code, details=details) from None
                    raise errors.from_rpc_error(exc, "authenticate") from None
                if not response.sessionId:
                    raise errors.AuthenticationError(f"authentication failed for user {self._username!r}: "
                                                     "the server returned no session")
                self.colours.confirm(colour)
                again = self.colours.announce_at_authentication(colour, response.new_strategy or None)
                if again:
                    log.info("authenticate announced colour %s; authenticating again with it", again)
                    rounds += 1
                    retry = True
                    break
                with self._lock:
                    self._session_id = response.sessionId
                    self._session_generation = self.colours.generation
                log.debug("authenticated user %r on %s under colour %s", self._username, self.endpoint, colour)
                return self._session_id
            if not retry:  # every candidate colour was refused
                rounds += 1
        if last is not None:
            raise errors.from_rpc_error(last, "authenticate") from None
        raise OperationalError("could not authenticate: the server kept announcing a different colour")

    def _invalidate(self, session_id: str) -> None:
        with self._lock:
            if self._session_id == session_id:
                self._session_id = None

    def timeout(self, deadline: Optional[float] = None, timeout: Optional[float] = None) -> Optional[float]:
        """The deadline of one RPC: the tightest of ``timeout``, ``rpc_timeout`` and what is left of ``deadline``."""
        limits = [t for t in (timeout, self.rpc_timeout) if t is not None]
        if deadline is not None:
            limits.append(max(0.001, deadline - time.monotonic()))
        return min(limits) if limits else None

    # ------------------------------------------------------------------ the one call path
    def call_plan(self, rpc: str, make_request: Callable[[str], Any], *, query: Optional[QueryHandle] = None,
                  needs_session: bool = True, timeout: Optional[float] = None, deadline: Optional[float] = None,
                  with_colour: bool = False, service: str = "engine", runs: bool = False) -> Plan:
        """Run one RPC of ``service`` under the rules of the module doc; returns the response (and the colour it
        was sent under, with ``with_colour``) or raises a driver error. A call that ``runs`` a statement as it
        starts it (QueryRunService.Run) is sent again only when it cannot have reached the server."""
        connect_deadline = time.monotonic() + self.connect_timeout
        renewals = colour_attempts = resumes = waits = token_refreshes = 0
        while True:
            self.check_open()
            session = (yield EnsureSession()) if needs_session else ""
            if query is not None:
                colour = query.colour
            else:
                candidates = self.colours.candidates()
                colour = candidates[0] if candidates else None
            if log.isEnabledFor(logging.DEBUG):
                log.debug("%s%s colour=%s", rpc, f" query={query.query_id}" if query else "", colour)
            metadata = self.metadata(colour, query.engine_ip if query else None)
            try:
                response = yield Rpc(service, rpc, make_request(session), metadata, self.timeout(deadline, timeout))
            except grpc.RpcError as exc:
                code, details = errors.grpc_code_name(exc), errors.grpc_details(exc)
                query_id = query.query_id if query else None
                if code == "UNAUTHENTICATED" and self._bearer is not None and token_refreshes < 1 \
                        and self._bearer.rejected(dict(metadata)["authorization"][len("Bearer "):]):
                    token_refreshes += 1
                    continue
                if needs_session and session and session == self._transaction_session and (
                        code == "INTERNAL" and ACCESS_DENIED in details or TRANSACTION_LOST in details):
                    self._invalidate(session)
                    raise self.lose_transaction(f"the engine no longer knows its session ({details})")
                if code == "ABORTED" and TRANSACTION_LOST in details:  # a transaction the caller began in SQL
                    self._invalidate(session)
                    raise errors.from_rpc_error(exc, rpc, query.query_id if query else None) from None
                if code == "INTERNAL" and ACCESS_DENIED in details and needs_session \
                        and renewals < MAX_SESSION_RENEWALS:
                    renewals += 1
                    # Warned, not raised: a plain statement replays safely (a transaction is lost loudly above),
                    # but what the old session held is gone and the caller may rely on it.
                    log.warning("session expired during %s; authenticating again: the new session starts without "
                                "the old one's SET values, temporary tables and prepared statements", rpc)
                    self._invalidate(session)
                    continue
                if bluegreen.is_refused_colour(code, details):
                    if query is None and colour_attempts < MAX_COLOUR_ATTEMPTS:
                        colour_attempts += 1
                        if colour:
                            self.colours.refused(colour)
                        continue
                    raise replayable(exc, rpc, query_id)
                if code == "UNAVAILABLE" and SUSPENDED in details:
                    if self.auto_resume and resumes < 1:
                        resumes += 1
                        yield ResumeCluster()
                        continue
                    raise errors.from_rpc_error(exc, rpc, query_id) from None
                if code == "UNAVAILABLE" or (code == "CANCELLED" and dropped_by_transport(details)):
                    if query is None and time.monotonic() < connect_deadline and (
                            not runs or never_sent(code, details)):
                        waits += 1
                        yield Sleep(backoff_delay(waits))
                        continue
                    raise replayable(exc, rpc, query_id)
                if code == "NOT_FOUND" and query is not None:
                    raise replayable(exc, rpc, query_id)
                raise errors.from_rpc_error(exc, rpc, query_id) from None
            announced = getattr(response, "new_strategy", None)
            if announced:
                self.colours.announce(announced)
            return (response, colour) if with_colour else response

    # ------------------------------------------------------------------ cluster (spec §9)
    def resume_plan(self) -> Plan:
        """Wake a suspended cluster and wait until it is active, at most ``auto_resume_timeout``."""
        deadline = time.monotonic() + self.auto_resume_timeout
        credentials = dict(user=self._username, password=self._password)
        resumed = False
        while time.monotonic() < deadline:
            candidates = self.colours.candidates()
            colour = candidates[0] if candidates else None
            try:
                status = (yield Rpc("cluster", "status", cluster_pb2.ClusterStatusRequest(**credentials),
                                    self.metadata(colour), self.timeout(deadline, 10.0))).status
            except grpc.RpcError as exc:
                log.debug("cluster status failed while resuming: %s", errors.grpc_details(exc))
                yield Sleep(0.5)
                continue
            if status == "active":
                log.info("cluster %s is active", self.endpoint)
                return
            if status == "failed":
                raise OperationalError(f"cluster {self.endpoint} failed to resume")
            if status == "suspended" and not resumed:
                log.info("cluster %s is suspended; resuming it", self.endpoint)
                yield Rpc("cluster", "resume", cluster_pb2.ResumeRequest(**credentials), self.metadata(colour),
                          self.timeout(deadline, 10.0))
                resumed = True
                continue
            yield Sleep(0.25)
        raise OperationalError(f"cluster {self.endpoint} did not become active within "
                               f"{self.auto_resume_timeout:g} s")


class Session(SessionRules):
    """The blocking front-end: runs the plans on a ``grpc`` channel (used by the DB-API classes)."""

    @staticmethod
    def _open_transport(host: str, port: int, secure: bool, ssl_cert: Union[None, str, bytes],
                        channel_options: List[Tuple[str, Any]],
                        client_certificate: Optional[ClientCertificate] = None) -> Transport:
        return Transport(host, port, secure, ssl_cert, channel_options, client_certificate)

    def close(self) -> None:
        RELEASER.flush(self, RELEASE_FLUSH_SECONDS)  # the queries released without waiting reach the server
        self.closed = True
        self._session_id = None
        self.transport.close()

    def reopen(self) -> None:
        self.transport.reset()
        self.closed = False
        self.forget()

    def session_id(self) -> str:
        """The live session id, authenticating first when there is none or a blue-green switch retired it."""
        self.check_open()
        if self._bearer is not None:
            return ""
        with self._lock:  # one authentication at a time per connection
            return self.valid_session_id() or drive(self.authenticate_plan(), self._perform)

    def call(self, rpc: str, make_request: Callable[[str], Any], **options: Any) -> Any:
        """Run one RPC under the rules of the module doc (:meth:`call_plan`)."""
        return drive(self.call_plan(rpc, make_request, **options), self._perform)

    def run(self, plan: Plan) -> Any:
        """Run any plan of the protocol layer with blocking calls."""
        return drive(plan, self._perform)

    def resume_cluster(self) -> None:
        with _resume_lock(self.endpoint):
            drive(self.resume_plan(), self._perform)

    def _perform(self, op: Any) -> Any:
        if isinstance(op, Rpc):
            if op.method == "FetchArrow" and self.same_host_arrow is not None:
                try:
                    return local_transfer.fetch_arrow(self.same_host_arrow, op.request, op.metadata, op.timeout)
                except local_transfer.Unavailable as exc:
                    log.debug("FetchArrow through gRPC: %s", exc)
            stub = self.transport.stub(op.service)
            try:
                return getattr(stub, op.method)(op.request, metadata=op.metadata, timeout=op.timeout)
            except grpc.RpcError as exc:  # a rejected certificate is final: never retried as "unreachable"
                rejected = tls_rejection(exc, self.transport.secure)
                if rejected is not None:
                    raise rejected from None
                raise
        if isinstance(op, Sleep):
            time.sleep(op.seconds)
            return None
        if isinstance(op, EnsureSession):
            return self.session_id()
        if isinstance(op, ResumeCluster):
            return self.resume_cluster()
        raise TypeError(f"unknown protocol operation {op!r}")

    def store_credentials(self) -> Dict[str, str]:
        """How the engine's own services authenticate this session: user and password, else the session id."""
        if self._username or self._password:
            return {"user": self._username, "password": self._password}
        return {"session_id": self.session_id()}

    def call_service(self, stub_class: Callable[[grpc.Channel], Any], call: Callable[[Any, list], Any],
                     on_error: Callable[[grpc.RpcError], errors.Error]) -> Any:
        """Run ``call(stub, metadata)`` on one of the engine's own services (object stores, datasets): an
        unreachable server is retried until ``connect_timeout``; other failures become ``on_error(exc)``."""
        deadline = time.monotonic() + self.connect_timeout
        attempt = 0
        while True:
            self.check_open()
            try:
                return call(stub_class(self.transport.channel), self.metadata(None))
            except grpc.RpcError as exc:
                rejected = tls_rejection(exc, self.transport.secure)
                if rejected is not None:
                    raise rejected from None
                if errors.grpc_code_name(exc) in RETRY_CODES and time.monotonic() < deadline:
                    attempt += 1
                    backoff(attempt)
                    continue
                raise on_error(exc) from None
