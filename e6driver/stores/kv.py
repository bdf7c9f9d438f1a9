"""Key-value tables of an e6driver engine (``conn.kv``), V3IO-style: items with a key and typed attributes.

Calls go to ``KeyValueService`` (protos/e6driver_kv.proto) on the connection's channel, authenticated like
``conn.objects``. Attribute values are ``int`` (64-bit), ``float``, ``str``, ``bool`` or ``bytes``; each
item keeps the types it was given. ``update_item`` is atomic: its ``expression`` (e.g.
``"counter = counter + 1; name = 'x'"``) and ``condition`` (e.g. ``"counter > 3 AND name = 'x'"``) are
evaluated by the server on the item as stored, with no other write in between. The language is in
``mock_server/kv/expressions.py``: arithmetic, comparisons, AND/OR/NOT, IN, ``exists(a)``,
``if_not_exists(a, v)``, ``length``, ``starts``, ``ends``, ``contains``; ``__name`` is the item's key.

Every write carries a request id, so the connection's retry of a write whose answer was lost (the server
restarted, the connection dropped) is applied once.

Errors: :class:`~e6driver.errors.ConditionFailedError` when a condition is false (nothing changed),
:class:`~e6driver.errors.PermissionDeniedError` without a grant (also for a table that does not exist: names
do not leak), ``ProgrammingError`` for bad names, keys and expressions, ``DataError`` for values no
attribute can hold, ``OperationalError`` naming the server's limit when one is exceeded.
"""
from __future__ import annotations

import datetime
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any, Deque, Dict, List, Mapping, Optional, Sequence

import grpc

from .. import errors
from .._proto import e6driver_kv_pb2 as kv_pb, e6driver_kv_pb2_grpc as kv_grpc
from ..protocol import Session
from ._client import ServiceClient, rpc_error

INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
_CONDITIONAL = ("PutItem", "UpdateItem", "DeleteItem")


@dataclass(frozen=True)
class KVTable:
    name: str
    owner: str
    access: str  # read | write | admin
    created: datetime.datetime  # aware, UTC


def to_value(name: str, value: Any) -> kv_pb.Value:
    """One attribute value on the wire (bool before int: ``True`` is an int in Python)."""
    if isinstance(value, bool):
        return kv_pb.Value(bool_value=value)
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise errors.DataError(f"attribute {name!r}: integer {value} does not fit in 64 bits")
        return kv_pb.Value(int_value=value)
    if isinstance(value, float):
        return kv_pb.Value(float_value=value)
    if isinstance(value, str):
        return kv_pb.Value(string_value=value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return kv_pb.Value(bytes_value=bytes(value))
    raise errors.DataError(f"attribute {name!r}: a {type(value).__name__} cannot be stored "
                           "(int, float, str, bool or bytes)")


def to_values(attributes: Optional[Mapping[str, Any]]) -> Dict[str, kv_pb.Value]:
    if attributes is None:
        return {}
    if not isinstance(attributes, Mapping):
        raise errors.ProgrammingError(f"attributes must be a dict of name -> value, not {type(attributes).__name__}")
    out = {}
    for name, value in attributes.items():
        if not isinstance(name, str):
            raise errors.ProgrammingError(f"attribute names are strings, not {type(name).__name__}")
        out[name] = to_value(name, value)
    return out


def from_values(values: Mapping[str, Any]) -> Dict[str, Any]:
    return {name: getattr(value, value.WhichOneof("kind")) for name, value in values.items()}


def _request_id() -> str:
    """One per write call, the same on every retry of it: the server applies the write once."""
    return uuid.uuid4().hex


def _names(attributes: Optional[Sequence[str]]) -> List[str]:
    if attributes is None:
        return []
    if isinstance(attributes, str):
        return [attributes]
    return list(attributes)


class ItemCursor:
    """The items of a scan, fetched page by page (``batch_size`` items per call) as the caller iterates: a
    scan of any size holds one page in memory. Iterate it, or ``fetchone``/``fetchmany``/``fetchall``."""

    def __init__(self, client: "KVClient", table: str, filter: str, attributes: List[str], limit: Optional[int],
                 batch_size: int) -> None:
        self._client = client
        self._request = dict(table=table, filter=filter, attributes=attributes)
        self._left = limit
        self._batch_size = batch_size
        self._page: Deque[Dict[str, Any]] = deque()
        self._marker = ""
        self._done = limit is not None and limit <= 0
        self.rownumber = 0

    def __iter__(self) -> "ItemCursor":
        return self

    def __next__(self) -> Dict[str, Any]:
        while not self._page:
            if self._done:
                raise StopIteration
            self._fetch()
        self.rownumber += 1
        if self._left is not None:
            self._left -= 1
            if self._left <= 0:
                self._done = True
        return self._page.popleft()

    def _fetch(self) -> None:
        want = self._batch_size if self._left is None else min(self._batch_size, self._left)
        response = self._client._scan_page(limit=want, marker=self._marker, **self._request)
        self._marker = response.next_marker
        self._done = response.done
        self._page = deque({"__name": i.key, **from_values(i.attributes)} for i in response.items)

    def fetchone(self) -> Optional[Dict[str, Any]]:
        return next(self, None)

    def fetchmany(self, size: int = 100) -> List[Dict[str, Any]]:
        return [item for _, item in zip(range(size), self)]

    def fetchall(self) -> List[Dict[str, Any]]:
        return list(self)

    def close(self) -> None:
        self._page.clear()
        self._done = True

    def __enter__(self) -> "ItemCursor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class KVClient(ServiceClient):
    """Key-value tables and items of the connection's server; thread-safe (share it between threads)."""

    not_found_error = errors.ProgrammingError

    def __init__(self, session: Session) -> None:
        super().__init__(session, kv_grpc.KeyValueServiceStub)

    def _error(self, exc: grpc.RpcError, rpc: str) -> errors.Error:
        if rpc in _CONDITIONAL and errors.grpc_code_name(exc) == "FAILED_PRECONDITION":
            return errors.from_rpc_error(exc, rpc, cls=errors.ConditionFailedError)
        return rpc_error(exc, rpc, self.not_found_error)

    # ------------------------------------------------------------------ tables

    def create_table(self, table: str) -> bool:
        """Create ``table`` (you own it); False if it already existed and you may write it. Optional:
        ``put_item`` and ``update_item`` create a missing table."""
        return self._invoke("CreateTable", lambda stub, md: stub.CreateTable(
            kv_pb.CreateTableRequest(auth=self._auth(), table=table), metadata=md)).created

    def delete_table(self, table: str) -> bool:
        """Drop ``table`` and every item in it (its owner or the admin). False when there was none, as only the
        admin is told: to others a missing table is :class:`~e6driver.errors.PermissionDeniedError`."""
        return self._invoke("DeleteTable", lambda stub, md: stub.DeleteTable(
            kv_pb.DeleteTableRequest(auth=self._auth(), table=table), metadata=md)).deleted

    def list_tables(self) -> List[KVTable]:
        """The tables you may read, by name, with your access to each."""
        response = self._invoke("ListTables", lambda stub, md: stub.ListTables(
            kv_pb.ListTablesRequest(auth=self._auth()), metadata=md))
        return [KVTable(t.name, t.owner, t.access,
                        datetime.datetime.fromtimestamp(t.created, datetime.timezone.utc)) for t in response.tables]

    def grant(self, table: str, user: str, access: str = "read") -> str:
        """Give ``user`` ``read`` or ``write`` access to ``table`` (``none`` revokes); its owner or the admin."""
        return self._invoke("Grant", lambda stub, md: stub.Grant(
            kv_pb.GrantRequest(auth=self._auth(), table=table, user=user, access=access), metadata=md)).access

    def revoke(self, table: str, user: str) -> str:
        return self.grant(table, user, "none")

    # ------------------------------------------------------------------ items

    def put_item(self, table: str, key: str, attributes: Mapping[str, Any], condition: Optional[str] = None) -> bool:
        """Store the item ``key`` with exactly ``attributes`` (replacing any item of that key); True if the
        key was new. ``condition`` is checked on the current item first."""
        request = kv_pb.PutItemRequest(auth=self._auth(), table=table, key=key, attributes=to_values(attributes),
                                       condition=condition or "", request_id=_request_id())
        return self._invoke("PutItem", lambda stub, md: stub.PutItem(request, metadata=md)).created

    def get_item(self, table: str, key: str, attributes: Optional[Sequence[str]] = None) -> Optional[Dict[str, Any]]:
        """The item's attributes (only ``attributes`` if given; ``"__name"`` is the key), None if no item."""
        response = self._invoke("GetItem", lambda stub, md: stub.GetItem(
            kv_pb.GetItemRequest(auth=self._auth(), table=table, key=key, attributes=_names(attributes)),
            metadata=md))
        return from_values(response.item.attributes) if response.found else None

    def update_item(self, table: str, key: str, attributes: Optional[Mapping[str, Any]] = None,
                    expression: Optional[str] = None, condition: Optional[str] = None) -> Dict[str, Any]:
        """Atomically merge ``attributes`` into the item, or apply ``expression`` (``a = a + 1; b = 'x';
        REMOVE c``) to it, if ``condition`` holds (else :class:`ConditionFailedError`, nothing changed). A
        missing item is created. Returns the item's attributes after the update."""
        request = kv_pb.UpdateItemRequest(auth=self._auth(), table=table, key=key, attributes=to_values(attributes),
                                          expression=expression or "", condition=condition or "",
                                          request_id=_request_id())
        response = self._invoke("UpdateItem", lambda stub, md: stub.UpdateItem(request, metadata=md))
        return from_values(response.item.attributes)

    def delete_item(self, table: str, key: str, condition: Optional[str] = None) -> bool:
        """Delete the item (if ``condition`` holds); False when there was none."""
        request = kv_pb.DeleteItemRequest(auth=self._auth(), table=table, key=key, condition=condition or "",
                                          request_id=_request_id())
        return self._invoke("DeleteItem", lambda stub, md: stub.DeleteItem(request, metadata=md)).deleted

    def scan(self, table: str, filter: Optional[str] = None, attributes: Optional[Sequence[str]] = None,
             limit: Optional[int] = None, batch_size: int = 1000) -> ItemCursor:
        """Items in key order passing ``filter`` (e.g. ``"age > 30 AND starts(__name, 'user-')"``), each a dict
        with ``__name`` (the key) and its attributes (only ``attributes`` if given), at most ``limit``."""
        if batch_size <= 0:
            raise errors.ProgrammingError("batch_size must be > 0")
        return ItemCursor(self, table, filter or "", _names(attributes), limit, batch_size)

    def _scan_page(self, **fields: Any) -> Any:
        return self._invoke("Scan", lambda stub, md: stub.Scan(kv_pb.ScanRequest(auth=self._auth(), **fields),
                                                               metadata=md))
