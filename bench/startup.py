"""Benchmark 3 (part): time from starting `ona-bot serve` until GET /healthz answers 200.

Each start is a new process on a new port against the same database (created by the first start),
with FakeSlack and the emulator already up, as a restart in production would be. The clock starts
just before the process is spawned and stops at the first 200 (polled every 5 ms).
"""

from __future__ import annotations

from bench.common import Stack, bot_server, log


def ready_times(stack: Stack, *, repeat: int) -> list[float]:
    db = stack.dir / "startup.db"
    times = []
    for n in range(repeat):
        server = bot_server(stack, db, name=f"ona-bot serve (start {n + 1})")
        try:
            times.append(server.start(ready_timeout=30))
        finally:
            server.stop()
        log(f"start {n + 1}: /healthz 200 after {times[-1]:.3f} s")
    return times
