"""``python -m mock_server.admin``: operate a running local engine (blue-green switch, suspend, resume,
expire sessions) through its AdminService, and manage its users (create, disable, enable, list, reset a
token) through its AccountService. Needs the credentials of the server's admin user (its first ``--user``).
Prints the result on stdout; on error prints a message on stderr and exits with status 1.

Example::

    python -m mock_server.admin --target 127.0.0.1:9000 --user admin --password admin switch-strategy green
    python -m mock_server.admin --user admin --password admin create-user carol   # prints carol's token once
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import List, Optional

import grpc

from e6driver._proto import e6driver_accounts_pb2 as ac_pb, e6driver_accounts_pb2_grpc
from e6driver._proto import e6driver_admin_pb2 as admin_pb, e6driver_admin_pb2_grpc
from e6driver._proto import e6driver_stores_pb2 as st_pb

USER_COMMANDS = ("create-user", "disable-user", "enable-user", "reset-token")


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m mock_server.admin", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", default="127.0.0.1:9000", help="server host:port (default 127.0.0.1:9000)")
    parser.add_argument("--user", default="admin", help="admin user (default admin)")
    parser.add_argument("--password", default="admin", help="admin password (default admin)")
    parser.add_argument("--timeout", type=float, default=10.0, help="RPC deadline in seconds (default 10)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    switch = commands.add_parser("switch-strategy", help="make a blue-green colour active")
    # The server validates the colour (mock_server.control.bluegreen is the one place that knows the colours).
    switch.add_argument("strategy", metavar="blue|green", help="colour to make active")
    commands.add_parser("suspend", help="suspend the cluster (calls get 'status: 503')")
    commands.add_parser("resume", help="resume a suspended cluster")
    commands.add_parser("expire-sessions", help="forget every session (clients must re-authenticate)")
    for command, text in zip(USER_COMMANDS, ("create a user; prints its token (shown once)",
                                             "refuse a user's logins and end their sessions",
                                             "let a disabled user log in again",
                                             "give a created user a new token (the old one stops working)")):
        commands.add_parser(command, help=text).add_argument("name", help="user name")
    commands.add_parser("list-users", help="one line per user: name, flags, created, last login")
    return parser.parse_args(argv)


def _when(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds)) if seconds else "never"


def run_accounts(channel: grpc.Channel, args: argparse.Namespace) -> str:
    """A user command through AccountService; the text to print."""
    stub = e6driver_accounts_pb2_grpc.AccountServiceStub(channel)
    auth = st_pb.Auth(user=args.user, password=args.password)
    if args.command == "create-user":
        return stub.CreateUser(ac_pb.CreateUserRequest(auth=auth, name=args.name), timeout=args.timeout).token
    if args.command == "reset-token":
        return stub.ResetToken(ac_pb.ResetTokenRequest(auth=auth, name=args.name), timeout=args.timeout).token
    if args.command in ("disable-user", "enable-user"):
        disabled = args.command == "disable-user"
        resp = stub.SetUserDisabled(ac_pb.SetUserDisabledRequest(auth=auth, name=args.name, disabled=disabled),
                                    timeout=args.timeout)
        state = "disabled" if disabled else "enabled"
        if not resp.changed:
            return f"user {args.name} was already {state}"
        return f"user {args.name} {state}" + (f"; {resp.ended_sessions} session(s) ended" if disabled else "")
    users = stub.ListUsers(ac_pb.ListUsersRequest(auth=auth), timeout=args.timeout).users
    lines = []
    for u in users:
        flags = [flag for flag, on in (("admin", u.admin), ("disabled", u.disabled), ("configured", u.configured))
                 if on]
        lines.append(f"{u.name}\t{','.join(flags) or '-'}\tcreated {_when(u.created)}\t"
                     f"last login {_when(u.last_login)}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> str:
    """Perform the command; the line to print. Raises grpc.RpcError on failure."""
    with grpc.insecure_channel(args.target) as channel:
        if args.command in USER_COMMANDS + ("list-users",):
            return run_accounts(channel, args)
        stub = e6driver_admin_pb2_grpc.AdminServiceStub(channel)
        creds = dict(user=args.user, password=args.password)
        if args.command == "switch-strategy":
            resp = stub.SwitchStrategy(admin_pb.SwitchStrategyRequest(strategy=args.strategy, **creds),
                                       timeout=args.timeout)
            if not resp.switched:
                return f"strategy {resp.active_strategy} was already active"
            return (f"strategy switched to {resp.active_strategy}; {resp.retired_strategy} retired "
                    f"({resp.draining_queries} live quer{'y' if resp.draining_queries == 1 else 'ies'} "
                    f"still on {resp.retired_strategy})")
        if args.command == "suspend":
            return f"cluster {stub.Suspend(admin_pb.SuspendRequest(**creds), timeout=args.timeout).status}"
        if args.command == "resume":
            return f"cluster {stub.Resume(admin_pb.ResumeRequest(**creds), timeout=args.timeout).status}"
        expired = stub.ExpireSessions(admin_pb.ExpireSessionsRequest(**creds), timeout=args.timeout).expired
        return f"{expired} session{'' if expired == 1 else 's'} expired"


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        print(run(args))
    except grpc.RpcError as exc:
        code = exc.code()
        if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            detail = f"cannot reach the server at {args.target} ({code.name})"
        else:
            detail = f"{code.name}: {exc.details()}"
        print(f"mock_server.admin {args.command}: error: {detail}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
