"""The SQLite store's schema as named migrations: recorded once, idempotent on restart, and a database
made by earlier versions of the bot (before migrations were recorded) upgraded in place, data kept."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path

import pytest
import sqlite_utils

from bot.approvals import audit_chain, audit_trail, sqlite_migrations
from bot.approvals.model import APPROVED, PENDING, RequestState
from bot.approvals.sqlite_store import SqliteStore

NAMES = ["m001_requests", "m002_deliveries", "m003_votes", "m004_audit", "m005_audit_keyed_hashes",
         "m006_requests_message_state", "m007_requests_kept_secrets", "m008_banner_windows", "m009_undos",
         "m010_approval_copies", "m011_leases"]

# The schema as the bot made it before migrations were recorded (sqlite_master of such a database).
REQUESTS_COLUMNS = """
   "id" TEXT PRIMARY KEY, "operation" TEXT NOT NULL, "policy_key" TEXT, "params" TEXT, "before" TEXT,
   "after" TEXT, "hash" TEXT NOT NULL, "state" TEXT NOT NULL, "requester_team" TEXT, "requester_id" TEXT,
   "requester_email" TEXT, "reason" TEXT, "approvals_needed" INTEGER, "approvers" TEXT, "created_at" REAL,
   "expires_at" REAL, "origin" TEXT, "channel" TEXT, "ts" TEXT, "decided_by" TEXT, "decided_at" REAL,
   "note" TEXT, "result" TEXT, "secret_sha256" TEXT, "reminded" INTEGER, "sealed" TEXT, "updated_at" REAL"""
AUDIT_COLUMNS = """
   "seq" INTEGER PRIMARY KEY, "at" TEXT, "team_id" TEXT, "user_id" TEXT, "email" TEXT, "action" TEXT,
   "operation" TEXT, "request_id" TEXT, "params" TEXT, "outcome" TEXT, "prev_hash" TEXT, "hash" TEXT"""
COMMON = """
CREATE INDEX "idx_requests_state_expires_at" ON "requests" ("state", "expires_at");
CREATE INDEX "idx_requests_requester_id" ON "requests" ("requester_id");
CREATE TABLE "deliveries" ("key" TEXT PRIMARY KEY, "at" REAL);
CREATE TABLE "votes" ("request_id" TEXT, "approver_id" TEXT, "team_id" TEXT, "email" TEXT, "at" REAL,
   PRIMARY KEY ("request_id", "approver_id"));
"""
# The last release before this change: every column, added over time with add_column.
SCHEMA_LAST = (f'CREATE TABLE "requests" ({REQUESTS_COLUMNS}, "message_state" TEXT, "secret_until" REAL);'
               f'{COMMON}CREATE TABLE "audit" ({AUDIT_COLUMNS}, "v" INTEGER, "key_id" TEXT);')
# An early one: no message state, no kept secrets, plain audit hashes.
SCHEMA_EARLY = f'CREATE TABLE "requests" ({REQUESTS_COLUMNS});{COMMON}CREATE TABLE "audit" ({AUDIT_COLUMNS});'


def request_row(request_id: str, state: str, channel: str | None) -> dict:
    now = time.time()
    return {"id": request_id, "operation": "banner.update", "policy_key": "banner.update",
            "params": '{"enabled":false}', "before": '{"enabled":true}', "after": '{"enabled":false}',
            "hash": "h" * 64, "state": state, "requester_team": "T0ACME", "requester_id": "U0ALICE",
            "requester_email": None, "reason": "tidy", "approvals_needed": 1, "approvers": '["ona:admins"]',
            "created_at": now, "expires_at": now + 3600, "origin": "{}", "channel": channel,
            "ts": "1.0" if channel else None, "reminded": 0, "updated_at": now}


def old_database(path: Path, schema: str) -> None:
    """A database as an earlier bot left it: two requests and a legacy (plain SHA-256) audit row."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(schema)
    db = sqlite_utils.Database(conn)
    db["requests"].insert(request_row("RPOSTED", "succeeded", "C0APPROVALS"))
    db["requests"].insert(request_row("RDRAFT", "draft", None))
    entry = {"at": "2024-01-01T00:00:00Z", "team_id": "T0ACME", "user_id": "U0ALICE", "email": "",
             "action": "direct", "operation": "banner.update", "request_id": "", "params": "{}",
             "outcome": "succeeded", "prev_hash": audit_chain.GENESIS}
    db["audit"].insert({"seq": 1, **entry, "hash": audit_chain.legacy_hash(entry)})
    conn.close()


def recorded(path: Path) -> list[tuple[str, str]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT name, applied_at FROM migrations ORDER BY rowid").fetchall()
    finally:
        conn.close()


def columns(path: Path, table: str) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
    finally:
        conn.close()


def test_a_new_database_records_each_migration_once_and_a_restart_applies_none(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    store = SqliteStore(db)
    first = recorded(db)
    assert [name for name, _ in first] == NAMES
    assert all(applied_at.endswith("Z") for _, applied_at in first)
    assert {"message_state", "secret_until"} <= columns(db, "requests")
    assert {"v", "key_id"} <= columns(db, "audit")
    store.audit(action="direct", user_id="U0ALICE", operation="org.rename", outcome="succeeded")

    again = SqliteStore(db)
    assert again.migrate() == []
    assert recorded(db) == first
    assert len(again.audit_rows()) == 1 and audit_trail.verify(again)[0]


def test_a_migration_added_later_runs_once_at_the_next_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    db = tmp_path / "bot.db"
    SqliteStore(db)
    runs = []

    def m012_requests_label(database: sqlite_utils.Database) -> None:
        runs.append(1)
        database["requests"].add_column("label", str)

    monkeypatch.setattr(sqlite_migrations, "MIGRATIONS", [*sqlite_migrations.MIGRATIONS, m012_requests_label])
    caplog.clear()
    with caplog.at_level("INFO", logger="ona.approvals"):
        SqliteStore(db)
        SqliteStore(db)
    assert runs == [1]
    assert [name for name, _ in recorded(db)] == [*NAMES, "m012_requests_label"]
    # The operator sees what a start changed, once.
    assert [r.getMessage() for r in caplog.records if "migrated" in r.getMessage()] == [
        "database migrated: m012_requests_label"]
    assert "label" in columns(db, "requests")


def test_a_failing_migration_leaves_nothing_half_done(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "bot.db"
    SqliteStore(db)

    def m009_broken(database: sqlite_utils.Database) -> None:
        database["requests"].add_column("label", str)
        raise RuntimeError("half way")

    monkeypatch.setattr(sqlite_migrations, "MIGRATIONS", [*sqlite_migrations.MIGRATIONS, m009_broken])
    with pytest.raises(RuntimeError):
        SqliteStore(db)
    assert "label" not in columns(db, "requests")
    assert [name for name, _ in recorded(db)] == NAMES


def test_processes_starting_together_migrate_once(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    errors: list[BaseException] = []

    def start() -> None:
        try:
            SqliteStore(db)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [name for name, _ in recorded(db)] == NAMES


def test_a_database_of_the_last_release_upgrades_in_place(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    old_database(db, SCHEMA_LAST)
    store = SqliteStore(db)
    assert [name for name, _ in recorded(db)] == NAMES
    posted = store.get("RPOSTED")
    assert posted is not None and posted.state == RequestState.SUCCEEDED
    # Its column existed: a message whose update was still due stays due (not marked as shown).
    assert posted.message_state is None and [r.id for r in store.stale_messages()] == ["RPOSTED"]
    assert store.get("RDRAFT").state == "draft"
    ok, message = audit_trail.verify(store)
    assert ok and "1 rows" in message
    store.audit(action="direct", user_id="U0BOB", operation="org.rename", outcome="succeeded")
    assert audit_trail.verify(store)[0] and store.audit_rows()[-1]["v"] == audit_chain.KEYED


def test_an_early_database_gains_the_later_columns_and_keeps_its_data(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    old_database(db, SCHEMA_EARLY)
    store = SqliteStore(db)
    assert [name for name, _ in recorded(db)] == NAMES
    assert {"message_state", "secret_until"} <= columns(db, "requests")
    assert {"v", "key_id"} <= columns(db, "audit")
    # Messages posted before message_state existed were up to date then; a request never posted has none.
    assert store.get("RPOSTED").message_state == "succeeded" and store.stale_messages() == []
    assert store.get("RDRAFT").message_state is None
    assert store.get("RPOSTED").params == {"enabled": False}
    store.audit(action="direct", user_id="U0BOB", operation="org.rename", outcome="succeeded")
    ok, message = audit_trail.verify(store)
    assert ok and "first 1 rows predate keyed hashing" in message


def test_transition_returns_the_updated_row_and_none_when_it_loses(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    store = SqliteStore(db)
    sqlite_utils.Database(db)["requests"].insert(request_row("RONE", "pending", None))
    moved = store.transition("RONE", PENDING, APPROVED, decided_by="U0BOB", decided_at=5.0)
    assert moved is not None and moved.state == APPROVED and moved.decided_by == "U0BOB"
    assert isinstance(moved.state, RequestState) and json.loads(json.dumps(moved.state)) == "approved"
    assert store.transition("RONE", PENDING, APPROVED, decided_by="U0CAROL") is None
    assert store.get("RONE").decided_by == "U0BOB"
