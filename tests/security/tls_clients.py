"""Driver front-ends a TLS test connects through: the pool and a SQLAlchemy URL, each running one query."""
from __future__ import annotations

from typing import Any, Dict
from urllib.parse import urlencode

import pytest

from e6driver import ConnectionPool

from accounts import USERS


def select_42(conn: Any) -> list:
    cur = conn.cursor()
    cur.execute("SELECT 40 + 2")
    return cur.fetchall()


def check_pool_and_sqlalchemy(port: int, tls: Dict[str, str]) -> None:
    """As bob over TLS (``tls``: ``ssl_cert`` and optional ``ssl_client_cert``/``ssl_client_key``, as paths):
    a pool connection and a SQLAlchemy engine (the same options as URL keys) each answer a query."""
    pool = ConnectionPool(min_size=1, max_size=2, host="127.0.0.1", port=port, username="bob",
                          password=USERS["bob"], secure=True, **tls)
    try:
        with pool.get_connection_context() as conn:
            assert select_42(conn) == [(42,)]
    finally:
        pool.close_all()
    sqlalchemy = pytest.importorskip("sqlalchemy")
    query = urlencode({"catalog": "local", "secure": "true", **tls})
    engine = sqlalchemy.create_engine(f"e6driver://bob:{USERS['bob']}@127.0.0.1:{port}/main?{query}")
    try:
        with engine.connect() as conn:
            assert conn.execute(sqlalchemy.text("SELECT 40 + 2")).scalar() == 42
    finally:
        engine.dispose()
