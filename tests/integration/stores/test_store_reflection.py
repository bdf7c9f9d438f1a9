"""SQLAlchemy reflection over catalogs `objects` (a bucket's named tables) and `datasets` (schema `main`)."""
from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

sqlalchemy = pytest.importorskip("sqlalchemy")
from sqlalchemy import inspect, text, types  # noqa: E402

BUCKET = "reflected"
USERS = {"alice": "alice-pw", "bob": "bob-pw"}  # as in conftest.py


def _engine(server, user: str, database: str, catalog: str):
    return sqlalchemy.create_engine(
        f"e6driver://{user}:{USERS[user]}@127.0.0.1:{server.port}/{database}?catalog={catalog}")


@pytest.fixture(scope="module")
def registered(alice):
    out = io.BytesIO()
    pq.write_table(pa.table({
        "id": pa.array([1, 2], pa.int64()), "label": ["a", "b"], "price": pa.array([1.25, 2.5]),
        "day": pa.array([0, 1], pa.date32()), "flag": [True, False]}), out)
    alice.objects.create_bucket(BUCKET)
    alice.objects.put(BUCKET, "sales/part-0.parquet", out.getvalue())
    alice.objects.register_table(BUCKET, "sales", "sales/")
    return BUCKET


@pytest.fixture(scope="module")
def dataset(alice):
    alice.datasets.upload("orders_ref", pa.table({
        "order_id": pa.array([7, 8], pa.int32()), "customer": ["x", "y"],
        "total": pa.array([10.5, 20.0]), "placed": pa.array([0, 1], pa.timestamp("us"))}))
    return "orders_ref"


def test_objects_catalog_reflects_named_tables(server, registered):
    engine = _engine(server, "alice", registered, "objects")
    try:
        inspector = inspect(engine)
        assert registered in inspector.get_schema_names()
        assert inspector.get_table_names() == ["$objects", "sales"]
        columns = {c["name"]: c["type"] for c in inspector.get_columns("sales")}
        assert list(columns) == ["id", "label", "price", "day", "flag"]
        assert isinstance(columns["id"], types.BigInteger)
        assert isinstance(columns["label"], types.String)
        assert isinstance(columns["price"], types.Float)
        assert isinstance(columns["day"], types.Date)
        assert isinstance(columns["flag"], types.Boolean)
        table = sqlalchemy.Table("sales", sqlalchemy.MetaData(), autoload_with=engine)
        with engine.connect() as conn:
            assert conn.execute(sqlalchemy.select(sqlalchemy.func.count()).select_from(table)).scalar() == 2
            assert conn.execute(text(f'SELECT max(label) FROM objects."{registered}".sales')).scalar() == "b"
    finally:
        engine.dispose()


def test_datasets_catalog_reflects_datasets(server, dataset):
    engine = _engine(server, "alice", "main", "datasets")
    try:
        inspector = inspect(engine)
        assert set(inspector.get_schema_names()) == {"information", "main", "alice"}  # metadata, all, by owner
        assert dataset in inspector.get_table_names()
        columns = {c["name"]: c["type"] for c in inspector.get_columns(dataset)}
        assert list(columns) == ["order_id", "customer", "total", "placed"]
        assert isinstance(columns["order_id"], types.Integer)
        assert isinstance(columns["customer"], types.String)
        assert isinstance(columns["total"], types.Float)
        assert isinstance(columns["placed"], types.DateTime)
        table = sqlalchemy.Table(dataset, sqlalchemy.MetaData(), autoload_with=engine)
        with engine.connect() as conn:
            assert conn.execute(sqlalchemy.select(sqlalchemy.func.sum(table.c.order_id))).scalar() == 15
            query = sqlalchemy.select(table.c.customer).where(table.c.total > 15).order_by(table.c.order_id)
            assert conn.execute(query).scalars().all() == ["y"]
            assert conn.execute(text(f"WITH {dataset} AS (SELECT 1 AS n) SELECT n FROM {dataset}")).scalar() == 1
    finally:
        engine.dispose()


def test_reflection_shows_nothing_without_a_grant(server, registered, dataset):
    engine = _engine(server, "bob", registered, "objects")
    try:
        inspector = inspect(engine)
        assert inspector.get_table_names() == []
        with pytest.raises(sqlalchemy.exc.NoSuchTableError):
            inspector.get_columns("sales")
    finally:
        engine.dispose()
    engine = _engine(server, "bob", "main", "datasets")
    try:
        assert dataset not in inspect(engine).get_table_names()
    finally:
        engine.dispose()
