"""Every supported DuckDB type through the server, decoded by the independent test reader."""
from __future__ import annotations

import datetime
import decimal
import json

from e6driver.protocol.result_metadata import parse_result_metadata

E = datetime.datetime


def _one_row(client, sql):
    blob, rows = client.query(sql)
    count, columns = parse_result_metadata(blob)
    assert count == len(rows) == 2
    return columns, rows


def test_scalar_types(client):
    columns, rows = _one_row(client, """
        select * from (values
          (true, 1::tinyint, 2::smallint, 3::integer, 4::bigint, 5::utinyint, 6::usmallint, 7::uinteger,
           18446744073709551615::ubigint, (-170141183460469231731687303715884105727)::hugeint,
           1.5::float, 2.25::double, -12345.678::decimal(18,3), 'héllo', X'00FF6162',
           date '1969-12-31', timestamp '2020-01-01 01:02:03.123456', timestamp_ns '1900-01-01 00:00:00.000000999',
           timestamptz '2020-06-01 12:00:00+02', time '13:14:15.5', interval '3 days 04:05:06.000007'),
          (null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null,
           null, null, null, null, null)) t(b, ti, si, i, bi, ut, us, ui, ub, hi, f, d, dec, s, bl,
           dt, ts, tsn, tz, tm, iv)""")
    types = [c[1] for c in columns]
    assert types == ["BOOLEAN", "INTEGER", "INTEGER", "INTEGER", "LONG", "INTEGER", "INTEGER", "LONG",
                     "DECIMAL128", "DECIMAL128", "FLOAT", "DOUBLE", "DECIMAL128", "STRING", "BINARY",
                     "DATE", "DATETIME", "DATETIME", "TIMESTAMP_TZ", "TIME", "INTERVAL_DAY_SECOND"]
    assert columns[18][2] == "UTC"  # zone of the TIMESTAMP_TZ column
    assert rows[0] == (
        True, 1, 2, 3, 4, 5, 6, 7, decimal.Decimal(18446744073709551615),
        decimal.Decimal(-170141183460469231731687303715884105727), 1.5, 2.25, decimal.Decimal("-12345.678"),
        "héllo", b"\x00\xffab", datetime.date(1969, 12, 31), E(2020, 1, 1, 1, 2, 3, 123456),
        E(1900, 1, 1), (E(2020, 6, 1, 10, 0), "UTC"), "13:14:15.500000",
        datetime.timedelta(days=3, hours=4, minutes=5, seconds=6, microseconds=7))
    assert rows[1] == (None,) * 21


def test_text_renderable_and_nested_types(client):
    columns, rows = _one_row(client, """
        select * from (values
          (uuid '00000000-0000-0000-0000-000000000001', 'b'::enum('a', 'b'), '1011'::bit,
           [1, 2, null], {'k': 'v', 'n': 1}, map {'x': 1}, [1, 2]::integer[2], null),
          (null, null, null, null, null, null, null, null)) t(u, e, bits, l, st, m, arr, n)""")
    assert [c[1] for c in columns] == ["STRING", "STRING", "STRING", "ARRAY", "STRUCT", "MAP", "ARRAY", "NULL"]
    first = rows[0]
    assert first[:3] == ("00000000-0000-0000-0000-000000000001", "b", "1011")
    assert json.loads(first[3]) == [1, 2, None]
    assert json.loads(first[4]) == {"k": "v", "n": 1}
    assert json.loads(first[5]) == {"x": 1}
    assert json.loads(first[6]) == [1, 2]
    assert first[7] is None
    assert rows[1] == (None,) * 8


def test_unnamed_structs_are_json_arrays(client):
    """DuckDB's unnamed STRUCT (row(...), a parenthesised list) is sent as a JSON array of its members, at top level
    as when nested; its text cast ("(1, a, b)") would lose where a member ends."""
    columns, rows = _one_row(client, """
        select * from (values (row(1, 'a, b'), [row(2, 'x')], {'k': row(true, null)}),
                              (null, null, null)) t(r, l, s)""")
    assert [c[1] for c in columns] == ["STRUCT", "ARRAY", "STRUCT"]
    assert [json.loads(v) for v in rows[0]] == [[1, "a, b"], [[2, "x"]], {"k": [True, None]}]
    assert rows[1] == (None,) * 3


def test_zero_row_result_keeps_schema(client):
    blob, rows = client.query("select 1 as a, 'x' as b where 1 = 0")
    assert parse_result_metadata(blob) == (0, [("a", "INTEGER", "", ""), ("b", "STRING", "", "")])
    assert rows == []


def test_catalog_and_schema_of_the_request(client):
    client.query("create schema sales")
    client.query("create table orders(id int, amount decimal(7,2))", catalog="local", schema="sales")
    client.query("insert into orders values (1, 9.99)", catalog="local", schema="sales")
    assert client.query("select * from orders", catalog="local", schema="sales")[1] == [
        (1, decimal.Decimal("9.99"))]
    assert client.query("select * from sales.orders")[1] == [(1, decimal.Decimal("9.99"))]


def test_browsing(client, stub):
    from e6driver._proto import e6x_engine_pb2 as pb

    client.query("create schema if not exists browse")
    client.query("create table browse.items(id bigint, tags varchar[], attrs map(varchar, integer), "
                 "props struct(a integer, b varchar), price decimal(9,2), seen timestamptz)")
    client.query("create view browse.items_v as select id from browse.items")
    catalogs = stub.getCataloges(pb.GetCatalogesRequest()).catalogResponses
    # DuckDB's catalog, then the stores' (objects, datasets, then the rooms plugged in as SQL catalogs)
    assert [(c.name, c.isDefault) for c in catalogs] == [("local", True), ("objects", False), ("datasets", False),
                                                         ("streams", False), ("kv", False), ("system", False)]
    schemas = stub.getSchemaNamesV2(pb.GetSchemaNamesV2Request(sessionId=client.session, catalog="local"))
    assert {"main", "browse"} <= set(schemas.schemas)
    assert "information_schema" not in schemas.schemas
    tables = stub.getTablesV2(pb.GetTablesV2Request(sessionId=client.session, catalog="", schema="browse"))
    assert list(tables.tables) == ["items", "items_v"]
    cols = stub.getColumnsV2(pb.GetColumnsV2Request(sessionId=client.session, catalog="local",
                                                    schema="browse", table="items"))
    assert [(f.fieldName, f.fieldType) for f in cols.fieldInfo] == [
        ("id", "bigint"), ("tags", "array<string>"), ("attrs", "map<string,int>"),
        ("props", "struct<a:int,b:string>"), ("price", "decimal(9,2)"), ("seen", "timestamp_tz")]
    client.query("create view browse.tuples_v as select row(1, 'a') as r, [row(2.5, [1])] as l, "
                 "{'k': row(true, null)} as s")
    cols = stub.getColumnsV2(pb.GetColumnsV2Request(sessionId=client.session, catalog="local",
                                                    schema="browse", table="tuples_v"))
    # unnamed STRUCTs arrive as STRUCT vectors holding JSON arrays: their members' types in order, no names
    assert [(f.fieldName, f.fieldType) for f in cols.fieldInfo] == [
        ("r", "struct<int,string>"), ("l", "array<struct<decimal(2,1),array<int>>>"),
        ("s", "struct<k:struct<boolean,null>>")]
    none = stub.getColumnsV2(pb.GetColumnsV2Request(sessionId=client.session, schema="browse", table="nope"))
    assert list(none.fieldInfo) == []


def test_timestamptz_zone_follows_the_session_time_zone(client):
    blob, rows = client.query("set TimeZone = 'Asia/Kolkata'; select timestamptz '2020-01-01 00:00:00+00' as t")
    assert parse_result_metadata(blob)[1] == [("t", "TIMESTAMP_TZ", "Asia/Kolkata", "")]
    assert rows == [((E(2020, 1, 1), "Asia/Kolkata"),)]
    assert client.query("select current_setting('TimeZone') as tz")[1] == [("Asia/Kolkata",)]  # per session


def test_browsing_matches_names_in_any_case(client, stub):
    """DuckDB's names are case-insensitive (SELECT * FROM mixed_case reads MiXed_Case): so are the browsing calls,
    which answered nothing for a name in another case."""
    from e6driver._proto import e6x_engine_pb2 as pb

    client.query('create schema if not exists "CaseSchema"')
    client.query('create table "CaseSchema"."MiXed_Case" ("Id" integer)')
    tables = stub.getTablesV2(pb.GetTablesV2Request(sessionId=client.session, catalog="LOCAL", schema="caseschema"))
    assert list(tables.tables) == ["MiXed_Case"]
    for table in ("mixed_case", "MIXED_CASE", "MiXed_Case"):
        cols = stub.getColumnsV2(pb.GetColumnsV2Request(sessionId=client.session, catalog="local",
                                                        schema="CASESCHEMA", table=table))
        assert [(f.fieldName, f.fieldType) for f in cols.fieldInfo] == [("Id", "int")], table


def test_timestamptz_ns_is_a_timestamp_tz_in_the_session_zone(client, stub):
    """DuckDB's TIMESTAMPTZ_NS (what an Arrow timestamp[ns, tz] reads as) was sent as text, reflected as string."""
    from e6driver._proto import e6x_engine_pb2 as pb

    blob, rows = client.query("set TimeZone = 'Asia/Kolkata'; "
                              "select TIMESTAMPTZ_NS '2020-01-01 00:00:00.123456789+00' as t")
    assert parse_result_metadata(blob)[1] == [("t", "TIMESTAMP_TZ", "Asia/Kolkata", "")]
    assert rows == [((E(2020, 1, 1, 0, 0, 0, 123456), "Asia/Kolkata"),)]
    client.query("set TimeZone = 'UTC'")
    client.query("create schema if not exists browse_ns")
    client.query("create or replace table browse_ns.t (seen timestamptz_ns)")
    cols = stub.getColumnsV2(pb.GetColumnsV2Request(sessionId=client.session, catalog="local", schema="browse_ns",
                                                    table="t"))
    assert [(f.fieldName, f.fieldType) for f in cols.fieldInfo] == [("seen", "timestamp_tz")]
