"""SQL a tenant must not run on a shared engine, tried by an ordinary user: refused before execution, and
the engine, its settings and other users' data unchanged afterwards."""
from __future__ import annotations

import json
import os

import grpc
import pyarrow as pa
import pytest

from e6driver._proto import e6x_engine_pb2 as pb
from e6driver._proto import e6x_engine_pb2_grpc
from e6driver.errors import DatabaseError, OperationalError, PermissionDeniedError, ProgrammingError
from mock_server.query.sandbox import MAX_SESSION_VARIABLES

from accounts import USERS

REFUSED = [
    "CALL enable_logging(storage='file', storage_path='x')",   # used to abort the whole server process
    "CALL enable_logging()",
    "SELECT * FROM enable_logging()",
    'CALL "enable_logging"()',
    "CALL system.main.enable_logging()",
    "SELECT * FROM duckdb_logs",
    "CALL truncate_duckdb_logs()",
    "ATTACH ':memory:' AS mine",
    "DETACH local",
    "DETACH DATABASE IF EXISTS local",
    "USE memory",
    "USE memory.main",
    "USE system.main",
    "SET search_path = 'memory.main'",
    "LOAD json",
    "INSTALL httpfs",
    "FORCE INSTALL httpfs",
    "PRAGMA threads=1",
    "PRAGMA enable_profiling",
    "PRAGMA database_list",
    "SET GLOBAL TimeZone = 'Asia/Tokyo'",
    "SET threads = 1",
    "SET memory_limit = '1MB'",
    "SET enable_profiling = 'json'",
    "SET profiling_output = 'x.json'",
    "SET lock_configuration = false",
    "RESET threads",
    "RESET GLOBAL TimeZone",
    "EXPORT DATABASE 'dump'",
    "IMPORT DATABASE 'dump'",
    "COPY FROM DATABASE local TO memory",
    "CREATE SECRET s (TYPE s3, KEY_ID 'k', SECRET 's')",
    "CREATE OR REPLACE PERSISTENT SECRET s (TYPE s3)",
    "DROP SECRET s",
    "SELECT * FROM duckdb_settings()",
    "SELECT path FROM duckdb_databases()",
    "SELECT * FROM duckdb_secrets()",
    "SELECT current_setting('temp_directory')",
    "SELECT getenv('HOME')",
    "SELECT * FROM query('CALL enable_logging()')",
    "SELECT 1; CALL enable_logging()",
    "CREATE MACRO leak() AS TABLE SELECT * FROM duckdb_logs",
    "FORCE CHECKPOINT",
    # names DuckDB's own lexer sees but a scanner of our own took for a string or a comment
    "SELECT $$'$$ AS a, current_setting('temp_directory') AS leak, $$'$$ AS b",
    'SELECT $$"$$ AS a, (SELECT count(*) FROM duckdb_settings()) AS leak, $$"$$ AS b',
    "SELECT $q$'$q$ AS a, current_setting('temp_directory') AS leak, $q$'$q$ AS b",
    "SELECT 1 AS one --x\r, current_setting('temp_directory') AS leak",
    "SELECT 1 AS one --x\r, (SELECT path FROM duckdb_databases() WHERE database_name = 'local') AS leak",
    "SET search_path = $$memory.main$$",
    # views and functions that show the server's settings, paths or other sessions
    "SELECT name, value FROM pg_settings",
    "SELECT * FROM pg_catalog.pg_settings WHERE name = 'temp_directory'",
    "SELECT file FROM pragma_database_list",
    "SELECT * FROM duckdb_extension_repositories()",
    "SELECT * FROM duckdb_live_query_metrics()",
    # SQL text (or a table function's name) in a string, run or bound where the sandbox cannot see it
    "CALL destroy_external_resource('query', 'SELECT error(current_setting(''temp_directory''))')",
    "CALL register_external_resource_type('t', kind := 'k', create_function := 'duckdb_settings')",
    "CALL create_external_resource('t')",
    "SELECT json_serialize_plan('SELECT current_setting(''temp_directory'')', optimize := true)",
    "CALL add_grammar_extension('x')",
    # DuckDB's own functions and types replaced in every user's statements
    "CREATE MACRO upper(x) AS 'replaced'",
    'CREATE OR REPLACE FUNCTION local.main."Lower"(x) AS x',
    "CREATE MACRO IF NOT EXISTS range(n) AS TABLE SELECT 1 AS range",
    "CREATE TEMP MACRO concat(a, b) AS a",
    "CREATE TYPE json AS INTEGER",
]


@pytest.mark.parametrize("sql", REFUSED)
def test_refused_before_execution(connect, server, still_serves, sql):
    cur = connect("alice").cursor()
    with pytest.raises(PermissionDeniedError) as info:
        cur.execute(sql)
        cur.fetchall()
    assert "not allowed" in str(info.value)
    still_serves(server)


def test_duckdbs_own_system_catalog_is_not_reachable(connect, server, still_serves):
    # ``system`` is the engine's catalog of users, grants and statistics (admin only): DuckDB's catalog of the
    # same name, with its logs, is never what a name there reaches.
    with pytest.raises(PermissionDeniedError, match="admin user only"):
        connect("alice").cursor().execute("SELECT message FROM system.main.duckdb_logs")
    with pytest.raises(DatabaseError, match="duckdb_logs"):
        connect("root").cursor().execute("SELECT message FROM system.main.duckdb_logs")  # the admin
    still_serves(server)


def test_detach_attack_leaves_local_to_everyone(connect, server, still_serves):
    alice, bob = connect("alice"), connect("bob")
    bob.cursor().execute("CREATE TABLE bob_rows AS SELECT 1 AS n")
    for sql in ("USE memory", "DETACH local", "ATTACH ':memory:' AS local"):
        with pytest.raises(DatabaseError):
            alice.cursor().execute(sql)
    cur = bob.cursor()
    cur.execute("INSERT INTO bob_rows VALUES (2)")
    cur.execute("SELECT sum(n) FROM local.main.bob_rows")
    assert cur.fetchall() == [(3,)]
    still_serves(server)


def test_settings_stay_the_servers(connect, server, still_serves):
    alice, bob = connect("alice"), connect("bob")
    for sql in ("SET GLOBAL TimeZone = 'Asia/Tokyo'", "SET GLOBAL threads = 1", "RESET GLOBAL TimeZone"):
        with pytest.raises(PermissionDeniedError):
            alice.cursor().execute(sql)
    cur = bob.cursor()
    cur.execute("SELECT current_setting('TimeZone')")
    assert cur.fetchall() == [("UTC",)]
    still_serves(server)


def test_harmless_session_settings_stay_allowed(connect, server, still_serves):
    cur = connect("alice").cursor()
    cur.execute("SET TimeZone = 'Europe/Paris'; SELECT current_setting('TimeZone')")
    assert cur.fetchall() == [("Europe/Paris",)]
    cur.execute("SET VARIABLE x = 41; SELECT getvariable('x') + 1")
    assert cur.fetchall() == [(42,)]
    cur.execute("USE local.main")
    cur.execute("SELECT 'CALL enable_logging()' AS text, 1 AS duckdb_logs_count")  # names inside literals
    assert cur.fetchall() == [("CALL enable_logging()", 1)]
    other = connect("bob").cursor()
    other.execute("SELECT current_setting('TimeZone')")
    assert other.fetchall() == [("UTC",)]
    still_serves(server)


def test_the_admin_is_sandboxed_too(connect, server, still_serves):
    cur = connect("root").cursor()
    with pytest.raises(PermissionDeniedError):
        cur.execute("CALL enable_logging(storage='file', storage_path='x')")
    still_serves(server)


def test_dry_run_is_sandboxed_too(server, still_serves):
    """dryRun binds its statement, and binding evaluates constants: a table function's bind named the
    server's home directory in its error (read_text(current_setting('secret_directory')))."""
    with grpc.insecure_channel(server.address) as channel:
        stub = e6x_engine_pb2_grpc.QueryEngineServiceStub(channel)
        session = stub.authenticate(pb.AuthenticateRequest(user="alice", password=USERS["alice"])).sessionId
        for sql in ("SELECT * FROM read_text(current_setting('secret_directory'))",
                    "SELECT * FROM duckdb_settings()", "CALL enable_logging(storage='file', storage_path='x')"):
            report = json.loads(stub.dryRun(pb.DryRunRequest(sessionId=session, queryString=sql)).dryrunValue)
            assert report["valid"] is False and "not allowed" in report["error"], (sql, report)
            assert "/root" not in report["error"] and os.path.expanduser("~") not in report["error"]
        report = json.loads(stub.dryRun(pb.DryRunRequest(sessionId=session, queryString="SELECT 1 AS n")).dryrunValue)
        assert report["valid"] is True
    still_serves(server)


def test_a_builtin_cannot_be_replaced_to_read_another_users_private_values(connect, server, still_serves):
    """A macro upper(x) in the shared catalog ran inside bob's query over his private dataset and setval()ed
    a sequence alice could read: the length (or, one sequence a character, the text) of each value."""
    alice, bob = connect("alice"), connect("bob")
    bob.datasets.upload("bob_private", pa.table({"name": ["top-secret-value"]}))
    cur = alice.cursor()
    cur.execute("CREATE SEQUENCE leak")
    with pytest.raises(PermissionDeniedError, match="upper"):
        cur.execute("CREATE MACRO upper(x) AS CASE WHEN setval('leak', length(x)) IS NOT NULL "
                    "THEN system.main.upper(x) END")
    cur.execute("CREATE MACRO shout(x) AS upper(x) || '!'")  # new names stay allowed
    other = bob.cursor()
    other.execute("SELECT upper(name) FROM datasets.main.bob_private")
    assert other.fetchall() == [("TOP-SECRET-VALUE",)]
    cur.execute("SELECT shout('hi'), nextval('leak')")
    assert cur.fetchall() == [("HI!", 1)]  # the sequence was never set
    still_serves(server)


@pytest.mark.parametrize("sql", [
    "SET VARIABLE big = (SELECT list(range) FROM range(8000000))",   # 12 of these: 4.6 GB, memory_limit 256 MiB
    "SET VARIABLE big = range(100000000)",
    "SET VARIABLE big = repeat('x', 1000000000)",
    "SET VARIABLE big = [" + ",".join(["1"] * 1000) + "]",
])
def test_session_variables_hold_only_small_constants(connect, server, still_serves, sql):
    cur = connect("alice").cursor()
    with pytest.raises(ProgrammingError, match="SET VARIABLE .*outside the engine's memory limit"):
        cur.execute(sql)
    cur.execute("SET VARIABLE ok = {'a': [1, 2], 'b': -1.5::DECIMAL(4, 2), 'c': DATE '2024-01-01'}")
    cur.execute("SELECT getvariable('ok').a[2]")
    assert cur.fetchall() == [(2,)]
    still_serves(server)


def test_a_session_holds_a_bounded_number_of_variables(connect, server, still_serves):
    cur = connect("alice").cursor()
    for number in range(MAX_SESSION_VARIABLES):
        cur.execute(f"SET VARIABLE v{number} = {number}")
    cur.execute("SET VARIABLE v0 = 'replaced'")   # replacing one keeps the count
    with pytest.raises(OperationalError, match=f"at most {MAX_SESSION_VARIABLES} variables"):
        cur.execute("SET VARIABLE one_more = 1")
    cur.execute("RESET VARIABLE v1; SET VARIABLE one_more = 1; SELECT getvariable('one_more')")
    assert cur.fetchall() == [(1,)]
    other = connect("alice").cursor()   # another session: variables of its own
    other.execute("SET VARIABLE v0 = 1; SELECT getvariable('v0')")
    assert other.fetchall() == [(1,)]
    still_serves(server)
