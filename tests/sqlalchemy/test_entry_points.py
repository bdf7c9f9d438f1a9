"""Both URL schemes load the dialect from the installed package's entry points and reach a live engine; alembic
loads the migration implementation from its ``alembic.plugins`` entry point."""
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

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


ALEMBIC_PLUGIN = ("e6driver.alembic", "e6driver.sqlalchemy.alembic_impl")
ALEMBIC_CHECK = """
import alembic  # loads every alembic.plugins entry point, as the alembic command does at start-up
from alembic.ddl.impl import _impls
print(_impls["e6driver"].__module__)
"""


def _alembic_plugins_or_skip() -> None:
    try:
        import alembic.runtime.plugins  # noqa: F401
    except ModuleNotFoundError:
        pytest.skip("alembic < 1.16 has no plugins (the import hook serves)")
    except ImportError as exc:  # e.g. alembic 1.20 under SQLAlchemy 1.4: alembic itself cannot load here
        pytest.skip(f"this alembic does not load with this SQLAlchemy: {exc}")


def _declared_alembic_plugins():
    pyproject = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    return pyproject["project"]["entry-points"].get("alembic.plugins", {})


def test_pyproject_declares_the_alembic_plugin():
    name, value = ALEMBIC_PLUGIN
    assert _declared_alembic_plugins() == {name: value}


def test_the_alembic_plugin_registers_the_migration_implementation():
    # What alembic does with an alembic.plugins entry point: 1.20+ call setup() of the module it names, 1.16-1.19
    # of each module in what it names; in a fresh interpreter that has not imported the dialect.
    _alembic_plugins_or_skip()
    name, value = ALEMBIC_PLUGIN
    code = ("from importlib.metadata import EntryPoint\nfrom alembic.runtime.plugins import Plugin\n"
            f"loaded = EntryPoint(name={name!r}, value={value!r}, group='alembic.plugins').load()\n"
            "modules = list(loaded)\nassert modules == [loaded]\n"
            f"Plugin.setup_plugin_from_module(loaded, {name + '.simulated'!r})\n"  # alembic may have loaded it
            "from alembic.ddl.impl import _impls\nprint(_impls['e6driver'].__name__)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "E6Impl"


def test_the_installed_alembic_plugin_loads_with_alembic():
    _alembic_plugins_or_skip()
    points = {point.name: point.value for point in metadata.entry_points(group="alembic.plugins")}
    if ALEMBIC_PLUGIN[0] not in points:
        pytest.skip("the installed e6driver metadata predates its alembic.plugins entry point: "
                    "reinstall (pip install -e '.[test]', as .ci/run does)")
    assert points[ALEMBIC_PLUGIN[0]] == ALEMBIC_PLUGIN[1]
    run = subprocess.run([sys.executable, "-c", ALEMBIC_CHECK], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "e6driver.sqlalchemy.alembic_impl"
