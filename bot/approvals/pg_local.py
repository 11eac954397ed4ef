"""The bot's own state on PostgreSQL, besides requests and the audit trail: banner windows, undos and the
approvers' direct-message copies of a request (PostgresStore's part of RequestStore for them)."""

from __future__ import annotations

import time
from contextlib import AbstractContextManager
from dataclasses import asdict
from typing import Any

import psycopg
from psycopg import sql

from bot.approvals.model import FINAL, BannerWindow, Request, RequestState, Undo, canonical


class LocalState:
    """Mixed into PostgresStore, which provides `connect` and `_select`."""

    def connect(self, timeout: float | None = None) -> AbstractContextManager[psycopg.Connection]:
        raise NotImplementedError

    def _select(self, where: str, params: list[Any] | tuple[Any, ...]) -> list[Request]:
        raise NotImplementedError

    # --- banner windows and undos: the bot's own state, not Ona's ---------------------------------

    def _insert(self, conn: psycopg.Connection, table: str, row: dict[str, Any], *, once: bool = False) -> int:
        query = sql.SQL("INSERT INTO {} ({}) VALUES ({})" + (" ON CONFLICT DO NOTHING" if once else "")).format(
            sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, row)),
            sql.SQL(", ").join(sql.Placeholder() * len(row)))
        return conn.execute(query, list(row.values())).rowcount

    def add_banner_window(self, window: BannerWindow) -> bool:
        with self.connect() as conn:
            return self._insert(conn, "banner_windows", asdict(window), once=True) == 1

    def banner_windows(self, *states: str) -> list[BannerWindow]:
        with self.connect() as conn:
            rows = conn.execute("SELECT * FROM banner_windows WHERE state = ANY(%s) ORDER BY starts_at LIMIT 50",
                                (list(states),)).fetchall()
        return [BannerWindow.from_row(r) for r in rows]

    def move_banner_window(self, window_id: str, from_states: set[str], to_state: str,
                           ends_at: float | None = None) -> BannerWindow | None:
        with self.connect() as conn:
            row = conn.execute("UPDATE banner_windows SET state = %s, ends_at = COALESCE(%s, ends_at) "
                               "WHERE id = %s AND state = ANY(%s) RETURNING *",
                               (to_state, ends_at, window_id, sorted(from_states))).fetchone()
        return BannerWindow.from_row(row) if row else None

    def keep_undo(self, undo: Undo) -> None:
        row = asdict(undo)
        row["params"], row["after"] = canonical(row["params"]), canonical(row["after"])
        with self.connect() as conn:
            if hash(undo.id) % 50 == 0:  # now and then, forget undos nobody can use any more
                conn.execute("DELETE FROM undos WHERE created_at < %s", (undo.created_at - 86_400,))
            self._insert(conn, "undos", row)

    def take_undo(self, undo_id: str, user_id: str) -> Undo | None:
        with self.connect() as conn:
            row = conn.execute("UPDATE undos SET used = 1 WHERE id = %s AND user_id = %s AND used = 0 RETURNING *",
                               (undo_id, user_id)).fetchone()
        return Undo.from_row(row) if row else None

    # --- approvers' direct-message copies -------------------------------------------------------

    def add_copy(self, request_id: str, user_id: str, channel: str, ts: str, state: RequestState | str) -> None:
        with self.connect() as conn:
            conn.execute("INSERT INTO approval_copies (request_id, user_id, channel, ts, shown_state, at) "
                         "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (request_id, user_id) DO UPDATE SET "
                         "channel = excluded.channel, ts = excluded.ts, shown_state = excluded.shown_state, "
                         "at = excluded.at", (request_id, user_id, channel, ts, str(state), time.time()))

    def copies(self, request_id: str) -> list[dict[str, Any]]:
        with self.connect() as conn:
            return conn.execute("SELECT user_id, channel, ts, shown_state FROM approval_copies "
                                "WHERE request_id = %s ORDER BY at", (request_id,)).fetchall()

    def mark_copy(self, request_id: str, user_id: str, state: RequestState | str) -> None:
        """This copy now shows `state` (only if the request is still in it)."""
        with self.connect() as conn:
            conn.execute("UPDATE approval_copies SET shown_state = %s WHERE request_id = %s AND user_id = %s "
                         "AND (SELECT state FROM requests WHERE id = %s) = %s",
                         (str(state), request_id, user_id, request_id, str(state)))

    def stale_copies(self, limit: int = 50) -> list[Request]:
        return self._select("state = ANY(%s) AND id IN (SELECT c.request_id FROM approval_copies c "
                            "WHERE c.request_id = requests.id AND (c.shown_state IS NULL OR c.shown_state != "
                            "requests.state)) ORDER BY updated_at LIMIT %s", [sorted(FINAL), limit])

