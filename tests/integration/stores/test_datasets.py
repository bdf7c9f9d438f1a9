"""Versioned datasets: encrypted at rest, atomic versions, SQL catalog `datasets`, grants, notifications."""
from __future__ import annotations

import os
import stat

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import e6driver
from e6driver.errors import PermissionDeniedError
from mock_server.datasets import store as dataset_store
from mock_server.server import EngineServer

SECRET = "plaintext-marker-8f3a"


def test_upload_download_and_versions(root, rows):
    table = pa.table({"id": [1, 2, 3], "note": [SECRET, "b", "c"]})
    info = root.datasets.upload("sales", table)
    assert (info.name, info.version, info.rows, info.owner) == ("sales", 1, 3, "root")
    assert root.datasets.download("sales").equals(table)
    with pytest.raises(e6driver.ProgrammingError, match="already exists"):
        root.datasets.upload("sales", table)
    second = root.datasets.update("sales", pa.table({"id": [4], "note": ["d"]}))
    assert second.version == 2 and second.rows == 1
    assert root.datasets.download("sales").column("id").to_pylist() == [4]
    assert root.datasets.download("sales", version=1).equals(table)
    assert rows(root, "SELECT id FROM datasets.main.sales") == [(4,)]
    assert rows(root, 'SELECT count(*) FROM datasets.main."sales@1"') == [(3,)]
    assert rows(root, 'SELECT count(*) FROM "sales"', catalog_name="datasets", db_name="main") == [(1,)]
    with pytest.raises(e6driver.DatasetNotFoundError, match="no version 7"):
        root.datasets.download("sales", version=7)
    with pytest.raises(e6driver.ProgrammingError, match="invalid dataset name"):
        root.datasets.upload("Bad-Name", table)


def test_other_inputs(root, tmp_path):
    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame({"x": [1.5, 2.5]})
    assert root.datasets.upload("from_pandas", frame).rows == 2
    path = tmp_path / "in.parquet"
    pq.write_table(pa.table({"y": [1, 2, 3]}), path)
    assert root.datasets.upload("from_parquet", path).rows == 3
    csv = tmp_path / "in.csv"
    csv.write_text("a,b\n1,x\n2,y\n")
    assert root.datasets.upload("from_csv", str(csv)).rows == 2
    assert root.datasets.download("from_csv").column_names == ["a", "b"]


UPLOAD_IN_A_CLIENT = """
import json, sys, tracemalloc
import e6driver
import pyarrow, pyarrow.ipc  # imported before counting: modules are not upload memory
port, user, password, name, path = sys.argv[1:]
conn = e6driver.connect(host="127.0.0.1", port=int(port), username=user, password=password, connect_timeout=20)
totals = []
tracemalloc.start()
info = conn.datasets.upload(name, path, progress_callback=lambda done, total: totals.append(total))
print(json.dumps({"peak": tracemalloc.get_traced_memory()[1], "rows": info.rows, "totals": sorted(set(totals))}))
"""


@pytest.mark.parametrize("suffix", [".arrows", ".arrow"])
def test_a_file_upload_is_read_as_it_is_sent(server, root, tmp_path, suffix):
    """The driver (in a process of its own, so only its memory counts) sends a file chunk by chunk from disk,
    an Arrow IPC file rewritten as a stream first, batch by batch: it holds a few chunks whatever the file's size,
    and the progress total is the bytes sent."""
    import json
    import subprocess
    import sys

    path = tmp_path / f"big{suffix}"  # root's password: USERS in this folder's conftest
    table = pa.table({"a": pa.array(range(3_000_000), pa.int64()), "b": pa.array(range(3_000_000), pa.float64())})
    with pa.OSFile(str(path), "wb") as sink:
        open_writer = pa.ipc.new_stream if suffix == ".arrows" else pa.ipc.new_file
        with open_writer(sink, table.schema) as writer:
            writer.write_table(table, max_chunksize=500_000)
    size = os.path.getsize(path)  # ~48 MB
    name = f"streamed_{suffix[1:]}"
    done = subprocess.run([sys.executable, "-c", UPLOAD_IN_A_CLIENT, str(server.port), "root", "root-pw", name,
                           str(path)], capture_output=True, text=True, timeout=300, env=dict(os.environ, TMPDIR=str(tmp_path)))
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["rows"] == 3_000_000
    assert report["peak"] < size / 8, (report["peak"], size)
    assert len(report["totals"]) == 1 and report["totals"][0] >= size * 0.9
    assert root.datasets.download(name).to_pydict() == table.to_pydict()
    assert os.listdir(tmp_path) == [path.name]  # the stream copy of an IPC file is gone


def test_encrypted_at_rest(root, data_dir):
    root.datasets.upload("secret_ds", pa.table({"s": [SECRET] * 100}))
    key_file = os.path.join(data_dir, "master.key")
    assert os.path.getsize(key_file) == 32
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    stored = open(os.path.join(data_dir, "datasets", "secret_ds", "v1.e6ds"), "rb").read()
    assert SECRET.encode() not in stored and b"PAR1" not in stored
    with open(os.path.join(data_dir, "datasets.sqlite"), "rb") as db:
        assert SECRET.encode() not in db.read()


def test_tampered_file_is_refused(root, data_dir):
    root.datasets.upload("tamper", pa.table({"v": list(range(1000))}))
    path = os.path.join(data_dir, "datasets", "tamper", "v1.e6ds")
    original = open(path, "rb").read()
    damaged = bytearray(original)
    damaged[len(damaged) // 2] ^= 0x01
    open(path, "wb").write(bytes(damaged))
    try:
        with pytest.raises(e6driver.DataError, match="failed authentication"):
            root.datasets.download("tamper")
    finally:
        open(path, "wb").write(original)
    assert root.datasets.download("tamper").num_rows == 1000


def test_failed_verification_leaves_nothing_behind(root, data_dir, monkeypatch):
    root.datasets.upload("atomic", pa.table({"v": [1]}))
    hash_file = dataset_store._file_sha256

    def damaged_after_writing(path):  # the file changes on disk between its write and its verification
        with open(path, "r+b") as handle:
            handle.seek(os.path.getsize(path) // 2)
            byte = handle.read(1)[0]
            handle.seek(-1, os.SEEK_CUR)
            handle.write(bytes([byte ^ 1]))
        return hash_file(path)
    monkeypatch.setattr(dataset_store, "_file_sha256", damaged_after_writing)
    with pytest.raises(e6driver.DataError, match="failed verification"):
        root.datasets.update("atomic", pa.table({"v": [2]}))
    monkeypatch.undo()
    assert os.listdir(os.path.join(data_dir, "datasets", ".tmp")) == []
    assert os.listdir(os.path.join(data_dir, "datasets", "atomic")) == ["v1.e6ds"]
    assert [d.version for d in root.datasets.list() if d.name == "atomic"] == [1]
    assert root.datasets.update("atomic", pa.table({"v": [3]})).version == 2


def test_grants_and_sql_permissions(root, alice, bob, rows):
    alice.datasets.upload("alice_ds", pa.table({"v": [1, 2]}))
    assert [d.name for d in bob.datasets.list()] == []
    for call in (lambda: bob.datasets.download("alice_ds"), lambda: bob.datasets.subscribe("alice_ds"),
                 lambda: bob.datasets.update("alice_ds", pa.table({"v": [0]})),
                 lambda: bob.datasets.grant("alice_ds", "bob", "read"),
                 lambda: rows(bob, "SELECT * FROM datasets.main.alice_ds")):
        with pytest.raises(e6driver.ProgrammingError, match="'alice_ds' not found"):  # looks missing
            call()
    assert "alice_ds" not in bob.get_tables("datasets", "main")
    assert alice.datasets.grant("alice_ds", "bob", "read") == "read"
    assert rows(bob, "SELECT sum(v) FROM datasets.main.alice_ds") == [(3,)]
    assert bob.get_columns("datasets", "main", "alice_ds") == [{"fieldName": "v", "fieldType": "bigint"}]
    with pytest.raises(PermissionDeniedError):
        bob.datasets.update("alice_ds", pa.table({"v": [0]}))
    assert "alice_ds" in [d.name for d in root.datasets.list()]  # the admin sees everything


def test_subscriptions_and_notifications(root, alice, bob):
    root.datasets.upload("feed", pa.table({"v": [0]}))
    root.datasets.grant("feed", "bob", "read")
    assert bob.datasets.subscribe("feed") is True
    assert bob.datasets.poll_notifications(wait_time=0) == []
    root.datasets.update("feed", pa.table({"v": [1]}))
    root.datasets.update("feed", pa.table({"v": [2]}))
    peek = bob.datasets.poll_notifications(wait_time=0, acknowledge=False)
    assert [(n.dataset, n.version, n.by) for n in peek] == [("feed", 2, "root"), ("feed", 3, "root")]
    assert bob.datasets.poll_notifications(wait_time=0) == peek
    assert bob.datasets.poll_notifications(wait_time=0) == []
    assert bob.datasets.poll_notifications(wait_time=0, after=peek[0].id) == peek[1:]  # history by id
    assert alice.datasets.poll_notifications(wait_time=0) == []
    bob.datasets.unsubscribe("feed")
    root.datasets.update("feed", pa.table({"v": [3]}))
    assert bob.datasets.poll_notifications(wait_time=0) == []


def test_datasets_survive_restart_and_need_their_master_key(tmp_path):
    users = {"root": "r"}
    with EngineServer("127.0.0.1", 0, data_dir=str(tmp_path), users=users) as srv:
        with e6driver.connect(host="127.0.0.1", port=srv.port, username="root", password="r") as conn:
            conn.datasets.upload("kept", pa.table({"v": [7]}))
    with EngineServer("127.0.0.1", 0, data_dir=str(tmp_path), users=users) as srv:
        with e6driver.connect(host="127.0.0.1", port=srv.port, username="root", password="r") as conn:
            assert conn.datasets.download("kept").column("v").to_pylist() == [7]
    other_key = str(tmp_path / "other.key")
    with EngineServer("127.0.0.1", 0, data_dir=str(tmp_path), users=users, master_key_file=other_key) as srv:
        with e6driver.connect(host="127.0.0.1", port=srv.port, username="root", password="r") as conn:
            with pytest.raises(e6driver.DataError, match="wrong master key"):
                conn.datasets.download("kept")


def test_sql_names_datasets_in_any_case(root, rows):
    """Dataset names are lower-case; SQL, like DuckDB's own catalog, matches identifiers in any case (an unqualified
    Sales was taken for the dataset, then refused as an invalid name)."""
    root.datasets.upload("cased", pa.table({"x": [1, 2]}))
    assert rows(root, "SELECT count(*) FROM Cased", catalog_name="datasets", db_name="main") == [(2,)]
    for sql in ['SELECT count(*) FROM datasets.MAIN.CASED', 'SELECT count(*) FROM datasets.Root."Cased@1"',
                'SELECT count(*) FROM DATASETS.main.cased']:
        assert rows(root, sql) == [(2,)], sql
    assert rows(root, "SELECT count(*) FROM datasets.Information.Datasets WHERE name = 'cased'") == [(1,)]
    assert "cased" in root.get_tables("DATASETS", "Main")
    assert root.get_columns("datasets", "ROOT", "Cased") == [{"fieldName": "x", "fieldType": "bigint"}]
    with pytest.raises(e6driver.ProgrammingError, match=r"dataset 'nope' not found \[NOT_FOUND"):
        rows(root, "SELECT * FROM datasets.main.NOPE")


@pytest.mark.parametrize("sql", [
    "INSERT INTO datasets.main.ro VALUES (3)", "INSERT OR REPLACE INTO datasets.main.ro VALUES (3)",
    "UPDATE datasets.main.ro SET x = 5", "DELETE FROM datasets.main.ro", "DROP TABLE datasets.main.ro",
    "DROP VIEW IF EXISTS datasets.main.ro", "ALTER TABLE datasets.main.ro ADD COLUMN y INT",
    "TRUNCATE datasets.main.ro",
])
def test_sql_cannot_write_a_dataset(root, rows, sql):
    """A dataset is written by publishing a version; SQL writing one got DuckDB's words about the engine's
    registered stream ('__e6_dataset_4 is not an table')."""
    if "ro" not in root.get_tables("datasets", "main"):
        root.datasets.upload("ro", pa.table({"x": [1, 2]}))
    with pytest.raises(e6driver.ProgrammingError, match=r"datasets\.main\.ro is read-only in SQL") as caught:
        root.cursor().execute(sql)
    assert "__e6_" not in str(caught.value)
    assert rows(root, "SELECT count(*) FROM datasets.main.ro") == [(2,)]


def test_a_view_over_a_dataset_is_refused_when_created(root, rows):
    """Store tables are read for the query that names them: a view over one was created, then failed on every
    use ('Table with name __e6_dataset_18 does not exist')."""
    root.datasets.upload("viewed", pa.table({"x": [1, 2]}))
    for sql in ("CREATE VIEW over_ds AS SELECT * FROM datasets.main.viewed",
                "CREATE OR REPLACE TEMP VIEW over_ds AS SELECT x FROM datasets.main.viewed WHERE x > 1"):
        with pytest.raises(e6driver.ProgrammingError, match=r"a view cannot read datasets\.main\.viewed"):
            root.cursor().execute(sql)
    cur = root.cursor()
    cur.execute("CREATE TABLE copied AS SELECT * FROM datasets.main.viewed")  # copies are as before
    cur.execute("INSERT INTO copied SELECT * FROM datasets.main.viewed")
    assert rows(root, "SELECT count(*) FROM copied") == [(4,)]


def test_statements_writing_local_tables_may_read_datasets(root, rows):
    root.datasets.upload("source_ds", pa.table({"x": [1, 2, 3]}))
    cur = root.cursor()
    cur.execute("CREATE TABLE target_t (x INTEGER PRIMARY KEY)")
    cur.execute("INSERT INTO target_t SELECT * FROM datasets.main.source_ds")
    cur.execute("DELETE FROM target_t WHERE x IN (SELECT x FROM datasets.main.source_ds WHERE x > 2)")
    cur.execute("UPDATE target_t SET x = (SELECT max(x) FROM datasets.main.source_ds) WHERE x = 1")
    cur.execute("INSERT OR REPLACE INTO target_t SELECT x FROM datasets.main.source_ds WHERE x = 1")
    assert rows(root, "SELECT x FROM target_t ORDER BY x") == [(1,), (2,), (3,)]
