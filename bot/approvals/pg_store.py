"""The RequestStore on PostgreSQL (psycopg 3 and its pool): for two or more replicas on one database.

The guarantees are SqliteStore's, kept across processes by the server:
- every state change is one conditional UPDATE … RETURNING (compare-and-set on the current state);
- votes, deliveries and reminders are claimed by INSERT … ON CONFLICT DO NOTHING or a conditional UPDATE;
- the audit trail is appended under a transaction-level advisory lock, so its hash chain never forks;
- `updated_at` is the server's clock, one for every replica;
- a driver error (connection lost, server restarting, disk full, no connection within the budget) leaves
  as StoreUnavailable, never psycopg's own exception, so people are told to try again.

Connections come from psycopg-pool, in autocommit. One that the server closed while it sat idle (a
restart) is noticed before use and the pool is refilled with fresh ones: the bot recovers by itself.
The URL's password is never logged: messages name the database by `mask_url`.
"""

from __future__ import annotations

import hashlib
import logging
import select
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from bot.approvals import audit_chain, audit_trail, pg_migrations
from bot.approvals.audit_chain import AuditKey, Head
from bot.approvals.dburl import mask_url, password_of
from bot.approvals.model import DRAFT, FINAL, PENDING, SUCCEEDED, Request, RequestState
from bot.approvals.pg_local import LocalState
from bot.approvals.store import States, StoreUnavailable

log = logging.getLogger("ona.approvals")

POOL_TIMEOUT = 15.0  # work after the ack waits this long for a connection
STATEMENT_TIMEOUT_MS = 30_000  # and this long for a statement (SQLite's busy timeout)
CLAIM_BUDGET = 0.75  # seconds the duplicate-delivery check, before the ack, may take in all
DB_NOW_TEXT = "extract(epoch from now())::double precision"
DB_NOW = sql.SQL(DB_NOW_TEXT)
AUDIT_LOCK = 0x6F6E61_617564  # pg_advisory_xact_lock's key for appending to the audit trail
CONNECTION = {
    "autocommit": True, "row_factory": dict_row, "connect_timeout": 5,
    "options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
    # A server that vanished without closing the connection (a host lost) is noticed in seconds.
    "keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 3,
    "tcp_user_timeout": 10_000,
}


class PostgresStore(LocalState):
    def __init__(self, url: str, *, audit_key: str | None = None, min_size: int = 1, max_size: int = 10,
                 timeout: float = POOL_TIMEOUT) -> None:
        """`audit_key`: ONA_BOT_AUDIT_KEY, required to write the audit trail (there is no file beside a
        PostgreSQL database to keep one in)."""
        self._url = url
        self.location = mask_url(url)
        self._password = password_of(url)
        self._audit_key_setting = audit_key
        self._lease_lock = threading.Lock()
        self._lease_conn: psycopg.Connection | None = None
        self._leases: set[str] = set()
        self._pool = ConnectionPool(url, min_size=min_size, max_size=max_size, kwargs=CONNECTION, open=False,
                                    name="ona-bot", timeout=timeout, check=self._check_idle)
        try:
            self.migrate()  # on a connection of its own: a server out of reach fails the start at once
            self._pool.open(wait=True, timeout=timeout)
        except psycopg.Error as exc:
            self._pool.close()
            raise StoreUnavailable(f"PostgreSQL at {self.location} cannot be used: {self._scrub(exc)}") from None

    def _scrub(self, exc: BaseException) -> str:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return text.replace(self._password, "***") if self._password else text

    def _check_idle(self, conn: psycopg.Connection) -> None:
        """Before the pool lends a connection: one that heard from the server while idle was closed by it
        (a restart, an administrator); a round trip confirms it, and then the rest of the pool, likely
        closed too, is replaced at once. One that heard nothing costs no round trip."""
        if conn.closed or select.select([conn.fileno()], [], [], 0)[0]:
            try:
                ConnectionPool.check_connection(conn)
            except psycopg.Error:
                self._pool.drain()
                raise

    @contextmanager
    def connect(self, timeout: float | None = None) -> Iterator[psycopg.Connection]:
        """A pooled connection (autocommit, rows as dicts); psycopg's errors leave as StoreUnavailable."""
        try:
            with self._pool.connection(timeout=timeout) as conn:
                yield conn
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            full = isinstance(exc, psycopg.errors.DiskFull)
            raise StoreUnavailable(f"PostgreSQL at {self.location}: {self._scrub(exc)}", full=full) from exc

    def close(self) -> None:
        with self._lease_lock:
            if self._lease_conn is not None:
                self._lease_conn.close()
                self._lease_conn = None
        self._pool.close()

    def migrate(self) -> list[str]:
        """Apply the migrations this database lacks (pg_migrations), once, whoever starts first."""
        with psycopg.connect(self._url, **CONNECTION) as conn:
            applied = pg_migrations.apply(conn)
        if applied:
            log.info("database migrated: %s", ", ".join(applied))
        return applied

    def _select(self, where: str, params: list[Any] | tuple[Any, ...]) -> list[Request]:
        with self.connect() as conn:
            rows = conn.execute(f"SELECT * FROM requests WHERE {where}", _plain(params)).fetchall()
        return [Request.from_row(r) for r in rows]

    # --- requests -------------------------------------------------------------------------------

    def create(self, request: Request) -> None:
        row = request.to_row()
        row.pop("updated_at", None)
        query = sql.SQL("INSERT INTO requests ({}, updated_at) VALUES ({}, {})").format(
            sql.SQL(", ").join(map(sql.Identifier, row)), sql.SQL(", ").join(sql.Placeholder() * len(row)), DB_NOW)
        with self.connect() as conn:
            conn.execute(query, _plain(row.values()))

    def get(self, request_id: str) -> Request | None:
        found = self._select("id = %s", (request_id,))
        return found[0] if found else None

    def transition(self, request_id: str, from_states: States, to_state: RequestState | str,
                   **fields: Any) -> Request | None:
        """Compare-and-set: move to `to_state` only if the request is in one of `from_states` now; the
        updated request, or None."""
        states = [from_states] if isinstance(from_states, str) else sorted(from_states)
        sets = {"state": to_state, **fields}
        query = sql.SQL("UPDATE requests SET {}, updated_at = {} WHERE id = %s AND state = ANY(%s) RETURNING *").format(
            _assignments(sets), DB_NOW)
        with self.connect() as conn:
            row = conn.execute(query, _plain([*sets.values(), request_id, states])).fetchone()
        return Request.from_row(row) if row else None

    def update_fields(self, request_id: str, **fields: Any) -> None:
        query = sql.SQL("UPDATE requests SET {} WHERE id = %s").format(_assignments(fields))
        with self.connect() as conn:
            conn.execute(query, _plain([*fields.values(), request_id]))

    def in_states(self, *states: RequestState | str, limit: int = 200) -> list[Request]:
        return self._select("state = ANY(%s) ORDER BY created_at DESC LIMIT %s", [list(states), limit])

    def unchanged_for(self, state: RequestState | str, seconds: float, limit: int = 200) -> list[Request]:
        return self._select(f"state = %s AND updated_at <= {DB_NOW_TEXT} - %s ORDER BY created_at DESC "
                            "LIMIT %s", (state, seconds, limit))

    def by_requester(self, user_id: str, limit: int = 20) -> list[Request]:
        return self._select("requester_id = %s AND state != %s ORDER BY created_at DESC LIMIT %s",
                            (user_id, DRAFT, limit))

    def overdue(self, now: float) -> list[Request]:
        return self._select("state = ANY(%s) AND expires_at <= %s", ([PENDING, RequestState.APPROVED, DRAFT], now))

    # --- votes, reminders and deliveries --------------------------------------------------------

    def add_vote(self, request_id: str, approver_id: str, team_id: str, email: str | None) -> bool:
        """One vote per (request, approver): a second click adds nothing."""
        with self.connect() as conn:
            cursor = conn.execute("INSERT INTO votes (request_id, approver_id, team_id, email, at) "
                                  "VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                                  (request_id, approver_id, team_id, email, time.time()))
            return cursor.rowcount == 1

    def votes(self, request_id: str) -> list[dict[str, Any]]:
        with self.connect() as conn:
            return conn.execute("SELECT * FROM votes WHERE request_id = %s ORDER BY at", (request_id,)).fetchall()


    def claim_reminder(self, request_id: str) -> bool:
        """Only one replica sends the half-time reminder."""
        with self.connect() as conn:
            cursor = conn.execute("UPDATE requests SET reminded = 1 WHERE id = %s AND reminded = 0 AND state = %s",
                                  (request_id, str(PENDING)))
            return cursor.rowcount == 1

    def claim_delivery(self, key: str, now: float | None = None, *, budget: float = CLAIM_BUDGET) -> bool:
        """True the first time a Slack delivery (trigger_id / event_id) is seen, by any replica. It runs
        before Slack's 3-second ack, so the connection and the statement together get `budget` seconds;
        beyond it StoreUnavailable."""
        now = time.time() if now is None else now
        started = time.monotonic()
        with self.connect(timeout=budget) as conn, conn.transaction():
            left = max(1, int((budget - (time.monotonic() - started)) * 1000))
            conn.execute("SELECT set_config('statement_timeout', %s, true)", (str(left),))
            cursor = conn.execute("INSERT INTO deliveries (key, at) VALUES (%s, %s) ON CONFLICT DO NOTHING", (key, now))
            claimed = cursor.rowcount == 1
            if claimed and hash(key) % 200 == 0:  # now and then, forget old deliveries
                conn.execute("DELETE FROM deliveries WHERE at < %s", (now - 3600,))
        return claimed

    # --- the channel message and kept secrets ---------------------------------------------------

    def mark_message(self, request_id: str, state: RequestState | str) -> None:
        """The channel message now shows `state` (only if the request is still in it)."""
        with self.connect() as conn:
            conn.execute("UPDATE requests SET message_state = %s WHERE id = %s AND state = %s",
                         (str(state), request_id, str(state)))

    def stale_messages(self, limit: int = 50) -> list[Request]:
        """Decided requests whose channel message does not show the decision yet."""
        return self._select("state = ANY(%s) AND channel IS NOT NULL AND ts IS NOT NULL "
                            "AND (message_state IS NULL OR message_state != state) ORDER BY updated_at LIMIT %s",
                            [sorted(FINAL), limit])

    def keep_secret(self, request_id: str, sealed: str, until: float) -> bool:
        """Keep an undelivered result secret (sealed) for its requester to fetch once, until `until`."""
        with self.connect() as conn:
            cursor = conn.execute("UPDATE requests SET sealed = %s, secret_until = %s WHERE id = %s AND state = %s",
                                  (sealed, until, request_id, str(SUCCEEDED)))
            return cursor.rowcount == 1

    def take_secret(self, request_id: str, requester_id: str, now: float) -> str | None:
        """The kept secret, sealed, erased in the same statement: whoever erases it is the one who shows
        it (a second taker waits on the row lock, then finds it gone)."""
        with self.connect() as conn:
            row = conn.execute(
                "UPDATE requests r SET sealed = NULL, secret_until = NULL FROM (SELECT id, sealed FROM requests "
                "WHERE id = %s AND requester_id = %s AND state = %s AND sealed IS NOT NULL AND secret_until > %s "
                "FOR UPDATE) old WHERE r.id = old.id RETURNING old.sealed",
                (request_id, requester_id, str(SUCCEEDED), now)).fetchone()
        return row["sealed"] if row else None

    def kept_secrets(self, requester_id: str, now: float) -> list[Request]:
        return self._select("requester_id = %s AND state = %s AND sealed IS NOT NULL AND secret_until > %s "
                            "ORDER BY created_at DESC LIMIT 10", (requester_id, SUCCEEDED, now))

    def erase_lapsed_secrets(self, now: float) -> int:
        with self.connect() as conn:
            cursor = conn.execute("UPDATE requests SET sealed = NULL, secret_until = NULL "
                                  "WHERE secret_until IS NOT NULL AND secret_until <= %s", (now,))
            return cursor.rowcount

    # --- background work on one replica at a time ------------------------------------------------

    def lease(self, name: str, holder: str, ttl: float) -> bool:
        """True while this store's own session holds the advisory lock named `name`: it is held until
        that session ends (the replica died or lost the server), then the next replica to ask takes it.
        `ttl` is SQLite's; the row in `leases` only tells operators which replica holds it."""
        key = int.from_bytes(hashlib.sha256(f"ona-bot lease {name}".encode()).digest()[:8], "big", signed=True)
        with self._lease_lock:
            try:
                conn = self._lease_conn
                if conn is None or conn.closed:
                    conn = self._lease_conn = psycopg.connect(self._url, **CONNECTION)
                    self._leases.clear()
                if name in self._leases:
                    conn.execute("SELECT 1")  # the session, and so the lock, is still there
                    return True
                if not conn.execute("SELECT pg_try_advisory_lock(%s) AS got", (key,)).fetchone()["got"]:
                    return False
                self._leases.add(name)
                conn.execute(sql.SQL("INSERT INTO leases (name, holder, expires_at) VALUES (%s, %s, NULL) "
                                     "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = NULL"),
                             (name, holder))
                return True
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                if self._lease_conn is not None:
                    self._lease_conn.close()
                self._lease_conn = None
                self._leases.clear()
                raise StoreUnavailable(f"PostgreSQL at {self.location}: {self._scrub(exc)}") from exc

    # --- audit trail ----------------------------------------------------------------------------

    def audit_keys(self, *, create: bool = False) -> list[AuditKey]:
        """The setting's key: on PostgreSQL there is no key file (`create` cannot make one)."""
        if self._audit_key_setting:
            return [AuditKey(self._audit_key_setting.encode(), audit_chain.KEY_SETTING)]
        if create:
            raise ValueError(f"{audit_chain.KEY_SETTING} must be set to write the audit trail on PostgreSQL")
        return []

    def audit(self, *, action: str, team_id: str = "", user_id: str = "", email: str | None = None,
              operation: str = "", request_id: str = "", params: dict[str, Any] | None = None,
              outcome: str = "") -> None:
        """Append one row chained with an HMAC, under an advisory lock held until the commit: two
        replicas appending at once take turns, and each chains to the other's row."""
        key = self.audit_keys(create=True)[0]
        entry = audit_trail.new_entry(key, action=action, team_id=team_id, user_id=user_id, email=email,
                                      operation=operation, request_id=request_id, params=params, outcome=outcome)
        with self.connect() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (AUDIT_LOCK,))
            last = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
            row = {"seq": (last["seq"] if last else 0) + 1,
                   **audit_trail.chained(entry, key, last["hash"] if last else None)}
            conn.execute(sql.SQL("INSERT INTO audit ({}) VALUES ({})").format(
                sql.SQL(", ").join(map(sql.Identifier, row)), sql.SQL(", ").join(sql.Placeholder() * len(row))),
                list(row.values()))

    def audit_rows(self, last: int | None = None) -> list[dict[str, Any]]:
        with self.connect() as conn:
            if last:
                return conn.execute("SELECT * FROM (SELECT * FROM audit ORDER BY seq DESC LIMIT %s) t ORDER BY seq",
                                    (last,)).fetchall()
            return conn.execute("SELECT * FROM audit ORDER BY seq").fetchall()

    def audit_head(self) -> Head | None:
        """The last row's number and hash: what is kept outside the database to catch truncation."""
        with self.connect() as conn:
            row = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        return Head(row["seq"], row["hash"]) if row else None


def _assignments(fields: dict[str, Any]) -> sql.Composed:
    return sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(k)) for k in fields)


def _plain(values: Any) -> list[Any]:
    """States as their text, lists (for = ANY) of them too: what the columns hold."""
    def one(v: Any) -> Any:
        if isinstance(v, Enum):
            return str(v)
        if isinstance(v, list):
            return [one(x) for x in v]
        return v
    return [one(v) for v in values]
