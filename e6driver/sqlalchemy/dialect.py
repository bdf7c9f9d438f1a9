"""The SQLAlchemy dialect: URL → connect arguments, capabilities, transactions; compilers and reflection
live in :mod:`.compiler` and :mod:`.reflection`."""
from __future__ import annotations

import logging
import sys
from typing import Any, Dict, List, Optional, Tuple

import sqlalchemy
from sqlalchemy import exc
from sqlalchemy.engine import default

from .. import params
from ..protocol.transport import KNOWN_CHANNEL_OPTIONS
from .compiler import E6Compiler, E6DDLCompiler, E6IdentifierPreparer, E6TypeCompiler
from .colspecs import COLSPECS
from .reflection import E6Reflection

log = logging.getLogger(__name__)

_SQLALCHEMY_2 = int(sqlalchemy.__version__.split(".")[0]) >= 2


def _as_bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise exc.ArgumentError(f"expected a boolean in the URL query, got {value!r}")


# URL query key → (connect() argument, converter). The official dialect's spellings (``schema``, ``auto-resume``,
# ``cluster-uuid``, bare gRPC option names) mean what they mean there. Unknown keys are an error.
URL_QUERY_ARGS = {
    "catalog": ("catalog", str),
    "schema": ("database", str),
    "auto-resume": ("auto_resume", _as_bool),
    "cluster-uuid": ("cluster_name", str),
    "arraysize": ("arraysize", int),
    "secure": ("secure", _as_bool),
    "ssl_cert": ("ssl_cert", str),
    "ssl_client_cert": ("ssl_client_cert", str),
    "ssl_client_key": ("ssl_client_key", str),
    "cluster-name": ("cluster_name", str),
    "cluster_name": ("cluster_name", str),
    "auto_resume": ("auto_resume", _as_bool),
    "debug": ("debug", _as_bool),
    "connect_timeout": ("connect_timeout", float),
    "rpc_timeout": ("rpc_timeout", float),
    "query_timeout": ("query_timeout", float),
    "auto_resume_timeout": ("auto_resume_timeout", float),
    "prefetch": ("prefetch", int),
    "autocommit": ("autocommit", _as_bool),
    "require_fastbinary": ("require_fastbinary", _as_bool),
    "enable_result_batch_v2": ("enable_result_batch_v2", _as_bool),
    "access_token": ("access_token", str),
    "client_id": ("client_id", str),
    "client_secret": ("client_secret", str),
    "token_url": ("token_url", str),
    "oauth_scope": ("oauth_scope", str),
    "client_auth_method": ("client_auth_method", str),
    "scheme": ("scheme", str),
    "lazy": ("lazy", _as_bool),
}
GRPC_OPTION_PREFIX = "grpc."  # e.g. ?grpc.keepalive_time_ms=10000 or ?grpc.grpc_prepare_timeout=60


def _option_value(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        return text


class E6ExecutionContext(default.DefaultExecutionContext):
    def create_server_side_cursor(self):
        # Every driver cursor streams its result chunk by chunk, holding only a few chunks in memory.
        return self._dbapi_connection.cursor()

    def fire_sequence(self, seq, type_):
        # A key taken before the INSERT (no RETURNING to read it from).
        name = self.identifier_preparer.format_sequence(seq)
        return self._execute_scalar(f"SELECT nextval({params.quote_string(name)})", type_)


class E6Dialect(E6Reflection, default.DefaultDialect):
    name = "e6driver"
    driver = "e6driver"
    supports_statement_cache = True

    paramstyle = "pyformat"
    default_paramstyle = "pyformat"
    supports_native_boolean = True
    supports_native_decimal = True
    supports_native_interval = True
    supports_unicode_statements = True
    supports_unicode_binds = True
    supports_sane_rowcount = True
    supports_sane_multi_rowcount = True
    supports_multivalues_insert = True
    supports_default_values = True
    supports_empty_insert = False
    supports_server_side_cursors = True
    insert_returning = True
    update_returning = True
    delete_returning = True
    use_insertmanyvalues = True
    use_insertmanyvalues_wo_returning = False  # plain executemany(): the driver already sends multi-row INSERTs
    # sqlalchemy.Sequence: CREATE SEQUENCE and nextval() (an e6data cluster has no sequences: the engine's error,
    # on use). Nothing else generates keys, so a Sequence(optional=True) is used too.
    supports_sequences = True
    sequences_optional = False
    supports_alter = False
    supports_comments = True  # COMMENT ON TABLE/COLUMN; reflected from duckdb_tables()/duckdb_columns()
    inline_comments = False
    postfetch_lastrowid = False
    returns_native_bytes = True
    div_is_floordiv = False

    preparer = E6IdentifierPreparer
    statement_compiler = E6Compiler
    ddl_compiler = E6DDLCompiler
    execution_ctx_cls = E6ExecutionContext
    colspecs = COLSPECS
    if _SQLALCHEMY_2:
        type_compiler_cls = E6TypeCompiler
    else:  # pragma: no cover - SQLAlchemy 1.4
        type_compiler = E6TypeCompiler
        # 1.4's names for insert_returning and friends: generated keys come back by RETURNING
        implicit_returning = True
        full_returning = True

    def __init__(self, json_serializer=None, json_deserializer=None, **kwargs) -> None:
        super().__init__(**kwargs)
        # create_engine(json_serializer=..., json_deserializer=...), as on other dialects with a JSON type.
        self._json_serializer = json_serializer
        self._json_deserializer = json_deserializer

    @classmethod
    def import_dbapi(cls):
        import e6driver

        return e6driver

    if not _SQLALCHEMY_2:  # pragma: no cover - SQLAlchemy 1.4 looks for dbapi() instead

        @classmethod
        def dbapi(cls):
            return cls.import_dbapi()

    @classmethod
    def engine_created(cls, engine) -> None:
        # pl.read_database(query, engine) checks out a connection, then executes: registering there routes the
        # result to the Arrow path even when the pool hands back a connection made before polars was imported.
        sqlalchemy.event.listen(engine, "engine_connect", _register_with_polars)

    # ---- connecting
    def create_connect_args(self, url) -> Tuple[List[Any], Dict[str, Any]]:
        kwargs: Dict[str, Any] = {
            "host": url.host or "127.0.0.1",
            "port": int(url.port or 80),
            "username": url.username,
            "password": url.password,
        }
        if url.database:
            kwargs["database"] = url.database
        for key, value in url.query.items():
            if key.startswith(GRPC_OPTION_PREFIX) and len(key) > len(GRPC_OPTION_PREFIX):
                if isinstance(value, tuple):
                    raise exc.ArgumentError(f"URL option {key!r} given more than once")
                name = key[len(GRPC_OPTION_PREFIX):]
                kwargs.setdefault("grpc_options", {})[name] = _option_value(value)
                continue
            if isinstance(value, tuple):
                raise exc.ArgumentError(f"URL option {key!r} given more than once")
            if key in KNOWN_CHANNEL_OPTIONS and key not in URL_QUERY_ARGS:  # the official client's spelling
                kwargs.setdefault("grpc_options", {})[key] = _option_value(value)
                continue
            if key not in URL_QUERY_ARGS:
                raise exc.ArgumentError(
                    f"unknown e6driver URL option {key!r}; known options: {', '.join(sorted(URL_QUERY_ARGS))}, "
                    "gRPC channel options as grpc.<name>"
                )
            argument, convert = URL_QUERY_ARGS[key]
            converted = convert(value)
            if argument in kwargs and kwargs[argument] != converted:
                raise exc.ArgumentError(f"URL option {key!r} contradicts another way of giving {argument!r}")
            kwargs[argument] = converted
        self._keep_autocommit = kwargs.get("autocommit") is True  # ?autocommit=true: never open transactions
        # A URL naming a catalog or schema is checked on connect (Superset's "Test connection" among others),
        # unless ?lazy=true defers every check to the first statement.
        self._check_namespace = not kwargs.get("lazy") and bool(kwargs.get("catalog") or kwargs.get("database"))
        return [], kwargs

    def do_ping(self, dbapi_connection) -> bool:
        from e6driver.pool import default_check

        default_check(dbapi_connection)  # a real round trip; raises when the server does not answer
        return True

    def is_disconnect(self, e, connection, cursor) -> bool:
        dbapi = self.dbapi
        if dbapi is None:
            return False
        if isinstance(e, dbapi.InterfaceError) and "closed" in str(e).lower():
            return True
        if isinstance(e, (dbapi.OperationalError, dbapi.InternalError)):
            code = getattr(e, "grpc_code", None)
            code_name = getattr(code, "name", str(code or ""))
            return code_name in ("UNAVAILABLE", "UNAUTHENTICATED") or "Access denied" in str(e)
        return False

    # ---- transactions: where the engine has them (AdminService.GetCapabilities, asked by the driver), every
    # SQLAlchemy connection runs with the driver's autocommit off: the driver sends BEGIN before the first
    # statement and SQLAlchemy's commit/rollback end it. Elsewhere (an e6data cluster) only AUTOCOMMIT exists
    # and commit/rollback have nothing to do. The engine (DuckDB) has snapshot isolation and no savepoints.
    def on_connect(self):
        def use_transactions(dbapi_connection) -> None:
            if getattr(self, "_check_namespace", False):
                check_namespace(dbapi_connection)  # before any transaction opens
            keep = getattr(self, "_keep_autocommit", False) or getattr(self, "isolation_level", None) == "AUTOCOMMIT"
            if not keep and dbapi_connection.supports_transactions:
                dbapi_connection.autocommit = False

        return use_transactions

    def do_begin(self, dbapi_connection) -> None:
        pass  # the driver opens the transaction before the first statement

    def do_rollback(self, dbapi_connection) -> None:
        if not dbapi_connection.autocommit:
            dbapi_connection.rollback()

    def do_commit(self, dbapi_connection) -> None:
        if not dbapi_connection.autocommit:
            dbapi_connection.commit()

    def get_isolation_level_values(self, dbapi_connection) -> List[str]:
        if dbapi_connection is not None and dbapi_connection.supports_transactions:
            return ["AUTOCOMMIT", "SNAPSHOT"]
        return ["AUTOCOMMIT"]

    def get_isolation_level(self, dbapi_connection) -> str:
        return "AUTOCOMMIT" if dbapi_connection.autocommit else "SNAPSHOT"

    def get_default_isolation_level(self, dbapi_conn) -> str:
        return "SNAPSHOT" if dbapi_conn.supports_transactions else "AUTOCOMMIT"

    def set_isolation_level(self, dbapi_connection, level) -> None:
        levels = self.get_isolation_level_values(dbapi_connection)
        if level not in levels:
            raise exc.ArgumentError(f"the engine supports the isolation levels {', '.join(levels)}, not {level!r}")
        dbapi_connection.autocommit = level == "AUTOCOMMIT"

    def initialize(self, connection) -> None:
        super().initialize(connection)
        register_alembic_impl()

    def _get_server_version_info(self, connection):
        return None

    def _get_default_schema_name(self, connection) -> Optional[str]:
        return getattr(self._driver_connection(connection), "database", None) or "main"


def _register_with_polars(*_: Any) -> None:
    from ..dataframes import register_with_polars

    register_with_polars()


def check_namespace(dbapi_connection) -> None:
    """Raise ``ProgrammingError`` unless the engine resolves the connection's catalog and schema: one statement
    run the way every later one will be, so a URL naming a missing catalog or schema fails on connect rather
    than at each query."""
    from e6driver.errors import ProgrammingError

    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SELECT 1")
        cursor.fetchall()
    except ProgrammingError as error:
        names = ", ".join(f"{kind} {name!r}" for kind, name in (
            ("catalog", dbapi_connection.catalog_name), ("schema", dbapi_connection.database)) if name)
        raise ProgrammingError(f"the URL names {names}, which the engine cannot use: {error}",
                               grpc_code=error.grpc_code, details=error.details) from error
    finally:
        cursor.close()


def register_alembic_impl() -> None:
    """alembic looks migration implementations up by dialect name: register ours (``alembic_impl``) when alembic
    is loaded — checked at import and on the first connection, so alembic's own import cost stays optional."""
    if "alembic" in sys.modules:
        from . import alembic_impl  # noqa: F401  (registers E6Impl for "e6driver")


register_alembic_impl()

dialect = E6Dialect
