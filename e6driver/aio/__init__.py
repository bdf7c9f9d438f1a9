"""The asyncio API: ``e6driver.aio.connect`` → :class:`AsyncConnection` on ``grpc.aio``, with the same
blue-green, session, resume and retry rules as the blocking driver (they are shared plans, ``protocol/plan.py``).

    async with e6driver.aio.connect(host=..., port=..., username=..., password=...) as conn:
        cur = conn.cursor()
        await cur.execute("SELECT ...")
        async for row in cur:
            ...
"""
from .connection import AsyncConnection, connect
from .cursor import AsyncCursor
from .pool import AsyncConnectionPool

__all__ = ["AsyncConnection", "AsyncConnectionPool", "AsyncCursor", "connect"]
