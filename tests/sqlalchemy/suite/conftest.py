"""SQLAlchemy's own testing plugin, pointed at the e6driver dialect."""
import pytest
from sqlalchemy.dialects import registry

registry.register("e6driver", "e6driver.sqlalchemy.dialect", "E6Dialect")
pytest.register_assert_rewrite("sqlalchemy.testing.assertions")

from sqlalchemy.testing.plugin.pytestplugin import *  # noqa: E402,F401,F403
