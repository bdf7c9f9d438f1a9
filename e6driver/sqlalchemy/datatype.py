"""Engine type names → SQLAlchemy types, with a parser for parameterised and nested names.

The engine reports column types in a SQL-ish spelling (getColumnsV2, spec §6.3): ``int``, ``decimal(18,4)``,
``varchar(16)``, ``array<map<string,int>>``, ``struct<a:int,b:string>``. Every name maps to a concrete type; an
unknown name raises ``ValueError`` so reflection never silently degrades to NullType or String.
"""
from __future__ import annotations

import datetime
import json
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Type, Union

from sqlalchemy import cast, func
from sqlalchemy.sql import sqltypes
from sqlalchemy.types import TypeEngine
from sqlalchemy.sql.type_api import to_instance

from e6driver import params


if hasattr(sqltypes, "DOUBLE"):
    DOUBLE = sqltypes.DOUBLE
else:  # pragma: no cover - SQLAlchemy 1.4 has no DOUBLE; FLOAT would be the engine's 4-byte float

    class DOUBLE(sqltypes.Float):  # type: ignore[no-redef]
        """The engine's 8-byte float (SQLAlchemy 2's ``DOUBLE``), so it reflects and renders as DOUBLE."""

        __visit_name__ = "DOUBLE"

_DOUBLE = DOUBLE


TypeLike = Union[TypeEngine, Type[TypeEngine], str]


def literal_text(text: str) -> str:
    """``text`` as a SQL string literal for a type's ``literal_processor``: quotes doubled, nothing more, since
    the compiler escapes the backslashes of every literal it renders (E6Compiler.render_literal_value)."""
    return "'" + text.replace("'", "''") + "'"


def _as_tuples(value):
    return tuple(_as_tuples(item) for item in value) if isinstance(value, list) else value


def _loads(value):
    return None if value is None else json.loads(value)


class _Nested:
    """Nested values travel as JSON text (spec §7.3): ORM users get lists/dicts back, and binds are sent as JSON
    text, which the engine casts to the column's type.

    Members are given as SQLAlchemy types or as engine type names (``"integer"``, ``"map<varchar,double>"``); each
    nested type keeps both, and its ``repr`` spells members by name, so code generators that render a type from its
    constructor arguments (sqlacodegen) write an expression that needs no import beyond the nested type itself.
    """

    cache_ok = True
    hashable = False

    def bind_processor(self, dialect):
        def process(value):
            return None if value is None else json.dumps(value)

        return process

    def result_processor(self, dialect, coltype):
        return _loads

    def bind_expression(self, bindvalue):
        # JSON text casts to any nested type (a map or struct has no text form of its own that JSON matches).
        return cast(func.json(bindvalue), self)

    def literal_processor(self, dialect):
        def process(value):
            return literal_text(json.dumps(value))

        return process


class ARRAY(_Nested, sqltypes.ARRAY):
    """The engine's list type: a ``sqlalchemy.ARRAY`` (indexing, slicing, ``list[...]`` Python type), one
    dimension per level; an ARRAY of ARRAY is a list of lists."""

    __visit_name__ = "E6_ARRAY"
    as_tuple = False
    dimensions = None
    zero_indexes = False

    def __init__(self, item_type: Optional[TypeLike] = None, dimensions: Optional[int] = None,
                 zero_indexes: bool = False, as_tuple: bool = False):
        # sqlalchemy.ARRAY refuses ARRAY items (it counts dimensions instead); the engine nests lists freely, so
        # a generic ARRAY of n dimensions (adapted to this type) is n nested levels.
        item = _member(item_type)
        for _ in range((dimensions or 1) - 1):
            item = ARRAY(item, zero_indexes=zero_indexes, as_tuple=as_tuple)
        self.item_type = item
        self.zero_indexes = zero_indexes
        self.as_tuple = as_tuple

    class Comparator(sqltypes.ARRAY.Comparator):
        """PostgreSQL's ARRAY comparisons, which the engine has as list operators."""

        def contains(self, other, **kwargs):
            return self.expr.op("@>", is_comparison=True)(other)

        def contained_by(self, other):
            return self.expr.op("<@", is_comparison=True)(other)

        def overlap(self, other):
            return self.expr.op("&&", is_comparison=True)(other)

    comparator_factory = Comparator

    def result_processor(self, dialect, coltype):
        if not self.as_tuple:
            return _loads
        return lambda value: None if value is None else _as_tuples(json.loads(value))

    def __repr__(self) -> str:
        return f"ARRAY({type_name(self.item_type)!r})"


class MAP(_Nested, sqltypes.TypeEngine):
    """``MAP(key, value)``: ``key``/``value`` hold the engine type names, ``key_type``/``value_type`` the types."""

    __visit_name__ = "E6_MAP"
    python_type = dict

    def __init__(self, key: Optional[TypeLike] = None, value: Optional[TypeLike] = None):
        self.key_type = _member(key)
        self.value_type = _member(value)
        self.key = type_name(self.key_type)
        self.value = type_name(self.value_type)

    def __repr__(self) -> str:
        return f"MAP({self.key!r}, {self.value!r})"


class STRUCT(_Nested, sqltypes.TypeEngine):
    """``STRUCT([(name, type), ...])``: ``members`` holds (name, engine type name) pairs, ``fields`` (name, type)."""

    __visit_name__ = "E6_STRUCT"
    python_type = dict

    def __init__(self, members: Optional[Sequence[Tuple[str, TypeLike]]] = None):
        self.fields: List[Tuple[str, TypeEngine]] = [(str(name), _member(t)) for name, t in (members or ())]
        # A tuple: SQLAlchemy's statement cache hashes the constructor arguments.
        self.members = tuple((name, type_name(t)) for name, t in self.fields)

    def __repr__(self) -> str:
        return f"STRUCT({list(self.members)!r})"


def _member(given: Optional[TypeLike]) -> TypeEngine:
    if given is None:
        return sqltypes.VARCHAR()
    if isinstance(given, str):
        return parse_type(given)
    return to_instance(given)


_SPELLING_DIALECT = None


def type_name(type_: TypeEngine) -> str:
    """The engine's name for ``type_`` in the spelling :func:`parse_type` reads (``array<struct<x:integer>>``)."""
    global _SPELLING_DIALECT
    if isinstance(type_, ARRAY):
        return f"array<{type_name(type_.item_type)}>"
    if isinstance(type_, MAP):
        return f"map<{type_.key},{type_.value}>"
    if isinstance(type_, STRUCT):
        return "struct<" + ",".join(f"{_field_name(name)}:{spelled}" if name else spelled
                                    for name, spelled in type_.members) + ">"
    if isinstance(type_, sqltypes.NullType):
        return "null"
    if _SPELLING_DIALECT is None:
        from .dialect import E6Dialect

        _SPELLING_DIALECT = E6Dialect()
    try:
        return type_.compile(dialect=_SPELLING_DIALECT).lower()
    except Exception as exc:  # CompileError, or a type that cannot render without a dialect feature
        raise ValueError(f"{type_!r} cannot be a member of a nested type: {exc}") from None


def _field_name(name: str) -> str:
    if name and all(c.isalnum() or c == "_" for c in name):
        return name
    if '"' not in name:
        return f'"{name}"'
    if "`" not in name:
        return f"`{name}`"
    raise ValueError(f"a struct field name cannot contain both quote characters: {name!r}")


class TIMESTAMP_TZ(sqltypes.TIMESTAMP):
    """Kept for code that imports it; reflection returns ``sqltypes.TIMESTAMP(timezone=True)``."""

    __visit_name__ = "TIMESTAMP"

    def __init__(self):
        super().__init__(timezone=True)


class INTERVAL(sqltypes.NativeForEmulated, sqltypes._AbstractInterval):
    """Native day-second intervals: the driver binds and returns ``timedelta`` (no epoch arithmetic).

    The generic ``Interval`` adapts to this type, so interval arithmetic keeps its SQL meaning.
    """

    __visit_name__ = "INTERVAL"
    native = True

    def __init__(self, second_precision: Optional[int] = None, day_precision: Optional[int] = None):
        self.second_precision = second_precision
        self.day_precision = day_precision

    @classmethod
    def adapt_emulated_to_native(cls, interval, **kw):
        return cls(second_precision=interval.second_precision, day_precision=interval.day_precision)

    @property
    def _type_affinity(self):
        return sqltypes.Interval

    def as_generic(self, allow_nulltype: bool = False):
        return sqltypes.Interval(native=True, second_precision=self.second_precision,
                                 day_precision=self.day_precision)

    @property
    def python_type(self):
        return datetime.timedelta

    def literal_processor(self, dialect):
        # The driver's own literal for a timedelta, so literal and bound values are the same SQL.
        return params.literal


def _decimal(args: List[str]) -> TypeEngine:
    if not args:
        return sqltypes.DECIMAL()
    if len(args) > 2:
        raise ValueError(f"decimal takes at most precision and scale, got {args}")
    precision = int(args[0])
    scale = int(args[1]) if len(args) == 2 else 0
    return sqltypes.DECIMAL(precision=precision, scale=scale)


def _sized(type_cls) -> Callable[[List[str]], TypeEngine]:
    def build(args: List[str]) -> TypeEngine:
        if len(args) > 1:
            raise ValueError(f"{type_cls.__name__} takes at most a length, got {args}")
        return type_cls(int(args[0])) if args else type_cls()

    return build


def _plain(factory: Callable[[], TypeEngine]) -> Callable[[List[str]], TypeEngine]:
    def build(args: List[str]) -> TypeEngine:
        if args:
            raise ValueError(f"type takes no parameters, got {args}")
        return factory()

    return build


# TIMESTAMP WITH TIME ZONE reflects as the standard type (alembic renders sa.TIMESTAMP(timezone=True)).
_TIMESTAMP_TZ = _plain(lambda: sqltypes.TIMESTAMP(timezone=True))

# One row per engine spelling (lower case). Aliases share a builder.
SCALAR_TYPES: Dict[str, Callable[[List[str]], TypeEngine]] = {
    "boolean": _plain(sqltypes.BOOLEAN),
    "bool": _plain(sqltypes.BOOLEAN),
    "tinyint": _plain(sqltypes.SMALLINT),
    "byte": _plain(sqltypes.SMALLINT),
    "smallint": _plain(sqltypes.SMALLINT),
    "short": _plain(sqltypes.SMALLINT),
    "int": _plain(sqltypes.INTEGER),
    "integer": _plain(sqltypes.INTEGER),
    "bigint": _plain(sqltypes.BIGINT),
    "long": _plain(sqltypes.BIGINT),
    "float": _plain(sqltypes.REAL),
    "real": _plain(sqltypes.REAL),
    "double": _plain(_DOUBLE),
    "double precision": _plain(_DOUBLE),
    "decimal": _decimal,
    "numeric": _decimal,
    "decimal128": _decimal,
    "string": _plain(sqltypes.VARCHAR),
    "text": _plain(sqltypes.VARCHAR),
    "varchar": _sized(sqltypes.VARCHAR),
    "char": _sized(sqltypes.CHAR),
    "uuid": _plain(sqltypes.VARCHAR),
    "binary": _plain(sqltypes.VARBINARY),
    "varbinary": _plain(sqltypes.VARBINARY),
    "blob": _plain(sqltypes.VARBINARY),
    "date": _plain(sqltypes.DATE),
    "time": _plain(sqltypes.TIME),
    "timestamp": _plain(sqltypes.TIMESTAMP),
    "datetime": _plain(sqltypes.TIMESTAMP),
    "timestamp_tz": _TIMESTAMP_TZ,
    "timestamptz": _TIMESTAMP_TZ,
    "timestamp with time zone": _TIMESTAMP_TZ,
    "interval": _plain(INTERVAL),
    "interval_day_second": _plain(INTERVAL),
    "json": _plain(sqltypes.JSON),
    "null": _plain(sqltypes.NullType),
}


MULTIWORD_TYPES = tuple(name for name in SCALAR_TYPES if " " in name)


class _Reader:
    """Recursive-descent reader over one type string."""

    def __init__(self, text: str):
        self.text = text
        self.pos = 0

    def error(self, message: str) -> ValueError:
        return ValueError(f"cannot parse type {self.text!r} at offset {self.pos}: {message}")

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self) -> str:
        self.skip_space()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expect(self, char: str) -> None:
        if self.peek() != char:
            raise self.error(f"expected {char!r}")
        self.pos += 1

    def word(self) -> str:
        self.skip_space()
        start = self.pos
        while self.pos < len(self.text) and (self.text[self.pos].isalnum() or self.text[self.pos] == "_"):
            self.pos += 1
        if start == self.pos:
            raise self.error("expected a type name")
        return self.text[start:self.pos]

    def multiword(self) -> Optional[str]:
        """Consume a known multi-word name ("double precision", ...) if one starts here."""
        self.skip_space()
        rest = self.text[self.pos:].lower()
        for name in MULTIWORD_TYPES:
            after = rest[len(name):len(name) + 1]
            if rest.startswith(name) and not (after.isalnum() or after == "_"):
                self.pos += len(name)
                return name
        return None

    def number_args(self) -> List[str]:
        args: List[str] = []
        if self.peek() != "(":
            return args
        self.pos += 1
        while True:
            self.skip_space()
            start = self.pos
            while self.pos < len(self.text) and self.text[self.pos].isdigit():
                self.pos += 1
            if start == self.pos:
                raise self.error("expected a number")
            args.append(self.text[start:self.pos])
            if self.peek() == ",":
                self.pos += 1
                continue
            self.expect(")")
            return args

    def field_name(self) -> str:
        self.skip_space()
        if self.peek() == "`" or self.peek() == '"':
            quote = self.text[self.pos]
            end = self.text.find(quote, self.pos + 1)
            if end < 0:
                raise self.error("unterminated quoted field name")
            name = self.text[self.pos + 1:end]
            self.pos = end + 1
            return name
        start = self.pos
        # The engine writes names unquoted in "name:type" fields, spaces included (struct<the label:string>).
        end = start
        while end < len(self.text) and self.text[end] not in ":<>,()":
            end += 1
        if end < len(self.text) and self.text[end] == ":" and self.text[start:end].strip():
            self.pos = end
            return self.text[start:end].strip()
        while self.pos < len(self.text) and self.text[self.pos] not in ":<>,() \t":
            self.pos += 1
        if start == self.pos:
            raise self.error("expected a field name")
        return self.text[start:self.pos]

    def struct_member(self) -> Tuple[str, TypeEngine]:
        """``name:type``, ``name type``, or an unnamed member's type alone (``struct<int,string>``: the
        engine's spelling of an unnamed STRUCT, whose values arrive as JSON arrays); an unnamed member's name
        is ""."""
        start = self.pos
        try:
            field = self.field_name()
            if self.peek() == ":":
                self.pos += 1
                return field, self.type()
            if self.peek() not in (",", ">", "<", "("):
                return field, self.type()
        except ValueError:
            pass
        self.pos = start
        return "", self.type()

    def type(self) -> TypeEngine:
        name = self.multiword() or self.word().lower()
        if name == "array":
            self.expect("<")
            item = self.type()
            self.expect(">")
            return ARRAY(item)
        if name == "map":
            self.expect("<")
            key = self.type()
            self.expect(",")
            value = self.type()
            self.expect(">")
            return MAP(key, value)
        if name in ("struct", "row"):
            self.expect("<")
            fields: List[Tuple[str, TypeEngine]] = []
            while True:
                fields.append(self.struct_member())
                if self.peek() == ",":
                    self.pos += 1
                    continue
                self.expect(">")
                return STRUCT(fields)
        builder = SCALAR_TYPES.get(name)
        if builder is None:
            raise self.error(f"unknown type name {name!r}")
        return builder(self.number_args())


def parse_type(type_string: str) -> TypeEngine:
    """Parse an engine type name into a SQLAlchemy type instance; ValueError if it is not a known type."""
    reader = _Reader(type_string)
    result = reader.type()
    if reader.peek():
        raise reader.error("unexpected trailing text")
    return result
