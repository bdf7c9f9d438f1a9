"""INSERT ... ON CONFLICT (upsert) on the engine: ``e6driver.sqlalchemy.insert``.

The engine's clause has SQLite's shape (a conflict target of columns, ``DO NOTHING`` or ``DO UPDATE SET ... WHERE``,
``excluded.<column>`` for the proposed row), so the statement is SQLAlchemy's SQLite ``Insert``, compiled by
:class:`e6driver.sqlalchemy.compiler.E6Compiler`.
"""
from __future__ import annotations

from sqlalchemy.dialects.sqlite import Insert as _SQLiteInsert


class Insert(_SQLiteInsert):
    """``insert(table).values(...)`` plus ``on_conflict_do_nothing(index_elements=None)`` and
    ``on_conflict_do_update(index_elements=None, set_=..., where=None)``; ``stmt.excluded.<column>`` is the value
    the conflicting row would have had."""

    stringify_dialect = "e6driver"
    inherit_cache = True


def insert(table) -> Insert:
    """An INSERT into ``table`` that can take an ON CONFLICT clause (:class:`Insert`)."""
    return Insert(table)
