"""ConnectionPool rules with an in-memory stand-in connection (the pool only needs cursor/close/ping)."""
import threading
import time

import pytest

from e6driver import OperationalError
from e6driver.errors import PoolClosed
from e6driver.pool import ConnectionPool, PoolTimeout


class FakeCursor:
    def __init__(self, conn):
        self.conn = conn
        self.closed = False

    def close(self):
        self.closed = True


class FakeConnection:
    instances = []

    def __init__(self, **params):
        self.params = params
        self.closed = False
        self.healthy = True
        self.pings = 0
        self.cursors = []
        FakeConnection.instances.append(self)

    def cursor(self, catalog_name=None, db_name=None, *, arraysize=None):
        cursor = FakeCursor(self)
        cursor.arraysize = arraysize
        self.cursors.append(cursor)
        return cursor

    def ping(self):
        self.pings += 1
        if not self.healthy:
            raise OperationalError("server went away")

    def close(self):
        self.closed = True


@pytest.fixture(autouse=True)
def _reset():
    FakeConnection.instances = []


def make_pool(**kw):
    kw.setdefault("connection_factory", FakeConnection)
    return ConnectionPool(host="h", port=1, **kw)


def test_min_size_connections_are_opened_with_the_parameters():
    pool = make_pool(min_size=3, max_size=5)
    assert len(FakeConnection.instances) == 3
    assert FakeConnection.instances[0].params == {"host": "h", "port": 1}
    assert pool.get_statistics()["idle_connections"] == 3


def _hold_in_threads(pool, count, release):
    """Check out ``count`` connections from live threads that keep them until ``release`` is set."""
    results, ready = [], threading.Semaphore(0)

    def hold():
        try:
            results.append(pool.get_connection())
        except PoolTimeout as exc:
            results.append(exc)
        ready.release()
        release.wait(10)

    threads = [threading.Thread(target=hold) for _ in range(count)]
    for t in threads:
        t.start()
        ready.acquire()
    return results, threads


def test_timeout_is_an_operational_error_when_exhausted():
    pool = make_pool(min_size=0, max_size=1, max_overflow=1, timeout=0.05)
    release = threading.Event()
    results, threads = _hold_in_threads(pool, 3, release)
    release.set()
    for t in threads:
        t.join()
    assert sum(isinstance(r, PoolTimeout) for r in results) == 1
    assert all(isinstance(r, OperationalError) for r in results if not hasattr(r, "connection"))
    assert pool.get_statistics()["timeouts"] == 1


def test_same_thread_gets_the_same_connection_until_fully_returned():
    pool = make_pool(min_size=0, max_size=2)
    first = pool.get_connection()
    second = pool.get_connection()
    assert first is second
    pool.return_connection(second)
    assert pool.get_statistics()["active_connections"] == 1
    pool.return_connection(first)
    assert pool.get_statistics()["active_connections"] == 0


def test_waiter_gets_a_returned_connection():
    pool = make_pool(min_size=1, max_size=1, max_overflow=0, timeout=5)
    held = pool.get_connection()
    got = []
    t = threading.Thread(target=lambda: got.append(pool.get_connection()))
    t.start()
    time.sleep(0.05)
    assert not got
    pool.return_connection(held)
    t.join(5)
    assert got and got[0].connection is held.connection


def test_cursors_are_closed_when_the_connection_returns():
    pool = make_pool(min_size=1)
    with pool.get_connection_context() as conn:
        cursor = conn.cursor()
    assert cursor.closed


def test_broken_connection_is_replaced_not_handed_out():
    pool = make_pool(min_size=1, max_size=1, max_overflow=0)
    broken = FakeConnection.instances[0]
    broken.healthy = False
    conn = pool.get_connection()
    assert conn.connection is not broken
    assert broken.closed
    assert pool.get_statistics()["discarded_connections"] == 1


def test_custom_check_is_used_on_checkout():
    seen = []
    pool = make_pool(min_size=1, check=lambda c: seen.append(c))
    conn = pool.get_connection()
    assert seen == [conn.connection]


def test_max_idle_and_lifetime_expire_connections():
    pool = make_pool(min_size=1, max_idle=0.01)
    first = FakeConnection.instances[0]
    time.sleep(0.03)
    conn = pool.get_connection()
    assert conn.connection is not first and first.closed
    pool.return_connection(conn)

    pool = make_pool(min_size=1, max_lifetime=0.01)
    first = FakeConnection.instances[-1]
    time.sleep(0.03)
    assert pool.get_connection().connection is not first


def test_closed_connection_returned_is_discarded():
    pool = make_pool(min_size=0)
    conn = pool.get_connection()
    conn.connection.closed = True
    pool.return_connection(conn)
    assert pool.get_statistics()["idle_connections"] == 0
    assert pool.get_statistics()["pool_size"] == 0


def test_close_all_closes_idle_and_refuses_new_checkouts():
    pool = make_pool(min_size=2)
    pool.close_all()
    assert all(c.closed for c in FakeConnection.instances)
    with pytest.raises(PoolClosed, match="closed") as raised:  # not PoolTimeout: retrying cannot help
        pool.get_connection()
    assert not isinstance(raised.value, PoolTimeout)


def test_concurrent_checkouts_never_share_a_connection_or_exceed_capacity():
    pool = make_pool(min_size=0, max_size=3, max_overflow=1, timeout=10, pre_ping=False)
    in_use = set()
    lock = threading.Lock()
    errors = []
    peak = [0]

    def worker():
        for _ in range(50):
            conn = pool.get_connection()
            with lock:
                if id(conn.connection) in in_use:
                    errors.append("shared")
                in_use.add(id(conn.connection))
                peak[0] = max(peak[0], len(in_use))
            time.sleep(0.0005)
            with lock:
                in_use.discard(id(conn.connection))
            pool.return_connection(conn)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert peak[0] <= 4
    stats = pool.get_statistics()
    assert stats["pool_size"] <= 4 and stats["active_connections"] == 0
    assert stats["total_requests"] == 400


def test_a_connection_returned_twice_is_never_handed_to_two_threads():
    """close() inside get_connection_context() returned it twice: it was listed idle twice, so the next two
    checkouts (two threads) shared one connection."""
    pool = make_pool(min_size=1, max_size=2, max_overflow=0, timeout=0.2, pre_ping=False)
    with pool.get_connection_context() as conn:
        conn.close()
    pool.return_connection(conn)
    assert pool.get_statistics()["idle_connections"] == 1
    got = []
    both = threading.Barrier(2, timeout=10)  # both threads alive together: a thread id is not reused

    def take():
        got.append(pool.get_connection())
        both.wait()

    threads = [threading.Thread(target=take) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(got) == 2 and got[0].connection is not got[1].connection


def test_a_pooled_connection_takes_the_cursor_arguments_of_a_connection():
    """cursor(arraysize=...) was a TypeError through the pool."""
    pool = make_pool(min_size=1, max_size=1, pre_ping=False)
    with pool.get_connection_context() as conn:
        cursor = conn.cursor(arraysize=100)
        assert cursor.arraysize == 100
    assert cursor.closed


def test_invalid_sizes():
    with pytest.raises(ValueError):
        make_pool(min_size=5, max_size=2)


def test_a_connection_returned_just_now_skips_the_check_within_ping_bypass():
    seen = []
    pool = make_pool(min_size=1, check=lambda c: seen.append(c), ping_bypass=60)
    conn = pool.get_connection()
    pool.return_connection(conn)
    again = pool.get_connection()
    assert again.connection is conn.connection and seen == [conn.connection]  # checked once, when first handed out
    pool.return_connection(again)
    strict = make_pool(min_size=1, check=lambda c: seen.append(c), ping_bypass=0)
    for _ in range(2):
        strict.return_connection(strict.get_connection())
    assert len(seen) == 3
