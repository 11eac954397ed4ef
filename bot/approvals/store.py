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
import secrets
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
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
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
BUSY_TIMEOUT_MS = 30_000  # work after the ack may wait this long for another writer
CLAIM_BUDGET = 0.75  # seconds the duplicate-delivery check, before the ack, may wait for a write lock
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
    message_state: str | None = None  # the state the channel message shows (chat.update can fail)
    secret_until: float | None = None  # a result secret kept sealed for the requester until then

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Request:
        data = dict(row)
        for key in ("params", "before", "after", "origin", "approvers"):
            data[key] = json.loads(data[key] or ("[]" if key == "approvers" else "{}"))
        return cls(**data)


SEAL_KEY_SETTING = "ONA_BOT_SEAL_KEY"


class SealKeyMissing(ValueError):
    """A sealed value none of the seal keys at hand can open (the key was rotated without keeping it)."""


def seal_key_file(db_path: str | Path) -> Path:
    return Path(f"{db_path}.seal-key")


class Sealer:
    """Encrypts secret parameters at rest with a key of their own: ONA_BOT_SEAL_KEY, else a key file
    beside the database (`<db>.seal-key`, mode 0600, made on first use). Older keys still open what
    they sealed (MultiFernet): ONA_BOT_SEAL_OLD_KEYS, the key file when a setting replaced it, and the
    key once derived from SLACK_SIGNING_SECRET, so rotating the signing secret loses nothing."""

    def __init__(self, secret: str, *old: str) -> None:
        self._fernet = MultiFernet([_fernet(s) for s in dict.fromkeys((secret, *old)) if s])

    @classmethod
    def for_database(cls, db_path: str | Path, *, key: str | None = None, old_keys: tuple[str, ...] = (),
                     legacy: str | None = None) -> Sealer:
        """`legacy`: the signing secret, whose derived key sealed requests before the seal key existed."""
        if str(db_path) == ":memory:":
            return cls(key or secrets.token_hex(32), *old_keys, *([legacy] if legacy else []))
        from_file = audit_chain.key_from_file(seal_key_file(db_path), create=not key)
        keys = [k.decode() if isinstance(k, bytes) else k for k in (key, from_file) if k]
        return cls(*keys, *old_keys, *([legacy] if legacy else []))

    def seal(self, values: dict[str, Any]) -> str:
        return self._fernet.encrypt(canonical(values).encode()).decode()

    def unseal(self, token: str) -> dict[str, Any]:
        try:
            return json.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken:
            raise SealKeyMissing("sealed parameters cannot be opened with any seal key at hand") from None


def _fernet(secret: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"ona-bot/sealed-params", info=b"v1").derive(
        secret.encode())
    return Fernet(base64.urlsafe_b64encode(key))


class StoreUnavailable(Exception):
    """The database cannot take a write now: locked longer than the budget, or its disk is full."""

    def __init__(self, error: sqlite3.OperationalError) -> None:
        super().__init__(str(error))
        self.full = "full" in str(error).lower()


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
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
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
        requests_columns = db["requests"].columns_dict
        if "message_state" not in requests_columns:  # messages posted before the column are up to date
            db["requests"].add_column("message_state", str)
            conn.execute("UPDATE requests SET message_state = state WHERE channel IS NOT NULL")
        if "secret_until" not in requests_columns:
            db["requests"].add_column("secret_until", float)
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
            except sqlite3.OperationalError as exc:
                raise StoreUnavailable(exc) from None
            finally:
                conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")

    # --- the channel message and kept secrets ---------------------------------------------------

    def mark_message(self, request_id: str, state: str) -> None:
        """The channel message now shows `state` (only if the request is still in it)."""
        with self.connect() as conn:
            conn.execute("UPDATE requests SET message_state = ? WHERE id = ? AND state = ?",
                         (state, request_id, state))

    def stale_messages(self, limit: int = 50) -> list[Request]:
        """Decided requests whose channel message does not show the decision yet."""
        finals = sorted(FINAL)
        marks = ", ".join("?" for _ in finals)
        with self.connect() as conn:
            rows = conn.execute(
                f"SELECT * FROM requests WHERE state IN ({marks}) AND channel IS NOT NULL AND ts IS NOT NULL "
                f"AND (message_state IS NULL OR message_state != state) ORDER BY updated_at LIMIT ?",
                [*finals, limit]).fetchall()
        return [Request.from_row(dict(r)) for r in rows]

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
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT * FROM requests WHERE requester_id = ? AND state = ? AND sealed IS NOT NULL "
                "AND secret_until > ? ORDER BY created_at DESC LIMIT 10", (requester_id, SUCCEEDED, now)).fetchall()
        return [Request.from_row(dict(r)) for r in rows]

    def erase_lapsed_secrets(self, now: float) -> int:
        with self.connect() as conn:
            cursor = conn.execute("UPDATE requests SET sealed = NULL, secret_until = NULL "
                                  "WHERE secret_until IS NOT NULL AND secret_until <= ?", (now,))
            return cursor.rowcount

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
            # Never through a symlink: that would narrow whatever it points at (a device, a shared file).
            if not os.path.islink(name) and os.stat(name).st_mode & 0o077:
                os.chmod(name, 0o600)
        except (FileNotFoundError, PermissionError):
            continue


def new_request_id() -> str:
    return "R" + uuid.uuid4().hex[:10].upper()
