"""An engine with object stores in a temporary data directory, and driver connections to it per user."""
from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest

import e6driver
from mock_server.server import EngineServer

# The first user is the admin (sees and grants every bucket).
USERS = {"root": "root-pw", "alice": "alice-pw", "bob": "bob-pw"}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("engine-data"))


@pytest.fixture(scope="module")
def server(data_dir) -> Iterator[EngineServer]:
    with EngineServer("127.0.0.1", 0, data_dir=data_dir, users=USERS) as srv:
        yield srv


@pytest.fixture(scope="module")
def connect(server) -> Iterator[Callable[..., e6driver.Connection]]:
    opened = []

    def make(user: str = "root", **options: Any) -> e6driver.Connection:
        conn = e6driver.connect(host="127.0.0.1", port=server.port, username=user, password=USERS[user],
                                **options)
        opened.append(conn)
        return conn

    yield make
    for conn in opened:
        conn.close()


@pytest.fixture(scope="module")
def root(connect) -> e6driver.Connection:
    return connect("root")


@pytest.fixture(scope="module")
def alice(connect) -> e6driver.Connection:
    return connect("alice")


@pytest.fixture(scope="module")
def bob(connect) -> e6driver.Connection:
    return connect("bob")


@pytest.fixture(scope="session")
def rows() -> Callable[..., list]:
    """rows(conn, sql, **cursor_args): every row of one query."""
    def run(conn: e6driver.Connection, sql: str, **cursor_args: Any) -> list:
        cur = conn.cursor(**cursor_args)
        try:
            cur.execute(sql)
            return cur.fetchall()
        finally:
            cur.close()
    return run

