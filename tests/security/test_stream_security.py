"""Streams attacked by an ordinary user: other users' streams (API and SQL), hostile names, locations and
arguments, and every stream limit."""
from __future__ import annotations

import grpc
import pytest

import e6driver
from e6driver._proto import e6driver_stores_pb2 as st_pb
from e6driver._proto import e6driver_streams_pb2 as sm_pb, e6driver_streams_pb2_grpc as sm_grpc
from mock_server.__main__ import parse_args
from mock_server.limits import Limits

from accounts import USERS


def connect(srv, user: str) -> e6driver.Connection:
    return e6driver.connect(host="127.0.0.1", port=srv.port, username=user, password=USERS[user])


@pytest.fixture
def shared(engine):
    srv = engine()
    with connect(srv, "alice") as alice, connect(srv, "bob") as bob:
        bob.streams.create("bobs-diary", shards=2)
        bob.streams.put_records("bobs-diary", [{"data": "secret", "shard_id": 0}])
        yield srv, alice, bob


def test_another_users_stream_is_out_of_reach(shared, still_serves):
    srv, alice, bob = shared
    streams = alice.streams
    calls = [lambda: streams.describe("bobs-diary"), lambda: streams.seek("bobs-diary", 0),
             lambda: streams.get_records("bobs-diary", 0, 1),
             lambda: streams.put_records("bobs-diary", ["forged"]), lambda: streams.delete("bobs-diary"),
             lambda: streams.grant("bobs-diary", "alice", "write")]
    for call in calls:
        with pytest.raises(e6driver.PermissionDeniedError, match="no grant"):
            call()
    with pytest.raises(e6driver.PermissionDeniedError, match="no grant"):  # a missing one looks the same
        streams.describe("no-such-stream")
    with pytest.raises(e6driver.ProgrammingError, match="already exists"):
        bob.streams.create("bobs-diary")
    with pytest.raises(e6driver.PermissionDeniedError):  # alice cannot take the name over either
        streams.create("bobs-diary")
    assert "bobs-diary" not in [s.name for s in streams.list()]
    cur = alice.cursor()
    for sql in ('SELECT * FROM streams."bobs-diary"', 'SELECT * FROM streams.main."bobs-diary"'):
        with pytest.raises(e6driver.PermissionDeniedError, match="no grant"):
            cur.execute(sql)
    assert alice.get_tables(catalog="streams", database="main") == []
    location = bob.streams.seek("bobs-diary", 0)
    assert [r.data for r in bob.streams.get_records("bobs-diary", 0, location).records] == [b"secret"]
    still_serves(srv)


@pytest.mark.parametrize("name", ["", "../objects", "a/b", "a\x00b", "-leading", "x" * 129, "semi;colon",
                                  "space name", "dot.name", "ünïcode"])
def test_hostile_names_are_refused(shared, name):
    _, alice, _ = shared
    with pytest.raises(e6driver.ProgrammingError, match="bad stream name"):
        alice.streams.create(name)
    with pytest.raises(e6driver.ProgrammingError, match="bad stream name"):
        alice.streams.describe(name)


def test_hostile_names_in_sql_stay_names(shared):
    _, alice, _ = shared
    cur = alice.cursor()
    for sql in ('SELECT * FROM streams."../../etc/passwd"', 'SELECT * FROM streams.secret."x"',
                "SELECT * FROM streams.\"a'; DROP TABLE x; --\""):
        with pytest.raises(e6driver.DatabaseError) as caught:
            cur.execute(sql)
        assert "DATA_DIR" not in str(caught.value) and "/tmp" not in str(caught.value)


def test_hostile_shards_locations_and_arguments(shared):
    _, alice, _ = shared
    streams = alice.streams
    streams.create("mine", shards=2)
    streams.put_records("mine", [{"data": "a", "shard_id": 1}])
    for shard in (-1, 2, 2**31 - 1):
        with pytest.raises(e6driver.ProgrammingError, match="out of range"):
            streams.seek("mine", shard)
        with pytest.raises(e6driver.ProgrammingError, match="out of range"):
            streams.put_records("mine", [{"data": "a", "shard_id": shard}])
    for location in (0, -5, 3, 2**62):
        with pytest.raises(e6driver.ProgrammingError, match="location"):
            streams.get_records("mine", 1, location)
    with pytest.raises(e6driver.ProgrammingError, match="sequence"):
        streams.seek("mine", 1, "SEQUENCE", sequence=2**62)
    with pytest.raises(e6driver.ProgrammingError, match="seek"):
        streams.seek("mine", 1, "NEWEST")
    with pytest.raises(e6driver.ProgrammingError, match="limit"):
        streams.get_records("mine", 1, 1, limit=-1)
    with pytest.raises(e6driver.ProgrammingError, match="partition key"):
        streams.put_records("mine", [{"data": "a", "partition_key": "k" * 300}])
    with pytest.raises(e6driver.ProgrammingError, match="at least one record"):
        streams.put_records("mine", [])
    for retention in (0, -1, float("nan"), float("inf"), 1e9):
        with pytest.raises(e6driver.ProgrammingError, match="retention_hours"):
            streams.create("bad-retention", retention_hours=retention)
    with pytest.raises(e6driver.ProgrammingError, match="at least 1 shard"):
        streams.create("no-shards", shards=0)
    with pytest.raises(TypeError, match="bytes or str"):
        streams.put_records("mine", [{"data": 42}])
    for grantee in ("", "x" * 129, "bob\nroot"):
        with pytest.raises(e6driver.ProgrammingError, match="user name"):
            streams.grant("mine", grantee, "read")


def test_stream_limits_are_server_flags():
    args = parse_args(["--max-streams-per-user", "3", "--max-shards-per-stream", "5", "--max-stream-record-bytes",
                       "7", "--max-records-per-put", "11", "--max-stream-get-bytes", "13"]).limits
    assert (args.max_streams_per_user, args.max_shards_per_stream, args.max_stream_record_bytes,
            args.max_records_per_put, args.max_stream_get_bytes) == (3, 5, 7, 11, 13)
    with pytest.raises(SystemExit):
        parse_args(["--max-records-per-put", "0"])


def test_every_stream_limit_refuses_with_its_flag(engine, still_serves):
    limits = Limits(max_streams_per_user=2, max_shards_per_stream=4, max_stream_record_bytes=1000,
                    max_records_per_put=10, max_stream_get_bytes=2500)
    srv = engine(limits=limits)
    with connect(srv, "alice") as alice:
        streams = alice.streams
        streams.create("one", shards=4)
        with pytest.raises(e6driver.OperationalError, match="max_shards_per_stream.*--max-shards-per-stream"):
            streams.create("two", shards=5)
        streams.create("two", shards=1)
        with pytest.raises(e6driver.OperationalError, match="max_streams_per_user.*--max-streams-per-user"):
            streams.create("three", shards=1)
        with pytest.raises(e6driver.OperationalError, match="max_stream_record_bytes"):
            streams.put_records("one", [bytes(1001)])
        with pytest.raises(e6driver.OperationalError, match="max_records_per_put"):
            streams.put_records("one", [b"x"] * 11)
        streams.put_records("one", [{"data": bytes(1000), "shard_id": 0}] * 10)
        result = streams.get_records("one", 0, 1)  # 2 records fit in 2500 bytes; the rest comes next call
        assert [r.sequence for r in result.records] == [1, 2] and result.next_location == 3
        assert result.records_behind_latest == 8
        assert streams.delete("two")
        streams.create("three", shards=1)  # deleting one frees a place
    with connect(srv, "root") as root:  # the admin is not counted
        for i in range(3):
            root.streams.create(f"admin-{i}")
    still_serves(srv)


def test_raw_requests_without_credentials_or_with_a_hostile_put_id(shared):
    srv, _, _ = shared
    with grpc.insecure_channel(srv.address) as channel:
        stub = sm_grpc.StreamServiceStub(channel)
        record = sm_pb.PutRecord(data=b"x")
        with pytest.raises(grpc.RpcError) as caught:
            stub.PutRecords(sm_pb.PutRecordsRequest(name="bobs-diary", records=[record]), timeout=10)
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        auth = st_pb.Auth(user="bob", password=USERS["bob"])
        with pytest.raises(grpc.RpcError) as caught:
            stub.PutRecords(sm_pb.PutRecordsRequest(auth=auth, name="bobs-diary", records=[record],
                                                    put_id="p" * 65), timeout=10)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "put_id" in caught.value.details()
        first = stub.PutRecords(sm_pb.PutRecordsRequest(auth=auth, name="bobs-diary", records=[record],
                                                        put_id="once"), timeout=10)
        again = stub.PutRecords(sm_pb.PutRecordsRequest(auth=auth, name="bobs-diary", records=[record],
                                                        put_id="once"), timeout=10)
        assert list(again.results) == list(first.results)  # a repeated put appends nothing
        with pytest.raises(grpc.RpcError) as caught:
            stub.PutRecords(sm_pb.PutRecordsRequest(auth=auth, name="bobs-diary", records=[record] * 3,
                                                    put_id="once"), timeout=10)
        assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "other records" in caught.value.details()
