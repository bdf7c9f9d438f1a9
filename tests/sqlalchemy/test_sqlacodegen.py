"""sqlacodegen against the local engine: reflection (primary keys, unique constraints, foreign keys, indexes, types)
becomes declarative classes, and the generated module imports and queries the engine."""
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
]


@pytest.fixture(scope="module")
def generated(url):
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            for statement in TABLES:
                conn.exec_driver_sql(statement)
        run = subprocess.run([sys.executable, "-m", "sqlacodegen", "--tables", "cg_customers,cg_orders", url],
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr[-3000:]
        yield run.stdout
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS cg_orders")
            conn.exec_driver_sql("DROP TABLE IF EXISTS cg_customers")
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


def test_the_generated_models_query_the_engine(generated, engine):
    models = types.ModuleType("cg_models")
    exec(compile(generated, "cg_models.py", "exec"), models.__dict__)  # noqa: S102 - sqlacodegen's output
    with Session(engine) as session:
        order = session.get(models.CgOrders, 10)
        assert order.customer.email == "a@example.com"
        assert str(order.amount) == "12.50" and order.paid_at.tzinfo is not None
