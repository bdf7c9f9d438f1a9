"""Catalog ``system`` (a :class:`mock_server.catalogs.SqlCatalog`): the admin's tables in SQL.

``system.users`` (the accounts), ``system.grants`` (who may read or write which bucket or dataset) and
``system.statistics`` (one row of platform totals), also as ``system.main.<table>``. For the admin user
only: anyone else reading them gets PERMISSION_DENIED, and browsing shows them nothing.
"""
from __future__ import annotations

from dataclasses import asdict, fields
from typing import List

import pyarrow as pa

from mock_server import errors
from mock_server.control.overview import Overview, Statistics

SCHEMA = "main"
_TIME = pa.timestamp("us", tz="UTC")
USERS_SCHEMA = pa.schema([("name", pa.string()), ("admin", pa.bool_()), ("disabled", pa.bool_()),
                          ("configured", pa.bool_()), ("created", _TIME), ("last_login", _TIME)])
GRANTS_SCHEMA = pa.schema([("kind", pa.string()), ("resource", pa.string()), ("grantee", pa.string()),
                           ("access", pa.string())])
STATISTICS_SCHEMA = pa.schema([(f.name, pa.int64()) for f in fields(Statistics)])


def _micros(seconds: float):
    return round(seconds * 1_000_000) if seconds else None


class SystemCatalog:
    name = "system"
    default_schema = SCHEMA

    def __init__(self, overview: Overview) -> None:
        self.overview = overview
        self.accounts = overview.accounts
        self._tables = {"users": self._users, "grants": self._grants, "statistics": self._statistics}

    def _is_admin(self, user: str) -> bool:
        return user == self.accounts.admin_user

    def schemas(self, user: str) -> List[str]:
        return [SCHEMA] if self._is_admin(user) else []

    def tables(self, user: str, schema: str) -> List[str]:
        return list(self._tables) if self._is_admin(user) and schema == SCHEMA else []

    def read(self, user: str, schema: str, table: str) -> pa.Table:
        self.accounts.require_admin(user, f"table system.{table}")
        if schema != SCHEMA or table not in self._tables:
            raise errors.invalid(f"no table system.{schema}.{table}: catalog system has "
                                 f"{', '.join('system.' + t for t in self._tables)}")
        return self._tables[table]()

    def _users(self) -> pa.Table:
        accounts = self.accounts.listing()
        return pa.table({
            "name": [a.name for a in accounts], "admin": [a.name == self.accounts.admin_user for a in accounts],
            "disabled": [a.disabled for a in accounts], "configured": [a.configured for a in accounts],
            "created": [_micros(a.created) for a in accounts],
            "last_login": [_micros(a.last_login) for a in accounts]}, schema=USERS_SCHEMA)

    def _grants(self) -> pa.Table:
        rows = [asdict(g) for g in self.overview.grants()]
        return pa.Table.from_pylist(rows, schema=GRANTS_SCHEMA)

    def _statistics(self) -> pa.Table:
        return pa.Table.from_pylist([asdict(self.overview.statistics())], schema=STATISTICS_SCHEMA)
