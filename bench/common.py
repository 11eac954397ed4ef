"""What every benchmark shares: the local Slack and Ona, server subprocesses, /proc readings, stats."""

from __future__ import annotations

import contextlib
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bot.localslack import DEFAULT_USERS, FakeSlack
from bot.ona.emulator import Emulator
from bot.ona.models import OrganizationRole

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"  # every server and every load stays on loopback
SIGNING_SECRET = "bench-signing-secret"
BOT_TOKEN = "xoxb-bench-token"
APPROVALS_CHANNEL = "C0APPROVALS"
REQUESTER, APPROVER = "U0ALICE", "U0BOB"  # both Ona admins in the emulator's seed
# The load comes from many admins: each person has a work budget of their own (bot/work.py, 10 at once,
# then 1 a second), so fewer senders would measure "busy" answers, not the bot (10 s at ~600/s: 400 people).
PEOPLE = [f"U0P{i:03d}" for i in range(400)]


def person_email(user_id: str) -> str:
    return f"{user_id.lower()}@bench.example"

# The same for the bot and the floor: both go through bot.server.serve_http, which adds
# worker_class=gthread, timeout=30, graceful_timeout=10, keepalive=5, no access log.
WORKERS, THREADS = 1, 8
SERVER_SETTINGS = (f"gunicorn gthread, workers={WORKERS}, threads={THREADS}, keepalive=5 s, timeout=30 s, "
                   "no access log (bot.server.serve_http for both)")

# Every change needs one approval (banner.update included), so `/ona banner off` opens a request.
APPROVAL_POLICY = """
[defaults]
approval = "required"
approvals = 1
requesters = ["ona:admins"]
approvers = ["ona:admins"]
ttl = "1h"
reason = true
# The approvals channel only: with the bench's 400 admins (a device to spread the load), direct messages would
# send each request to 20 of them, a fan-out this bench does not mean to measure.
notify = "channel"
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class Stack:
    """FakeSlack and the Ona emulator, in this process, plus a scratch directory for databases."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="ona-bench-"))
        self.slack = FakeSlack({**DEFAULT_USERS, **{uid: {"name": uid.lower(), "real_name": f"Admin {uid}",
                                                          "email": person_email(uid)} for uid in PEOPLE}}).start()
        self.emulator = Emulator()
        self.emulator.start()
        self.reset_ona()
        self.policy_file = self.dir / "policy.toml"
        self.policy_file.write_text(APPROVAL_POLICY)

    def reset_ona(self) -> None:
        """The emulator back to its seed, with the bench's admins (PEOPLE) as members."""
        self.emulator.reset()
        for uid in PEOPLE:
            self.emulator.add_member(person_email(uid), f"Admin {uid}", role=OrganizationRole.ADMIN.value)

    def close(self) -> None:
        self.emulator.stop()
        self.slack.stop()

    def env(self, db: Path | str) -> dict[str, str]:
        """A clean environment for a server subprocess (nothing inherited that could point elsewhere)."""
        keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")}
        if str(db).startswith("postgresql://"):  # no file beside the database to keep the keys in
            from tests.dbutil import keys_for

            keep.update(keys_for(str(db)))
        return {
            **keep,
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": self.slack.url + "/api",
            "ONA_API_KEY": self.emulator.admin_key,
            "ONA_BASE_URL": self.emulator.base_url,
            "ONA_ORGANIZATION_ID": self.emulator.organization_id,
            "ONA_BOT_DB": str(db),
            "ONA_BOT_APPROVALS_CHANNEL": APPROVALS_CHANNEL,
            "ONA_BOT_POLICY_FILE": str(self.policy_file),
        }

    def settings(self, db: Path | str) -> Any:
        from bot.settings import Settings

        env = self.env(db)
        return Settings(_env_file=None, **{k: v for k, v in env.items() if k.startswith(("SLACK_", "ONA_"))})


def ona_bot_command() -> list[str]:
    script = Path(sys.executable).with_name("ona-bot")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot.cli"]


@dataclass
class Server:
    """A gunicorn server subprocess (master + workers) on loopback."""

    name: str
    argv: Sequence[str]
    env: dict[str, str]
    port: int
    cwd: Path
    log: Path
    proc: subprocess.Popen | None = None
    started: float = 0.0
    ready_after: float | None = None
    _known: set[int] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self, *, ready_timeout: float = 30.0) -> float:
        """Start, poll GET /healthz every 5 ms; return the seconds until it answered 200."""
        out = self.log.open("ab")
        # gunicorn ≥ 25 opens a control socket at $XDG_RUNTIME_DIR/gunicorn.ctl (else ~/.gunicorn/): one
        # directory per server, so the bot and the floor do not share one, and nothing lands in $HOME.
        run_dir = self.cwd / f"run-{self.port}"
        run_dir.mkdir(exist_ok=True)
        env = {**self.env, "XDG_RUNTIME_DIR": str(run_dir)}
        self.started = time.perf_counter()
        # cwd: a scratch directory, so no developer's .env is read.
        self.proc = subprocess.Popen(list(self.argv), env=env, cwd=self.cwd, stdout=out, stderr=out,
                                     start_new_session=True)
        out.close()
        deadline = self.started + ready_timeout
        with httpx.Client(timeout=0.5) as client:
            while time.perf_counter() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self.log}")
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(f"{self.url}/healthz").status_code == 200:
                        self.ready_after = time.perf_counter() - self.started
                        self.pids()  # remember the workers now, to stop them even if the master dies
                        return self.ready_after
                time.sleep(0.005)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer /healthz within {ready_timeout}s; see {self.log}")

    def pids(self) -> list[int]:
        """The master and its descendants (gunicorn workers)."""
        if self.proc is None:
            return []
        found = [self.proc.pid, *descendants(self.proc.pid)]
        self._known.update(found)
        return found

    def peak_rss_mb(self) -> tuple[float, dict[int, float]]:
        """Sum over master + workers of VmHWM (each process's peak resident set), in MB."""
        per = {pid: kb / 1024 for pid in self.pids() if (kb := proc_status_kb(pid, "VmHWM")) is not None}
        return sum(per.values()), per

    def rss_mb(self) -> float:
        return sum((proc_status_kb(pid, "VmRSS") or 0) / 1024 for pid in self.pids())

    def stop(self) -> None:
        """SIGINT (gunicorn's quick shutdown) to the master; SIGKILL to what is left of ours after 5 s."""
        if self.proc is None:
            return
        self.pids()
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)
        for pid in sorted(self._known):
            if pid == self.proc.pid and self.proc.poll() is not None:
                continue
            if _alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        self.proc = None
        self._known.clear()


def bot_server(stack: Stack, db: Path | str, name: str = "ona-bot serve") -> Server:
    port = free_port()
    argv = [*ona_bot_command(), "serve", "--host", HOST, "--port", str(port),
            "--workers", str(WORKERS), "--threads", str(THREADS)]
    return Server(name, argv, stack.env(db), port, stack.dir, stack.dir / "bot.log")


def floor_server(stack: Stack) -> Server:
    port = free_port()
    argv = [sys.executable, "-m", "bench.floor_app", "--port", str(port),
            "--workers", str(WORKERS), "--threads", str(THREADS)]
    return Server("floor", argv, stack.env(stack.dir / "floor-unused.db"), port, stack.dir, stack.dir / "floor.log")


def descendants(pid: int) -> list[int]:
    out: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        children: list[int] = []
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{parent}/task"):
                with contextlib.suppress(OSError), open(f"/proc/{parent}/task/{task}/children") as f:
                    children += [int(c) for c in f.read().split()]
        out += children
        todo += children
    return out


def proc_status_kb(pid: int, key: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


# --- statistics -------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    if not n:
        return math.nan
    return ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2


@dataclass
class Row:
    """One line of the final table."""

    metric: str
    value: str
    target: str = ""
    ok: bool | None = None  # None: a figure without a target

    @property
    def verdict(self) -> str:
        return "" if self.ok is None else ("PASS" if self.ok else "FAIL")

    @property
    def cells(self) -> list[str]:
        return [self.metric, self.value, self.target, self.verdict]


def print_table(rows: Sequence[Sequence[str]], headers: Sequence[str]) -> None:
    cells = [list(headers)] + [list(r) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(headers))]
    line = "+-" + "-+-".join("-" * w for w in widths) + "-+"
    print(line)
    for n, c in enumerate(cells):
        print("| " + " | ".join(c[i].ljust(widths[i]) for i in range(len(headers))) + " |")
        if n == 0:
            print(line)
    print(line)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def variant_server(stack: Stack, db: Path, variant: str, *, workers: int = WORKERS, threads: int = THREADS) -> Server:
    """The bot with one change made in memory (bench/variant.py), for --investigate."""
    port = free_port()
    argv = [sys.executable, "-m", "bench.variant", "--variant", variant, "--port", str(port),
            "--workers", str(workers), "--threads", str(threads)]
    return Server(f"bot[{variant}]", argv, stack.env(db), port, stack.dir, stack.dir / "variant.log")
