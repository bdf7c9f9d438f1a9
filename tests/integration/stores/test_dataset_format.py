"""Version files in Parquet modular encryption: every type round-trips, damage and swapped files are refused with
a clear error (never wrong rows), versions stored in the first (segment) formats stay readable, and a scan reads
only the columns and row groups it needs (bytes read, counted by Linux)."""
from __future__ import annotations

import datetime
import decimal
import io
import os
import re
import shutil
from typing import Callable, Iterator

import duckdb
import grpc
import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

import e6driver
from mock_server.datasets import crypto
from mock_server.datasets import store as dataset_store
from mock_server.datasets.formats import read_rows
from mock_server.datasets.modular import MAGIC
from mock_server.datasets.store import DatasetStore
from mock_server.errors import EngineError
from mock_server.limits import Limits
from mock_server.server import EngineServer

from conftest import USERS
from test_dataset_cache import flip_bit


@pytest.fixture(scope="module")
def server(data_dir) -> Iterator[EngineServer]:
    # no room in the cache: every query and download reads the version file
    with EngineServer("127.0.0.1", 0, data_dir=data_dir, users=USERS,
                      limits=Limits(max_dataset_cache_bytes=1)) as srv:
        yield srv


def every_type(rows: int = 500) -> pa.Table:
    def pick(values):  # values cycled over the rows, every seventh row null
        return [None if i % 7 == 3 else values[i % len(values)] for i in range(rows)]
    moment = datetime.datetime(2024, 2, 29, 12, 30, 45, 123456)
    columns = {
        "i8": pa.array(pick([-128, 0, 127]), pa.int8()), "i16": pa.array(pick([-32768, 7]), pa.int16()),
        "i32": pa.array(pick([-2 ** 31, 2 ** 31 - 1]), pa.int32()), "i64": pa.array(pick([-2 ** 63, 2 ** 63 - 1])),
        "u8": pa.array(pick([0, 255]), pa.uint8()), "u32": pa.array(pick([0, 2 ** 32 - 1]), pa.uint32()),
        "u64": pa.array(pick([0, 2 ** 64 - 1]), pa.uint64()),
        "f32": pa.array(pick([1.5, -0.0, float("inf")]), pa.float32()), "f64": pa.array(pick([3.25, -1e300])),
        "b": pa.array(pick([True, False])), "s": pa.array(pick(["", "ünï", "x" * 300])),
        "ls": pa.array(pick(["large", ""]), pa.large_string()), "bin": pa.array(pick([b"\x00\xff", b""])),
        "d": pa.array(pick([datetime.date(1970, 1, 1), datetime.date(9999, 12, 31)]), pa.date32()),
        "ts": pa.array(pick([moment]), pa.timestamp("us")), "tsz": pa.array(pick([moment]), pa.timestamp("ms", "UTC")),
        "t": pa.array(pick([datetime.time(23, 59, 59, 999999)]), pa.time64("us")),
        "dec": pa.array(pick([decimal.Decimal("12345.678"), decimal.Decimal("-0.001")]), pa.decimal128(12, 3)),
        "lst": pa.array(pick([[1, None, 3], []]), pa.list_(pa.int64())),
        "st": pa.array(pick([{"a": 1, "b": "x"}]), pa.struct([("a", pa.int32()), ("b", pa.string())])),
        "dict": pa.array(pick(["red", "green"])).dictionary_encode(),
    }
    return pa.table(columns)


def test_every_type_round_trips_through_the_encrypted_file(server, root, rows, data_dir):
    data = every_type()
    root.datasets.upload("types", data)
    path = os.path.join(data_dir, "datasets", "types", "v1.e6ds")
    with open(path, "rb") as handle:
        assert handle.read(4) == MAGIC and "ünï".encode() not in handle.read()
    info, table = server.datasets.read("root", "types")
    assert not isinstance(table, pa.Table)  # no room in the cache: a scan over the file
    assert table.to_table().equals(data)
    assert root.datasets.download("types").equals(data)
    assert rows(root, "SELECT count(*), count(s), max(i64), min(d), sum(dec) FROM datasets.main.types") == [
        (500, 500 - data["s"].null_count, 2 ** 63 - 1, datetime.date(1970, 1, 1),
         sum(v for v in data["dec"].to_pylist() if v is not None))]


@pytest.mark.parametrize("where", ["start", "page", "footer", "footer length", "end"])
def test_a_flipped_byte_anywhere_is_refused_not_read_wrong(server, root, rows, data_dir, monkeypatch, where):
    monkeypatch.setattr(dataset_store, "ROW_GROUP_BYTES", 64 * 1024)
    name = f"flip_{where.replace(' ', '_')}"
    data = pa.table({"k": pa.array(range(50_000), pa.int64()), "s": [f"v{i % 100}" for i in range(50_000)]})
    root.datasets.upload(name, data)
    path = os.path.join(data_dir, "datasets", name, "v1.e6ds")
    size = os.path.getsize(path)
    offset = {"start": 1, "page": size // 3, "footer": size - 200, "footer length": size - 6, "end": size - 1}[where]
    original = open(path, "rb").read()
    flip_bit(path, offset)
    try:
        for where_clause in ("", " WHERE k >= 0"):  # a plain scan, and one computing the filter as a column
            with pytest.raises(e6driver.DatabaseError) as caught:
                rows(root, f"SELECT count(*), sum(k), max(s) FROM datasets.main.{name}{where_clause}")
            assert data_dir not in str(caught.value)
            if where == "page":  # a page read mid-scan fails authentication
                assert "decryption" in str(caught.value).lower(), caught.value
        with pytest.raises(e6driver.DataError, match="cannot be read") as caught:
            root.datasets.download(name)
        assert data_dir not in str(caught.value)
    finally:
        open(path, "wb").write(original)
    assert rows(root, f"SELECT count(*), sum(k) FROM datasets.main.{name}") == [(50_000, sum(range(50_000)))]


def test_a_file_moved_to_another_dataset_or_version_does_not_open(server, root, data_dir):
    root.datasets.upload("moved_a", pa.table({"v": [1, 2, 3]}))
    root.datasets.upload("moved_b", pa.table({"v": [7, 8, 9]}))
    root.datasets.update("moved_b", pa.table({"v": [10]}))
    folder = os.path.join(data_dir, "datasets")
    target = os.path.join(folder, "moved_b", "v1.e6ds")
    kept = open(target, "rb").read()
    for source in (os.path.join(folder, "moved_a", "v1.e6ds"), os.path.join(folder, "moved_b", "v2.e6ds")):
        shutil.copyfile(source, target)
        with pytest.raises(e6driver.DataError, match="another dataset or version"):
            root.datasets.download("moved_b", version=1)
    open(target, "wb").write(kept)
    assert root.datasets.download("moved_b", version=1)["v"].to_pylist() == [7, 8, 9]


def _to_first_format(store: DatasetStore, name: str, version: int, table: pa.Table) -> None:
    """Rewrite a stored version as the first formats stored it: zstd Parquet bytes in AES-GCM segments, the data
    key wrapped in the metadata."""
    with store._lock:
        (path,) = store._db.execute("SELECT file FROM versions WHERE dataset = ? AND version = ?",
                                    (name, version)).fetchone()
    buffer = pa.BufferOutputStream()
    pq.write_table(table, buffer, compression="zstd", row_group_size=1000)
    key, wrapped = crypto.new_data_key(store._master, name, version)
    with open(path, "wb") as out:
        crypto.encrypt_to(out, buffer.getvalue().to_pybytes(), key, name, version)
    with store._lock:
        store._db.execute("UPDATE versions SET wrapped_key = ?, stream_size = NULL WHERE dataset = ? AND "
                          "version = ?", (wrapped, name, version))


@pytest.mark.parametrize("magic", [b"E6DS\x01", b"E6DS\x02"])
def test_versions_stored_in_the_first_formats_stay_readable(server, root, rows, monkeypatch, magic):
    name = f"legacy_{magic[-1]}"
    old = pa.table({"k": pa.array(range(5000), pa.int64()), "s": [f"old-{i}" for i in range(5000)]})
    root.datasets.upload(name, old)
    monkeypatch.setattr(crypto, "MAGIC", magic)
    monkeypatch.setattr(crypto, "SEGMENT", crypto.SEGMENTS[magic])
    _to_first_format(server.datasets, name, 1, old)
    monkeypatch.undo()
    path = server.datasets._db.execute("SELECT file FROM versions WHERE dataset = ?", (name,)).fetchone()[0]
    with open(path, "rb") as handle:
        assert handle.read(5) == magic
    assert rows(root, f"SELECT count(*), max(s) FROM datasets.main.{name} WHERE k >= 10") == [(4990, "old-999")]
    assert root.datasets.download(name).equals(old)
    assert server.datasets._decode(name, 1)[0].equals(old)  # what the cache would hold (and its file's identity)
    new = pa.table({"k": pa.array([1, 2], pa.int64()), "s": ["a", "b"]})
    root.datasets.update(name, new)  # a new version next to an old one: the schema compared with the old file's
    assert rows(root, f'SELECT sum(k) FROM datasets.main."{name}@1"') == [(sum(range(5000)),)]
    assert rows(root, f"SELECT sum(k) FROM datasets.main.{name}") == [(3,)]
    flip_bit(path, os.path.getsize(path) // 2)
    with pytest.raises(e6driver.DataError, match="failed authentication"):
        root.datasets.download(name, version=1)


# ------------------------------------------------------------------ pruning, seen in the bytes the process reads

def _bytes_read() -> int:
    with open("/proc/self/io") as handle:
        return next(int(line.split()[1]) for line in handle if line.startswith("rchar:"))


@pytest.fixture
def store(tmp_path, monkeypatch) -> Iterator[DatasetStore]:
    if not os.path.exists("/proc/self/io"):
        pytest.skip("needs Linux /proc/self/io")
    monkeypatch.setattr(dataset_store, "ROW_GROUP_BYTES", 256 * 1024)  # many row groups
    opened = DatasetStore(str(tmp_path), "root")
    opened.cache.limit = 1  # every read from the file
    yield opened
    opened.close()


def _reading(store: DatasetStore) -> Callable[[str], int]:
    """read(sql): bytes this process read while DuckDB ran ``sql`` over the version registered as ``t``."""
    def read(sql: str) -> int:
        _, dataset = store.read("root", "wide")
        con = duckdb.connect()
        con.register("t", dataset)
        before = _bytes_read()
        con.execute(sql).fetchall()
        return _bytes_read() - before
    return read


def _wide(rows: int = 400_000) -> pa.Table:
    k = np.arange(rows, dtype=np.int64)
    return pa.table({name: (k * (n + 3)) % 1_000_003 for n, name in enumerate("abcdefgh")} | {"k": k})


def test_a_scan_reads_only_the_columns_it_needs(store, tmp_path):
    store.publish("root", "wide", _wide(), create=True)
    size = os.path.getsize(os.path.join(str(tmp_path), "datasets", "wide", "v1.e6ds"))
    read = _reading(store)
    everything, one = read("SELECT sum(a+b+c+d+e+f+g+h+k) FROM t"), read("SELECT sum(a) FROM t")
    assert everything > 0.9 * size, (everything, size)
    assert one < 0.2 * size, (one, size)  # one column of nine, and the footer


def test_a_filter_skips_the_row_groups_it_excludes(store, tmp_path):
    store.publish("root", "wide", _wide(), create=True)
    read = _reading(store)
    _, dataset = store.read("root", "wide")
    groups = sum(f.num_row_groups for f in dataset.get_fragments())
    assert groups >= 8
    whole, first_group = read("SELECT sum(a) FROM t"), read("SELECT sum(a) FROM t WHERE k < 100")
    assert first_group < 3 * whole / groups, (first_group, whole, groups)  # k is sorted: statistics skip the rest


# ------------------------------------------------------------------ publishing holds about a row group

@pytest.mark.parametrize("fmt", ["arrow", "csv", "parquet"])
def test_publishing_an_upload_holds_a_bounded_part_of_it(store, monkeypatch, fmt):
    data = _wide(1_000_000)
    sink = io.BytesIO()
    if fmt == "arrow":
        with pa.ipc.new_stream(sink, data.schema) as writer:
            for batch in data.to_batches(max_chunksize=20_000):
                writer.write_batch(batch)
    elif fmt == "csv":
        pcsv.write_csv(data, sink)
    else:
        pq.write_table(data, sink, row_group_size=20_000)
    groups = dataset_store._row_groups
    held = []

    def watched(reader):  # what stays allocated while each row group is written
        for group in groups(reader):
            held.append(pa.total_allocated_bytes() - baseline)
            yield group
    monkeypatch.setattr(dataset_store, "_row_groups", watched)
    baseline = pa.total_allocated_bytes()
    rows = read_rows(io.BytesIO(sink.getvalue()), fmt, Limits(max_expanded_bytes=1 << 30))
    assert store.publish("root", "wide", rows, create=True).rows == 1_000_000
    assert len(held) > 100 and max(held) < data.nbytes // 8, (max(held), data.nbytes)  # whole: over nbytes
    with store._open("wide", 1) as stored:
        assert stored.parquet().read().equals(data)


def test_an_upload_malformed_part_way_leaves_nothing_behind(store, tmp_path):
    good = "\n".join(f"{i},{i * 2}" for i in range(200_000))
    payload = f"a,b\n{good}\n1,2,3\n".encode()  # a row with one field too many, far into the file
    rows = read_rows(io.BytesIO(payload), "csv", Limits())
    with pytest.raises(EngineError, match="cannot read the upload as csv") as caught:
        store.publish("root", "bad_csv", rows, create=True)
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert os.listdir(os.path.join(str(tmp_path), "datasets", ".tmp")) == []
    assert store.visible("root") == []


@pytest.mark.parametrize("sql", [
    "SELECT sum(a) FROM {t} WHERE b = 'x'", "SELECT count(*) FROM {t} WHERE a > 2 AND c < 3",
    "SELECT b, count(*) FROM {t} WHERE a IS NULL GROUP BY b ORDER BY b",
    "SELECT count(*) FROM {t} WHERE b IN ('x', 'z')",
    "SELECT sum(c) FROM {t} WHERE a > 100", "SELECT a, b FROM {t} WHERE c IS NOT NULL AND b <> 'y' ORDER BY a, b",
    "SELECT count(*) FROM {t} WHERE a = 1 OR b = 'z'", "SELECT a FROM {t} WHERE a = 3 AND b IS NULL"])
def test_filtered_scans_of_the_file_answer_as_the_table_does(store, sql):
    # the filter DuckDB pushes into the scan is computed as a column and rows dropped by it (nulls: not kept)
    data = pa.table({"a": [1, None, 3, 4, 5] * 20_000, "b": ["x", "y", None, "x", "z"] * 20_000,
                     "c": [1.5, 2.5, 3.5, None, 0.0] * 20_000})
    store.publish("root", "filtered", data, create=True)
    _, dataset = store.read("root", "filtered")
    con = duckdb.connect()
    con.register("file", dataset)
    con.register("memory", data)
    assert con.execute(sql.format(t="file")).fetchall() == con.execute(sql.format(t="memory")).fetchall()


def test_a_column_named_like_the_computed_filter_is_read_as_itself(store):
    data = pa.table({"__e6_keep": [False, True, False] * 1000, "v": [1, 2, 3] * 1000})
    store.publish("root", "keep", data, create=True)
    _, dataset = store.read("root", "keep")
    con = duckdb.connect()
    con.register("file", dataset)
    assert con.execute("SELECT count(*), sum(v) FROM file WHERE v > 1 AND NOT __e6_keep").fetchall() == [(1000, 3000)]
    assert con.execute("SELECT __e6_keep FROM file WHERE v = 2 LIMIT 1").fetchall() == [(True,)]


def test_a_csv_download_of_nested_columns_names_them_and_writes_nothing(root, tmp_path):
    """It was a DownloadError saying the downloaded bytes were not an Arrow stream (the bytes were fine)."""
    root.datasets.upload("nested_csv", pa.table({"id": [1], "tags": [["a", "b"]], "pos": [{"x": 1}]}))
    target = tmp_path / "out.csv"
    with pytest.raises(e6driver.ProgrammingError, match=r"CSV cannot hold columns 'tags' \(list.*'pos' \(struct.*"
                                                        r"parquet, arrow or json"):
        root.datasets.download("nested_csv", str(target))
    assert os.listdir(tmp_path) == []
    root.datasets.download("nested_csv", str(tmp_path / "out.jsonl"))
    assert (tmp_path / "out.jsonl").read_text() == '{"id": 1, "tags": ["a", "b"], "pos": {"x": 1}}\n'


def test_csv_update_reads_columns_as_the_current_types(root, tmp_path):
    """CSV infers types from the values: an update whose amounts happen to be whole, or whose column is empty,
    is still the current version's schema; a value that does not fit is refused, naming the rule."""
    root.datasets.upload("csv_typed", pa.table({"id": pa.array([1], pa.int64()), "amount": [1.5], "note": ["x"]}))
    (tmp_path / "whole.csv").write_text("id,amount,note\n2,3,\n3,,\n")
    assert root.datasets.update("csv_typed", str(tmp_path / "whole.csv")).version == 2
    got = root.datasets.download("csv_typed")
    assert got.schema.field("amount").type == pa.float64() and got.column("amount").to_pylist() == [3.0, None]
    (tmp_path / "bad.csv").write_text("id,amount,note\nseven,1,x\n")
    with pytest.raises(e6driver.ProgrammingError, match="int64: invalid value 'seven'.*allow_schema_change"):
        root.datasets.update("csv_typed", str(tmp_path / "bad.csv"))
    info = root.datasets.update("csv_typed", str(tmp_path / "bad.csv"), allow_schema_change=True)
    assert info.version == 3 and root.datasets.download("csv_typed").schema.field("id").type == pa.string()


def test_csv_column_first_filled_after_the_first_block_is_read():
    """Arrow types a CSV from its first block (1 MiB): a column empty there was null and its first value later
    failed the upload ('conversion error to null'); it is a string now."""
    payload = b"a,b\n" + b",padding-padding-padding\n" * 60000 + b"7,last\n"
    table = read_rows(payload, "csv", Limits()).read_all()
    assert table.schema.field("a").type == pa.string() and table.column("a").to_pylist()[-1] == "7"


@pytest.mark.parametrize("ext", ["jsonl", "json"])
def test_a_version_downloaded_as_json_updates_it_unchanged(root, tmp_path, ext):
    """JSON has no dates, timestamps or decimals: they travel as text (or are inferred as timestamps), so the file
    a download wrote was refused as an update ('d' changed from date32 to timestamp[s]). A JSON update's columns
    are cast to the current version's types when that is exact; a value that is not keeps the schema check."""
    table = pa.table({"d": pa.array([datetime.date(2024, 1, 1), None]),
                      "ts": pa.array([datetime.datetime(2024, 1, 1, 1, 2, 3, 456789), None], pa.timestamp("us")),
                      "dec": pa.array([decimal.Decimal("1.23"), decimal.Decimal("-9.99")], pa.decimal128(10, 2)),
                      "n": pa.array([1, None], pa.int64())})
    name = f"json_round_{ext}"
    root.datasets.upload(name, table)
    path = root.datasets.download(name, str(tmp_path / f"v1.{ext}"))
    assert root.datasets.update(name, path).version == 2
    assert root.datasets.download(name).equals(table)
    (tmp_path / "bad.jsonl").write_text('{"d": "soon", "ts": null, "dec": "1.23", "n": 1}\n')
    with pytest.raises(e6driver.ProgrammingError, match="'d' changed from date32.day. to string"):
        root.datasets.update(name, str(tmp_path / "bad.jsonl"))


@pytest.mark.parametrize("column, type_name", [
    (pa.array([1.5], pa.float16()), "halffloat"),
    (pa.array([decimal.Decimal("1.5")], pa.decimal256(40, 1)), "decimal256(40, 1)"),
    (pa.array([[1.5]], pa.list_(pa.float16())), "list<item: halffloat>"),
])
def test_a_column_sql_cannot_read_is_refused_at_upload(root, column, type_name):
    """DuckDB has no type for some Arrow ones: such a version was stored, then every query failed with
    'Unsupported Internal Arrow Type e' (UNIMPLEMENTED). The upload is refused, naming the column and its type."""
    data = pa.table({"ok": [1], "odd": column})
    with pytest.raises(e6driver.ProgrammingError, match=f"column 'odd' has Arrow type {re.escape(type_name)}, "
                                                        "which SQL cannot read") as caught:
        root.datasets.upload("sql_unreadable", data)
    assert caught.value.grpc_code == "INVALID_ARGUMENT"
    with pytest.raises(e6driver.DatasetNotFoundError):
        root.datasets.download("sql_unreadable")
