"""The QueryEngineService servicer (protos/e6x_engine.proto): sessions, the query life cycle, dry runs and
catalog browsing, on top of :class:`mock_server.query.engine.Engine` and its query registry."""
from __future__ import annotations

import json
from typing import Any

import grpc

from e6driver._proto import e6x_engine_pb2 as pb, e6x_engine_pb2_grpc
from mock_server import errors
from mock_server.control.bluegreen import BlueGreenState, requested_colour
from mock_server.query.engine import Engine
from mock_server.query import wire_bytes
from mock_server.query.queries import Query, QueryRegistry, explain_analyze_json
from mock_server.sessions import SessionStore, bearer_token

V2_RESPONSE_BYTES = 4 * 1024 * 1024


_rpc = errors.rpc_method


def add_to_server(servicer: "QueryEngineServicer", server: grpc.Server) -> None:
    """Serve QueryEngineService; getNextResultBatchV2 answers with wire bytes written by hand."""
    wire_bytes.add_service(e6x_engine_pb2_grpc.add_QueryEngineServiceServicer_to_server, servicer, server,
                           {"getNextResultBatchV2"})


class QueryEngineServicer(e6x_engine_pb2_grpc.QueryEngineServiceServicer):
    """The e6data query service on top of :class:`Engine`.

    Routing headers ``plannerip`` and ``cluster-name`` are accepted and ignored. Cluster suspension and
    blue-green admission (``strategy`` header) are applied before these methods run, by
    :class:`mock_server.control.admission.AdmissionInterceptor`; here a query only records its colour.
    """

    def __init__(self, engine: Engine, sessions: SessionStore, queries: QueryRegistry,
                 engine_ip: str, strategy: BlueGreenState) -> None:
        self.engine = engine
        self.sessions = sessions
        self.queries = queries
        self.engine_ip = engine_ip
        self.strategy = strategy
        # A session's DuckDB connection ends with it: expiry, and a blue-green switch for sessions of the retired
        # colour holding a transaction (mock_server.query.session_db); the engine's stop ends the rest.
        sessions.on_end(engine.end_sessions)
        strategy.on_switch(engine.sessions.end_retired)

    # ------------------------------------------------------------------ helpers

    def _caller(self, session_id: str, context: grpc.ServicerContext) -> str:
        """User of the request: its live session, or a bearer token when the session id is empty."""
        self.engine.sessions.check_not_lost(session_id)  # once: its transaction was rolled back
        if session_id:
            return self.sessions.resolve(session_id)
        token = bearer_token(context.invocation_metadata())
        if token is not None:
            return self.sessions.user_for_token(token)
        raise errors.session_denied()

    def _query(self, request: Any, context: grpc.ServicerContext) -> Query:
        return self.find_query(request.sessionId, request.queryId, context)

    def find_query(self, session_id: str, query_id: str, context: grpc.ServicerContext) -> Query:
        """The query, if the caller may use it (any live session of the owner; also QueryRunService's)."""
        query = self.queries.find(query_id)
        if query is None:
            raise errors.query_not_found(query_id)
        user = self.sessions.lookup(session_id)
        if user is None and session_id and session_id == query.session_id:
            user = query.user  # a live query keeps its own session usable
        if user is None:
            user = self._caller(session_id, context)
        if user != query.user:
            raise errors.query_not_found(query_id)
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

    def prepare(self, session_id: str, sql: str, catalog: str, schema: str,
                context: grpc.ServicerContext) -> Query:
        """A new query of the caller's session (also QueryRunService's first step)."""
        user = self._caller(session_id, context)
        colour = self.strategy.colour_for(requested_colour(context.invocation_metadata()))
        return self.queries.create(user, session_id, sql, catalog, schema, strategy=colour)

    def _prepare(self, request: Any, catalog: str, context: grpc.ServicerContext) -> Any:
        query = self.prepare(request.sessionId, request.queryString, catalog, request.schema, context)
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
        # written by hand: serialising megabytes of chunks through protobuf costs more than encoding them
        return wire_bytes.Prepared(wire_bytes.repeated_bytes_field(1, chunks)
                                   + wire_bytes.string_field(2, request.sessionId)
                                   + wire_bytes.bool_field(4, end), strategy_field=3)

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
            plan = self.engine.explain_statement(query.statement)
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
        return pb.GetSchemaNamesResponse(schemas=self.engine.schemas(request.catalog, user, request.sessionId),
                                         sessionId=request.sessionId)

    @_rpc
    def getSchemaNames(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._caller(request.sessionId, context)
        return pb.GetSchemaNamesResponse(schemas=self.engine.schemas(), sessionId=request.sessionId)

    @_rpc
    def getTablesV2(self, request: Any, context: grpc.ServicerContext) -> Any:
        user = self._caller(request.sessionId, context)
        return pb.GetTablesResponse(tables=self.engine.tables(request.catalog, request.schema, user,
                                                              request.sessionId),
                                    sessionId=request.sessionId)

    @_rpc
    def getTables(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._caller(request.sessionId, context)
        return pb.GetTablesResponse(tables=self.engine.tables("", request.schema), sessionId=request.sessionId)

    def _columns(self, request: Any, catalog: str, context: grpc.ServicerContext) -> Any:
        user = self._caller(request.sessionId, context)
        fields = [pb.GFieldInfo(fieldName=name, fieldType=type_name)
                  for name, type_name in self.engine.columns(catalog, request.schema, request.table, user,
                                                             request.sessionId)]
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
