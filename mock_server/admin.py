"""``python -m mock_server.admin``: operate a running local engine (blue-green switch, suspend, resume,
expire sessions) through its AdminService. Needs the credentials of the server's admin user (its first
``--user``). Prints the result on stdout; on error prints a message on stderr and exits with status 1.

Example::

    python -m mock_server.admin --target 127.0.0.1:9000 --user admin --password admin switch-strategy green
"""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

import grpc

from e6driver._proto import e6driver_admin_pb2 as admin_pb, e6driver_admin_pb2_grpc


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
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> str:
    """Perform the command; the line to print. Raises grpc.RpcError on failure."""
    with grpc.insecure_channel(args.target) as channel:
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
