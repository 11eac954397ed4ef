"""`python -m bench --investigate`: what limits the ack, measured with candidate fixes (bench/variant.py).

At 10 clients, for both kinds of request, fast and slow Ona: the floor, then the bot as it is
("none"), the bot's ack path without its work ("nowork"), the same with one SQLite connection per
thread ("nowork+pconn"), a bigger Bolt listener_executor ("executor:64"), the work moved to its own
bounded pool ("decoupled:4:64"), and that with per-thread connections ("decoupled:4:64+pconn").
"""

from __future__ import annotations

import itertools

from bench import ack
from bench.common import Stack, floor_server, log, variant_server

VARIANTS = ("none", "nowork", "nowork+pconn", "executor:64", "decoupled:4:64", "decoupled:4:64+pconn")


def run(stack: Stack, *, duration: float, warmup: float, clients: int = 10) -> list[tuple[str, ack.Run]]:
    results: list[tuple[str, ack.Run]] = []
    tags = itertools.count(1)
    floor = floor_server(stack)
    try:
        floor.start()
        for kind in ("policies", "approve"):
            r = ack.summarise(ack.Run(kind, clients, "floor", "-"),
                              ack.load(floor, stack, kind, clients, duration, warmup, f"if{next(tags)}",
                                       ack._floor_values(kind)))
            results.append(("floor", r))
            log("floor " + ack._line(r))
    finally:
        floor.stop()
    for variant in VARIANTS:
        db = stack.dir / f"variant-{variant.replace(':', '-')}.db"
        server = variant_server(stack, db, variant)
        pool = None
        try:
            server.start()
            pool = ack.Pool(stack, db)
            for kind in ("policies", "approve"):
                for ona in ("fast", "slow"):
                    if "nowork" in variant and ona == "slow":
                        continue  # no work, so no Ona call to be slow
                    r = ack._bot_run(stack, server, pool, kind, clients, ona, duration, warmup,
                                     f"iv{next(tags)}", 200, expect_replies="nowork" not in variant)
                    results.append((variant, r))
                    log(f"{variant} " + ack._line(r))
        finally:
            if pool is not None:
                pool.close()
            server.stop()
    return results
