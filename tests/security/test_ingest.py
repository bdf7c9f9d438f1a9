"""The bulk-insert RPC (IngestService.Append) attacked by an ordinary user: it writes base tables of catalog
local only, names are never SQL or paths, payloads are bounded, and a rejected call appends nothing."""
from __future__ import annotations

import grpc
import pyarrow as pa
import pytest

import e6driver
from e6driver._proto import e6driver_ingest_pb2 as ingest_pb, e6driver_ingest_pb2_grpc
from mock_server.limits import Limits

from accounts import USERS


def _ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


ROWS = pa.table({"id": [1, 2]})


def _setup(srv, user="alice"):
    conn = e6driver.connect(host="127.0.0.1", port=srv.port, username=user, password=USERS[user])
    cur = conn.cursor()
    cur.execute("CREATE OR REPLACE TABLE victim (id INTEGER)")
    cur.execute("CREATE OR REPLACE VIEW victim_view AS SELECT * FROM victim")
    return conn, cur


def _append(srv, session_id, table, payloads=(_ipc(ROWS),), **fields):
    with grpc.insecure_channel(srv.address) as channel:
        stub = e6driver_ingest_pb2_grpc.IngestServiceStub(channel)
        first = ingest_pb.AppendRequest(session_id=session_id, table=table, arrow_ipc=payloads[0], **fields)
        rest = [ingest_pb.AppendRequest(arrow_ipc=p) for p in payloads[1:]]
        return stub.Append(iter([first] + rest), timeout=30)


@pytest.mark.parametrize("table, fields, code", [
    (["objects", "main", "victim"], {}, grpc.StatusCode.PERMISSION_DENIED),
    (["victim"], {"catalog": "datasets"}, grpc.StatusCode.PERMISSION_DENIED),
    (["system", "main", "victim"], {}, grpc.StatusCode.PERMISSION_DENIED),
    (["temp", "main", "victim"], {}, grpc.StatusCode.PERMISSION_DENIED),
    (["../../etc/passwd"], {}, grpc.StatusCode.NOT_FOUND),
    (["victim; DROP TABLE victim"], {}, grpc.StatusCode.NOT_FOUND),
    (["read_csv('/etc/passwd')"], {}, grpc.StatusCode.NOT_FOUND),
    (["victim_view"], {}, grpc.StatusCode.NOT_FOUND),  # a view is no base table
    (["vic\x00tim"], {}, grpc.StatusCode.INVALID_ARGUMENT),
    (["a", "b", "c", "victim"], {}, grpc.StatusCode.INVALID_ARGUMENT),
    (["victim"], {"columns": ['id" INTEGER); DROP TABLE victim; --']}, grpc.StatusCode.INVALID_ARGUMENT),
])
def test_targets_outside_local_base_tables_are_refused(engine, still_serves, table, fields, code):
    srv = engine()
    conn, cur = _setup(srv)
    with pytest.raises(grpc.RpcError) as raised:
        _append(srv, conn.session.session_id(), table, **fields)
    assert raised.value.code() == code, raised.value.details()
    cur.execute("SELECT count(*) FROM victim")
    assert cur.fetchall() == [(0,)]
    still_serves(srv)


def test_no_session_no_append(engine):
    srv = engine()
    _setup(srv)
    with pytest.raises(grpc.RpcError) as raised:
        _append(srv, "not-a-session", ["victim"])
    assert raised.value.code() in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNAUTHENTICATED)


def test_oversized_payloads_are_refused_and_append_nothing(engine, still_serves):
    srv = engine(limits=Limits(max_upload_bytes=64 * 1024))
    conn, cur = _setup(srv)
    big = _ipc(pa.table({"id": list(range(5000))}))  # ~20 KB each
    with pytest.raises(grpc.RpcError) as raised:
        _append(srv, conn.session.session_id(), ["victim"], payloads=(big,) * 5)
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "max_upload_bytes" in raised.value.details()
    cur.execute("SELECT count(*) FROM victim")
    assert cur.fetchall() == [(0,)]
    # through the driver: the same limit, named in the error
    with pytest.raises(e6driver.OperationalError, match="max_upload_bytes"):
        cur.executemany("INSERT INTO victim VALUES (%s)", [(i,) for i in range(50_000)])
    still_serves(srv)


def test_forged_arrow_buffers_are_refused(engine, still_serves):
    srv = engine()
    conn, cur = _setup(srv)
    payload = bytearray(_ipc(pa.table({"id": pa.array(["a", "bb"])})))
    payload[-40:-32] = b"\xff" * 8  # corrupt the offsets / body
    with pytest.raises(grpc.RpcError) as raised:
        _append(srv, conn.session.session_id(), ["victim"], payloads=(bytes(payload),))
    assert raised.value.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.OUT_OF_RANGE)
    still_serves(srv)
