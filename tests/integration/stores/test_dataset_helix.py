"""Datasets the way the Helix Connect SDK's README uses them, adapted to ``conn.datasets``: upload with
progress, list, download to CSV / Parquet / Arrow / JSON lines, update (same schema unless allowed), download
counts, hyphenated names in SQL, and not-found vs no-permission by name and by id."""
from __future__ import annotations

import json
import os
import uuid

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

import e6driver
from mock_server.server import EngineServer

SALES = pa.table({"id": pa.array(range(200_000), pa.int64()),
                  "region": pa.array(["north", "south", "east", "west"] * 50_000),
                  "amount": pa.array([i * 0.5 for i in range(200_000)], pa.float64())})  # several 1 MiB chunks
SMALL = pa.table({"id": [1, 2, 3], "region": ["a", "b", "c"], "amount": [1.5, 2.5, 3.5]})


def _uploads(data_dir: str) -> list:
    return os.listdir(os.path.join(data_dir, "datasets", ".uploads"))


def test_upload_with_progress_then_list_download_update(alice, tmp_path):
    calls = []
    info = alice.datasets.upload("helix_sales", SALES, description="sales", freshness="daily",
                                 progress_callback=lambda done, total: calls.append((done, total)))
    assert (info.name, info.version, info.rows, info.downloads) == ("helix_sales", 1, SALES.num_rows, 0)
    total = calls[-1][1]
    assert len(calls) > 2 and calls[-1] == (total, total) and {t for _, t in calls} == {total}
    assert [d for d, _ in calls] == sorted(d for d, _ in calls) and calls[0][0] > 0
    listed = {d.name: d for d in alice.datasets.list()}["helix_sales"]
    assert (listed.id, listed.version, listed.description, listed.freshness) == (info.id, 1, "sales", "daily")

    csv_path = alice.datasets.download("helix_sales", str(tmp_path / "sales.csv"))
    assert pcsv.read_csv(csv_path).equals(SALES)
    parquet_path = alice.datasets.download("helix_sales", tmp_path / "sales.parquet")
    assert pq.read_table(parquet_path).equals(SALES)

    updates = []
    second = alice.datasets.update("helix_sales", SMALL, progress_callback=lambda d, t: updates.append((d, t)))
    assert (second.version, second.rows) == (2, 3) and updates[-1][0] == updates[-1][1] > 0
    assert alice.datasets.download(info.id, str(tmp_path / "v1.parquet"), version=1) == str(tmp_path / "v1.parquet")
    assert pq.read_table(tmp_path / "v1.parquet").num_rows == SALES.num_rows


@pytest.mark.parametrize("name, reader", [
    ("out.arrow", lambda p: feather.read_table(p)), ("out.feather", lambda p: feather.read_table(p)),
    ("out.ipc", lambda p: pa.ipc.open_file(p).read_all()),
    ("out.arrows", lambda p: pa.ipc.open_stream(pa.OSFile(p)).read_all()),
    ("out.jsonl", None), ("out.ndjson", None), ("out.json", None)])
def test_download_formats_by_extension(root, tmp_path, name, reader):
    table = pa.table({"id": [1, 2], "when": pa.array([0, 86_400_000_000], pa.timestamp("us")),
                      "note": ["x", None]})
    if "dl_formats" not in [d.name for d in root.datasets.list()]:
        root.datasets.upload("dl_formats", table)
    path = root.datasets.download("dl_formats", str(tmp_path / name))
    if reader is not None:
        assert reader(path).equals(table)
    else:
        lines = [json.loads(line) for line in open(path, encoding="utf-8")]
        assert lines == [{"id": 1, "when": "1970-01-01T00:00:00", "note": "x"},
                         {"id": 2, "when": "1970-01-02T00:00:00", "note": None}]
    assert os.listdir(tmp_path) == [name]  # no temporary file left


def test_download_format_errors_and_override(root, tmp_path):
    root.datasets.upload("dl_override", SMALL)
    for bad in ("out.xlsx", "out", "out.parquet.tmp"):
        with pytest.raises(e6driver.ProgrammingError, match="cannot tell the file format"):
            root.datasets.download("dl_override", str(tmp_path / bad))
    with pytest.raises(e6driver.ProgrammingError, match="unknown dataset file format 'xml'"):
        root.datasets.download("dl_override", str(tmp_path / "a.csv"), format="xml")
    with pytest.raises(e6driver.ProgrammingError, match="needs an output_path"):
        root.datasets.download("dl_override", format="csv")
    path = root.datasets.download("dl_override", str(tmp_path / "data.bin"), format="parquet")
    assert pq.read_table(path).equals(SMALL)
    assert sorted(os.listdir(tmp_path)) == ["data.bin"]


def test_download_streams_to_disk_and_fails_without_a_partial_file(root, tmp_path):
    root.datasets.upload("dl_stream", SALES)
    seen = []

    def progress(done, total):  # what the temporary file holds while later chunks are still to come
        parts = [f for f in os.listdir(tmp_path) if f.endswith(".part")]
        seen.append((done, total, os.path.getsize(tmp_path / parts[0]) if parts else 0))
    root.datasets.download("dl_stream", str(tmp_path / "s.csv"), progress_callback=progress)
    assert any(written > 0 for done, total, written in seen if done < total)  # batches written as they came
    assert pcsv.read_csv(tmp_path / "s.csv").num_rows == SALES.num_rows

    def fail(done, total):
        if done > 1024 * 1024:
            raise KeyboardInterrupt("stop")
    with pytest.raises(KeyboardInterrupt):
        root.datasets.download("dl_stream", str(tmp_path / "broken.parquet"), progress_callback=fail)
    with pytest.raises(e6driver.DatasetNotFoundError):
        root.datasets.download("dl_stream", str(tmp_path / "none.csv"), version=9)
    assert sorted(os.listdir(tmp_path)) == ["s.csv"]


def test_a_raising_progress_callback_aborts_the_upload(connect, data_dir, tmp_path):
    bob = connect("bob")

    class Stop(Exception):
        pass

    def stop_after_first(done, total):
        raise Stop(f"stopped at {done}")

    def stop_at_end(done, total):  # the last call: every byte was sent, still nothing is published
        if done == total:
            raise Stop("stopped at the end")
    with pytest.raises(Stop):
        bob.datasets.upload("aborted_new", SALES, progress_callback=stop_after_first)
    with pytest.raises(Stop):
        bob.datasets.upload("aborted_new", SMALL, progress_callback=stop_at_end)
    assert "aborted_new" not in [d.name for d in bob.datasets.list()]
    bob.datasets.upload("aborted_update", SMALL)
    for progress in (stop_after_first, stop_at_end):
        with pytest.raises(Stop):
            bob.datasets.update("aborted_update", SALES, progress_callback=progress, allow_schema_change=True)
    assert [(d.version, d.versions) for d in bob.datasets.list() if d.name == "aborted_update"] == [(1, 1)]
    assert bob.datasets.download("aborted_update").equals(SMALL)
    assert _uploads(data_dir) == []  # what the server had received was discarded


def test_json_uploads(root, tmp_path):
    lines = tmp_path / "events.jsonl"
    lines.write_text('{"id": 1, "tags": ["a"], "user": {"name": "x"}}\n\n{"id": 2, "extra": true}\n')
    info = root.datasets.upload("json_lines", str(lines))
    table = root.datasets.download("json_lines")
    assert info.rows == 2 and table.column("id").to_pylist() == [1, 2]
    assert table.column("extra").to_pylist() == [None, True]  # a key of a later row is a column of every row
    array = tmp_path / "events.json"
    array.write_text(json.dumps([{"id": 3, "v": 1.5}, {"id": 4, "v": None}]))
    assert root.datasets.upload("json_array", array).rows == 2
    ndjson = tmp_path / "more.ndjson"
    ndjson.write_text('{"id": 5, "v": 2.5}\n')
    assert root.datasets.update("json_array", str(ndjson)).version == 2
    assert root.datasets.upload("json_records", [{"a": 1}, {"a": 2, "b": "x"}]).rows == 2
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 1}\n{"id": \n')
    with pytest.raises(e6driver.ProgrammingError, match="line 2"):
        root.datasets.upload("json_bad", str(bad))
    scalar = tmp_path / "scalar.jsonl"
    scalar.write_text('{"id": 1}\n7\n')
    with pytest.raises(e6driver.ProgrammingError, match="line 2 is not an object"):
        root.datasets.upload("json_bad", str(scalar))
    assert "json_bad" not in [d.name for d in root.datasets.list()]


def test_ipc_file_upload_round_trips(root, tmp_path):
    feather.write_feather(SMALL, str(tmp_path / "in.feather"))
    root.datasets.upload("from_feather", str(tmp_path / "in.feather"))
    root.datasets.download("from_feather", str(tmp_path / "out.arrow"))
    assert feather.read_table(str(tmp_path / "out.arrow")).equals(SMALL)


def test_hyphenated_names_in_sql(alice, rows):
    info = alice.datasets.upload("sales-2024", SMALL)
    assert info.name == "sales-2024"
    alice.datasets.update("sales-2024", SMALL.slice(0, 1))
    assert rows(alice, 'SELECT count(*) FROM datasets.main."sales-2024"') == [(1,)]
    assert rows(alice, 'SELECT count(*) FROM datasets.main."sales-2024@1"') == [(3,)]
    assert rows(alice, 'SELECT sum(id) FROM datasets.alice."sales-2024"') == [(1,)]
    assert rows(alice, "SELECT name FROM datasets.information.datasets WHERE name = 'sales-2024'") == \
        [("sales-2024",)]
    assert "sales-2024" in alice.get_tables("datasets", "main")
    with pytest.raises(e6driver.ProgrammingError):  # unquoted it is a subtraction
        rows(alice, "SELECT * FROM datasets.main.sales-2024")


def test_hyphenated_names_qualify_columns(alice, rows):
    """Like any table, a dataset read under its own name is that name's alias ("sales-q1".id bound to nothing:
    'Referenced table "sales-q1" not found', naming the engine's registered stream as the candidate)."""
    alice.datasets.upload("sales-q1", SMALL)
    assert rows(alice, 'SELECT "sales-q1".id FROM datasets.main."sales-q1" WHERE "sales-q1".id > 2') == [(3,)]
    assert rows(alice, 'SELECT max("sales-q1@1".id) FROM datasets.main."sales-q1@1"') == [(3,)]
    assert rows(alice, 'SELECT count(s.id) FROM datasets.main."sales-q1" s') == [(3,)]
    # "AS" is a reserved word, and was taken for one after which the table needs its own name as alias:
    # '... AS "sales-q1" AS s' was a syntax error
    assert rows(alice, 'SELECT count(s.id) FROM datasets.main."sales-q1" AS s') == [(3,)]
    alice.datasets.upload("plain_as", SMALL)
    assert rows(alice, "SELECT count(q.id) FROM datasets.main.plain_as AS q") == [(3,)]


def test_columns_qualified_with_the_datasets_full_name(alice, rows):
    """``main.sales.region`` (SQLAlchemy's spelling for a table with schema="main" under catalog datasets) and
    ``datasets.main.sales.region`` bound to nothing: the table was rewritten, its qualifiers were not."""
    alice.datasets.upload("qualified", SMALL)
    assert rows(alice, "SELECT datasets.main.qualified.id FROM datasets.main.qualified "
                       "WHERE datasets.main.qualified.amount > 2 ORDER BY datasets.main.qualified.id") == [(2,), (3,)]
    cur = alice.cursor("datasets", "main")
    cur.execute("SELECT main.qualified.region, sum(main.qualified.amount) FROM main.qualified "
                "GROUP BY main.qualified.region ORDER BY main.qualified.region")
    assert cur.fetchall() == [("a", 1.5), ("b", 2.5), ("c", 3.5)]
    assert rows(alice, "SELECT 'main.qualified.id', main.qualified FROM (SELECT 1 AS qualified) main") == \
        [("main.qualified.id", 1)]  # a string, and a two-part name that is not a column qualifier, untouched


def test_update_refuses_another_schema_unless_allowed(alice):
    alice.datasets.upload("schema_ds", SMALL)
    changed = pa.table({"id": ["1"], "region": ["a"], "qty": [1]})
    with pytest.raises(e6driver.ProgrammingError) as info:
        alice.datasets.update("schema_ds", changed)
    message = str(info.value)
    assert "'amount' missing" in message and "'qty' added" in message and "'id' changed from int64 to string" in \
        message and "allow_schema_change=True" in message and "'region'" not in message
    assert [d.version for d in alice.datasets.list() if d.name == "schema_ds"] == [1]
    reordered = SMALL.select(["amount", "id", "region"])
    assert alice.datasets.update("schema_ds", reordered).version == 2  # same columns, another order
    third = alice.datasets.update("schema_ds", changed, allow_schema_change=True)
    assert third.version == 3 and alice.datasets.download("schema_ds").equals(changed)
    with pytest.raises(e6driver.ProgrammingError, match="'qty' missing"):
        alice.datasets.update("schema_ds", SMALL)


def test_download_counts_are_listed_and_in_sql(alice, bob, rows, tmp_path):
    alice.datasets.upload("counted", SMALL)
    alice.datasets.grant("counted", "bob", "read")

    def count(conn):
        return {d.name: d.downloads for d in conn.datasets.list()}["counted"]
    assert count(alice) == 0
    alice.datasets.download("counted")
    bob.datasets.download("counted", str(tmp_path / "c.csv"))
    alice.datasets.download("counted", version=1)
    assert rows(alice, "SELECT count(*) FROM datasets.main.counted") == [(3,)]  # SQL reads are not counted
    assert count(alice) == count(bob) == 3
    assert rows(bob, "SELECT downloads FROM datasets.information.datasets WHERE name = 'counted'") == [(3,)]
    with pytest.raises(e6driver.DatasetNotFoundError):
        alice.datasets.download("counted", version=5)
    assert count(alice) == 3  # a failed download is not counted


def test_download_counts_survive_a_restart(tmp_path):
    users = {"root": "r"}
    for expected in (1, 2):
        with EngineServer("127.0.0.1", 0, data_dir=str(tmp_path), users=users) as srv:
            with e6driver.connect(host="127.0.0.1", port=srv.port, username="root", password="r") as conn:
                if expected == 1:
                    conn.datasets.upload("kept_count", SMALL)
                conn.datasets.download("kept_count")
                assert [d.downloads for d in conn.datasets.list()] == [expected]


def test_not_found_and_no_permission_are_consistent(alice, bob, rows):
    """A dataset bob may not read answers exactly like one that does not exist, by name and by id, for every
    operation; PermissionDeniedError only once he may read it but the operation needs more."""
    hidden = alice.datasets.upload("hidden_ds", SMALL)
    missing_id = str(uuid.uuid4())

    def operations(conn, dataset):
        return {"download": lambda: conn.datasets.download(dataset),
                "download_to": lambda: conn.datasets.download(dataset, "unused.csv"),
                "update": lambda: conn.datasets.update(dataset, SMALL),
                "subscribe": lambda: conn.datasets.subscribe(dataset),
                "unsubscribe": lambda: conn.datasets.unsubscribe(dataset),
                "grant": lambda: conn.datasets.grant(dataset, "bob", "read")}

    for given, missing in ((hidden.name, "nothing_here"), (hidden.id, missing_id)):
        for op, call in operations(bob, given).items():
            with pytest.raises(e6driver.DatasetNotFoundError) as seen:
                call()
            with pytest.raises(e6driver.DatasetNotFoundError) as absent:
                operations(bob, missing)[op]()
            assert str(seen.value).replace(given, "X") == str(absent.value).replace(missing, "X"), op
            assert "hidden_ds" not in str(seen.value) or given == "hidden_ds"  # an id never reveals the name
    for sql in ('SELECT * FROM datasets.main.hidden_ds', 'SELECT * FROM datasets.alice."hidden_ds@1"'):
        with pytest.raises(e6driver.ProgrammingError, match="'hidden_ds' not found"):
            rows(bob, sql)
    with pytest.raises(e6driver.ProgrammingError, match="'nothing_here' not found"):
        rows(bob, "SELECT * FROM datasets.main.nothing_here")
    assert "hidden_ds" not in [d.name for d in bob.datasets.list()]

    alice.datasets.grant(hidden.id, "bob", "read")  # now bob sees it: refusals say why
    for given in (hidden.name, hidden.id):
        with pytest.raises(e6driver.PermissionDeniedError, match="may only read"):
            bob.datasets.update(given, SMALL)
        with pytest.raises(e6driver.PermissionDeniedError, match="not its owner"):
            bob.datasets.grant(given, "bob", "write")
        assert bob.datasets.download(given).equals(SMALL)
    with pytest.raises(e6driver.ProgrammingError, match="already exists"):  # names are one namespace
        bob.datasets.upload("hidden_ds", SMALL)


def test_large_and_plain_strings_update_each_other(root):
    """pandas 3's strings become Arrow large_string, a table's are string: the same VARCHAR column to SQL. Neither
    is refused as the other's update ('region' changed from large_string to string), and a version keeps the
    dataset's types, so the versions downloaded concatenate."""
    large = pa.table({"region": pa.array(["north", "south"], pa.large_string()), "amount": [1.5, 2.5]})
    plain = pa.table({"region": pa.array(["west"], pa.string()), "amount": [3.0]})
    for name, first, second in (("helix_large_first", large, plain), ("helix_plain_first", plain, large)):
        root.datasets.upload(name, first)
        assert root.datasets.update(name, second).version == 2
        versions = [root.datasets.download(name, version=v) for v in (1, 2)]
        assert versions[1].schema == first.schema and len(pa.concat_tables(versions)) == 3


def test_a_column_without_values_takes_a_type_later(root):
    """A column with no value has Arrow's null type (pandas' all-None column, a JSON key always null): it carries
    no type, so a version giving the column values is no other schema ('note' changed from null to string), and
    an update whose column happens to hold no value gets the dataset's type."""
    root.datasets.upload("helix_notes", pa.table({"a": [1, 2], "note": pa.nulls(2)}))
    assert root.datasets.update("helix_notes", pa.table({"a": [3], "note": ["hi"]})).version == 2
    assert root.datasets.update("helix_notes", pa.table({"a": [4], "note": pa.nulls(1)})).version == 3
    latest = root.datasets.download("helix_notes")
    assert latest.schema.field("note").type == pa.string() and latest.column("note").to_pylist() == [None]
    with pytest.raises(e6driver.ProgrammingError, match="'note' changed from string to int64"):
        root.datasets.update("helix_notes", pa.table({"a": [5], "note": [7]}))
