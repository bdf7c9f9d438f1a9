"""Transactions on an engine that has them: discovering whether it does, BEGIN / COMMIT / ROLLBACK, and the
rule that a transaction lost with its session is reported, never continued on a new session.

Discovery asks ``AdminService.GetCapabilities`` once per session (:mod:`.capabilities`): an engine without it
(an e6data cluster) has no transactions, so ``autocommit=False`` fails at once with NotSupportedError there
instead of silently committing every statement. The e6data wire protocol itself is unchanged: transaction
statements are ordinary queries of the session.

The transaction's state lives on :class:`~e6driver.protocol.session.Session` because its call path is what
notices a lost session (expired, retired by a blue-green switch, or unknown after a restart): it then raises
OperationalError instead of authenticating again, and the transaction stays *lost* until rollback/commit.
"""
from __future__ import annotations

import logging
import re
from typing import Optional

from ..errors import Error, NotSupportedError, OperationalError
from .capabilities import capabilities
from .query import ServerQuery
from .session import Session

log = logging.getLogger(__name__)


_COMMENTS = re.compile(r"\s*(?:--[^\n]*(?:\n|$)|/\*.*?\*/)", re.S)
_FIRST_WORDS = re.compile(r"\s*([A-Za-z]+)(?:\s+([A-Za-z]+))?")
_BEGINS = {("BEGIN", None), ("BEGIN", "TRANSACTION"), ("BEGIN", "WORK"), ("START", "TRANSACTION")}
_ENDS = {"COMMIT", "END", "ROLLBACK", "ABORT"}


def statement_kind(sql: str) -> Optional[str]:
    """``begin`` or ``end`` for a transaction statement the caller wrote (BEGIN / START TRANSACTION; COMMIT /
    END / ROLLBACK / ABORT, but not ROLLBACK TO a savepoint), else None."""
    at = 0
    while True:
        comment = _COMMENTS.match(sql, at)
        if comment is None:
            break
        at = comment.end()
    words = _FIRST_WORDS.match(sql, at)
    if words is None:
        return None
    first, second = words.group(1).upper(), (words.group(2) or "").upper() or None
    if (first, second) in _BEGINS:
        return "begin"
    if first in _ENDS and second != "TO":
        return "end"
    return None


def note_statement(session: Session, sql: str) -> None:
    """After ``sql`` ran: a transaction the caller began or ended in SQL (autocommit on) is tracked like the
    driver's own, so that losing its session (expiry, switch, restart) is reported, never silently continued
    outside it."""
    kind = statement_kind(sql)
    if kind == "begin" and not session.in_transaction and supported(session):
        session.transaction_started(in_sql=True)
    elif kind == "end" and session.in_transaction and session.transaction_lost is None:
        session.transaction_finished()


def supported(session: Session) -> bool:
    """Whether the engine keeps transactions for this session (needs a user/password session)."""
    return session.keeps_session and bool(capabilities(session).get("transactions"))


def require(session: Session) -> None:
    """NotSupportedError unless transactions are available."""
    if not session.keeps_session:
        raise NotSupportedError("transactions need a server session (username and password); calls made with "
                                "a bearer token each run on their own")
    if not supported(session):
        raise NotSupportedError(f"the engine at {session.endpoint} has no transactions: every statement is "
                                "committed when it runs (use autocommit=True)")


def _run(session: Session, sql: str, catalog: Optional[str], schema: Optional[str]) -> None:
    query = ServerQuery.start(session, sql, catalog, schema, session.query_deadline(), prefetch=0)
    query.release()


def begin(session: Session, catalog: Optional[str] = None, schema: Optional[str] = None) -> None:
    """Open a transaction (BEGIN); OperationalError while a lost one was not ended yet."""
    if session.transaction_lost is not None:
        raise OperationalError(f"the open transaction was lost ({session.transaction_lost}); call rollback() "
                               "before running statements again")
    _run(session, "BEGIN TRANSACTION", catalog, schema)
    session.transaction_started()


def commit(session: Session, catalog: Optional[str] = None, schema: Optional[str] = None) -> None:
    """Commit the open transaction; OperationalError (and the transaction ended) when it was lost."""
    lost = session.transaction_lost
    try:
        if lost is not None:
            raise OperationalError(f"cannot commit: the transaction was lost ({lost}) and rolled back")
        _run(session, "COMMIT", catalog, schema)
    finally:
        session.transaction_finished()


def rollback(session: Session, catalog: Optional[str] = None, schema: Optional[str] = None) -> None:
    """Roll the open transaction back; a transaction the server already rolled back (lost) just ends."""
    try:
        _run(session, "ROLLBACK", catalog, schema)
    except Error as exc:
        if session.transaction_lost is None:
            raise
        log.info("rollback: the server had already rolled the transaction back (%s)", exc)
    finally:
        session.transaction_finished()
