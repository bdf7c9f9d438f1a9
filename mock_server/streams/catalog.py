"""Streams as SQL catalog ``streams`` (a :class:`mock_server.catalogs.SqlCatalog`): ``streams.<name>`` (or
``streams.main.<name>``) has one row per retained record: shard, sequence, time, partition_key, data.

The records are handed to DuckDB as a ``pyarrow.RecordBatchReader`` read from the store in batches while the
query runs, so a big stream never sits in memory whole. A reader is scanned once: each reference in a query
gets its own. An unquoted name matches a stream spelled in another case when exactly one readable stream does.
"""
from __future__ import annotations

from typing import Iterator, List

import grpc
import pyarrow as pa

from mock_server.errors import EngineError
from mock_server.streams.store import StoredRecord, StreamStore

SCHEMA_NAME = "main"
RECORD_SCHEMA = pa.schema([("shard", pa.int32()), ("sequence", pa.int64()),
                           ("time", pa.timestamp("us", tz="UTC")), ("partition_key", pa.string()),
                           ("data", pa.binary())])
BATCH_ROWS = 4096


def record_batch(records: List[StoredRecord]) -> pa.RecordBatch:
    return pa.record_batch([
        pa.array([r.shard for r in records], pa.int32()), pa.array([r.sequence for r in records], pa.int64()),
        pa.array([r.time_us for r in records], pa.timestamp("us", tz="UTC")),
        pa.array([r.partition_key for r in records], pa.string()),
        pa.array([r.data for r in records], pa.binary())], schema=RECORD_SCHEMA)


class StreamCatalog:
    name = "streams"
    default_schema = SCHEMA_NAME

    def __init__(self, store: StreamStore) -> None:
        self.store = store

    def schemas(self, user: str) -> List[str]:
        return [SCHEMA_NAME]

    def tables(self, user: str, schema: str) -> List[str]:
        return [info.name for info, _ in self.store.visible(user)] if schema == SCHEMA_NAME else []

    def _name(self, user: str, table: str) -> str:
        """``table`` as written, else the one readable stream spelled so in another case (SQL users write
        unquoted names in any case; stream names are case-sensitive)."""
        visible = [info.name for info, _ in self.store.visible(user)]
        if table in visible:
            return table
        same = [name for name in visible if name.lower() == table.lower()]
        return same[0] if len(same) == 1 else table

    def read(self, user: str, schema: str, table: str) -> pa.RecordBatchReader:
        if schema != SCHEMA_NAME:
            raise EngineError(grpc.StatusCode.INVALID_ARGUMENT,
                              f"catalog streams has only schema {SCHEMA_NAME!r}: use streams.<name>")
        info, _ = self.store.stream(user, self._name(user, table))  # checked now: errors come at prepare

        def batches() -> Iterator[pa.RecordBatch]:
            for records in self.store.scan(info, BATCH_ROWS):
                yield record_batch(records)

        return pa.RecordBatchReader.from_batches(RECORD_SCHEMA, batches())
