"""The admin's view across the stores: who has which grant, and how much the platform holds.

Read through each store's own access rules (:meth:`BucketGrants.access`, :meth:`DatasetStore.access`, the
key-value tables' and streams' ``visible``), so the overview says what the stores enforce: one row per (resource, account) with ``read`` or ``write``
(owners have ``write``). The admin, who has every access, is left out. Used by AccountService and the
``system`` SQL catalog alike.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Optional

from mock_server.accounts import Accounts
from mock_server.datasets.store import DatasetStore
from mock_server.objects.buckets import ObjectStores

GRANTED = ("read", "write")


@dataclass(frozen=True)
class GrantRow:
    kind: str  # bucket | dataset | kv_table | stream
    resource: str
    grantee: str
    access: str  # read | write


@dataclass(frozen=True)
class Statistics:
    users: int
    disabled_users: int
    datasets: int
    dataset_versions: int
    dataset_bytes: int  # stored (encrypted) size of the current versions
    downloads: int
    buckets: int
    objects: int
    object_bytes: int


class Overview:
    def __init__(self, accounts: Accounts, stores: ObjectStores, datasets: Optional[DatasetStore],
                 kv: Any = None, streams: Any = None) -> None:
        self.accounts = accounts
        self.stores = stores
        self.datasets = datasets
        self.rooms = [(kind, room) for kind, room in (("kv_table", kv), ("stream", streams)) if room is not None]

    def _grantees(self) -> List[str]:
        return [name for name in self.accounts if name != self.accounts.admin_user]

    def grants(self) -> List[GrantRow]:
        users = self._grantees()
        rows = []
        for bucket in self.stores.backend.buckets():
            for user in users:
                access = self.stores.grants.access(user, bucket)
                if access in GRANTED:
                    rows.append(GrantRow("bucket", bucket, user, access))
        if self.datasets is not None:
            for info, _ in self.datasets.visible(self.accounts.admin_user):
                for user in users:
                    access = self.datasets.access(user, info.name)
                    if access in GRANTED:
                        rows.append(GrantRow("dataset", info.name, user, access))
        for kind, room in self.rooms:  # KVStore, StreamStore: visible(user) → (resource, access)
            for user in users:
                rows.extend(GrantRow(kind, resource.name, user, access)
                            for resource, access in room.visible(user) if access in GRANTED)
        return sorted(rows, key=lambda r: (r.kind, r.resource, r.grantee))

    def statistics(self) -> Statistics:
        accounts = self.accounts.listing()
        infos = [info for info, _ in self.datasets.visible(self.accounts.admin_user)] if self.datasets else []
        buckets = self.stores.backend.buckets()
        objects = object_bytes = 0
        for bucket in buckets:
            count, size = self.stores.backend.usage(bucket)
            objects, object_bytes = objects + count, object_bytes + size
        return Statistics(
            users=len(accounts), disabled_users=sum(a.disabled for a in accounts), datasets=len(infos),
            dataset_versions=sum(i.versions for i in infos), dataset_bytes=sum(i.bytes for i in infos),
            downloads=sum(i.downloads for i in infos), buckets=len(buckets), objects=objects,
            object_bytes=object_bytes)
