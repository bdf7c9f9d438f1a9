"""The dataset API of the issue: metadata, id or name, download to a file, long-poll notifications, SQL catalog."""
from __future__ import annotations

import os
import threading
import time
import uuid

import pyarrow as pa
import pytest

import e6driver

TABLE = pa.table({"id": [1, 2, 3], "name": ["a", "b", "c"]})
BIG = pa.table({"n": pa.array(range(600_000), pa.int64()), "s": ["x" * 8] * 600_000})  # several 1 MiB chunks


def test_metadata_is_stored_and_listed(alice):
    info = alice.datasets.upload("meta_ds", TABLE, description="daily sales", freshness="daily")
    assert uuid.UUID(info.id).version == 4
    assert (info.name, info.owner, info.description, info.freshness) == ("meta_ds", "alice", "daily sales", "daily")
    assert (info.version, info.versions, info.rows) == (1, 1, 3)
    assert info.bytes > 0 and info.checksum.startswith("sha256:") and len(info.checksum) == 7 + 64
    assert info.created.tzinfo is not None and info.updated >= info.created
    second = alice.datasets.update("meta_ds", pa.table({"id": [4], "name": ["d"]}))
    assert (second.id, second.version, second.versions, second.description) == (info.id, 2, 2, "daily sales")
    assert second.checksum != info.checksum and second.created == info.created and second.updated > info.updated
    listed = {d.name: d for d in alice.datasets.list()}["meta_ds"]
    assert listed == second
    third = alice.datasets.update("meta_ds", TABLE, description="hourly sales", freshness="hourly")
    assert (third.description, third.freshness) == ("hourly sales", "hourly")
    with pytest.raises(e6driver.ProgrammingError, match="invalid freshness"):
        alice.datasets.upload("meta_bad", TABLE, freshness="sometimes")
    assert "meta_bad" not in [d.name for d in alice.datasets.list()]


def test_id_or_name_identifies_a_dataset(alice, bob):
    info = alice.datasets.upload("by_id", TABLE)
    assert alice.datasets.download(info.id).equals(TABLE)
    assert alice.datasets.update(info.id, pa.table({"id": [9], "name": ["z"]})).version == 2
    assert alice.datasets.download(info.id, version=1).equals(TABLE)
    assert alice.datasets.download("by_id", None, 1).equals(TABLE)
    with pytest.raises(e6driver.DatasetNotFoundError):  # no grant: looks missing
        bob.datasets.download(info.id)
    assert alice.datasets.grant(info.id, "bob", "read") == "read"
    assert bob.datasets.subscribe(info.id) is True
    assert bob.datasets.download(info.id).column("id").to_pylist() == [9]
    with pytest.raises(e6driver.DatasetNotFoundError, match="not found"):
        alice.datasets.download(str(uuid.uuid4()))


def test_download_to_a_file_with_progress(root, tmp_path):
    info = root.datasets.upload("big_file", BIG)
    calls = []
    target = tmp_path / "big.arrows"
    path = root.datasets.download(info.id, str(target),
                                  progress_callback=lambda done, total: calls.append((done, total)))
    assert path == str(target)
    with pa.OSFile(path, "rb") as source:
        assert pa.ipc.open_stream(source).read_all().equals(BIG)
    total = os.path.getsize(path)
    assert len(calls) > 1 and calls[-1] == (total, total)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls) and {t for _, t in calls} == {total}
    with pytest.raises(e6driver.DatasetNotFoundError):
        root.datasets.download("big_file", str(tmp_path / "missing.arrows"), version=5)
    assert sorted(os.listdir(tmp_path)) == ["big.arrows"]  # no temporary file, no partial file


def test_long_poll_returns_when_a_version_is_published(root, bob):
    root.datasets.upload("live", TABLE)
    root.datasets.grant("live", "bob", "read")
    bob.datasets.subscribe("live")
    started = time.monotonic()
    assert bob.datasets.poll_notifications(wait_time=0.5) == []
    assert 0.4 <= time.monotonic() - started < 5  # the server waited
    publisher = threading.Timer(0.5, lambda: root.datasets.update("live", pa.table({"id": [5], "name": ["e"]})))
    publisher.start()
    try:
        started = time.monotonic()
        notices = bob.datasets.poll_notifications(wait_time=30)
        elapsed = time.monotonic() - started
    finally:
        publisher.join()
    assert [(n.dataset, n.version) for n in notices] == [("live", 2)]
    live_id = {d.name: d.id for d in root.datasets.list()}["live"]
    assert notices[0].dataset_id == live_id and notices[0].path is None
    assert 0.3 <= elapsed < 10  # returned on publication, long before wait_time


def test_poll_limits_and_auto_download(root, bob, tmp_path):
    root.datasets.upload("batch", TABLE)
    root.datasets.grant("batch", "bob", "read")
    bob.datasets.subscribe("batch")
    versions = [pa.table({"id": [v], "name": [str(v)]}) for v in (2, 3, 4)]
    for table in versions:
        root.datasets.update("batch", table)
    first = bob.datasets.poll_notifications(max_messages=2, wait_time=0, auto_download=True,
                                            output_dir=str(tmp_path / "out"))
    assert [n.version for n in first] == [2, 3]
    for notice, table in zip(first, versions):
        assert notice.path == str(tmp_path / "out" / f"batch@{notice.version}.arrows")
        with pa.OSFile(notice.path, "rb") as source:
            assert pa.ipc.open_stream(source).read_all().equals(table)
    rest = bob.datasets.poll_notifications(wait_time=0)
    assert [n.version for n in rest] == [4] and rest[0].path is None


def test_sql_metadata_and_owner_schemas(alice, bob, rows):
    info = alice.datasets.upload("owned", TABLE, description="owned by alice", freshness="weekly")
    meta = rows(alice, "SELECT id, name, namespace, owner, description, freshness, version, versions, \"rows\", "
                       "bytes, checksum, created, updated FROM datasets.information.datasets WHERE name = 'owned'")
    assert len(meta) == 1
    row = meta[0]
    assert row[:10] == (info.id, "owned", "alice", "alice", "owned by alice", "weekly", 1, 1, 3, info.bytes)
    assert row[10] == info.checksum and row[11] == info.created and row[12] == info.updated
    assert ("owned",) not in rows(bob, "SELECT name FROM datasets.information.datasets")
    assert rows(alice, "SELECT sum(id) FROM datasets.alice.owned") == [(6,)]
    assert rows(alice, 'SELECT count(*) FROM datasets.alice."owned@1"') == [(3,)]
    assert rows(alice, "SELECT sum(id) FROM datasets.main.owned") == [(6,)]
    with pytest.raises(e6driver.ProgrammingError, match="not in schema 'bob'"):
        rows(alice, "SELECT * FROM datasets.bob.owned")
    with pytest.raises(e6driver.ProgrammingError, match="'owned' not found"):  # looks missing to bob
        rows(bob, "SELECT * FROM datasets.alice.owned")
    assert {"information", "main", "alice"} <= set(alice.get_schema_names("datasets"))
    assert "owned" in alice.get_tables("datasets", "alice")
    assert alice.get_tables("datasets", "information") == ["datasets"]
    assert {"fieldName": "checksum", "fieldType": "string"} in alice.get_columns("datasets", "information",
                                                                                 "datasets")


def test_an_older_store_gets_ids_on_open(tmp_path):
    import sqlite3

    from mock_server.datasets.store import DatasetStore

    db = sqlite3.connect(tmp_path / "datasets.sqlite")
    db.executescript("""
        CREATE TABLE datasets (name TEXT PRIMARY KEY, owner TEXT NOT NULL, created REAL NOT NULL,
                               version INTEGER NOT NULL DEFAULT 0);
        CREATE TABLE versions (dataset TEXT NOT NULL, version INTEGER NOT NULL, file TEXT NOT NULL,
                               rows INTEGER NOT NULL, bytes INTEGER NOT NULL, sha256 TEXT NOT NULL,
                               wrapped_key BLOB NOT NULL, created REAL NOT NULL, by TEXT NOT NULL,
                               PRIMARY KEY (dataset, version));
        INSERT INTO datasets VALUES ('old', 'root', 1.0, 1);
        INSERT INTO versions VALUES ('old', 1, 'v1.e6ds', 5, 100, 'ab', x'00', 2.0, 'root');""")
    db.commit()
    db.close()
    store = DatasetStore(str(tmp_path), "root")
    try:
        [(info, access)] = store.visible("root")
        assert uuid.UUID(info.id) and (info.name, info.description, info.freshness, access) == ("old", "", "", "admin")
        assert store.resolve(info.id) == "old"
        assert (info.created, info.updated, info.checksum) == (1.0, 2.0, "sha256:ab")
    finally:
        store.close()
