"""Dialect behaviour that needs no server: URL parsing, registration, compilation, isolation."""
import pytest
import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.engine import url as sa_url

from e6driver.sqlalchemy.datatype import ARRAY, MAP, STRUCT
from e6driver.sqlalchemy.dialect import E6Dialect


def _args(url):
    return E6Dialect().create_connect_args(sa_url.make_url(url))


def test_url_maps_to_connect_arguments():
    args, kwargs = _args(
        "e6driver://a%40b.com:tok%2Fen@db.example:9000/sales?catalog=hive&secure=true&cluster-name=C1"
        "&rpc_timeout=2.5"
    )
    assert args == []
    assert kwargs == {
        "host": "db.example", "port": 9000, "username": "a@b.com", "password": "tok/en", "database": "sales",
        "catalog": "hive", "secure": True, "cluster_name": "C1", "rpc_timeout": 2.5,
    }


def test_unknown_url_option_is_an_error_not_a_channel_option():
    with pytest.raises(exc.ArgumentError, match="grpc_max_pings"):
        _args("e6driver://u:p@h:1/db?grpc_max_pings=3")


def test_bad_boolean_in_url():
    with pytest.raises(exc.ArgumentError):
        _args("e6driver://u:p@h:1/db?secure=maybe")


@pytest.mark.parametrize("scheme", ["e6driver", "e6data+e6driver"])
def test_both_url_schemes_resolve_to_the_dialect_through_entry_points(scheme):
    dialect_cls = sa_url.make_url(f"{scheme}://u:p@h:1/db").get_dialect()
    assert dialect_cls is E6Dialect


def test_concrete_dialect_caches_statements():
    assert E6Dialect.__dict__.get("supports_statement_cache") is True
    assert E6Dialect.name == "e6driver" and E6Dialect.driver == "e6driver"


def _compile(stmt):
    return str(stmt.compile(dialect=E6Dialect(), compile_kwargs={"literal_binds": True}))


def test_limit_offset_and_booleans():
    t = sa.table("t", sa.column("a"), sa.column("flag", sa.Boolean))
    sql = _compile(sa.select(t.c.a).where(t.c.flag == sa.true()).limit(5).offset(10))
    assert "LIMIT 5" in sql and "OFFSET 10" in sql and "true" in sql.lower()


def test_identifiers_are_double_quoted_when_needed():
    t = sa.table("select", sa.column("Mixed Case"))
    sql = _compile(sa.select(t))
    assert '"select"' in sql and '"Mixed Case"' in sql


def test_ddl_type_compilation():
    metadata = sa.MetaData()
    table = sa.Table(
        "t", metadata,
        sa.Column("a", ARRAY(sa.Integer())),
        sa.Column("m", MAP(sa.String(), sa.Integer())),
        sa.Column("s", STRUCT([("x", sa.Integer()), ("y", sa.String())])),
        sa.Column("ts", sa.TIMESTAMP(timezone=True)),
        sa.Column("b", sa.LargeBinary()),
        sa.Column("d", sa.Numeric(18, 4)),
    )
    ddl = str(sa.schema.CreateTable(table).compile(dialect=E6Dialect()))
    assert "a INTEGER[]" in ddl
    assert "m MAP(VARCHAR, INTEGER)" in ddl
    assert "s STRUCT(x INTEGER, y VARCHAR)" in ddl
    assert "ts TIMESTAMP WITH TIME ZONE" in ddl
    assert "b BLOB" in ddl
    assert "d NUMERIC(18, 4)" in ddl


class _DBAPIConnection:
    def __init__(self, transactions):
        self.supports_transactions = transactions
        self.autocommit = True


def test_only_autocommit_isolation_without_transactions():
    dialect, conn = E6Dialect(), _DBAPIConnection(False)
    assert dialect.get_isolation_level_values(conn) == ["AUTOCOMMIT"]
    assert dialect.get_default_isolation_level(conn) == "AUTOCOMMIT"
    dialect.set_isolation_level(conn, "AUTOCOMMIT")
    with pytest.raises(exc.ArgumentError):
        dialect.set_isolation_level(conn, "SNAPSHOT")
    dialect.do_rollback(conn)  # nothing open: the driver is not asked
    dialect.do_commit(conn)


def test_snapshot_isolation_switches_the_driver_autocommit():
    dialect, conn = E6Dialect(), _DBAPIConnection(True)
    assert dialect.get_default_isolation_level(conn) == "SNAPSHOT"
    dialect.set_isolation_level(conn, "SNAPSHOT")
    assert conn.autocommit is False and dialect.get_isolation_level(conn) == "SNAPSHOT"
    dialect.set_isolation_level(conn, "AUTOCOMMIT")
    assert conn.autocommit is True and dialect.get_isolation_level(conn) == "AUTOCOMMIT"
    with pytest.raises(exc.ArgumentError):
        dialect.set_isolation_level(conn, "SERIALIZABLE")


def test_engine_keywords_are_quoted_as_identifiers():
    t = sa.table("map", sa.column("at"), sa.column("asof"), sa.column("plain"))
    sql = _compile(sa.select(t))
    assert '"at"' in sql and '"asof"' in sql and '"map"' in sql and '"plain"' not in sql


def test_standalone_offset_and_backslash_literals():
    t = sa.table("t", sa.column("a"))
    sql = _compile(sa.select(t.c.a).where(t.c.a == "x\\y").offset(3))
    assert "LIMIT" not in sql and "OFFSET 3" in sql and "'x\\\\y'" in sql


def test_every_connect_option_is_reachable_from_the_url():
    import inspect

    import e6driver

    _, kwargs = _args("e6driver://u:p@h:1/db?catalog=c&prefetch=4&auto_resume_timeout=9&require_fastbinary=false"
                      "&enable_result_batch_v2=true&access_token=t&scheme=e6data"
                      "&grpc.keepalive_time_ms=10000&grpc.grpc_prepare_timeout=60&grpc.lb_policy_name=pick_first")
    assert kwargs["prefetch"] == 4 and kwargs["auto_resume_timeout"] == 9.0
    assert kwargs["require_fastbinary"] is False and kwargs["enable_result_batch_v2"] is True
    assert kwargs["grpc_options"] == {"keepalive_time_ms": 10000, "grpc_prepare_timeout": 60,
                                      "lb_policy_name": "pick_first"}
    from e6driver.sqlalchemy.dialect import URL_QUERY_ARGS
    reachable = {argument for argument, _ in URL_QUERY_ARGS.values()} | {"host", "port", "username", "password",
                                                                         "database", "grpc_options"}
    parameters = set(inspect.signature(e6driver.Connection).parameters)
    assert parameters <= reachable


def test_official_url_forms_mean_what_they_mean_in_the_official_dialect():
    _, kwargs = _args("e6data+e6driver://u:p@h:443/?schema=sales&catalog=hive&auto-resume=false&cluster-uuid=c-9"
                      "&secure=true&grpc_prepare_timeout=60&keepalive_time_ms=10000&http2.max_pings_without_data=0")
    assert kwargs["database"] == "sales" and kwargs["catalog"] == "hive"
    assert kwargs["auto_resume"] is False and kwargs["cluster_name"] == "c-9" and kwargs["secure"] is True
    assert kwargs["grpc_options"] == {"grpc_prepare_timeout": 60, "keepalive_time_ms": 10000,
                                      "http2.max_pings_without_data": 0}


def test_official_and_own_spellings_must_agree():
    assert _args("e6driver://u:p@h:1/sales?schema=sales")[1]["database"] == "sales"
    with pytest.raises(exc.ArgumentError, match="contradicts"):
        _args("e6driver://u:p@h:1/sales?schema=other")
    with pytest.raises(exc.ArgumentError, match="contradicts"):
        _args("e6driver://u:p@h:1/db?cluster-name=a&cluster-uuid=b")


def test_bare_keys_that_are_not_grpc_options_are_still_errors():
    with pytest.raises(exc.ArgumentError, match="keepalive_tme_ms"):
        _args("e6driver://u:p@h:1/db?keepalive_tme_ms=3")
