"""KeyValueService (protos/e6driver_kv.proto): key-value tables and items over gRPC.

Every call authenticates like the object stores (:meth:`mock_server.sessions.SessionStore.caller`), then
the store checks the caller's access (:mod:`mock_server.kv.store`) and runs the operation as one
transaction (:mod:`mock_server.kv.items`).
"""
from __future__ import annotations

import logging
from typing import Any, Mapping

import grpc

from e6driver._proto import e6driver_kv_pb2 as kv_pb, e6driver_kv_pb2_grpc
from mock_server import errors
from mock_server.kv.items import Items
from mock_server.kv.store import KVStore
from mock_server.kv.values import Attributes
from mock_server.sessions import SessionStore

log = logging.getLogger(__name__)


def from_values(values: Mapping[str, Any]) -> Attributes:
    out = {}
    for name, value in values.items():
        kind = value.WhichOneof("kind")
        if kind is None:
            raise errors.invalid(f"attribute {name[:80]!r} has no value")
        out[name] = getattr(value, kind)
    return out


def to_value(value: Any) -> kv_pb.Value:
    if isinstance(value, bool):
        return kv_pb.Value(bool_value=value)
    if isinstance(value, int):
        return kv_pb.Value(int_value=value)
    if isinstance(value, float):
        return kv_pb.Value(float_value=value)
    if isinstance(value, str):
        return kv_pb.Value(string_value=value)
    return kv_pb.Value(bytes_value=value)


def item_message(key: str, attributes: Attributes) -> kv_pb.Item:
    return kv_pb.Item(key=key, attributes={n: to_value(v) for n, v in attributes.items()})


class KeyValueServicer(e6driver_kv_pb2_grpc.KeyValueServiceServicer):
    def __init__(self, store: KVStore, items: Items, sessions: SessionStore) -> None:
        self.store = store
        self.items = items
        self.sessions = sessions

    def _user(self, request: Any, context: grpc.ServicerContext) -> str:
        return self.sessions.caller(request.auth, context.invocation_metadata())

    @errors.rpc_method
    def CreateTable(self, request: Any, context: grpc.ServicerContext) -> Any:
        user = self._user(request, context)
        created = self.store.create_table(user, request.table)
        if created:
            log.info("key-value table %s created by %s", request.table, user)
        return kv_pb.CreateTableResponse(created=created)

    @errors.rpc_method
    def DeleteTable(self, request: Any, context: grpc.ServicerContext) -> Any:
        user = self._user(request, context)
        deleted = self.store.delete_table(user, request.table)
        if deleted:
            log.info("key-value table %s deleted by %s", request.table, user)
        return kv_pb.DeleteTableResponse(deleted=deleted)

    @errors.rpc_method
    def ListTables(self, request: Any, context: grpc.ServicerContext) -> Any:
        user = self._user(request, context)
        return kv_pb.ListTablesResponse(tables=[
            kv_pb.TableInfo(name=t.name, owner=t.owner, access=access, created=t.created)
            for t, access in self.store.visible(user)])

    @errors.rpc_method
    def Grant(self, request: Any, context: grpc.ServicerContext) -> Any:
        user = self._user(request, context)
        if request.user not in self.sessions.users:
            raise errors.invalid(f"unknown user {request.user[:80]!r}")
        access = self.store.grant(user, request.table, request.user, request.access)
        log.info("%s set %s's access to key-value table %s: %s", user, request.user, request.table, access)
        return kv_pb.GrantResponse(access=access)

    @errors.rpc_method
    def PutItem(self, request: Any, context: grpc.ServicerContext) -> Any:
        user = self._user(request, context)
        created = self.items.put(user, request.table, request.key, from_values(request.attributes),
                                 request.condition, request.request_id)
        return kv_pb.PutItemResponse(created=created)

    @errors.rpc_method
    def GetItem(self, request: Any, context: grpc.ServicerContext) -> Any:
        user = self._user(request, context)
        found = self.items.get(user, request.table, request.key, list(request.attributes))
        if found is None:
            return kv_pb.GetItemResponse(found=False)
        return kv_pb.GetItemResponse(found=True, item=item_message(request.key, found))

    @errors.rpc_method
    def UpdateItem(self, request: Any, context: grpc.ServicerContext) -> Any:
        user = self._user(request, context)
        created, item = self.items.update(user, request.table, request.key, from_values(request.attributes),
                                          request.expression, request.condition, request.request_id)
        return kv_pb.UpdateItemResponse(created=created, item=item_message(request.key, item))

    @errors.rpc_method
    def DeleteItem(self, request: Any, context: grpc.ServicerContext) -> Any:
        user = self._user(request, context)
        return kv_pb.DeleteItemResponse(deleted=self.items.delete(user, request.table, request.key,
                                                                  request.condition, request.request_id))

    @errors.rpc_method
    def Scan(self, request: Any, context: grpc.ServicerContext) -> Any:
        user = self._user(request, context)
        page = self.items.scan(user, request.table, request.filter, list(request.attributes), request.limit,
                               request.marker)
        return kv_pb.ScanResponse(items=[item_message(k, a) for k, a in page.items], next_marker=page.next_marker,
                                  done=page.done)
