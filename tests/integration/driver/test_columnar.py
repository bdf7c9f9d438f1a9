"""fetch_arrow_table / fetch_arrow_batches / fetch_df agree with the row path on every type."""
from __future__ import annotations

import datetime
import decimal

import pyarrow as pa
import pytest

MIX = """
SELECT CASE WHEN i % 10 = 0 THEN NULL ELSE i END::BIGINT AS c_bigint,
       CASE WHEN i % 10 = 1 THEN NULL ELSE (i % 1000)::INTEGER END AS c_int,
       CASE WHEN i % 10 = 2 THEN NULL ELSE i * 0.5 END::DOUBLE AS c_double,
       CASE WHEN i % 10 = 3 THEN NULL ELSE i % 2 = 0 END AS c_bool,
       CASE WHEN i % 10 = 4 THEN NULL ELSE 'név-' || i END AS c_varchar,
       CASE WHEN i % 10 = 5 THEN NULL ELSE DATE '1900-01-01' + (i % 90000)::INTEGER END AS c_date,
       CASE WHEN i % 10 = 6 THEN NULL ELSE TIMESTAMP '1960-01-01' + to_microseconds(i * 1000003) END AS c_ts,
       CASE WHEN i % 10 = 7 THEN NULL ELSE (i / 7.0)::DECIMAL(18,4) END AS c_dec,
       CASE WHEN i % 10 = 8 THEN NULL ELSE ('x' || i)::BLOB END AS c_blob,
       CASE WHEN i % 10 = 9 THEN NULL ELSE (i * 0.25)::FLOAT END AS c_float,
       CASE WHEN i % 10 = 0 THEN NULL ELSE to_microseconds(i) END AS c_interval,
       CASE WHEN i % 10 = 1 THEN NULL ELSE [i, i + 1] END AS c_list,
       CASE WHEN i % 10 = 2 THEN NULL ELSE TIME '00:00:00' + to_microseconds(i) END AS c_time,
       CASE WHEN i % 10 = 3 THEN NULL ELSE (i::HUGEINT * 1000000000000000000000) END AS c_huge
FROM range({rows}) t(i) ORDER BY i
"""


@pytest.mark.parametrize("rows", [0, 1, 30000])
def test_arrow_table_equals_rows(cur, rows):
    cur.execute(MIX.format(rows=rows))
    expected = cur.fetchall()
    names = [d[0] for d in cur.description]
    cur.execute(MIX.format(rows=rows))
    table = cur.fetch_arrow_table()
    assert table.num_rows == rows and table.column_names == names
    assert table.schema.field("c_bigint").type == pa.int64()
    assert table.schema.field("c_int").type == pa.int32()
    assert table.schema.field("c_date").type == pa.date32()
    assert table.schema.field("c_ts").type == pa.timestamp("us")
    assert table.schema.field("c_blob").type == pa.binary()
    got = [tuple(row[n] for n in names) for row in table.to_pylist()]
    assert got == expected


def test_arrow_after_partial_row_fetch(cur):
    cur.execute("SELECT range AS i, (range / 3)::DECIMAL(10,2) AS d FROM range(20000) ORDER BY 1")
    first = cur.fetchmany(5)
    table = cur.fetch_arrow_table()
    assert [r[0] for r in first] == list(range(5))
    assert table.column("i").to_pylist() == list(range(5, 20000))
    assert table.column("d")[0].as_py() == decimal.Decimal("1.67")


def test_arrow_batches_stream_one_per_chunk(cur):
    cur.execute("SELECT range, repeat('y', 200) FROM range(100000)")
    batches = list(cur.fetch_arrow_batches())
    assert len(batches) > 1 and sum(b.num_rows for b in batches) == 100000
    assert cur.rowcount == 100000


def test_fetch_df(cur):
    pandas = pytest.importorskip("pandas")
    cur.execute("SELECT range AS i, 'v' || range AS s, range * 1.5 AS f FROM range(1000) ORDER BY 1")
    frame = cur.fetch_df()
    assert isinstance(frame, pandas.DataFrame) and list(frame.columns) == ["i", "s", "f"]
    assert len(frame) == 1000 and frame["i"].sum() == sum(range(1000)) and frame["s"][999] == "v999"


def test_timestamptz_column_keeps_instants(cur):
    cur.execute("SELECT TIMESTAMPTZ '2020-01-01 00:00:00+05:30' AS t UNION ALL SELECT NULL")
    table = cur.fetch_arrow_table()
    assert table.column("t").to_pylist()[0] == datetime.datetime(2019, 12, 31, 18, 30, tzinfo=datetime.timezone.utc)
