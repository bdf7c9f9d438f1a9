"""SQLAlchemy's asyncio extension on e6driver.aio: Core, ORM, streaming results and reflection, under both URL
schemes (``e6driver+async://`` and ``e6data+e6driver_async://``)."""
from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("greenlet")
import sqlalchemy as sa  # noqa: E402

if int(sa.__version__.split(".")[0]) < 2:  # the 1.4 rerun: the asyncio dialect is for SQLAlchemy 2.x
    pytest.skip("SQLAlchemy's asyncio ORM API tested here is 2.x's", allow_module_level=True)
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine  # noqa: E402
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column  # noqa: E402

from local_engine import engine_url  # noqa: E402


class Base(DeclarativeBase):
    pass


class Order(Base):
    __tablename__ = "async_orders"
    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    customer: Mapped[str] = mapped_column(sa.String)
    total: Mapped[float] = mapped_column(sa.Numeric(10, 2))


@pytest.mark.parametrize("scheme", ["e6driver+async", "e6data+e6driver_async"])
def test_core_orm_streaming_and_reflection(engine_server, scheme):
    async def main():
        engine = create_async_engine(engine_url(engine_server.address, scheme))
        try:
            async with engine.connect() as conn:
                assert (await conn.execute(sa.text("SELECT 40 + :n AS x"), {"n": 2})).all() == [(42,)]
            async with engine.begin() as conn:
                await conn.run_sync(Base.metadata.drop_all)
                await conn.run_sync(Base.metadata.create_all)
            async with AsyncSession(engine) as session:
                session.add_all([Order(id=i, customer=f"c{i % 3}", total=i * 1.5) for i in range(1, 31)])
                await session.commit()
                top = (await session.execute(
                    sa.select(Order).where(Order.customer == "c1").order_by(Order.total.desc()).limit(2)
                )).scalars().all()
                per_customer = (await session.execute(
                    sa.select(Order.customer, sa.func.count()).group_by(Order.customer).order_by(Order.customer)
                )).all()
            async with engine.connect() as conn:
                streamed = await conn.stream(sa.text("SELECT range AS n FROM range(25000)"))
                total = 0
                async for partition in streamed.partitions(5000):
                    total += sum(row.n for row in partition)
                names = await conn.run_sync(lambda sync: sa.inspect(sync).get_table_names())
            return [o.id for o in top], per_customer, total, names
        finally:
            await engine.dispose()

    top, per_customer, total, names = asyncio.run(main())
    assert top == [28, 25]
    assert per_customer == [("c0", 10), ("c1", 10), ("c2", 10)]
    assert total == sum(range(25000))
    assert "async_orders" in names


def test_the_async_dialect_is_registered_and_caches_statements():
    from sqlalchemy.engine import url

    from e6driver.sqlalchemy.aio import E6AsyncDialect

    for scheme in ("e6driver+async", "e6data+e6driver_async"):
        assert url.make_url(f"{scheme}://u:p@h:1/db").get_dialect() is E6AsyncDialect
    assert E6AsyncDialect.is_async and "supports_statement_cache" in E6AsyncDialect.__dict__
