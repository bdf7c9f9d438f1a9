"""Fixtures for dialect tests against the local engine, started in-process on an ephemeral port."""
import pytest

from local_engine import engine_server as start_engine_server, engine_url

# SQLAlchemy's compliance suite runs in its own pytest session (its plugin takes over the session);
# test_compliance_suite.py launches it against a live engine.
collect_ignore = ["suite"]


@pytest.fixture(scope="session")
def engine_server(tmp_path_factory):
    with start_engine_server(str(tmp_path_factory.mktemp("engine"))) as server:
        yield server


@pytest.fixture(scope="session")
def url(engine_server):
    return engine_url(engine_server.address)


@pytest.fixture
def engine(url):
    import sqlalchemy as sa

    sa_engine = sa.create_engine(url)
    yield sa_engine
    sa_engine.dispose()
