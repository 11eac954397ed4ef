"""Benchmark 2: approval throughput end to end, and Store.transition against raw sqlite3.

End to end: in this process, ApprovalFlow (the bot's own, from build_services) against the emulator
over HTTP and the FakeSlack: Alice opens a banner change, Bob approves it, it executes (re-read, apply,
audit). The banner is toggled each time, so every request really runs (no conflict). Sequential: the
figure is requests per second through one thread, i.e. 1 / latency of a whole approval.

Transitions: pending → approved → executing → succeeded through Store.transition, against a raw
sqlite3 loop doing the same conditional UPDATEs (the same SQL text and parameters) on a database made
by the same Store.migrate (same schema, WAL) with the same connection settings (isolation_level None,
busy_timeout 30 s, synchronous NORMAL), over one connection kept open. Two diagnostics split the gap:
raw sqlite3 opening a connection per UPDATE (as Store first did), and Store while another connection holds
the database open (so closing Store's connection does not checkpoint the WAL).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import APPROVER, REQUESTER, Stack
from bot.approvals.sqlite_store import SqliteStore as Store
from bot.localslack import TEAM_ID

INSERT = ("INSERT INTO requests (id, operation, policy_key, params, before, after, hash, state, requester_team, "
          "requester_id, reason, approvals_needed, approvers, created_at, expires_at, origin, reminded, "
          "updated_at) VALUES (?, 'banner.update', 'banner.update', '{\"enabled\":false}', '{\"enabled\":true}', "
          "'{\"enabled\":false}', ?, 'pending', 'T0ACME', 'U0ALICE', 'bench', 1, '[\"ona:admins\"]', ?, ?, "
          "'{}', 0, ?)")
# What ApprovalFlow passes at each step (approve(), execute()).
STEPS: list[tuple[str, str, dict]] = [
    ("pending", "approved", {"decided_by": "U0BOB", "decided_at": 0.0}),
    ("approved", "executing", {}),
    ("executing", "succeeded", {"result": "Banner off.", "secret_sha256": None, "sealed": None}),
]


@dataclass
class TransitionReport:
    store: float  # transitions per second
    raw: float
    raw_connect_each: float
    store_db_held_open: float
    rows: int

    @property
    def ratio(self) -> float:
        return self.store / self.raw


def _fresh_db(directory: Path, name: str, rows: int, store_class: type[Store] = Store) -> Store:
    path = directory / name
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    store = store_class(path)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        now = time.time()
        conn.execute("BEGIN")
        conn.executemany(INSERT, [(f"R{i:010d}", f"{i:064x}", now, now + 3600, now) for i in range(rows)])
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()  # closed now: a connection left open would change what Store's closes cost
    return store


def _timed(rows: int, budget: float, one: Callable[[str], None]) -> float:
    """Run the three transitions on rows in turn until all are done or the budget is spent; per second."""
    started = time.perf_counter()
    done = 0
    for i in range(rows):
        one(f"R{i:010d}")
        done += len(STEPS)
        if time.perf_counter() - started > budget:
            break
    return done / (time.perf_counter() - started)


def _sql(fields: dict) -> str:
    sets = ", ".join(f"{k} = ?" for k in ("state", "updated_at", *fields))
    return f"UPDATE requests SET {sets} WHERE id = ? AND state IN (?) RETURNING *"


def _raw_step(conn: sqlite3.Connection, request_id: str) -> None:
    for before, after, fields in STEPS:
        values = {**fields, **({"decided_at": time.time()} if "decided_at" in fields else {})}
        rows = conn.execute(_sql(fields), [after, time.time(), *values.values(), request_id, before]).fetchall()
        assert len(rows) == 1


def _open(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout = 30000")
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def transitions(directory: Path, *, rows: int, budget: float) -> TransitionReport:
    def store_step(store: Store) -> Callable[[str], None]:
        def one(request_id: str) -> None:
            for before, after, fields in STEPS:
                values = {**fields, **({"decided_at": time.time()} if "decided_at" in fields else {})}
                assert store.transition(request_id, before, after, **values)
        return one

    store = _fresh_db(directory, "store.db", rows)
    store_rate = _timed(rows, budget, store_step(store))

    raw_db = _fresh_db(directory, "raw.db", rows)
    conn = _open(raw_db.path)
    try:
        raw_rate = _timed(rows, budget, lambda rid: _raw_step(conn, rid))
    finally:
        conn.close()

    each_db = _fresh_db(directory, "raw-each.db", rows)

    def connect_each(request_id: str) -> None:
        for before, after, fields in STEPS:
            c = _open(each_db.path)
            try:
                values = {**fields, **({"decided_at": time.time()} if "decided_at" in fields else {})}
                c.execute(_sql(fields), [after, time.time(), *values.values(), request_id, before]).fetchall()
            finally:
                c.close()

    each_rate = _timed(rows, budget, connect_each)

    held = _fresh_db(directory, "held.db", rows)
    holder = _open(held.path)
    holder.execute("SELECT count(*) FROM requests").fetchone()
    try:
        held_rate = _timed(rows, budget, store_step(held))
    finally:
        holder.close()

    return TransitionReport(store_rate, raw_rate, each_rate, held_rate, rows)


@dataclass
class FlowReport:
    per_second: float
    done: int
    ms_open: float
    ms_approve: float


def end_to_end(stack: Stack, *, budget: float, max_requests: int) -> FlowReport:
    """Requests opened, approved and executed per second through ApprovalFlow (sequential)."""
    rate, done, ms_open, ms_approve = _flow_loop(stack, stack.dir / "flow.db", Store, budget, max_requests)
    return FlowReport(rate, done, ms_open, ms_approve)


def _flow_loop(stack: Stack, db: Path | str, store_class: Callable[[Path | str], Any], budget: float,
               max_requests: int) -> tuple[float, int, float, float]:
    from bot.approvals.flow import ApprovalFlow
    from bot.bootstrap import build_services

    stack.reset_ona()
    services = build_services(stack.settings(db))
    assert services.approvals is not None
    old = services.approvals._flow  # the flow alone, on the store under test: what this bench measures
    flow = ApprovalFlow(store_class(db), old.policy, old.directory, old.operations, old.ona, old.sealer)
    alice = flow.directory.person(TEAM_ID, REQUESTER)
    bob = flow.directory.person(TEAM_ID, APPROVER)
    opening = approving = 0.0
    done = 0
    started = time.perf_counter()
    try:
        while done < max_requests and time.perf_counter() - started < budget:
            enabled = bool(stack.emulator.state.banner.enabled)
            t0 = time.perf_counter()
            request = flow.open(alice, "banner.update", {"enabled": not enabled}, reason="bench",
                                origin={"channel": "C0OPS"})
            t1 = time.perf_counter()
            decision = flow.approve(request.id, bob, request.hash)
            t2 = time.perf_counter()
            if decision.kind != "executed" or decision.request.state != "succeeded":
                raise RuntimeError(f"approval did not run: {decision.kind} {decision.request.state}")
            opening += t1 - t0
            approving += t2 - t1
            done += 1
        elapsed = time.perf_counter() - started
    finally:
        services.ona.close()
    return done / elapsed, done, opening / max(done, 1) * 1000, approving / max(done, 1) * 1000
