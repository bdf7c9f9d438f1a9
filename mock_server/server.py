"""gRPC wiring: the QueryEngineService servicer, keepalive policy, server life cycle and admin operations."""
from __future__ import annotations

import json
import logging
import threading
from concurrent import futures
from typing import Any, Mapping, Optional

import grpc

from e6driver._proto import (cluster_pb2_grpc, e6driver_admin_pb2_grpc, e6driver_datasets_pb2_grpc,
                             e6driver_stores_pb2_grpc, e6x_engine_pb2 as pb, e6x_engine_pb2_grpc)
from mock_server import errors
from mock_server.admin_service import AdminServicer
from mock_server.admission import AdmissionInterceptor
from mock_server.cluster import ClusterServicer, ClusterState
from mock_server.engine import Engine
from mock_server.queries import Query, QueryRegistry, explain_analyze_json
from mock_server.sessions import SessionStore, bearer_token
from mock_server.datasets_service import DatasetServicer, open_datasets
from mock_server.stores_service import ObjectStoreServicer, open_object_stores
from mock_server.strategy import StrategyState, requested_colour
from mock_server.virtual_tables import VirtualTables

log = logging.getLogger(__name__)

V2_RESPONSE_BYTES = 4 * 1024 * 1024

# Spec §1.2: tolerate the official client's keepalive pings; no message size limits.
SERVER_OPTIONS = [
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_recv_ping_interval_without_data_ms", 5000),
    ("grpc.http2.max_ping_strikes", 0),
    ("grpc.max_receive_message_length", -1),
    ("grpc.max_send_message_length", -1),
]


_rpc = errors.rpc_method


class QueryEngineServicer(e6x_engine_pb2_grpc.QueryEngineServiceServicer):
    """The e6data query service on top of :class:`Engine`.

    Routing headers ``plannerip`` and ``cluster-name`` are accepted and ignored. Cluster suspension and
    blue-green admission (``strategy`` header) are applied before these methods run, by
    :class:`mock_server.admission.AdmissionInterceptor`; here a query only records its colour.
    """

    def __init__(self, engine: Engine, sessions: SessionStore, queries: QueryRegistry,
                 engine_ip: str, strategy: StrategyState) -> None:
        self.engine = engine
        self.sessions = sessions
        self.queries = queries
        self.engine_ip = engine_ip
        self.strategy = strategy

    # ------------------------------------------------------------------ helpers

    def _caller(self, session_id: str, context: grpc.ServicerContext) -> str:
        """User of the request: its live session, or a bearer token when the session id is empty."""
        if session_id:
            return self.sessions.resolve(session_id)
        token = bearer_token(context.invocation_metadata())
        if token is not None:
            return self.sessions.user_for_token(token)
        raise errors.session_denied()

    def _query(self, request: Any, context: grpc.ServicerContext) -> Query:
        """The request's query, if the caller may use it (any live session of the owner)."""
        query = self.queries.find(request.queryId)
        if query is None:
            raise errors.query_not_found(request.queryId)
        user = self.sessions.lookup(request.sessionId)
        if user is None and request.sessionId and request.sessionId == query.session_id:
            user = query.user  # a live query keeps its own session usable
        if user is None:
            user = self._caller(request.sessionId, context)
        if user != query.user:
            raise errors.query_not_found(request.queryId)
        return query

    def _release(self, request: Any, context: grpc.ServicerContext) -> None:
        """Clear a query; idempotent for empty, unknown or already-cleared ids."""
        if not request.queryId or self.queries.find(request.queryId) is None:
            return
        self._query(request, context)
        self.queries.remove(request.queryId)

    # ------------------------------------------------------------------ session

    @_rpc
    def authenticate(self, request: pb.AuthenticateRequest, context: grpc.ServicerContext) -> Any:
        session_id = self.sessions.authenticate(request.user, request.password)
        return pb.AuthenticateResponse(sessionId=session_id, engineIP=self.engine_ip)

    # ------------------------------------------------------------------ query life cycle

    def _prepare(self, request: Any, catalog: str, context: grpc.ServicerContext) -> Any:
        user = self._caller(request.sessionId, context)
        colour = self.strategy.colour_for(requested_colour(context.invocation_metadata()))
        query = self.queries.create(user, request.sessionId, request.queryString, catalog, request.schema,
                                    strategy=colour)
        return pb.PrepareStatementResponse(engineIP=self.engine_ip, queryId=query.id,
                                           sessionId=request.sessionId)

    @_rpc
    def prepareStatement(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._prepare(request, "", context)

    @_rpc
    def prepareStatementV2(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._prepare(request, request.catalog, context)

    def _execute(self, request: Any, context: grpc.ServicerContext) -> Any:
        query = self._query(request, context)
        with query.in_use():
            query.execute()
        return pb.ExecuteStatementResponse(sessionId=request.sessionId)

    @_rpc
    def executeStatement(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._execute(request, context)

    @_rpc
    def executeStatementV2(self, request: Any, context: grpc.ServicerContext) -> Any:
        if len(request.params):
            raise errors.EngineError(grpc.StatusCode.UNIMPLEMENTED, "server-side parameters are not supported")
        return self._execute(request, context)

    @_rpc
    def getResultMetadata(self, request: Any, context: grpc.ServicerContext) -> Any:
        query = self._query(request, context)
        with query.in_use():
            blob = query.metadata()
        return pb.GetResultMetadataResponse(resultMetaData=blob, sessionId=request.sessionId)

    @_rpc
    def getNextResultBatch(self, request: Any, context: grpc.ServicerContext) -> Any:
        query = self._query(request, context)
        with query.in_use():
            chunk = query.next_chunk()
        return pb.GetNextResultBatchResponse(resultBatch=chunk, sessionId=request.sessionId)

    @_rpc
    def getNextResultBatchV2(self, request: Any, context: grpc.ServicerContext) -> Any:
        query = self._query(request, context)
        with query.in_use():
            chunks, end = query.next_chunks(V2_RESPONSE_BYTES)
        return pb.GetNextResultBatchV2Response(resultBatches=chunks, endOfStream=end,
                                               sessionId=request.sessionId)

    @_rpc
    def status(self, request: Any, context: grpc.ServicerContext) -> Any:
        query = self._query(request, context)
        with query.in_use():
            finished, rows = query.status()
        return pb.StatusResponse(status=finished, rowCount=rows, sessionId=request.sessionId)

    @_rpc
    def explainAnalyze(self, request: Any, context: grpc.ServicerContext) -> Any:
        query = self._query(request, context)
        with query.in_use():
            report = explain_analyze_json(query)
        data = json.loads(report)
        return pb.ExplainAnalyzeResponse(
            explainAnalyze=report, isCached=False, parsingTime=int(round(data["parsingTime"])),
            queueingTime=int(round(data["executionQueueingTime"])), sessionId=request.sessionId)

    @_rpc
    def explain(self, request: Any, context: grpc.ServicerContext) -> Any:
        query = self._query(request, context)
        with query.in_use():
            plan = self.engine.explain(query.sql, *query.statement.location, user=query.user)
        return pb.ExplainResponse(explain=plan, sessionId=request.sessionId)

    @_rpc
    def cancelQuery(self, request: Any, context: grpc.ServicerContext) -> Any:
        if request.queryId and self.queries.find(request.queryId) is not None:
            self._query(request, context).cancel()
        return pb.CancelQueryResponse(sessionId=request.sessionId)

    @_rpc
    def clear(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._release(request, context)
        return pb.ClearResponse(sessionId=request.sessionId)

    @_rpc
    def clearOrCancelQuery(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._release(request, context)
        return pb.ClearOrCancelQueryResponse(sessionId=request.sessionId)

    # ------------------------------------------------------------------ dry run

    def _dry_run(self, request: Any, catalog: str, context: grpc.ServicerContext) -> Any:
        user = self._caller(request.sessionId, context)
        report = self.engine.dry_run(request.queryString, catalog, request.schema, user)
        return pb.DryRunResponse(dryrunValue=json.dumps(report))

    @_rpc
    def dryRun(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._dry_run(request, "", context)

    @_rpc
    def dryRunV2(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._dry_run(request, request.catalog, context)

    # ------------------------------------------------------------------ catalog browsing

    @_rpc
    def getCataloges(self, request: Any, context: grpc.ServicerContext) -> Any:
        return pb.GetCatalogesResponse(catalogResponses=[
            pb.CatalogResponse(name=name, isDefault=default) for name, default in self.engine.catalogs()])

    @_rpc
    def getSchemaNamesV2(self, request: Any, context: grpc.ServicerContext) -> Any:
        user = self._caller(request.sessionId, context)
        return pb.GetSchemaNamesResponse(schemas=self.engine.schemas(request.catalog, user),
                                         sessionId=request.sessionId)

    @_rpc
    def getSchemaNames(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._caller(request.sessionId, context)
        return pb.GetSchemaNamesResponse(schemas=self.engine.schemas(), sessionId=request.sessionId)

    @_rpc
    def getTablesV2(self, request: Any, context: grpc.ServicerContext) -> Any:
        user = self._caller(request.sessionId, context)
        return pb.GetTablesResponse(tables=self.engine.tables(request.catalog, request.schema, user),
                                    sessionId=request.sessionId)

    @_rpc
    def getTables(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._caller(request.sessionId, context)
        return pb.GetTablesResponse(tables=self.engine.tables("", request.schema), sessionId=request.sessionId)

    def _columns(self, request: Any, catalog: str, context: grpc.ServicerContext) -> Any:
        user = self._caller(request.sessionId, context)
        fields = [pb.GFieldInfo(fieldName=name, fieldType=type_name)
                  for name, type_name in self.engine.columns(catalog, request.schema, request.table, user)]
        return pb.GetColumnsResponse(fieldInfo=fields, sessionId=request.sessionId)

    @_rpc
    def getColumnsV2(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._columns(request, request.catalog, context)

    @_rpc
    def getColumns(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._columns(request, "", context)

    @_rpc
    def healthCheck(self, request: Any, context: grpc.ServicerContext) -> Any:
        return pb.HealthCheckResponse()


class EngineServer:
    """The local engine: gRPC server + DuckDB, usable in-process (``with EngineServer() as srv``).

    ``strategy`` is the blue-green colour active at start; ``resume_seconds`` how long a resume takes;
    ``admin_user`` (default: the first user) the only user allowed on AdminService. The admin operations
    are also methods here (:meth:`switch_strategy`, :meth:`suspend`, :meth:`resume`, :meth:`expire_sessions`).
    ``s3`` (keys ``endpoint``, ``access_key``, ``secret_key``, optional ``region``) keeps the object stores
    on an S3-compatible service instead of DATA_DIR/objects. Datasets are encrypted under the master key in
    ``master_key_file`` (default DATA_DIR/master.key, generated on first start). ``dataset_rate_limit`` caps
    each user's dataset uploads + downloads per second (bursts of ``max(1, rate)``; None: no limit).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, data_dir: Optional[str] = None,
                 users: Optional[Mapping[str, str]] = None, session_ttl: float = 3600.0,
                 query_ttl: float = 3600.0, max_workers: int = 64, time_zone: str = "UTC",
                 sweep_interval: Optional[float] = None, strategy: str = "blue",
                 resume_seconds: float = 2.0, admin_user: Optional[str] = None,
                 s3: Optional[Mapping[str, str]] = None, master_key_file: Optional[str] = None,
                 dataset_rate_limit: Optional[float] = None) -> None:
        self.host = host
        self.requested_port = port
        self.port: Optional[int] = None
        self.strategy = StrategyState(strategy)
        self.cluster = ClusterState(resume_seconds)
        self.engine = Engine(data_dir, time_zone=time_zone)
        self.sessions = SessionStore(users, ttl=session_ttl)
        self.queries = QueryRegistry(self.engine, ttl=query_ttl)
        self.admin_user = admin_user if admin_user is not None else next(iter(self.sessions.users), "")
        self.object_stores = open_object_stores(data_dir, self.sessions, self.admin_user, s3)
        self.datasets = open_datasets(data_dir, self.admin_user, master_key_file)
        self.engine.virtual = VirtualTables(self.object_stores, self.datasets)
        self._sweep_interval = sweep_interval or max(0.5, min(30.0, min(session_ttl, query_ttl) / 4))
        self._stop = threading.Event()
        self._sweeper: Optional[threading.Thread] = None
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=max_workers,
                                                              thread_name_prefix="e6rpc"),
                                   options=SERVER_OPTIONS,
                                   interceptors=[AdmissionInterceptor(self.cluster, self.strategy)])
        engine_ip = host if host not in ("", "0.0.0.0", "::", "[::]") else "localhost"
        e6x_engine_pb2_grpc.add_QueryEngineServiceServicer_to_server(
            QueryEngineServicer(self.engine, self.sessions, self.queries, engine_ip, self.strategy),
            self._server)
        cluster_pb2_grpc.add_ClusterServiceServicer_to_server(
            ClusterServicer(self.cluster, self.sessions), self._server)
        e6driver_admin_pb2_grpc.add_AdminServiceServicer_to_server(
            AdminServicer(self.sessions, self.strategy, self.cluster, self.queries, self.admin_user),
            self._server)
        e6driver_stores_pb2_grpc.add_ObjectStoreServiceServicer_to_server(
            ObjectStoreServicer(self.object_stores), self._server)
        e6driver_datasets_pb2_grpc.add_DatasetServiceServicer_to_server(
            DatasetServicer(self.datasets, self.object_stores, dataset_rate_limit), self._server)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> int:
        """Bind, start serving and return the bound port."""
        host = f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host
        port = self._server.add_insecure_port(f"{host}:{self.requested_port}")
        if port == 0:
            raise OSError(f"cannot bind {self.host}:{self.requested_port}")
        self.port = port
        self._server.start()
        self._sweeper = threading.Thread(target=self._sweep_loop, name="e6-sweeper", daemon=True)
        self._sweeper.start()
        log.info("e6driver engine listening on %s", self.address)
        return port

    def _sweep_loop(self) -> None:
        while not self._stop.wait(self._sweep_interval):
            try:
                self.queries.sweep()
                self.sessions.sweep(keep=self.queries.session_ids())
            except Exception:  # noqa: BLE001 - the sweeper must survive
                log.exception("sweep failed")

    def stop(self, grace: Optional[float] = 1.0) -> None:
        """Stop serving, cancel running queries and close the database."""
        self._stop.set()
        self._server.stop(grace).wait()
        self.cluster.close()
        self.queries.close()
        self.engine.close()
        self.object_stores.close()
        self.datasets.close()
        log.info("e6driver engine on %s stopped", self.address)

    # ------------------------------------------------------------------ admin operations

    def switch_strategy(self, colour: str) -> bool:
        """Make ``colour`` (blue/green) active; False if it already was. ValueError for other colours."""
        return self.strategy.switch(colour)

    def suspend(self) -> str:
        """Suspend the cluster; returns its status (``suspended``)."""
        return self.cluster.suspend()

    def resume(self) -> str:
        """Resume a suspended cluster; returns its status (``resuming``, or ``active``)."""
        return self.cluster.resume()

    def expire_sessions(self) -> int:
        """Forget every session now; returns how many there were."""
        return self.sessions.expire_all()

    def wait(self) -> None:
        self._server.wait_for_termination()

    def __enter__(self) -> "EngineServer":
        if self.port is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop(0)
