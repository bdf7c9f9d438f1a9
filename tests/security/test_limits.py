"""Every resource limit, hit as an ordinary user would hit it: refused with RESOURCE_EXHAUSTED naming the
limit, nothing half stored, and the engine still serving the other users."""
from __future__ import annotations

import gzip
import json
import os
import threading

import grpc
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from e6driver._proto import e6x_engine_pb2 as pb
from e6driver._proto import e6x_engine_pb2_grpc
from e6driver.errors import OperationalError
from mock_server.limits import Limits

from accounts import USERS

SMALL = Limits(max_message_bytes=256 * 1024, max_statement_bytes=4096, max_open_queries_per_user=3,
               max_open_queries=5, max_long_polls_per_user=1, max_long_polls=2, max_object_bytes=64 * 1024,
               max_upload_bytes=64 * 1024, max_expanded_bytes=1024 * 1024)


@pytest.fixture
def small(engine):
    return engine(limits=SMALL, query_ttl=60)


def _stub(server):
    channel = grpc.insecure_channel(server.address)
    return channel, e6x_engine_pb2_grpc.QueryEngineServiceStub(channel)


def test_oversized_requests_are_refused_before_authentication(small, still_serves):
    channel, stub = _stub(small)
    with channel:
        for request, call in ((pb.AuthenticateRequest(user="x" * (300 * 1024), password="p"), stub.authenticate),
                              (pb.PrepareStatementRequest(sessionId="none", queryString="x" * (300 * 1024)),
                               stub.prepareStatement)):
            with pytest.raises(grpc.RpcError) as info:
                call(request, timeout=30)
            assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "--max-message-bytes" in info.value.details()
    still_serves(small)


def test_statement_size(small, still_serves):
    import e6driver

    with e6driver.connect(host="127.0.0.1", port=small.port, username="alice", password=USERS["alice"]) as conn:
        cur = conn.cursor()
        with pytest.raises(OperationalError, match="max_statement_bytes"):
            cur.execute("SELECT '" + "x" * 5000 + "'")
    still_serves(small)


def test_statement_size_counts_utf8_bytes(small, still_serves):
    """1,509 characters, 6,009 bytes: refused by its bytes, and the message counts bytes; 3,999 ASCII bytes pass."""
    import e6driver

    with e6driver.connect(host="127.0.0.1", port=small.port, username="alice", password=USERS["alice"]) as conn:
        cur = conn.cursor()
        with pytest.raises(OperationalError) as raised:
            cur.execute("SELECT '" + "\U0001F600" * 1500 + "'")
        assert "SQL statement of 6009 bytes (UTF-8): over the limit max_statement_bytes=4096" in str(raised.value)
        assert "RESOURCE_EXHAUSTED" in str(raised.value)
        cur.execute("SELECT '" + "x" * 3980 + "' AS fits")  # not refused (no rows decoded here)
        assert cur.description[0][0] == "fits"
    still_serves(small)


def test_open_queries_per_user_and_in_total(small, still_serves):
    channel, stub = _stub(small)
    with channel:
        def session(user):
            return stub.authenticate(pb.AuthenticateRequest(user=user, password=USERS[user])).sessionId

        handles = []

        def prepare(sid):
            response = stub.prepareStatement(pb.PrepareStatementRequest(sessionId=sid, queryString="SELECT 1"))
            handles.append((sid, response.queryId))

        alice = session("alice")
        for _ in range(3):
            prepare(alice)
        with pytest.raises(grpc.RpcError) as info:
            prepare(alice)
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "max_open_queries_per_user=3" in info.value.details()
        root = session("root")
        prepare(root)
        prepare(root)
        with pytest.raises(grpc.RpcError) as info:
            prepare(root)
        assert "max_open_queries=5" in info.value.details()
        assert len(small.queries) == 5
        for sid, query_id in handles:  # clearing gives the room back
            stub.clearOrCancelQuery(pb.ClearOrCancelQueryRequest(sessionId=sid, queryId=query_id))
        prepare(alice)
    still_serves(small)


def test_read_results_waiting_for_their_clear_count_toward_a_looser_bound(small, still_serves):
    # A result read to its end holds nearly nothing until its clear arrives (clients send it without waiting):
    # it does not count as open, but a user may not pile up more than 4x the open limit of them.
    channel, stub = _stub(small)
    with channel:
        sid = stub.authenticate(pb.AuthenticateRequest(user="alice", password=USERS["alice"])).sessionId
        read = []
        for _ in range(4 * 3):  # max_open_queries_per_user=3: four times that, each read to its end
            query_id = stub.prepareStatement(pb.PrepareStatementRequest(sessionId=sid, queryString="SELECT 1")).queryId
            request = dict(sessionId=sid, queryId=query_id)
            stub.executeStatement(pb.ExecuteStatementRequest(**request))
            stub.getResultMetadata(pb.GetResultMetadataRequest(**request))
            while stub.getNextResultBatch(pb.GetNextResultBatchRequest(**request)).resultBatch:
                pass
            read.append(query_id)
        with pytest.raises(grpc.RpcError) as info:
            stub.prepareStatement(pb.PrepareStatementRequest(sessionId=sid, queryString="SELECT 1"))
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "12 queries not cleared" in info.value.details()
        stub.clearOrCancelQuery(pb.ClearOrCancelQueryRequest(sessionId=sid, queryId=read[0]))
        read[0] = stub.prepareStatement(pb.PrepareStatementRequest(sessionId=sid, queryString="SELECT 1")).queryId
        for query_id in read:  # room again, as the prepare shows; leave none behind
            stub.clearOrCancelQuery(pb.ClearOrCancelQueryRequest(sessionId=sid, queryId=query_id))
    still_serves(small)


def test_idle_queries_expire_after_the_ttl(engine, still_serves):
    srv = engine(query_ttl=0.05, limits=SMALL)
    channel, stub = _stub(srv)
    with channel:
        sid = stub.authenticate(pb.AuthenticateRequest(user="alice", password=USERS["alice"])).sessionId
        for _ in range(3):
            stub.prepareStatement(pb.PrepareStatementRequest(sessionId=sid, queryString="SELECT 1"))
        threading.Event().wait(0.2)
        assert srv.queries.sweep() == 3
        stub.prepareStatement(pb.PrepareStatementRequest(sessionId=sid, queryString="SELECT 1"))  # room again
    still_serves(srv)


def test_object_put_size(small, still_serves):
    import e6driver

    with e6driver.connect(host="127.0.0.1", port=small.port, username="alice", password=USERS["alice"]) as conn:
        conn.objects.create_bucket("alice-big")
        with pytest.raises(OperationalError, match="max_object_bytes"):
            conn.objects.put("alice-big", "big.bin", os.urandom(200 * 1024))
        assert [o.key for o in conn.objects.list("alice-big")] == []
        assert os.listdir(small.object_stores.backend.spool_dir()) == []
    still_serves(small)


def test_dataset_upload_size_and_expansion(small, still_serves, tmp_path):
    import e6driver

    with e6driver.connect(host="127.0.0.1", port=small.port, username="alice", password=USERS["alice"]) as conn:
        with pytest.raises(OperationalError, match="max_upload_bytes"):
            conn.datasets.upload("big", pa.table({"b": [os.urandom(100 * 1024)]}))
        # A small Parquet file that expands far past the limit (one value repeated: compresses to nothing).
        bomb = tmp_path / "bomb.parquet"
        pq.write_table(pa.table({"s": ["y" * 1000 + str(i % 7) for i in range(5000)]}), str(bomb),
                       compression="zstd", use_dictionary=False)
        assert bomb.stat().st_size < 64 * 1024
        with pytest.raises(OperationalError, match="max_expanded_bytes"):
            conn.datasets.upload("bomb", str(bomb))
        assert [d.name for d in conn.datasets.list()] == []
    still_serves(small)


def test_decompressed_json_is_capped(small, still_serves):
    import e6driver

    bomb = gzip.compress(("\n".join(json.dumps({"s": "z" * 1000}) for _ in range(3000))).encode())
    assert len(bomb) < 64 * 1024
    with e6driver.connect(host="127.0.0.1", port=small.port, username="alice", password=USERS["alice"]) as conn:
        conn.objects.create_bucket("alice-json")
        conn.objects.put("alice-json", "bomb.json.gz", bomb)
        cur = conn.cursor()
        with pytest.raises(OperationalError, match="max_expanded_bytes"):
            cur.execute('SELECT count(*) FROM objects."alice-json"."bomb.json.gz"')
    still_serves(small)


def test_parquet_row_groups_that_expand_past_the_limit_are_refused(small, still_serves, tmp_path):
    import e6driver

    bomb = tmp_path / "bomb.parquet"
    pq.write_table(pa.table({"s": ["y" * 1000 + str(i % 7) for i in range(5000)]}), str(bomb),
                   compression="zstd", use_dictionary=False)
    fine = tmp_path / "fine.parquet"
    pq.write_table(pa.table({"n": list(range(100))}), str(fine))
    with e6driver.connect(host="127.0.0.1", port=small.port, username="alice", password=USERS["alice"]) as conn:
        conn.objects.create_bucket("alice-pq")
        conn.objects.put("alice-pq", "bomb.parquet", bomb.read_bytes())
        conn.objects.put("alice-pq", "fine.parquet", fine.read_bytes())
        cur = conn.cursor()
        with pytest.raises(OperationalError, match="max_expanded_bytes"):
            cur.execute('SELECT count(*) FROM objects."alice-pq"."bomb.parquet"')
        cur.execute('SELECT count(*) FROM objects."alice-pq"."fine.parquet"')
        assert cur.fetchall() == [(100,)]
    still_serves(small)


def test_long_polls_cannot_take_every_worker(small, still_serves):
    import e6driver

    conns = [e6driver.connect(host="127.0.0.1", port=small.port, username=u, password=USERS[u])
             for u in ("alice", "alice", "root", "bob")]
    try:
        waiting = threading.Thread(target=conns[0].datasets.poll_notifications, kwargs={"wait_time": 3},
                                   daemon=True)
        waiting.start()
        while not _polls_waiting(small):
            threading.Event().wait(0.01)
        with pytest.raises(OperationalError, match="max_long_polls_per_user=1"):
            conns[1].datasets.poll_notifications(wait_time=3)
        assert conns[1].datasets.poll_notifications(wait_time=0) == []  # an immediate poll needs no slot
        other = threading.Thread(target=conns[2].datasets.poll_notifications, kwargs={"wait_time": 3},
                                 daemon=True)
        other.start()
        while _polls_waiting(small) < 2:
            threading.Event().wait(0.01)
        with pytest.raises(OperationalError, match="max_long_polls=2"):
            conns[3].datasets.poll_notifications(wait_time=3)
        still_serves(small)
        waiting.join()
        other.join()
    finally:
        for conn in conns:
            conn.close()


def _polls_waiting(server) -> int:
    return server.long_polls.waiting()


def test_leftover_put_spool_is_swept_at_start(tmp_path, engine):
    data_dir = str(tmp_path / "swept")
    spool = os.path.join(data_dir, "objects", ".tmp")
    os.makedirs(spool)
    with open(os.path.join(spool, "put-leftover"), "wb") as handle:
        handle.write(b"x" * 1000)
    srv = engine(data_dir=data_dir)
    assert [f for _, _, names in os.walk(spool) for f in names] == []
    assert srv.port


def test_leftover_s3_put_spool_is_swept_at_start(tmp_path):
    from mock_server.objects.s3 import S3ObjectBackend

    spool = tmp_path / "objects-spool"
    spool.mkdir()
    (spool / "put-leftover").write_bytes(b"x" * 1000)
    backend = S3ObjectBackend("http://127.0.0.1:9", "key", "secret", spool_root=str(tmp_path))  # no call made
    assert backend.spool_dir() == str(spool)
    assert os.listdir(spool) == []


def test_limits_are_server_flags():
    from mock_server.__main__ import parse_args

    args = parse_args(["--max-open-queries", "7", "--max-object-bytes", "1024"])
    assert args.limits.max_open_queries == 7 and args.limits.max_object_bytes == 1024
    assert args.limits.max_statement_bytes == Limits().max_statement_bytes
    with pytest.raises(SystemExit):
        parse_args(["--max-long-polls", "0"])
