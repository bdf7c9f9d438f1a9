"""Every engine type spelling reflects to a concrete SQLAlchemy type (never NullType or a String fallback)."""
import pytest
import sqlalchemy as sa
from sqlalchemy.sql import sqltypes

from e6driver.sqlalchemy.datatype import ARRAY, INTERVAL, MAP, STRUCT, parse_type, type_name
from e6driver.sqlalchemy.dialect import E6Dialect

DOUBLE = "DOUBLE"  # the 8-byte float under SQLAlchemy 2 and 1.4 alike (never 1.4's FLOAT, the engine's 4 bytes)


def _describe(t):
    """A comparable structure for a parsed type."""
    if isinstance(t, ARRAY):
        return ("array", _describe(t.item_type))
    if isinstance(t, MAP):
        return ("map", _describe(t.key_type), _describe(t.value_type))
    if isinstance(t, STRUCT):
        return ("struct", tuple((name, _describe(f)) for name, f in t.fields))
    if isinstance(t, sqltypes.DECIMAL):
        return ("DECIMAL", t.precision, t.scale)
    if isinstance(t, (sqltypes.VARCHAR, sqltypes.CHAR)) and t.length:
        return (type(t).__name__, t.length)
    if type(t) is sqltypes.TIMESTAMP and t.timezone:
        return "TIMESTAMP(timezone=True)"
    return type(t).__name__


CASES = [
    ("boolean", "BOOLEAN"),
    ("bool", "BOOLEAN"),
    ("tinyint", "SMALLINT"),
    ("smallint", "SMALLINT"),
    ("short", "SMALLINT"),
    ("int", "INTEGER"),
    ("INTEGER", "INTEGER"),
    ("bigint", "BIGINT"),
    ("long", "BIGINT"),
    ("float", "REAL"),
    ("real", "REAL"),
    ("double", DOUBLE),
    ("double precision", DOUBLE),
    ("decimal(18,4)", ("DECIMAL", 18, 4)),
    ("DECIMAL(38, 0)", ("DECIMAL", 38, 0)),
    ("decimal(10)", ("DECIMAL", 10, 0)),
    ("numeric(7,2)", ("DECIMAL", 7, 2)),
    ("decimal", ("DECIMAL", None, None)),
    ("string", "VARCHAR"),
    ("varchar", "VARCHAR"),
    ("varchar(16)", ("VARCHAR", 16)),
    ("char(1)", ("CHAR", 1)),
    ("binary", "VARBINARY"),
    ("date", "DATE"),
    ("time", "TIME"),
    ("timestamp", "TIMESTAMP"),
    ("timestamp_tz", "TIMESTAMP(timezone=True)"),
    ("timestamp with time zone", "TIMESTAMP(timezone=True)"),
    ("interval", "INTERVAL"),
    ("json", "JSON"),
    ("array<int>", ("array", "INTEGER")),
    ("array<decimal(18,4)>", ("array", ("DECIMAL", 18, 4))),
    ("array<map<string,int>>", ("array", ("map", "VARCHAR", "INTEGER"))),
    ("map<string, array<double>>", ("map", "VARCHAR", ("array", DOUBLE))),
    ("struct<a:int,b:string>", ("struct", (("a", "INTEGER"), ("b", "VARCHAR")))),
    ("struct<ts: timestamp with time zone, v: varchar(3)>",
     ("struct", (("ts", "TIMESTAMP(timezone=True)"), ("v", ("VARCHAR", 3))))),
    ("struct<`odd name`:int>", ("struct", (("odd name", "INTEGER"),))),
    # unnamed members (row(1, 'a')): the engine spells their types alone
    ("struct<int,string>", ("struct", (("", "INTEGER"), ("", "VARCHAR")))),
    ("struct<decimal(10,2),array<int>,struct<int>>",
     ("struct", (("", ("DECIMAL", 10, 2)), ("", ("array", "INTEGER")), ("", ("struct", (("", "INTEGER"),)))))),
    ("struct<a int, b string>", ("struct", (("a", "INTEGER"), ("b", "VARCHAR")))),
    ("array<struct<x:array<int>,y:map<int,decimal(5,1)>>>",
     ("array", ("struct", (("x", ("array", "INTEGER")), ("y", ("map", "INTEGER", ("DECIMAL", 5, 1))))))),
]


@pytest.mark.parametrize("text, expected", CASES)
def test_parse_type(text, expected):
    assert _describe(parse_type(text)) == expected


@pytest.mark.parametrize(
    "text",
    ["", "foo", "decimal(1,2,3)", "varchar(a)", "array<int", "array<>", "map<int>", "int extra",
     "struct<a:int", "int(3)", "struct<>", "array<int>>"],
)
def test_unknown_or_malformed_types_raise(text):
    with pytest.raises(ValueError):
        parse_type(text)


def test_interval_and_tz_types_are_the_right_classes():
    assert isinstance(parse_type("interval"), INTERVAL)
    tz = parse_type("timestamp_tz")  # the standard type, so alembic renders sa.TIMESTAMP(timezone=True)
    assert type(tz) is sqltypes.TIMESTAMP and tz.timezone is True


def test_nested_values_arrive_as_json_and_become_python_objects():
    process = parse_type("array<map<string,int>>").result_processor(None, None)
    assert process('[{"a": 1}, {"b": 2}]') == [{"a": 1}, {"b": 2}]
    assert process(None) is None


NESTED = [
    ARRAY(sa.Integer()),
    ARRAY(ARRAY("double")),
    MAP(sa.String(), ARRAY(STRUCT([("x", sa.DECIMAL(10, 2)), ("the at", sa.TIMESTAMP(timezone=True))]))),
    STRUCT([("a", "int"), ("m", MAP("varchar", "date")), ("iv", INTERVAL()), ("b", sa.LargeBinary())]),
]


@pytest.mark.parametrize("nested", NESTED, ids=repr)
def test_nested_types_repr_as_self_contained_constructors(nested):
    # sqlacodegen writes a nested member by its repr: it must evaluate with only the nested classes in scope.
    dialect = E6Dialect()
    again = eval(repr(nested), {"ARRAY": ARRAY, "MAP": MAP, "STRUCT": STRUCT})  # noqa: S307 - our own repr
    assert again.compile(dialect=dialect) == nested.compile(dialect=dialect)
    assert parse_type(type_name(nested)).compile(dialect=dialect) == nested.compile(dialect=dialect)
    hash(nested._static_cache_key)  # the statement cache keys on the constructor arguments


def test_nested_members_are_types_or_engine_type_names():
    assert MAP("varchar", "array<bigint>").value_type.item_type.__class__ is sa.BIGINT
    assert isinstance(ARRAY(sa.Integer).item_type, sa.Integer)
    class Unspellable(sa.types.TypeEngine):
        __visit_name__ = "no_such_type"

    with pytest.raises(ValueError, match="cannot be a member of a nested type"):
        MAP(sa.String(), Unspellable())
    with pytest.raises(ValueError, match="unknown type name"):
        ARRAY("no_such_type")


def test_a_view_with_an_unnamed_struct_reflects(engine):
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE OR REPLACE VIEW unnamed_struct AS SELECT row(1, 'a') AS r")
    try:
        (column,) = sa.inspect(engine).get_columns("unnamed_struct")
        assert _describe(column["type"]) == ("struct", (("", "INTEGER"), ("", "VARCHAR")))
        with engine.connect() as conn:
            assert conn.execute(sa.select(sa.Table("unnamed_struct", sa.MetaData(), autoload_with=conn))).one() == \
                ([1, "a"],)
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP VIEW unnamed_struct")
