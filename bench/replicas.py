"""Benchmark 4: ack throughput of two `ona-bot serve` replicas against one, on one PostgreSQL database.

PostgreSQL is the tests' own server (tests/pgserver.py, fsync off), started for this bench. One replica
(the real `ona-bot serve` on gunicorn, settings as in bench/ack.py) takes `/ona policies` slash commands
from the load generator (bench/load.py, its own process) at a client count where one replica is
saturated; then a second replica starts on the same database and the same number of clients is spread
round-robin over both (client i keeps one keep-alive connection to replica i mod 2, as a connection-level
load balancer would). Every ack claims its delivery in the shared database (bot/app.py), so both
replicas write to it on every request. Same warm-up and duration for both rows.

During each measured window the bench reads /proc: how busy the whole machine was, and the CPU used by
the replicas, by PostgreSQL, by the load generator plus this process (which runs the FakeSlack and the
Ona emulator), and by everything else ("other": the machine's total less those, e.g. someone's tests).
One replica is one gunicorn worker, one Python process: it cannot use more than about one core. A
second replica helps only as far as there are spare cores to run it on.

`python -m bench.replicas [--quick]` runs this bench alone.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench import ack
from bench.common import Row, Server, Stack, bot_server, descendants, log, print_table
from tests.pgserver import PgServer

TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float | None:
    """utime + stime of one process (all its threads), in seconds; None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICK  # fields 14 and 15 of proc(5), after pid and comm


def _machine() -> tuple[float, float]:
    """(busy, total) seconds of CPU over all cores since boot, from /proc/stat."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:9]]  # user nice system idle iowait irq softirq steal
    idle = values[3] + values[4]
    return (sum(values) - idle) / TICK, sum(values) / TICK


@dataclass
class CpuWindow:
    """CPU used between start() and stop(): the machine's busy share, and cores used per group of processes."""

    groups: dict[str, Callable[[], list[int]]]
    busy: float = 0.0  # share of all cores (0..1)
    cores: dict[str, float] = field(default_factory=dict)  # cores used on average, per group
    _t0: float = 0.0
    _m0: tuple[float, float] = (0.0, 0.0)
    _p0: dict[str, dict[int, float]] = field(default_factory=dict)

    def _read(self) -> dict[str, dict[int, float]]:
        out: dict[str, dict[int, float]] = {}
        for name, pids in self.groups.items():
            out[name] = {pid: s for pid in pids() if (s := _cpu_seconds(pid)) is not None}
        return out

    def start(self) -> None:
        self._t0, self._m0, self._p0 = time.monotonic(), _machine(), self._read()

    def stop(self) -> None:
        elapsed = max(time.monotonic() - self._t0, 1e-9)
        busy, total = _machine()
        self.busy = (busy - self._m0[0]) / max(total - self._m0[1], 1e-9)
        for name, now in self._read().items():
            before = self._p0.get(name, {})
            self.cores[name] = sum(s - before.get(pid, 0.0) for pid, s in now.items()) / elapsed


@dataclass
class ReplicaRun:
    replicas: int
    run: ack.Run
    cpu: CpuWindow
    acked: list[int]  # acks each replica counted itself (its /metrics), for the measured load


def _acks_counted(server: Server) -> int:
    """The replica's own count of acks (ona_bot_ack_seconds), read from its GET /metrics."""
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    return int(sum(sample.value for family in text_string_to_metric_families(text)
                   if family.name == "ona_bot_ack_seconds" for sample in family.samples
                   if sample.name.endswith("_count")))


@dataclass
class ReplicaReport:
    clients: int
    duration: float
    runs: list[ReplicaRun]

    @property
    def ratio(self) -> float:
        one, two = self.runs
        return two.run.rps / one.run.rps if one.run.rps else float("nan")


def _postgres_pids(server: PgServer) -> list[int]:
    try:
        postmaster = int((server.data / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return []
    return [postmaster, *descendants(postmaster)]


def _measure(stack: Stack, servers: list[Server], pg: PgServer, *, clients: int, duration: float,
             warmup: float, tag: str) -> ReplicaRun:
    stack.slack.reset()
    stack.reset_ona()
    ours = lambda: {p for s in servers for p in s.pids()}  # noqa: E731
    cpu = CpuWindow({
        "replicas": lambda: sorted(ours()),
        "PostgreSQL": lambda: _postgres_pids(pg),
        "load generator + FakeSlack/Ona": lambda: [os.getpid(), *(p for p in descendants(os.getpid())
                                                                  if p not in ours())],
    })
    if warmup:
        ack.load(servers, stack, "policies", clients, warmup, 0, tag + "w")
        ack.drain(stack, tag + "w", 10**9, stall=0.5, cap=10)  # until the work admitted has been answered
    before = [_acks_counted(s) for s in servers]
    result = ack.load(servers, stack, "policies", clients, duration, 0, tag, at_start=cpu.start, at_stop=cpu.stop)
    r = ack.summarise(ack.Run("policies", clients, "bot", "fast"), result)
    # Let the work admitted finish (most requests are answered "busy" in their ack: one person's
    # budget), so it does not run into the next row.
    ack.drain(stack, tag, r.sent, stall=1.0, cap=15)
    out = ReplicaRun(len(servers), r, cpu, [_acks_counted(s) - b for s, b in zip(servers, before, strict=True)])
    log(f"{len(servers)} replica(s): {ack._line(r)} acked per replica {out.acked}, machine busy {cpu.busy:.0%}, cores "
        + ", ".join(f"{k} {v:.2f}" for k, v in cpu.cores.items()))
    return out


def run(stack: Stack, *, clients: int, duration: float, warmup: float) -> ReplicaReport:
    pg = PgServer().start()
    servers: list[Server] = []
    try:
        pg.migrate_template()
        url = pg.new_database()
        for n in (1, 2):
            server = bot_server(stack, url, name=f"ona-bot serve (replica {n})")
            server.log = stack.dir / f"replica-{n}.log"
            servers.append(server)
        servers[0].start()
        log(f"replica 1 on {servers[0].url}, PostgreSQL on port {pg.port}")
        one = _measure(stack, servers[:1], pg, clients=clients, duration=duration, warmup=warmup, tag="rep1")
        servers[1].start()
        log(f"replica 2 on {servers[1].url}")
        two = _measure(stack, servers, pg, clients=clients, duration=duration, warmup=warmup, tag="rep2")
    finally:
        for server in servers:
            server.stop()
        pg.stop()
    return ReplicaReport(clients, duration, [one, two])


HEADERS = ("replicas", "clients", "acks per replica", "p50 ms", "p95 ms", "p99 ms", "acks/s", "non-200", ">3 s", "machine busy",
           "cores: replicas", "PostgreSQL", "load gen + fakes", "other")


def print_report(report: ReplicaReport) -> None:
    print(f"Ack throughput of `ona-bot serve` replicas on one PostgreSQL database (`/ona policies`, "
          f"{report.duration:g} s per row, {report.clients} clients spread round-robin over the replicas; "
          f"cores: CPU used on average during the window, of {os.cpu_count()})")
    rows = []
    for rr in report.runs:
        r, cores = rr.run, rr.cpu.cores
        other = rr.cpu.busy * (os.cpu_count() or 1) - sum(cores.values())  # processes not ours (other users)
        rows.append([str(rr.replicas), str(r.clients), " + ".join(map(str, rr.acked)), *(f"{x * 1000:.1f}" for x in (r.p50, r.p95, r.p99)),
                     f"{r.rps:.0f}", str(r.failed), str(r.late), f"{rr.cpu.busy:.0%}",
                     *(f"{v:.2f}" for v in cores.values()), f"{max(other, 0.0):.2f}"])
    print_table(rows, headers=HEADERS)
    print(f"two replicas / one: {report.ratio:.2f}× acks/s")


def summary_row(report: ReplicaReport) -> Row:
    one, two = (rr.run for rr in report.runs)
    return Row(f"ack throughput, two `serve` replicas vs one, PostgreSQL, {report.clients} clients",
               f"{two.rps:.0f} vs {one.rps:.0f} acks/s = {report.ratio:.2f}× (p99 {two.p99 * 1000:.1f} vs "
               f"{one.p99 * 1000:.1f} ms; machine busy {report.runs[1].cpu.busy:.0%} vs {report.runs[0].cpu.busy:.0%})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.replicas", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 s per row at 10 clients instead of 10 s at 20")
    args = parser.parse_args(argv)
    stack = Stack()
    try:
        report = (run(stack, clients=10, duration=2.0, warmup=0.3) if args.quick
                  else run(stack, clients=20, duration=10.0, warmup=1.0))
    finally:
        stack.close()
        shutil.rmtree(stack.dir, ignore_errors=True)
    print_report(report)
    print_table([summary_row(report).cells], headers=("metric", "value", "target", "result"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
