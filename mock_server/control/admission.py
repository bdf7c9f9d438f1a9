"""Admission of QueryEngineService calls, before any servicer code runs.

One server interceptor applies, in this order, to every ``/QueryEngineService/*`` call (and to QueryRunService,
the local engine's one-round-trip query, which is new work like prepareStatement):

1. cluster availability — ``UNAVAILABLE`` / ``status: 503, cluster is suspended`` unless active (spec §9);
2. blue-green — ``UNKNOWN`` / ``status: 456`` for new work on a colour that is not active (spec §8.4);
3. on the way out, ``new_strategy=<active>`` in the response when the request carried a stale colour.

ClusterService and the admin service are not gated: they must work while the cluster is suspended.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

import grpc

from mock_server import errors
from mock_server.control.cluster import ClusterState
from mock_server.control.bluegreen import BlueGreenState, announce, requested_colour

QUERY_SERVICE_PREFIXES = ("/QueryEngineService/", "/e6driver.query.QueryRunService/")


class AdmissionInterceptor(grpc.ServerInterceptor):
    def __init__(self, cluster: ClusterState, strategy: BlueGreenState) -> None:
        self.cluster = cluster
        self.strategy = strategy

    def intercept_service(self, continuation: Callable, details: grpc.HandlerCallDetails) -> Any:
        handler = continuation(details)
        if (handler is None or handler.unary_unary is None
                or not details.method.startswith(QUERY_SERVICE_PREFIXES)):
            return handler
        method = details.method.rsplit("/", 1)[1]
        requested = requested_colour(details.invocation_metadata)
        inner = handler.unary_unary

        def admitted(request: Any, context: grpc.ServicerContext) -> Any:
            self._admit(method, requested, context)
            response = inner(request, context)
            return announce(response, self.strategy.announcement(requested))

        return grpc.unary_unary_rpc_method_handler(
            admitted, request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer)

    def _admit(self, method: str, requested: Optional[str], context: grpc.ServicerContext) -> None:
        try:
            self.cluster.check_available()
            self.strategy.admit(method, requested)
        except errors.EngineError as exc:
            context.abort(exc.code, exc.message)
