"""Reach into a test's database as an operator (or an attacker) would, whichever backend it is: plain SQL
with `?` marks, on a connection of its own."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from typing import Any

import psycopg
from psycopg.rows import dict_row

from bot.approvals.dburl import is_postgres_url

# The keys a PostgreSQL bot needs (nothing can be kept beside the database).
PG_AUDIT_KEY = "pg-audit-key-for-the-tests-0123456789abcdef"
PG_SEAL_KEY = "pg-seal-key-for-the-tests-0123456789abcdef"


def run_sql(location: str, statement: str, params: tuple[Any, ...] | list[Any] = ()) -> list[dict[str, Any]]:
    if is_postgres_url(location):
        with psycopg.connect(location, autocommit=True, row_factory=dict_row) as conn:
            cursor = conn.execute(statement.replace("?", "%s"), params)
            return cursor.fetchall() if cursor.description else []
    with closing(sqlite3.connect(location, isolation_level=None)) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute(statement, params).fetchall()]


def keys_for(location: str) -> dict[str, str]:
    """The settings a bot on this database needs besides the usual ones."""
    if is_postgres_url(location):
        from tests.secretscan import ARCHIVE

        ARCHIVE.secrets.update({PG_AUDIT_KEY, PG_SEAL_KEY})  # the final scan looks for them everywhere
        return {"ONA_BOT_AUDIT_KEY": PG_AUDIT_KEY, "ONA_BOT_SEAL_KEY": PG_SEAL_KEY}
    return {}
