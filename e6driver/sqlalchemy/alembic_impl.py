"""alembic support: the migration implementation for the ``e6driver`` dialect.

alembic finds an implementation by dialect name (``DefaultImpl.__dialect__``); this module registers ours when
it is imported: by alembic itself at start-up (≥ 1.16: the ``alembic.plugins`` entry point ``e6driver.alembic``
names this module), and by :mod:`e6driver.sqlalchemy.dialect` when alembic was imported first (older alembic).
What differs from alembic's defaults:

* types: the dialect's own types (``ARRAY``, ``MAP``, ``STRUCT``, ``INTERVAL``) are rendered in migration scripts
  with the import they need; everything with a standard SQLAlchemy type reflects as that type;
* foreign keys: the dialect does not emit them in DDL (``E6DDLCompiler``), so autogenerate neither adds nor drops
  them — otherwise every ``alembic check`` would report the same missing foreign keys;
* unique constraints keep the engine's own names, so they are matched to the models' by their columns.
"""
from __future__ import annotations

import sys
from types import ModuleType
from typing import Any, Iterator, Optional, Set

from alembic.ddl.impl import DefaultImpl
from sqlalchemy.sql import sqltypes
from sqlalchemy.types import TypeEngine

from . import datatype

_DATATYPE_MODULE = datatype.__name__


class E6Impl(DefaultImpl):
    """Migrations on e6data-protocol engines (alembic looks it up by the dialect name ``e6driver``)."""

    __dialect__ = "e6driver"
    transactional_ddl = False  # e6data clusters commit every statement; alembic must not rely on rollback
    # Spellings the engine stores as one type (TEXT and STRING are VARCHAR, DATETIME is TIMESTAMP, ...).
    type_synonyms = ({"NUMERIC", "DECIMAL"}, {"VARCHAR", "TEXT", "STRING", "CLOB", "NVARCHAR"},
                     {"TIMESTAMP", "DATETIME"}, {"BLOB", "VARBINARY", "BINARY", "BYTEA"},
                     {"DOUBLE", "FLOAT8", "DOUBLE PRECISION"}, {"REAL", "FLOAT4"})

    def render_type(self, type_obj: TypeEngine, autogen_context: Any) -> Any:
        if type(type_obj).__module__ != _DATATYPE_MODULE:
            return False  # alembic's own rendering (sa.INTEGER(), sa.TIMESTAMP(timezone=True), ...)
        if autogen_context.imports is not None:
            autogen_context.imports.add(f"import {_DATATYPE_MODULE}")
        return f"{_DATATYPE_MODULE}.{render_datatype(type_obj, autogen_context)}"

    def compare_type(self, inspector_column: Any, metadata_column: Any) -> bool:
        inspected, model = inspector_column.type, metadata_column.type
        if isinstance(inspected, sqltypes.DateTime) and isinstance(model, sqltypes.DateTime) \
                and bool(inspected.timezone) != bool(model.timezone):
            return True  # TIMESTAMP vs TIMESTAMP WITH TIME ZONE: both tokenize as "TIMESTAMP"
        return super().compare_type(inspector_column, metadata_column)

    def correct_for_autogen_constraints(self, conn_uniques: Set[Any], conn_indexes: Set[Any],
                                        metadata_unique_constraints: Set[Any], metadata_indexes: Set[Any]) -> None:
        # The engine names UNIQUE constraints itself (<table>_<columns>_key) whatever the DDL said: a reflected
        # constraint on the same columns as a model's is that constraint.
        by_columns = {tuple(c.name for c in uc.columns): uc for uc in metadata_unique_constraints}
        for reflected in conn_uniques:
            model = by_columns.get(tuple(c.name for c in reflected.columns))
            if model is not None and model.name != reflected.name:
                reflected.name = model.name
        super().correct_for_autogen_constraints(conn_uniques, conn_indexes, metadata_unique_constraints,
                                                metadata_indexes)

    def correct_for_autogen_foreignkeys(self, conn_fks: Set[Any], metadata_fks: Set[Any]) -> None:
        conn_fks.clear()
        metadata_fks.clear()


def render_datatype(type_obj: TypeEngine, autogen_context: Any) -> str:
    """Python source of one of the dialect's types, nested types rendered the way alembic renders them."""
    from alembic.autogenerate.render import _repr_type

    def nested(inner: Optional[TypeEngine]) -> str:
        return _repr_type(inner, autogen_context)

    name = type(type_obj).__name__
    if isinstance(type_obj, datatype.ARRAY):
        return f"{name}({nested(type_obj.item_type)})"
    if isinstance(type_obj, datatype.MAP):
        return f"{name}({nested(type_obj.key_type)}, {nested(type_obj.value_type)})"
    if isinstance(type_obj, datatype.STRUCT):
        fields = ", ".join(f"({field!r}, {nested(inner)})" for field, inner in type_obj.fields)
        return f"{name}([{fields}])"
    return repr(type_obj)


def setup(plugin: Any) -> None:
    """alembic ≥ 1.16 plugin hook (entry point group ``alembic.plugins``): importing this module registered
    :class:`E6Impl`; there are no autogenerate comparators to add."""


class _PluginModule(ModuleType):
    """alembic 1.16–1.19 iterate what an ``alembic.plugins`` entry point names (expecting modules); 1.20+ take
    the module itself. This module is both: it iterates over itself."""

    def __iter__(self) -> Iterator[ModuleType]:
        return iter((self,))


sys.modules[__name__].__class__ = _PluginModule
