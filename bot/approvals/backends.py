"""Which store ONA_BOT_DB names: the one place that knows every backend (the flow and the service
only know the RequestStore interface, bot/approvals/store.py). A file path (or ":memory:") is SQLite;
a postgresql:// or postgres:// URL is PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from bot.approvals.dburl import KEYS_ON_POSTGRES, is_postgres_url
from bot.approvals.sealing import Sealer
from bot.approvals.sqlite_store import SqliteStore
from bot.approvals.store import RequestStore


class KeysMissing(ValueError):
    """PostgreSQL without the audit or seal key: each replica would make its own."""


def open_store(location: str | Path, *, audit_key: str | None = None) -> RequestStore:
    if is_postgres_url(location):
        from bot.approvals.pg_store import PostgresStore

        return PostgresStore(str(location), audit_key=audit_key)
    return SqliteStore(location, audit_key=audit_key)


def open_sealer(location: str | Path, *, key: str | None, old_keys: tuple[str, ...] = (),
                legacy: str | None = None) -> Sealer:
    """The sealer for this database: on SQLite the key may live in a file beside it; on PostgreSQL the
    setting is required (KeysMissing)."""
    if is_postgres_url(location):
        if not key:
            raise KeysMissing(KEYS_ON_POSTGRES)
        return Sealer(key, *old_keys, *([legacy] if legacy else []))
    return Sealer.for_database(location, key=key, old_keys=old_keys, legacy=legacy)
