"""PEP 249: fetching when the last operation produced no result set raises ProgrammingError (issue 16)."""
from __future__ import annotations

import asyncio
import uuid

import pytest

from e6driver import ProgrammingError, aio

FETCHES = {
    "fetchone": lambda cur: cur.fetchone(),
    "fetchmany": lambda cur: cur.fetchmany(5),
    "fetchall": lambda cur: cur.fetchall(),
    "iteration": lambda cur: next(iter(cur)),
    "fetchall_buffer": lambda cur: list(cur.fetchall_buffer()),
    "fetch_arrow_batches": lambda cur: list(cur.fetch_arrow_batches()),
    "fetch_arrow_table": lambda cur: cur.fetch_arrow_table(),
    "fetch_df": lambda cur: cur.fetch_df(),
}


@pytest.fixture
def table(cur):
    name = f"t_{uuid.uuid4().hex[:10]}"
    cur.execute(f"CREATE TABLE {name} (id INTEGER, label VARCHAR)")
    yield name
    cur.execute(f"DROP TABLE IF EXISTS {name}")


@pytest.mark.parametrize("fetch", FETCHES.values(), ids=FETCHES.keys())
def test_fetch_before_any_execute(cur, fetch):
    with pytest.raises(ProgrammingError, match="no query has been executed"):
        fetch(cur)


@pytest.mark.parametrize("fetch", FETCHES.values(), ids=FETCHES.keys())
def test_fetch_after_ddl(cur, fetch):
    name = f"t_{uuid.uuid4().hex[:10]}"
    cur.execute(f"CREATE TABLE {name} (id INTEGER)")
    try:
        assert cur.description is None
        with pytest.raises(ProgrammingError, match="did not produce a result set"):
            fetch(cur)
    finally:
        cur.execute(f"DROP TABLE {name}")


@pytest.mark.parametrize("fetch", FETCHES.values(), ids=FETCHES.keys())
def test_fetch_after_insert(cur, table, fetch):
    cur.execute(f"INSERT INTO {table} VALUES (%s, %s)", (1, "a"))
    assert cur.description is None
    with pytest.raises(ProgrammingError, match="did not produce a result set"):
        fetch(cur)


@pytest.mark.parametrize("fetch", FETCHES.values(), ids=FETCHES.keys())
def test_fetch_after_executemany(cur, table, fetch):
    cur.executemany(f"INSERT INTO {table} VALUES (%s, %s)", [(1, "a"), (2, "b")])
    assert cur.rowcount == 2
    with pytest.raises(ProgrammingError, match="did not produce a result set"):
        fetch(cur)


MANY_WITH_ROWS = {  # statements that return rows, executemany discards them (README); rowcount, rows in the table
    "select": ("SELECT %s AS n", [(1,), (2,), (3,)], 3, 0),
    "insert_returning": ("INSERT INTO {table} VALUES (%s, %s) RETURNING id", [(1, "a"), (2, "b")], 2, 2),
    "update_returning": ("UPDATE {table} SET label = %s WHERE id = %s RETURNING id", [("x", 1), ("y", 9)], 1, 1),
}


@pytest.mark.parametrize("fetch", FETCHES.values(), ids=FETCHES.keys())
@pytest.mark.parametrize("case", MANY_WITH_ROWS.values(), ids=MANY_WITH_ROWS.keys())
def test_fetch_after_executemany_of_statements_returning_rows(cur, table, case, fetch):
    if "UPDATE" in case[0]:
        cur.execute(f"INSERT INTO {table} VALUES (1, 'a')")
    sql, rows, count, stored = case
    cur.executemany(sql.format(table=table), rows)
    assert cur.description is None and cur.rowcount == count
    with pytest.raises(ProgrammingError, match="executemany did not produce a result set"):
        fetch(cur)
    cur.execute(f"SELECT count(*) FROM {table}")  # the statements did run
    assert cur.fetchall() == [(stored,)]


def test_asyncio_executemany_of_a_select_has_no_result_set(server, impl):
    host, port = server.address.rsplit(":", 1)

    async def main():
        async with aio.connect(host=host, port=int(port), username="alice", password="alice-token") as conn:
            cur = conn.cursor()
            await cur.executemany("SELECT %s AS n", [(1,), (2,)])
            assert cur.description is None and cur.rowcount == 2
            with pytest.raises(ProgrammingError, match="executemany did not produce a result set"):
                await cur.fetchall()
            await cur.execute("SELECT 7")
            return await cur.fetchall()

    assert asyncio.run(main()) == [(7,)]


@pytest.mark.parametrize("fetch", FETCHES.values(), ids=FETCHES.keys())
def test_fetch_after_a_failed_execute(cur, fetch):
    cur.execute("SELECT 1")  # a result set before: the failure must not leave it fetchable
    with pytest.raises(ProgrammingError):
        cur.execute("SELECT * FROM no_such_table_anywhere")
    assert cur.description is None
    with pytest.raises(ProgrammingError, match="last operation failed"):
        fetch(cur)


def test_select_after_dml_fetches_again(cur, table):
    cur.execute(f"INSERT INTO {table} VALUES (1, 'a')")
    with pytest.raises(ProgrammingError):
        cur.fetchall()
    cur.execute(f"SELECT id, label FROM {table}")
    assert cur.fetchall() == [(1, "a")]
    assert cur.fetchall() == []  # an exhausted result set is still a result set


def test_zero_row_select_is_a_result_set(cur, table):
    cur.execute(f"SELECT * FROM {table} WHERE 1 = 0")
    assert [d[0] for d in cur.description] == ["id", "label"]
    assert cur.fetchone() is None and cur.fetchall() == [] and cur.fetchmany(3) == []
