"""The SQLite schema as named migrations, each applied once and recorded in the `migrations` table (the
way simonw/llm keeps its own): an ordered list of functions. To change the schema, append a function;
never rename, reorder or edit one that has shipped, as databases record them by name. Another backend
keeps its own list under the same names, so both hold the same schema.

Databases made before migrations were recorded already hold some of these tables and columns: every
migration looks before it creates, so such a database is adopted as it stands and then brought up to date.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

import sqlite_utils

Migration = Callable[[sqlite_utils.Database], None]
MIGRATIONS: list[Migration] = []


def migration(fn: Migration) -> Migration:
    MIGRATIONS.append(fn)
    return fn


@migration
def m001_requests(db: sqlite_utils.Database) -> None:
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


@migration
def m002_deliveries(db: sqlite_utils.Database) -> None:
    db["deliveries"].create({"key": str, "at": float}, pk="key", if_not_exists=True)


@migration
def m003_votes(db: sqlite_utils.Database) -> None:
    db["votes"].create({"request_id": str, "approver_id": str, "team_id": str, "email": str, "at": float},
                       pk=("request_id", "approver_id"), if_not_exists=True)


@migration
def m004_audit(db: sqlite_utils.Database) -> None:
    db["audit"].create({
        "seq": int, "at": str, "team_id": str, "user_id": str, "email": str, "action": str,
        "operation": str, "request_id": str, "params": str, "outcome": str, "prev_hash": str, "hash": str,
    }, pk="seq", if_not_exists=True)


@migration
def m005_audit_keyed_hashes(db: sqlite_utils.Database) -> None:
    # Rows from before keyed hashing keep v NULL (plain SHA-256) and still verify.
    columns = db["audit"].columns_dict
    for name, kind in (("v", int), ("key_id", str)):
        if name not in columns:
            db["audit"].add_column(name, kind)


@migration
def m006_requests_message_state(db: sqlite_utils.Database) -> None:
    if "message_state" not in db["requests"].columns_dict:
        db["requests"].add_column("message_state", str)
        # Messages posted before the column existed were kept up to date by then.
        db.execute("UPDATE requests SET message_state = state WHERE channel IS NOT NULL")


@migration
def m007_requests_kept_secrets(db: sqlite_utils.Database) -> None:
    if "secret_until" not in db["requests"].columns_dict:
        db["requests"].add_column("secret_until", float)


@migration
def m008_banner_windows(db: sqlite_utils.Database) -> None:
    db["banner_windows"].create({
        "id": str, "message": str, "starts_at": float, "ends_at": float, "notes_to": str, "tz": str,
        "state": str, "created_at": float,
    }, pk="id", not_null={"message", "state"}, if_not_exists=True)
    db["banner_windows"].create_index(["state", "starts_at"], if_not_exists=True)


@migration
def m009_undos(db: sqlite_utils.Database) -> None:
    db["undos"].create({
        "id": str, "operation": str, "params": str, "after": str, "team_id": str, "user_id": str,
        "created_at": float, "used": int,
    }, pk="id", not_null={"operation", "params"}, if_not_exists=True)


@migration
def m010_approval_copies(db: sqlite_utils.Database) -> None:
    # Where each approver's direct-message copy of a request was posted, and the state it shows, so a
    # decision updates every copy; `untold`: approvers who got no copy (over the cap, or Slack refused).
    db["approval_copies"].create({
        "request_id": str, "user_id": str, "channel": str, "ts": str, "shown_state": str, "at": float,
    }, pk=("request_id", "user_id"), if_not_exists=True)
    if "untold" not in db["requests"].columns_dict:
        db["requests"].add_column("untold", int)


@migration
def m011_leases(db: sqlite_utils.Database) -> None:
    # Background work runs on one process at a time: the one whose lease row has not expired.
    db["leases"].create({"name": str, "holder": str, "expires_at": float}, pk="name", if_not_exists=True)


def apply(conn: sqlite3.Connection) -> list[str]:
    """Apply, in order, the migrations this database has not recorded; their names. The caller holds
    the write lock (BEGIN IMMEDIATE), so of two processes starting together one migrates, the other
    then finds it done."""
    db = sqlite_utils.Database(conn)
    db["migrations"].create({"name": str, "applied_at": str}, pk="name", if_not_exists=True)
    done = {row[0] for row in conn.execute("SELECT name FROM migrations")}
    applied = []
    for fn in MIGRATIONS:
        if fn.__name__ in done:
            continue
        fn(db)
        conn.execute("INSERT INTO migrations (name, applied_at) VALUES (?, ?)",
                     (fn.__name__, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())))
        applied.append(fn.__name__)
    return applied
