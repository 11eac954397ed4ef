"""The PostgreSQL schema as named migrations: the same names, in the same order, as sqlite_migrations, so
both databases hold the same tables and columns and record the same list in their `migrations` table.
To change the schema, append a function here and its twin there; never rename, reorder or edit one that
has shipped.

Columns keep SQLite's kinds: text, double precision for Unix seconds (SQLite's REAL) and bigint for
integers, so rows read back the same from either database.
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg
from psycopg.rows import tuple_row

Migration = Callable[[psycopg.Connection], None]
MIGRATIONS: list[Migration] = []
# pg_advisory_xact_lock's key for migrating: one replica migrates, the others wait and find it done.
LOCK_KEY = 0x6F6E61_6D6967  # "ona" "mig"


def migration(fn: Migration) -> Migration:
    MIGRATIONS.append(fn)
    return fn


@migration
def m001_requests(conn: psycopg.Connection) -> None:
    conn.execute("""
        CREATE TABLE IF NOT EXISTS requests (
            id text PRIMARY KEY, operation text NOT NULL, policy_key text, params text, before text,
            after text, hash text NOT NULL, state text NOT NULL, requester_team text, requester_id text,
            requester_email text, reason text, approvals_needed bigint, approvers text,
            created_at double precision, expires_at double precision, origin text, channel text, ts text,
            decided_by text, decided_at double precision, note text, result text, secret_sha256 text,
            reminded bigint, sealed text, updated_at double precision)""")
    conn.execute("CREATE INDEX IF NOT EXISTS idx_requests_state_expires_at ON requests (state, expires_at)")
    conn.execute("CREATE INDEX IF NOT EXISTS idx_requests_requester_id ON requests (requester_id)")


@migration
def m002_deliveries(conn: psycopg.Connection) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS deliveries (key text PRIMARY KEY, at double precision)")


@migration
def m003_votes(conn: psycopg.Connection) -> None:
    conn.execute("""
        CREATE TABLE IF NOT EXISTS votes (
            request_id text, approver_id text, team_id text, email text, at double precision,
            PRIMARY KEY (request_id, approver_id))""")


@migration
def m004_audit(conn: psycopg.Connection) -> None:
    conn.execute("""
        CREATE TABLE IF NOT EXISTS audit (
            seq bigint PRIMARY KEY, at text, team_id text, user_id text, email text, action text,
            operation text, request_id text, params text, outcome text, prev_hash text, hash text)""")


@migration
def m005_audit_keyed_hashes(conn: psycopg.Connection) -> None:
    conn.execute("ALTER TABLE audit ADD COLUMN IF NOT EXISTS v bigint, ADD COLUMN IF NOT EXISTS key_id text")


@migration
def m006_requests_message_state(conn: psycopg.Connection) -> None:
    conn.execute("ALTER TABLE requests ADD COLUMN IF NOT EXISTS message_state text")


@migration
def m007_requests_kept_secrets(conn: psycopg.Connection) -> None:
    conn.execute("ALTER TABLE requests ADD COLUMN IF NOT EXISTS secret_until double precision")


@migration
def m008_banner_windows(conn: psycopg.Connection) -> None:
    conn.execute("""
        CREATE TABLE IF NOT EXISTS banner_windows (
            id text PRIMARY KEY, message text NOT NULL, starts_at double precision, ends_at double precision,
            notes_to text, tz text, state text NOT NULL, created_at double precision)""")
    conn.execute("CREATE INDEX IF NOT EXISTS idx_banner_windows_state_starts_at ON banner_windows (state, starts_at)")


@migration
def m009_undos(conn: psycopg.Connection) -> None:
    conn.execute("""
        CREATE TABLE IF NOT EXISTS undos (
            id text PRIMARY KEY, operation text NOT NULL, params text NOT NULL, after text, team_id text,
            user_id text, created_at double precision, used bigint)""")


@migration
def m010_approval_copies(conn: psycopg.Connection) -> None:
    conn.execute("""
        CREATE TABLE IF NOT EXISTS approval_copies (
            request_id text, user_id text, channel text, ts text, shown_state text, at double precision,
            PRIMARY KEY (request_id, user_id))""")
    conn.execute("ALTER TABLE requests ADD COLUMN IF NOT EXISTS untold bigint")


@migration
def m011_leases(conn: psycopg.Connection) -> None:
    # On PostgreSQL the lease itself is an advisory lock held by the sweeping replica's session; this row
    # only says which replica holds it (and, on SQLite, is the lease).
    conn.execute("CREATE TABLE IF NOT EXISTS leases (name text PRIMARY KEY, holder text, "
                 "expires_at double precision)")


def apply(conn: psycopg.Connection) -> list[str]:
    """Apply, in order, the migrations this database has not recorded, in one transaction under an
    advisory lock (DDL is transactional here: a failing migration leaves nothing half done); their names."""
    applied = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        conn.execute("CREATE TABLE IF NOT EXISTS migrations (name text PRIMARY KEY, applied_at text)")
        done = {row[0] for row in conn.cursor(row_factory=tuple_row).execute("SELECT name FROM migrations")}
        for fn in MIGRATIONS:
            if fn.__name__ in done:
                continue
            fn(conn)
            conn.execute("INSERT INTO migrations (name, applied_at) "
                         "VALUES (%s, to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'))",
                         (fn.__name__,))
            applied.append(fn.__name__)
    return applied
