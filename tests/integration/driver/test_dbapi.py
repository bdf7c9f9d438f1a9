"""PEP 249 surface of the driver against the local engine."""
from __future__ import annotations

import gc
import pickle

import pytest

import e6driver
import e6driver.aio
from e6driver import (BINARY, DATETIME, NUMBER, ROWID, STRING, DatabaseError, DataError, Error, IntegrityError,
                      InterfaceError, InternalError, OperationalError, ProgrammingError)


def test_module_globals():
    assert e6driver.apilevel == "2.0"
    assert e6driver.threadsafety == 2
    assert e6driver.paramstyle == "pyformat"
    assert e6driver.__impl__ in ("c", "python")
    for name in ("Warning", "Error", "InterfaceError", "DatabaseError", "DataError", "OperationalError",
                 "IntegrityError", "InternalError", "ProgrammingError", "NotSupportedError"):
        assert issubclass(getattr(e6driver, name), Exception)


def test_exceptions_are_connection_attributes(conn):
    assert conn.ProgrammingError is ProgrammingError
    assert conn.Error is Error and conn.DataError is DataError


def test_execute_returns_query_id_and_sets_description(cur):
    query_id = cur.execute("SELECT 1 AS one, 'x' AS letter")
    assert isinstance(query_id, str) and query_id == cur.query_id
    assert [d[0] for d in cur.description] == ["one", "letter"]
    assert all(len(d) == 7 for d in cur.description)
    assert cur.description[0][1] == NUMBER and cur.description[1][1] == STRING
    assert cur.description[0][1] != STRING
    assert cur.fetchone() == (1, "x")
    assert cur.fetchone() is None


def test_description_for_zero_row_result(cur):
    cur.execute("SELECT 1::BIGINT AS a, 'x'::VARCHAR AS b, DATE '2020-01-01' AS c, 'a'::BLOB AS d WHERE false")
    assert [(d[0], d[1]) for d in cur.description] == [("a", "LONG"), ("b", "STRING"), ("c", "DATE"),
                                                        ("d", "BINARY")]
    assert cur.description[2][1] == DATETIME and cur.description[3][1] == BINARY
    assert cur.fetchall() == []
    assert cur.rowcount == 0


def test_type_objects_do_not_match_rowid(cur):
    cur.execute("SELECT 1")
    assert cur.description[0][1] != ROWID


def test_fetchone_returns_tuples_and_iteration(cur):
    cur.execute("SELECT range AS i FROM range(5)")
    assert cur.fetchone() == (0,)
    assert [row for row in cur] == [(1,), (2,), (3,), (4,)]


def test_arraysize_default_and_fetchmany(cur):
    assert cur.arraysize == 1
    cur.execute("SELECT range FROM range(10) ORDER BY 1")
    assert cur.fetchmany() == [(0,)]
    assert cur.fetchmany(3) == [(1,), (2,), (3,)]
    cur.arraysize = 4
    assert cur.fetchmany() == [(4,), (5,), (6,), (7,)]
    assert cur.fetchall() == [(8,), (9,)]  # rows buffered by fetchmany are not lost
    assert cur.fetchmany(5) == []


@pytest.mark.parametrize("size", [0, -1, 2.5, True])
def test_an_arraysize_that_cannot_fetch_rows_is_refused(connect, cur, size):
    with pytest.raises(InterfaceError, match="arraysize"):
        connect(arraysize=size)
    with pytest.raises(InterfaceError, match="arraysize"):
        e6driver.aio.AsyncConnection(host="127.0.0.1", port=1, username="u", password="p", arraysize=size)
    cur.execute("SELECT range FROM range(10) ORDER BY 1")
    for make in (lambda: setattr(cur, "arraysize", size), lambda: cur.connection.cursor(arraysize=size),
                 lambda: e6driver.Cursor(cur.connection, size)):
        with pytest.raises(ProgrammingError, match="arraysize"):
            make()
    assert cur.arraysize == 1 and cur.fetchmany() == [(0,)]  # the refused value left the cursor as it was


@pytest.mark.parametrize("option", ["query_timeout", "rpc_timeout", "connect_timeout"])
@pytest.mark.parametrize("seconds", [0, -1, float("nan"), float("inf"), "soon"])
def test_a_timeout_that_is_not_a_positive_number_of_seconds_is_refused_at_connect(option, seconds):
    for make in (e6driver.connect, e6driver.aio.AsyncConnection):  # lazy: no I/O, the port is closed anyway
        with pytest.raises(InterfaceError, match=option):
            make(host="127.0.0.1", port=1, username="u", password="p", lazy=True, **{option: seconds})


@pytest.mark.parametrize("options, name", [
    ({"auto_resume_timeout": -5}, "auto_resume_timeout"), ({"auto_resume_timeout": 0}, "auto_resume_timeout"),
    ({"auto_resume_timeout": float("nan")}, "auto_resume_timeout"),
    ({"auto_resume_timeout": "soon"}, "auto_resume_timeout"),
    ({"grpc_options": {"grpc_auto_resume_timeout_seconds": -1}}, "grpc_auto_resume_timeout_seconds"),
    ({"grpc_options": {"grpc_prepare_timeout": 0}}, "grpc_prepare_timeout"),
    ({"prefetch": -1}, "prefetch"), ({"prefetch": 2.7}, "prefetch"), ({"prefetch": True}, "prefetch"),
    ({"prefetch": "2"}, "prefetch"), ({"prefetch": None}, "prefetch"),
])
def test_auto_resume_timeout_and_prefetch_that_cannot_work_are_refused_at_connect(options, name):
    """They were taken as given (a resume that gives up at once, -1 chunks as 0, 2.7 as 2) or failed with a
    bare ValueError/TypeError."""
    for make in (e6driver.connect, e6driver.aio.AsyncConnection):
        with pytest.raises(InterfaceError, match=name):
            make(host="127.0.0.1", port=1, username="u", password="p", lazy=True, **options)


def test_prefetch_zero_and_default_resume_timeout_are_accepted(connect):
    conn = connect(prefetch=0, grpc_options={"grpc_auto_resume_timeout_seconds": "60"})
    assert conn.prefetch == 0 and conn.auto_resume_timeout == 60
    cur = conn.cursor()
    cur.execute("SELECT range FROM range(3)")
    assert cur.fetchall() == [(0,), (1,), (2,)]


def test_fetchall_after_fetchone_keeps_buffered_rows(cur):
    cur.execute("SELECT range FROM range(20000) ORDER BY 1")
    first = cur.fetchone()
    rest = cur.fetchall()
    assert first == (0,) and len(rest) == 19999 and rest[0] == (1,) and rest[-1] == (19999,)


def test_rowcount_select_and_dml(cur):
    cur.execute("CREATE OR REPLACE TABLE dbapi_rc (x INTEGER)")
    cur.execute("INSERT INTO dbapi_rc VALUES (1), (2), (3)")
    assert cur.rowcount == 3
    assert cur.description is None
    cur.execute("SELECT * FROM dbapi_rc")
    cur.fetchall()
    assert cur.rowcount == 3
    cur.execute("DROP TABLE dbapi_rc")


def test_executemany_inserts_every_row_and_counts(cur):
    cur.execute("CREATE OR REPLACE TABLE dbapi_many (a INTEGER, b VARCHAR)")
    rows = [(i, f"v'{i}") for i in range(2500)]
    cur.executemany("INSERT INTO dbapi_many VALUES (%s, %s)", rows)
    assert cur.rowcount == 2500
    cur.executemany("INSERT INTO dbapi_many (a, b) VALUES (%(a)s, %(b)s)", [{"a": -1, "b": None}])
    cur.execute("SELECT count(*), sum(a), count(b) FROM dbapi_many")
    assert cur.fetchone() == (2501, sum(range(2500)) - 1, 2500)
    cur.execute("SELECT b FROM dbapi_many WHERE a = 7")
    assert cur.fetchone() == ("v'7",)
    cur.execute("DROP TABLE dbapi_many")


def test_executemany_unescapes_percent_in_the_statement(cur):
    cur.execute('CREATE OR REPLACE TABLE "pct%t" (a INTEGER)')
    cur.executemany('INSERT INTO "pct%%t" VALUES (%s)', [(2,), (3,)])
    cur.execute('SELECT sum(a) FROM "pct%t"')
    assert cur.fetchall() == [(5,)]
    cur.execute('DROP TABLE "pct%t"')


def test_executemany_non_insert_runs_each(cur):
    cur.execute("CREATE OR REPLACE TABLE dbapi_upd (a INTEGER)")
    cur.execute("INSERT INTO dbapi_upd SELECT range FROM range(10)")
    cur.executemany("UPDATE dbapi_upd SET a = a + 100 WHERE a = %s", [(1,), (2,), (3,)])
    assert cur.rowcount == 3
    cur.execute("DROP TABLE dbapi_upd")


def test_fetch_before_execute_is_programming_error(cur):
    with pytest.raises(ProgrammingError):
        cur.fetchone()


def test_closed_cursor_and_connection_raise_interface_error(connect):
    conn = connect()
    cursor = conn.cursor()
    cursor.close()
    with pytest.raises(InterfaceError):
        cursor.execute("SELECT 1")
    conn.close()
    assert conn.closed
    with pytest.raises(InterfaceError):
        conn.cursor()
    conn.close()  # idempotent


def test_commit_and_rollback_have_nothing_to_do_in_autocommit_mode(conn):
    assert conn.autocommit is True  # transactions: tests/integration/driver/test_transactions.py
    conn.commit()
    conn.rollback()


def test_context_managers(connect):
    with connect() as conn:
        with conn.cursor() as cursor:
            cursor.execute("SELECT 42")
            assert cursor.fetchall() == [(42,)]
        assert cursor.closed
    assert conn.closed


def test_setinputsizes_and_setoutputsize_are_noops(cur):
    cur.setinputsizes([10])
    cur.setoutputsize(10)
    cur.setoutputsize(10, 0)


def test_bad_sql_is_programming_error_with_engine_message(cur):
    with pytest.raises(ProgrammingError) as info:
        cur.execute("SELEC 1")
    assert "syntax error" in str(info.value).lower()
    assert info.value.grpc_code == "INVALID_ARGUMENT"
    cur.execute("SELECT 2")  # the cursor stays usable
    assert cur.fetchall() == [(2,)]


def test_unknown_table_is_programming_error(cur):
    with pytest.raises(ProgrammingError, match="no_such_table"):
        cur.execute("SELECT * FROM no_such_table")


def test_constraint_violation_is_integrity_error(cur):
    cur.execute("CREATE OR REPLACE TABLE dbapi_pk (id INTEGER PRIMARY KEY)")
    cur.execute("INSERT INTO dbapi_pk VALUES (1)")
    with pytest.raises(IntegrityError):
        cur.execute("INSERT INTO dbapi_pk VALUES (1)")
    cur.execute("DROP TABLE dbapi_pk")


def test_conversion_error_is_data_error(cur):
    with pytest.raises(DataError):
        cur.execute("SELECT CAST('abc' AS INTEGER)")
        cur.fetchall()


def test_errors_pickle_with_their_fields(cur):
    with pytest.raises(ProgrammingError) as info:
        cur.execute("SELEC 1")
    copy = pickle.loads(pickle.dumps(info.value))
    assert type(copy) is ProgrammingError and str(copy) == str(info.value)
    assert copy.grpc_code == "INVALID_ARGUMENT" and isinstance(copy, DatabaseError)


def test_bad_credentials_raise_authentication_error_from_connect(connect):
    with pytest.raises(e6driver.AuthenticationError) as info:
        connect(password="wrong")
    assert isinstance(info.value, OperationalError)
    assert "wrong" not in str(info.value)  # the password never appears in messages


def test_lazy_connect_defers_authentication_to_first_use(connect):
    conn = connect(password="wrong", lazy=True)
    with pytest.raises(e6driver.AuthenticationError):
        conn.cursor().execute("SELECT 1")
    good = connect(lazy=True)
    cursor = good.cursor()
    cursor.execute("SELECT 1")
    assert cursor.fetchall() == [(1,)]


def test_connect_holds_a_session_before_the_first_statement(connect):
    conn = connect()
    session_id = conn.get_session_id  # the session made by connect(), not a new one
    cursor = conn.cursor()
    cursor.execute("SELECT 1")
    assert cursor.fetchall() == [(1,)] and conn.get_session_id == session_id


def test_unreachable_server_is_operational_error_from_connect():
    with pytest.raises(OperationalError):
        e6driver.connect(host="127.0.0.1", port=1, username="u", password="p", connect_timeout=0.5)
    conn = e6driver.connect(host="127.0.0.1", port=1, username="u", password="p", connect_timeout=0.5,
                            lazy=True)
    with pytest.raises(OperationalError):
        conn.cursor().execute("SELECT 1")
    conn.close()


def test_reexecute_releases_previous_query(server, conn):
    cursor = conn.cursor()
    first = cursor.execute("SELECT range FROM range(100000)")
    cursor.fetchone()
    cursor.execute("SELECT 1")
    with pytest.raises(ProgrammingError):
        cursor.status(first)  # released on the server
    cursor.close()


def test_garbage_collected_cursor_releases_its_query(conn):
    cursor = conn.cursor()
    query_id = cursor.execute("SELECT range FROM range(100000)")
    cursor.fetchone()
    del cursor
    gc.collect()
    other = conn.cursor()
    with pytest.raises(ProgrammingError):
        other.status(query_id)
    other.close()


def test_internal_error_class_exists():
    assert issubclass(InternalError, DatabaseError)
