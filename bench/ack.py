"""Benchmark 1: ack latency and throughput over HTTP, the bot against the floor, fast and slow Ona.

For each kind of request (`/ona policies`, an Approve click) and each number of concurrent clients
(1, 10, 50), in this order: the floor, the bot with Ona answering at once, the bot with every Ona
call delayed 5 s (emulator fault "*"). The load generator is its own process (bench/load.py), so
neither it nor this process (FakeSlack + emulator) shares a GIL with the servers.

After each bot run the bench waits until every request sent got its reply at its response_url (the
work after the ack is done), so one run's backlog does not slow the next; that wait is reported.
Approve clicks go to real requests: a pool of pending requests is opened before each approve run
through ApprovalService.submit (what `/ona banner off reason: …` runs after its ack), and the
button values are read from the approval messages the bot posted to the FakeSlack. The clicks cycle
through the pool: the first click on a request approves and executes it, later ones find it decided.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slack_bolt.context.respond import Respond

from bench.common import (
    APPROVALS_CHANNEL,
    PEOPLE,
    REQUESTER,
    SIGNING_SECRET,
    Server,
    Stack,
    bot_server,
    floor_server,
    log,
    percentile,
)
from bot.context import Context
from bot.localslack import TEAM_ID

ONA_DELAY = 5.0
ACK_DEADLINE = 3.0  # Slack shows the user an error when the ack takes longer
CLIENT_TIMEOUT = 6.0  # the load generator's read timeout: twice Slack's patience


@dataclass
class Run:
    kind: str  # "policies" | "approve"
    clients: int
    target: str  # "floor" | "bot"
    ona: str  # "fast" | "slow" | "-"
    n: int = 0
    p50: float = float("nan")
    p95: float = float("nan")
    p99: float = float("nan")
    rps: float = 0.0  # acks (HTTP 200) per second
    statuses: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    late: int = 0  # acks slower than Slack's 3 s
    sent: int = 0
    work_rps: float | None = None  # replies (work done after the ack) per second within the window
    drain: float | None = None  # seconds after the load until every request had its reply
    unanswered: int = 0  # requests with no reply when the drain wait gave up
    pool: int = 0
    fresh: int = 0  # clicks that found their request still pending (the others found it decided)

    @property
    def label(self) -> str:
        who = "floor" if self.target == "floor" else f"bot/{self.ona} Ona"
        return f"{self.kind} c={self.clients} {who}"

    @property
    def failed(self) -> int:
        return sum(v for k, v in self.statuses.items() if k != "200") + sum(self.errors.values())


class Pool:
    """Pending approval requests, opened in this process on the bot's database, as the command would."""

    def __init__(self, stack: Stack, db: Path) -> None:
        from bot.bootstrap import build_services

        self.stack = stack
        self.services = build_services(stack.settings(db))
        self._n = itertools.count()

    def make(self, count: int) -> list[str]:
        service = self.services.approvals
        assert service is not None
        url = self.stack.slack.response_url("pool")
        self.stack.emulator.state.banner.enabled = True  # `banner off` must change something to be asked for

        def one(_: int) -> None:
            ctx = Context(self.services, user_id=REQUESTER, team_id=TEAM_ID, channel_id="C0OPS",
                          response_url=url, respond=Respond(response_url=url))
            ctx.reason = f"bench {next(self._n)}"
            service.submit(ctx, "banner.update", {"enabled": False})

        before = len(self._posted())
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(one, range(count)))
        posted = self._posted()[before:]
        values = []
        for message in posted:
            for block in message.get("blocks") or []:
                for element in block.get("elements") or []:
                    if element.get("action_id") == "approval:approve":
                        values.append(element["value"])
        values = list(dict.fromkeys(values))  # one request's button is in the channel and in approvers' copies
        if len(values) != count:
            raise RuntimeError(f"expected {count} approval messages, found {len(values)}")
        return values

    def _posted(self) -> list[dict[str, Any]]:
        return self.stack.slack.calls_to("chat.postMessage")

    def close(self) -> None:
        self.services.ona.close()


def load(server: Server | list[Server], stack: Stack, kind: str, clients: int, duration: float, warmup: float,
         tag: str, values: list[str] | None = None, *, at_start: Callable[[], None] | None = None,
         at_stop: Callable[[], None] | None = None, timeout: float = CLIENT_TIMEOUT) -> dict[str, Any]:
    """Run the load generator (clients spread round-robin over a list of servers); `at_start` and
    `at_stop` are called the moments the measured window opens and closes."""
    start_at = time.monotonic() + 0.5  # the load generator starts in ~0.15 s
    servers = server if isinstance(server, list) else [server]
    spec = {"urls": [s.url for s in servers], "kind": kind, "clients": clients, "duration": duration,
            "warmup": warmup, "secret": SIGNING_SECRET, "slack_url": stack.slack.url, "tag": tag,
            "values": values or [], "timeout": timeout, "start_at": start_at, "people": PEOPLE}
    timers = [threading.Timer(max(0.0, at - time.monotonic()), call)
              for at, call in ((start_at + warmup, at_start), (start_at + warmup + duration, at_stop)) if call]
    for timer in timers:
        timer.start()
    proc = subprocess.Popen([sys.executable, "-m", "bench.load"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=str(Path(__file__).parent.parent))
    try:
        out, err = proc.communicate(json.dumps(spec), timeout=warmup + duration + timeout + 60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for timer in timers:
            timer.join()
    if proc.returncode != 0:
        raise RuntimeError(f"load generator failed: {err[-2000:]}")
    return json.loads(out)


def summarise(run: Run, result: dict[str, Any]) -> Run:
    lat = result["latencies"]
    run.n = len(lat)
    run.p50, run.p95, run.p99 = (percentile(lat, q) for q in (50, 95, 99))
    elapsed = max(result["ended"] - result["window_start"], 1e-9)
    run.rps = result["statuses"].get("200", 0) / elapsed
    run.statuses, run.errors, run.sent = result["statuses"], result["errors"], result["sent"]
    run.late = sum(1 for x in lat if x > ACK_DEADLINE)
    return run


def replies(stack: Stack, tag: str) -> list[float]:
    prefix = f"/response/{tag}-"  # "-" ends the tag: "bot3w" (its warm-up) does not match "bot3"
    with stack.slack._lock:  # the call list is appended to by the FakeSlack's threads
        calls = list(stack.slack.calls)
    return [c.time for c in calls if c.method == "response_url" and c.args.get("_url", "").startswith(prefix)]


def drain(stack: Stack, tag: str, sent: int, *, stall: float = 10.0, cap: float = 90.0) -> tuple[float, int]:
    """Wait until every request sent got its reply; give up after `stall` s without progress."""
    started = last_change = time.monotonic()
    seen = -1
    while True:
        count = len(replies(stack, tag))
        now = time.monotonic()
        if count >= sent:
            return now - started, 0
        if count != seen:
            seen, last_change = count, now
        if now - last_change > stall or now - started > cap:
            return now - started, sent - count
        time.sleep(0.1)


class RssSampler:
    """The largest sum of VmRSS over the bot's processes, sampled every 0.25 s during the load."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> RssSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            self.peak = max(self.peak, self.server.rss_mb())


@dataclass
class AckReport:
    runs: list[Run]
    rss_hwm_mb: float
    rss_hwm_per_process: dict[int, float]
    rss_sampled_peak_mb: float
    smoke: str


def run(stack: Stack, *, duration: float, warmup: float, levels: tuple[int, ...],
        pools: dict[int, int], client_timeout: float = CLIENT_TIMEOUT) -> AckReport:
    db = stack.dir / "bot.db"
    floor = floor_server(stack)
    bot = bot_server(stack, db)
    pool: Pool | None = None
    runs: list[Run] = []
    try:
        floor.start()
        bot.start()
        log(f"floor on {floor.url}, bot on {bot.url}")
        smoke = _smoke(stack, bot)
        pool = Pool(stack, db)
        sampler = RssSampler(bot).start()
        tags = itertools.count(1)
        for kind in ("policies", "approve"):
            for clients in levels:
                tag = f"floor{next(tags)}"
                values = _floor_values(kind)
                load(floor, stack, kind, clients, warmup, 0, tag + "w", values)
                r = summarise(Run(kind, clients, "floor", "-"),
                              load(floor, stack, kind, clients, duration, 0, tag, values))
                runs.append(r)
                log(_line(r))
                for ona in ("fast", "slow"):
                    runs.append(_bot_run(stack, bot, pool, kind, clients, ona, duration, warmup,
                                         f"bot{next(tags)}", pools[clients], client_timeout=client_timeout))
                    log(_line(runs[-1]))
        sampler.stop()
        hwm, per = bot.peak_rss_mb()
        return AckReport(runs, hwm, per, sampler.peak, smoke)
    finally:
        if pool is not None:
            pool.close()
        floor.stop()
        bot.stop()


def _floor_values(kind: str) -> list[str]:
    # The floor only acks; a value of the same shape keeps the payload the same size.
    return ['{"id":"R0123456789","h":"' + "0" * 64 + '"}'] if kind == "approve" else []


def _bot_run(stack: Stack, bot: Server, pool: Pool, kind: str, clients: int, ona: str, duration: float,
             warmup: float, tag: str, pool_size: int, *, expect_replies: bool = True,
             client_timeout: float = CLIENT_TIMEOUT) -> Run:
    stack.slack.reset()
    stack.reset_ona()
    values = pool.make(pool_size) if kind == "approve" else None
    undecided = len(values or [])
    if warmup:
        # Warm up with Ona answering at once (connections, caches), and let that work finish, so a
        # warm-up request cannot straddle the measured window.
        sent = load(bot, stack, kind, clients, warmup, 0, tag + "w", values)["sent"]
        if expect_replies:
            drain(stack, tag + "w", sent)
        if values:  # the measured clicks start with the requests the warm-up did not decide
            cut = min(sent, len(values))
            values, undecided = values[cut:] + values[:cut], len(values) - cut
    recover = None
    if ona == "slow":
        # Every Ona call (any method) answers 5 s late until the measured window closes; then Ona
        # recovers (calls already in their delay still finish late), so the backlog can drain.
        stack.emulator.inject_fault("*", code=None, delay=ONA_DELAY, times=1_000_000)
        recover = stack.emulator.reset
    try:
        result = load(bot, stack, kind, clients, duration, 0, tag, values, at_stop=recover, timeout=client_timeout)
    finally:
        if recover is not None:
            recover()
    r = summarise(Run(kind, clients, "bot", ona, pool=len(values or [])), result)
    r.fresh = min(undecided, r.sent)
    if expect_replies:
        r.drain, r.unanswered = drain(stack, tag, r.sent, stall=ONA_DELAY * 3 if ona == "slow" else 10.0)
    done = replies(stack, tag)
    window = result["window_stop"] - result["window_start"]
    r.work_rps = sum(1 for t in done if result["window_start"] <= t < result["window_stop"]) / window
    return r


def _smoke(stack: Stack, bot: Server) -> str:
    """One real `/ona banner off reason: …` through HTTP: the approval message must be posted."""
    import httpx

    from bot.localslack import SlackPayloads

    stack.slack.reset()
    stack.emulator.state.banner.enabled = True  # the emulator starts with it off: "already off" opens nothing
    url = stack.slack.response_url("smoke")
    body, headers = SlackPayloads(SIGNING_SECRET).slash_command(
        "banner off reason: bench smoke test", user_id=REQUESTER, response_url=url)
    status = httpx.post(f"{bot.url}/slack/events", content=body, headers=headers, timeout=10).status_code
    posted = stack.slack.wait_for("chat.postMessage", lambda a: a.get("channel") == APPROVALS_CHANNEL, timeout=10)
    stack.slack.wait_for("response_url", lambda a: a.get("_url") == "/response/smoke", timeout=10)
    return f"HTTP {status}; approval message posted to {posted[-1]['channel']}"


def _line(r: Run) -> str:
    extra = ""
    if r.target == "bot" and r.drain is not None:
        extra = (f" work={r.work_rps:.0f}/s drain={r.drain:.1f}s"
                 + (f" unanswered={r.unanswered}" if r.unanswered else "") + (f" pool={r.pool} fresh={r.fresh}" if r.pool else ""))
    return (f"{r.label:28} n={r.n:5} p50={r.p50 * 1000:7.1f} p95={r.p95 * 1000:7.1f} p99={r.p99 * 1000:7.1f} ms "
            f"rps={r.rps:6.1f} non-200={r.failed} late={r.late}{extra} {r.statuses}{r.errors or ''}")
