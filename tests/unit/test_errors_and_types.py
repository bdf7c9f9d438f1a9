"""Exception hierarchy, gRPC status mapping, type objects, constructors and the metadata blob parser."""
from __future__ import annotations

import datetime
import pickle
import struct

import grpc
import pytest

import e6driver
from e6driver import errors
from e6driver.protocol.result_metadata import parse_result_metadata


def test_pep249_hierarchy():
    assert issubclass(e6driver.Error, Exception) and issubclass(e6driver.Warning, Exception)
    for name in ("DataError", "OperationalError", "IntegrityError", "InternalError", "ProgrammingError",
                 "NotSupportedError"):
        assert issubclass(getattr(e6driver, name), e6driver.DatabaseError)
    assert issubclass(e6driver.DatabaseError, e6driver.Error)
    assert issubclass(e6driver.InterfaceError, e6driver.Error)
    for name in ("AuthenticationError", "QueryCancelledError", "PoolTimeout"):
        assert issubclass(getattr(e6driver, name), e6driver.OperationalError)
    assert issubclass(e6driver.PoolClosed, e6driver.InterfaceError)


class FakeRpcError(grpc.RpcError):
    def __init__(self, code, details):
        self._code, self._details = code, details

    def code(self):
        return self._code

    def details(self):
        return self._details


@pytest.mark.parametrize("code, cls", [
    (grpc.StatusCode.INVALID_ARGUMENT, e6driver.ProgrammingError),
    (grpc.StatusCode.NOT_FOUND, e6driver.ProgrammingError),
    (grpc.StatusCode.FAILED_PRECONDITION, e6driver.IntegrityError),
    (grpc.StatusCode.OUT_OF_RANGE, e6driver.DataError),
    (grpc.StatusCode.CANCELLED, e6driver.QueryCancelledError),
    (grpc.StatusCode.UNAUTHENTICATED, e6driver.AuthenticationError),
    (grpc.StatusCode.UNIMPLEMENTED, e6driver.NotSupportedError),
    (grpc.StatusCode.INTERNAL, e6driver.InternalError),
    (grpc.StatusCode.UNAVAILABLE, e6driver.ConnectionLostError),
    (grpc.StatusCode.DEADLINE_EXCEEDED, e6driver.OperationalError),
])
def test_status_mapping(code, cls):
    error = errors.from_rpc_error(FakeRpcError(code, "engine says no"), "prepareStatement", "q1")
    assert type(error) is cls
    assert error.grpc_code == code.name and error.details == "engine says no" and error.query_id == "q1"
    assert "engine says no" in str(error) and "prepareStatement" in str(error) and "q1" in str(error)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is cls and copy.grpc_code == code.name and str(copy) == str(error)


def test_grpc_cores_message_size_refusal_names_the_engines_limit():
    text = "SERVER: Received message larger than max (1310781 vs. 1310720)"
    error = errors.from_rpc_error(FakeRpcError(grpc.StatusCode.RESOURCE_EXHAUSTED, text), "prepareStatement")
    assert type(error) is e6driver.OperationalError
    assert "message size limit" in str(error) and "--max-message-bytes" in str(error) and text in str(error)
    assert error.details == text
    other = errors.from_rpc_error(FakeRpcError(grpc.StatusCode.RESOURCE_EXHAUSTED, "over max_open_queries"), "x")
    assert "--max-message-bytes" not in str(other)


@pytest.mark.parametrize("name, obj", [
    ("STRING", e6driver.STRING), ("ARRAY", e6driver.STRING), ("BINARY", e6driver.BINARY),
    ("LONG", e6driver.NUMBER), ("INTEGER", e6driver.NUMBER), ("DECIMAL128", e6driver.NUMBER),
    ("DOUBLE", e6driver.NUMBER), ("DATE", e6driver.DATETIME), ("DATETIME", e6driver.DATETIME),
    ("TIMESTAMP_TZ", e6driver.DATETIME), ("TIME", e6driver.DATETIME), ("datetime", e6driver.DATETIME),
])
def test_type_objects_compare_equal_to_names(name, obj):
    assert name == obj and obj == name
    others = {e6driver.STRING, e6driver.BINARY, e6driver.NUMBER, e6driver.DATETIME, e6driver.ROWID} - {obj}
    assert all(name != other for other in others)


def test_constructors():
    assert e6driver.Date(2024, 2, 29) == datetime.date(2024, 2, 29)
    assert e6driver.Time(1, 2, 3) == datetime.time(1, 2, 3)
    assert e6driver.Timestamp(2024, 1, 2, 3, 4, 5) == datetime.datetime(2024, 1, 2, 3, 4, 5)
    assert e6driver.DateFromTicks(0) == datetime.date.fromtimestamp(0)
    assert e6driver.TimestampFromTicks(86400.5) == datetime.datetime.fromtimestamp(86400.5)
    assert e6driver.TimeFromTicks(3600) == datetime.datetime.fromtimestamp(3600).time()
    assert e6driver.Binary("é") == "é".encode() and e6driver.Binary(bytearray(b"a")) == b"a"


def _utf(text: bytes) -> bytes:
    return struct.pack(">H", len(text)) + text


def test_metadata_blob_spec_example():
    blob = bytes.fromhex("0000000000000005 00000001 000178 00044C4F4E47 0000 0000".replace(" ", ""))
    meta = parse_result_metadata(blob)
    assert meta.row_count == 5 and [tuple(c) for c in meta.columns] == [("x", "LONG", "", "")]


@pytest.mark.parametrize("blob", [
    b"", b"\x00" * 11, struct.pack(">qi", 1, 1), struct.pack(">qi", 1, 1) + _utf(b"x") + b"\x00\x05ab",
    struct.pack(">qi", 1, -1), struct.pack(">qi", 1, 2**30),
    struct.pack(">qi", 1, 1) + _utf(b"\xff") + _utf(b"LONG") + _utf(b"") + _utf(b""),
])
def test_bad_metadata_blobs_are_data_errors(blob):
    with pytest.raises(e6driver.DataError):
        parse_result_metadata(blob)
