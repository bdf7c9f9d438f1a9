"""The local engine as the dialect tests use it: credentials and SQLAlchemy URLs."""
USER, PASSWORD = "admin", "admin"


def engine_url(address: str, scheme: str = "e6driver") -> str:
    """SQLAlchemy URL of the local engine at ``host:port`` (catalog ``local``, schema ``main``)."""
    return f"{scheme}://{USER}:{PASSWORD}@{address}/main?catalog=local"


def engine_server(data_dir: str):
    """An EngineServer on an ephemeral port with its data in ``data_dir``; use it as a context manager."""
    from mock_server.server import EngineServer

    return EngineServer("127.0.0.1", 0, data_dir=data_dir, users={USER: PASSWORD})
