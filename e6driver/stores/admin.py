"""Administration of an e6driver engine (``conn.admin``): users, the grants overview and platform statistics.

Calls go to ``AccountService`` (protos/e6driver_accounts.proto) on the connection's channel, authenticated
like the other stores; every call is for the server's admin user only, others get
:class:`~e6driver.errors.PermissionDeniedError`. A created user's token is returned once (the server keeps
only a digest): the user connects with ``username=<name>, password=<token>`` (or the token as bearer
``access_token``). The same data is in SQL as ``system.users``, ``system.grants`` and ``system.statistics``.
Errors: ``ProgrammingError`` for a bad, unknown or taken name, ``IntegrityError`` for disabling the admin or
resetting a configured user's password, ``OperationalError`` over the server's user limit (``max_users``).
"""
from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any, List, Optional

from .. import errors
from .._proto import e6driver_accounts_pb2 as ac_pb, e6driver_accounts_pb2_grpc as ac_grpc
from ..protocol import Session
from ._client import ServiceClient
from .datasets import _time


@dataclass(frozen=True)
class User:
    name: str
    admin: bool
    disabled: bool
    configured: bool  # from the server's configuration (--user/--password), else created at run time
    created: datetime.datetime  # aware, UTC
    last_login: Optional[datetime.datetime]  # last successful authentication; None if never

    @classmethod
    def from_message(cls, msg: Any) -> "User":
        return cls(msg.name, msg.admin, msg.disabled, msg.configured, _time(msg.created),
                   _time(msg.last_login) if msg.last_login else None)


@dataclass(frozen=True)
class NewUser:
    user: User
    token: str  # shown once: the server cannot tell it again (reset_token makes a new one)


@dataclass(frozen=True)
class Grant:
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
    dataset_bytes: int  # stored (encrypted) size of the datasets' current versions
    downloads: int  # completed dataset downloads
    buckets: int
    objects: int
    object_bytes: int


class AdminClient(ServiceClient):
    """The admin's calls on the connection's server; thread-safe."""

    not_found_error = errors.ProgrammingError

    def __init__(self, session: Session) -> None:
        super().__init__(session, ac_grpc.AccountServiceStub)

    def create_user(self, name: str) -> NewUser:
        """A new user; its token is in the result, and only there."""
        response = self._invoke("CreateUser", lambda stub, md: stub.CreateUser(
            ac_pb.CreateUserRequest(auth=self._auth(), name=name), metadata=md))
        return NewUser(User.from_message(response.user), response.token)

    def _set_disabled(self, name: str, disabled: bool) -> User:
        response = self._invoke("SetUserDisabled", lambda stub, md: stub.SetUserDisabled(
            ac_pb.SetUserDisabledRequest(auth=self._auth(), name=name, disabled=disabled), metadata=md))
        return User.from_message(response.user)

    def disable_user(self, name: str) -> User:
        """Refuse ``name``'s logins and end their sessions (the admin cannot be disabled)."""
        return self._set_disabled(name, True)

    def enable_user(self, name: str) -> User:
        return self._set_disabled(name, False)

    def list_users(self) -> List[User]:
        response = self._invoke("ListUsers", lambda stub, md: stub.ListUsers(
            ac_pb.ListUsersRequest(auth=self._auth()), metadata=md))
        return [User.from_message(u) for u in response.users]

    def reset_token(self, name: str) -> str:
        """A new token for created user ``name``; the old one stops working and their sessions end."""
        return self._invoke("ResetToken", lambda stub, md: stub.ResetToken(
            ac_pb.ResetTokenRequest(auth=self._auth(), name=name), metadata=md)).token

    def grants(self) -> List[Grant]:
        """Every grant on buckets and datasets (owners as ``write``), the admin left out."""
        response = self._invoke("ListGrants", lambda stub, md: stub.ListGrants(
            ac_pb.ListGrantsRequest(auth=self._auth()), metadata=md))
        return [Grant(g.kind, g.resource, g.grantee, g.access) for g in response.grants]

    def statistics(self) -> Statistics:
        s = self._invoke("GetStatistics", lambda stub, md: stub.GetStatistics(
            ac_pb.GetStatisticsRequest(auth=self._auth()), metadata=md)).statistics
        return Statistics(s.users, s.disabled_users, s.datasets, s.dataset_versions, s.dataset_bytes,
                          s.downloads, s.buckets, s.objects, s.object_bytes)
