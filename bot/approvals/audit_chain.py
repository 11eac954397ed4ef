"""What makes the audit trail trustworthy: rows keyed with a secret of their own, checked as a chain.

A row's hash is an HMAC of its content and the previous row's hash, with the audit key: whoever can
write the database but does not hold the key cannot make an edited row verify again. Rows written
before keyed hashing (version 1) carry a plain SHA-256 and still verify; after the first keyed row,
a plain one means the trail was rewritten. Truncation leaves a valid chain behind, so the head (row
count and last hash) is also kept outside the database (see checkpoint.py) and `verify --head`
compares against it.

The key is ONA_BOT_AUDIT_KEY when set, else a file beside the database (`<db>.audit-key`, mode 0600)
made on the first write. It is never logged nor stored in the database: rows hold only its ID, an
HMAC of a constant, so that a verifier holding two keys knows which one a row needs.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GENESIS = "0" * 64
LEGACY, KEYED = 1, 2
CONTENT = ("at", "team_id", "user_id", "email", "action", "operation", "request_id", "params", "outcome")
KEY_SETTING = "ONA_BOT_AUDIT_KEY"
_HEAD = re.compile(r"^(\d+):([0-9a-f]{16,64})$")


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


class AuditKey:
    """One HMAC key; `source` says where it came from (never the key itself)."""

    def __init__(self, secret: bytes, source: str) -> None:
        if not secret:
            raise ValueError("the audit key is empty")
        self._secret = secret
        self.source = source
        self.id = hmac.new(secret, b"ona-bot audit key id", hashlib.sha256).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"AuditKey(id={self.id!r}, source={self.source!r})"

    def row_hash(self, row: dict[str, Any]) -> str:
        return hmac.new(self._secret, _canonical(keyed_content(row)).encode(), hashlib.sha256).hexdigest()


def legacy_content(row: dict[str, Any]) -> dict[str, Any]:
    return {**{k: row[k] for k in CONTENT}, "prev_hash": row["prev_hash"]}


def keyed_content(row: dict[str, Any]) -> dict[str, Any]:
    return {**legacy_content(row), "v": KEYED, "key_id": row["key_id"]}


def legacy_hash(row: dict[str, Any]) -> str:
    """Version 1: SHA-256 of the previous hash and the content, which anyone can recompute."""
    return hashlib.sha256((row["prev_hash"] + _canonical(legacy_content(row))).encode()).hexdigest()


# --- where the key comes from ---------------------------------------------------------------------


def key_file(db_path: str | Path) -> Path:
    return Path(f"{db_path}.audit-key")


def keyring(db_path: str | Path, configured: str | None, *, create: bool) -> list[AuditKey]:
    """The writing key first (the setting, else the key file), then any other key found, for verifying
    rows written before the setting was introduced. `create` makes the key file when nothing is set."""
    keys: list[AuditKey] = []
    if configured:
        keys.append(AuditKey(configured.encode(), KEY_SETTING))
    if str(db_path) == ":memory:":  # no file to put a key beside; the rows die with the process
        return keys or [AuditKey(secrets.token_bytes(32), "this process")]
    path = key_file(db_path)
    secret = _read_key_file(path)
    if secret is None and create and not configured:
        secret = _create_key_file(path)
    if secret is not None and not any(k.id == AuditKey(secret, "").id for k in keys):
        keys.append(AuditKey(secret, str(path)))
    return keys


def key_from_file(path: Path, *, create: bool) -> bytes | None:
    """A secret kept in an owner-only file (made whole on first use when `create`): also the seal key's."""
    secret = _read_key_file(path)
    return _create_key_file(path) if secret is None and create else secret


def _read_key_file(path: Path) -> bytes | None:
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    return text.encode() if text else None


def _create_key_file(path: Path) -> bytes:
    """Made whole, then linked into place: a process starting at the same moment reads either no
    file or the complete one, and the first link wins."""
    secret = secrets.token_hex(32)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(secret + "\n")
        with contextlib.suppress(FileExistsError):  # another process linked its key first: use that
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    read = _read_key_file(path)
    assert read is not None
    return read


# --- the head -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Head:
    """The last row's number and hash: `12:3fa9…`."""

    count: int
    hash: str

    def __str__(self) -> str:
        return f"{self.count}:{self.hash}"

    @classmethod
    def parse(cls, text: str) -> Head:
        match = _HEAD.match(text.strip().lower())
        if not match:
            raise ValueError("the head is COUNT:HASH, e.g. 12:3fa9c2… (at least 16 hex digits of the hash)")
        return cls(int(match.group(1)), match.group(2))


# --- verification ---------------------------------------------------------------------------------

OK, TAMPERED, UNVERIFIABLE = "ok", "tampered", "unverifiable"


@dataclass(frozen=True)
class Verdict:
    status: str
    message: str

    @property
    def ok(self) -> bool:
        return self.status == OK


def verify(rows: Iterable[dict[str, Any]], keys: Sequence[AuditKey], head: Head | None = None) -> Verdict:
    """Recompute the chain; name the first row that was altered or removed, then compare the head."""
    by_id = {k.id: k for k in keys}
    prev = GENESIS
    expected_seq: int | None = None
    count = legacy = 0
    keyed_seen: int | None = None
    hashes: dict[int, str] = {}
    for row in rows:
        seq = row["seq"]
        if expected_seq is not None and seq != expected_seq:
            return Verdict(TAMPERED, f"row {expected_seq} was removed (the chain jumps from {expected_seq - 1} to {seq})")
        if row["prev_hash"] != prev:
            return Verdict(TAMPERED, f"row {seq} does not follow row {seq - 1} (a row was removed or altered)")
        version = row.get("v") or LEGACY
        if version == LEGACY:
            if keyed_seen is not None:
                return Verdict(TAMPERED, f"row {seq} was altered (a plain hash after keyed row {keyed_seen}: "
                                         "someone without the audit key rewrote it)")
            if legacy_hash(row) != row["hash"]:
                return Verdict(TAMPERED, f"row {seq} was altered")
            legacy += 1
        elif version == KEYED:
            key = by_id.get(row.get("key_id") or "")
            if key is None:
                where = ", ".join(k.source for k in keys) or f"no key ({KEY_SETTING} is not set and there is no key file)"
                return Verdict(UNVERIFIABLE, f"row {seq} was keyed with an audit key not at hand (have: {where}); "
                                             f"set {KEY_SETTING} or restore the key file beside the database")
            if not hmac.compare_digest(key.row_hash(row), row["hash"]):
                return Verdict(TAMPERED, f"row {seq} was altered")
            keyed_seen = seq if keyed_seen is None else keyed_seen
        else:
            return Verdict(TAMPERED, f"row {seq} was altered (unknown hash version {version!r})")
        hashes[seq] = row["hash"]
        prev = row["hash"]
        expected_seq = seq + 1
        count += 1
    if head is not None:
        last = expected_seq - 1 if expected_seq is not None else 0
        if head.count > last:
            removed = f"row {head.count} was" if head.count == last + 1 else f"rows {last + 1} to {head.count} were"
            return Verdict(TAMPERED, f"{removed} removed from the end (the recorded head has {head.count} rows, "
                                     f"the trail now {last})")
        if head.count and not hashes.get(head.count, "").startswith(head.hash):
            return Verdict(TAMPERED, f"row {head.count} does not match the recorded head (the trail was rewritten)")
    plain = f"; the first {legacy} rows predate keyed hashing and carry plain hashes" if legacy else ""
    checked = f", matches the recorded head {head.count}:{head.hash[:12]}…" if head is not None else ""
    return Verdict(OK, f"{count} rows, chain intact{checked}{plain}")
