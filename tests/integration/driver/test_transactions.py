"""PEP 249 transactions (issue 12): ``autocommit`` (default True), BEGIN before the first statement when it is
off, ``commit()``/``rollback()``, psycopg's rule for changing autocommit, a transaction lost with its session
(never replayed on a new one), and NotSupportedError against an engine without transactions."""
from __future__ import annotations

import threading
import uuid
from concurrent import futures

import grpc
import pytest

import e6driver
from e6driver.protocol import transaction
from mock_server.query.service import QueryEngineServicer, add_to_server as serve_queries
from mock_server.server import SERVER_OPTIONS

from ports import free_port

USER, PASSWORD = "alice", "alice-token"


@pytest.fixture
def table(connect):
    """A fresh table (id, v) with rows (1, 10), (2, 20), created in autocommit mode; its name."""
    name = "tx_" + uuid.uuid4().hex[:8]
    with connect() as setup:
        cur = setup.cursor()
        cur.execute(f"create table {name} (id int, v int)")
        cur.execute(f"insert into {name} values (1, 10), (2, 20)")
    return name


def _values(conn, table):
    cur = conn.cursor()
    cur.execute(f"select v from {table} order by id")
    return [r[0] for r in cur.fetchall()]


def test_autocommit_is_on_by_default_and_each_statement_commits(connect, table):
    conn, other = connect(), connect()
    assert conn.autocommit is True
    conn.cursor().execute(f"update {table} set v = 11 where id = 1")
    assert _values(other, table) == [11, 20]
    conn.commit()  # nothing to do
    conn.rollback()  # nothing to roll back
    assert _values(other, table) == [11, 20]


def test_rollback_undoes_the_transaction(connect, table):
    conn, other = connect(autocommit=False), connect()
    cur = conn.cursor()
    cur.execute(f"update {table} set v = 0")
    assert _values(conn, table) == [0, 0]
    assert _values(other, table) == [10, 20]  # not committed yet
    conn.rollback()
    assert _values(conn, table) == [10, 20]
    assert _values(other, table) == [10, 20]


def test_commit_publishes_and_the_next_statement_opens_a_new_transaction(connect, table):
    conn, other = connect(), connect()
    conn.autocommit = False
    cur = conn.cursor()
    cur.executemany(f"insert into {table} values (%s, %s)", [(3, 30), (4, 40)])
    conn.commit()
    assert _values(other, table) == [10, 20, 30, 40]
    cur.execute(f"delete from {table} where id > 2")
    conn.rollback()
    assert _values(other, table) == [10, 20, 30, 40]


def test_cursors_of_one_connection_share_the_transaction(connect, table):
    conn = connect(autocommit=False)
    reader, writer = conn.cursor(), conn.cursor()
    reader.execute("select range from range(100000)")
    assert reader.fetchone() == (0,)
    writer.execute(f"update {table} set v = v + 1")  # while reader's result is still open
    assert len(reader.fetchall()) == 99999
    assert _values(conn, table) == [11, 21]
    conn.rollback()
    assert _values(conn, table) == [10, 20]


def test_threads_sharing_a_connection_start_one_transaction(connect, table):
    """Threads whose first statements ran together each sent BEGIN: the second failed ('cannot start a
    transaction within a transaction'), which aborted the transaction and every other statement of it."""
    for _ in range(3):
        conn = connect(autocommit=False)
        start = threading.Barrier(4)
        failures = []

        def insert(i):
            cursor = conn.cursor()
            start.wait()
            try:
                cursor.execute(f"insert into {table} values (%s, %s)", (10 + i, i))
            except e6driver.Error as exc:
                failures.append(exc)

        workers = [threading.Thread(target=insert, args=(i,)) for i in range(4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(30)
        assert failures == []
        conn.commit()
        conn.close()
    assert len(_values(connect(), table)) == 2 + 3 * 4


def test_autocommit_cannot_change_inside_a_transaction(connect, table):
    conn = connect(autocommit=False)
    conn.cursor().execute(f"update {table} set v = 1")
    with pytest.raises(e6driver.ProgrammingError, match="autocommit"):
        conn.autocommit = True
    conn.rollback()
    conn.autocommit = True
    assert conn.autocommit is True
    assert _values(conn, table) == [10, 20]


def test_a_with_block_commits_when_it_ends_cleanly_and_rolls_back_when_it_raises(connect, table):
    """As psycopg's connection context: its exit closed, and closing rolled back, so every write made in a
    clean ``with connect(autocommit=False)`` block without an explicit commit() was silently lost."""
    with connect(autocommit=False) as conn:
        conn.cursor().execute(f"update {table} set v = 7 where id = 1")
    assert conn.closed and _values(connect(), table) == [7, 20]
    with pytest.raises(ZeroDivisionError):
        with connect(autocommit=False) as conn:
            conn.cursor().execute(f"update {table} set v = 8")
            1 / 0
    assert conn.closed and _values(connect(), table) == [7, 20]


@pytest.mark.parametrize("block", ["get_connection_context", "with the connection"])
def test_a_clean_pooled_with_block_commits_and_a_failed_one_or_a_bare_return_rolls_back(connect, table, block):
    """The pool rolled back every transaction it got back, so a clean ``with`` block lost its writes (psycopg_pool
    commits them)."""
    pool = e6driver.ConnectionPool(min_size=0, max_size=1, pre_ping=False,
                                   connection_factory=lambda: connect(autocommit=False))

    def borrowed():
        return pool.get_connection_context() if block == "get_connection_context" else pool.get_connection()

    with borrowed() as conn:
        conn.cursor().execute(f"update {table} set v = 1 where id = 1")
        with borrowed() as inner:  # the same thread's nested checkout: its end commits nothing yet
            inner.cursor().execute(f"update {table} set v = 2 where id = 2")
        assert _values(connect(), table) == [10, 20]
    assert _values(connect(), table) == [1, 2]
    with pytest.raises(ZeroDivisionError):
        with borrowed() as conn:
            conn.cursor().execute(f"update {table} set v = 3")
            1 / 0
    conn = pool.get_connection()
    conn.cursor().execute(f"update {table} set v = 4")
    pool.return_connection(conn)
    assert _values(connect(), table) == [1, 2]
    pool.close_all()


def test_close_discards_the_open_transaction(connect, table):
    conn = connect(autocommit=False)
    conn.cursor().execute(f"update {table} set v = 5")
    conn.close()
    assert _values(connect(), table) == [10, 20]


def test_expired_session_loses_the_transaction_and_never_replays_it(server, connect, table):
    conn = connect(autocommit=False)
    cur = conn.cursor()
    cur.execute(f"update {table} set v = 99 where id = 1")
    server.expire_sessions()
    with pytest.raises(e6driver.OperationalError, match="transaction was lost"):
        cur.execute(f"update {table} set v = 99 where id = 2")
    with pytest.raises(e6driver.OperationalError, match="lost"):  # nothing runs until the transaction ends
        cur.execute("select 1")
    with pytest.raises(e6driver.OperationalError, match="cannot commit"):
        conn.commit()
    assert _values(conn, table) == [10, 20]  # rolled back by the engine; the statement was never replayed
    cur.execute(f"update {table} set v = 7 where id = 1")  # a new transaction on a new session
    conn.rollback()
    assert _values(conn, table) == [10, 20]


def test_blue_green_switch_loses_the_transaction(fresh_server):
    srv = fresh_server()
    conn = e6driver.connect(host="127.0.0.1", port=srv.port, username=USER, password=PASSWORD, autocommit=False)
    try:
        cur = conn.cursor()
        cur.execute("create table t (x int)")
        conn.commit()
        cur.execute("insert into t values (1)")
        srv.switch_strategy("green")
        with pytest.raises(e6driver.OperationalError, match="transaction was lost"):
            cur.execute("insert into t values (2)")
        conn.rollback()
        cur.execute("select count(*) from t")
        assert cur.fetchall() == [(0,)]
        conn.rollback()
    finally:
        conn.close()


@pytest.fixture
def engine_without_transactions(server):
    """The query service alone, as on an e6data cluster: no AdminService, so GetCapabilities is UNIMPLEMENTED."""
    grpc_server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), options=SERVER_OPTIONS)
    serve_queries(QueryEngineServicer(server.engine, server.sessions, server.queries, "127.0.0.1", server.strategy),
                  grpc_server)
    port = grpc_server.add_insecure_port("127.0.0.1:0")
    grpc_server.start()
    yield port
    grpc_server.stop(0)


def test_autocommit_off_fails_at_once_without_transactions(engine_without_transactions):
    options = dict(host="127.0.0.1", port=engine_without_transactions, username=USER, password=PASSWORD)
    with pytest.raises(e6driver.NotSupportedError, match="no transactions"):
        e6driver.connect(autocommit=False, **options)
    with e6driver.connect(**options) as conn:
        cur = conn.cursor()
        cur.execute("select 1")
        assert cur.fetchall() == [(1,)]
        with pytest.raises(e6driver.NotSupportedError):
            conn.autocommit = False
        assert conn.autocommit is True
        conn.commit()
        with pytest.raises(e6driver.NotSupportedError):
            conn.rollback()


def test_a_pool_rolls_back_what_a_borrower_left_open(server, connect, table):
    host, port = server.address.rsplit(":", 1)
    with e6driver.ConnectionPool(min_size=1, max_size=1, host=host, port=int(port), username=USER,
                                 password=PASSWORD, autocommit=False) as pool:
        conn = pool.get_connection()
        conn.cursor().execute(f"update {table} set v = 0")
        pool.return_connection(conn)  # no commit
        again = pool.get_connection()
        assert again.connection is conn.connection and not again.session.in_transaction
        assert _values(again, table) == [10, 20]
        assert _values(connect(), table) == [10, 20]
        pool.return_connection(again)


def test_a_transaction_begun_in_sql_is_reported_lost_when_the_engine_restarts(engine):
    port = free_port()
    srv = engine(port)
    with e6driver.connect(host="127.0.0.1", port=port, username=USER, password=PASSWORD,
                          connect_timeout=15) as conn:  # autocommit on: the transaction is the caller's SQL
        cur = conn.cursor()
        cur.execute("create table t (x int)")
        cur.execute("BEGIN")
        cur.execute("insert into t values (1)")
        srv.stop(0)
        engine(port)  # same data dir: the engine knows neither the session nor its transaction
        with pytest.raises(e6driver.OperationalError, match="begun with BEGIN was lost"):
            cur.execute("insert into t values (2)")  # never run outside the transaction on a new session
        cur.execute("select count(*) from t")
        assert cur.fetchall() == [(0,)]
        assert not conn.session.in_transaction  # reported once; nothing left for the caller to end
        cur.execute("begin transaction")
        cur.execute("insert into t values (3)")
        cur.execute("commit")
        assert not conn.session.in_transaction
        cur.execute("select x from t")
        assert cur.fetchall() == [(3,)]


@pytest.mark.parametrize("sql, kind", [
    ("BEGIN", "begin"), (" -- note\nstart transaction", "begin"), ("/* a */ Begin Work", "begin"),
    ("COMMIT", "end"), ("end", "end"), ("ROLLBACK", "end"), ("abort", "end"),
    ("ROLLBACK TO SAVEPOINT s", None), ("SELECT 'BEGIN'", None), ("BEGINNING", None), ("", None)])
def test_statement_kind(sql, kind):
    assert transaction.statement_kind(sql) == kind
