"""QueryRunService.FetchArrow on the driver's side (protos/e6driver_query.proto): the answer's wire bytes are read
without copying the Arrow stream out of them; ``columnar.ipc_batches`` turns the stream into checked batches.

The gRPC stub's deserializer only keeps the bytes (:class:`RawAnswer`): reading them happens in the fetch plan,
so a malformed answer raises ``DataError`` there instead of gRPC's generic "exception deserializing response".
"""
from __future__ import annotations

from typing import Any, List, NamedTuple, Optional, Tuple

from .._proto import e6driver_query_pb2 as run_pb
from ..errors import DataError

FETCH_ARROW = "/e6driver.query.QueryRunService/FetchArrow"

# FetchArrowResponse fields
_IPC_STREAM, _BATCHES, _END_OF_STREAM, _NEW_STRATEGY = 1, 2, 3, 4


class Answer(NamedTuple):
    ipc: Optional[memoryview]  # a view of the received bytes
    chunks: List[bytes]
    end: bool
    new_strategy: str


class RawAnswer:
    """A FetchArrowResponse as received; its fields are read once, when first asked for."""

    __slots__ = ("data", "_fields")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self._fields: Optional[Answer] = None

    def fields(self) -> Answer:
        if self._fields is None:
            self._fields = _read(self.data)
        return self._fields

    @property
    def new_strategy(self) -> Optional[str]:
        """The blue-green announcement (spec section 8.3), as the session reads it from every response."""
        return self.fields().new_strategy or None


def bound(stub: Any, channel: Any) -> Any:
    """``stub`` (QueryRunService's, blocking or asyncio) with the FetchArrow method that keeps the answer's bytes
    as they are."""
    stub.FetchArrow = channel.unary_unary(FETCH_ARROW, request_serializer=run_pb.FetchArrowRequest.SerializeToString,
                                          response_deserializer=RawAnswer)
    return stub


def request(session_id: str, query_id: str) -> Any:
    return run_pb.FetchArrowRequest(session_id=session_id, query_id=query_id)


def _varint(view: memoryview, pos: int) -> Tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(view) or shift > 63:
            raise DataError("malformed FetchArrow answer: truncated or overlong varint")
        byte = view[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def read_answer(answer: RawAnswer) -> Tuple[Optional[memoryview], List[bytes], bool]:
    """(Arrow IPC stream or None, Thrift chunks, end of stream) of an answer."""
    ipc, chunks, end, _ = answer.fields()
    return ipc, chunks, end


def _read(data: bytes) -> Answer:
    """The fields of an answer; unknown ones are skipped, as protobuf does."""
    view = memoryview(data)
    ipc: Optional[memoryview] = None
    chunks: List[bytes] = []
    end = False
    new_strategy = ""
    pos = 0
    while pos < len(view):
        key, pos = _varint(view, pos)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, pos = _varint(view, pos)
            if number == _END_OF_STREAM:
                end = bool(value)
        elif wire_type == 2:
            size, pos = _varint(view, pos)
            if size > len(view) - pos:
                raise DataError("malformed FetchArrow answer: a field overruns the answer")
            field = view[pos:pos + size]
            pos += size
            if number == _IPC_STREAM:
                ipc = field
            elif number == _BATCHES:
                chunks.append(field.tobytes())
            elif number == _NEW_STRATEGY:
                try:
                    new_strategy = str(field, "utf-8")
                except UnicodeDecodeError:
                    raise DataError("malformed FetchArrow answer: new_strategy is not UTF-8") from None
        elif wire_type in (1, 5):
            pos += 8 if wire_type == 1 else 4
            if pos > len(view):
                raise DataError("malformed FetchArrow answer: a field overruns the answer")
        else:
            raise DataError(f"malformed FetchArrow answer: wire type {wire_type}")
    return Answer(ipc, chunks, end, new_strategy)
