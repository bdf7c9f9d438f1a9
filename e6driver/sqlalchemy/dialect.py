"""The SQLAlchemy dialect: URL → connect arguments, compilers, reflection through the engine's browsing RPCs."""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Tuple

import sqlalchemy
from sqlalchemy import exc, util
from sqlalchemy.engine import default, reflection
from sqlalchemy.sql import compiler

from .datatype import parse_type

log = logging.getLogger(__name__)

_SQLALCHEMY_2 = int(sqlalchemy.__version__.split(".")[0]) >= 2


def _as_bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise exc.ArgumentError(f"expected a boolean in the URL query, got {value!r}")


# URL query key → (connect() argument, converter). Unknown keys are an error, never gRPC channel options.
URL_QUERY_ARGS = {
    "catalog": ("catalog", str),
    "secure": ("secure", _as_bool),
    "ssl_cert": ("ssl_cert", str),
    "cluster-name": ("cluster_name", str),
    "cluster_name": ("cluster_name", str),
    "auto_resume": ("auto_resume", _as_bool),
    "debug": ("debug", _as_bool),
    "connect_timeout": ("connect_timeout", float),
    "rpc_timeout": ("rpc_timeout", float),
    "query_timeout": ("query_timeout", float),
}


class E6IdentifierPreparer(compiler.IdentifierPreparer):
    pass


class E6Compiler(compiler.SQLCompiler):
    pass


class E6TypeCompiler(compiler.GenericTypeCompiler):
    # DDL spellings understood by the local engine (DuckDB).
    def visit_E6_ARRAY(self, type_, **kw):
        return f"{self.process(type_.item_type, **kw)}[]"

    def visit_E6_MAP(self, type_, **kw):
        return f"MAP({self.process(type_.key_type, **kw)}, {self.process(type_.value_type, **kw)})"

    def visit_E6_STRUCT(self, type_, **kw):
        fields = ", ".join(
            f"{self.dialect.identifier_preparer.quote(name)} {self.process(t, **kw)}" for name, t in type_.fields
        )
        return f"STRUCT({fields})"

    def visit_INTERVAL(self, type_, **kw):
        return "INTERVAL"

    def visit_TIMESTAMP(self, type_, **kw):
        return "TIMESTAMP WITH TIME ZONE" if getattr(type_, "timezone", False) else "TIMESTAMP"

    def visit_DATETIME(self, type_, **kw):
        return self.visit_TIMESTAMP(type_, **kw)

    def visit_BLOB(self, type_, **kw):
        return "BLOB"

    def visit_VARBINARY(self, type_, **kw):
        return "BLOB"

    def visit_BINARY(self, type_, **kw):
        return "BLOB"

    def visit_large_binary(self, type_, **kw):
        return "BLOB"


class E6Dialect(default.DefaultDialect):
    name = "e6driver"
    driver = "e6driver"
    supports_statement_cache = True

    paramstyle = "pyformat"
    default_paramstyle = "pyformat"
    supports_native_boolean = True
    supports_native_decimal = True
    supports_unicode_statements = True
    supports_unicode_binds = True
    supports_sane_rowcount = False
    supports_sane_multi_rowcount = False
    supports_multivalues_insert = True
    supports_default_values = False
    supports_empty_insert = False
    supports_sequences = False
    supports_alter = False
    supports_comments = False
    inline_comments = False
    postfetch_lastrowid = False
    returns_native_bytes = True
    div_is_floordiv = False

    preparer = E6IdentifierPreparer
    statement_compiler = E6Compiler
    if _SQLALCHEMY_2:
        type_compiler_cls = E6TypeCompiler
    else:  # pragma: no cover - SQLAlchemy 1.4
        type_compiler = E6TypeCompiler

    @classmethod
    def import_dbapi(cls):
        import e6driver

        return e6driver

    if not _SQLALCHEMY_2:  # pragma: no cover - SQLAlchemy 1.4 looks for dbapi() instead

        @classmethod
        def dbapi(cls):
            return cls.import_dbapi()

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
            if key not in URL_QUERY_ARGS:
                raise exc.ArgumentError(
                    f"unknown e6driver URL option {key!r}; known options: {', '.join(sorted(URL_QUERY_ARGS))}"
                )
            if isinstance(value, tuple):
                raise exc.ArgumentError(f"URL option {key!r} given more than once")
            argument, convert = URL_QUERY_ARGS[key]
            kwargs[argument] = convert(value)
        return [], kwargs

    def do_ping(self, dbapi_connection) -> bool:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SELECT 1")
            cursor.fetchall()
        finally:
            cursor.close()
        return True

    def is_disconnect(self, e, connection, cursor) -> bool:
        dbapi = self.loaded_dbapi if _SQLALCHEMY_2 else self.dbapi
        if dbapi is None:
            return False
        if isinstance(e, dbapi.InterfaceError) and "closed" in str(e).lower():
            return True
        if isinstance(e, (dbapi.OperationalError, dbapi.InternalError)):
            code = getattr(e, "grpc_code", None)
            code_name = getattr(code, "name", str(code or ""))
            return code_name in ("UNAVAILABLE", "UNAUTHENTICATED") or "Access denied" in str(e)
        return False

    # ---- transactions: the engine autocommits every statement
    def do_begin(self, dbapi_connection) -> None:
        pass

    def do_rollback(self, dbapi_connection) -> None:
        pass

    def do_commit(self, dbapi_connection) -> None:
        pass

    def get_isolation_level_values(self, dbapi_connection) -> List[str]:
        return ["AUTOCOMMIT"]

    def get_isolation_level(self, dbapi_connection) -> str:
        return "AUTOCOMMIT"

    def get_default_isolation_level(self, dbapi_conn) -> str:
        return "AUTOCOMMIT"

    def set_isolation_level(self, dbapi_connection, level) -> None:
        if level != "AUTOCOMMIT":
            raise exc.ArgumentError(f"the engine supports only AUTOCOMMIT, not {level!r}")

    def _get_server_version_info(self, connection):
        return None

    def _get_default_schema_name(self, connection) -> Optional[str]:
        return getattr(self._driver_connection(connection), "database", None) or "main"

    # ---- reflection through the engine's browsing RPCs
    @staticmethod
    def _driver_connection(connection):
        return connection.connection.driver_connection

    def _catalog(self, connection) -> Optional[str]:
        driver_connection = self._driver_connection(connection)
        return getattr(driver_connection, "catalog_name", None) or getattr(driver_connection, "catalog", None)

    def _schema(self, connection, schema: Optional[str]) -> str:
        return schema or self.default_schema_name or "main"

    @reflection.cache
    def get_schema_names(self, connection, **kw) -> List[str]:
        return list(self._driver_connection(connection).get_schema_names(self._catalog(connection)))

    @reflection.cache
    def get_table_names(self, connection, schema=None, **kw) -> List[str]:
        names = self._driver_connection(connection).get_tables(self._catalog(connection), self._schema(connection, schema))
        views = set(self.get_view_names(connection, schema, **kw))
        return [name for name in names if name not in views]

    @reflection.cache
    def get_view_names(self, connection, schema=None, **kw) -> List[str]:
        # No browsing RPC separates views; engines with an information_schema answer, others have none to list.
        dbapi = self.loaded_dbapi if _SQLALCHEMY_2 else self.dbapi
        cursor = self._driver_connection(connection).cursor()
        try:
            cursor.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_type = 'VIEW' "
                "AND table_schema = %(schema)s ORDER BY table_name",
                {"schema": self._schema(connection, schema)},
            )
            return [row[0] for row in cursor.fetchall()]
        except dbapi.ProgrammingError:
            return []
        finally:
            cursor.close()

    def has_table(self, connection, table_name, schema=None, **kw) -> bool:
        names = self._driver_connection(connection).get_tables(self._catalog(connection), self._schema(connection, schema))
        return table_name in names

    def has_schema(self, connection, schema_name, **kw) -> bool:
        return schema_name in self.get_schema_names(connection, **kw)

    @reflection.cache
    def get_columns(self, connection, table_name, schema=None, **kw) -> List[Dict[str, Any]]:
        fields = self._driver_connection(connection).get_columns(
            self._catalog(connection), self._schema(connection, schema), table_name
        )
        if not fields and not self.has_table(connection, table_name, schema):
            raise exc.NoSuchTableError(table_name)
        return [
            {
                "name": field["fieldName"],
                "type": parse_type(field["fieldType"]),
                "nullable": True,
                "default": None,
                "autoincrement": False,
            }
            for field in fields
        ]

    # Concepts the engine lacks reflect as empty, so BI tools and metadata.reflect() work.
    def get_pk_constraint(self, connection, table_name, schema=None, **kw):
        return {"constrained_columns": [], "name": None}

    def get_foreign_keys(self, connection, table_name, schema=None, **kw):
        return []

    def get_indexes(self, connection, table_name, schema=None, **kw):
        return []

    def get_unique_constraints(self, connection, table_name, schema=None, **kw):
        return []

    def get_check_constraints(self, connection, table_name, schema=None, **kw):
        return []

    def get_table_comment(self, connection, table_name, schema=None, **kw):
        return {"text": None}

    def get_sequence_names(self, connection, schema=None, **kw):
        return []

    def get_temp_table_names(self, connection, schema=None, **kw):
        return []

    def get_temp_view_names(self, connection, schema=None, **kw):
        return []

    def get_view_definition(self, connection, view_name, schema=None, **kw):
        raise exc.NotSupportedError(f"the engine does not expose view definitions ({view_name})")


dialect = E6Dialect
