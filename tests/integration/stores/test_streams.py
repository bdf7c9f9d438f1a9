"""Streams used the way the V3IO SDK's README uses them (create, put_records with shard ids and partition keys,
seek EARLIEST/LATEST/SEQUENCE/TIME, a get_records loop following next_location, delete), adapted to
``conn.streams``; SQL over ``streams.<name>``; retention; a restart keeps every record."""
from __future__ import annotations

import contextlib
import datetime
import os
import sqlite3
import time
from typing import List

import pytest

import e6driver
from e6driver.stores import Record, StreamNotFoundError, StreamRecord
from mock_server.server import EngineServer
from mock_server.streams.catalog import BATCH_ROWS, StreamCatalog


def read_all(conn: e6driver.Connection, name: str, shard: int, seek_type: str = "EARLIEST",
             limit: int = 0, **seek: object) -> List[Record]:
    """The V3IO consumer loop: seek, then get_records from each next_location until nothing comes."""
    location = conn.streams.seek(name, shard, seek_type, **seek)
    records: List[Record] = []
    while True:
        result = conn.streams.get_records(name, shard, location, limit=limit)
        if not result.records:
            return records
        records.extend(result.records)
        location = result.next_location


def test_the_v3io_readme_flow(alice):
    streams = alice.streams
    info = streams.create("readme-stream", shards=8, retention_hours=24)
    assert (info.name, info.shards, info.owner, info.access) == ("readme-stream", 8, "alice", "write")
    records = [
        {"shard_id": 1, "data": "first shard record #1"},
        {"shard_id": 1, "data": "first shard record #2"},
        {"shard_id": 2, "data": "second shard record #1"},
        {"data": "some shard record #1"},
    ]
    results = streams.put_records("readme-stream", records)
    assert [(r.shard_id, r.sequence) for r in results[:3]] == [(1, 1), (1, 2), (2, 1)]
    assert 0 <= results[3].shard_id < 8

    location = streams.seek("readme-stream", 1, "EARLIEST")
    response = streams.get_records("readme-stream", 1, location)
    assert response.records[0].data.decode("utf-8") == "first shard record #1"
    assert [r.data for r in response.records] == [b"first shard record #1", b"first shard record #2"]
    assert [r.sequence for r in response.records] == [1, 2]
    assert response.next_location == 3 and response.records_behind_latest == 0
    assert all(r.time.tzinfo is not None for r in response.records)

    assert streams.delete("readme-stream") is True
    with pytest.raises(e6driver.PermissionDeniedError):  # gone: to alice it looks like any stream not hers
        streams.describe("readme-stream")


def test_a_put_with_an_invalid_shard_appends_nothing(alice):
    alice.streams.create("atomic", shards=2)
    with pytest.raises(e6driver.ProgrammingError, match="shard 10 out of range"):
        alice.streams.put_records("atomic", [{"shard_id": 1, "data": "a"}, {"shard_id": 10, "data": "b"}])
    assert read_all(alice, "atomic", 1) == []
    assert alice.streams.put_records("atomic", [{"shard_id": 1, "data": "c"}])[0].sequence == 1  # no gap


def test_partition_keys_pick_one_shard_each_and_sequences_have_no_gaps(alice):
    alice.streams.create("orders", shards=4)
    keys = [f"customer-{i % 5}" for i in range(60)]
    results = alice.streams.put_records("orders", [StreamRecord(f"order {i}", partition_key=k)
                                                   for i, k in enumerate(keys)])
    shard_of = {}
    for key, result in zip(keys, results):
        assert shard_of.setdefault(key, result.shard_id) == result.shard_id  # same key, same shard
    again = alice.streams.put_records("orders", [StreamRecord(b"late", partition_key="customer-3")])[0]
    assert again.shard_id == shard_of["customer-3"]
    for shard in range(4):
        records = read_all(alice, "orders", shard, limit=7)  # several calls per shard
        assert [r.sequence for r in records] == list(range(1, len(records) + 1))
        expected = [f"order {i}".encode() for i, r in enumerate(results) if r.shard_id == shard]
        assert [r.data for r in records if r.data != b"late"] == expected
        assert all(shard_of[r.partition_key] == shard for r in records)
        times = [r.time for r in records]
        assert times == sorted(times)


def test_seek_latest_sequence_and_time(alice):
    streams = alice.streams
    streams.create("ticks", shards=1)
    streams.put_records("ticks", [{"data": f"old {i}", "shard_id": 0} for i in range(3)])
    latest = streams.seek("ticks", 0, "LATEST")
    assert streams.get_records("ticks", 0, latest).records == []
    streams.put_records("ticks", [{"data": "new", "shard_id": 0}])
    assert [r.data for r in streams.get_records("ticks", 0, latest).records] == [b"new"]

    assert [r.data for r in read_all(alice, "ticks", 0, "SEQUENCE", sequence=3)] == [b"old 2", b"new"]
    everything = read_all(alice, "ticks", 0)
    newest = everything[-1]
    at = read_all(alice, "ticks", 0, "TIME", timestamp=newest.time)
    assert at[-1] == newest and all(r.time >= newest.time for r in at)
    future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    assert streams.get_records("ticks", 0, streams.seek("ticks", 0, "TIME", timestamp=future)).records == []
    assert read_all(alice, "ticks", 0, "TIME", timestamp=0) == everything  # Unix seconds work too
    with pytest.raises(e6driver.ProgrammingError, match="needs sequence"):
        streams.seek("ticks", 0, "SEQUENCE")
    with pytest.raises(e6driver.ProgrammingError, match="aware datetime"):
        streams.seek("ticks", 0, "TIME", timestamp=datetime.datetime(2024, 1, 1))


def test_list_describe_grant_and_revoke(alice, bob):
    alice.streams.create("shared-feed", shards=2)
    alice.streams.put_records("shared-feed", ["one"])
    assert "shared-feed" not in [s.name for s in bob.streams.list()]
    with pytest.raises(e6driver.PermissionDeniedError):
        bob.streams.seek("shared-feed", 0)
    assert alice.streams.grant("shared-feed", "bob", "read") == "read"
    assert bob.streams.describe("shared-feed").access == "read"
    assert sum(len(read_all(bob, "shared-feed", s)) for s in range(2)) == 1
    with pytest.raises(e6driver.PermissionDeniedError):
        bob.streams.put_records("shared-feed", ["two"])
    alice.streams.grant("shared-feed", "bob", "write")
    bob.streams.put_records("shared-feed", ["two"])
    with pytest.raises(e6driver.PermissionDeniedError):
        bob.streams.delete("shared-feed")  # writers do not delete: the owner and the admin do
    alice.streams.revoke("shared-feed", "bob")
    with pytest.raises(e6driver.PermissionDeniedError):
        bob.streams.describe("shared-feed")


def test_the_admin_sees_every_stream_and_a_missing_one_as_not_found(root, alice):
    alice.streams.create("alices-own", shards=1)
    assert root.streams.describe("alices-own").access == "admin"
    with pytest.raises(StreamNotFoundError):
        root.streams.describe("never-made")
    assert root.streams.delete("never-made") is False


def test_sql_reads_a_stream(alice, rows):
    alice.streams.create("click-events", shards=2)
    alice.streams.put_records("click-events", [{"data": f"page{i}", "partition_key": f"user{i % 3}"}
                                                 for i in range(10)])
    got = rows(alice, 'SELECT shard, sequence, partition_key, data FROM streams."click-events" '
                      "ORDER BY shard, sequence")
    assert len(got) == 10 and {type(r[3]) for r in got} == {bytes}
    by_api = [(r.shard_id, r.sequence, r.partition_key, r.data) for s in range(2)
              for r in read_all(alice, "click-events", s)]
    assert got == by_api
    assert rows(alice, 'SELECT partition_key, count(*) FROM streams.main."click-events" '
                       "GROUP BY 1 ORDER BY 1") == [("user0", 4), ("user1", 3), ("user2", 3)]
    assert rows(alice, 'SELECT count(*) FROM streams."click-events" a JOIN streams."click-events" b '
                       "USING (shard, sequence)") == [(10,)]
    alice.streams.create("ClickLog", shards=1)
    alice.streams.put_records("ClickLog", ["x"])
    assert rows(alice, "SELECT count(*) FROM streams.clicklog") == [(1,)]  # unquoted: any case
    (stamp,), = rows(alice, 'SELECT max(time) FROM streams."click-events"')
    assert stamp.tzinfo is not None
    assert "click-events" in alice.get_tables(catalog="streams", database="main")
    columns = alice.get_columns(catalog="streams", database="main", table="click-events")
    assert [(c["fieldName"], c["fieldType"]) for c in columns] == [
        ("shard", "int"), ("sequence", "bigint"), ("time", "timestamp_tz"), ("partition_key", "string"),
        ("data", "binary")]


def test_sql_reads_a_big_stream_in_batches(server, alice, rows):
    alice.streams.create("big", shards=1)
    for start in range(0, 9000, 1000):
        alice.streams.put_records("big", [{"data": bytes(100), "shard_id": 0}] * 1000)
    assert rows(alice, "SELECT count(*), sum(octet_length(data)), max(sequence) FROM streams.big") == [
        (9000, 900_000, 9000)]
    reader = StreamCatalog(server.streams).read("alice", "main", "big")  # what DuckDB is handed
    sizes = [batch.num_rows for batch in reader]
    assert max(sizes) <= BATCH_ROWS and sum(sizes) == 9000
    info, _ = server.streams.stream("alice", "big")
    by_bytes = [len(batch) for batch in server.streams.scan(info, batch_bytes=10_000)]  # big records: fewer rows
    assert set(by_bytes) == {100} and sum(by_bytes) == 9000


def stored_records(data_dir: str, name: str) -> int:
    """Records of stream ``name`` still in the store's file, expired or not."""
    with contextlib.closing(sqlite3.connect(os.path.join(data_dir, "streams.sqlite"))) as db:
        return db.execute("SELECT count(*) FROM records r JOIN streams s ON r.stream = s.id WHERE s.name = ?",
                          (name,)).fetchone()[0]


def test_retention_drops_old_records_and_sequences_go_on(server, data_dir, alice, rows):
    streams = alice.streams
    streams.create("short-lived", shards=1, retention_hours=0.0001)  # 0.36 s
    streams.put_records("short-lived", [{"data": "a", "shard_id": 0}, {"data": "b", "shard_id": 0}])
    deadline = time.monotonic() + 30
    while read_all(alice, "short-lived", 0):
        assert time.monotonic() < deadline, "records outlived their retention"
        time.sleep(0.05)
    assert rows(alice, 'SELECT count(*) FROM streams."short-lived"') == [(0,)]
    server.streams.sweep()  # what the engine's sweeper runs every 30 s: expired records leave the disk
    assert stored_records(data_dir, "short-lived") == 0
    assert streams.put_records("short-lived", [{"data": "c", "shard_id": 0}])[0].sequence == 3
    assert streams.get_records("short-lived", 0, 1).records[0].data == b"c"  # an expired location goes on


def test_a_restart_keeps_every_record_and_the_sequence(tmp_path):
    users = {"root": "root-pw"}
    before: List[Record] = []
    for round_ in range(2):
        with EngineServer("127.0.0.1", 0, data_dir=str(tmp_path), users=users) as srv:
            with e6driver.connect(host="127.0.0.1", port=srv.port, username="root", password=users["root"]) as c:
                if round_ == 0:
                    c.streams.create("durable", shards=3, retention_hours=48)
                    c.streams.put_records("durable", [{"data": f"r{i}", "partition_key": f"k{i}"}
                                                      for i in range(30)])
                    before = [r for s in range(3) for r in read_all(c, "durable", s)]
                else:
                    info = c.streams.describe("durable")
                    assert (info.shards, info.retention_hours) == (3, 48)
                    assert [r for s in range(3) for r in read_all(c, "durable", s)] == before
                    last = max(r.sequence for r in before if r.shard_id == 0)
                    assert c.streams.put_records("durable", [{"data": "x", "shard_id": 0}])[0].sequence == last + 1
    assert len(before) == 30
