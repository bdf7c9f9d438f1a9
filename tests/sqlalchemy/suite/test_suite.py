"""SQLAlchemy's compliance suite, with the few tests that assume something the engine lacks gated on a requirement.

Each override below only adds a requirement (closed in e6driver.sqlalchemy.requirements, with its reason) to a
suite test that has no gate of its own; the test body is SQLAlchemy's.
"""
from sqlalchemy import testing
from sqlalchemy.testing.suite import *  # noqa: F401,F403
from sqlalchemy.testing.suite import ComponentReflectionTestExtra as _ComponentReflectionTestExtra
from sqlalchemy.testing.suite import InsertBehaviorTest as _InsertBehaviorTest
from sqlalchemy.testing.suite import LongNameBlowoutTest as _LongNameBlowoutTest


class InsertBehaviorTest(_InsertBehaviorTest):
    # These insert into a table whose integer key the database must generate.
    test_no_results_for_non_returning_insert = testing.requires.autoincrement_insert(
        _InsertBehaviorTest.test_no_results_for_non_returning_insert)
    test_insert_from_select_autoinc = testing.requires.autoincrement_insert(
        _InsertBehaviorTest.test_insert_from_select_autoinc)
    test_autoclose_on_insert_implicit_returning = testing.requires.autoincrement_insert(
        _InsertBehaviorTest.test_autoclose_on_insert_implicit_returning)


class ComponentReflectionTestExtra(_ComponentReflectionTestExtra):
    test_string_length_reflection = testing.requires.string_length_reflection(
        _ComponentReflectionTestExtra.test_string_length_reflection)


class LongNameBlowoutTest(_LongNameBlowoutTest):
    # The "ix" case reads the name back with get_indexes().
    test_long_convention_name = testing.requires.index_reflection(_LongNameBlowoutTest.test_long_convention_name)
