"""Named tables over object prefixes: ``objects.<bucket>.<name>`` → (pattern, format), kept in one JSON file.

A registration maps a table name in a bucket to a key prefix or glob and, optionally, a file format
(``parquet``, ``csv``, ``tsv``, ``json``); :mod:`mock_server.catalogs` resolves the name to the matching
objects at query time, so the table always shows the bucket's current content. Who may register, drop, see
or read a table is decided by the bucket's grants (write to register/drop, read for the rest), by the
callers of this module. The file is rewritten atomically on every change, like the grants.
"""
from __future__ import annotations

import json
import os
import re
import threading
from dataclasses import asdict, dataclass
from typing import Dict, List, Optional

import grpc

from mock_server import errors

FORMATS = ("parquet", "csv", "tsv", "json")
_NAME = re.compile(r"[a-z_][a-z0-9_]{0,127}\Z")


@dataclass(frozen=True)
class NamedTable:
    bucket: str
    name: str
    pattern: str  # key prefix, or a glob when it holds * ? or [
    format: str  # one of FORMATS, or "" (from the file names)
    owner: str


def check_table_name(name: str) -> str:
    if not _NAME.match(name or ""):
        raise errors.invalid(f"invalid table name {name!r}: use lowercase letters, digits and _ "
                             "(not starting with a digit), at most 128 characters")
    return name


class NamedTables:
    def __init__(self, path: Optional[str]) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._tables: Dict[str, Dict[str, NamedTable]] = {}
        if path and os.path.exists(path):
            with open(path) as handle:
                for bucket, tables in json.load(handle).items():
                    self._tables[bucket] = {name: NamedTable(**spec) for name, spec in tables.items()}

    def _save(self) -> None:
        if not self.path:
            return
        state = {b: {n: asdict(t) for n, t in tables.items()} for b, tables in self._tables.items() if tables}
        tmp = self.path + ".tmp"
        with open(tmp, "w") as handle:
            json.dump(state, handle, indent=1, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)

    def register(self, table: NamedTable, replace: bool = False) -> NamedTable:
        check_table_name(table.name)
        if table.format not in FORMATS + ("",):
            raise errors.invalid(f"format must be one of {', '.join(FORMATS)} (or empty), not {table.format!r}")
        if not table.pattern:
            raise errors.invalid("a named table needs a key prefix or glob")
        with self._lock:
            tables = self._tables.setdefault(table.bucket, {})
            if table.name in tables and not replace:
                raise errors.EngineError(grpc.StatusCode.ALREADY_EXISTS,
                                         f"bucket {table.bucket!r} already has a table named {table.name!r}")
            tables[table.name] = table
            self._save()
        return table

    def drop(self, bucket: str, name: str) -> bool:
        with self._lock:
            found = self._tables.get(bucket, {}).pop(name, None)
            if found is not None:
                self._save()
        return found is not None

    def get(self, bucket: str, name: str) -> Optional[NamedTable]:
        with self._lock:
            return self._tables.get(bucket, {}).get(name)

    def in_bucket(self, bucket: str) -> List[NamedTable]:
        with self._lock:
            return sorted(self._tables.get(bucket, {}).values(), key=lambda t: t.name)
