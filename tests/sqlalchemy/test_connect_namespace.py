"""A URL naming a catalog or schema the engine lacks fails on connect — what Superset's "Test connection" does
(``engine.raw_connection()`` then ``dialect.do_ping``) — with a message naming them; ``?lazy=true`` defers."""
from contextlib import closing

import pytest
import sqlalchemy as sa

import e6driver

from e6driver.sqlalchemy.superset import CUSTOM_ERRORS
from local_engine import engine_url


def _superset_test_connection(url: str) -> bool:
    """Superset 6's ``superset.commands.database.utils.ping``, without the timeout wrapper."""
    engine = sa.create_engine(url)
    try:
        with closing(engine.raw_connection()) as conn:
            return engine.dialect.do_ping(conn)
    finally:
        engine.dispose()


def _superset_error_type(message: str) -> str:
    for pattern, (_, error_type, _) in CUSTOM_ERRORS.items():
        if pattern.search(message):
            return error_type
    return "GENERIC_DB_ENGINE_ERROR"


def test_the_named_catalog_and_schema_pass(url):
    assert _superset_test_connection(url) is True


@pytest.mark.parametrize("path, query, named", [
    ("/nope_schema", "?catalog=local", "schema 'nope_schema'"),
    ("/main", "?catalog=nope_catalog", "catalog 'nope_catalog'"),
    ("/nope_schema", "", "schema 'nope_schema'"),
])
def test_a_missing_catalog_or_schema_fails_on_connect(engine_server, path, query, named):
    url = engine_url(engine_server.address).replace("/main?catalog=local", path + query)
    # SQLAlchemy 2 lets the connect hook's driver error through; 1.4 wraps it
    with pytest.raises((e6driver.ProgrammingError, sa.exc.ProgrammingError)) as raised:
        _superset_test_connection(url)
    message = str(getattr(raised.value, "orig", raised.value))
    assert message.startswith("the URL names ") and named in message, message
    assert "does not exist" in message or "found" in message, message
    assert _superset_error_type(message) == "CONNECTION_UNKNOWN_DATABASE_ERROR", message


def test_lazy_defers_the_check_to_the_first_statement(engine_server):
    url = engine_url(engine_server.address).replace("/main?catalog=local", "/nope_schema?catalog=local&lazy=true")
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            with pytest.raises(sa.exc.ProgrammingError, match="nope_schema"):
                conn.exec_driver_sql("SELECT 1")
    finally:
        engine.dispose()


def test_a_schema_created_later_is_usable(engine):
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE SCHEMA IF NOT EXISTS ns_check_later")
    later = engine.url.set(database="ns_check_later")
    try:
        assert _superset_test_connection(later.render_as_string(hide_password=False)) is True
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA ns_check_later")
