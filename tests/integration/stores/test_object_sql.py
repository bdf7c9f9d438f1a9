"""SQL over catalog `objects`: the "$objects" listing and files read by key or glob, in every format."""
from __future__ import annotations

import datetime
import gzip
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import e6driver

BUCKET = "sql-bucket"


def _parquet(table: pa.Table) -> bytes:
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()


def _zstd(data: bytes) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.CompressedOutputStream(sink, "zstd") as stream:
        stream.write(data)
    return sink.getvalue().to_pybytes()


@pytest.fixture(scope="module")
def loaded(root):
    store = root.objects
    store.create_bucket(BUCKET)
    for month in (1, 2):
        store.put(BUCKET, f"logs/2024/{month:02d}.parquet",
                  _parquet(pa.table({"month": [month] * 3, "v": [1, 2, 3]})))
    store.put(BUCKET, "logs/2023/12.parquet", _parquet(pa.table({"month": [12], "v": [100]})))
    store.put(BUCKET, "csv/a.csv", b"id,name\n1,x\n2,y\n")
    store.put(BUCKET, "csv/b.csv.gz", gzip.compress(b"id,name\n3,z\n"))
    store.put(BUCKET, "csv/c.csv.zst", _zstd(b"id,name\n4,w\n"))
    lines = "".join(json.dumps({"id": i, "tag": f"t{i}"}) + "\n" for i in range(5))
    store.put(BUCKET, "json/events.jsonl", lines.encode())
    store.put(BUCKET, "json/more.json.gz", gzip.compress(lines.encode()))
    return store


def test_listing(loaded, root, rows):
    cur = root.cursor()
    cur.execute(f'SELECT key, size, etag, last_modified, content_type FROM objects."{BUCKET}"."$objects" '
                "WHERE key LIKE 'csv/%' ORDER BY key")
    listed = cur.fetchall()
    assert [d[0] for d in cur.description] == ["key", "size", "etag", "last_modified", "content_type"]
    assert [r[0] for r in listed] == ["csv/a.csv", "csv/b.csv.gz", "csv/c.csv.zst"]
    info = loaded.stat(BUCKET, "csv/a.csv")
    assert listed[0][1:3] == (info.size, info.etag)
    assert abs(listed[0][3] - info.last_modified) < datetime.timedelta(milliseconds=1)
    assert listed[0][4] == "text/csv"


def test_parquet_glob(loaded, root, rows):
    sql = f'SELECT month, sum(v) FROM objects."{BUCKET}"."logs/2024/*.parquet" GROUP BY month ORDER BY month'
    assert rows(root, sql) == [(1, 6), (2, 6)]
    assert rows(root, f'SELECT count(*) FROM objects."{BUCKET}"."logs/**/*.parquet"') == [(7,)]
    assert rows(root, f'SELECT count(*) FROM objects."{BUCKET}"."logs/202?/1[0-2].parquet"') == [(1,)]


def test_csv_with_compressed_variants(loaded, root, rows):
    assert rows(root, f'SELECT id, name FROM objects."{BUCKET}"."csv/a.csv" ORDER BY id') == [(1, "x"), (2, "y")]
    assert rows(root, f'SELECT * FROM objects."{BUCKET}"."csv/*.csv.gz"') == [(3, "z")]
    assert rows(root, f'SELECT * FROM objects."{BUCKET}"."csv/*.csv.zst"') == [(4, "w")]


def test_json_and_compressed_json(loaded, root, rows):
    assert rows(root, f'SELECT count(*), max(tag) FROM objects."{BUCKET}"."json/*.jsonl"') == [(5, "t4")]
    assert rows(root, f'SELECT sum(id) FROM objects."{BUCKET}"."json/more.json.gz"') == [(10,)]


def test_json_array_tsv_and_filtered_parquet(loaded, root, rows):
    records = [{"id": 1, "tag": "x"}, {"id": 2, "tag": "y"}]
    loaded.put(BUCKET, "arrays/a.json", json.dumps(records, indent=2).encode())
    sql = f'SELECT id, tag FROM objects."{BUCKET}"."arrays/a.json" ORDER BY id'
    assert rows(root, sql) == [(1, "x"), (2, "y")]
    loaded.put(BUCKET, "tsv/t.tsv", b"id\tname\n7\tq\n")
    assert rows(root, f'SELECT id, name FROM objects."{BUCKET}"."tsv/t.tsv"') == [(7, "q")]
    sql = f'SELECT count(*), sum(v) FROM objects."{BUCKET}"."logs/**/*.parquet" WHERE month > 1'
    assert rows(root, sql) == [(4, 106)]


def test_join_alias_and_bare_names(loaded, root, rows):
    sql = (f'SELECT l.month, c.name FROM objects."{BUCKET}"."logs/2024/01.parquet" AS l '
           f'JOIN objects."{BUCKET}"."csv/a.csv" c ON l.v = c.id ORDER BY 2')
    assert rows(root, sql) == [(1, "x"), (1, "y")]
    assert rows(root, f'select count(*) from OBJECTS."{BUCKET}"."$objects"')[0][0] >= 8


def test_names_relative_to_the_objects_catalog(loaded, root, rows):
    assert rows(root, 'SELECT count(*) FROM "csv/a.csv"', catalog_name="objects", db_name=BUCKET) == [(2,)]
    assert rows(root, f'SELECT count(*) FROM "{BUCKET}"."csv/a.csv"', catalog_name="objects") == [(2,)]
    assert rows(root, "SELECT 1 AS one", catalog_name="objects", db_name=BUCKET) == [(1,)]


def test_text_in_literals_and_comments_is_untouched(loaded, root, rows):
    sql = (f"SELECT 'objects.\"{BUCKET}\".\"csv/a.csv\"' AS s -- objects.x.\"y\"\n"
           f'FROM objects."{BUCKET}"."csv/a.csv" LIMIT 1')
    assert rows(root, sql) == [(f'objects."{BUCKET}"."csv/a.csv"',)]


def test_no_match_and_unknown_format_are_clear_errors(loaded, root, rows):
    with pytest.raises(e6driver.ProgrammingError, match="no objects in bucket .* match 'nothing/\\*.csv'"):
        rows(root, f'SELECT * FROM objects."{BUCKET}"."nothing/*.csv"')
    root.objects.put(BUCKET, "odd/file.bin", b"\x00\x01")
    with pytest.raises(e6driver.ProgrammingError, match="cannot tell the file format"):
        rows(root, f'SELECT * FROM objects."{BUCKET}"."odd/*"')
    with pytest.raises(e6driver.ProgrammingError, match="'..' segment"):
        rows(root, f'SELECT * FROM objects."{BUCKET}"."../*.csv"')


def test_browsing_the_objects_catalog(loaded, root):
    assert {"name": "objects", "isDefault": False} in root.get_catalogs()
    assert BUCKET in root.get_schema_names("objects")
    assert root.get_tables("objects", BUCKET) == ["$objects"]
    assert [c["fieldName"] for c in root.get_columns("objects", BUCKET, "$objects")] == [
        "key", "size", "etag", "last_modified", "content_type"]


def test_dry_run_and_explain_resolve_objects(loaded, root):
    report = json.loads(root.dry_run(f'SELECT * FROM objects."{BUCKET}"."csv/a.csv"'))
    assert report["valid"] and [c["name"] for c in report["columns"]] == ["id", "name"]


def test_a_key_with_glob_characters_is_read_by_its_name(root, rows, impl):
    """An object named exactly as the quoted name wins over the glob the name also is; without one, it globs."""
    bucket = f"sql-wild-{impl}"
    root.objects.create_bucket(bucket)
    for key, n in (("br[1].csv", 10), ("br1.csv", 1), ("q?.csv", 20), ("qx.csv", 21)):
        root.objects.put(bucket, key, f"n\n{n}\n".encode())
    root.objects.put(bucket, "br[2].csv.gz", gzip.compress(b"n\n12\n"))
    assert rows(root, f'SELECT n FROM objects."{bucket}"."br[1].csv"') == [(10,)]
    assert rows(root, f'SELECT n FROM objects."{bucket}"."q?.csv"') == [(20,)]
    assert rows(root, f'SELECT n FROM objects."{bucket}"."br[2].csv"') == [(12,)]  # its compressed copy
    assert rows(root, f'SELECT n FROM objects."{bucket}"."br[0-9].csv"') == [(1,)]  # no such object: a glob
    assert rows(root, f'SELECT n FROM objects."{bucket}"."q[!?].csv"') == [(21,)]
