"""Client-side parameter binding (paramstyle ``pyformat``, spec §10) with literals a string cannot escape from.

The engine reads string literals with backslash escapes, so every backslash and quote inside a value is escaped;
NUL cannot be represented and is refused. Values become typed literals (``DATE '…'``, ``TIMESTAMP '…'``,
``X'…'``) so the engine never has to guess.
"""
from __future__ import annotations

import datetime
import decimal
import math
import re
import uuid
from typing import Any, Iterable, Mapping, Sequence, Union

from .errors import DataError, ProgrammingError

Params = Union[Sequence[Any], Mapping[str, Any], None]

_ESCAPES = {"\\": "\\\\", "'": "\\'", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_NEEDS_ESCAPE = re.compile(r"[\\'\n\r\t]")


HUGEINT_MIN, HUGEINT_MAX = -(2 ** 127), 2 ** 127 - 1  # the widest exact integers the engine reads
MAX_DECIMAL_DIGITS = 38
INTERVAL_MICROS_MAX = 2 ** 63 - 1  # INTERVAL travels as int64 microseconds (docs/engine-contract.md)


def quote_string(text: str) -> str:
    if "\x00" in text:
        raise ProgrammingError("string parameter contains a NUL character, which SQL text cannot carry")
    _check_encodable(text, "string parameter")
    return "'" + _NEEDS_ESCAPE.sub(lambda m: _ESCAPES[m.group(0)], text) + "'"


def _float_literal(value: float) -> str:
    if math.isnan(value):
        return "CAST('NaN' AS DOUBLE)"
    if math.isinf(value):
        return "CAST('Infinity' AS DOUBLE)" if value > 0 else "CAST('-Infinity' AS DOUBLE)"
    text = repr(value)
    text = text if "e" in text else text + "e0"  # exponent form: the engine reads it as DOUBLE, not DECIMAL
    return _signed(text)


def _signed(text: str) -> str:
    # A negative number in brackets: after a minus in the statement ("1-%s") a bare "-1" would start a comment.
    return f"({text})" if text.startswith("-") else text


def _decimal_literal(value: decimal.Decimal) -> str:
    """``CAST('…' AS DECIMAL(p,s))``, exact: trailing zeros of the fraction are the only digits ever dropped (to fit
    DECIMAL(38)); a value that needs more than 38 digits is a DataError, never rounded nor sent as another type."""
    if not value.is_finite():
        raise ProgrammingError(f"Decimal parameter {value} has no SQL DECIMAL representation")
    _, digits, exponent = value.as_tuple()
    text = "".join(map(str, digits))
    significant = text.rstrip("0")
    lowest = int(exponent) + len(text) - len(significant)  # the power of ten of the last non-zero digit
    whole = max(len(significant) + lowest, 0) if significant else 0  # digits left of the point
    needed = max(-lowest, 0) if significant else 0  # fraction digits the value needs
    scale = max(-int(exponent), 0)
    # One integer digit even for |value| < 1: DECIMAL(2,2) would print 0.01 as '.01' when cast to text.
    room = MAX_DECIMAL_DIGITS - max(whole, 1)
    if whole == 0 and needed == MAX_DECIMAL_DIGITS:
        precision = scale = MAX_DECIMAL_DIGITS  # DECIMAL(38,38) is exact (its text lacks the leading 0)
    elif needed > room:
        raise DataError(f"Decimal parameter {value} needs {max(whole + needed, 1)} digits: the engine's "
                        f"DECIMAL({MAX_DECIMAL_DIGITS}) cannot hold it exactly (pass it as a string to keep every "
                        f"digit{', or as an int' if needed == 0 else ''})")
    else:
        scale = min(scale, room)
        precision = max(whole, 1) + scale
    fixed = format(value, "f")
    point = fixed.find(".")
    if point >= 0:  # the dropped fraction digits are zeros
        fixed = fixed[:point + 1 + scale] if scale else fixed[:point]
    return f"CAST('{fixed}' AS DECIMAL({precision},{scale}))"


def _int_literal(value: int) -> str:
    if not HUGEINT_MIN <= value <= HUGEINT_MAX:
        raise DataError(f"integer parameter {value} is outside the engine's widest integer type HUGEINT "
                        f"[-2**127, 2**127 - 1] (pass it as a Decimal of at most 38 digits or as a string)")
    return _signed(str(value))


def _interval_literal(value: datetime.timedelta) -> str:
    micros = (value.days * 86400 + value.seconds) * 1_000_000 + value.microseconds
    if abs(micros) > INTERVAL_MICROS_MAX:  # the engine would fail to bind to_microseconds() of a wider integer
        raise DataError(f"timedelta parameter {value} is outside the engine's INTERVAL range of "
                        f"±(2**63 - 1) microseconds (about ±106,751,991 days)")
    return f"to_microseconds({micros})"


def _check_encodable(text: str, what: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise DataError(f"{what} is not valid Unicode text: {exc.reason} at position {exc.start} "
                        f"({text[exc.start:exc.end]!r})") from None


def _python_value(value: Any) -> Any:
    """numpy scalars as the Python values they hold (datetime64/timedelta64 at microsecond precision)."""
    kind = getattr(value, "dtype", None)
    if getattr(kind, "kind", "") in ("m", "M"):
        value = value.astype(f"{'timedelta64' if kind.kind == 'm' else 'datetime64'}[us]")
    return value.item()


def _time_text(value: Union[datetime.time, datetime.datetime]) -> str:
    return value.isoformat(sep=" ", timespec="microseconds") if isinstance(value, datetime.datetime) \
        else value.isoformat(timespec="microseconds")


def _missing(value: Any) -> bool:
    """pandas' NaT and NA (rows taken from a DataFrame hold them): missing values, bound as NULL like None."""
    kind = type(value)
    return kind.__module__.startswith("pandas") and kind.__name__ in ("NaTType", "NAType")


def literal(value: Any) -> str:
    """SQL text for one Python value."""
    if value is None or _missing(value):
        return "NULL"
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        # An array is a sequence of its items; a scalar the Python value it holds (None for NaT).
        return literal(list(value) if getattr(value, "ndim", 0) else _python_value(value))
    if value is True:
        return "TRUE"
    if value is False:
        return "FALSE"
    if isinstance(value, int):
        return _int_literal(int(value))
    if isinstance(value, float):
        return _float_literal(value)
    if isinstance(value, decimal.Decimal):
        return _decimal_literal(value)
    if isinstance(value, str):
        return quote_string(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "X'" + bytes(value).hex().upper() + "'"
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None and value.utcoffset() is not None:
            return f"TIMESTAMPTZ '{_time_text(value)}'"
        return f"TIMESTAMP '{_time_text(value)}'"
    if isinstance(value, datetime.date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, datetime.time):
        if value.tzinfo is not None:
            raise ProgrammingError("time parameters with a time zone are not supported; pass a naive time")
        return f"TIME '{_time_text(value)}'"
    if isinstance(value, datetime.timedelta):
        return _interval_literal(value)
    if isinstance(value, uuid.UUID):
        return quote_string(str(value))
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        if not items:
            raise ProgrammingError("an empty sequence parameter cannot be rendered as an IN list")
        # One item keeps a trailing comma: "(5)" is the number 5 (a scalar outside IN), "(5,)" a one-member tuple
        # like "(5,6)" is a two-member one.
        return "(" + ",".join(literal(item) for item in items) + ("," if len(items) == 1 else "") + ")"
    raise ProgrammingError(f"cannot bind a parameter of type {type(value).__name__}")


def bind(operation: str, params: Params) -> str:
    """``operation % escaped(params)``: mapping → ``%(name)s``, sequence → ``%s``; None leaves ``%`` alone."""
    if params is None:
        return operation
    try:
        if isinstance(params, Mapping):
            named = _Named({key: _Literal(literal(value)) for key, value in params.items()})
            sql = operation % named
            if named and not named.used:
                raise ProgrammingError("parameters were given as a mapping but the statement has no %(name)s "
                                       "placeholder (paramstyle is pyformat: %(name)s with a mapping, %s with a "
                                       "sequence; ? and :name are not placeholders)")
            return sql
        if isinstance(params, (str, bytes)) or not isinstance(params, Iterable):
            raise ProgrammingError("parameters must be a sequence or a mapping, not "
                                   f"{type(params).__name__}")
        return operation % tuple(_Literal(literal(value)) for value in params)
    except (TypeError, ValueError, KeyError) as exc:
        raise ProgrammingError(f"parameters do not match the placeholders of the statement: {exc}") from None


class _Named(dict):
    """Rendered parameters for ``%(name)s``. ``%`` pastes the whole mapping for a positional ``%s``: refused here,
    and whether any name was looked up is noted (a mapping no placeholder reads means another paramstyle)."""

    used = False

    def __getitem__(self, key: str) -> str:
        self.used = True
        return super().__getitem__(key)

    def __str__(self) -> str:
        raise ProgrammingError("parameters were given as a mapping but the statement has positional %s "
                               "placeholders: pass a sequence, or name them %(name)s")

    __repr__ = __str__


class _Literal(str):
    """Rendered SQL that ``%s`` inserts verbatim (``%r`` would add Python quotes)."""

    def __repr__(self) -> str:
        return str(self)


def prepare_operation(operation: str, params: Params = None) -> str:
    """Final SQL text as the engine receives it: stripped, one trailing ``;`` removed, parameters bound."""
    if not isinstance(operation, str):
        raise ProgrammingError(f"the operation must be a str, not {type(operation).__name__}")
    sql = operation.strip()
    if sql.endswith(";"):
        sql = sql[:-1].rstrip()
    _check_encodable(sql, "the operation")
    sql = bind(sql, params)
    if not sql:
        raise ProgrammingError("empty statement")
    return sql
