"""SQLAlchemy's compiled-statement cache with the dialect: one compilation per statement shape, right answers."""
import datetime
import decimal
import warnings

import pytest
import sqlalchemy as sa

from e6driver.sqlalchemy import compiler as e6_compiler


@pytest.fixture
def people(engine):
    metadata = sa.MetaData()
    table = sa.Table(
        "cache_people", metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(20)),
        sa.Column("balance", sa.Numeric(10, 2)),
        sa.Column("joined", sa.Date),
        sa.Column("tenure", sa.Interval),
    )
    metadata.drop_all(engine)
    metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(table.insert(), [
            {"id": i, "name": f"p{i}", "balance": decimal.Decimal(f"{i}.25"),
             "joined": datetime.date(2020, 1, i), "tenure": datetime.timedelta(days=i)}
            for i in range(1, 6)
        ])
    yield table
    metadata.drop_all(engine)


@pytest.fixture
def compilations(monkeypatch):
    """Number of SQL compilations done by the dialect's compiler while the test runs."""
    counter = {"n": 0}
    original_init = e6_compiler.E6Compiler.__init__

    def counting_init(self, *args, **kwargs):
        counter["n"] += 1
        original_init(self, *args, **kwargs)

    monkeypatch.setattr(e6_compiler.E6Compiler, "__init__", counting_init)
    return counter


def test_same_statement_is_compiled_once_and_each_literal_gets_its_own_rows(engine, people, compilations):
    results, cache_states = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("error", sa.exc.SAWarning)  # e.g. "will not make use of SQL compilation caching"
        with engine.connect() as connection:
            for wanted in (1, 3, 5, 2):
                result = connection.execute(
                    sa.select(people.c.name, people.c.balance, people.c.joined, people.c.tenure)
                    .where(people.c.id == wanted))
                cache_states.append(result.context.cache_hit)
                results.append(result.one())
    assert compilations["n"] == 1
    dialect = engine.dialect
    assert cache_states == [dialect.CACHE_MISS] + [dialect.CACHE_HIT] * 3
    assert results == [
        (f"p{i}", decimal.Decimal(f"{i}.25"), datetime.date(2020, 1, i), datetime.timedelta(days=i))
        for i in (1, 3, 5, 2)
    ]


def test_cached_in_list_expands_to_each_call_values(engine, people, compilations):
    statement = sa.select(people.c.id).where(people.c.name.in_(sa.bindparam("names", expanding=True)))
    with engine.connect() as connection:
        first = connection.execute(statement.order_by(people.c.id), {"names": ["p2", "p4"]}).scalars().all()
        second = connection.execute(statement.order_by(people.c.id), {"names": ["p1", "p3", "p5"]}).scalars().all()
    assert (first, second) == ([2, 4], [1, 3, 5])
    assert compilations["n"] == 1


def test_different_statements_are_cached_separately(engine, people):
    with engine.connect() as connection:
        by_id = connection.scalar(sa.select(people.c.name).where(people.c.id == 4))
        by_name = connection.scalar(sa.select(people.c.id).where(people.c.name == "p4"))
        again = connection.execute(sa.select(people.c.name).where(people.c.id == 2))
        assert again.context.cache_hit == engine.dialect.CACHE_HIT
        assert (by_id, by_name, again.scalar()) == ("p4", 4, "p2")


def test_values_that_look_like_syntax_stay_data_bound_or_inlined(engine, people):
    tricky = ["it's", "back\\slash", "100%", "%(name)s", "%s", "line\nbreak", "tab\there"]
    with engine.begin() as connection:
        connection.execute(people.insert(), [{"id": 100 + i, "name": value} for i, value in enumerate(tricky)])
        bound = [connection.scalar(sa.select(people.c.name).where(people.c.name == value)) for value in tricky]
        inlined = []
        for value in tricky:
            sql = sa.select(sa.literal(value, sa.String)).compile(
                dialect=engine.dialect, compile_kwargs={"literal_binds": True})
            inlined.append(connection.exec_driver_sql(str(sql)).scalar())
    assert bound == tricky
    assert inlined == tricky
