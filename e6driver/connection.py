"""DB-API connection: sessions, the retry rules of every RPC, browsing calls and auto-resume.

One method, ``_call``, performs every QueryEngineService RPC. Its rules (spec §4, §8, §9; docs/engine-contract.md):

* the session is created lazily and renewed when the server says it expired (``INTERNAL`` + ``Access denied``)
  or when a blue-green switch was applied (the endpoint's ``generation`` moved) — then the call is retried;
* new work sends the endpoint's active colour and, when the server refuses it with ``status: 456``, detects the
  colour again (bounded attempts, no recursion); per-query calls send the query's own colour;
* ``status: 503`` (suspended cluster) resumes the cluster when ``auto_resume`` and retries;
* an unreachable server is retried for new work until ``connect_timeout``; for a query the error is raised
  marked *replayable* so the cursor can replay it when no row has reached the caller.
"""
from __future__ import annotations

import logging
import threading
import time
import weakref
from typing import Any, Callable, Dict, List, Optional, Union

import grpc

from . import errors, failover
from ._proto import cluster_pb2, e6x_engine_pb2 as pb
from .errors import (DataError, DatabaseError, Error, IntegrityError, InterfaceError, InternalError,
                     NotSupportedError, OperationalError, ProgrammingError, Warning)
from .transport import Transport, split_options

log = logging.getLogger(__name__)

ACCESS_DENIED = "Access denied"
SUSPENDED = "status: 503"
MAX_SESSION_RENEWALS = 3
MAX_STRATEGY_ATTEMPTS = 4
_RESUME_LOCKS: Dict[str, threading.Lock] = {}
_RESUME_LOCKS_GUARD = threading.Lock()


def _dropped_by_transport(details: str) -> bool:
    """CANCELLED without an engine message: the call was dropped (server shutting down), nobody cancelled."""
    return details.strip().lower() in ("", "cancelled", "canceled", "channel closed!")


class QueryHandle:
    """What every per-query call needs: the ids the server minted and the colour the query runs under."""

    __slots__ = ("query_id", "engine_ip", "colour", "__weakref__")

    def __init__(self, query_id: str, engine_ip: str, colour: Optional[str]):
        self.query_id = query_id
        self.engine_ip = engine_ip
        self.colour = colour


def _resume_lock(endpoint: str) -> threading.Lock:
    with _RESUME_LOCKS_GUARD:
        lock = _RESUME_LOCKS.get(endpoint)
        if lock is None:
            lock = _RESUME_LOCKS[endpoint] = threading.Lock()
        return lock


class Connection:
    """A connection to an e6data-protocol engine. Arguments match the official client's ``Connection``.

    Extra keyword arguments: ``connect_timeout`` (seconds to keep retrying an unreachable server for new work),
    ``rpc_timeout`` (deadline of each RPC), ``query_timeout`` (budget of a whole query, execute to last fetch),
    ``auto_resume_timeout`` and ``prefetch`` (chunks fetched ahead while the caller consumes; 0 disables).
    """

    Warning = Warning
    Error = Error
    InterfaceError = InterfaceError
    DatabaseError = DatabaseError
    DataError = DataError
    OperationalError = OperationalError
    IntegrityError = IntegrityError
    InternalError = InternalError
    ProgrammingError = ProgrammingError
    NotSupportedError = NotSupportedError

    def __init__(self, host: str = "127.0.0.1", port: int = 80, username: Optional[str] = None,
                 password: Optional[str] = None, catalog: Optional[str] = None, database: Optional[str] = None,
                 cluster_name: Optional[str] = None, secure: bool = False,
                 ssl_cert: Union[None, str, bytes] = None, auto_resume: bool = True, scheme: str = "e6data",
                 grpc_options: Optional[Dict[str, Any]] = None, debug: bool = False,
                 require_fastbinary: bool = True, client_id: Optional[str] = None,
                 client_secret: Optional[str] = None, token_url: Optional[str] = None,
                 oauth_scope: Optional[str] = None, access_token: Optional[str] = None,
                 client_auth_method: str = "basic", enable_result_batch_v2: bool = False, *,
                 connect_timeout: float = 30.0, rpc_timeout: Optional[float] = None,
                 query_timeout: Optional[float] = None, auto_resume_timeout: Optional[float] = None,
                 prefetch: int = 2):
        if client_id or client_secret or token_url:
            raise NotSupportedError("OAuth client-credentials flow is not supported yet; pass access_token")
        if not access_token and (username is None or password is None):
            raise InterfaceError("username and password (or access_token) are required")
        self.host, self.port = host, int(port)
        self._username, self._password = username or "", password or ""
        self.catalog_name = catalog
        self.database = database
        self.cluster_name = cluster_name.lower() if cluster_name else None
        self.secure = secure
        self.auto_resume = auto_resume
        self.scheme = scheme
        self.debug = debug
        self.require_fastbinary = require_fastbinary
        self.enable_result_batch_v2 = enable_result_batch_v2  # accepted for compatibility; prefetch does the job
        self._access_token = access_token
        options, client_settings = split_options(grpc_options)
        self.prepare_timeout = float(client_settings.get("grpc_prepare_timeout", 600))
        self.auto_resume_timeout = float(auto_resume_timeout if auto_resume_timeout is not None
                                         else client_settings.get("grpc_auto_resume_timeout_seconds", 300))
        self.connect_timeout = connect_timeout
        self.rpc_timeout = rpc_timeout
        self.query_timeout = query_timeout
        self.prefetch = max(0, int(prefetch))
        self.endpoint = f"{host}:{self.port}"
        self._transport = Transport(host, self.port, secure, ssl_cert, options)
        self._strategy = failover.REGISTRY.for_endpoint(self.endpoint)
        self._lock = threading.RLock()
        self._session_id: Optional[str] = None
        self._session_generation = -1
        self._closed = False
        self._cursors: "weakref.WeakSet[Any]" = weakref.WeakSet()
        if debug:
            logging.getLogger("e6driver").setLevel(logging.DEBUG)

    # ------------------------------------------------------------------ PEP 249
    def cursor(self, catalog_name: Optional[str] = None, db_name: Optional[str] = None) -> Any:
        self._check_open()
        from .cursor import Cursor

        cursor = Cursor(self, catalog_name=catalog_name or self.catalog_name, db_name=db_name or self.database)
        self._cursors.add(cursor)
        return cursor

    def commit(self) -> None:
        """The engine auto-commits every statement; nothing to do."""
        self._check_open()

    def rollback(self) -> None:
        raise NotSupportedError("the engine has no transactions; every statement is committed when it runs")

    def close(self) -> None:
        if self._closed:
            return
        for cursor in list(self._cursors):
            try:
                cursor.close()
            except Error as exc:
                log.debug("closing cursor failed: %s", exc)
        self._closed = True
        self._session_id = None
        self._transport.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    @property
    def objects(self) -> Any:
        """The server's object stores: an :class:`e6driver.objects.ObjectStoreClient`, made on first use."""
        if "_objects" not in self.__dict__:
            from .objects import ObjectStoreClient
            self.__dict__["_objects"] = ObjectStoreClient(self)
        return self.__dict__["_objects"]

    @property
    def datasets(self) -> Any:
        """The server's versioned datasets: an :class:`e6driver.datasets.DatasetClient`, made on first use."""
        if "_datasets" not in self.__dict__:
            from .datasets import DatasetClient
            self.__dict__["_datasets"] = DatasetClient(self)
        return self.__dict__["_datasets"]

    # ------------------------------------------------------------------ official-client API
    @property
    def get_session_id(self) -> str:
        return self._session()

    def get_re_authenticate_session_id(self) -> str:
        with self._lock:
            self._session_id = None
        return self._session()

    def check_connection(self) -> bool:
        return not self._closed and self._transport.is_open

    def reopen(self) -> None:
        self._transport.reset()
        self._closed = False
        with self._lock:
            self._session_id = None

    def ping(self) -> None:
        """Raise unless the server answers a real RPC with this connection's credentials."""
        try:
            self._call("healthCheck", lambda session: pb.HealthCheckRequest(), needs_session=False)
        except NotSupportedError:
            pass  # an engine without healthCheck: the session RPC below proves liveness
        self._session()

    def get_schema_names(self, catalog: Optional[str] = None) -> List[str]:
        response = self._call("getSchemaNamesV2", lambda session: pb.GetSchemaNamesV2Request(
            sessionId=session, catalog=catalog or self.catalog_name or ""))
        return list(response.schemas)

    def get_tables(self, catalog: Optional[str] = None, database: Optional[str] = None) -> List[str]:
        response = self._call("getTablesV2", lambda session: pb.GetTablesV2Request(
            sessionId=session, schema=database or self.database or "", catalog=catalog or self.catalog_name or ""))
        return list(response.tables)

    def get_columns(self, catalog: Optional[str] = None, database: Optional[str] = None,
                    table: str = "") -> List[Dict[str, str]]:
        response = self._call("getColumnsV2", lambda session: pb.GetColumnsV2Request(
            sessionId=session, schema=database or self.database or "", table=table,
            catalog=catalog or self.catalog_name or ""))
        return [{"fieldName": field.fieldName, "fieldType": field.fieldType} for field in response.fieldInfo]

    def get_catalogs(self) -> List[Dict[str, Any]]:
        response = self._call("getCataloges", lambda session: pb.GetCatalogesRequest(), needs_session=False)
        return [{"name": c.name, "isDefault": c.isDefault} for c in response.catalogResponses]

    def dry_run(self, query: str) -> str:
        catalog = self.catalog_name
        if catalog:
            response = self._call("dryRunV2", lambda session: pb.DryRunRequestV2(
                sessionId=session, schema=self.database or "", queryString=query, catalog=catalog))
        else:
            response = self._call("dryRun", lambda session: pb.DryRunRequest(
                sessionId=session, schema=self.database or "", queryString=query))
        return response.dryrunValue

    def clear(self, query_id: str, engine_ip: Optional[str] = None, timeout: Optional[float] = None) -> None:
        handle = QueryHandle(query_id, engine_ip or "", self._strategy.colour_of(query_id))
        self._call("clear", lambda session: pb.ClearRequest(
            sessionId=session, queryId=query_id, engineIP=engine_ip or ""), query=handle, timeout=timeout)
        self._strategy.query_finished(query_id)

    def query_cancel(self, engine_ip: Optional[str], query_id: str) -> None:
        handle = QueryHandle(query_id, engine_ip or "", self._strategy.colour_of(query_id))
        self._call("cancelQuery", lambda session: pb.CancelQueryRequest(
            sessionId=session, queryId=query_id, engineIP=engine_ip or ""), query=handle)
        self._strategy.query_finished(query_id)

    # ------------------------------------------------------------------ internals
    def _check_open(self) -> None:
        if self._closed:
            raise InterfaceError("connection is closed")

    def _metadata(self, colour: Optional[str], engine_ip: Optional[str] = None) -> List[tuple]:
        metadata = []
        if engine_ip:
            metadata.append(("plannerip", engine_ip))
        if self.cluster_name:
            metadata.append(("cluster-name", self.cluster_name))
        if colour:
            metadata.append(("strategy", colour))
        if self._access_token:
            metadata.append(("authorization", f"Bearer {self._access_token}"))
        return metadata

    def _session(self) -> str:
        """The live session id, authenticating first when there is none or a strategy switch retired it."""
        self._check_open()
        if self._access_token:
            return ""
        with self._lock:
            if self._session_id and self._session_generation == self._strategy.generation:
                return self._session_id
            self._session_id = None
            return self._authenticate()

    def _authenticate(self) -> str:
        """Authenticate under the endpoint's colour, detecting it again (bounded) when the server refuses it."""
        deadline = time.monotonic() + self.connect_timeout
        last: Optional[BaseException] = None
        rounds = waits = 0
        resumed = False
        while rounds < MAX_STRATEGY_ATTEMPTS:
            retry = False
            for colour in self._strategy.candidates():
                try:
                    response = self._transport.engine.authenticate(
                        pb.AuthenticateRequest(user=self._username, password=self._password),
                        metadata=self._metadata(colour), timeout=self._timeout(deadline))
                except grpc.RpcError as exc:
                    code, details = errors.grpc_code_name(exc), errors.grpc_details(exc)
                    last = exc
                    if failover.is_wrong_strategy(code, details):
                        self._strategy.refused(colour)
                        continue
                    if code == "UNAVAILABLE" and SUSPENDED in details and self.auto_resume and not resumed:
                        self._resume_cluster()
                        resumed = retry = True
                        break
                    if code == "UNAVAILABLE" and SUSPENDED not in details and time.monotonic() < deadline:
                        waits += 1
                        self._backoff(waits)
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
                self._strategy.confirm(colour)
                again = self._strategy.announce_at_authentication(colour, response.new_strategy or None)
                if again:
                    log.info("authenticate announced strategy %s; authenticating again with it", again)
                    rounds += 1
                    retry = True
                    break
                self._session_id = response.sessionId
                self._session_generation = self._strategy.generation
                return self._session_id
            if not retry:  # every candidate colour was refused
                rounds += 1
        if last is not None:
            raise errors.from_rpc_error(last, "authenticate") from None
        raise OperationalError("could not authenticate: the server kept announcing a different strategy")

    def _timeout(self, deadline: Optional[float] = None, timeout: Optional[float] = None) -> Optional[float]:
        limits = [t for t in (timeout, self.rpc_timeout) if t is not None]
        if deadline is not None:
            limits.append(max(0.001, deadline - time.monotonic()))
        return min(limits) if limits else None

    @staticmethod
    def _backoff(attempt: int) -> None:
        time.sleep(min(1.0, 0.05 * (2 ** min(attempt, 5))))

    def _invalidate_session(self, session_id: str) -> None:
        with self._lock:
            if self._session_id == session_id:
                self._session_id = None

    def _call(self, rpc: str, make_request: Callable[[str], Any], *, query: Optional[QueryHandle] = None,
              needs_session: bool = True, timeout: Optional[float] = None, deadline: Optional[float] = None,
              with_colour: bool = False) -> Any:
        """Run one RPC under the rules of the module doc; returns the response (and the colour it was sent
        under, with ``with_colour``) or raises a driver error."""
        connect_deadline = time.monotonic() + self.connect_timeout
        renewals = strategy_attempts = resumes = waits = 0
        while True:
            self._check_open()
            session = self._session() if needs_session else ""
            if query is not None:
                colour = query.colour
            else:
                candidates = self._strategy.candidates()
                colour = candidates[0] if candidates else None
            try:
                response = getattr(self._transport.engine, rpc)(
                    make_request(session), metadata=self._metadata(colour, query.engine_ip if query else None),
                    timeout=self._timeout(deadline, timeout))
            except grpc.RpcError as exc:
                code, details = errors.grpc_code_name(exc), errors.grpc_details(exc)
                query_id = query.query_id if query else None
                if code == "INTERNAL" and ACCESS_DENIED in details and needs_session \
                        and renewals < MAX_SESSION_RENEWALS:
                    renewals += 1
                    log.info("session expired during %s; authenticating again", rpc)
                    self._invalidate_session(session)
                    continue
                if failover.is_wrong_strategy(code, details):
                    if query is None and strategy_attempts < MAX_STRATEGY_ATTEMPTS:
                        strategy_attempts += 1
                        if colour:
                            self._strategy.refused(colour)
                        continue
                    raise self._replayable(exc, rpc, query_id)
                if code == "UNAVAILABLE" and SUSPENDED in details:
                    if self.auto_resume and resumes < 1:
                        resumes += 1
                        self._resume_cluster()
                        continue
                    raise errors.from_rpc_error(exc, rpc, query_id) from None
                if code == "UNAVAILABLE" or (code == "CANCELLED" and _dropped_by_transport(details)):
                    if query is None and time.monotonic() < connect_deadline:
                        waits += 1
                        self._backoff(waits)
                        continue
                    raise self._replayable(exc, rpc, query_id)
                if code == "NOT_FOUND" and query is not None:
                    raise self._replayable(exc, rpc, query_id)

                raise errors.from_rpc_error(exc, rpc, query_id) from None
            announced = getattr(response, "new_strategy", None)
            if announced:
                self._strategy.announce(announced)
            return (response, colour) if with_colour else response

    def _call_new_work(self, rpc: str, make_request: Callable[[str], Any], *, timeout: Optional[float] = None,
                       deadline: Optional[float] = None) -> Any:
        """Start new work (a prepare): returns the response and the colour the query will run under."""
        return self._call(rpc, make_request, timeout=timeout, deadline=deadline, with_colour=True)

    @staticmethod
    def _replayable(exc: BaseException, rpc: str, query_id: Optional[str]) -> errors.Error:
        error = errors.from_rpc_error(exc, rpc, query_id)
        error.replayable = True  # type: ignore[attr-defined]
        return error

    def _resume_cluster(self) -> None:
        """Wake a suspended cluster (spec §9) and wait until it is active, at most ``auto_resume_timeout``."""
        lock = _resume_lock(self.endpoint)
        with lock:
            deadline = time.monotonic() + self.auto_resume_timeout
            credentials = dict(user=self._username, password=self._password)
            resumed = False
            while time.monotonic() < deadline:
                candidates = self._strategy.candidates()
                colour = candidates[0] if candidates else None
                try:
                    status = self._transport.cluster.status(
                        cluster_pb2.ClusterStatusRequest(**credentials), metadata=self._metadata(colour),
                        timeout=self._timeout(deadline, 10.0)).status
                except grpc.RpcError as exc:
                    log.debug("cluster status failed while resuming: %s", errors.grpc_details(exc))
                    time.sleep(0.5)
                    continue
                if status == "active":
                    log.info("cluster %s is active", self.endpoint)
                    return
                if status == "failed":
                    raise OperationalError(f"cluster {self.endpoint} failed to resume")
                if status == "suspended" and not resumed:
                    log.info("cluster %s is suspended; resuming it", self.endpoint)
                    self._transport.cluster.resume(cluster_pb2.ResumeRequest(**credentials),
                                                   metadata=self._metadata(colour),
                                                   timeout=self._timeout(deadline, 10.0))
                    resumed = True
                    continue
                time.sleep(0.25)
            raise OperationalError(f"cluster {self.endpoint} did not become active within "
                                   f"{self.auto_resume_timeout:g} s")
