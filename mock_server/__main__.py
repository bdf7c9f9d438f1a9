"""``python -m mock_server`` / ``e6driver-server``: run the local e6data-protocol engine."""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from dataclasses import fields
from typing import List, Optional

from mock_server.limits import Limits
from mock_server.server import EngineServer
from mock_server.sessions import DEFAULT_USERS
from mock_server.control.bluegreen import COLOURS

log = logging.getLogger("mock_server")


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="e6driver-server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=9000, help="port to bind; 0 = ephemeral (default 9000)")
    parser.add_argument("--data-dir", default=None,
                        help="directory for DIR/local.duckdb (catalog 'local'); default: in memory")
    parser.add_argument("--user", action="append", default=None,
                        help="user name (repeatable, paired with --password; default 'admin'); "
                             "the first one is the admin user (python -m mock_server.admin)")
    parser.add_argument("--password", action="append", default=None,
                        help="password / access token of the matching --user (default 'admin')")
    parser.add_argument("--session-ttl", type=float, default=3600.0, help="idle session TTL in seconds")
    parser.add_argument("--query-ttl", type=float, default=600.0,
                        help="seconds an open query may stay unused before it is cleared (default 600)")
    parser.add_argument("--max-workers", type=int, default=64,
                        help="threads serving calls (default 64); waiting dataset polls get --max-long-polls "
                             "threads on top, so they never take these")
    for item in fields(Limits):
        parser.add_argument(Limits.flag(item.name), type=int, default=item.default,
                            help=f"limit {item.name} (default {item.default}); RESOURCE_EXHAUSTED beyond it")
    parser.add_argument("--strategy", choices=COLOURS, default="blue",
                        help="blue-green colour active at start (default blue)")
    parser.add_argument("--resume-seconds", type=float, default=2.0,
                        help="how long a suspended cluster takes to resume (default 2)")
    parser.add_argument("--time-zone", default="UTC", help="DuckDB TimeZone setting (default UTC)")
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    parser.add_argument("--master-key-file", default=None,
                        help="master key of dataset encryption (32 bytes; generated on first start; "
                             "default DATA_DIR/master.key)")
    parser.add_argument("--dataset-rate-limit", type=float, default=0.0,
                        help="dataset uploads + downloads per second per user (bursts of max(1, RATE)); "
                             "0 = no limit (default)")
    parser.add_argument("--no-local-transfer", action="store_true",
                        help="do not serve same-host object transfers (clients on this machine then move object "
                             "content through gRPC like remote ones)")
    parser.add_argument("--s3-endpoint", default=None,
                        help="keep object stores on this S3-compatible endpoint (URL) instead of DATA_DIR/objects")
    parser.add_argument("--s3-region", default=os.environ.get("AWS_REGION", "us-east-1"),
                        help="S3 region (default $AWS_REGION or us-east-1)")
    parser.add_argument("--s3-access-key", default=os.environ.get("AWS_ACCESS_KEY_ID"),
                        help="S3 access key (default $AWS_ACCESS_KEY_ID)")
    parser.add_argument("--s3-secret-key", default=os.environ.get("AWS_SECRET_ACCESS_KEY"),
                        help="S3 secret key (default $AWS_SECRET_ACCESS_KEY)")
    parser.add_argument("--tls-cert", default=None, help="serve TLS only, with this PEM certificate (chain)")
    parser.add_argument("--tls-key", default=None, help="PEM private key of --tls-cert")
    parser.add_argument("--tls-client-ca", default=None,
                        help="also require client certificates signed by this PEM CA (mutual TLS)")
    args = parser.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key) or (args.tls_client_ca and not args.tls_cert):
        parser.error("give --tls-cert and --tls-key together (and --tls-client-ca only with them)")
    args.tls = ({"cert": args.tls_cert, "key": args.tls_key, "client_ca": args.tls_client_ca}
                if args.tls_cert else None)
    if args.resume_seconds < 0:
        parser.error("--resume-seconds must be >= 0")
    if args.max_workers < 1:
        parser.error("--max-workers must be >= 1")
    if args.dataset_rate_limit < 0:
        parser.error("--dataset-rate-limit must be >= 0")
    users, passwords = args.user or [], args.password or []
    if len(users) != len(passwords):
        parser.error("give one --password per --user")
    args.users = dict(zip(users, passwords)) if users else dict(DEFAULT_USERS)
    try:
        args.limits = Limits(**{item.name: getattr(args, item.name) for item in fields(Limits)})
    except ValueError as exc:
        parser.error(str(exc))
    args.s3 = None
    if args.s3_endpoint:
        if not (args.s3_access_key and args.s3_secret_key):
            parser.error("--s3-endpoint needs --s3-access-key and --s3-secret-key (or the AWS_* variables)")
        args.s3 = {"endpoint": args.s3_endpoint, "region": args.s3_region,
                   "access_key": args.s3_access_key, "secret_key": args.s3_secret_key}
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    server = EngineServer(args.host, args.port, data_dir=args.data_dir, users=args.users,
                          session_ttl=args.session_ttl, query_ttl=args.query_ttl, time_zone=args.time_zone,
                          max_workers=args.max_workers,
                          strategy=args.strategy, resume_seconds=args.resume_seconds, s3=args.s3,
                          master_key_file=args.master_key_file,
                          dataset_rate_limit=args.dataset_rate_limit or None, limits=args.limits, tls=args.tls,
                          local_transfer=not args.no_local_transfer)
    port = server.start()
    # The one machine-readable stdout line: tests and scripts parse the bound port from it.
    sys.stdout.write(f"e6driver-server listening on {args.host}:{port}\n")
    sys.stdout.flush()
    stop = threading.Event()

    def _on_signal(signum: int, _frame: object) -> None:
        log.info("signal %s: shutting down", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    while not stop.wait(1.0):
        pass
    server.stop(grace=2.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
