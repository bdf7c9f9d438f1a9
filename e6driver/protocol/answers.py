"""The large answers — ``getNextResultBatchV2``'s chunks and ``QueryRunService.FetchArrow``'s Arrow stream — read
without copying their payloads out of the received bytes.

gRPC hands the deserializer one ``bytes`` object; protobuf would copy each chunk out of it again (~50–100 ms per
million rows of an 8-column result, measured). Here the deserializer keeps the bytes (:class:`BatchAnswer`,
:class:`ArrowAnswer`) and the fields are read when first asked for, as memoryviews of them: the C decoder and
Arrow read those in place. Reading in the caller's thread also means a malformed answer raises ``DataError``
there, instead of gRPC's generic "exception deserializing response". Field numbers are the .proto's
(tests/unit/test_arrow_wire.py holds the readers to the generated classes).
"""
from __future__ import annotations

from typing import Any, Iterator, List, Optional, Tuple, Union

from .._proto import e6driver_query_pb2 as run_pb, e6x_engine_pb2 as pb
from ..errors import DataError

GET_NEXT_RESULT_BATCH_V2 = "/QueryEngineService/getNextResultBatchV2"
FETCH_ARROW = "/e6driver.query.QueryRunService/FetchArrow"

Value = Union[int, memoryview]


def _varint(view: memoryview, pos: int, what: str) -> Tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(view) or shift > 63:
            raise DataError(f"malformed {what} answer: truncated or overlong varint")
        byte = view[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def read_fields(data: bytes, what: str) -> Iterator[Tuple[int, Value]]:
    """(field number, value) of every varint and length-delimited field, in order; fixed-width fields are skipped
    (none of these answers has one), as unknown fields are by protobuf."""
    view = memoryview(data)
    pos = 0
    while pos < len(view):
        key, pos = _varint(view, pos, what)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, pos = _varint(view, pos, what)
            yield number, value
        elif wire_type == 2:
            size, pos = _varint(view, pos, what)
            if size > len(view) - pos:
                raise DataError(f"malformed {what} answer: a field overruns the answer")
            yield number, view[pos:pos + size]
            pos += size
        elif wire_type in (1, 5):
            pos += 8 if wire_type == 1 else 4
            if pos > len(view):
                raise DataError(f"malformed {what} answer: a field overruns the answer")
        else:
            raise DataError(f"malformed {what} answer: wire type {wire_type}")


def _text(value: Value, what: str) -> str:
    if isinstance(value, int):
        raise DataError(f"malformed {what} answer: a text field holds a number")
    try:
        return str(value, "utf-8")
    except UnicodeDecodeError:
        raise DataError(f"malformed {what} answer: text that is not UTF-8") from None


def _bytes(value: Value, what: str) -> memoryview:
    if isinstance(value, int):
        raise DataError(f"malformed {what} answer: a bytes field holds a number")
    return value


class BatchAnswer:
    """A GetNextResultBatchV2Response as received: ``resultBatches`` are views of its bytes."""

    __slots__ = ("data", "_read")
    WHAT = "getNextResultBatchV2"

    def __init__(self, data: bytes) -> None:
        self.data = data
        self._read: Optional[Tuple[List[memoryview], bool, str]] = None

    def _fields(self) -> Tuple[List[memoryview], bool, str]:
        if self._read is None:
            chunks: List[memoryview] = []
            end, strategy = False, ""
            for number, value in read_fields(self.data, self.WHAT):
                if number == 1:
                    chunks.append(_bytes(value, self.WHAT))
                elif number == 3:
                    strategy = _text(value, self.WHAT)
                elif number == 4:
                    end = bool(value)
            self._read = (chunks, end, strategy)
        return self._read

    @property
    def resultBatches(self) -> List[memoryview]:  # noqa: N802 - the generated message's name
        return self._fields()[0]

    @property
    def endOfStream(self) -> bool:  # noqa: N802
        return self._fields()[1]

    @property
    def new_strategy(self) -> Optional[str]:
        """The blue-green announcement (spec section 8.3), as the session reads it from every response."""
        return self._fields()[2] or None


class ArrowAnswer:
    """A FetchArrowResponse as received: the Arrow stream (or the Thrift chunks) as views of its bytes."""

    __slots__ = ("data", "_read")
    WHAT = "FetchArrow"

    def __init__(self, data: bytes) -> None:
        self.data = data
        self._read: Optional[Tuple[Optional[memoryview], List[memoryview], bool, str]] = None

    def fields(self) -> Tuple[Optional[memoryview], List[memoryview], bool, str]:
        """(Arrow IPC stream or None, Thrift chunks, end of stream, new_strategy)."""
        if self._read is None:
            ipc: Optional[memoryview] = None
            chunks: List[memoryview] = []
            end, strategy = False, ""
            for number, value in read_fields(self.data, self.WHAT):
                if number == 1:
                    ipc = _bytes(value, self.WHAT)
                elif number == 2:
                    chunks.append(_bytes(value, self.WHAT))
                elif number == 3:
                    end = bool(value)
                elif number == 4:
                    strategy = _text(value, self.WHAT)
            self._read = (ipc, chunks, end, strategy)
        return self._read

    @property
    def new_strategy(self) -> Optional[str]:
        return self.fields()[3] or None


def arrow_request(session_id: str, query_id: str) -> Any:
    return run_pb.FetchArrowRequest(session_id=session_id, query_id=query_id)


def engine_stub(stub: Any, channel: Any) -> Any:
    """The QueryEngineService stub (blocking or asyncio) with getNextResultBatchV2 keeping its answer's bytes."""
    stub.getNextResultBatchV2 = channel.unary_unary(
        GET_NEXT_RESULT_BATCH_V2, request_serializer=pb.GetNextResultBatchRequest.SerializeToString,
        response_deserializer=BatchAnswer, _registered_method=True)
    return stub


def run_stub(stub: Any, channel: Any) -> Any:
    """The QueryRunService stub (blocking or asyncio) with FetchArrow keeping its answer's bytes."""
    stub.FetchArrow = channel.unary_unary(FETCH_ARROW, request_serializer=run_pb.FetchArrowRequest.SerializeToString,
                                          response_deserializer=ArrowAnswer, _registered_method=True)
    return stub
