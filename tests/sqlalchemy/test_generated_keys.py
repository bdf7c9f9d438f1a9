"""Generated keys through SQLAlchemy. The engine has no identity or serial columns, so the dialect makes them from
sequences: an integer primary key SQLAlchemy would autoincrement, or a column with ``sqlalchemy.Identity()``,
defaults to ``nextval()`` of a sequence of its own (made and dropped with its table); an explicit
``sqlalchemy.Sequence`` is created and dropped with the metadata, its ``nextval`` taken inline in INSERTs (RETURNING
reads the key back) or before them, and reflected."""
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, declarative_base


@pytest.fixture
def names():
    suffix = uuid.uuid4().hex[:8]
    return f"things_{suffix}", f"thing id's \"seq\" {suffix}"


def test_an_orm_model_gets_its_keys_from_a_sequence(engine, names):
    table_name, sequence_name = names

    Base = declarative_base()  # SQLAlchemy 1.4 too

    class Thing(Base):
        __tablename__ = table_name
        id = sa.Column(sa.Integer, sa.Sequence(sequence_name, start=10, cache=20), primary_key=True)
        name = sa.Column(sa.String, nullable=False)

    Base.metadata.create_all(engine)
    try:
        assert sequence_name in sa.inspect(engine).get_sequence_names()
        with Session(engine) as session:
            first = Thing(name="a")
            session.add(first)
            session.flush()
            assert first.id == 10
            session.add_all([Thing(name=str(i)) for i in range(3)])
            session.commit()
        with engine.begin() as conn:
            conn.execute(Thing.__table__.insert(), [{"name": "x"}, {"name": "y"}])  # executemany
            ids = conn.execute(sa.select(Thing.id).order_by(Thing.id)).scalars().all()
        assert ids == list(range(10, 16))
    finally:
        Base.metadata.drop_all(engine)
    assert sequence_name not in sa.inspect(engine).get_sequence_names()


def test_a_key_taken_before_the_insert_without_returning(engine, names):
    table_name, sequence_name = names
    metadata = sa.MetaData()
    table = sa.Table(table_name, metadata, sa.Column("id", sa.Integer, sa.Sequence(sequence_name), primary_key=True),
                     sa.Column("v", sa.String), implicit_returning=False)
    metadata.create_all(engine)
    try:
        with engine.begin() as conn:
            result = conn.execute(table.insert(), {"v": "a"})
            assert result.inserted_primary_key == (1,)
            assert conn.execute(sa.select(sa.Sequence(sequence_name).next_value())).scalar_one() == 2
    finally:
        metadata.drop_all(engine)


def test_has_sequence(engine, names):
    _, sequence_name = names
    sequence = sa.Sequence(sequence_name)
    with engine.begin() as conn:
        assert not engine.dialect.has_sequence(conn, sequence_name)
        conn.execute(sa.schema.CreateSequence(sequence))
        assert engine.dialect.has_sequence(conn, sequence_name)
        conn.execute(sa.schema.DropSequence(sequence))


def test_an_integer_primary_key_is_generated_as_with_serial(engine, names):
    table_name, _ = names
    Base = declarative_base()

    class Thing(Base):
        __tablename__ = table_name
        id = sa.Column(sa.Integer, primary_key=True)
        name = sa.Column(sa.String)

    for _ in range(2):  # made, dropped and made again: the key sequence goes and comes with the table
        Base.metadata.create_all(engine)
        try:
            with Session(engine) as session:
                things = [Thing(name="a"), Thing(name="b")]
                session.add_all(things)
                session.flush()
                assert [thing.id for thing in things] == [1, 2]
                session.add(Thing(id=50, name="given"))
                session.commit()
            assert f"{table_name}_id_seq" in sa.inspect(engine).get_sequence_names()
        finally:
            Base.metadata.drop_all(engine)
        assert f"{table_name}_id_seq" not in sa.inspect(engine).get_sequence_names()


def test_identity_options_shape_the_keys(engine, names):
    table_name, _ = names
    metadata = sa.MetaData()
    table = sa.Table(table_name, metadata, sa.Column("id", sa.BigInteger, sa.Identity(start=100, increment=5),
                                                     primary_key=True), sa.Column("v", sa.String))
    metadata.create_all(engine)
    try:
        with engine.begin() as conn:
            conn.execute(table.insert(), [{"v": "a"}, {"v": "b"}])
            assert conn.execute(table.insert().values(v="c").returning(table.c.id)).scalar_one() == 110
            assert conn.execute(sa.select(table.c.id).order_by(table.c.id)).scalars().all() == [100, 105, 110]
    finally:
        metadata.drop_all(engine)


def test_a_sequence_left_by_a_drop_without_the_model_is_replaced(engine, names):
    table_name, _ = names
    metadata = sa.MetaData()
    table = sa.Table(table_name, metadata, sa.Column("id", sa.Integer, primary_key=True), sa.Column("v", sa.String))
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), [{"v": "a"}, {"v": "b"}])
        conn.exec_driver_sql(f"DROP TABLE {table_name}")  # as a reflected or hand-written drop would
    metadata.create_all(engine)
    try:
        with engine.begin() as conn:
            assert conn.execute(table.insert().values(v="c").returning(table.c.id)).scalar_one() == 1
    finally:
        metadata.drop_all(engine)


def test_only_single_integer_keys_without_defaults_are_generated(engine):
    metadata = sa.MetaData()
    tables = [
        sa.Table("pair", metadata, sa.Column("a", sa.Integer, primary_key=True),
                 sa.Column("b", sa.Integer, primary_key=True)),
        sa.Table("named", metadata, sa.Column("k", sa.String, primary_key=True)),
        sa.Table("given", metadata, sa.Column("id", sa.Integer, primary_key=True, autoincrement=False)),
        sa.Table("defaulted", metadata, sa.Column("id", sa.Integer, primary_key=True, server_default="7")),
    ]
    for table in tables:
        assert "SEQUENCE" not in str(sa.schema.CreateTable(table).compile(engine))
