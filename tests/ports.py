"""Loopback ports chosen before the server that will listen on them starts (a subprocess told its port, an
engine restarted on the same port): below the kernel's ephemeral range. A port in that range can be taken by
any outgoing connection in the gap between the choice and the bind, or while a server restarts (a run failed
so: "bind: address already in use"); below it, only a server asking for that very port could."""
from __future__ import annotations

import random
import socket
from typing import List

LOWEST = 10_000


def ephemeral_start() -> int:
    """The first port of the kernel's ephemeral range (32768 where it cannot be read)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as handle:
            return int(handle.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_ports(count: int, room: int = 0) -> List[int]:
    """``count`` distinct loopback ports free now, each at least ``room`` below the ephemeral range (SeaweedFS
    serves gRPC on its HTTP port + 10,000)."""
    high = max(ephemeral_start() - room, LOWEST + 2_000)
    chosen: List[int] = []
    while len(chosen) < count:
        port = random.randrange(LOWEST, high)
        if port in chosen:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        chosen.append(port)
    return chosen


def free_port() -> int:
    return free_ports(1)[0]
