"""SQLAlchemy's compliance suite, with the few tests that assume something the engine lacks gated on a requirement.

Each override below only adds a requirement (closed in e6driver.sqlalchemy.requirements, with its reason) to a
suite test that has no gate of its own; the test body is SQLAlchemy's. Tests a SQLAlchemy version lacks are
left out.
"""
from sqlalchemy import testing
from sqlalchemy.testing.suite import *  # noqa: F401,F403
from sqlalchemy.testing.suite import ComponentReflectionTest as _ComponentReflectionTest
from sqlalchemy.testing.suite import ComponentReflectionTestExtra as _ComponentReflectionTestExtra
from sqlalchemy.testing.suite import HasIndexTest as _HasIndexTest
from sqlalchemy.testing.suite import IsolationLevelTest as _IsolationLevelTest
from sqlalchemy.testing.suite import LongNameBlowoutTest as _LongNameBlowoutTest
from sqlalchemy.testing.suite import QuotedNameArgumentTest as _QuotedNameArgumentTest


def _gated(suite_class, requirement, *test_names):
    """A subclass of ``suite_class`` whose named tests also need ``requirement``."""
    gate = getattr(testing.requires, requirement)
    tests = {name: gate(getattr(suite_class, name)) for name in test_names if hasattr(suite_class, name)}
    return type(suite_class.__name__, (suite_class,), tests)


ComponentReflectionTestExtra = _gated(
    _ComponentReflectionTestExtra, "string_length_reflection",
    "test_string_length_reflection", "test_varchar_reflection")  # the latter: SQLAlchemy 1.4's name

# It switches between two isolation levels besides AUTOCOMMIT (the engine has one: SNAPSHOT).
IsolationLevelTest = _gated(_IsolationLevelTest, "two_isolation_levels", "test_dialect_user_setting_is_restored")

# The "ix" case reads the index name back with get_indexes().
LongNameBlowoutTest = _gated(_LongNameBlowoutTest, "index_reflection", "test_long_convention_name")

# Gated in SQLAlchemy 2, not yet in 1.4.
ComponentReflectionTest = _gated(_ComponentReflectionTest, "index_reflection", "test_get_indexes")
HasIndexTest = _gated(_HasIndexTest, "index_reflection", "test_has_index", "test_has_index_schema")
QuotedNameArgumentTest = _gated(
    _gated(_QuotedNameArgumentTest, "index_reflection", "test_get_indexes"),
    "foreign_key_constraint_reflection", "test_get_foreign_keys")
