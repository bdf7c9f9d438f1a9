"""QueryRunService (protos/e6driver_query.proto): prepare + execute + result metadata + the chunks already
encoded, in one call — what the driver otherwise spends four round trips on for a small query; and FetchArrow,
the next part of a result as an Arrow IPC stream for a columnar reader (:mod:`mock_server.query.arrow_results`).

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
from mock_server.query import wire_bytes
from mock_server.query.arrow_results import ipc_stream
from mock_server.query.service import V2_RESPONSE_BYTES, QueryEngineServicer

# A longer statement answers without its metadata after this long, so that the caller learns the query id
# (and can cancel it) early; it then waits in getResultMetadata as usual.
MAX_WAIT_SECONDS = 0.5

# An Arrow answer may be larger than a Thrift one: fewer round trips for a columnar reader, which takes a whole
# answer at once anyway.
ARROW_RESPONSE_BYTES = 16 * 1024 * 1024

# FetchArrowResponse fields
_IPC_STREAM, _BATCHES, _END_OF_STREAM, _NEW_STRATEGY = 1, 2, 3, 4


class QueryRunServicer:
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

    @errors.rpc_method
    def FetchArrow(self, request: Any, context: grpc.ServicerContext) -> Any:
        query = self.service.find_query(request.session_id, request.query_id, context)
        with query.in_use():
            chunks, arrow, schema, end = query.next_arrow(ARROW_RESPONSE_BYTES)
        pieces = wire_bytes.repeated_bytes_field(_BATCHES, chunks)  # the reader takes these rows first
        if arrow:
            assert schema is not None
            pieces += wire_bytes.bytes_field_of(_IPC_STREAM, ipc_stream(arrow, schema))
        return wire_bytes.Prepared(pieces + wire_bytes.bool_field(_END_OF_STREAM, end), _NEW_STRATEGY)


def add_to_server(servicer: QueryRunServicer, server: grpc.Server) -> None:
    """Serve QueryRunService; FetchArrow answers with wire bytes written by hand (:mod:`wire_bytes`)."""
    wire_bytes.add_service(e6driver_query_pb2_grpc.add_QueryRunServiceServicer_to_server, servicer, server,
                           {"FetchArrow"})
