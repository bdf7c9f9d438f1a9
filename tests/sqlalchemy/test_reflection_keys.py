"""Reflection of keys, unique constraints, indexes, foreign keys, view text and comments against the local engine,
and what tools build on it: automap classes, metadata round trips."""
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.automap import automap_base


@pytest.fixture
def shop(engine):
    """Customers ← orders (FK), a unique pair, two indexes (one unique, one on an expression), a view, comments."""
    statements = [
        "DROP VIEW IF EXISTS refl_big_orders", "DROP TABLE IF EXISTS refl_orders", "DROP TABLE IF EXISTS refl_customers",
        "CREATE TABLE refl_customers (id INTEGER PRIMARY KEY, email VARCHAR UNIQUE, name VARCHAR NOT NULL)",
        "CREATE TABLE refl_orders (order_no INTEGER, line INTEGER, customer_id INTEGER REFERENCES refl_customers(id), "
        "total DECIMAL(12,2), note VARCHAR, PRIMARY KEY (order_no, line), UNIQUE (customer_id, note))",
        "CREATE INDEX ix_refl_orders_total ON refl_orders (total)",
        'CREATE UNIQUE INDEX "Ix Refl Note" ON refl_orders (note)',
        "CREATE INDEX ix_refl_orders_expr ON refl_orders ((total + 1))",
        "CREATE VIEW refl_big_orders AS SELECT order_no, total FROM refl_orders WHERE total > 100",
        "COMMENT ON TABLE refl_customers IS 'people who buy'",
        "COMMENT ON COLUMN refl_customers.email IS 'where receipts go'",
    ]
    with engine.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)
    yield engine
    with engine.begin() as conn:
        for statement in statements[:3]:
            conn.exec_driver_sql(statement)


def test_primary_keys_single_and_composite(shop):
    inspector = sa.inspect(shop)
    assert inspector.get_pk_constraint("refl_customers")["constrained_columns"] == ["id"]
    pk = inspector.get_pk_constraint("refl_orders")
    assert pk["constrained_columns"] == ["order_no", "line"] and pk["name"]


def test_unique_constraints(shop):
    inspector = sa.inspect(shop)
    assert [u["column_names"] for u in inspector.get_unique_constraints("refl_customers")] == [["email"]]
    assert [u["column_names"] for u in inspector.get_unique_constraints("refl_orders")] == [["customer_id", "note"]]


def test_foreign_keys(shop):
    (fk,) = sa.inspect(shop).get_foreign_keys("refl_orders")
    assert fk["constrained_columns"] == ["customer_id"]
    assert fk["referred_table"] == "refl_customers" and fk["referred_columns"] == ["id"]
    assert sa.inspect(shop).get_foreign_keys("refl_customers") == []


def test_indexes_plain_quoted_unique_and_expression(shop):
    indexes = {ix["name"]: ix for ix in sa.inspect(shop).get_indexes("refl_orders")}
    assert set(indexes) == {"ix_refl_orders_total", "Ix Refl Note", "ix_refl_orders_expr"}
    assert indexes["ix_refl_orders_total"]["column_names"] == ["total"] and not indexes["ix_refl_orders_total"]["unique"]
    assert indexes["Ix Refl Note"]["column_names"] == ["note"] and indexes["Ix Refl Note"]["unique"]
    assert indexes["ix_refl_orders_expr"]["column_names"] == [None]
    assert "total" in indexes["ix_refl_orders_expr"]["expressions"][0]


def test_comments_and_view_definition(shop):
    inspector = sa.inspect(shop)
    assert inspector.get_table_comment("refl_customers")["text"] == "people who buy"
    assert inspector.get_table_comment("refl_orders")["text"] is None
    comments = {c["name"]: c["comment"] for c in inspector.get_columns("refl_customers")}
    assert comments == {"id": None, "email": "where receipts go", "name": None}
    assert "refl_big_orders" in inspector.get_view_names()
    assert "total > 100" in inspector.get_view_definition("refl_big_orders")


def test_reflected_table_keeps_keys_and_nullability(shop):
    table = sa.Table("refl_orders", sa.MetaData(), autoload_with=shop)
    assert [c.name for c in table.primary_key.columns] == ["order_no", "line"]
    (fk,) = table.foreign_keys
    assert fk.target_fullname == "refl_customers.id"
    assert {ix.name for ix in table.indexes} >= {"ix_refl_orders_total", "Ix Refl Note"}
    customers = sa.Table("refl_customers", sa.MetaData(), autoload_with=shop)
    assert customers.c.name.nullable is False and customers.c.email.nullable is True
    assert customers.comment == "people who buy"


def test_automap_maps_classes_with_relationships(shop):
    base = automap_base()
    base.prepare(autoload_with=shop, reflection_options={"only": ["refl_customers", "refl_orders"]})
    customers, orders = base.classes.refl_customers, base.classes.refl_orders
    sa.orm.configure_mappers()
    assert hasattr(orders, "refl_customers") and hasattr(customers, "refl_orders_collection")
    with sa.orm.Session(shop) as session:
        session.add(customers(id=1, email="a@example.com", name="Ann"))
        session.flush()
        session.add(orders(order_no=10, line=1, customer_id=1, total=5))
        session.commit()
        (ann,) = session.query(customers).all()
        assert [o.order_no for o in ann.refl_orders_collection] == [10]


def test_comments_created_from_metadata_are_reflected(engine):
    metadata = sa.MetaData()
    sa.Table("refl_commented", metadata, sa.Column("id", sa.Integer, primary_key=True, comment="the key"),
             comment="made by create_all")
    metadata.drop_all(engine)
    metadata.create_all(engine)
    try:
        inspector = sa.inspect(engine)
        assert inspector.get_table_comment("refl_commented")["text"] == "made by create_all"
        assert [c["comment"] for c in inspector.get_columns("refl_commented")] == ["the key"]
    finally:
        metadata.drop_all(engine)
