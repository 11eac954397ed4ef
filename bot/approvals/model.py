"""An approval request as the flow sees it, whatever database keeps it: its fields, its states, and the
canonical text that hashes bind.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class RequestState(StrEnum):
    """str-valued: stored as the plain text, and equal to it (`state == "pending"` holds)."""

    DRAFT = "draft"  # waiting for the requester's reason
    PENDING = "pending"
    APPROVED = "approved"
    EXECUTING = "executing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DENIED = "denied"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    CONFLICT = "conflict"


DRAFT, PENDING, APPROVED, EXECUTING = (RequestState.DRAFT, RequestState.PENDING, RequestState.APPROVED,
                                       RequestState.EXECUTING)
SUCCEEDED, FAILED, DENIED, EXPIRED, CANCELLED, CONFLICT = (
    RequestState.SUCCEEDED, RequestState.FAILED, RequestState.DENIED, RequestState.EXPIRED,
    RequestState.CANCELLED, RequestState.CONFLICT)
FINAL = frozenset({SUCCEEDED, FAILED, DENIED, EXPIRED, CANCELLED, CONFLICT})
REDACTED = "«redacted»"
# The notes of a failed request that tell how it failed (the views pick their words by them).
OUTCOME_UNKNOWN = "outcome unknown"  # failed without proof that nothing changed
NOT_APPLIED = "not applied"  # Ona's state shows it did not run
JSON_FIELDS = ("params", "before", "after", "origin", "approvers")  # stored as canonical JSON text


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def new_request_id() -> str:
    return "R" + uuid.uuid4().hex[:10].upper()


@dataclass
class Request:
    id: str
    operation: str
    policy_key: str
    params: dict[str, Any]
    before: dict[str, Any]
    after: dict[str, Any]
    hash: str
    state: RequestState
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
    message_state: RequestState | None = None  # the state the channel message shows (chat.update can fail)
    secret_until: float | None = None  # a result secret kept sealed for the requester until then
    untold: int | None = None  # approvers sent no direct message about it (over the cap, or Slack refused)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Request:
        data = dict(row)
        for key in JSON_FIELDS:
            data[key] = json.loads(data[key] or ("[]" if key == "approvers" else "{}"))
        data["state"] = RequestState(data["state"])
        if data.get("message_state"):
            data["message_state"] = RequestState(data["message_state"])
        return cls(**data)

    def to_row(self) -> dict[str, Any]:
        """The columns as stored: JSON fields as canonical text, states as their text."""
        row = {k: getattr(self, k) for k in self.__dataclass_fields__}
        for key in JSON_FIELDS:
            row[key] = canonical(row[key])
        for key in ("state", "message_state"):
            row[key] = str(row[key]) if row[key] is not None else None
        return row


def redact(secret_params: tuple[str, ...], params: dict[str, Any]) -> dict[str, Any]:
    """The params as stored, logged, audited and shown: every secret one replaced (the one spelling)."""
    return {k: (REDACTED if k in secret_params else v) for k, v in params.items()}


def split_secrets(secret_params: tuple[str, ...], params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Secret params (an SSO client secret) are sealed apart; the rest is stored and shown."""
    return redact(secret_params, params), {k: v for k, v in params.items() if k in secret_params}


def expected_after(params: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    """The state Ona should be in once the change ran: params for the fields it sets; for a creation
    or a deletion (read returns {"exists": …}) the opposite of before."""
    after = {}
    for key, value in before.items():
        if key in params:
            after[key] = params[key]
        elif key == "exists":
            after[key] = not value
        else:
            after[key] = value
    return after


def request_hash(request_id: str, operation: str, params: dict[str, Any], before: dict[str, Any],
                 reason: str = "") -> str:
    """Binds an approval to this request and exactly what approvers are shown: operation, parameters,
    the state they change and the reason (two requests for the same change still differ)."""
    return sha256(canonical({"id": request_id, "operation": operation, "params": params, "before": before,
                             "reason": reason}))


@dataclass
class BannerWindow:
    """A maintenance window: the banner shows `message` from `starts_at` until `ends_at` (Unix seconds).
    `state`: scheduled → on → done, or cancelled / missed (the bot was not running during it). Notes on
    it go to `notes_to`: the channel where it was asked, or the person (a DM). `tz`: theirs, for words."""

    id: str
    message: str
    starts_at: float
    ends_at: float
    notes_to: str
    tz: str = "UTC"
    state: str = "scheduled"
    created_at: float = 0.0

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> BannerWindow:
        return cls(**{k: row[k] for k in cls.__dataclass_fields__})


@dataclass
class Undo:
    """What puts a change that ran at once back: `params` of `operation`, while Ona still shows `after`.
    Offered to `user_id` only, until `created_at` plus the undo time; `used` once taken."""

    id: str
    operation: str
    params: dict[str, Any]
    after: dict[str, Any]
    team_id: str
    user_id: str
    created_at: float
    used: int = 0

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Undo:
        data = {k: row[k] for k in cls.__dataclass_fields__}
        data["params"], data["after"] = json.loads(data["params"]), json.loads(data["after"])
        return cls(**data)
