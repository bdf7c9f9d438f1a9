"""A version file replaced on disk is refused, never read: a plaintext Parquet file, a file of another server (other
master key), the file of another user's dataset, or a segment-format file in place of a modular one (a downgrade)."""
from __future__ import annotations

import os
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import e6driver
from mock_server.datasets import crypto
from mock_server.limits import Limits

from accounts import USERS

SECRET = pa.table({"n": [1, 2, 3], "s": ["bob-only", "x", "y"]})


def _version_file(data_dir: str, dataset: str, version: int = 1) -> str:
    return os.path.join(data_dir, "datasets", dataset, f"v{version}.e6ds")


def _select(conn: e6driver.Connection, dataset: str) -> list:
    cur = conn.cursor()
    cur.execute(f"SELECT * FROM datasets.main.{dataset}")
    return cur.fetchall()


def _refused(conn: e6driver.Connection, dataset: str, data_dir: str) -> None:
    for read in (lambda: conn.datasets.download(dataset), lambda: _select(conn, dataset)):
        with pytest.raises(e6driver.DatabaseError) as caught:
            read()
        assert data_dir not in str(caught.value)


def test_a_version_file_replaced_on_disk_is_refused(engine, tmp_path, still_serves):
    data_dir, other_dir = str(tmp_path / "main"), str(tmp_path / "other")
    server = engine(data_dir=data_dir, limits=Limits(max_dataset_cache_bytes=1))  # every read from the file
    with e6driver.connect(host="127.0.0.1", port=server.port, username="bob", password=USERS["bob"]) as bob, \
            e6driver.connect(host="127.0.0.1", port=server.port, username="alice", password=USERS["alice"]) as alice:
        bob.datasets.upload("bobs", SECRET)
        alice.datasets.upload("alices", pa.table({"n": [7], "s": ["alice"]}))
        target = _version_file(data_dir, "bobs")
        original = open(target, "rb").read()

        pq.write_table(pa.table({"n": [666], "s": ["forged"]}), target)  # plaintext Parquet: no encryption at all
        _refused(bob, "bobs", data_dir)

        shutil.copyfile(_version_file(data_dir, "alices"), target)  # another user's dataset file
        with pytest.raises(e6driver.DataError, match="another dataset or version"):
            bob.datasets.download("bobs")

        other = engine(data_dir=other_dir)  # another server: its own master key
        with e6driver.connect(host="127.0.0.1", port=other.port, username="bob", password=USERS["bob"]) as elsewhere:
            elsewhere.datasets.upload("bobs", pa.table({"n": [666], "s": ["forged"]}))
        shutil.copyfile(_version_file(other_dir, "bobs"), target)
        with pytest.raises(e6driver.DataError, match="cannot unwrap"):
            bob.datasets.download("bobs")

        buffer = pa.BufferOutputStream()  # a segment-format file for a version stored as modular (no key for it)
        pq.write_table(pa.table({"n": [666], "s": ["forged"]}), buffer)
        key, _ = crypto.new_data_key(os.urandom(32), "bobs", 1)
        with open(target, "wb") as out:
            crypto.encrypt_to(out, buffer.getvalue().to_pybytes(), key, "bobs", 1)
        with pytest.raises(e6driver.DataError, match="not an encrypted dataset file"):
            bob.datasets.download("bobs")

        open(target, "wb").write(original)
        assert bob.datasets.download("bobs").equals(SECRET)
    still_serves(server)


def test_a_damaged_version_read_by_sql_reveals_no_server_path(engine, tmp_path, still_serves):
    """DuckDB appended the Python traceback of a failed scan to its error, the engine's source paths in it."""
    import mock_server

    data_dir = str(tmp_path / "damaged")
    server = engine(data_dir=data_dir, limits=Limits(max_dataset_cache_bytes=1))  # every read from the file
    with e6driver.connect(host="127.0.0.1", port=server.port, username="bob", password=USERS["bob"]) as bob:
        bob.datasets.upload("hurt", pa.table({"n": list(range(50_000)), "m": list(range(50_000))}))
        path = _version_file(data_dir, "hurt")
        with open(path, "r+b") as handle:  # one bit flipped in the middle of the column data
            handle.seek(os.path.getsize(path) // 2)
            byte = handle.read(1)[0]
            handle.seek(-1, os.SEEK_CUR)
            handle.write(bytes([byte ^ 1]))
        cur = bob.cursor()
        for query in ("SELECT sum(n), sum(m) FROM datasets.main.hurt",
                      "SELECT sum(n), sum(m) FROM datasets.main.hurt WHERE m > 3"):
            with pytest.raises(e6driver.DataError, match="dataset 'hurt' version 1 cannot be read") as caught:
                cur.execute(query)
            text = str(caught.value)
            assert not any(secret in text for secret in (data_dir, os.path.dirname(mock_server.__file__),
                                                          "Traceback", "__e6_"))
    still_serves(server)
