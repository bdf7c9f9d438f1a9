"""Result responses written as protobuf wire bytes by hand.

Megabytes of chunk bytes are copied once, into the response, instead of into a protobuf object and again out
of it: profiled on the 2-core machine, serialising the 4 MiB answers of a 1M-row fetch held the GIL longer
than encoding their chunks. Field numbers are the .proto's; tests/unit/test_wire_bytes.py parses what these
write with the generated classes.
"""
from __future__ import annotations

from typing import Any, Callable, List, Union

import grpc

Piece = Union[bytes, bytearray, memoryview, Any]  # anything with the buffer protocol (pyarrow.Buffer too)

_LENGTH_DELIMITED, _VARINT = 2, 0


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def bytes_field(number: int, payload: Piece) -> List[Piece]:
    """The pieces of one ``bytes``/``string`` field (an empty proto3 value is left out, as protobuf does)."""
    size = memoryview(payload).nbytes
    if not size:
        return []
    return [_varint(number << 3 | _LENGTH_DELIMITED), _varint(size), payload]


def repeated_bytes_field(number: int, payloads: List[Piece]) -> List[Piece]:
    """Every element is written, empty ones too (a repeated field keeps them)."""
    out: List[Piece] = []
    key = _varint(number << 3 | _LENGTH_DELIMITED)
    for payload in payloads:
        out += [key, _varint(memoryview(payload).nbytes), payload]
    return out


def bool_field(number: int, value: bool) -> List[Piece]:
    return [_varint(number << 3 | _VARINT), b"\x01"] if value else []


def message(pieces: List[Piece]) -> bytes:
    return b"".join(pieces)


def passthrough(serialize: Callable[[Any], bytes]) -> Callable[[Any], bytes]:
    """A response serializer that sends prepared wire bytes as they are and serialises messages."""
    def serializer(response: Any) -> bytes:
        return response if isinstance(response, bytes) else serialize(response)
    return serializer


def unary_handler(behavior: Callable, request_type: Any, response_type: Any) -> grpc.RpcMethodHandler:
    """A unary method handler whose behaviour may answer with prepared wire bytes."""
    return grpc.unary_unary_rpc_method_handler(
        behavior, request_deserializer=request_type.FromString,
        response_serializer=passthrough(response_type.SerializeToString))
