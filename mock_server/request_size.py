"""The message-size limit (``--max-message-bytes``) at the server's edge, answered with a message naming it.

gRPC core refuses a request over its ``grpc.max_receive_message_length`` with its own text ("Received message
larger than max") before any Python code runs. So the server sets that cap :data:`CORE_SLACK` bytes above the
limit, and :class:`RequestSizeInterceptor` checks every request message (of unary and streaming calls) against
the limit itself: its deserializer sees the raw bytes first, so an oversized message is never decoded, and the
call ends with RESOURCE_EXHAUSTED naming ``max_message_bytes`` and its flag — before authentication, like
gRPC's own check. Beyond limit + slack gRPC core still answers with its text; the driver names the limit for
those (``e6driver.errors``).
"""
from __future__ import annotations

from typing import Any, Callable, Iterator, Optional

import grpc

from mock_server.errors import EngineError
from mock_server.limits import Limits, exceeded

CORE_SLACK = 1024 * 1024  # gRPC core's own cap: the limit plus this


def core_receive_limit(limits: Limits) -> int:
    """``grpc.max_receive_message_length`` of the server."""
    return limits.max_message_bytes + CORE_SLACK


class _Oversized:
    """What the checking deserializer returns for a message over the limit (it is never decoded)."""

    def __init__(self, size: int) -> None:
        self.size = size


class RequestSizeInterceptor(grpc.ServerInterceptor):
    def __init__(self, limits: Limits) -> None:
        self.limits = limits

    def _refusal(self, size: int) -> EngineError:
        return exceeded(self.limits, "max_message_bytes", f"a request message of {size} bytes")

    def _deserializer(self, inner: Optional[Callable[[bytes], Any]]) -> Callable[[bytes], Any]:
        def deserialize(data: bytes) -> Any:
            if len(data) > self.limits.max_message_bytes:
                return _Oversized(len(data))
            return inner(data) if inner is not None else data
        return deserialize

    def _unary(self, behavior: Callable) -> Callable:
        def checked(request: Any, context: grpc.ServicerContext) -> Any:
            if isinstance(request, _Oversized):
                failure = self._refusal(request.size)
                context.abort(failure.code, failure.message)
            return behavior(request, context)
        return checked

    def _streaming(self, behavior: Callable) -> Callable:
        def checked(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
            return behavior(self._checked_iterator(requests), context)
        return checked

    def _checked_iterator(self, requests: Iterator[Any]) -> Iterator[Any]:
        for request in requests:
            if isinstance(request, _Oversized):
                raise self._refusal(request.size)  # the servicer's error decorator answers it
            yield request

    def intercept_service(self, continuation: Callable, details: grpc.HandlerCallDetails) -> Any:
        handler = continuation(details)
        if handler is None:
            return handler
        deserializer = self._deserializer(handler.request_deserializer)
        options = {"request_deserializer": deserializer, "response_serializer": handler.response_serializer}
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(self._unary(handler.unary_unary), **options)
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(self._unary(handler.unary_stream), **options)
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(self._streaming(handler.stream_unary), **options)
        return grpc.stream_stream_rpc_method_handler(self._streaming(handler.stream_stream), **options)
