"""Which store ONA_BOT_DB names: the one place that knows every backend (the flow and the service
only know the RequestStore interface, bot/approvals/store.py)."""

from __future__ import annotations

from pathlib import Path

from bot.approvals.sqlite_store import SqliteStore
from bot.approvals.store import RequestStore


def open_store(location: str | Path, *, audit_key: str | None = None) -> RequestStore:
    """A file path (or ":memory:") is SQLite, the only backend so far."""
    return SqliteStore(location, audit_key=audit_key)
