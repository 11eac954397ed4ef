"""SQLite storage of approval requests, votes and the hash-chained audit trail (sqlite-utils, WAL).

The database and its -wal/-shm files are readable by their owner only: the file is made 0600
before SQLite opens it, and SQLite gives its -wal and -shm the database file's mode.

Every state change is one conditional UPDATE (compare-and-set on the current state), so a double
click, a Slack retry or another bot process sharing the file loses cleanly. A connection is opened
per unit of work: Bolt runs listeners on several threads, and a sqlite3 connection belongs to one.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bot.approvals import audit_chain
from bot.approvals.audit_chain import KEYED, AuditKey, Head, Verdict

PENDING, APPROVED, EXECUTING = "pending", "approved", "executing"
SUCCEEDED, FAILED, DENIED, EXPIRED, CANCELLED, CONFLICT = (
    "succeeded", "failed", "denied", "expired", "cancelled", "conflict")
DRAFT = "draft"  # waiting for the requester's reason
FINAL = {SUCCEEDED, FAILED, DENIED, EXPIRED, CANCELLED, CONFLICT}
REDACTED = "«redacted»"
GENESIS = audit_chain.GENESIS
# Now, in Unix seconds, by the database's clock. `updated_at` is written with it and the cut-offs of
# reconciliation compare with it, so every process sharing the file judges a request's age by one clock,
# whatever its own clock says (SQLite 3.40 has no unixepoch('subsec'); julianday keeps the fraction).
DB_NOW = "((julianday('now') - 2440587.5) * 86400.0)"


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Request:
    id: str
    operation: str
    policy_key: str
    params: dict[str, Any]
    before: dict[str, Any]
    after: dict[str, Any]
    hash: str
    state: str
    requester_team: str
    requester_id: str
    requester_email: str | None
    reason: str
    approvals_needed: int
    approvers: list[str]
    created_at: float
    expires_at: float
    origin: dict[str, Any]
    channel: str | None = None
    ts: str | None = None
    decided_by: str | None = None
    decided_at: float | None = None
    note: str | None = None
    result: str | None = None
    secret_sha256: str | None = None
    reminded: int = 0
    sealed: str | None = None
    updated_at: float | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Request:
        data = dict(row)
        for key in ("params", "before", "after", "origin", "approvers"):
            data[key] = json.loads(data[key] or ("[]" if key == "approvers" else "{}"))
        return cls(**data)


class Sealer:
    """Encrypts secret parameters at rest; the key is derived from a secret all bot processes share."""

    def __init__(self, secret: str) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"ona-bot/sealed-params", info=b"v1").derive(
            secret.encode())
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def seal(self, values: dict[str, Any]) -> str:
        return self._fernet.encrypt(canonical(values).encode()).decode()

    def unseal(self, token: str) -> dict[str, Any]:
        try:
            return json.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken:
            raise ValueError("sealed parameters cannot be opened with this key") from None


class Store:
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
        and opening one per statement costs more than the statement (and checkpoints WAL on close)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA busy_timeout = 30000")
            conn.execute("PRAGMA synchronous = NORMAL")
            self._local.conn = conn
        yield conn

    def migrate(self) -> None:
        with self.connect() as conn:
            conn.execute("PRAGMA journal_mode = WAL")
            # One process creates the schema; another starting at the same moment waits, then finds it.
            conn.execute("BEGIN IMMEDIATE")
            try:
                self._create_tables(conn)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    @staticmethod
    def _create_tables(conn: sqlite3.Connection) -> None:
        db = sqlite_utils.Database(conn)
        if "requests" not in db.table_names():
            db["requests"].create({
                "id": str, "operation": str, "policy_key": str, "params": str, "before": str, "after": str,
                "hash": str, "state": str, "requester_team": str, "requester_id": str,
                "requester_email": str, "reason": str, "approvals_needed": int, "approvers": str,
                "created_at": float, "expires_at": float, "origin": str, "channel": str, "ts": str,
                "decided_by": str, "decided_at": float, "note": str, "result": str, "secret_sha256": str,
                "reminded": int, "sealed": str, "updated_at": float,
            }, pk="id", not_null={"operation", "state", "hash"}, if_not_exists=True)
            db["requests"].create_index(["state", "expires_at"], if_not_exists=True)
            db["requests"].create_index(["requester_id"], if_not_exists=True)
        db["deliveries"].create({"key": str, "at": float}, pk="key", if_not_exists=True)
        db["votes"].create({"request_id": str, "approver_id": str, "team_id": str, "email": str, "at": float},
                           pk=("request_id", "approver_id"), if_not_exists=True)
        db["audit"].create({
            "seq": int, "at": str, "team_id": str, "user_id": str, "email": str, "action": str,
            "operation": str, "request_id": str, "params": str, "outcome": str, "prev_hash": str,
            "hash": str, "v": int, "key_id": str,
        }, pk="seq", if_not_exists=True)
        # Databases from before keyed hashing: their rows keep v NULL (plain SHA-256) and still verify.
        columns = db["audit"].columns_dict
        for name, kind in (("v", int), ("key_id", str)):
            if name not in columns:
                db["audit"].add_column(name, kind)

    # --- requests -------------------------------------------------------------------------------

    def create_request(self, request: Request) -> None:
        row = {k: getattr(request, k) for k in Request.__dataclass_fields__}
        for key in ("params", "before", "after", "origin", "approvers"):
            row[key] = canonical(row[key])
        with self.connect() as conn:
            row["updated_at"] = conn.execute(f"SELECT {DB_NOW}").fetchone()[0]
            sqlite_utils.Database(conn)["requests"].insert(row)

    def get(self, request_id: str) -> Request | None:
        with self.connect() as conn:
            row = conn.execute("SELECT * FROM requests WHERE id = ?", (request_id,)).fetchone()
        return Request.from_row(dict(row)) if row else None

    def transition(self, request_id: str, from_states: set[str] | str, to_state: str, **fields: Any) -> bool:
        """Compare-and-set: move to `to_state` only if the request is in one of `from_states` now."""
        states = [from_states] if isinstance(from_states, str) else sorted(from_states)
        sets = {"state": to_state, **fields}
        assignments = ", ".join(f"{k} = ?" for k in sets)
        marks = ", ".join("?" for _ in states)
        with self.connect() as conn:
            cursor = conn.execute(
                f"UPDATE requests SET {assignments}, updated_at = {DB_NOW} WHERE id = ? AND state IN ({marks})",
                [*sets.values(), request_id, *states],
            )
            return cursor.rowcount == 1

    def update_fields(self, request_id: str, **fields: Any) -> None:
        """Fields that are not state (message ts, reminder flag): plain update."""
        assignments = ", ".join(f"{k} = ?" for k in fields)
        with self.connect() as conn:
            conn.execute(f"UPDATE requests SET {assignments} WHERE id = ?", [*fields.values(), request_id])

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

    def in_states(self, *states: str, limit: int = 200) -> list[Request]:
        marks = ", ".join("?" for _ in states)
        with self.connect() as conn:
            rows = conn.execute(
                f"SELECT * FROM requests WHERE state IN ({marks}) ORDER BY created_at DESC LIMIT ?",
                [*states, limit]).fetchall()
        return [Request.from_row(dict(r)) for r in rows]

    def unchanged_for(self, state: str, seconds: float, limit: int = 200) -> list[Request]:
        """Requests in `state` whose last transition is at least `seconds` old by the database's clock."""
        with self.connect() as conn:
            rows = conn.execute(
                f"SELECT * FROM requests WHERE state = ? AND updated_at <= {DB_NOW} - ? "
                "ORDER BY created_at DESC LIMIT ?", (state, seconds, limit)).fetchall()
        return [Request.from_row(dict(r)) for r in rows]

    def by_requester(self, user_id: str, limit: int = 20) -> list[Request]:
        with self.connect() as conn:
            rows = conn.execute("SELECT * FROM requests WHERE requester_id = ? AND state != ? "
                                "ORDER BY created_at DESC LIMIT ?", (user_id, DRAFT, limit)).fetchall()
        return [Request.from_row(dict(r)) for r in rows]

    def overdue(self, now: float) -> list[Request]:
        with self.connect() as conn:
            rows = conn.execute("SELECT * FROM requests WHERE state IN (?, ?, ?) AND expires_at <= ?",
                                (PENDING, APPROVED, DRAFT, now)).fetchall()
        return [Request.from_row(dict(r)) for r in rows]

    def due_for_reminder(self, now: float) -> list[Request]:
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT * FROM requests WHERE state = ? AND reminded = 0 AND channel IS NOT NULL "
                "AND created_at + (expires_at - created_at) / 2 <= ?", (PENDING, now)).fetchall()
        return [Request.from_row(dict(r)) for r in rows]

    def claim_delivery(self, key: str, now: float | None = None) -> bool:
        """True the first time a Slack delivery (trigger_id / event_id) is seen, by any process."""
        now = time.time() if now is None else now
        with self.connect() as conn:
            cursor = conn.execute("INSERT OR IGNORE INTO deliveries (key, at) VALUES (?, ?)", (key, now))
            if cursor.rowcount == 1 and hash(key) % 200 == 0:  # now and then, forget old deliveries
                conn.execute("DELETE FROM deliveries WHERE at < ?", (now - 3600,))
            return cursor.rowcount == 1

    def claim_reminder(self, request_id: str) -> bool:
        """Only one process sends the half-time reminder."""
        with self.connect() as conn:
            cursor = conn.execute("UPDATE requests SET reminded = 1 WHERE id = ? AND reminded = 0 AND state = ?",
                                  (request_id, PENDING))
            return cursor.rowcount == 1

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
        entry: dict[str, Any] = {
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "team_id": team_id, "user_id": user_id,
            "email": email or "", "action": action, "operation": operation, "request_id": request_id,
            "params": canonical(params or {}), "outcome": outcome, "v": KEYED, "key_id": key.id,
        }
        with self.connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                last = conn.execute("SELECT hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
                entry["prev_hash"] = last["hash"] if last else GENESIS
                entry["hash"] = key.row_hash(entry)
                columns = ", ".join(entry)
                conn.execute(f"INSERT INTO audit ({columns}) VALUES ({', '.join('?' for _ in entry)})",
                             list(entry.values()))
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

    def audit_verdict(self, head: Head | None = None) -> Verdict:
        return audit_chain.verify(self.audit_rows(), self.audit_keys(), head)

    def verify_audit(self, head: Head | None = None) -> tuple[bool, str]:
        """Recompute the chain; name the first row that was altered or removed (at the end too, given
        the head recorded outside the database)."""
        verdict = self.audit_verdict(head)
        return verdict.ok, verdict.message

    def export_audit(self, fmt: str) -> str:
        rows = self.audit_rows()
        if fmt == "jsonl":
            return "".join(canonical(r) + "\n" for r in rows)
        out = io.StringIO()
        columns = ["seq", "at", "team_id", "user_id", "email", "action", "operation", "request_id", "params",
                   "outcome", "prev_hash", "hash", "v", "key_id"]
        writer = csv.DictWriter(out, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue()


def _owner_only(path: str) -> None:
    """Make the database file 0600 before SQLite creates it (its -wal and -shm take the same mode);
    an existing one with wider permissions, and its -wal/-shm, are narrowed."""
    if path == ":memory:" or path.startswith("file:"):
        return
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for name in (path, f"{path}-wal", f"{path}-shm"):
        try:
            if os.stat(name).st_mode & 0o077:
                os.chmod(name, 0o600)
        except (FileNotFoundError, PermissionError):
            continue


def new_request_id() -> str:
    return "R" + uuid.uuid4().hex[:10].upper()
