"""SQLAlchemy's own testing plugin, pointed at the e6driver dialect."""
import pytest
from sqlalchemy.dialects import registry

registry.register("e6driver", "e6driver.sqlalchemy.dialect", "E6Dialect")
# The plugin rebuilds every URL as "<backend>+<driver>://"; for "e6driver://" that is "e6driver+e6driver://".
registry.register("e6driver.e6driver", "e6driver.sqlalchemy.dialect", "E6Dialect")
pytest.register_assert_rewrite("sqlalchemy.testing.assertions")

from sqlalchemy.testing.plugin.pytestplugin import *  # noqa: E402,F401,F403
from sqlalchemy.testing.plugin.pytestplugin import pytest_sessionstart as _sqla_sessionstart  # noqa: E402


def pytest_sessionstart(session):
    """SQLAlchemy's session start, then the schemas its schema tests expect on the target."""
    _sqla_sessionstart(session)
    from sqlalchemy.testing import config

    with config.db.begin() as connection:
        for schema in (config.test_schema, config.test_schema_2):
            connection.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
