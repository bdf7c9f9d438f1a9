"""Reflection for the dialect: names and column types from the engine's browsing RPCs, details from SQL.

The browsing RPCs (getSchemaNamesV2, getTablesV2, getColumnsV2) are the source of truth for what exists and for
column types. What they do not carry — which names are views, view text, column nullability and defaults — is
read from the engine's ``information_schema`` where it has one; an engine without it reflects those as unknown
(every name a table, columns nullable, no defaults). Keys, unique constraints, indexes and comments come from the
engine's system functions (``duckdb_constraints()``, ``duckdb_indexes()``, ``duckdb_tables()``) where it has them
(the local engine does); an engine without them — and concepts no engine here has (check constraints, sequences,
temporary objects) — reflects as empty so BI tools and ``MetaData.reflect()`` work.
"""
from __future__ import annotations

import json
import logging
import re
from typing import Any, Dict, List, Optional, Sequence, Set

from sqlalchemy import exc
from sqlalchemy.engine import reflection

from .datatype import parse_type

log = logging.getLogger(__name__)


class E6Reflection:
    """Mixin of :class:`~e6driver.sqlalchemy.dialect.E6Dialect` with the ``get_*`` / ``has_*`` methods.

    Methods under ``@reflection.cache`` carry no annotations: SQLAlchemy 1.4's decorator cannot copy them.
    """

    default_schema_name: Optional[str]
    dbapi: Any
    _information_schema_missing = False
    _system_functions_missing: Set[str] = frozenset()  # type: ignore[assignment]

    # ---- plumbing
    @staticmethod
    def _driver_connection(connection):
        # SQLAlchemy 1.4 initialises the dialect on a Connection around the bare DB-API connection.
        pooled = connection.connection
        return getattr(pooled, "driver_connection", None) or pooled

    def _catalog(self, connection) -> Optional[str]:
        driver_connection = self._driver_connection(connection)
        return getattr(driver_connection, "catalog_name", None) or getattr(driver_connection, "catalog", None)

    def _schema(self, connection, schema: Optional[str]) -> str:
        return schema or self.default_schema_name or "main"

    def _information_schema(self, connection, sql: str, params: Dict[str, Any]) -> Optional[List[Sequence[Any]]]:
        """Rows of a query on ``information_schema``; None when the engine has none (remembered per dialect)."""
        if self._information_schema_missing:
            return None
        cursor = self._driver_connection(connection).cursor()
        try:
            cursor.execute(sql, params)
            return cursor.fetchall()
        except self.dbapi.ProgrammingError:
            self._information_schema_missing = True
            return None
        finally:
            cursor.close()

    def _system_rows(self, connection, function: str, sql: str, params: Dict[str, Any]) -> List[Sequence[Any]]:
        """Rows of a query on one engine system function; empty (and remembered per dialect) when it has none."""
        if function in self._system_functions_missing:
            return []
        cursor = self._driver_connection(connection).cursor()
        try:
            cursor.execute(sql, params)
            return cursor.fetchall()
        except self.dbapi.ProgrammingError as error:
            log.info("the engine has no usable %s() (%s); reflecting it as empty", function, error)
            self._system_functions_missing = frozenset(self._system_functions_missing | {function})
            return []
        finally:
            cursor.close()

    def _where_schema(self, connection, schema: Optional[str], schema_column: str, catalog_column: str) -> tuple:
        """WHERE clause text and parameters selecting one schema (of the connection's catalog, if known)."""
        params: Dict[str, Any] = {"schema": self._schema(connection, schema)}
        clause = f"{schema_column} = %(schema)s"
        catalog = self._catalog(connection)
        if catalog:
            clause += f" AND {catalog_column} = %(catalog)s"
            params["catalog"] = catalog
        return clause, params

    def _where_relation_is(self, connection, table_name: str, schema: Optional[str]) -> tuple:
        """WHERE clause for one table in the system functions (``database_name``/``schema_name``/``table_name``)."""
        clause, params = self._where_schema(connection, schema, "schema_name", "database_name")
        params["table"] = table_name
        return f"{clause} AND table_name = %(table)s", params

    def _where_table_is_in(self, connection, schema: Optional[str]) -> tuple:
        """WHERE clause selecting one schema in ``information_schema``."""
        return self._where_schema(connection, schema, "table_schema", "table_catalog")

    # ---- names
    @reflection.cache
    def get_schema_names(self, connection, **kw):
        return list(self._driver_connection(connection).get_schema_names(self._catalog(connection)))

    def has_schema(self, connection, schema_name, **kw) -> bool:
        return schema_name in self.get_schema_names(connection, **kw)

    @reflection.cache
    def _relation_names(self, connection, schema=None, **kw):
        """Tables and views of a schema, as the engine lists them."""
        return list(self._driver_connection(connection).get_tables(
            self._catalog(connection), self._schema(connection, schema)))

    @reflection.cache
    def get_table_names(self, connection, schema=None, **kw):
        views = set(self.get_view_names(connection, schema, **kw))
        return [name for name in self._relation_names(connection, schema, **kw) if name not in views]

    @reflection.cache
    def get_view_names(self, connection, schema=None, **kw):
        where, params = self._where_table_is_in(connection, schema)
        rows = self._information_schema(
            connection, f"SELECT table_name FROM information_schema.tables WHERE table_type = 'VIEW' AND {where} "
            "ORDER BY table_name", params)
        return [row[0] for row in rows or ()]

    @reflection.cache
    def has_table(self, connection, table_name, schema=None, **kw):
        return table_name in self._relation_names(connection, schema, **kw)

    def get_view_definition(self, connection, view_name, schema=None, **kw) -> str:
        where, params = self._where_table_is_in(connection, schema)
        params["view"] = view_name
        rows = self._information_schema(
            connection, f"SELECT view_definition FROM information_schema.views WHERE table_name = %(view)s AND {where}",
            params)
        if rows is None:
            raise NotImplementedError(f"the engine does not expose view definitions ({view_name})")
        if not rows:
            raise exc.NoSuchTableError(view_name)
        return rows[0][0]

    # ---- columns
    @reflection.cache
    def get_columns(self, connection, table_name, schema=None, **kw):
        fields = self._driver_connection(connection).get_columns(
            self._catalog(connection), self._schema(connection, schema), table_name)
        if not fields and not self.has_table(connection, table_name, schema, **kw):
            raise exc.NoSuchTableError(table_name)
        details = self._column_details(connection, table_name, schema)
        comments = self._column_comments(connection, table_name, schema)
        columns = []
        for field in fields:
            nullable, default = details.get(field["fieldName"], (True, None))
            columns.append({
                "name": field["fieldName"],
                "type": parse_type(field["fieldType"]),
                "nullable": nullable,
                "default": default,
                "comment": comments.get(field["fieldName"]),
            })
        return columns

    def _column_details(self, connection, table_name, schema) -> Dict[str, tuple]:
        """column name → (nullable, default text) from information_schema; empty where there is none."""
        where, params = self._where_table_is_in(connection, schema)
        params["table"] = table_name
        rows = self._information_schema(
            connection, "SELECT column_name, is_nullable, column_default FROM information_schema.columns "
            f"WHERE table_name = %(table)s AND {where}", params)
        return {name: (str(is_nullable).upper() != "NO", default) for name, is_nullable, default in rows or ()}

    def _column_comments(self, connection, table_name, schema) -> Dict[str, str]:
        where, params = self._where_relation_is(connection, table_name, schema)
        rows = self._system_rows(connection, "duckdb_columns", "SELECT column_name, comment FROM duckdb_columns() "
                                 f"WHERE comment IS NOT NULL AND {where}", params)
        return {name: comment for name, comment in rows}

    # ---- keys, constraints, indexes, comments (engine system functions)
    @reflection.cache
    def _constraints(self, connection, table_name, schema=None, **kw):
        """(type, name, columns, referred table, referred columns) of a table's key constraints."""
        where, params = self._where_relation_is(connection, table_name, schema)
        rows = self._system_rows(
            connection, "duckdb_constraints",
            "SELECT constraint_type, constraint_name, constraint_column_names, referenced_table, "
            "referenced_column_names FROM duckdb_constraints() WHERE constraint_type IN "
            f"('PRIMARY KEY', 'UNIQUE', 'FOREIGN KEY') AND {where} ORDER BY constraint_index", params)
        return [(kind, name, _names(columns), referred, _names(referred_columns))
                for kind, name, columns, referred, referred_columns in rows]

    def get_pk_constraint(self, connection, table_name, schema=None, **kw):
        for kind, name, columns, _, _ in self._constraints(connection, table_name, schema, **kw):
            if kind == "PRIMARY KEY":
                return {"constrained_columns": columns, "name": name}
        return {"constrained_columns": [], "name": None}

    def get_unique_constraints(self, connection, table_name, schema=None, **kw):
        return [{"name": name, "column_names": columns}
                for kind, name, columns, _, _ in self._constraints(connection, table_name, schema, **kw)
                if kind == "UNIQUE"]

    def get_foreign_keys(self, connection, table_name, schema=None, **kw):
        return [{"name": name, "constrained_columns": columns, "referred_schema": schema,
                 "referred_table": referred, "referred_columns": referred_columns, "options": {}}
                for kind, name, columns, referred, referred_columns
                in self._constraints(connection, table_name, schema, **kw) if kind == "FOREIGN KEY"]

    def get_indexes(self, connection, table_name, schema=None, **kw):
        where, params = self._where_relation_is(connection, table_name, schema)
        rows = self._system_rows(connection, "duckdb_indexes", "SELECT index_name, is_unique, expressions "
                                 f"FROM duckdb_indexes() WHERE {where} ORDER BY index_name", params)
        indexes = []
        for name, unique, expressions in rows:
            parts = _index_expressions(expressions)
            columns = [_plain_column(part) for part in parts]
            index: Dict[str, Any] = {"name": name, "column_names": columns, "unique": bool(unique)}
            if None in columns:  # SQLAlchemy 2: expression indexes carry their SQL text
                index["expressions"] = [column or part for column, part in zip(columns, parts)]
            indexes.append(index)
        return indexes

    def get_table_comment(self, connection, table_name, schema=None, **kw):
        where, params = self._where_relation_is(connection, table_name, schema)
        rows = self._system_rows(connection, "duckdb_tables",
                                 f"SELECT comment FROM duckdb_tables() WHERE {where}", params)
        if not rows:
            where, params = self._where_relation_is(connection, table_name, schema)
            rows = self._system_rows(connection, "duckdb_views", "SELECT comment FROM duckdb_views() WHERE "
                                     + where.replace("table_name", "view_name"), params)
        return {"text": rows[0][0] if rows else None}

    @reflection.cache
    def get_sequence_names(self, connection, schema=None, **kw):
        where, params = self._where_schema(connection, schema, "schema_name", "database_name")
        rows = self._system_rows(connection, "duckdb_sequences", "SELECT sequence_name FROM duckdb_sequences() "
                                 f"WHERE NOT temporary AND {where} ORDER BY sequence_name", params)
        return [row[0] for row in rows]

    def has_sequence(self, connection, sequence_name, schema=None, **kw) -> bool:
        return sequence_name in self.get_sequence_names(connection, schema, **kw)

    # ---- what the engine does not have
    def get_check_constraints(self, connection, table_name, schema=None, **kw):
        return []

    def get_temp_table_names(self, connection, schema=None, **kw):
        return []

    def get_temp_view_names(self, connection, schema=None, **kw):
        return []


_PLAIN_NAME = re.compile(r'^(?:"((?:[^"]|"")+)"|([A-Za-z_][A-Za-z0-9_$]*))$')


def _names(value: Any) -> List[str]:
    """A list of names as the driver returns it: a list, or its JSON text."""
    if value is None:
        return []
    if isinstance(value, str):
        value = json.loads(value)
    return [str(name) for name in value]


def _index_expressions(text: Any) -> List[str]:
    """``duckdb_indexes().expressions`` (``[a, "B"]`` or ``['(a + 1)']``) split into one SQL text per key."""
    if not isinstance(text, str):
        return [str(part) for part in text or ()]
    body = text.strip()
    if body.startswith("[") and body.endswith("]"):
        body = body[1:-1]
    parts, depth, quote, start = [], 0, "", 0
    for i, char in enumerate(body):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(body[start:i])
            start = i + 1
    parts.append(body[start:])
    cleaned = []
    for part in (p.strip() for p in parts if p.strip()):
        if len(part) > 1 and part[0] == part[-1] == "'":
            part = part[1:-1].replace("''", "'")
        while part.startswith("((") and part.endswith("))"):
            part = part[1:-1]
        cleaned.append(part)
    return cleaned


def _plain_column(expression: str) -> Optional[str]:
    """The column name when an index key is a bare (possibly quoted) column, else None."""
    match = _PLAIN_NAME.match(expression)
    if not match:
        return None
    return match.group(1).replace('""', '"') if match.group(1) is not None else match.group(2)
