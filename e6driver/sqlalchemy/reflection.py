"""Reflection for the dialect: names and column types from the engine's browsing RPCs, details from SQL.

The browsing RPCs (getSchemaNamesV2, getTablesV2, getColumnsV2) are the source of truth for what exists and for
column types. What they do not carry — which names are views, view text, column nullability and defaults — is
read from the engine's ``information_schema`` where it has one; an engine without it reflects those as unknown
(every name a table, columns nullable, no defaults). Concepts the engine lacks (keys, indexes, constraints,
comments, sequences, temporary objects) reflect as empty so BI tools and ``MetaData.reflect()`` work.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

from sqlalchemy import exc
from sqlalchemy.engine import reflection

from .datatype import parse_type


class E6Reflection:
    """Mixin of :class:`~e6driver.sqlalchemy.dialect.E6Dialect` with the ``get_*`` / ``has_*`` methods.

    Methods under ``@reflection.cache`` carry no annotations: SQLAlchemy 1.4's decorator cannot copy them.
    """

    default_schema_name: Optional[str]
    dbapi: Any
    _information_schema_missing = False

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

    def _where_table_is_in(self, connection, schema: Optional[str]) -> tuple:
        """WHERE clause text and parameters selecting one schema (of the connection's catalog, if known)."""
        params: Dict[str, Any] = {"schema": self._schema(connection, schema)}
        clause = "table_schema = %(schema)s"
        catalog = self._catalog(connection)
        if catalog:
            clause += " AND table_catalog = %(catalog)s"
            params["catalog"] = catalog
        return clause, params

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
        columns = []
        for field in fields:
            nullable, default = details.get(field["fieldName"], (True, None))
            columns.append({
                "name": field["fieldName"],
                "type": parse_type(field["fieldType"]),
                "nullable": nullable,
                "default": default,
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

    # ---- what the engine does not have
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
