"""DuckDB behind the e6data protocol: one database, catalogs, per-query cursors and statement kinds.

User SQL never reaches the server's file system: right after catalog ``local`` is attached, DuckDB's
``enable_external_access`` is switched off for good (DuckDB refuses to switch it back on while the database
runs). File functions (``read_csv``, ``read_parquet``, ``glob``, ``read_text``, ``FROM 'file'``...),
``COPY``, ``ATTACH``, ``EXPORT``/``IMPORT``, ``INSTALL`` and replacement scans of Python objects all fail
with PERMISSION_DENIED; the attached database, its writes and DuckDB's temporary spill files keep working.
Object-store and dataset tables are read by the server and registered on the query's cursor instead
(:mod:`mock_server.catalogs`, given to the engine by the server), after the user's grants are checked.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import threading
from contextlib import contextmanager
import time
from dataclasses import dataclass, field
from typing import Any, Iterator, List, Optional, Tuple

import duckdb
import grpc
import pyarrow as pa

from mock_server import errors
from mock_server.limits import DEFAULT_LIMITS, Limits
from mock_server.query import sandbox
from mock_server.query.chunking import READS_PER_CHUNK, Chunks
from mock_server.query.encode import VECTOR_TYPE_KEY
from mock_server.query.session_db import SessionDB, SessionDBs
from mock_server.query.ordered_set import window_percentiles
from mock_server.query.sql_dialect import quote_identifier, quote_literal, rewrite
from mock_server.query.typemap import field_type_name, render_expression, row_width

log = logging.getLogger(__name__)

DEFAULT_CATALOG = "local"
DEFAULT_SCHEMA = "main"
HIDDEN_CATALOGS = frozenset({"system", "temp", "memory"})

TARGET_CHUNK_BYTES = 2 * 1024 * 1024
_VECTOR_SIZE = 2048
STREAMING_BUFFER = "2MB"
_MAX_BATCH_ROWS = 1_000_000

_ROWS = {"SELECT", "EXPLAIN", "PRAGMA", "CALL", "EXECUTE", "RELATION"}
_COUNTS = {"INSERT", "UPDATE", "DELETE", "MERGE_INTO", "COPY"}
_RETURNING = re.compile(r"(?i)\breturning\b")


def _kind(statement: "duckdb.Statement") -> str:
    name = statement.type.name
    if name in _ROWS:
        return "rows"
    if name in _COUNTS and not _RETURNING.search(statement.query):
        return "count"
    if name in _COUNTS:
        return "rows"
    return "none"


def _check_variables(cur: duckdb.DuckDBPyConnection, statements: List["duckdb.Statement"]) -> None:
    """Refuse a new session variable beyond sandbox.MAX_SESSION_VARIABLES (values live outside memory_limit)."""
    names, reset = sandbox.variables_changed(statements)
    if not names:
        return
    held = {row[0].lower() for row in cur.execute("SELECT name FROM duckdb_variables()").fetchall()}
    if len((held - reset) | names) > sandbox.MAX_SESSION_VARIABLES:
        raise errors.EngineError(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"a session holds at most {sandbox.MAX_SESSION_VARIABLES} variables (this one has {len(held)}; "
            "RESET VARIABLE one first): their values are held outside the engine's memory limit")


@dataclass
class Result:
    """What executing a statement produced."""

    schema: Optional[pa.Schema]  # None: no result set (0 columns)
    row_count: int  # affected rows for DML, -1 for DDL, unused for result sets
    batches: Iterator[pa.RecordBatch] = field(default_factory=lambda: iter(()))


class Statement:
    """A parsed (and, for a single query, bound) SQL text on its session's DuckDB connection
    (:mod:`mock_server.query.session_db`): it binds and runs under the session's lock."""

    def __init__(self, db: SessionDB, sql: str, location: Tuple[str, str],
                 tables: Optional[dict] = None) -> None:
        self.db = db
        self.sql = sql
        self.location = location  # (catalog, schema) of the request
        self._tables = dict(tables or {})  # store tables registered on the connection while the statement lives
        self._stream: Optional[Any] = None
        self._closed = False
        self._relation: Optional[duckdb.DuckDBPyRelation] = None
        db.attach()
        try:
            self.statements = _parse(sql)
            if not self.statements:
                raise errors.invalid("empty SQL statement")
            sandbox.check(self.statements)  # refused before anything runs (mock_server.query.sandbox)
            self.kind = _kind(self.statements[-1])
            with db.use(self) as cur:
                try:
                    self.use_location(cur)
                    _check_variables(cur, self.statements)
                    for name, table in self._tables.items():
                        cur.register(name, table)
                    if len(self.statements) == 1 and self.statements[0].type.name == "SELECT":
                        self._relation = cur.sql(self.statements[0])  # bind now: binder errors at prepare
                except Exception as exc:
                    raise errors.from_exception(exc) from exc
        except BaseException:
            self.close()
            raise

    def use_location(self, cur: duckdb.DuckDBPyConnection) -> None:
        """Make the request's catalog/schema the connection's default when it differs from the last one applied
        (so a session's own ``USE``/``SET schema`` stays until a request names another location)."""
        if self.db.location != self.location:
            catalog, schema = self.location
            cur.execute(f"USE {quote_identifier(catalog or DEFAULT_CATALOG)}."
                        f"{quote_identifier(schema or DEFAULT_SCHEMA)}")
            self.db.location = self.location

    def run(self) -> Result:
        """Execute; result sets stream as Arrow batches of roughly TARGET_CHUNK_BYTES on the wire."""
        kinds = [s.type.name for s in self.statements]
        with self.db.use(self) as cur:
            try:
                self.use_location(cur)
                result = self._run(cur)
            except BaseException:
                if "TRANSACTION" in kinds:
                    self.db.resync_transaction()
                raise
            self.db.note_transaction(kinds, [s.query for s in self.statements])
            return result

    def _run(self, cur: duckdb.DuckDBPyConnection) -> Result:
        earlier, last = self.statements[:-1], self.statements[-1]
        # Outside a transaction, several statements run as one (PostgreSQL's simple query protocol): all or
        # nothing, except that a last statement returning rows streams as it is read, so the ones before it
        # commit first. Strings that manage transactions themselves are left as they are.
        together = bool(earlier) and not self.db.in_transaction and \
            all(s.type.name != "TRANSACTION" for s in self.statements)
        lazy = last.type.name == "SELECT"  # runs as it is read (only asked with statements before it)
        committed = False  # the statements before the last one committed by the engine (never the user's own)
        if together:
            cur.execute("BEGIN TRANSACTION")
        number = 1
        try:
            # The parsed statements run as they are: DuckDB does not parse their text a second time.
            for number, stmt in enumerate(earlier, 1):
                _run_and_drop(cur, stmt)
            number = len(self.statements)
            if together and lazy:
                cur.execute("COMMIT")
                together, committed = False, True
            result = self._run_last(cur, last)
            if together:
                cur.execute("COMMIT")
        except Exception as exc:
            if together:
                _roll_back(cur)
            if not earlier:
                raise
            after = "the statements before it were rolled back" if together else _COMMITTED if committed else ""
            raise _labelled(exc, number, len(self.statements), after) from exc
        if earlier and lazy and self._stream is not None:  # its errors come as it is read
            count, after = len(self.statements), _COMMITTED if committed else ""
            self._stream.relabel = lambda exc: _labelled(exc, count, count, after)
        return result

    def _run_last(self, cur: duckdb.DuckDBPyConnection, last: "duckdb.Statement") -> Result:
        if self.kind == "none":
            cur.execute(last)
            return Result(None, -1)
        if self.kind == "count":
            row = cur.execute(last).fetchone()
            return Result(None, int(row[0]) if row and row[0] is not None else 0)
        # A SELECT relation runs when read; other statements run (once) inside cursor.sql().
        relation = self._relation if self._relation is not None else cur.sql(last)
        if relation is None:
            return Result(None, -1)
        result = _stream(relation, self.db.streaming)
        self._stream = result.batches
        return result

    def stop_stream(self) -> None:
        """Close the result's DuckDB stream now (the query was cleared): the session's next statement need not
        read its rest into memory first. Thread-safe; the statement is closed by its producer."""
        stream = self._stream
        if stream is not None:
            stream.close()

    def interrupt(self) -> None:
        """Stop this statement if it is executing now (never another statement of the session)."""
        self.db.interrupt(self)

    def close(self) -> None:
        """Drop the result and the registered store tables; the session's connection outlives the statement."""
        if self._closed:
            return
        self._closed = True
        self._relation = None
        if self._stream is not None:
            self._stream.close()
            self._stream = None
        if self._tables:
            with self.db.lock:
                for name in self._tables:
                    try:
                        self.db.con.unregister(name)
                    except Exception:  # noqa: BLE001 - the connection closed with its session
                        log.debug("unregistering %s failed", name, exc_info=True)
        self.db.release()


def _run_and_drop(cur: duckdb.DuckDBPyConnection, statement: "duckdb.Statement") -> None:
    """Run ``statement`` and drop its result set, read to its end batch by batch: left unread, it would hold
    the connection and fail every later statement of the session."""
    relation = cur.sql(statement)  # a SELECT runs as it is read, anything else inside sql()
    if relation is not None:
        for _ in relation.to_arrow_reader(_VECTOR_SIZE * 16):
            pass


def _roll_back(cur: duckdb.DuckDBPyConnection) -> None:
    try:
        cur.execute("ROLLBACK")
    except Exception:  # noqa: BLE001 - DuckDB already ended the failed transaction
        log.debug("rollback after a failed statement batch failed", exc_info=True)


_COMMITTED = "the statements before it were committed"


def _parse(sql: str) -> List["duckdb.Statement"]:
    """``sql``'s statements; a parser error as an engine error."""
    try:
        return duckdb.extract_statements(sql)
    except Exception as exc:
        raise errors.from_exception(exc) from exc


def _labelled(exc: BaseException, number: int, count: int, after: str) -> errors.EngineError:
    """``exc`` as an engine error saying which statement of the string raised it and what became of the others."""
    error = errors.from_exception(exc)
    return errors.EngineError(error.code, f"statement {number} of {count}: {error.message}" +
                              (f" ({after})" if after else ""))


def _stream(relation: duckdb.DuckDBPyRelation, streaming: Any) -> Result:
    types = list(relation.types)
    names = list(relation.columns)
    overrides: dict = {}
    exprs, rendered = [], False
    for pos, (name, t) in enumerate(zip(names, types), start=1):
        spec = render_expression(t, pos, name)
        if spec is None:
            exprs.append(f"#{pos} AS {quote_identifier(name)}")
        else:
            rendered = True
            exprs.append(spec[0])
            if spec[1]:
                overrides[pos - 1] = spec[1]
    if rendered:
        relation = relation.project(", ".join(exprs))
    rows = max(_VECTOR_SIZE, min(_MAX_BATCH_ROWS, TARGET_CHUNK_BYTES // row_width(types)))
    rows -= rows % _VECTOR_SIZE
    # DuckDB hands out small batches (the first chunk is one of them: its time does not grow with the chunk
    # size); the later ones are joined to chunks of ``rows``.
    read = max(_VECTOR_SIZE, rows // READS_PER_CHUNK)  # the first chunk is one read
    reader = relation.to_arrow_reader(read - read % _VECTOR_SIZE)
    schema = reader.schema
    stream = streaming(reader)  # read under the session's lock, batch by batch
    if overrides:
        fields = [f.with_metadata({VECTOR_TYPE_KEY: overrides[i].encode()}) if i in overrides else f
                  for i, f in enumerate(schema)]
        schema = pa.schema(fields)

    return Result(schema, 0, Chunks(stream, schema if overrides else None, rows))


SPILL_DIR = ".duckdb-tmp"  # DuckDB's spill files, under DATA_DIR
SPILL_PREFIX = "e6duckdb-tmp-"  # without DATA_DIR: a temporary directory, removed at stop


def spill_directory(data_dir: Optional[str]) -> str:
    """DuckDB's temporary directory: DATA_DIR/.duckdb-tmp emptied of a previous run's files (the database file
    is already locked, so no other engine uses it), or a new temporary directory without DATA_DIR."""
    if not data_dir:
        return tempfile.mkdtemp(prefix=SPILL_PREFIX)
    path = os.path.join(data_dir, SPILL_DIR)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path, exist_ok=True)
    return path


class Engine:
    """One DuckDB database with catalog ``local`` (a file under ``data_dir``, or in memory)."""

    def __init__(self, data_dir: Optional[str] = None, time_zone: str = "UTC",
                 store_catalogs: Optional[Any] = None, limits: Limits = DEFAULT_LIMITS) -> None:
        self.time_zone = time_zone
        self.limits = limits
        # Catalogs objects/datasets (mock_server.catalogs.StoreCatalogs); typed Any so that the query path
        # does not import the stores.
        self.store_catalogs = store_catalogs
        self._lock = threading.Lock()
        self._con = duckdb.connect(":memory:")
        if data_dir:
            os.makedirs(data_dir, exist_ok=True)
            path = os.path.join(data_dir, "local.duckdb")
        else:
            path = ":memory:"
        self._con.execute(f"ATTACH {quote_literal(path)} AS {quote_identifier(DEFAULT_CATALOG)}")
        self._con.execute(f"USE {quote_identifier(DEFAULT_CATALOG)}")
        self._con.execute(f"SET GLOBAL TimeZone = {quote_literal(time_zone)}")
        # DuckDB's memory (--memory-limit) and where it spills beyond it: its own directory, emptied at start.
        self._temp_dir = spill_directory(data_dir)
        self._temp_dir_owned = not data_dir  # a temporary directory of its own: removed at close
        self._con.execute(f"SET memory_limit = '{int(limits.memory_limit)}B'")
        self._con.execute(f"SET temp_directory = {quote_literal(self._temp_dir)}")
        # DuckDB's own bound is 90% of the free disk: one user's ORDER BY could fill the disk every store writes to
        self._con.execute(f"SET max_temp_directory_size = '{int(limits.max_spill_bytes)}B'")
        self._con.execute("SET enable_external_access = false")  # see the module's docstring
        sandbox.lock(self._con)  # after the engine's own settings: tenants change only session settings
        self.sessions = SessionDBs(self._new_connection, limits)  # each session's own connection
        self.ingest = False  # IngestService served (set by the server that registers it)
        self.local_transfer = ""  # the same-host transfer socket's name (set by the server that serves it)
        log.info("engine ready: catalog %s at %s, TimeZone %s", DEFAULT_CATALOG, path, time_zone)

    def close(self) -> None:
        self.sessions.close()  # open transactions are rolled back
        with self._lock:
            try:
                self._con.close()
            except Exception:  # closing twice or during shutdown
                log.debug("engine close failed", exc_info=True)
        if self._temp_dir_owned:
            shutil.rmtree(self._temp_dir, ignore_errors=True)

    def cursor(self, catalog: str = "", schema: str = "") -> duckdb.DuckDBPyConnection:
        """A new DuckDB cursor whose default catalog/schema is the request's (empty → defaults)."""
        with self._lock:
            cur = self._con.cursor()
        try:
            cur.execute(f"USE {quote_identifier(catalog or DEFAULT_CATALOG)}."
                        f"{quote_identifier(schema or DEFAULT_SCHEMA)}")
        except Exception as exc:
            cur.close()
            raise errors.from_exception(exc) from exc
        return cur

    def _new_connection(self) -> duckdb.DuckDBPyConnection:
        """A connection of its own (transaction, temporary catalog, session settings) to the shared database."""
        with self._lock:
            con = self._con.cursor()
        # DuckDB runs a streaming result ahead up to this buffer before the first batch is handed out (10 MiB by
        # default: ~7 ms before the first chunk of a wide table); the producer reads on right after it.
        con.execute(f"SET streaming_buffer_size = {quote_literal(STREAMING_BUFFER)}")
        return con

    def capabilities(self) -> dict:
        """What AdminService.GetCapabilities reports: sessions with transactions; DuckDB has no savepoints;
        IngestService when the server serves it (:mod:`mock_server.query.ingest`); QueryRunService, always
        served with the query service (:mod:`mock_server.query.run_service`), with its Arrow results; the
        same-host transfer socket when the server serves one (:mod:`mock_server.local_transfer`)."""
        return {"transactions": True, "savepoints": False, "ingest": self.ingest, "run": True,
                "arrow_results": True, "local_transfer": self.local_transfer}

    def end_sessions(self, session_ids: List[str], reason: str) -> int:
        """End these sessions' connections (open transactions rolled back); returns how many had one."""
        return self.sessions.end(list(session_ids), reason)

    def _is_store_catalog(self, catalog: str) -> bool:
        return self.store_catalogs is not None and self.store_catalogs.handles(catalog)

    def _rewrite(self, sql: str, catalog: str, schema: str, user: str) -> Tuple[str, dict, Tuple[str, str]]:
        """``sql`` rewritten for DuckDB (dialect, then object-store references resolved for ``user``), the store
        tables it reads and the DuckDB location it runs in."""
        try:
            text = window_percentiles(rewrite(sql))  # percentile_…() WITHIN GROUP (…) OVER: ordered_set.py
        except Exception as exc:
            raise errors.from_exception(exc) from exc
        tables: dict = {}
        if self.store_catalogs is not None:
            rewritten = self.store_catalogs.rewrite(text, user, catalog, schema)
            text, tables = rewritten.sql, rewritten.tables
        if self._is_store_catalog(catalog):
            catalog, schema = "", ""
        return text, tables, (catalog, schema)

    def _open(self, sql: str, catalog: str, schema: str,
              user: str) -> Tuple[duckdb.DuckDBPyConnection, List["duckdb.Statement"]]:
        """A fresh cursor for the request's location, its store tables registered, and the statements of ``sql``
        rewritten."""
        text, tables, (catalog, schema) = self._rewrite(sql, catalog, schema, user)
        statements = _parse(text)
        sandbox.check(statements)  # a dry run binds, and binding evaluates constants: same sandbox as prepare
        cur = self.cursor(catalog, schema)
        try:
            for name, table in tables.items():
                cur.register(name, table)
        except Exception as exc:
            cur.close()
            raise errors.from_exception(exc) from exc
        return cur, statements

    def prepare(self, sql: str, catalog: str = "", schema: str = "", user: str = "", session_id: str = "",
                colour: str = "") -> Tuple[Statement, float]:
        """Rewrite, parse and bind ``sql`` for ``user`` on the connection of ``session_id`` (its own connection
        when "") under blue-green ``colour``; returns the statement and the parse time in ms."""
        started = time.perf_counter()
        text, tables, location = self._rewrite(sql, catalog, schema, user)
        statement = Statement(self.sessions.get(session_id, colour), text, location, tables)
        return statement, (time.perf_counter() - started) * 1000.0

    def explain_statement(self, statement: Statement) -> str:
        """DuckDB's physical plan for the last statement of a prepared statement, on its session's connection."""
        try:
            with statement.db.use(statement) as cur:
                statement.use_location(cur)
                rows = cur.execute("EXPLAIN " + statement.statements[-1].query).fetchall()
            return "\n".join(str(r[-1]) for r in rows)
        except Exception as exc:
            raise errors.from_exception(exc) from exc

    def dry_run(self, sql: str, catalog: str = "", schema: str = "", user: str = "") -> dict:
        """Parse, and bind single queries, without executing anything."""
        try:
            cur, statements = self._open(sql, catalog, schema, user)
        except errors.EngineError as exc:
            return {"valid": False, "error": exc.message}
        try:
            report: dict = {"valid": True, "statements": [s.type.name for s in statements]}
            if len(statements) == 1 and statements[0].type.name == "SELECT":
                rel = cur.sql(statements[0].query)
                report["columns"] = [{"name": n, "type": field_type_name(t)}
                                     for n, t in zip(rel.columns, rel.types)]
            return report
        except Exception as exc:
            err = errors.from_exception(exc)
            return {"valid": False, "error": err.message}
        finally:
            cur.close()

    # ---------------------------------------------------------------- catalog browsing

    @contextmanager
    def _browse(self, session_id: str = "") -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection for catalog browsing: the session's own (it sees the session's uncommitted tables)."""
        if not session_id:
            cur = self.cursor()
            try:
                yield cur
            finally:
                cur.close()
            return
        db = self.sessions.get(session_id)
        db.attach()
        try:
            with db.use(self) as con:
                yield con
        finally:
            db.release()

    def _query(self, sql: str, params: list, session_id: str = "") -> list:
        try:
            with self._browse(session_id) as cur:
                return cur.execute(sql, params).fetchall()
        except Exception as exc:
            raise errors.from_exception(exc) from exc

    def catalogs(self) -> List[Tuple[str, bool]]:
        rows = self._query("SELECT database_name FROM duckdb_databases() WHERE NOT internal "
                           "ORDER BY database_name", [])
        found = [(r[0], r[0] == DEFAULT_CATALOG) for r in rows if r[0] not in HIDDEN_CATALOGS]
        if self.store_catalogs is not None:
            found += [(name, False) for name in self.store_catalogs.catalogs]
        return found

    def schemas(self, catalog: str = "", user: str = "", session_id: str = "") -> List[str]:
        if self._is_store_catalog(catalog):
            return self.store_catalogs.schemas(catalog, user)
        # Names in any case, as DuckDB binds them (its catalogs cannot hold two that differ only in case).
        rows = self._query("SELECT schema_name FROM duckdb_schemas() WHERE lower(database_name) = lower(?) AND "
                           "schema_name NOT IN ('information_schema', 'pg_catalog') ORDER BY schema_name",
                           [catalog or DEFAULT_CATALOG], session_id)
        return [r[0] for r in rows]

    def tables(self, catalog: str = "", schema: str = "", user: str = "", session_id: str = "") -> List[str]:
        if self._is_store_catalog(catalog):
            return self.store_catalogs.tables(catalog, user, schema)
        params = [catalog or DEFAULT_CATALOG, schema or DEFAULT_SCHEMA]
        rows = self._query(
            "SELECT table_name FROM duckdb_tables() WHERE lower(database_name) = lower(?) AND "
            "lower(schema_name) = lower(?) UNION ALL SELECT view_name FROM duckdb_views() WHERE "
            "lower(database_name) = lower(?) AND lower(schema_name) = lower(?) AND NOT internal ORDER BY 1",
            params + params, session_id)
        return [r[0] for r in rows]

    def columns(self, catalog: str, schema: str, table: str, user: str = "",
                session_id: str = "") -> List[Tuple[str, str]]:
        """(name, getColumnsV2 type) per column; empty for an unknown table."""
        if self._is_store_catalog(catalog):
            return self.store_catalogs.columns(catalog, user, schema, table)
        listed = self.tables(catalog, schema, session_id=session_id)
        if table not in listed:
            table = next((name for name in listed if name.lower() == table.lower()), "")
            if not table:
                return []
        try:
            with self._browse(session_id) as cur:
                rel = cur.sql("SELECT * FROM " + ".".join(quote_identifier(p) for p in (
                    catalog or DEFAULT_CATALOG, schema or DEFAULT_SCHEMA, table)))
                return [(n, field_type_name(t)) for n, t in zip(rel.columns, rel.types)]
        except Exception as exc:
            raise errors.from_exception(exc) from exc
