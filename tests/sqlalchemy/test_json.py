"""``sqlalchemy.JSON`` on the engine: a JSON column in DDL, values serialized on the way in and parsed on the way
out, and the index/path operators as ``json_extract`` with JSONPath (``as_integer()`` and the other casts read
the element's text). SQLAlchemy's own JSONTest runs too (compliance suite), minus the tests that need keys the
database generates."""
import json
import uuid

import pytest
import sqlalchemy as sa

from e6driver.sqlalchemy.datatype import ARRAY, MAP

DOC = {"a": [1, 2, {"b": "x"}], "s": "héllo \"q\" \\ 🐍", "f": 1.5, "t": True, "n": None,
       'k"ey\\': 7, "ключ": {"deep": [[10, 20]]}}


@pytest.fixture
def docs(engine):
    metadata = sa.MetaData()
    table = sa.Table(f"docs_{uuid.uuid4().hex[:8]}", metadata,
                     sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("j", sa.JSON),
                     sa.Column("k", sa.JSON(none_as_null=True)))
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), [dict(id=1, j=DOC, k=None), dict(id=2, j=[1, "two", None], k={"z": 1}),
                                      dict(id=3, j=None, k=None), dict(id=4, j="just text", k=0)])
    yield table
    metadata.drop_all(engine)


def test_the_column_is_json_in_ddl(engine):
    table = sa.Table("t", sa.MetaData(), sa.Column("j", sa.JSON))
    assert "j JSON" in str(sa.schema.CreateTable(table).compile(engine))


def test_values_round_trip_as_python_objects(engine, docs):
    with engine.connect() as conn:
        rows = conn.execute(sa.select(docs.c.id, docs.c.j, docs.c.k).order_by(docs.c.id)).all()
    assert rows == [(1, DOC, None), (2, [1, "two", None], {"z": 1}), (3, None, None), (4, "just text", 0)]


def test_none_is_json_null_unless_none_as_null(engine, docs):
    with engine.connect() as conn:
        sql_null_j = conn.execute(sa.select(docs.c.id).where(docs.c.j.is_(None))).all()
        sql_null_k = conn.execute(sa.select(docs.c.id).where(docs.c.k.is_(None)).order_by(docs.c.id)).all()
    assert sql_null_j == []  # j=None was stored as the JSON text null
    assert sql_null_k == [(1,), (3,)]


def test_index_and_path_select_elements_as_json(engine, docs):
    with engine.connect() as conn:
        row = conn.execute(sa.select(docs.c.j["a"], docs.c.j[("a", 2, "b")], docs.c.j["ключ"]["deep"][0],
                                     docs.c.j[('k"ey\\',)], docs.c.j["missing"]).where(docs.c.id == 1)).one()
    assert tuple(row) == ([1, 2, {"b": "x"}], "x", [10, 20], 7, None)


@pytest.mark.parametrize("element, cast, expected", [
    ("s", "as_string", DOC["s"]), ("f", "as_float", 1.5), ("t", "as_boolean", True),
    ('k"ey\\', "as_integer", 7), ("n", "as_string", None),
])
def test_typed_elements(engine, docs, element, cast, expected):
    with engine.connect() as conn:
        got = conn.execute(sa.select(getattr(docs.c.j[element], cast)()).where(docs.c.id == 1)).scalar_one()
    assert got == expected and type(got) is type(expected)


def test_typed_elements_filter_rows(engine, docs):
    with engine.connect() as conn:
        by_integer = conn.execute(sa.select(docs.c.id).where(docs.c.j[("a", 0)].as_integer() == 1)).all()
        by_string = conn.execute(sa.select(docs.c.id).where(docs.c.j[1].as_string() == "two")).all()
        numeric = conn.execute(sa.select(docs.c.j[("a", 1)].as_numeric(10, 2)).where(docs.c.id == 1)).scalar_one()
    assert by_integer == [(1,)] and by_string == [(2,)]
    assert str(numeric) == "2.00"


def test_paths_rendered_as_literals_reach_the_same_elements(engine, docs):
    query = sa.select(docs.c.j[('k"ey\\',)].as_integer(), docs.c.j[("ключ", "deep", 0, 1)]).where(docs.c.id == 1)
    sql = str(query.compile(engine, compile_kwargs={"literal_binds": True}))
    assert "json_extract" in sql and "%(" not in sql
    with engine.connect() as conn:
        assert tuple(conn.exec_driver_sql(sql).one()) == (7, "20")  # raw driver rows: the element's JSON text


def test_custom_serializer_and_deserializer(url, docs):
    seen = []
    engine = sa.create_engine(url, json_serializer=lambda value: json.dumps(value, sort_keys=True),
                              json_deserializer=lambda text: seen.append(text) or json.loads(text))
    try:
        with engine.begin() as conn:
            conn.execute(docs.insert(), dict(id=5, j={"b": 1, "a": 2}))
            assert conn.execute(sa.select(docs.c.j).where(docs.c.id == 5)).scalar_one() == {"a": 2, "b": 1}
    finally:
        engine.dispose()
    assert seen == ['{"a": 2, "b": 1}']


def test_nested_literals_with_quotes_and_backslashes_reach_the_engine_intact(engine):
    """Nested values render as JSON text literals; their quotes and backslashes were escaped twice (once by the
    type, once by the compiler for every literal): a quote ended the literal early, a backslash doubled."""
    values = ["a\\b", "it's", 'say "hi"']
    query = sa.select(sa.literal(values, ARRAY(sa.String)), sa.literal({"k'\\": 1}, MAP(sa.String, sa.Integer)))
    sql = str(query.compile(engine, compile_kwargs={"literal_binds": True}))
    with engine.connect() as conn:
        raw = conn.exec_driver_sql(sql).one()
    assert json.loads(raw[0]) == values and json.loads(raw[1]) == {"k'\\": 1}


def test_json_members_of_nested_types(engine):
    metadata = sa.MetaData()
    table = sa.Table(f"nested_{uuid.uuid4().hex[:8]}", metadata, sa.Column("m", MAP(sa.String, sa.JSON)),
                     sa.Column("a", ARRAY(sa.JSON)))
    metadata.create_all(engine)
    try:
        row = dict(m={"x": {"deep": [1, None]}, "y": "s"}, a=[{"q": 1}, [2], "t", None])
        with engine.begin() as conn:
            conn.execute(table.insert(), row)
            assert conn.execute(sa.select(table)).one()._asdict() == row
    finally:
        metadata.drop_all(engine)
