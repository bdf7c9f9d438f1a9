"""The e6data wire protocol: sessions, retry rules, blue-green state, transport, queries and result chunks.

Knows nothing of PEP 249: ``e6driver.connection`` and ``e6driver.cursor`` hold DB-API state and call
:class:`Session` and :class:`ServerQuery`; the store clients (``e6driver.stores``) use
:meth:`Session.call_service`. Dependency rule: DB-API → protocol → transport.
"""
from .query import ServerQuery
from .result_metadata import Column, ResultMetadata, parse_result_metadata
from .session import QueryHandle, Session, backoff

__all__ = ["Column", "QueryHandle", "ResultMetadata", "ServerQuery", "Session", "backoff", "parse_result_metadata"]
