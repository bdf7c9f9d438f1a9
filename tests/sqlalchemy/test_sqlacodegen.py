"""sqlacodegen against the local engine: reflection (primary keys, unique constraints, foreign keys, indexes, types)
becomes declarative classes, and the generated module imports and queries the engine."""
import datetime
import decimal
import subprocess
import sys
import types

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

pytest.importorskip("sqlacodegen", reason="sqlacodegen is in the test extras")  # absent from the SA 1.4 rerun
if sa.__version__.startswith("1."):
    pytest.skip("sqlacodegen 3+ needs SQLAlchemy 2", allow_module_level=True)

TABLES = [
    "CREATE TABLE cg_customers (id INTEGER PRIMARY KEY, email VARCHAR NOT NULL UNIQUE, active BOOLEAN)",
    "CREATE TABLE cg_orders (id BIGINT PRIMARY KEY, customer_id INTEGER REFERENCES cg_customers (id), "
    "amount DECIMAL(12, 2), note VARCHAR, placed DATE, placed_at TIMESTAMP, paid_at TIMESTAMPTZ, paid BOOLEAN)",
    "CREATE INDEX ix_cg_orders_placed ON cg_orders (placed)",
    "INSERT INTO cg_customers VALUES (1, 'a@example.com', true)",
    "INSERT INTO cg_orders VALUES (10, 1, 12.50, 'first', DATE '2024-01-02', TIMESTAMP '2024-01-02 03:04:05', "
    "TIMESTAMPTZ '2024-01-02 03:04:05+00', false)",
    # Every engine type, nested ones included: the generated module must import what it names.
    "CREATE TABLE cg_types (id INTEGER PRIMARY KEY, sm SMALLINT, big BIGINT, r REAL, d DOUBLE, "
    "amount DECIMAL(10, 2), s VARCHAR, sized VARCHAR(16), c CHAR(3), b BOOLEAN, bin BLOB, day DATE, t TIME, "
    "ts TIMESTAMP, tstz TIMESTAMPTZ, iv INTERVAL, tags INTEGER[], grid DOUBLE[][], "
    "attrs MAP(VARCHAR, DECIMAL(10, 2)), point STRUCT(x INTEGER, \"the label\" VARCHAR), "
    "deep MAP(VARCHAR, STRUCT(\"at\" TIMESTAMPTZ, vals BIGINT[])[]), rows STRUCT(a INTEGER, m MAP(VARCHAR, DATE))[])",
]
# Engine DDL of each cg_types column as the generated model declares it (the engine keeps no VARCHAR/CHAR length).
CG_TYPES_DDL = {
    "id": "INTEGER", "sm": "SMALLINT", "big": "BIGINT", "r": "REAL", "d": "DOUBLE", "amount": "DECIMAL(10, 2)",
    "s": "VARCHAR", "sized": "VARCHAR", "c": "VARCHAR", "b": "BOOLEAN", "bin": "BLOB", "day": "DATE",
    "t": "TIME", "ts": "TIMESTAMP", "tstz": "TIMESTAMP WITH TIME ZONE", "iv": "INTERVAL", "tags": "INTEGER[]",
    "grid": "DOUBLE[][]", "attrs": "MAP(VARCHAR, DECIMAL(10, 2))", "point": 'STRUCT(x INTEGER, "the label" VARCHAR)',
    "deep": 'MAP(VARCHAR, STRUCT("at" TIMESTAMP WITH TIME ZONE, vals BIGINT[])[])',
    "rows": "STRUCT(a INTEGER, m MAP(VARCHAR, DATE))[]",
}


@pytest.fixture(scope="module")
def generated(url):
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            for statement in TABLES:
                conn.exec_driver_sql(statement)
        run = subprocess.run([sys.executable, "-m", "sqlacodegen", "--tables", "cg_customers,cg_orders,cg_types", url],
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr[-3000:]
        yield run.stdout
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS cg_orders")
            conn.exec_driver_sql("DROP TABLE IF EXISTS cg_customers")
            conn.exec_driver_sql("DROP TABLE IF EXISTS cg_types")
        engine.dispose()


def test_tables_become_declarative_classes_with_exact_types(generated):
    assert "class CgCustomers(Base):" in generated and "class CgOrders(Base):" in generated, generated
    for line in ("id: Mapped[int] = mapped_column(BigInteger, primary_key=True)",
                 "customer_id: Mapped[Optional[int]] = mapped_column(Integer)",
                 "amount: Mapped[Optional[decimal.Decimal]] = mapped_column(DECIMAL(12, 2))",
                 "note: Mapped[Optional[str]] = mapped_column(String)",
                 "placed: Mapped[Optional[datetime.date]] = mapped_column(Date)",
                 "placed_at: Mapped[Optional[datetime.datetime]] = mapped_column(DateTime)",
                 "paid_at: Mapped[Optional[datetime.datetime]] = mapped_column(DateTime(True))",
                 "paid: Mapped[Optional[bool]] = mapped_column(Boolean)",
                 "email: Mapped[str] = mapped_column(String, nullable=False)"):
        assert line in generated, (line, generated)
    assert "UniqueConstraint('email'" in generated
    assert "ForeignKeyConstraint(['customer_id'], ['cg_customers.id']" in generated
    assert "Index('ix_cg_orders_placed', 'placed')" in generated
    assert "relationship('CgCustomers', back_populates='cg_orders')" in generated


def _models(generated):
    models = types.ModuleType("cg_models")
    exec(compile(generated, "cg_models.py", "exec"), models.__dict__)  # noqa: S102 - sqlacodegen's output
    return models


def test_the_generated_models_query_the_engine(generated, engine):
    models = _models(generated)
    with Session(engine) as session:
        order = session.get(models.CgOrders, 10)
        assert order.customer.email == "a@example.com"
        assert str(order.amount) == "12.50" and order.paid_at.tzinfo is not None


def test_every_type_is_generated_importable_and_exact(generated, engine):
    # sqlacodegen imports a column type's class (and an ARRAY's item class); nested members are spelled by their
    # engine type names, so the module needs nothing else.
    table = _models(generated).CgTypes.__table__
    assert {c.name: c.type.compile(dialect=engine.dialect) for c in table.columns} == CG_TYPES_DDL
    reflected = sa.Table("cg_types", sa.MetaData(), autoload_with=engine)
    assert {c.name: c.type.compile(dialect=engine.dialect) for c in reflected.columns} == CG_TYPES_DDL
    for line in ("tags: Mapped[Optional[list[int]]] = mapped_column(ARRAY(Integer()))",
                 "grid: Mapped[Optional[list[list]]] = mapped_column(ARRAY(ARRAY('double')))",
                 "attrs: Mapped[Optional[dict]] = mapped_column(MAP('varchar', 'decimal(10, 2)'))",
                 "point: Mapped[Optional[dict]] = mapped_column(STRUCT((('x', 'integer'), ('the label', 'varchar'))))",
                 "tstz: Mapped[Optional[datetime.datetime]] = mapped_column(DateTime(True))"):
        assert line in generated, (line, generated)


def test_the_generated_model_writes_and_reads_nested_values(generated, engine):
    models = _models(generated)
    row = models.CgTypes(id=1, amount=decimal.Decimal("1.50"), tags=[1, 2], grid=[[0.5], [1.5, 2.5]],
                         attrs={"k": 1.25}, point={"x": 3, "the label": "p"},
                         deep={"a": [{"at": "2024-01-02 03:04:05+00", "vals": [7]}]},
                         rows=[{"a": 1, "m": {"d": "2024-01-02"}}], tstz=datetime.datetime(2024, 1, 2, tzinfo=datetime.timezone.utc))
    with Session(engine) as session:
        session.add(row)
        session.commit()
    try:
        with Session(engine) as session:
            back = session.get(models.CgTypes, 1)
            assert back.amount == decimal.Decimal("1.50") and back.tags == [1, 2] and back.grid == [[0.5], [1.5, 2.5]]
            assert back.attrs == {"k": 1.25} and back.point == {"x": 3, "the label": "p"}
            assert back.rows == [{"a": 1, "m": {"d": "2024-01-02"}}] and back.deep["a"][0]["vals"] == [7]
            assert back.tstz == datetime.datetime(2024, 1, 2, tzinfo=datetime.timezone.utc)
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM cg_types")
