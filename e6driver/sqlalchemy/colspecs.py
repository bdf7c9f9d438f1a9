"""SQLAlchemy type implementations for the engine: the dialect's ``colspecs``.

Generic SQLAlchemy types adapt to these when a statement runs on the dialect; DDL still uses the generic type.
"""
from __future__ import annotations

import datetime
import decimal

from sqlalchemy.sql import sqltypes

from e6driver import params

from .datatype import ARRAY, INTERVAL, literal_text


class _TypedLiteral:
    """Literal rendering of dates and times as the driver binds them: ``DATE '…'``, ``TIMESTAMP '…'``, ``TIME '…'``."""

    def literal_processor(self, dialect):
        return params.literal


class E6Date(sqltypes.Date):
    def literal_processor(self, dialect):
        def process(value):
            # A datetime given for a DATE is that day, as it is when stored.
            return params.literal(value.date() if isinstance(value, datetime.datetime) else value)

        return process


class E6DateTime(_TypedLiteral, sqltypes.DateTime):
    pass


class E6Time(_TypedLiteral, sqltypes.Time):
    pass


# cursor.description type codes of result columns that already carry exact decimals.
DECIMAL_TYPE_CODES = frozenset({"DECIMAL", "DECIMAL128", "NUMERIC"})


class E6Numeric(sqltypes.Numeric):
    """``Numeric`` that keeps its promise whatever the engine computes.

    The engine answers some DECIMAL arithmetic (division, averages) with DOUBLE; ``asdecimal=True`` still gets
    ``Decimal`` values, rounded to the type's scale. Binds of ``Decimal`` values written with a positive exponent
    (``4E+8``) are expanded to plain digits: the driver renders ``Decimal("4E+8")`` as
    ``CAST('400000000' AS DECIMAL(1,0))``, which the engine rejects.
    """

    def bind_processor(self, dialect):
        def process(value):
            if isinstance(value, decimal.Decimal) and value.is_finite() and value.as_tuple().exponent > 0:
                return decimal.Decimal(format(value, "f"))
            return value

        return process

    def result_processor(self, dialect, coltype):
        if not self.asdecimal:
            return super().result_processor(dialect, coltype)
        if coltype in DECIMAL_TYPE_CODES:
            return None
        scale = self._effective_decimal_return_scale

        def process(value):
            if value is None or isinstance(value, decimal.Decimal):
                return value
            if isinstance(value, float):
                return decimal.Decimal(f"{value:.{scale}f}")
            return decimal.Decimal(value)

        return process


def _json_path_step(element) -> str:
    """One step of a JSONPath: an array position or an object key (quoted, so any key text is taken as is)."""
    if isinstance(element, int) and not isinstance(element, bool):
        return f"[{element}]"
    return '."' + str(element).replace("\\", "\\\\").replace('"', '\\"') + '"'


class _JSONPathBind:
    """Binds of a JSON index or path as the JSONPath text the engine's ``json_extract`` takes (``$."a"[0]``)."""

    def _path(self, value) -> str:
        raise NotImplementedError

    def bind_processor(self, dialect):
        return self._path

    def literal_processor(self, dialect):
        def process(value):
            return literal_text(self._path(value))

        return process


class E6JSONIndexType(_JSONPathBind, sqltypes.JSON.JSONIndexType):
    def _path(self, value) -> str:
        return "$" + _json_path_step(value)


class E6JSONPathType(_JSONPathBind, sqltypes.JSON.JSONPathType):
    def _path(self, value) -> str:
        return "$" + "".join(_json_path_step(element) for element in value)


COLSPECS = {
    sqltypes.ARRAY: ARRAY,  # the generic ARRAY (and postgresql's) gets the engine's nested-value handling
    sqltypes.JSON.JSONIndexType: E6JSONIndexType,
    sqltypes.JSON.JSONPathType: E6JSONPathType,
    sqltypes.Numeric: E6Numeric,
    sqltypes.Float: sqltypes.Float,  # keeps Float (a Numeric) from adapting to E6Numeric
    sqltypes.Interval: INTERVAL,
    sqltypes.Date: E6Date,
    sqltypes.DateTime: E6DateTime,
    sqltypes.Time: E6Time,
}
