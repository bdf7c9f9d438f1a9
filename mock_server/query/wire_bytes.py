"""Result responses written as protobuf wire bytes by hand.

Megabytes of chunk bytes are copied once, into the response, instead of into a protobuf object and again out
of it: profiled on the 2-core machine, serialising the 4 MiB answers of a 1M-row fetch held the GIL longer
than encoding their chunks. Field numbers are the .proto's; tests/unit/test_arrow_wire.py parses what these
write with the generated classes.
"""
from __future__ import annotations

from typing import Any, Callable, List, Set, Union

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
    """The pieces of one ``bytes`` field (an empty proto3 value is left out, as protobuf does)."""
    return bytes_field_of(number, [payload])


def bytes_field_of(number: int, parts: List[Piece]) -> List[Piece]:
    """One ``bytes`` field whose value is ``parts`` laid end to end (never joined before the message is); empty:
    left out."""
    size = sum(memoryview(part).nbytes for part in parts)
    if not size:
        return []
    return [_varint(number << 3 | _LENGTH_DELIMITED), _varint(size), *parts]


def string_field(number: int, text: str) -> List[Piece]:
    return bytes_field(number, text.encode("utf-8"))


def repeated_bytes_field(number: int, payloads: List[Piece]) -> List[Piece]:
    """Every element is written, empty ones too (a repeated field keeps them)."""
    out: List[Piece] = []
    key = _varint(number << 3 | _LENGTH_DELIMITED)
    for payload in payloads:
        out += [key, _varint(memoryview(payload).nbytes), payload]
    return out


def bool_field(number: int, value: bool) -> List[Piece]:
    return [_varint(number << 3 | _VARINT), b"\x01"] if value else []


class Prepared:
    """A response already written as wire bytes. ``strategy_field`` is its message's ``new_strategy`` number:
    the blue-green announcement is appended (protobuf keeps the last value of a field that appears twice)."""

    __slots__ = ("data", "strategy_field")

    def __init__(self, pieces: List[Piece], strategy_field: int) -> None:
        self.data = b"".join(pieces)
        self.strategy_field = strategy_field

    def with_new_strategy(self, colour: str) -> "Prepared":
        return Prepared([self.data] + string_field(self.strategy_field, colour), self.strategy_field)


def _passthrough(serialize: Callable[[Any], bytes]) -> Callable[[Any], bytes]:
    def serializer(response: Any) -> bytes:
        return response.data if isinstance(response, Prepared) else serialize(response)
    return serializer


class _Handlers:
    """Stands in for a server to catch the method handlers a generated ``add_*_to_server`` registers."""

    def __init__(self) -> None:
        self.service = ""
        self.handlers: dict = {}

    def add_generic_rpc_handlers(self, handlers: Any) -> None:
        pass

    def add_registered_method_handlers(self, service: str, handlers: dict) -> None:
        self.service, self.handlers = service, handlers


def add_service(add_to_server: Callable[[Any, Any], None], servicer: Any, server: grpc.Server,
                prepared: Set[str]) -> None:
    """Register ``servicer`` as the generated ``add_to_server`` would, the ``prepared`` methods being allowed to
    answer with :class:`Prepared` wire bytes."""
    caught = _Handlers()
    add_to_server(servicer, caught)
    handlers = {name: handler._replace(response_serializer=_passthrough(handler.response_serializer))
                if name in prepared else handler for name, handler in caught.handlers.items()}
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(caught.service, handlers),))
    server.add_registered_method_handlers(caught.service, handlers)
