"""Arrays through SQLAlchemy: the generic ``sqlalchemy.ARRAY`` (dimensions, ``zero_indexes``, ``as_tuple``) adapts
to the dialect's ARRAY; indexes and slices compile to the engine's 1-based, inclusive ``a[i]``/``a[i:j]``; the
dialect's ARRAY has PostgreSQL's ``contains``/``contained_by``/``overlap``."""
import uuid

import pytest
import sqlalchemy as sa

from e6driver.sqlalchemy.datatype import ARRAY


@pytest.fixture
def arrays(engine):
    metadata = sa.MetaData()
    table = sa.Table(f"arrays_{uuid.uuid4().hex[:8]}", metadata,
                     sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("generic", sa.ARRAY(sa.Integer)),
                     sa.Column("grid", sa.ARRAY(sa.String, dimensions=2)),
                     sa.Column("zero", sa.ARRAY(sa.Integer, zero_indexes=True, as_tuple=True)),
                     sa.Column("own", ARRAY(sa.Integer)))
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), [
            dict(id=1, generic=[1, 2, 3], grid=[["x", "it's"], ["z"]], zero=[7, 8], own=[1, 2, 3]),
            dict(id=2, generic=[], grid=[[]], zero=[], own=[5]),
            dict(id=3, generic=None, grid=None, zero=None, own=None)])
    yield table
    metadata.drop_all(engine)


def test_generic_arrays_in_ddl(engine):
    table = sa.Table("t", sa.MetaData(), sa.Column("a", sa.ARRAY(sa.Integer)),
                     sa.Column("b", sa.ARRAY(sa.String(5), dimensions=3)))
    ddl = str(sa.schema.CreateTable(table).compile(engine))
    assert "a INTEGER[]" in ddl and "b VARCHAR(5)[][][]" in ddl


def test_generic_arrays_round_trip(engine, arrays):
    with engine.connect() as conn:
        rows = conn.execute(sa.select(arrays.c.generic, arrays.c.grid, arrays.c.zero).order_by(arrays.c.id)).all()
    assert rows == [([1, 2, 3], [["x", "it's"], ["z"]], (7, 8)), ([], [[]], ()), (None, None, None)]


def test_indexes_and_slices(engine, arrays):
    query = sa.select(arrays.c.generic[1], arrays.c.generic[2:3], arrays.c.grid[1][2], arrays.c.zero[0],
                      arrays.c.own[3], arrays.c.generic[9]).where(arrays.c.id == 1)
    with engine.connect() as conn:
        assert tuple(conn.execute(query).one()) == (1, [2, 3], "it's", 7, 3, None)


def test_containment_and_overlap(engine, arrays):
    def ids(condition):
        with engine.connect() as conn:
            return [row.id for row in conn.execute(sa.select(arrays.c.id).where(condition).order_by(arrays.c.id))]

    assert ids(arrays.c.own.contains([2, 3])) == [1]
    assert ids(arrays.c.own.contained_by([1, 2, 3, 5])) == [1, 2]
    assert ids(arrays.c.own.overlap([9, 5])) == [2]
    assert ids(sa.literal(5) == arrays.c.own.any_()) == [2]
