"""The engine over TLS (``--tls-cert/--tls-key``, optional client CA) and the driver's ``secure``/``ssl_cert``,
through connect(), the pool and SQLAlchemy; an untrusted certificate fails at once, saying so."""
from __future__ import annotations

import grpc
import pytest

import e6driver
from e6driver._proto import e6x_engine_pb2 as pb
from e6driver._proto import e6x_engine_pb2_grpc
from e6driver.errors import OperationalError

from accounts import USERS
from certs import self_signed
from tls_clients import check_pool_and_sqlalchemy, select_42


@pytest.fixture(scope="module")
def pki():
    return {"server": self_signed("localhost"), "other": self_signed("someone-else"),
            "client": self_signed("client")}


@pytest.fixture
def tls_server(engine, pki):
    cert, key = pki["server"]
    return engine(tls={"cert": cert, "key": key})


def test_secure_connect_with_ssl_cert_as_path_and_bytes(tls_server, pki, tmp_path):
    cert = pki["server"][0]
    path = tmp_path / "ca.pem"
    path.write_bytes(cert)
    for ssl_cert in (str(path), cert):
        with e6driver.connect(host="127.0.0.1", port=tls_server.port, username="alice", password=USERS["alice"],
                              secure=True, ssl_cert=ssl_cert) as conn:
            assert select_42(conn) == [(42,)]
            conn.objects.create_bucket("alice-tls")
            conn.objects.put("alice-tls", "k", b"over tls")
            assert conn.objects.get("alice-tls", "k") == b"over tls"


def test_pool_and_sqlalchemy_over_tls(tls_server, pki, tmp_path):
    path = tmp_path / "ca.pem"
    path.write_bytes(pki["server"][0])
    check_pool_and_sqlalchemy(tls_server.port, {"ssl_cert": str(path)})


def test_untrusted_certificate_fails_at_once_saying_so(tls_server, pki, still_serves):
    with pytest.raises(OperationalError) as info:
        e6driver.connect(host="127.0.0.1", port=tls_server.port, username="alice", password=USERS["alice"],
                         secure=True, ssl_cert=pki["other"][0], connect_timeout=600).cursor().execute("SELECT 1")
    message = str(info.value)
    assert "certificate was rejected" in message and "unreachable" not in message


def test_plaintext_client_cannot_talk_to_the_tls_engine(tls_server):
    with grpc.insecure_channel(tls_server.address) as channel:
        with pytest.raises(grpc.RpcError) as info:
            e6x_engine_pb2_grpc.QueryEngineServiceStub(channel).healthCheck(pb.HealthCheckRequest(), timeout=10)
    assert info.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


def test_client_ca_requires_a_client_certificate(engine, pki):
    cert, key = pki["server"]
    client_cert, client_key = pki["client"]
    srv = engine(tls={"cert": cert, "key": key, "client_ca": client_cert})
    anonymous = grpc.ssl_channel_credentials(root_certificates=cert)
    with grpc.secure_channel(srv.address, anonymous) as channel:
        with pytest.raises(grpc.RpcError):
            e6x_engine_pb2_grpc.QueryEngineServiceStub(channel).healthCheck(pb.HealthCheckRequest(), timeout=10)
    known = grpc.ssl_channel_credentials(root_certificates=cert, private_key=client_key,
                                         certificate_chain=client_cert)
    with grpc.secure_channel(srv.address, known) as channel:
        e6x_engine_pb2_grpc.QueryEngineServiceStub(channel).healthCheck(pb.HealthCheckRequest(), timeout=10)


def test_tls_flags():
    from mock_server.__main__ import parse_args

    assert parse_args(["--tls-cert", "c.pem", "--tls-key", "k.pem"]).tls == {
        "cert": "c.pem", "key": "k.pem", "client_ca": None}
    with pytest.raises(SystemExit):
        parse_args(["--tls-cert", "c.pem"])
