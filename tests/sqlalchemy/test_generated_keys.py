"""``sqlalchemy.Sequence`` on the engine: the engine generates no keys by itself (no identity or serial columns), so
a Sequence is how an ORM model gets them — created and dropped with the metadata, its ``nextval`` taken inline in
INSERTs (RETURNING reads the key back) or before them, and reflected."""
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
