"""Both URL schemes load the dialect from the installed package's entry points and reach a live engine."""
from importlib import metadata

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import registry

from e6driver.sqlalchemy.dialect import E6Dialect
from local_engine import engine_url

SCHEMES = {"e6driver": "e6driver", "e6data+e6driver": "e6data.e6driver"}


def _dialect_entry_points():
    points = metadata.entry_points()
    group = points.select(group="sqlalchemy.dialects") if hasattr(points, "select") \
        else points.get("sqlalchemy.dialects", [])
    return {point.name: point.value for point in group}


@pytest.mark.parametrize("name", sorted(SCHEMES.values()))
def test_the_installed_distribution_declares_the_entry_point(name):
    assert _dialect_entry_points().get(name) == "e6driver.sqlalchemy.dialect:E6Dialect"


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_create_engine_loads_the_dialect_through_its_entry_point(scheme, engine_server, monkeypatch):
    name = SCHEMES[scheme]
    monkeypatch.delitem(registry.impls, name, raising=False)  # forget any earlier load in this process
    engine = sa.create_engine(engine_url(engine_server.address, scheme))
    try:
        assert type(engine.dialect) is E6Dialect
        loader = getattr(registry.impls[name], "__self__", None)  # SQLAlchemy keeps the EntryPoint's load()
        assert isinstance(loader, metadata.EntryPoint) and loader.value == "e6driver.sqlalchemy.dialect:E6Dialect"
        with engine.connect() as connection:
            assert connection.scalar(sa.select(sa.literal(41) + 1)) == 42
            assert connection.dialect.default_schema_name == "main"
    finally:
        engine.dispose()
