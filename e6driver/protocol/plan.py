"""Plans: the protocol's rules written once, run by a blocking or an asyncio driver.

A plan is a generator that yields the I/O it needs — an RPC, a pause, "a live session id", "the cluster
resumed" — and receives the result (a failed RPC is thrown into it as the ``grpc.RpcError``). The rules (session
renewal, blue-green detection, resume, retries, replay marks) live only in the plans; :func:`drive` runs a plan
with blocking calls on a ``grpc`` channel, :func:`adrive` with ``await`` on a ``grpc.aio`` channel. A plan
delegates to another with ``yield from``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Generator, List, Optional, Tuple

import grpc


@dataclass
class Rpc:
    """Call ``method`` of ``service`` (``"engine"`` or ``"cluster"``)."""

    service: str
    method: str
    request: Any
    metadata: List[Tuple[str, str]]
    timeout: Optional[float]


@dataclass
class Sleep:
    seconds: float


class EnsureSession:
    """The live session id: the driver runs the authentication plan under the session's lock if needed."""


class ResumeCluster:
    """Wake a suspended cluster: the driver runs the resume plan under the endpoint's lock."""


Op = Any
Plan = Generator[Op, Any, Any]


def drive(plan: Plan, perform: Callable[[Op], Any]) -> Any:
    """Run ``plan`` to its return value, performing each operation with the blocking ``perform``."""
    result: Any = None
    error: Optional[BaseException] = None
    while True:
        try:
            op = plan.throw(error) if error is not None else plan.send(result)
        except StopIteration as stop:
            return stop.value
        result, error = None, None
        try:
            result = perform(op)
        except grpc.RpcError as exc:  # the plan decides what a failed RPC means
            error = exc
        except BaseException:
            plan.close()
            raise


async def adrive(plan: Plan, perform: Callable[[Op], Awaitable[Any]]) -> Any:
    """Run ``plan`` to its return value, awaiting each operation with ``perform``."""
    result: Any = None
    error: Optional[BaseException] = None
    while True:
        try:
            op = plan.throw(error) if error is not None else plan.send(result)
        except StopIteration as stop:
            return stop.value
        result, error = None, None
        try:
            result = await perform(op)
        except grpc.RpcError as exc:
            error = exc
        except BaseException:
            plan.close()
            raise
