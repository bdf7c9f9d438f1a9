"""A room plugged in as a SQL catalog (mock_server.catalogs.SqlCatalog): its tables are read per user through
the driver, joined with DuckDB's own, browsed like any catalog, and its access errors reach the client."""
from __future__ import annotations

from typing import List

import grpc
import pyarrow as pa
import pytest

import e6driver
from mock_server import errors

USER, PASSWORD = "alice", "alice-token"
OTHER, OTHER_PASSWORD = "bob", "bob-token"


class Scores:
    """Table ``<user>_points`` per user; ``read`` refuses other users' tables."""
    name = "scores"
    default_schema = "main"

    def schemas(self, user: str) -> List[str]:
        return ["main"]

    def tables(self, user: str, schema: str) -> List[str]:
        return [f"{user}_points"] if schema == "main" else []

    def read(self, user: str, schema: str, table: str) -> pa.Table:
        if schema != "main" or table != f"{user}_points":
            raise errors.EngineError(grpc.StatusCode.PERMISSION_DENIED, f"no access to scores.{schema}.{table}")
        return pa.table({"who": [user, user], "points": [3, 4]})


@pytest.fixture
def srv(fresh_server):
    return fresh_server(sql_catalogs=[Scores()])


def connect(srv, user=USER, password=PASSWORD, **kw):
    return e6driver.connect(host=srv.host, port=srv.port, username=user, password=password, **kw)


def test_two_and_three_part_names_read_the_users_table_and_join_local_ones(srv):
    with connect(srv) as conn:
        cur = conn.cursor()
        cur.execute("SELECT sum(points) FROM scores.alice_points")
        assert cur.fetchall() == [(7,)]
        cur.execute("SELECT p.who, n.label FROM scores.main.alice_points p "
                    "JOIN (VALUES (3, 'three')) n(points, label) USING (points)")
        assert cur.fetchall() == [("alice", "three")]


def test_another_users_table_is_refused_with_the_catalogs_message(srv):
    with connect(srv, OTHER, OTHER_PASSWORD) as conn:
        with pytest.raises(e6driver.DatabaseError, match="no access to scores.main.alice_points"):
            conn.cursor().execute("SELECT * FROM scores.alice_points")


def test_browsing_lists_the_catalog_its_schemas_tables_and_columns(srv):
    with connect(srv) as conn:
        assert {"name": "scores", "isDefault": False} in conn.get_catalogs()
        assert conn.get_schema_names(catalog="scores") == ["main"]
        assert conn.get_tables(catalog="scores", database="main") == ["alice_points"]
        columns = conn.get_columns(catalog="scores", database="main", table="alice_points")
        assert [(c["fieldName"], c["fieldType"]) for c in columns] == [("who", "string"), ("points", "bigint")]


def test_relative_unquoted_names_in_the_catalog(srv):
    with connect(srv, catalog="scores", database="main") as conn:
        cur = conn.cursor()
        cur.execute("SELECT count(*) FROM alice_points")
        assert cur.fetchall() == [(2,)]
