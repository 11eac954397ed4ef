"""Benchmark 3: the store on PostgreSQL, against raw psycopg doing the same statements, and approvals
opened + approved + executed per second through ApprovalFlow on PostgreSQL.

The server is the tests' own (tests/pgserver.py: initdb in a scratch directory, a free loopback port,
fsync off as in the tests). Transitions: pending → approved → executing → succeeded through
PostgresStore.transition (a pooled connection per call, checked for a restart before use), against one
psycopg connection kept open running the very same UPDATE … RETURNING text with the same parameters, in
autocommit, rows as dicts. End to end: bench/approvals.py's loop, with the store on PostgreSQL.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from psycopg import sql

from bench.approvals import STEPS, _flow_loop, _timed
from bench.common import Stack
from bot.approvals import pg_store
from bot.approvals.pg_store import PostgresStore
from tests.dbutil import PG_AUDIT_KEY
from tests.pgserver import PgServer

INSERT = ("INSERT INTO requests (id, operation, policy_key, params, before, after, hash, state, requester_team, "
          "requester_id, reason, approvals_needed, approvers, created_at, expires_at, origin, reminded, updated_at) "
          "SELECT 'R' || lpad(i::text, 10, '0'), 'banner.update', 'banner.update', '{\"enabled\":false}', "
          "'{\"enabled\":true}', '{\"enabled\":false}', md5(i::text), 'pending', 'T0ACME', 'U0ALICE', 'bench', 1, "
          "'[\"ona:admins\"]', %s, %s, '{}', 0, %s FROM generate_series(0, %s) AS i")


@dataclass
class PostgresReport:
    store: float  # transitions per second
    raw: float
    approvals_per_second: float
    ms_open: float
    ms_approve: float

    @property
    def ratio(self) -> float:
        return self.store / self.raw


def _fill(server: PgServer, rows: int) -> str:
    url = server.new_database()
    now = time.time()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(INSERT, (now, now + 3600, now, rows - 1))
        conn.execute("VACUUM ANALYZE requests")
    return url


def _store_step(store: PostgresStore) -> Callable[[str], None]:
    def one(request_id: str) -> None:
        for before, after, fields in STEPS:
            values = {**fields, **({"decided_at": time.time()} if "decided_at" in fields else {})}
            assert store.transition(request_id, before, after, **values)
    return one


def _raw_step(conn: psycopg.Connection) -> Callable[[str], None]:
    """What PostgresStore.transition sends, on one connection kept open."""
    def one(request_id: str) -> None:
        for before, after, fields in STEPS:
            values = {**fields, **({"decided_at": time.time()} if "decided_at" in fields else {})}
            sets = {"state": after, **values}
            query = sql.SQL("UPDATE requests SET {}, updated_at = {} WHERE id = %s AND state = ANY(%s) "
                            "RETURNING *").format(pg_store._assignments(sets), pg_store.DB_NOW)
            assert conn.execute(query, [*sets.values(), request_id, [before]]).fetchone()
    return one


def run(stack: Stack, *, rows: int, budget: float, flow_budget: float, max_requests: int) -> PostgresReport:
    server = PgServer().start()
    try:
        server.migrate_template()
        store = PostgresStore(_fill(server, rows))
        try:
            store_rate = _timed(rows, budget, _store_step(store))
        finally:
            store.close()
        with psycopg.connect(_fill(server, rows), **pg_store.CONNECTION) as conn:
            raw_rate = _timed(rows, budget, _raw_step(conn))
        url = server.new_database()
        rate, _, ms_open, ms_approve = _flow_loop(stack, url, lambda _: PostgresStore(url, audit_key=PG_AUDIT_KEY),
                                                  flow_budget, max_requests)
    finally:
        server.stop()
    return PostgresReport(store_rate, raw_rate, rate, ms_open, ms_approve)
