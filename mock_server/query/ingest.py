"""IngestService (protos/e6driver_ingest.proto): Arrow record batches appended to a table of catalog ``local``.

The driver's bulk path for ``executemany``/``to_sql``. One call appends every batch it streams in ONE transaction
on the caller's own session connection (:mod:`mock_server.query.session_db`): the session's open transaction when
it has one, else a transaction of the call, committed after the last batch — a failing batch appends nothing.

What a caller may do is what its SQL may do, and no more:

* the target is a base table of catalog ``local`` (other catalogs, views, temporary tables of the ``temp`` catalog
  and unknown names are refused); every name part is a quoted identifier of ordinary characters, so a name is
  never SQL and never a path; the engine builds the one ``INSERT INTO … SELECT`` it runs;
* the bytes streamed count against ``max_upload_bytes`` and the decoded batches against ``max_expanded_bytes``
  (:mod:`mock_server.limits`); each batch is validated in full before DuckDB reads it (a forged buffer cannot
  make DuckDB read out of bounds).

:attr:`IngestServicer.calls` and :attr:`IngestServicer.rows` count what was appended (tests prove the bulk path
was taken with them).
"""
from __future__ import annotations

import logging
import threading
import uuid
from types import SimpleNamespace
from typing import Any, Iterator, List, Tuple

import duckdb
import grpc
import pyarrow as pa

from e6driver._proto import e6driver_ingest_pb2 as ingest_pb, e6driver_ingest_pb2_grpc
from mock_server import errors
from mock_server.limits import DEFAULT_LIMITS, Limits, check_size
from mock_server.query.engine import DEFAULT_CATALOG, DEFAULT_SCHEMA, Engine
from mock_server.query.sql_dialect import quote_identifier
from mock_server.sessions import SessionStore

log = logging.getLogger(__name__)

MAX_NAME_CHARS = 255


def _refused(what: str) -> errors.EngineError:
    return errors.EngineError(grpc.StatusCode.PERMISSION_DENIED, f"bulk insert refused: {what}")


def _check_name(part: str, what: str) -> str:
    if not part or len(part) > MAX_NAME_CHARS or any(ord(c) < 32 or c == "\x7f" for c in part):
        raise errors.invalid(f"bulk insert: {what} must be 1 to {MAX_NAME_CHARS} printable characters")
    return part


def target(first: Any) -> Tuple[str, str, List[str]]:
    """(schema, table, columns) of the request's target, checked: catalog ``local`` only, names as identifiers."""
    parts = [_check_name(p, "a table name part") for p in first.table]
    if not 1 <= len(parts) <= 3:
        raise errors.invalid("bulk insert: the table is [table], [schema, table] or [catalog, schema, table]")
    catalog = parts[0] if len(parts) == 3 else (first.catalog or DEFAULT_CATALOG)
    if catalog.lower() != DEFAULT_CATALOG:
        raise _refused(f"catalog {catalog!r}: bulk inserts write tables of catalog {DEFAULT_CATALOG!r} only")
    schema = parts[-2] if len(parts) >= 2 else (first.schema or DEFAULT_SCHEMA)
    columns = [_check_name(c, "a column name") for c in first.columns]
    return _check_name(schema, "the schema"), parts[-1], columns


class IngestServicer(e6driver_ingest_pb2_grpc.IngestServiceServicer):
    def __init__(self, engine: Engine, sessions: SessionStore, limits: Limits = DEFAULT_LIMITS) -> None:
        self.engine = engine
        self.sessions = sessions
        self.limits = limits
        self._lock = threading.Lock()
        self.calls = 0  # calls that appended (committed or joined the session's transaction)
        self.rows = 0

    def _caller(self, session_id: str, context: grpc.ServicerContext) -> str:
        self.engine.sessions.check_not_lost(session_id)
        return self.sessions.caller(SimpleNamespace(user="", password="", session_id=session_id),
                                    context.invocation_metadata())

    @errors.rpc_method
    def Append(self, request_iterator: Iterator[Any], context: grpc.ServicerContext) -> Any:
        first = next(request_iterator, None)
        if first is None:
            raise errors.invalid("empty append stream")
        user = self._caller(first.session_id, context)
        schema, table, columns = target(first)
        db = self.engine.sessions.get(first.session_id)
        db.attach()
        try:
            with db.use(self) as con:
                qualified = self._check_table(con, schema, table)
                rows, batches = self._append_all(con, db.in_transaction, qualified, columns, first, request_iterator)
        finally:
            db.release()
        with self._lock:
            self.calls += 1
            self.rows += rows
        log.info("bulk insert of %d rows (%d batches) into %s by %s", rows, batches, qualified, user)
        return ingest_pb.AppendResponse(rows=rows, batches=batches)

    @staticmethod
    def _check_table(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> str:
        """The quoted name of base table ``schema.table`` of catalog local (as the session sees it)."""
        try:
            found = con.execute(
                "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = ? "
                "AND lower(schema_name) = lower(?) AND lower(table_name) = lower(?)",
                [DEFAULT_CATALOG, schema, table]).fetchall()
        except Exception as exc:
            raise errors.from_exception(exc) from exc
        if len(found) != 1:
            raise errors.EngineError(grpc.StatusCode.NOT_FOUND,
                                     f"bulk insert: no table {schema}.{table} in catalog {DEFAULT_CATALOG}")
        return ".".join(quote_identifier(p) for p in (DEFAULT_CATALOG,) + tuple(found[0]))

    def _append_all(self, con: duckdb.DuckDBPyConnection, in_transaction: bool, qualified: str,
                    columns: List[str], first: Any, rest: Iterator[Any]) -> Tuple[int, int]:
        own = not in_transaction
        if own:
            con.execute("BEGIN TRANSACTION")
        view = "__e6_ingest_" + uuid.uuid4().hex
        column_list = f" ({', '.join(quote_identifier(c) for c in columns)})" if columns else ""
        insert = f"INSERT INTO {qualified}{column_list} SELECT * FROM {view}"
        rows = batches = sent = expanded = 0
        try:
            message = first
            while message is not None:
                if message.arrow_ipc:
                    sent += len(message.arrow_ipc)
                    check_size(self.limits, "max_upload_bytes", sent, "bulk insert payload")
                    for batch in _batches(message.arrow_ipc):
                        expanded += batch.nbytes
                        check_size(self.limits, "max_expanded_bytes", expanded, "bulk insert once decoded")
                        if columns and batch.num_columns != len(columns):
                            raise errors.invalid(f"bulk insert: {batch.num_columns} Arrow columns for "
                                                 f"{len(columns)} target columns")
                        batches += 1
                        rows += _insert(con, view, insert, batch)
                message = next(rest, None)
            if own:
                con.execute("COMMIT")
        except BaseException as exc:
            if own:
                try:
                    con.execute("ROLLBACK")
                except Exception:  # noqa: BLE001 - already rolled back by DuckDB
                    log.debug("rollback of a failed bulk insert failed", exc_info=True)
            if isinstance(exc, grpc.RpcError) or not isinstance(exc, Exception):
                raise
            raise errors.from_exception(exc) from exc
        finally:
            if batches or rows:
                _unregister(con, view)
        return rows, batches


def _batches(data: bytes) -> Iterator[pa.RecordBatch]:
    try:
        reader = pa.ipc.open_stream(pa.py_buffer(data))
        for batch in reader:
            batch.validate(full=True)
            yield batch
    except pa.ArrowException as exc:
        raise errors.invalid(f"bulk insert: not a valid Arrow IPC stream ({exc})") from None


def _insert(con: duckdb.DuckDBPyConnection, view: str, insert: str, batch: pa.RecordBatch) -> int:
    """Append one batch (the view is replaced batch by batch and dropped once the transaction ended: in an
    aborted transaction DuckDB refuses to drop it)."""
    con.register(view, pa.Table.from_batches([batch]))
    row = con.execute(insert).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _unregister(con: duckdb.DuckDBPyConnection, view: str) -> None:
    try:
        con.unregister(view)
    except Exception:  # noqa: BLE001 - the session's connection closed meanwhile
        log.debug("dropping the bulk insert view failed", exc_info=True)
