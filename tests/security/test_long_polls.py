"""Dataset long polls cannot starve queries: waiting polls run on threads set aside for them (the server's pool
is ``max_workers`` + ``max_long_polls``), so a user at the poll limit leaves every call thread to the others."""
from __future__ import annotations

import logging
import threading
from typing import List

import pyarrow as pa
import pytest

import e6driver
from e6driver.errors import OperationalError
from mock_server.limits import Limits

from accounts import USERS

log = logging.getLogger(__name__)

# Two call threads only: two polls holding them would block every other call if they shared them.
POLL_LIMITS = Limits(max_long_polls_per_user=2, max_long_polls=2)


def _connect(server, user: str) -> e6driver.Connection:
    return e6driver.connect(host="127.0.0.1", port=server.port, username=user, password=USERS[user],
                            connect_timeout=20, rpc_timeout=30)


def test_a_user_at_the_poll_limit_leaves_queries_and_health_checks_answered(engine, still_serves):
    srv = engine(limits=POLL_LIMITS, max_workers=2)
    owner = _connect(srv, "alice")
    pollers = [_connect(srv, "alice") for _ in range(3)]
    results: List[list] = []
    try:
        owner.datasets.upload("feed", pa.table({"n": [1]}))
        owner.datasets.subscribe("feed")

        def wait_for_news(conn: e6driver.Connection) -> None:
            try:
                results.append(conn.datasets.poll_notifications(wait_time=60, acknowledge=False))
            except Exception:  # noqa: BLE001 - reported by the assertion on results below
                log.exception("a waiting poll failed")

        threads = [threading.Thread(target=wait_for_news, args=(conn,), daemon=True) for conn in pollers[:2]]
        for thread in threads:
            thread.start()
        while srv.long_polls.waiting() < 2:
            threading.Event().wait(0.01)
        with pytest.raises(OperationalError, match="max_long_polls_per_user=2"):
            pollers[2].datasets.poll_notifications(wait_time=60)
        # Both call threads are free: other users' queries (two at once) and healthCheck are answered.
        others = [_connect(srv, user) for user in ("bob", "root")]
        try:
            cursors = [conn.cursor() for conn in others]
            for cur in cursors:
                cur.execute("SELECT 41 + 1")
            assert [cur.fetchall() for cur in cursors] == [[(42,)], [(42,)]]
        finally:
            for conn in others:
                conn.close()
        still_serves(srv)
        assert srv.long_polls.waiting() == 2  # the polls were waiting all along
        owner.datasets.update("feed", pa.table({"n": [2]}))  # news: both polls return it
        for thread in threads:
            thread.join(timeout=60)
        assert [[n.version for n in notices] for notices in results] == [[2], [2]]
    finally:
        for conn in [owner, *pollers]:
            conn.close()
