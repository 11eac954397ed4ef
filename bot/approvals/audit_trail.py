"""The audit trail over any RequestStore: the row a store appends, and checking and exporting what it
holds. The chain itself (keys, hashes, verification) is audit_chain's."""

from __future__ import annotations

import csv
import io
import time
from typing import TYPE_CHECKING, Any

from bot.approvals import audit_chain
from bot.approvals.audit_chain import KEYED, AuditKey, Head, Verdict
from bot.approvals.model import canonical

if TYPE_CHECKING:
    from bot.approvals.store import RequestStore

COLUMNS = ["seq", "at", "team_id", "user_id", "email", "action", "operation", "request_id", "params", "outcome",
           "prev_hash", "hash", "v", "key_id"]


def new_entry(key: AuditKey, *, action: str, team_id: str = "", user_id: str = "", email: str | None = None,
              operation: str = "", request_id: str = "", params: dict[str, Any] | None = None,
              outcome: str = "") -> dict[str, Any]:
    """A row's content, before the store chains it to the last row (`chained`, under its lock)."""
    return {
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "team_id": team_id, "user_id": user_id,
        "email": email or "", "action": action, "operation": operation, "request_id": request_id,
        "params": canonical(params or {}), "outcome": outcome, "v": KEYED, "key_id": key.id,
    }


def chained(entry: dict[str, Any], key: AuditKey, prev_hash: str | None) -> dict[str, Any]:
    """The row to insert after the row whose hash is `prev_hash` (None: the first row)."""
    row = {**entry, "prev_hash": prev_hash or audit_chain.GENESIS}
    row["hash"] = key.row_hash(row)
    return row


def verdict(store: RequestStore, head: Head | None = None) -> Verdict:
    """Recompute the chain; name the first row that was altered or removed (at the end too, given the
    head recorded outside the database)."""
    return audit_chain.verify(store.audit_rows(), store.audit_keys(), head)


def verify(store: RequestStore, head: Head | None = None) -> tuple[bool, str]:
    result = verdict(store, head)
    return result.ok, result.message


def export(store: RequestStore, fmt: str) -> str:
    rows = store.audit_rows()
    if fmt == "jsonl":
        return "".join(canonical(r) + "\n" for r in rows)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
