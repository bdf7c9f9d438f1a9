"""The decoded-dataset cache is no way around access checks, and decrypted data never reaches the disk."""
from __future__ import annotations

import os

import pyarrow as pa
import pytest

import e6driver
from e6driver.errors import DatabaseError
from mock_server.limits import Limits

MARKER = "plaintext-marker-c4che-71"


def _sql(conn: e6driver.Connection, sql: str) -> list:
    cur = conn.cursor()
    cur.execute(sql)
    return cur.fetchall()


def test_a_warm_cache_never_serves_a_user_without_access(connect, server, still_serves):
    alice, bob = connect("alice"), connect("bob")
    alice.datasets.upload("cached_secret", pa.table({"n": [1, 2, 3]}))
    assert _sql(alice, "SELECT sum(n) FROM datasets.main.cached_secret") == [(6,)]
    assert ("cached_secret", 1) in server.datasets.cache.keys()  # warm

    def refused() -> None:
        for sql in ("SELECT sum(n) FROM datasets.main.cached_secret", "SELECT * FROM datasets.alice.cached_secret",
                    'SELECT * FROM datasets.main."cached_secret@1"'):
            with pytest.raises(DatabaseError, match="not found"):
                _sql(bob, sql)
        with pytest.raises(e6driver.DatasetNotFoundError):
            bob.datasets.download("cached_secret")

    refused()
    alice.datasets.grant("cached_secret", "bob", "read")
    assert _sql(bob, "SELECT sum(n) FROM datasets.main.cached_secret") == [(6,)]
    alice.datasets.grant("cached_secret", "bob", "none")  # revoked: the next read is refused, cache or not
    assert ("cached_secret", 1) in server.datasets.cache.keys()
    refused()
    still_serves(server)


@pytest.mark.parametrize("cache_bytes", [Limits().max_dataset_cache_bytes, 1024], ids=["cached", "scanned"])
def test_nothing_decrypted_lands_on_disk(engine, cache_bytes, tmp_path):
    data_dir = str(tmp_path / "data")
    srv = engine(data_dir=data_dir, limits=Limits(max_dataset_cache_bytes=cache_bytes))
    with e6driver.connect(host="127.0.0.1", port=srv.port, username="alice", password="alice-pw") as alice:
        data = pa.table({"id": list(range(5000)), "note": [f"{MARKER}-{i}" for i in range(5000)]})
        alice.datasets.upload("marked", data)
        csv = tmp_path / "marked.csv"
        csv.write_text("id,note\n" + "".join(f"{i},{MARKER}\n" for i in range(100)))
        alice.datasets.update("marked", str(csv), allow_schema_change=True)
        for sql in ("SELECT count(*) FROM datasets.main.marked WHERE note LIKE 'plaintext%'",
                    'SELECT max(note) FROM datasets.main."marked@1"',
                    "SELECT * FROM datasets.main.marked ORDER BY id"):
            assert _sql(alice, sql)
        assert alice.datasets.download("marked", version=1).equals(data)
        alice.datasets.download("marked", str(tmp_path / "out.csv"))
        found = []
        for folder, _, files in os.walk(data_dir):
            for name in files:
                with open(os.path.join(folder, name), "rb") as handle:
                    if MARKER.encode() in handle.read():
                        found.append(os.path.relpath(os.path.join(folder, name), data_dir))
        assert found == []
        assert MARKER in (tmp_path / "out.csv").read_text()  # the marker was there to be found


def test_an_interrupted_upload_is_spooled_encrypted_and_continues(server):
    spool, upload_id = server.datasets.uploads, "ab" * 16
    upload = spool.open("alice", upload_id, "spooled", "csv", True)
    upload.append(f"id,note\n1,{MARKER}\n".encode())
    upload.close(discard=False)  # the stream broke: kept for a resume
    part = os.path.join(spool.dir, f"{upload_id}.part")
    for path in (part, os.path.join(spool.dir, f"{upload_id}.json")):
        assert MARKER.encode() not in open(path, "rb").read()
    size = len(f"id,note\n1,{MARKER}\n")
    with open(part, "ab") as handle:
        handle.write(b"\x00\x00\x01\x00torn")  # a chunk a crash cut short
    assert spool.offset("alice", upload_id) == size and spool.offset("bob", upload_id) is None
    upload = spool.open("alice", upload_id, "spooled", "csv", True)
    try:
        assert upload.size == size
        upload.append(b"2,two\n")
        assert upload.read() == f"id,note\n1,{MARKER}\n2,two\n".encode()
    finally:
        upload.close(discard=True)
    assert not os.path.exists(part)
