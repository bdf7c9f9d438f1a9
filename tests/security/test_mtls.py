"""Mutual TLS: the engine with ``--tls-client-ca`` and the driver's ``ssl_client_cert``/``ssl_client_key`` (a
path or PEM each), through connect(), asyncio, the pool and the SQLAlchemy URL; a client without a certificate
the engine trusts gets an OperationalError and no answer."""
from __future__ import annotations

import asyncio

import pytest

import e6driver
from e6driver import aio
from e6driver.errors import InterfaceError, OperationalError

from accounts import USERS
from certs import self_signed
from tls_clients import check_pool_and_sqlalchemy, select_42


@pytest.fixture(scope="module")
def pki():
    return {"server": self_signed("localhost"), "client": self_signed("client"),
            "stranger": self_signed("stranger")}


@pytest.fixture
def mtls_server(engine, pki):
    cert, key = pki["server"]
    return engine(tls={"cert": cert, "key": key, "client_ca": pki["client"][0]})  # the client's own CA


@pytest.fixture
def files(pki, tmp_path):
    paths = {}
    for name, (cert, key) in pki.items():
        paths[name] = (tmp_path / f"{name}.pem", tmp_path / f"{name}-key.pem")
        paths[name][0].write_bytes(cert)
        paths[name][1].write_bytes(key)
    return {name: (str(cert), str(key)) for name, (cert, key) in paths.items()}


def _options(server, pki, **extra):
    return dict(host="127.0.0.1", port=server.port, username="alice", password=USERS["alice"], secure=True,
                ssl_cert=pki["server"][0], connect_timeout=5, **extra)


def test_a_client_certificate_as_paths_or_pem_is_accepted(mtls_server, pki, files):
    for n, (cert, key) in enumerate((files["client"], pki["client"])):
        with e6driver.connect(**_options(mtls_server, pki, ssl_client_cert=cert, ssl_client_key=key)) as conn:
            assert select_42(conn) == [(42,)]
            conn.objects.create_bucket(f"alice-mtls-{n}")  # the store calls share the channel's credentials
            conn.objects.put(f"alice-mtls-{n}", "k", b"mutual")
            assert conn.objects.get(f"alice-mtls-{n}", "k") == b"mutual"


def test_no_same_host_socket_beside_mutual_tls(mtls_server):
    """The socket authenticates by credentials alone: an engine that admits no one without a client
    certificate offers none."""
    assert mtls_server.local_transfer is None and mtls_server.engine.capabilities()["local_transfer"] == ""


def test_without_a_trusted_client_certificate_the_engine_answers_nothing(mtls_server, pki, still_serves):
    for extra in ({}, dict(ssl_client_cert=pki["stranger"][0], ssl_client_key=pki["stranger"][1])):
        with pytest.raises(OperationalError):
            with e6driver.connect(**_options(mtls_server, pki, **extra)) as conn:
                select_42(conn)


def test_asyncio_connections_present_the_client_certificate(mtls_server, pki, files):
    async def main():
        cert, key = files["client"]
        async with aio.connect(**_options(mtls_server, pki, ssl_client_cert=cert, ssl_client_key=key)) as conn:
            cur = conn.cursor()
            await cur.execute("SELECT 40 + 2")
            return await cur.fetchall()
    assert asyncio.run(main()) == [(42,)]


def test_pool_and_sqlalchemy_url_present_the_client_certificate(mtls_server, pki, files, tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_bytes(pki["server"][0])
    cert, key = files["client"]
    check_pool_and_sqlalchemy(mtls_server.port, {"ssl_cert": str(ca), "ssl_client_cert": cert,
                                                 "ssl_client_key": key})


@pytest.mark.parametrize("extra", [dict(ssl_client_cert="c.pem"), dict(ssl_client_key="k.pem"),
                                   dict(ssl_client_cert="c.pem", ssl_client_key="k.pem", secure=False)])
def test_half_a_client_certificate_or_one_without_tls_is_an_interface_error(extra):
    options = dict(host="127.0.0.1", port=1, username="u", password="p", secure=True, lazy=True)
    options.update(extra)
    with pytest.raises(InterfaceError, match="ssl_client"):
        e6driver.connect(**options)
