"""Datasets without rows: stored as a version with its schema (Parquet with no row group), read back by SQL and
download, from the cache and, after a restart, from the encrypted file. Data without columns is refused."""
from __future__ import annotations

import pyarrow as pa
import pytest

import e6driver
from mock_server.server import EngineServer

from conftest import USERS

EMPTY = pa.table({"x": pa.array([], pa.int32()), "s": pa.array([], pa.string())})


def sql(conn: e6driver.Connection, query: str) -> tuple:
    cur = conn.cursor()
    try:
        cur.execute(query)
        return cur.fetchall(), [(d[0], d[1]) for d in cur.description]
    finally:
        cur.close()


def test_zero_row_table_is_a_readable_version(root, impl):
    info = root.datasets.upload(f"empty_table_{impl}", EMPTY)
    assert (info.version, info.rows) == (1, 0)
    assert sql(root, f"SELECT count(*) FROM datasets.main.empty_table_{impl}")[0] == [(0,)]
    assert sql(root, f"SELECT * FROM datasets.main.empty_table_{impl}") == ([], [("x", "INTEGER"), ("s", "STRING")])
    downloaded = root.datasets.download(f"empty_table_{impl}")
    assert downloaded.num_rows == 0 and downloaded.schema.equals(EMPTY.schema)


def test_header_only_csv(root, tmp_path, impl):
    path = tmp_path / "header.csv"
    path.write_text("a,b\n")
    assert root.datasets.upload(f"empty_csv_{impl}", str(path)).rows == 0
    assert root.datasets.download(f"empty_csv_{impl}").column_names == ["a", "b"]
    assert sql(root, f"SELECT count(*) FROM datasets.main.empty_csv_{impl} WHERE a IS NULL")[0] == [(0,)]


def test_update_to_zero_rows_keeps_the_older_version(root, impl):
    full = pa.table({"x": pa.array([1, 2], pa.int32()), "s": ["a", "b"]})
    root.datasets.upload(f"emptied_{impl}", full)
    info = root.datasets.update(f"emptied_{impl}", EMPTY)
    assert (info.version, info.rows) == (2, 0)
    assert sql(root, f"SELECT count(*) FROM datasets.main.emptied_{impl}")[0] == [(0,)]
    assert sql(root, f'SELECT count(*) FROM datasets.main."emptied_{impl}@1"')[0] == [(2,)]
    assert root.datasets.download(f"emptied_{impl}").num_rows == 0
    assert root.datasets.download(f"emptied_{impl}", version=1).equals(full)


@pytest.mark.parametrize("data", [[], pa.table({})], ids=["empty-list", "no-columns"])
def test_data_without_columns_is_refused(root, data):
    with pytest.raises(e6driver.ProgrammingError, match="has no columns") as raised:
        root.datasets.upload("no_columns", data)
    assert raised.value.grpc_code == "INVALID_ARGUMENT"
    with pytest.raises(e6driver.DatasetNotFoundError):
        root.datasets.download("no_columns")


def test_zero_rows_read_from_the_file_after_a_restart(tmp_path, impl):
    """A new engine's cache is empty: SQL scans the encrypted file (no row group) and download decodes it."""
    def connected(srv: EngineServer) -> e6driver.Connection:
        return e6driver.connect(host="127.0.0.1", port=srv.port, username="root", password=USERS["root"])

    with EngineServer("127.0.0.1", 0, data_dir=str(tmp_path), users=USERS) as srv:
        with connected(srv) as conn:
            conn.datasets.upload("kept_empty", EMPTY)
    with EngineServer("127.0.0.1", 0, data_dir=str(tmp_path), users=USERS) as srv:
        assert ("kept_empty", 1) not in srv.datasets.cache.keys()
        with connected(srv) as conn:
            assert sql(conn, "SELECT count(*), min(x) FROM datasets.main.kept_empty")[0] == [(0, None)]
            assert conn.datasets.download("kept_empty").schema.equals(EMPTY.schema)


def test_header_only_csv_has_string_columns_an_update_keeps(root, tmp_path, impl):
    """A CSV column without a value is a string (as DuckDB's CSV reader types it), not Arrow's null type: SQL sees
    VARCHAR, and an update with rows reads its columns as those types, so the schema matches."""
    name = f"typed_header_{impl}"
    (tmp_path / "header.csv").write_text("a,b\n")
    root.datasets.upload(name, str(tmp_path / "header.csv"))
    assert root.datasets.download(name).schema == pa.schema([("a", pa.string()), ("b", pa.string())])
    assert sql(root, f"SELECT * FROM datasets.main.{name}") == ([], [("a", "STRING"), ("b", "STRING")])
    (tmp_path / "rows.csv").write_text("a,b\n1,x\n,y\n")
    assert root.datasets.update(name, str(tmp_path / "rows.csv")).version == 2
    assert sql(root, f"SELECT a, b FROM datasets.main.{name} ORDER BY b")[0] == [("1", "x"), ("", "y")]
