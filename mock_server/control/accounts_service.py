"""AccountService (protos/e6driver_accounts.proto): the admin's users, grants overview and statistics.

Callers authenticate as in the object stores (:meth:`SessionStore.caller`); every call is for the admin user
only (PERMISSION_DENIED otherwise). Disabling a user or resetting their token ends their sessions. The
accounts live in :mod:`mock_server.accounts`, the overview in :mod:`mock_server.control.overview`; this module
only authorizes and reports.
"""
from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

import grpc

from e6driver._proto import e6driver_accounts_pb2 as ac_pb, e6driver_accounts_pb2_grpc
from mock_server import errors
from mock_server.accounts import Account
from mock_server.control.overview import Overview
from mock_server.sessions import SessionStore

log = logging.getLogger(__name__)


def user_message(account: Account, admin_user: str) -> ac_pb.UserInfo:
    return ac_pb.UserInfo(name=account.name, admin=account.name == admin_user, disabled=account.disabled,
                          created=account.created, last_login=account.last_login, configured=account.configured)


class AccountServicer(e6driver_accounts_pb2_grpc.AccountServiceServicer):
    def __init__(self, sessions: SessionStore, overview: Overview) -> None:
        self.sessions = sessions
        self.accounts = sessions.accounts
        self.overview = overview

    def _admin(self, request: Any, context: grpc.ServicerContext, action: str) -> str:
        user = self.sessions.caller(request.auth, context.invocation_metadata())
        self.accounts.require_admin(user, action)
        return user

    def _user(self, name: str) -> ac_pb.UserInfo:
        account = self.accounts.account(name)
        if account is None:
            raise errors.EngineError(grpc.StatusCode.NOT_FOUND, f"no user {name[:80]!r}")
        return user_message(account, self.accounts.admin_user)

    @errors.rpc_method
    def CreateUser(self, request: Any, context: grpc.ServicerContext) -> Any:
        admin = self._admin(request, context, "creating users")
        token = self.accounts.create(request.name)
        log.info("user %r created by %s", request.name, admin)
        return ac_pb.CreateUserResponse(user=self._user(request.name), token=token)

    @errors.rpc_method
    def SetUserDisabled(self, request: Any, context: grpc.ServicerContext) -> Any:
        admin = self._admin(request, context, "disabling users" if request.disabled else "enabling users")
        changed = self.accounts.set_disabled(request.name, request.disabled)
        ended = self.sessions.end_user(request.name, "user disabled") if request.disabled else 0
        log.info("user %r %s by %s", request.name, "disabled" if request.disabled else "enabled", admin)
        return ac_pb.SetUserDisabledResponse(user=self._user(request.name), changed=changed, ended_sessions=ended)

    @errors.rpc_method
    def ListUsers(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._admin(request, context, "listing users")
        return ac_pb.ListUsersResponse(users=[user_message(a, self.accounts.admin_user)
                                              for a in self.accounts.listing()])

    @errors.rpc_method
    def ResetToken(self, request: Any, context: grpc.ServicerContext) -> Any:
        admin = self._admin(request, context, "resetting tokens")
        token = self.accounts.reset_token(request.name)
        ended = self.sessions.end_user(request.name, "token reset")
        log.info("token of user %r reset by %s", request.name, admin)
        return ac_pb.ResetTokenResponse(token=token, ended_sessions=ended)

    @errors.rpc_method
    def ListGrants(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._admin(request, context, "the grants overview")
        return ac_pb.ListGrantsResponse(grants=[ac_pb.Grant(**asdict(g)) for g in self.overview.grants()])

    @errors.rpc_method
    def GetStatistics(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._admin(request, context, "platform statistics")
        return ac_pb.GetStatisticsResponse(statistics=ac_pb.Statistics(**asdict(self.overview.statistics())))
