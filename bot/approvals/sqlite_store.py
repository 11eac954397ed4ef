"""The RequestStore on SQLite (WAL): the embedded default, nothing to set up.

The database and its -wal/-shm files are readable by their owner only: the file is made 0600
before SQLite opens it, and SQLite gives its -wal and -shm the database file's mode.

Every state change is one conditional UPDATE … RETURNING (compare-and-set on the current state), so a
double click, a Slack retry or another bot process sharing the file loses cleanly, and the winner gets
the row without reading it again. Each thread keeps one connection: Bolt runs listeners on several
threads, and a sqlite3 connection belongs to one.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import sqlite_utils

from bot.approvals import audit_chain, audit_trail, sqlite_migrations
from bot.approvals.audit_chain import AuditKey, Head
from bot.approvals.model import (
    DRAFT,
    FINAL,
    PENDING,
    SUCCEEDED,
    BannerWindow,
    Request,
    RequestState,
    Undo,
    canonical,
)
from bot.approvals.store import States, StoreUnavailable

log = logging.getLogger("ona.approvals")

BUSY_TIMEOUT_MS = 30_000  # work after the ack may wait this long for another writer
CLAIM_BUDGET = 0.75  # seconds the duplicate-delivery check, before the ack, may wait for a write lock
# Now, in Unix seconds, by the database's clock. `updated_at` is written with it and the cut-offs of
# reconciliation compare with it, so every process sharing the file judges a request's age by one clock,
# whatever its own clock says (SQLite 3.40 has no unixepoch('subsec'); julianday keeps the fraction).
DB_NOW = "((julianday('now') - 2440587.5) * 86400.0)"


class SqliteStore:
    def __init__(self, path: Path | str, *, audit_key: str | None = None) -> None:
        """`audit_key`: ONA_BOT_AUDIT_KEY; without it the key file beside the database is used."""
        self.path = str(path)
        self._local = threading.local()
        self._audit_key_setting = audit_key
        self._audit_keys: list[AuditKey] | None = None
        self._keys_lock = threading.Lock()
        _owner_only(self.path)
        self.migrate()

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection, opened once: a sqlite3 connection belongs to the thread that made it,
        and opening one per statement costs more than the statement (and checkpoints WAL on close).
        SQLite's own errors (locked past the timeout, disk full) leave as StoreUnavailable."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA synchronous = NORMAL")
            self._local.conn = conn
        try:
            yield conn
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(str(exc), full="full" in str(exc).lower()) from exc

    def close(self) -> None:
        """Close this thread's connection (other threads' close with their thread)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def migrate(self) -> list[str]:
        """Apply the migrations this database lacks (sqlite_migrations); their names."""
        with self.connect() as conn:
            _use_wal(conn)
            # One process migrates; another starting at the same moment waits, then finds it done.
            conn.execute("BEGIN IMMEDIATE")
            try:
                applied = sqlite_migrations.apply(conn)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        if applied:
            log.info("database migrated: %s", ", ".join(applied))
        return applied

    def _select(self, where: str, params: list[Any] | tuple[Any, ...]) -> list[Request]:
        with self.connect() as conn:
            rows = conn.execute(f"SELECT * FROM requests WHERE {where}", params).fetchall()
        return [Request.from_row(dict(r)) for r in rows]

    # --- requests -------------------------------------------------------------------------------

    def create(self, request: Request) -> None:
        row = request.to_row()
        with self.connect() as conn:
            row["updated_at"] = conn.execute(f"SELECT {DB_NOW}").fetchone()[0]
            sqlite_utils.Database(conn)["requests"].insert(row)

    def get(self, request_id: str) -> Request | None:
        found = self._select("id = ?", (request_id,))
        return found[0] if found else None

    def transition(self, request_id: str, from_states: States, to_state: RequestState | str,
                   **fields: Any) -> Request | None:
        """Compare-and-set: move to `to_state` only if the request is in one of `from_states` now; the
        updated request, or None."""
        states = [from_states] if isinstance(from_states, str) else sorted(from_states)
        sets = {"state": to_state, **fields}
        assignments = ", ".join(f"{k} = ?" for k in sets)
        marks = ", ".join("?" for _ in states)
        with self.connect() as conn:
            # fetchall: the statement runs to its end, so autocommit releases the write lock now.
            rows = conn.execute(
                f"UPDATE requests SET {assignments}, updated_at = {DB_NOW} WHERE id = ? AND state IN ({marks}) "
                "RETURNING *", [*sets.values(), request_id, *states]).fetchall()
        return Request.from_row(dict(rows[0])) if rows else None

    def update_fields(self, request_id: str, **fields: Any) -> None:
        assignments = ", ".join(f"{k} = ?" for k in fields)
        with self.connect() as conn:
            conn.execute(f"UPDATE requests SET {assignments} WHERE id = ?", [*fields.values(), request_id])

    def in_states(self, *states: RequestState | str, limit: int = 200) -> list[Request]:
        marks = ", ".join("?" for _ in states)
        return self._select(f"state IN ({marks}) ORDER BY created_at DESC LIMIT ?", [*states, limit])

    def unchanged_for(self, state: RequestState | str, seconds: float, limit: int = 200) -> list[Request]:
        return self._select(f"state = ? AND updated_at <= {DB_NOW} - ? ORDER BY created_at DESC LIMIT ?",
                            (state, seconds, limit))

    def by_requester(self, user_id: str, limit: int = 20) -> list[Request]:
        return self._select("requester_id = ? AND state != ? ORDER BY created_at DESC LIMIT ?",
                            (user_id, DRAFT, limit))

    def overdue(self, now: float) -> list[Request]:
        return self._select("state IN (?, ?, ?) AND expires_at <= ?", (PENDING, RequestState.APPROVED, DRAFT, now))

    # --- votes, reminders and deliveries --------------------------------------------------------

    def add_vote(self, request_id: str, approver_id: str, team_id: str, email: str | None) -> bool:
        """One vote per (request, approver): a second click adds nothing."""
        with self.connect() as conn:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO votes (request_id, approver_id, team_id, email, at) VALUES (?, ?, ?, ?, ?)",
                (request_id, approver_id, team_id, email, time.time()))
            return cursor.rowcount == 1

    def votes(self, request_id: str) -> list[dict[str, Any]]:
        with self.connect() as conn:
            rows = conn.execute("SELECT * FROM votes WHERE request_id = ? ORDER BY at", (request_id,)).fetchall()
        return [dict(r) for r in rows]


    def claim_reminder(self, request_id: str) -> bool:
        """Only one process sends the half-time reminder."""
        with self.connect() as conn:
            cursor = conn.execute("UPDATE requests SET reminded = 1 WHERE id = ? AND reminded = 0 AND state = ?",
                                  (request_id, PENDING))
            return cursor.rowcount == 1

    def claim_delivery(self, key: str, now: float | None = None, *, budget: float = CLAIM_BUDGET) -> bool:
        """True the first time a Slack delivery (trigger_id / event_id) is seen, by any process. It runs
        before Slack's 3-second ack, so it waits at most `budget` seconds for a write lock held by
        another connection; beyond it, or on a full disk, StoreUnavailable."""
        now = time.time() if now is None else now
        with self.connect() as conn:
            conn.execute(f"PRAGMA busy_timeout = {int(budget * 1000)}")
            try:
                cursor = conn.execute("INSERT OR IGNORE INTO deliveries (key, at) VALUES (?, ?)", (key, now))
                if cursor.rowcount == 1 and hash(key) % 200 == 0:  # now and then, forget old deliveries
                    conn.execute("DELETE FROM deliveries WHERE at < ?", (now - 3600,))
                return cursor.rowcount == 1
            finally:
                conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")

    # --- the channel message and kept secrets ---------------------------------------------------

    def mark_message(self, request_id: str, state: RequestState | str) -> None:
        """The channel message now shows `state` (only if the request is still in it)."""
        with self.connect() as conn:
            conn.execute("UPDATE requests SET message_state = ? WHERE id = ? AND state = ?",
                         (state, request_id, state))

    def stale_messages(self, limit: int = 50) -> list[Request]:
        """Decided requests whose channel message does not show the decision yet."""
        finals = sorted(FINAL)
        marks = ", ".join("?" for _ in finals)
        return self._select(f"state IN ({marks}) AND channel IS NOT NULL AND ts IS NOT NULL "
                            "AND (message_state IS NULL OR message_state != state) ORDER BY updated_at LIMIT ?",
                            [*finals, limit])

    def keep_secret(self, request_id: str, sealed: str, until: float) -> bool:
        """Keep an undelivered result secret (sealed) for its requester to fetch once, until `until`."""
        with self.connect() as conn:
            cursor = conn.execute("UPDATE requests SET sealed = ?, secret_until = ? WHERE id = ? AND state = ?",
                                  (sealed, until, request_id, SUCCEEDED))
            return cursor.rowcount == 1

    def take_secret(self, request_id: str, requester_id: str, now: float) -> str | None:
        """The kept secret, sealed, erased in the same step: whoever erases it is the one who shows it."""
        with self.connect() as conn:
            row = conn.execute(
                "SELECT sealed FROM requests WHERE id = ? AND requester_id = ? AND state = ? "
                "AND sealed IS NOT NULL AND secret_until > ?", (request_id, requester_id, SUCCEEDED, now)).fetchone()
            if row is None:
                return None
            cursor = conn.execute("UPDATE requests SET sealed = NULL, secret_until = NULL WHERE id = ? AND sealed = ?",
                                  (request_id, row["sealed"]))
            return row["sealed"] if cursor.rowcount == 1 else None

    def kept_secrets(self, requester_id: str, now: float) -> list[Request]:
        return self._select("requester_id = ? AND state = ? AND sealed IS NOT NULL AND secret_until > ? "
                            "ORDER BY created_at DESC LIMIT 10", (requester_id, SUCCEEDED, now))

    def erase_lapsed_secrets(self, now: float) -> int:
        with self.connect() as conn:
            cursor = conn.execute("UPDATE requests SET sealed = NULL, secret_until = NULL "
                                  "WHERE secret_until IS NOT NULL AND secret_until <= ?", (now,))
            return cursor.rowcount

    # --- banner windows and undos ---------------------------------------------------------------

    def add_banner_window(self, window: BannerWindow) -> bool:
        row = {k: getattr(window, k) for k in BannerWindow.__dataclass_fields__}
        with self.connect() as conn:
            cursor = conn.execute(f"INSERT OR IGNORE INTO banner_windows ({', '.join(row)}) "
                                  f"VALUES ({', '.join('?' for _ in row)})", list(row.values()))
            return cursor.rowcount == 1

    def banner_windows(self, *states: str) -> list[BannerWindow]:
        marks = ", ".join("?" for _ in states)
        with self.connect() as conn:
            rows = conn.execute(f"SELECT * FROM banner_windows WHERE state IN ({marks}) ORDER BY starts_at LIMIT 50",
                                states).fetchall()
        return [BannerWindow.from_row(dict(r)) for r in rows]

    def move_banner_window(self, window_id: str, from_states: set[str], to_state: str,
                           ends_at: float | None = None) -> BannerWindow | None:
        marks = ", ".join("?" for _ in from_states)
        with self.connect() as conn:
            rows = conn.execute(
                f"UPDATE banner_windows SET state = ?, ends_at = COALESCE(?, ends_at) WHERE id = ? "
                f"AND state IN ({marks}) RETURNING *", [to_state, ends_at, window_id, *sorted(from_states)]).fetchall()
        return BannerWindow.from_row(dict(rows[0])) if rows else None

    def keep_undo(self, undo: Undo) -> None:
        row = {k: getattr(undo, k) for k in Undo.__dataclass_fields__}
        row["params"], row["after"] = canonical(row["params"]), canonical(row["after"])
        with self.connect() as conn:
            if hash(undo.id) % 50 == 0:  # now and then, forget undos nobody can use any more
                conn.execute("DELETE FROM undos WHERE created_at < ?", (undo.created_at - 86_400,))
            conn.execute(f"INSERT INTO undos ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})",
                         list(row.values()))

    def take_undo(self, undo_id: str, user_id: str) -> Undo | None:
        with self.connect() as conn:
            rows = conn.execute("UPDATE undos SET used = 1 WHERE id = ? AND user_id = ? AND used = 0 RETURNING *",
                                (undo_id, user_id)).fetchall()
        return Undo.from_row(dict(rows[0])) if rows else None

    # --- approvers' direct-message copies -------------------------------------------------------

    def add_copy(self, request_id: str, user_id: str, channel: str, ts: str, state: RequestState | str) -> None:
        with self.connect() as conn:
            conn.execute("INSERT OR REPLACE INTO approval_copies (request_id, user_id, channel, ts, shown_state, at) "
                         "VALUES (?, ?, ?, ?, ?, ?)", (request_id, user_id, channel, ts, str(state), time.time()))

    def copies(self, request_id: str) -> list[dict[str, Any]]:
        with self.connect() as conn:
            rows = conn.execute("SELECT user_id, channel, ts, shown_state FROM approval_copies WHERE request_id = ? "
                                "ORDER BY at", (request_id,)).fetchall()
        return [dict(r) for r in rows]

    def mark_copy(self, request_id: str, user_id: str, state: RequestState | str) -> None:
        with self.connect() as conn:
            conn.execute("UPDATE approval_copies SET shown_state = ? WHERE request_id = ? AND user_id = ? "
                         "AND (SELECT state FROM requests WHERE id = ?) = ?",
                         (str(state), request_id, user_id, request_id, str(state)))

    def stale_copies(self, limit: int = 50) -> list[Request]:
        finals = sorted(FINAL)
        marks = ", ".join("?" for _ in finals)
        return self._select(f"state IN ({marks}) AND id IN (SELECT c.request_id FROM approval_copies c "
                            "WHERE c.request_id = requests.id AND (c.shown_state IS NULL OR c.shown_state != "
                            "requests.state)) ORDER BY updated_at LIMIT ?", [*finals, limit])

    # --- background work on one process at a time ------------------------------------------------

    def lease(self, name: str, holder: str, ttl: float) -> bool:
        """True when `holder` holds the lease `name` for the next `ttl` seconds: it held it already (the
        expiry moves on), or the last holder let it lapse (that process stopped renewing: it died)."""
        with self.connect() as conn:
            row = conn.execute(
                f"INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, {DB_NOW} + ?) "
                "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at "
                f"WHERE leases.holder = excluded.holder OR leases.expires_at <= {DB_NOW} RETURNING holder",
                (name, holder, ttl)).fetchall()
        return bool(row)

    # --- audit trail ----------------------------------------------------------------------------

    def audit_keys(self, *, create: bool = False) -> list[AuditKey]:
        """The writing key first; `create` makes the key file when no key is set (the first write)."""
        with self._keys_lock:
            if self._audit_keys is None or (create and not self._audit_keys):
                self._audit_keys = audit_chain.keyring(self.path, self._audit_key_setting, create=create) or None
            return list(self._audit_keys or [])

    def audit(self, *, action: str, team_id: str = "", user_id: str = "", email: str | None = None,
              operation: str = "", request_id: str = "", params: dict[str, Any] | None = None,
              outcome: str = "") -> None:
        """Append one row chained with an HMAC. BEGIN IMMEDIATE serialises writers across processes."""
        key = self.audit_keys(create=True)[0]
        entry = audit_trail.new_entry(key, action=action, team_id=team_id, user_id=user_id, email=email,
                                      operation=operation, request_id=request_id, params=params, outcome=outcome)
        with self.connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                last = conn.execute("SELECT hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
                row = audit_trail.chained(entry, key, last["hash"] if last else None)
                conn.execute(f"INSERT INTO audit ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})",
                             list(row.values()))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def audit_rows(self, last: int | None = None) -> list[dict[str, Any]]:
        with self.connect() as conn:
            if last:
                rows = conn.execute("SELECT * FROM (SELECT * FROM audit ORDER BY seq DESC LIMIT ?) ORDER BY seq",
                                    (last,)).fetchall()
            else:
                rows = conn.execute("SELECT * FROM audit ORDER BY seq").fetchall()
        return [dict(r) for r in rows]

    def audit_head(self) -> Head | None:
        """The last row's number and hash: what is kept outside the database to catch truncation."""
        with self.connect() as conn:
            row = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        return Head(row["seq"], row["hash"]) if row else None


def _use_wal(conn: sqlite3.Connection) -> None:
    """Switch the database to WAL. This pragma does not wait on the busy timeout: another process opening
    the same new file at that moment makes it fail at once ("database is locked"), so it is tried again
    for as long as the busy timeout would have waited."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _owner_only(path: str) -> None:
    """Make the database file 0600 before SQLite creates it (its -wal and -shm take the same mode);
    an existing one with wider permissions, and its -wal/-shm, are narrowed."""
    if path == ":memory:" or path.startswith("file:"):
        return
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for name in (path, f"{path}-wal", f"{path}-shm"):
        try:
            # Never through a symlink: that would narrow whatever it points at (a device, a shared file).
            if not os.path.islink(name) and os.stat(name).st_mode & 0o077:
                os.chmod(name, 0o600)
        except (FileNotFoundError, PermissionError):
            continue
