"""Where approval requests, votes, delivery claims and the audit trail are kept: one small interface,
`RequestStore`, for any database, and `open_store` to pick the implementation for a location.

Every guarantee the flow relies on is the store's to keep, on every backend:
- a state change is a compare-and-set on the current state (a double click, a Slack retry or another
  process sharing the database loses cleanly), and returns the row as it now is;
- a vote, a delivery and a reminder are claimed once, whoever asks first;
- the audit trail is appended under a lock, so its hash chain never forks;
- background work (`lease`) runs in one process at a time, and moves on when that one dies;
- a write the database cannot take now (locked past the budget, disk full) raises StoreUnavailable,
  never the driver's own exception.

The model (model.py) and sealing (sealing.py) are re-exported here so older imports keep working;
new code imports them from their own modules.
"""

from __future__ import annotations

from typing import Any, Protocol

from bot.approvals.audit_chain import AuditKey, Head
from bot.approvals.model import (
    APPROVED,
    CANCELLED,
    CONFLICT,
    DENIED,
    DRAFT,
    EXECUTING,
    EXPIRED,
    FAILED,
    FINAL,
    PENDING,
    REDACTED,
    SUCCEEDED,
    BannerWindow,
    Request,
    RequestState,
    Undo,
    canonical,
    new_request_id,
    sha256,
)
from bot.approvals.sealing import SEAL_KEY_SETTING, Sealer, SealKeyMissing, seal_key_file

__all__ = [
    "APPROVED", "CANCELLED", "CONFLICT", "DENIED", "DRAFT", "EXECUTING", "EXPIRED", "FAILED", "FINAL", "PENDING",
    "REDACTED", "SEAL_KEY_SETTING", "SUCCEEDED", "Request", "RequestState", "RequestStore", "SealKeyMissing",
    "Sealer", "StoreUnavailable", "canonical", "new_request_id", "seal_key_file", "sha256",
]

States = set[RequestState] | set[str] | RequestState | str


class StoreUnavailable(Exception):
    """The database cannot take a write now: locked longer than the budget, or its disk is full."""

    def __init__(self, message: str, *, full: bool = False) -> None:
        super().__init__(message)
        self.full = full


class RequestStore(Protocol):
    """The operations the approval flow and its Slack service need, and nothing of SQL."""

    # --- requests ---------------------------------------------------------------------------------

    def create(self, request: Request) -> None: ...

    def get(self, request_id: str) -> Request | None: ...

    def transition(self, request_id: str, from_states: States, to_state: RequestState | str,
                   **fields: Any) -> Request | None:
        """Compare-and-set: move to `to_state` (setting `fields`) only if the request is in one of
        `from_states` now. The updated request, or None when it was not (someone else moved it)."""
        ...

    def update_fields(self, request_id: str, **fields: Any) -> None:
        """Fields that are not state (the channel message's channel and ts): a plain update."""
        ...

    def in_states(self, *states: RequestState | str, limit: int = 200) -> list[Request]: ...

    def unchanged_for(self, state: RequestState | str, seconds: float, limit: int = 200) -> list[Request]:
        """Requests in `state` whose last transition is at least `seconds` old by the database's clock
        (one clock for every process sharing it)."""
        ...

    def by_requester(self, user_id: str, limit: int = 20) -> list[Request]: ...

    def overdue(self, now: float) -> list[Request]: ...

    # --- votes, reminders and deliveries: each claimed once ---------------------------------------

    def add_vote(self, request_id: str, approver_id: str, team_id: str, email: str | None) -> bool: ...

    def votes(self, request_id: str) -> list[dict[str, Any]]: ...


    def claim_reminder(self, request_id: str) -> bool: ...

    def claim_delivery(self, key: str, now: float | None = None) -> bool:
        """True the first time a Slack delivery (or any once-only key) is seen, by any process. Runs
        before Slack's 3-second ack, so it waits briefly, then raises StoreUnavailable."""
        ...

    # --- the channel message and kept secrets -----------------------------------------------------

    def mark_message(self, request_id: str, state: RequestState | str) -> None: ...

    def stale_messages(self, limit: int = 50) -> list[Request]: ...

    def keep_secret(self, request_id: str, sealed: str, until: float) -> bool: ...

    def take_secret(self, request_id: str, requester_id: str, now: float) -> str | None: ...

    def kept_secrets(self, requester_id: str, now: float) -> list[Request]: ...

    def erase_lapsed_secrets(self, now: float) -> int: ...

    # --- banner windows and undos: the bot's own state, not Ona's -----------------------------------

    def add_banner_window(self, window: BannerWindow) -> bool:
        """Store a window once (by its id); False when it is stored already."""
        ...

    def banner_windows(self, *states: str) -> list[BannerWindow]:
        """Windows in these states, soonest first."""
        ...

    def move_banner_window(self, window_id: str, from_states: set[str], to_state: str,
                           ends_at: float | None = None) -> BannerWindow | None:
        """Compare-and-set on the window's state (and its end, when given); the window, or None."""
        ...

    def keep_undo(self, undo: Undo) -> None: ...

    def take_undo(self, undo_id: str, user_id: str) -> Undo | None:
        """The undo offered to this person, marked used in the same step (None if there is none,
        or it was taken already)."""
        ...

    # --- approvers' direct-message copies of a request (notify.py) ---------------------------------

    def add_copy(self, request_id: str, user_id: str, channel: str, ts: str, state: RequestState | str) -> None:
        """One approver's copy was posted at (channel, ts), showing `state`."""
        ...

    def copies(self, request_id: str) -> list[dict[str, Any]]:
        """Every copy of the request: user_id, channel, ts, shown_state."""
        ...

    def mark_copy(self, request_id: str, user_id: str, state: RequestState | str) -> None:
        """This copy now shows `state` (recorded only if the request is still in it)."""
        ...

    def stale_copies(self, limit: int = 50) -> list[Request]:
        """Decided requests with a copy that does not show the decision yet."""
        ...
        ...

    # --- background work on one process at a time -------------------------------------------------

    def lease(self, name: str, holder: str, ttl: float) -> bool:
        """True while `holder` may do the background work `name`: one process at a time, and another
        takes over when that one dies (SQLite: a row that lapses after `ttl` seconds unrenewed;
        PostgreSQL: an advisory lock that ends with the holder's session)."""
        ...

    def close(self) -> None: ...

    # --- the audit trail (chained by audit_chain; read and checked by audit_trail) ----------------

    def audit(self, *, action: str, team_id: str = "", user_id: str = "", email: str | None = None,
              operation: str = "", request_id: str = "", params: dict[str, Any] | None = None,
              outcome: str = "") -> None: ...

    def audit_rows(self, last: int | None = None) -> list[dict[str, Any]]: ...

    def audit_head(self) -> Head | None: ...

    def audit_keys(self, *, create: bool = False) -> list[AuditKey]: ...
