"""INSERT ... ON CONFLICT through ``e6driver.sqlalchemy.insert``: DO NOTHING and DO UPDATE (with ``excluded``, a
WHERE, executemany), as with SQLAlchemy's PostgreSQL and SQLite inserts."""
import uuid

import pytest
import sqlalchemy as sa

from e6driver.sqlalchemy import insert


@pytest.fixture
def pairs(engine):
    metadata = sa.MetaData()
    table = sa.Table(f"pairs_{uuid.uuid4().hex[:8]}", metadata, sa.Column("k", sa.String, primary_key=True),
                     sa.Column("v", sa.Integer), sa.Column("hits", sa.Integer, server_default="0"))
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(table), [{"k": "a", "v": 1}, {"k": "b", "v": 2}])
    yield table
    metadata.drop_all(engine)


def _rows(engine, table):
    with engine.connect() as conn:
        return conn.execute(sa.select(table).order_by(table.c.k)).all()


def test_do_nothing_keeps_the_existing_row(engine, pairs):
    with engine.begin() as conn:
        result = conn.execute(insert(pairs).values(k="a", v=99).on_conflict_do_nothing(index_elements=["k"]))
        conn.execute(insert(pairs).values(k="c", v=3).on_conflict_do_nothing())
    assert result.rowcount == 0
    assert _rows(engine, pairs) == [("a", 1, 0), ("b", 2, 0), ("c", 3, 0)]


def test_do_update_with_excluded_and_a_where(engine, pairs):
    statement = insert(pairs).values(k="a", v=10)
    statement = statement.on_conflict_do_update(
        index_elements=[pairs.c.k], set_={"v": statement.excluded.v + pairs.c.v, pairs.c.hits: pairs.c.hits + 1},
        where=pairs.c.v < 100)
    with engine.begin() as conn:
        conn.execute(statement)
        conn.execute(statement)
        conn.execute(insert(pairs).values(k="a", v=500).on_conflict_do_update(
            index_elements=["k"], set_={"v": 0}, where=pairs.c.v > 1000))  # the WHERE keeps the row as it is
    assert _rows(engine, pairs)[0] == ("a", 21, 2)


def test_executemany_upserts_every_row(engine, pairs):
    statement = insert(pairs)
    statement = statement.on_conflict_do_update(index_elements=["k"], set_={"v": statement.excluded.v})
    with engine.begin() as conn:
        conn.execute(statement, [{"k": "b", "v": 20}, {"k": "c", "v": 30}, {"k": "a", "v": 10}])
    assert _rows(engine, pairs) == [("a", 10, 0), ("b", 20, 0), ("c", 30, 0)]


def test_setting_a_name_that_is_not_a_column_is_a_compile_error(engine, pairs):
    statement = insert(pairs).values(k="a", v=1).on_conflict_do_update(index_elements=["k"], set_={"nope": 1})
    with pytest.raises(sa.exc.CompileError, match="'nope': not columns of table"):
        statement.compile(engine)


def test_the_statement_prints_in_the_engines_spelling(pairs):
    text = str(insert(pairs).values(k="a", v=1).on_conflict_do_nothing(index_elements=["k"]))
    assert text.endswith("ON CONFLICT (k) DO NOTHING")
