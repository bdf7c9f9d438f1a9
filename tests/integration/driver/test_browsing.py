"""Catalog browsing, dry run, explain/analyse, status and clear through the driver's official-client API."""
from __future__ import annotations

import json

import pytest

from e6driver import ProgrammingError


@pytest.fixture
def table(connect):
    conn = connect()
    cursor = conn.cursor()
    cursor.execute("CREATE OR REPLACE TABLE browse_t (id BIGINT, name VARCHAR(16), price DECIMAL(18,4), "
                   "tags VARCHAR[], seen TIMESTAMP)")
    yield "browse_t"
    cursor.execute("DROP TABLE browse_t")
    conn.close()


def test_catalogs_schemas_tables_columns(connect, table):
    conn = connect()
    catalogs = conn.get_catalogs()
    assert {"name": "local", "isDefault": True} in catalogs
    assert "main" in conn.get_schema_names("local")
    assert table in conn.get_tables("local", "main")
    columns = conn.get_columns("local", "main", table)
    assert [c["fieldName"] for c in columns] == ["id", "name", "price", "tags", "seen"]
    types = {c["fieldName"]: c["fieldType"] for c in columns}
    assert types["id"] == "bigint" and types["price"] == "decimal(18,4)" and types["tags"] == "array<string>"


def test_connection_defaults_apply_to_browsing(connect, table):
    conn = connect(catalog="local", database="main")
    assert table in conn.get_tables()
    cursor = conn.cursor()
    assert table in cursor.get_tables()
    assert [c["fieldName"] for c in cursor.get_columns(table)][0] == "id"


def test_cursor_with_catalog_uses_prepare_v2(connect, table):
    conn = connect()
    cursor = conn.cursor(catalog_name="local", db_name="main")
    cursor.execute("SELECT count(*) FROM browse_t")
    assert cursor.fetchall() == [(0,)]


def test_dry_run(connect, table):
    conn = connect(catalog="local", database="main")
    report = json.loads(conn.dry_run("SELECT id FROM browse_t"))  # returned verbatim, as the official client does
    assert report["valid"] is True and report["columns"] == [{"name": "id", "type": "bigint"}]
    report = json.loads(conn.dry_run("SELECT nope FROM browse_t"))
    assert report["valid"] is False and "nope" in report["error"]


def test_explain_analyse_and_status(cur):
    query_id = cur.execute("SELECT range FROM range(1000)")
    assert len(cur.fetchall()) == 1000
    info = cur.explain_analyse()
    assert set(info) == {"is_cached", "parsing_time", "queuing_time", "planner"}
    planner = json.loads(info["planner"])
    for key in ("total_query_time", "executionQueueingTime", "parsingTime"):
        assert isinstance(planner[key], (int, float))
    status = cur.status(query_id)
    assert status.status is True and status.rowCount == 1000
    assert "range" in cur.explain().lower()


def test_connection_clear_and_query_cancel(connect):
    conn = connect()
    cursor = conn.cursor()
    query_id = cursor.execute("SELECT range FROM range(1000000000)")
    conn.query_cancel(None, query_id)
    conn.clear(query_id)
    conn.clear(query_id)  # idempotent
    with pytest.raises(ProgrammingError):
        cursor.status(query_id)


def test_fetching_after_cursor_clear_raises_instead_of_returning_part_of_the_rows(conn, impl):
    """After clear() freed the result, fetchall() returned the rows already buffered (57343 of 99999) as the
    whole rest of the result."""
    cursor = conn.cursor()
    cursor.execute("SELECT range FROM range(100000)")
    assert cursor.fetchone() == (0,)
    cursor.clear()
    assert cursor.description is None
    with pytest.raises(ProgrammingError, match="clear"):
        cursor.fetchall()
    cursor.execute("SELECT 1")  # the cursor itself stays usable
    assert cursor.fetchall() == [(1,)]


def test_ping_and_check_connection(connect):
    conn = connect()
    conn.ping()
    assert conn.check_connection()
    conn.close()
    assert not conn.check_connection()
