"""Collects, over the whole test session, where secrets could leak: every SQLite file the bot wrote,
every log line, and everything the bot sent to Slack outside the requester's private view. The last
test (test_zz_secret_scan.py) searches them for every secret the session handled."""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCIM_TOKEN = re.compile(r"scim_[A-Za-z0-9_\-]{20,}")
PRIVATE_METHODS = {"response_url", "chat.postEphemeral"}  # seen only by the person who asked


@dataclass
class Archive:
    secrets: set[str] = field(default_factory=set)
    db_paths: set[str] = field(default_factory=set)
    public_slack: list[tuple[str, str]] = field(default_factory=list)  # (method, json)
    logs: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def harvest_emulator(self, emulator: Any) -> None:
        """Invite IDs and SSO client secrets the emulator holds (SCIM tokens are found by pattern)."""
        state = emulator.state
        with self.lock:
            if getattr(state, "invite_id", None):
                self.secrets.add(state.invite_id)
            for value in getattr(state, "secrets", {}).values():
                if isinstance(value, str) and not re.fullmatch(r"[0-9a-f]{64}", value):
                    self.secrets.add(value)
            self.secrets.update({emulator.admin_key, emulator.member_key})

    def archive_slack(self, calls: list[Any]) -> None:
        import json

        with self.lock:
            for call in calls:
                if call.method in PRIVATE_METHODS:
                    continue
                if call.method == "chat.postMessage" and str(call.args.get("channel", "")).startswith("D"):
                    continue  # a DM to the requester: the one place a secret result may go
                self.public_slack.append((call.method, json.dumps(call.args)))


ARCHIVE = Archive()


class ArchiveHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:  # a broken log call must not break the test it happens in
            line = str(record.msg)
        with ARCHIVE.lock:
            ARCHIVE.logs.append(line)


def install_log_capture() -> None:
    handler = ArchiveHandler(level=logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    logging.getLogger().addHandler(handler)
    for name in ("ona.client", "ona.bot", "ona.approvals"):
        logging.getLogger(name).setLevel(logging.DEBUG)


def leaks(secrets: set[str]) -> list[str]:
    """Where any secret (or any SCIM token) shows up: 'place: secret prefix'."""
    found: list[str] = []
    haystacks: list[tuple[str, str]] = []
    for path in sorted(ARCHIVE.db_paths):
        if path.startswith("postgresql://"):
            haystacks.append((path, _postgres_text(path)))
            continue
        for suffix in ("", "-wal", "-journal"):
            file = Path(path + suffix)
            if file.exists():
                haystacks.append((str(file), file.read_bytes().decode("latin-1")))
    haystacks += [("log", line) for line in ARCHIVE.logs]
    haystacks += [(f"slack {method}", text) for method, text in ARCHIVE.public_slack]
    for place, text in haystacks:
        for secret in secrets:
            if secret and len(secret) >= 8 and secret in text:
                found.append(f"{place}: {secret[:6]}…")
        for token in SCIM_TOKEN.findall(text):
            found.append(f"{place}: SCIM token {token[:10]}…")
    return found


def _postgres_text(url: str) -> str:
    """Every row of a test's PostgreSQL database, as text (its server may have gone: nothing then)."""
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
            return "\n".join(str(conn.execute(f'SELECT string_agg(t::text, E\'\\n\') FROM "{t}" t').fetchone()[0])
                             for t in tables)
    except psycopg.OperationalError:
        return ""
