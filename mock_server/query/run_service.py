"""QueryRunService (protos/e6driver_query.proto): prepare + execute + result metadata + the chunks already
encoded, in one call — what the driver otherwise spends four round trips on for a small query.

The query it starts is an ordinary query of the session (cancel, fetch and clear use the e6data calls), so the
rules of :class:`mock_server.query.service.QueryEngineServicer` apply unchanged: admission (suspension,
blue-green) runs before it in :class:`mock_server.control.admission.AdmissionInterceptor`. A statement that fails
before its metadata is known is removed here: the caller never learnt its id.
"""
from __future__ import annotations

from typing import Any

import grpc

from e6driver._proto import e6driver_query_pb2 as run_pb, e6driver_query_pb2_grpc
from mock_server import errors
from mock_server.query.service import V2_RESPONSE_BYTES, QueryEngineServicer

# A longer statement answers without its metadata after this long, so that the caller learns the query id
# (and can cancel it) early; it then waits in getResultMetadata as usual.
MAX_WAIT_SECONDS = 0.5


class QueryRunServicer(e6driver_query_pb2_grpc.QueryRunServiceServicer):
    def __init__(self, queries: QueryEngineServicer) -> None:
        self.service = queries

    @errors.rpc_method
    def Run(self, request: Any, context: grpc.ServicerContext) -> Any:
        query = self.service.prepare(request.session_id, request.query_string, request.catalog, request.schema,
                                     context)
        response = run_pb.RunResponse(query_id=query.id, engine_ip=self.service.engine_ip)
        try:
            with query.in_use():
                query.execute()
                wait = max(0.0, min(request.wait_ms / 1000.0, MAX_WAIT_SECONDS))
                if not query.wait_ready(wait):
                    return response
                response.result_metadata = query.metadata()
                response.ready = True
                if query.counted:
                    chunks, end = query.next_chunks(V2_RESPONSE_BYTES)
                    response.batches.extend(chunks)
                    response.end_of_stream = end
        except BaseException:
            self.service.queries.remove(query.id)
            raise
        return response
