"""Experiments for `python -m bench --investigate`: the real bot, served by the real serve_http, with one
thing changed in memory, to measure what a candidate fix buys. Nothing here is used by `make bench`'s
table, and nothing here changes the bot's files.

    python -m bench.variant --variant executor:64  --port P   Bolt's listener_executor with 64 threads
                                                              (Bolt's default is 5)
    python -m bench.variant --variant decoupled:16:256 --port P
        the listener acks, then hands its work to a separate pool of 16 threads with at most 256
        requests waiting; beyond that the user is told "busy" at once. The ack then never waits for
        the work of other requests (or for Ona), and the backlog (memory) is bounded.
    python -m bench.variant --variant pconn --port P
        Store keeps one SQLite connection per thread open (as bot/approvals/store.py now does),
        instead of opening and closing one for every statement.
    python -m bench.variant --variant quiet --port P
        no INFO line per Ona call (loggers httpx and ona.client at WARNING).
    python -m bench.variant --variant nowork --port P
        the listeners ack and return without doing the work: the bot's own ack path, for comparison
        with the floor (its work never gets a reply, so the drain wait gives up).
    python -m bench.variant --variant decoupled:4:64+switch:0.001 --port P
        parts joined by "+"; switch:S sets sys.setswitchinterval(S) (CPython's default is 0.005 s).
"""

from __future__ import annotations

import argparse
import logging
import sqlite3
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from slack_bolt import App

import bot.app
import bot.router
from bot import replies
from bot.server import serve_http
from bot.settings import load_settings


def bigger_listener_executor(threads: int) -> None:
    class PooledApp(App):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("listener_executor", ThreadPoolExecutor(max_workers=threads))
            super().__init__(*args, **kwargs)

    bot.app.App = PooledApp  # build_app looks App up in bot.app when each worker builds the app


def decoupled(threads: int, max_pending: int) -> None:
    guarded, dispatch = bot.app.guarded, bot.router.Router.dispatch
    state: dict[str, Any] = {}
    lock = threading.Lock()

    def submit(ctx: Any, work: Any) -> None:
        with lock:  # created in the worker process, after gunicorn's fork
            if "pool" not in state:
                state["pool"] = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="work")
                state["slots"] = threading.BoundedSemaphore(max_pending)
        if not state["slots"].acquire(blocking=False):
            ctx.reply(replies.info(":hourglass: The bot is busy; please try again in a minute."))
            return

        def run() -> None:
            try:
                work()
            finally:
                state["slots"].release()

        state["pool"].submit(run)

    def guarded_later(ctx: Any, work: Any, *, usage: list[str], mutating: bool) -> None:
        submit(ctx, lambda: guarded(ctx, work, usage=usage, mutating=mutating))

    def dispatch_later(self: Any, ctx: Any, text: str) -> None:
        submit(ctx, lambda: dispatch(self, ctx, text))

    bot.app.guarded = guarded_later
    bot.router.Router.dispatch = dispatch_later


def per_thread_connections() -> None:
    """Store keeps one SQLite connection per thread open instead of one per call (no connect, PRAGMAs,
    schema parse and last-close WAL checkpoint on every statement)."""
    from bot.approvals.sqlite_store import SqliteStore as Store

    local = threading.local()

    @contextmanager
    def connect(self: Store) -> Iterator[sqlite3.Connection]:
        conns = local.__dict__.setdefault("conns", {})
        conn = conns.get(self.path)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA busy_timeout = 30000")
            conn.execute("PRAGMA synchronous = NORMAL")
            conns[self.path] = conn
        yield conn

    Store.connect = connect  # type: ignore[method-assign]


def no_work() -> None:
    """Ack, build the Context, then skip the work: the bot's ack path alone, to compare with the floor."""
    bot.app.guarded = lambda ctx, work, **_: None
    bot.router.Router.dispatch = lambda self, ctx, text: None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.variant")
    parser.add_argument("--variant", required=True,
                        help="none | nowork | pconn | quiet | executor:N | decoupled:THREADS:MAX_PENDING | switch:SECONDS, joined by +")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args(argv)
    for part in args.variant.split("+"):
        name, *numbers = part.split(":")
        if name == "executor":
            bigger_listener_executor(int(numbers[0]))
        elif name == "decoupled":
            decoupled(int(numbers[0]), int(numbers[1]))
        elif name == "quiet":
            # serve_http configures INFO logging; the per-call lines (httpx, ona.client) go
            logging.getLogger("httpx").setLevel(logging.WARNING)
            logging.getLogger("ona.client").setLevel(logging.WARNING)
        elif name == "pconn":
            per_thread_connections()
        elif name == "nowork":
            no_work()
        elif name == "switch":
            sys.setswitchinterval(float(numbers[0]))  # inherited by the forked workers
        elif name != "none":
            parser.error(f"unknown variant {part}")
    return serve_http(load_settings(env_file=None), host=args.host, port=args.port, workers=args.workers,
                      threads=args.threads)


if __name__ == "__main__":
    sys.exit(main())
