"""The engine's composition root: builds every room (stores, SQL catalogs, query path, deployment control),
wires their gRPC services into one server, and runs its life cycle and admin operations."""
from __future__ import annotations

import logging
import threading
from concurrent import futures
from typing import Any, Mapping, Optional, Sequence

import grpc

from e6driver._proto import e6driver_streams_pb2_grpc
from e6driver._proto import e6driver_accounts_pb2_grpc
from e6driver._proto import (cluster_pb2_grpc, e6driver_admin_pb2_grpc, e6driver_datasets_pb2_grpc,
                             e6driver_ingest_pb2_grpc, e6driver_stores_pb2_grpc)
from mock_server import errors
from mock_server.catalogs import SqlCatalog, StoreCatalogs
from mock_server.control.accounts_service import AccountServicer
from mock_server.control.admission import AdmissionInterceptor
from mock_server.control.bluegreen import BlueGreenState
from mock_server.control.cluster import ClusterServicer, ClusterState
from mock_server.control.overview import Overview
from mock_server.control.system_catalog import SystemCatalog
from mock_server.control.service import AdminServicer
from mock_server.datasets.service import DatasetServicer
from mock_server.datasets.store import open_datasets
from mock_server.kv import KeyValueRoom
from mock_server.objects.buckets import open_object_stores
from mock_server.local_transfer import LocalTransferServer, supported as local_transfer_supported
from mock_server.objects.local_files import LocalFiles
from mock_server.query.local_arrow import LocalArrow
from mock_server.objects.service import ObjectStoreServicer
from mock_server.limits import DEFAULT_LIMITS, Limits, LongPolls
from mock_server.query.engine import Engine
from mock_server.request_size import RequestSizeInterceptor, core_receive_limit
from mock_server.query.ingest import IngestServicer
from mock_server.query.queries import QueryRegistry
from mock_server.query.run_service import QueryRunServicer, add_to_server as serve_runs
from mock_server.query.service import QueryEngineServicer, add_to_server as serve_queries
from mock_server.sessions import SessionStore
from mock_server.streams.catalog import StreamCatalog
from mock_server.streams.service import StreamServicer
from mock_server.streams.store import open_streams

log = logging.getLogger(__name__)

# Spec §1.2: tolerate the official client's keepalive pings. Requests are capped before any servicer (so before
# authentication) runs: at Limits.max_message_bytes by RequestSizeInterceptor (RESOURCE_EXHAUSTED naming the flag),
# and a little above it by gRPC itself (mock_server.request_size).
SERVER_OPTIONS = [
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_recv_ping_interval_without_data_ms", 5000),
    ("grpc.http2.max_ping_strikes", 0),
    ("grpc.max_send_message_length", -1),
]


def server_options(limits: Limits) -> list:
    return SERVER_OPTIONS + [("grpc.max_receive_message_length", core_receive_limit(limits))]


def _pem(value: Any) -> bytes:
    """PEM bytes given as bytes, PEM text or a file path."""
    if isinstance(value, bytes):
        return value
    if value.lstrip().startswith("-----BEGIN"):
        return value.encode("ascii")
    with open(value, "rb") as handle:
        return handle.read()


def server_tls_credentials(tls: Mapping[str, Any]) -> grpc.ServerCredentials:
    """TLS for the listener: ``cert`` and ``key`` (PEM bytes/text or paths), optional ``client_ca`` (then
    every client must present a certificate it signed)."""
    client_ca = _pem(tls["client_ca"]) if tls.get("client_ca") else None
    return grpc.ssl_server_credentials([(_pem(tls["key"]), _pem(tls["cert"]))], root_certificates=client_ca,
                                       require_client_auth=client_ca is not None)


class EngineServer:
    """The local engine: gRPC server + DuckDB, usable in-process (``with EngineServer() as srv``).

    ``strategy`` is the blue-green colour active at start; ``resume_seconds`` how long a resume takes;
    ``admin_user`` (default: the first user) the only user allowed on AdminService. The admin operations
    are also methods here (:meth:`switch_strategy`, :meth:`suspend`, :meth:`resume`, :meth:`expire_sessions`).
    ``s3`` (keys ``endpoint``, ``access_key``, ``secret_key``, optional ``region``) keeps the object stores
    on an S3-compatible service instead of DATA_DIR/objects. Datasets are encrypted under the master key in
    ``master_key_file`` (default DATA_DIR/master.key, generated on first start). ``dataset_rate_limit`` caps
    each user's dataset uploads + downloads per second (bursts of ``max(1, rate)``; None: no limit). ``limits``
    (:class:`mock_server.limits.Limits`) bounds message, statement, object and upload sizes, open queries
    and waiting polls; the server runs ``max_workers`` threads for calls plus ``limits.max_long_polls`` for
    waiting polls. ``tls`` (keys ``cert``, ``key``, optional ``client_ca``: PEM or paths) serves TLS only.
    ``ingest`` serves IngestService, the driver's bulk-insert path (False: UNIMPLEMENTED, like an e6data cluster).
    ``sql_catalogs`` adds catalogs of one's own (:class:`mock_server.catalogs.SqlCatalog`) to the built-in ones.
    ``local_transfer`` serves same-host object transfers (:mod:`mock_server.local_transfer`; Linux only).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, data_dir: Optional[str] = None,
                 users: Optional[Mapping[str, str]] = None, session_ttl: float = 3600.0,
                 query_ttl: float = 600.0, max_workers: int = 64, time_zone: str = "UTC",
                 sweep_interval: Optional[float] = None, strategy: str = "blue",
                 resume_seconds: float = 2.0, admin_user: Optional[str] = None,
                 s3: Optional[Mapping[str, str]] = None, master_key_file: Optional[str] = None,
                 dataset_rate_limit: Optional[float] = None, limits: Optional[Limits] = None,
                 tls: Optional[Mapping[str, Any]] = None, ingest: bool = True,
                 sql_catalogs: Sequence[SqlCatalog] = (), local_transfer: bool = True) -> None:
        self.host = host
        self.requested_port = port
        self.limits = limits if limits is not None else DEFAULT_LIMITS
        self._tls = server_tls_credentials(tls) if tls else None
        self.long_polls = LongPolls(self.limits)  # dataset polls waiting now, on threads of their own
        self.port: Optional[int] = None
        self.strategy = BlueGreenState(strategy)
        self.cluster = ClusterState(resume_seconds)
        if data_dir:
            errors.hide_path(data_dir, "DATA_DIR")  # no error text shows where the server keeps its files
        self.sessions = SessionStore(users, ttl=session_ttl, data_dir=data_dir, limits=self.limits,
                                     admin_user=admin_user)  # configured users + those the admin created
        self.admin_user = self.sessions.admin_user
        self.object_stores = open_object_stores(data_dir, self.admin_user, s3)
        self.datasets = open_datasets(data_dir, self.admin_user, master_key_file)
        self.streams = open_streams(data_dir, self.admin_user, self.limits)
        self.kv = KeyValueRoom(data_dir, self.admin_user, self.limits)  # key-value tables (V3IO items)
        self.overview = Overview(self.sessions.accounts, self.object_stores, self.datasets,  # the admin's view
                                 kv=self.kv.store, streams=self.streams)
        catalogs = list(sql_catalogs) + [StreamCatalog(self.streams)]
        catalogs.append(self.kv.catalog)
        catalogs.append(SystemCatalog(self.overview))
        try:
            self.engine = Engine(data_dir, time_zone=time_zone, limits=self.limits,
                                 store_catalogs=StoreCatalogs(self.object_stores, self.datasets, self.limits,
                                                              catalogs))
        except BaseException:  # e.g. the database file is still locked: hold nothing open
            self.object_stores.close()
            self.datasets.close()
            self.streams.close()
            self.kv.close()
            raise
        self.queries = QueryRegistry(self.engine, ttl=query_ttl, limits=self.limits)
        self._sweep_interval = sweep_interval or max(0.5, min(30.0, min(session_ttl, query_ttl) / 4))
        self._stop = threading.Event()
        self._sweeper: Optional[threading.Thread] = None
        # Waiting long polls get threads of their own on top of ``max_workers``: LongPolls admits at most
        # max_long_polls of them, so they can never hold a thread that queries and healthCheck need.
        self.max_workers = max_workers
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=max_workers + self.limits.max_long_polls,
                                                              thread_name_prefix="e6rpc"),
                                   options=server_options(self.limits),
                                   interceptors=[RequestSizeInterceptor(self.limits),
                                                 AdmissionInterceptor(self.cluster, self.strategy)])
        engine_ip = host if host not in ("", "0.0.0.0", "::", "[::]") else "localhost"
        query_service = QueryEngineServicer(self.engine, self.sessions, self.queries, engine_ip, self.strategy)
        self._query_service = query_service
        serve_queries(query_service, self._server)
        serve_runs(QueryRunServicer(query_service), self._server)
        cluster_pb2_grpc.add_ClusterServiceServicer_to_server(
            ClusterServicer(self.cluster, self.sessions, self.admin_user), self._server)
        e6driver_admin_pb2_grpc.add_AdminServiceServicer_to_server(
            AdminServicer(self.sessions, self.strategy, self.cluster, self.queries, self.admin_user),
            self._server)
        e6driver_accounts_pb2_grpc.add_AccountServiceServicer_to_server(
            AccountServicer(self.sessions, self.overview), self._server)
        self.ingest: Optional[IngestServicer] = None
        if ingest:
            self.ingest = IngestServicer(self.engine, self.sessions, self.limits)
            e6driver_ingest_pb2_grpc.add_IngestServiceServicer_to_server(self.ingest, self._server)
            self.engine.ingest = True
        e6driver_stores_pb2_grpc.add_ObjectStoreServiceServicer_to_server(
            ObjectStoreServicer(self.object_stores, self.sessions, self.limits), self._server)
        e6driver_datasets_pb2_grpc.add_DatasetServiceServicer_to_server(
            DatasetServicer(self.datasets, self.sessions, dataset_rate_limit, self.limits, self.long_polls),
            self._server)
        e6driver_streams_pb2_grpc.add_StreamServiceServicer_to_server(
            StreamServicer(self.streams, self.sessions), self._server)
        self.kv.serve(self._server, self.sessions)
        # Not beside mutual TLS: the socket authenticates by credentials alone, and such an engine admits no one
        # without a client certificate.
        mutual_tls = bool((tls or {}).get("client_ca"))
        self._local_transfer_wanted = local_transfer and local_transfer_supported() and not mutual_tls
        self.local_transfer: Optional[LocalTransferServer] = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> int:
        """Bind, start serving and return the bound port."""
        host = f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host
        if self._tls is not None:
            port = self._server.add_secure_port(f"{host}:{self.requested_port}", self._tls)
        else:
            port = self._server.add_insecure_port(f"{host}:{self.requested_port}")
        if port == 0:
            raise OSError(f"cannot bind {self.host}:{self.requested_port}")
        self.port = port
        if self._local_transfer_wanted:
            arrow = LocalArrow(self._query_service, self.cluster, self.strategy)
            self.local_transfer = LocalTransferServer(
                {**LocalFiles(self.object_stores, self.limits).handlers(), "arrow": arrow.arrow},
                self._local_caller, self.limits, authenticators={"arrow": arrow.caller})
            self.engine.local_transfer = self.local_transfer.name
        self._server.start()
        self._sweeper = threading.Thread(target=self._sweep_loop, name="e6-sweeper", daemon=True)
        self._sweeper.start()
        log.info("e6driver engine listening on %s", self.address)
        return port

    def _local_caller(self, request: Any) -> str:
        bearer = [("authorization", f"Bearer {request.bearer}")] if request.bearer else []
        return self.sessions.caller(request.auth, bearer)

    def _sweep_loop(self) -> None:
        while not self._stop.wait(self._sweep_interval):
            try:
                self.queries.sweep()
                self.sessions.sweep(keep=self.queries.session_ids())
            except Exception:  # noqa: BLE001 - the sweeper must survive
                log.exception("sweep failed")

    def stop(self, grace: Optional[float] = 1.0) -> None:
        """Stop serving, cancel running queries and close the database."""
        self._stop.set()
        self._server.stop(grace).wait()
        if self.local_transfer is not None:
            self.local_transfer.stop()
            self.engine.local_transfer = ""
        self.cluster.close()
        self.queries.close()
        self.engine.close()
        self.object_stores.close()
        self.datasets.close()
        self.streams.close()
        self.kv.close()
        self.sessions.accounts.flush()  # last logins since the last sweep
        log.info("e6driver engine on %s stopped", self.address)

    # ------------------------------------------------------------------ admin operations

    def switch_strategy(self, colour: str) -> bool:
        """Make ``colour`` (blue/green) active; False if it already was. ValueError for other colours."""
        return self.strategy.switch(colour)

    def suspend(self) -> str:
        """Suspend the cluster; returns its status (``suspended``)."""
        return self.cluster.suspend()

    def resume(self) -> str:
        """Resume a suspended cluster; returns its status (``resuming``, or ``active``)."""
        return self.cluster.resume()

    def expire_sessions(self) -> int:
        """Forget every session now; returns how many there were."""
        return self.sessions.expire_all()

    def wait(self) -> None:
        self._server.wait_for_termination()

    def __enter__(self) -> "EngineServer":
        if self.port is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop(0)
