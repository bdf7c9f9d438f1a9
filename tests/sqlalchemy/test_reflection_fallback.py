"""Reflection on an engine without information_schema: names and types from the browsing RPCs, details unknown."""
import types

import pytest
import sqlalchemy as sa

import e6driver
from e6driver.sqlalchemy.dialect import E6Dialect


class _EngineWithoutInformationSchema:
    """The browsing RPCs of a driver connection; every SQL query fails as on an engine lacking the views."""

    catalog_name, database = "hive", "sales"

    def __init__(self):
        self.queries = []

    def get_schema_names(self, catalog):
        return ["sales"]

    def get_tables(self, catalog, schema):
        return ["orders", "orders_v"] if (catalog, schema) == ("hive", "sales") else []

    def get_columns(self, catalog, schema, table):
        return [{"fieldName": "id", "fieldType": "bigint"}, {"fieldName": "total", "fieldType": "decimal(18,2)"}] \
            if table in ("orders", "orders_v") else []

    def cursor(self):
        engine = self

        class Cursor:
            def execute(self, sql, params=None):
                engine.queries.append(sql)
                raise e6driver.ProgrammingError("Catalog Error: information_schema does not exist")

            def close(self):
                pass

        return Cursor()


@pytest.fixture
def dialect_and_connection():
    dialect = E6Dialect(dbapi=e6driver)
    dialect.default_schema_name = "sales"
    driver_connection = _EngineWithoutInformationSchema()
    connection = types.SimpleNamespace(connection=types.SimpleNamespace(driver_connection=driver_connection))
    return dialect, connection, driver_connection


def test_every_relation_is_a_table_and_columns_keep_their_types(dialect_and_connection):
    dialect, connection, engine = dialect_and_connection
    assert dialect.get_view_names(connection) == []
    assert dialect.get_table_names(connection) == ["orders", "orders_v"]
    columns = dialect.get_columns(connection, "orders")
    assert [c["name"] for c in columns] == ["id", "total"]
    assert isinstance(columns[0]["type"], sa.BigInteger)
    assert (columns[1]["type"].precision, columns[1]["type"].scale) == (18, 2)
    assert all(c["nullable"] is True and c["default"] is None for c in columns)
    dialect.get_columns(connection, "orders_v")
    # the missing information_schema and duckdb_columns() are asked about once per dialect
    assert sum("information_schema" in q for q in engine.queries) == 1
    assert sum("duckdb_columns()" in q for q in engine.queries) == 1


def test_missing_table_and_view_definition(dialect_and_connection):
    dialect, connection, engine = dialect_and_connection
    assert dialect.has_table(connection, "orders") and not dialect.has_table(connection, "nope")
    with pytest.raises(sa.exc.NoSuchTableError):
        dialect.get_columns(connection, "nope")
    with pytest.raises(NotImplementedError):
        dialect.get_view_definition(connection, "orders_v")
    assert dialect.get_pk_constraint(connection, "orders") == {"constrained_columns": [], "name": None}
    assert dialect.get_foreign_keys(connection, "orders") == [] == dialect.get_indexes(connection, "orders")
    assert dialect.get_unique_constraints(connection, "orders") == []
    assert dialect.get_table_comment(connection, "orders") == {"text": None}
    asked = len(engine.queries)
    dialect.get_indexes(connection, "orders_v")
    dialect.get_pk_constraint(connection, "orders_v")
    assert len(engine.queries) == asked  # engine functions found missing are not asked again
