"""`python -m bench [--quick] [--investigate]`: run every benchmark and print one table.

Full run (`make bench`): 10 s per load level at 1, 10 and 50 clients, about 4.5 minutes on 2 cores.
`--quick`: 2 s per level at 1 and 10 clients, about 75 s. The replica bench (bench/replicas.py) adds
about 30 s to the full run and 15 s to `--quick`. `--investigate`: about 3 minutes more. `--investigate`
adds the candidate-fix experiments (bench/investigate.py).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import shutil
import sys
import time
from dataclasses import dataclass

from bench import ack, approvals, investigate, postgres, replicas, startup
from bench.common import SERVER_SETTINGS, Row, Stack, log, median, print_table


@dataclass(frozen=True)
class Plan:
    duration: float  # seconds of measured load per level
    warmup: float
    levels: tuple[int, ...]
    pools: dict[int, int]  # pending requests opened before each approve run, per client count
    starts: int
    client_timeout: float  # the load generator's read timeout (Slack itself gives up after 3 s)
    sql_rows: int
    sql_budget: float
    flow_budget: float
    replica_clients: int  # total clients for the one- and two-replica runs (one replica saturates)


FULL = Plan(10.0, 1.0, (1, 10, 50), {1: 150, 10: 300, 50: 400}, 5, 6.0, 3000, 3.0, 5.0, 20)
# Quick: 2 s per level, 1 and 10 clients (saturation is read at 10), 3 starts.
QUICK = Plan(2.0, 0.3, (1, 10), {1: 50, 10: 100}, 3, 3.5, 1000, 1.0, 2.0, 10)

P99_RATIO_MAX = 1.5
THROUGHPUT_MIN = 0.70
STORE_MIN = 0.50
RSS_MAX_MB = 150.0
READY_MAX_S = 2.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="2 s per load level instead of 10 s, 1 and 10 clients only (~75 s)")
    parser.add_argument("--investigate", action="store_true",
                        help="also measure candidate fixes (bench/variant.py) at 10 clients")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory (server logs, databases)")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    started = time.monotonic()
    print(machine_line(), flush=True)
    print(f"servers: {SERVER_SETTINGS}", flush=True)
    print(f"code: {code_version()}", flush=True)
    stack = Stack()
    try:
        log("startup: time to /healthz")
        ready = startup.ready_times(stack, repeat=plan.starts)
        log("store transitions against raw sqlite3")
        sql = approvals.transitions(stack.dir, rows=plan.sql_rows, budget=plan.sql_budget)
        log("approvals end to end through ApprovalFlow")
        flow = approvals.end_to_end(stack, budget=plan.flow_budget, max_requests=5000)
        log("PostgreSQL: store transitions against raw psycopg, approvals end to end")
        pg = postgres.run(stack, rows=plan.sql_rows, budget=plan.sql_budget, flow_budget=plan.flow_budget,
                          max_requests=5000)
        log(f"replicas: one `serve` then two on one PostgreSQL, {plan.replica_clients} clients")
        reps = replicas.run(stack, clients=plan.replica_clients, duration=plan.duration, warmup=plan.warmup)
        log(f"ack latency: {plan.duration:g} s per level, clients {plan.levels}")
        acks = ack.run(stack, duration=plan.duration, warmup=plan.warmup, levels=plan.levels, pools=plan.pools,
                       client_timeout=plan.client_timeout)
        experiments = (investigate.run(stack, duration=min(plan.duration, 5.0), warmup=plan.warmup)
                       if args.investigate else [])
    finally:
        stack.close()
        if args.keep:
            print(f"scratch directory kept: {stack.dir}")
        else:
            shutil.rmtree(stack.dir, ignore_errors=True)

    print()
    print(f"Ack latency over HTTP ({plan.duration:g} s per row; ratios against the floor of the same kind "
          "and client count; acks/s counts HTTP 200 only; work/s: replies the bot posted within the window; "
          "drain: wait after the load until every request had its reply; fresh: clicks on a still-pending "
          "request / clicks sent)")
    print_table(ack_rows(acks.runs), headers=ACK_HEADERS)
    print(f"smoke test: `/ona banner off reason: …` over HTTP → {acks.smoke}")
    if experiments:
        print()
        print("Investigation at 10 clients (bench/variant.py; the bot's files are unchanged)")
        print_table(ack_rows([r for _, r in experiments], [v for v, _ in experiments]), headers=ACK_HEADERS)
    print()
    print("SQLite state transitions (pending → approved → executing → succeeded), per second")
    print_table([
        ["Store.transition (one connection per thread)", f"{sql.store:,.0f}"],
        ["raw sqlite3, one open connection", f"{sql.raw:,.0f}"],
        ["raw sqlite3, a connection per UPDATE (as Store did first)", f"{sql.raw_connect_each:,.0f}"],
        ["Store while another connection holds the db open", f"{sql.store_db_held_open:,.0f}"],
    ], headers=("measure", "transitions/s"))
    print()
    print()
    print("PostgreSQL state transitions (pending → approved → executing → succeeded), per second")
    print_table([
        ["PostgresStore.transition (pooled connection per call)", f"{pg.store:,.0f}"],
        ["raw psycopg, the same UPDATE … RETURNING, one open connection", f"{pg.raw:,.0f}"],
    ], headers=("measure", "transitions/s"))
    print()
    replicas.print_report(reps)
    print()
    rows = summary_rows(acks, sql, flow, ready) + postgres_rows(pg) + [replicas.summary_row(reps)]
    print(f"Summary ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, whole run "
          f"{time.monotonic() - started:.0f} s{', --quick' if args.quick else ''})")
    print_table([r.cells for r in rows], headers=("metric", "value", "target", "result"))
    failed = [r.metric for r in rows if r.ok is False]
    print(f"{len(rows) - sum(r.ok is None for r in rows) - len(failed)} targets met, {len(failed)} missed.")
    return 0


ACK_HEADERS = ("request", "clients", "server", "p50 ms", "p95 ms", "p99 ms", "acks/s", "non-200", ">3 s",
               "work/s", "drain s", "fresh", "p99 ×floor", "acks/s vs floor")


def ack_rows(runs: list[ack.Run], names: list[str] | None = None) -> list[list[str]]:
    floors = {(r.kind, r.clients): r for r in runs if r.target == "floor"}
    out = []
    for i, r in enumerate(runs):
        floor = floors.get((r.kind, r.clients))
        server = "floor" if r.target == "floor" else f"bot, {r.ona} Ona"
        if names is not None and r.target != "floor":
            server = f"{names[i]}, {r.ona} Ona"
        cells = [r.kind, str(r.clients), server, _ms(r.p50), _ms(r.p95), _ms(r.p99), f"{r.rps:.0f}",
                 str(r.failed), str(r.late),
                 "" if r.target == "floor" or r.drain is None else f"{r.work_rps:.0f}",
                 "" if r.drain is None else f"{r.drain:.1f}" + (f" ({r.unanswered} left)" if r.unanswered else ""),
                 f"{r.fresh}/{r.sent}" if r.pool else "",
                 "" if r.target == "floor" or floor is None else f"{r.p99 / floor.p99:.2f}",
                 "" if r.target == "floor" or floor is None else f"{r.rps / floor.rps:.0%}"]
        out.append(cells)
    return out


def summary_rows(acks: ack.AckReport, sql: approvals.TransitionReport, flow: approvals.FlowReport,
                 ready: list[float]) -> list[Row]:
    rows: list[Row] = []
    floors = {(r.kind, r.clients): r for r in acks.runs if r.target == "floor"}
    bots = {(r.kind, r.clients, r.ona): r for r in acks.runs if r.target == "bot"}
    names = {"policies": "/ona policies", "approve": "Approve click"}
    for kind in ("policies", "approve"):
        for ona in ("fast", "slow"):
            for clients in (1, 10):
                bot, floor = bots.get((kind, clients, ona)), floors.get((kind, clients))
                if bot is None or floor is None:
                    continue
                ratio = bot.p99 / floor.p99
                rows.append(Row(f"ack p99 {names[kind]}, {clients} client{'s' if clients > 1 else ''}, "
                                f"{ona} Ona", f"{_ms(bot.p99)} ms = {ratio:.2f}× floor {_ms(floor.p99)} ms",
                                f"≤ {P99_RATIO_MAX}× floor", ratio <= P99_RATIO_MAX and bot.failed == 0))
    for kind in ("policies", "approve"):
        floor_max = max((r.rps for r in acks.runs if r.target == "floor" and r.kind == kind), default=0.0)
        for ona in ("fast", "slow"):
            bot_max = max((r.rps for r in acks.runs if r.target == "bot" and r.kind == kind and r.ona == ona),
                          default=0.0)
            share = bot_max / floor_max if floor_max else math.nan
            rows.append(Row(f"saturation acks/s {names[kind]}, {ona} Ona", f"{bot_max:.0f} = {share:.0%} of floor "
                            f"{floor_max:.0f}", f"≥ {THROUGHPUT_MIN:.0%} of floor", share >= THROUGHPUT_MIN))
    rows.append(Row("Store.transition vs raw sqlite3", f"{sql.store:,.0f} vs {sql.raw:,.0f}/s = {sql.ratio:.1%}",
                    f"≥ {STORE_MIN:.0%}", sql.ratio >= STORE_MIN))
    rows.append(Row("approvals opened+approved+executed, end to end", f"{flow.per_second:.1f}/s "
                    f"(open {flow.ms_open:.1f} ms, approve+execute {flow.ms_approve:.1f} ms)"))
    per = ", ".join(f"{mb:.0f}" for mb in acks.rss_hwm_per_process.values())
    rows.append(Row("peak RSS of ona-bot serve under load (Σ VmHWM master+worker)",
                    f"{acks.rss_hwm_mb:.0f} MB ({per}; Σ VmRSS sampled: {acks.rss_sampled_peak_mb:.0f})",
                    f"< {RSS_MAX_MB:.0f} MB", acks.rss_hwm_mb < RSS_MAX_MB))
    rows.append(Row("ready: `ona-bot serve` start → /healthz 200", f"median {median(ready):.2f} s, max "
                    f"{max(ready):.2f} s ({len(ready)} starts)", f"< {READY_MAX_S:.0f} s", max(ready) < READY_MAX_S))
    return rows


def postgres_rows(pg: postgres.PostgresReport) -> list[Row]:
    return [
        Row("PostgresStore.transition vs raw psycopg", f"{pg.store:,.0f} vs {pg.raw:,.0f}/s = {pg.ratio:.1%}",
            f"≥ {STORE_MIN:.0%}", pg.ratio >= STORE_MIN),
        Row("approvals opened+approved+executed on PostgreSQL", f"{pg.approvals_per_second:.1f}/s "
            f"(open {pg.ms_open:.1f} ms, approve+execute {pg.ms_approve:.1f} ms)"),
    ]


def _ms(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds * 1000:.1f}"


def code_version() -> str:
    """The commit measured (and whether bot/ or commands/ differ from it)."""
    import subprocess

    from bench.common import ROOT

    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "bot", "commands"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown (no git)"
    return f"{head or 'unknown'}{' + uncommitted changes in bot/ or commands/' if dirty else ''}"


def machine_line() -> str:
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            kb = int(next(line.split()[1] for line in f if line.startswith("MemTotal")))
            mem = f", {kb / 1024 / 1024:.0f} GB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    return (f"machine: {os.cpu_count()} cores {model}{mem}, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}; {time.strftime('%Y-%m-%d %H:%M %Z')}")


if __name__ == "__main__":
    sys.exit(main())
