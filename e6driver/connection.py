"""DB-API connection: the official client's arguments, ``cursor()``, transactions and browsing calls.

A connection holds DB-API state only; it owns a :class:`e6driver.protocol.Session`, which performs every RPC
with the retry, renewal, blue-green and resume rules (``e6driver/protocol/session.py``).

Arguments of the official client that nothing here reads (accepted so code written for it runs unchanged):
``scheme`` (the official client only stores it), ``require_fastbinary`` (e6driver never uses the thrift
package's fastbinary: its decoders read Thrift directly), ``enable_result_batch_v2`` (prefetching already
overlaps batch fetches). They are kept as attributes and listed in ``IGNORED_OPTIONS``. Authentication is a
user and password (a session), a static ``access_token``, or the OAuth client-credentials flow
(``client_id``, ``client_secret``, ``token_url``, ``oauth_scope``, ``client_auth_method``: see
``protocol/bearer.py``).
"""
from __future__ import annotations

import logging
import threading
import weakref
from typing import Any, Dict, List, Optional, Union

from .cursor import Cursor
from .errors import (DataError, DatabaseError, Error, IntegrityError, InterfaceError, InternalError,
                     NotSupportedError, OperationalError, ProgrammingError, Warning)
from .protocol import ServerQuery, Session, browse, transaction
from .dataframes import register_with_polars
from .settings import arraysize_argument, connection_target, prefetch_argument, session_arguments
from .stores import AdminClient, DatasetClient, ObjectStoreClient
from .stores.kv import KVClient
from .stores.streams import StreamClient

log = logging.getLogger(__name__)

IGNORED_OPTIONS = ("scheme", "require_fastbinary", "enable_result_batch_v2")
_DEBUG_FORMAT = "[%(name)s] %(asctime)s %(levelname)s %(message)s"


def enable_debug_logging() -> None:
    """``debug=True``: DEBUG records of the ``e6driver`` logger (connection life cycle, RPCs, query ids — never
    credentials) reach stderr, unless the application already handles them."""
    logger = logging.getLogger("e6driver")
    logger.setLevel(logging.DEBUG)
    current: Optional[logging.Logger] = logger
    while current is not None:  # an application handler that shows DEBUG already: leave its setup alone
        if any(h.level <= logging.DEBUG and not isinstance(h, logging.NullHandler) for h in current.handlers):
            return
        current = current.parent if current.propagate else None
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(_DEBUG_FORMAT))
    logger.addHandler(handler)


class Connection:
    """A connection to an e6data-protocol engine. Arguments match the official client's ``Connection``.

    Extra keyword arguments: ``connect_timeout`` (seconds to keep retrying an unreachable server for new work),
    ``rpc_timeout`` (deadline of each RPC), ``query_timeout`` (budget of a whole query, execute to last fetch),
    ``auto_resume_timeout`` and ``prefetch`` (chunks fetched ahead while the caller consumes; 0 disables).
    With ``secure=True``, ``ssl_cert`` is the CA to trust (a path or PEM; None: the system's CAs) and
    ``ssl_client_cert``/``ssl_client_key`` (a path or PEM each) a client certificate for mutual TLS.
    ``connect()`` authenticates before it returns (a wrong password raises ``AuthenticationError`` there);
    ``lazy=True`` defers that to the first call. A token (``access_token``, OAuth) is checked at first use.
    """

    Warning = Warning
    Error = Error
    InterfaceError = InterfaceError
    DatabaseError = DatabaseError
    DataError = DataError
    OperationalError = OperationalError
    IntegrityError = IntegrityError
    InternalError = InternalError
    ProgrammingError = ProgrammingError
    NotSupportedError = NotSupportedError

    def __init__(self, host: Optional[str] = None, port: Optional[int] = None, username: Optional[str] = None,
                 password: Optional[str] = None, catalog: Optional[str] = None, database: Optional[str] = None,
                 cluster_name: Optional[str] = None, secure: bool = False,
                 ssl_cert: Union[None, str, bytes] = None, auto_resume: bool = True, scheme: str = "e6data",
                 grpc_options: Optional[Dict[str, Any]] = None, debug: bool = False,
                 require_fastbinary: bool = True, client_id: Optional[str] = None,
                 client_secret: Optional[str] = None, token_url: Optional[str] = None,
                 oauth_scope: Optional[str] = None, access_token: Optional[str] = None,
                 client_auth_method: str = "basic", enable_result_batch_v2: bool = False, *,
                 connect_timeout: float = 30.0, rpc_timeout: Optional[float] = None,
                 query_timeout: Optional[float] = None, auto_resume_timeout: Optional[float] = None,
                 prefetch: int = 2, arraysize: int = 1, autocommit: bool = True, lazy: bool = False,
                 ssl_client_cert: Union[None, str, bytes] = None, ssl_client_key: Union[None, str, bytes] = None):
        found, bearer = connection_target(host, port, username, password, access_token, client_id, client_secret,
                                          token_url, oauth_scope, client_auth_method)  # else E6DRIVER_* / .env
        host, port, username, password = found.host, found.port, found.username, found.password
        self.host, self.port = host, int(port)
        self.catalog_name = catalog
        self.database = database
        self.cluster_name = cluster_name.lower() if cluster_name else None
        self.secure = secure
        self.auto_resume = auto_resume
        self.scheme = scheme
        self.debug = debug
        self.require_fastbinary = require_fastbinary
        self.enable_result_batch_v2 = enable_result_batch_v2
        self.client_auth_method, self.oauth_scope = client_auth_method, oauth_scope
        self.prefetch = prefetch_argument(prefetch)
        self.arraysize = arraysize_argument(arraysize)  # fetchmany()'s default for new cursors (PEP 249: 1; the official client: 1000)
        self.endpoint = f"{host}:{self.port}"
        self.session = Session(**session_arguments(
            host, self.port, username, password, bearer, cluster_name, secure, ssl_cert, auto_resume, grpc_options,
            connect_timeout, rpc_timeout, query_timeout, auto_resume_timeout, ssl_client_cert, ssl_client_key))
        self._cursors: "weakref.WeakSet[Cursor]" = weakref.WeakSet()
        self._begin_lock = threading.Lock()  # one BEGIN when threads sharing the connection start statements
        self._objects: Optional[ObjectStoreClient] = None
        self._datasets: Optional[DatasetClient] = None
        self._streams: Optional[StreamClient] = None
        self._kv: Optional[KVClient] = None
        self._admin: Optional[AdminClient] = None
        if debug:
            enable_debug_logging()
        if not lazy:  # fail here, not at the first statement: wrong password, unknown host, refused port
            try:
                self.session.session_id()  # authenticates a user/password session; a bearer has none to create
            except Error:
                self.session.close()
                raise
        self._autocommit = True
        if not autocommit:
            try:
                self.autocommit = False
            except Error:
                self.session.close()
                raise

    # ------------------------------------------------------------------ PEP 249
    def cursor(self, catalog_name: Optional[str] = None, db_name: Optional[str] = None, *,
               arraysize: Optional[int] = None) -> Cursor:
        self.session.check_open()
        register_with_polars()  # pl.read_database(query, conn) then reads the Arrow path
        cursor = Cursor(self, arraysize, db_name or self.database, catalog_name or self.catalog_name)
        self._cursors.add(cursor)
        return cursor

    # Transactions (like psycopg): with autocommit off, the first statement opens one (BEGIN) and commit()/
    # rollback() end it; the wire work and the lost-session rule are e6driver/protocol/transaction.py's.
    @property
    def autocommit(self) -> bool:
        """True (the default, e6data's behaviour): every statement commits when it runs."""
        return self._autocommit

    @autocommit.setter
    def autocommit(self, value: bool) -> None:
        self.session.check_open()
        if self.session.in_transaction:
            raise ProgrammingError("can't change autocommit while a transaction is open: commit() or rollback() "
                                   "first")
        if not value:
            transaction.require(self.session)  # NotSupportedError against an engine without transactions
        self._autocommit = bool(value)

    @property
    def supports_transactions(self) -> bool:
        """Whether the engine keeps transactions for this connection (asked once; e6data clusters do not)."""
        return transaction.supported(self.session)

    def ensure_transaction(self) -> None:
        """Called by cursors before each statement: with autocommit off, open the transaction if none is."""
        if self._autocommit:
            return
        with self._begin_lock:
            if not (self.session.in_transaction and self.session.transaction_lost is None):
                transaction.begin(self.session, self.catalog_name, self.database)

    def commit(self) -> None:
        """Commit the open transaction (nothing to do in autocommit mode or when none is open)."""
        self.session.check_open()
        if self.session.in_transaction:
            transaction.commit(self.session, self.catalog_name, self.database)

    def rollback(self) -> None:
        """Roll the open transaction back; NotSupportedError against an engine without transactions."""
        self.session.check_open()
        if self.session.in_transaction:
            transaction.rollback(self.session, self.catalog_name, self.database)
        elif not transaction.supported(self.session):
            raise NotSupportedError("the engine has no transactions; every statement is committed when it runs")

    def close(self) -> None:
        if self.session.closed:
            return
        if self.session.in_transaction:  # PEP 249: closing discards the open transaction
            try:
                transaction.rollback(self.session, self.catalog_name, self.database)
            except Error as exc:
                log.debug("rolling back at close failed: %s", exc)
        for cursor in list(self._cursors):
            try:
                cursor.close()
            except Error as exc:
                log.debug("closing cursor failed: %s", exc)
        self.session.close()

    @property
    def closed(self) -> bool:
        return self.session.closed

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, exc_type: Any, *exc_info: Any) -> None:
        """As psycopg: a transaction still open is committed when the block ends cleanly (close() alone rolls it
        back), rolled back when the block raised; then the connection is closed."""
        try:
            if exc_type is None and not self.session.closed and self.session.in_transaction:
                self.commit()  # a lost transaction raises here: its writes did not happen
        finally:
            self.close()

    @property
    def objects(self) -> ObjectStoreClient:
        """The server's object stores (:class:`e6driver.stores.ObjectStoreClient`), made on first use."""
        if self._objects is None:
            self._objects = ObjectStoreClient(self.session)
        return self._objects

    @property
    def datasets(self) -> DatasetClient:
        """The server's versioned datasets (:class:`e6driver.stores.DatasetClient`), made on first use."""
        if self._datasets is None:
            self._datasets = DatasetClient(self.session)
        return self._datasets

    @property
    def streams(self) -> StreamClient:
        """The server's streams (:class:`e6driver.stores.StreamClient`), made on first use."""
        if self._streams is None:
            self._streams = StreamClient(self.session)
        return self._streams

    @property
    def kv(self) -> KVClient:
        """The server's key-value tables (:class:`e6driver.stores.KVClient`), made on first use."""
        if self._kv is None:
            self._kv = KVClient(self.session)
        return self._kv

    @property
    def admin(self) -> AdminClient:
        """The server's administration for its admin user (:class:`e6driver.stores.AdminClient`), made on first
        use."""
        if self._admin is None:
            self._admin = AdminClient(self.session)
        return self._admin

    # ------------------------------------------------------------------ official-client API
    @property
    def get_session_id(self) -> str:
        return self.session.session_id()

    def get_re_authenticate_session_id(self) -> str:
        self.session.forget()
        return self.session.session_id()

    @property
    def client(self) -> Any:
        """The QueryEngineService stub on this connection's channel (the official client's ``client``)."""
        return self.session.transport.engine

    def check_strategy_change(self) -> bool:
        """Apply an announced blue-green switch now if this endpoint has no open query; True if applied."""
        return self.session.apply_pending_switch()

    def check_connection(self) -> bool:
        return not self.session.closed and self.session.transport.is_open

    def reopen(self) -> None:
        self.session.reopen()

    def ping(self) -> None:
        """Raise unless the server answers a real RPC with this connection's credentials."""
        browse.health_check(self.session)

    def get_schema_names(self, catalog: Optional[str] = None) -> List[str]:
        return browse.schema_names(self.session, catalog or self.catalog_name)

    def get_tables(self, catalog: Optional[str] = None, database: Optional[str] = None) -> List[str]:
        return browse.tables(self.session, catalog or self.catalog_name, database or self.database)

    def get_columns(self, catalog: Optional[str] = None, database: Optional[str] = None,
                    table: str = "") -> List[Dict[str, str]]:
        return browse.columns(self.session, catalog or self.catalog_name, database or self.database, table)

    def get_catalogs(self) -> List[Dict[str, Any]]:
        return browse.catalogs(self.session)

    def dry_run(self, query: str) -> str:
        return browse.dry_run(self.session, query, self.catalog_name, self.database)

    def clear(self, query_id: str, engine_ip: Optional[str] = None, timeout: Optional[float] = None) -> None:
        ServerQuery.attach(self.session, query_id, engine_ip or "").clear(timeout)

    def query_cancel(self, engine_ip: Optional[str], query_id: str) -> None:
        ServerQuery.attach(self.session, query_id, engine_ip or "").cancel()

    # ------------------------------------------------------------------ settings the session owns
    @property
    def connect_timeout(self) -> float:
        return self.session.connect_timeout

    @property
    def rpc_timeout(self) -> Optional[float]:
        return self.session.rpc_timeout

    @property
    def query_timeout(self) -> Optional[float]:
        return self.session.query_timeout

    @property
    def prepare_timeout(self) -> float:
        return self.session.prepare_timeout

    @property
    def auto_resume_timeout(self) -> float:
        return self.session.auto_resume_timeout
