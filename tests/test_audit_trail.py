"""The audit trail holds up against someone who can write the database: rows are keyed with a secret
the database does not hold, the chain head is kept outside it (the approvals channel, the log) so
that rows removed from the end are noticed, and the files are readable by their owner only. What does not
depend on files runs on both backends (db_location: SQLite, PostgreSQL)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import socket
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.approvals.backends import open_store
from bot.approvals.checkpoint import Checkpoints
from bot.approvals.dburl import is_postgres_url
from bot.approvals.sqlite_store import SqliteStore as Store
from bot.bootstrap import slack_client
from bot.localslack import FakeSlack
from tests.dbutil import keys_for, run_sql
from tests.harness import BOT_TOKEN, BotHarness, make_harness, message_text, wait_until
from tests.secretscan import ARCHIVE

AUDIT_KEY = "audit-key-for-the-tests-0123456789abcdef"
CHANNEL = "C0APPROVALS"
HEAD = re.compile(r"--head (\d+:[0-9a-f]{64})")


def cli(db: Path | str, *args: str, key: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ONA_", "SLACK_"))}
    if key:
        env["ONA_BOT_AUDIT_KEY"] = key
    return subprocess.run([sys.executable, "-m", "bot.cli", "audit", *args, "--db", str(db)], env=env,
                          capture_output=True, text=True, timeout=60)


def three_direct_changes(bot: BotHarness) -> None:
    for text in ("banner on Deploy freeze", "banner off", "banner on Back"):
        bot.command(text).reply()
    wait_until(lambda: len(bot.services.approvals.store.audit_rows()) >= 3, what="three audit rows")


def rewrite_with_plain_hashes(db: Path | str, start: int, edit: dict[str, str], *, version: int | None) -> None:
    """What an attacker without the key can do: change a row, then recompute SHA-256 down the chain."""
    rows = run_sql(str(db), "SELECT * FROM audit ORDER BY seq")
    prev = rows[start - 2]["hash"] if start > 1 else "0" * 64
    for row in rows[start - 1:]:
        if row["seq"] == start:
            row.update(edit)
        content = {k: row[k] for k in ("at", "team_id", "user_id", "email", "action", "operation",
                                       "request_id", "params", "outcome")}
        content["prev_hash"] = prev
        digest = hashlib.sha256((prev + json.dumps(content, sort_keys=True, separators=(",", ":"),
                                                   ensure_ascii=False)).encode()).hexdigest()
        sets = {**edit} if row["seq"] == start else {}
        sets.update(prev_hash=prev, hash=digest)
        if "v" in row:
            sets["v"] = version
        run_sql(str(db), f"UPDATE audit SET {', '.join(f'{k} = ?' for k in sets)} WHERE seq = ?",
                [*sets.values(), row["seq"]])
        prev = digest


def keyed_harness(emulator, slack: FakeSlack, db: str | None = None) -> BotHarness:
    ARCHIVE.secrets.add(AUDIT_KEY)  # the final scan looks for it in every database, log and message
    emulator.state.banner.enabled = True  # `banner off` is the sample change: it must change something
    return make_harness(emulator, slack, db_path=db, ONA_BOT_AUDIT_KEY=AUDIT_KEY)


@pytest.fixture
def keyed_bot(emulator, slack: FakeSlack, db_location: str) -> Iterator[BotHarness]:
    harness = keyed_harness(emulator, slack, db_location)
    yield harness
    harness.close()


@pytest.fixture
def keyed_file_bot(emulator, slack: FakeSlack) -> Iterator[BotHarness]:
    """On SQLite: the database is a file, and keys may be files beside it."""
    harness = keyed_harness(emulator, slack)
    yield harness
    harness.close()


# --- keyed rows ---------------------------------------------------------------------------------


def test_an_edit_with_recomputed_plain_hashes_is_caught(keyed_bot: BotHarness, emulator) -> None:
    three_direct_changes(keyed_bot)
    db = keyed_bot.settings.db_path
    assert cli(db, "verify", key=AUDIT_KEY).stdout.startswith("OK: 3 rows, chain intact")
    # The hashes are still chained, but keyed: recomputing SHA-256 after an edit no longer passes.
    rewrite_with_plain_hashes(db, 2, {"user_id": "U0MALLORY"}, version=2)
    result = cli(db, "verify", key=AUDIT_KEY)
    assert result.returncode == 1 and result.stdout.strip() == "TAMPERED: row 2 was altered"
    # Marking the rewritten rows as plain-hash rows (as before keyed hashing) is caught too.
    rewrite_with_plain_hashes(db, 2, {"user_id": "U0MALLORY"}, version=None)
    result = cli(db, "verify", key=AUDIT_KEY)
    assert result.returncode == 1 and result.stdout.startswith("TAMPERED: row 2 was altered (a plain hash after")


def test_the_key_is_a_setting_or_a_file_of_its_own_and_never_in_the_database(keyed_file_bot: BotHarness,
                                                                                emulator, tmp_path) -> None:
    keyed_bot = keyed_file_bot
    three_direct_changes(keyed_bot)
    db = Path(keyed_bot.settings.db_path)
    assert not Path(f"{db}.audit-key").exists()  # the setting is the key: no file is made
    without = cli(db, "verify")
    assert without.returncode == 2 and without.stdout.startswith("CANNOT VERIFY: row 1 was keyed with an audit key")
    assert "ONA_BOT_AUDIT_KEY" in without.stdout
    assert cli(db, "verify", key="another-key-of-the-right-length-000000").returncode == 2
    for path in (db, Path(f"{db}-wal")):
        if path.exists():
            assert AUDIT_KEY.encode() not in path.read_bytes()
    # Without the setting, a key file is made beside the database on the first row, owner-only.
    store = Store(tmp_path / "filekey.db")
    store.audit(action="direct", user_id="U0ALICE", operation="banner.update", outcome="succeeded")
    key_file = tmp_path / "filekey.db.audit-key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    ARCHIVE.secrets.add(key_file.read_text().strip())
    assert cli(tmp_path / "filekey.db", "verify").stdout.startswith("OK: 1 rows")


def test_a_database_from_before_keyed_hashing_still_verifies(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as conn:  # the schema and hashing of the previous release
        conn.execute("CREATE TABLE audit (seq INTEGER PRIMARY KEY, at TEXT, team_id TEXT, user_id TEXT, "
                     "email TEXT, action TEXT, operation TEXT, request_id TEXT, params TEXT, outcome TEXT, "
                     "prev_hash TEXT, hash TEXT)")
        for n in (1, 2):
            conn.execute("INSERT INTO audit (seq, at, team_id, user_id, email, action, operation, request_id, "
                         "params, outcome, prev_hash, hash) VALUES (?, '2024-01-01T00:00:00Z', 'T0ACME', 'U0ALICE', "
                         "'', 'direct', 'banner.update', '', '{}', 'succeeded', '', '')", (n,))
    rewrite_with_plain_hashes(db, 1, {}, version=None)
    store = Store(db)
    store.audit(action="direct", user_id="U0BOB", operation="org.rename", outcome="succeeded")
    rows = store.audit_rows()
    assert [r["v"] for r in rows] == [None, None, 2]
    result = cli(db, "verify")
    assert result.returncode == 0, result.stdout
    assert result.stdout.strip() == ("OK: 3 rows, chain intact; the first 2 rows predate keyed hashing and carry "
                                     "plain hashes")
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE audit SET outcome = 'failed' WHERE seq = 1")
    assert cli(db, "verify").stdout.strip() == "TAMPERED: row 1 was altered"


# --- the head, kept outside the database --------------------------------------------------------


def test_rows_removed_from_the_end_are_caught_against_the_posted_head(keyed_bot: BotHarness, slack) -> None:
    three_direct_changes(keyed_bot)
    store = keyed_bot.services.approvals.store
    Checkpoints(store, slack_client(BOT_TOKEN, slack.api_url), CHANNEL, interval=3600).tick(starting=True)
    posted = slack.wait_for("chat.postMessage", lambda a: a.get("channel") == CHANNEL)[-1]
    head = HEAD.search(message_text(posted)).group(1)
    assert head == str(store.audit_head()) and head.startswith("3:")
    db = keyed_bot.settings.db_path
    run_sql(db, "DELETE FROM audit WHERE seq = 3")
    assert cli(db, "verify", key=AUDIT_KEY).returncode == 0  # what is left is a valid chain…
    result = cli(db, "verify", "--head", head, key=AUDIT_KEY)  # …but not the one the channel saw
    assert result.returncode == 1
    assert result.stdout.strip() == ("TAMPERED: row 3 was removed from the end (the recorded head has 3 rows, "
                                     "the trail now 2)")
    assert cli(db, "verify", "--head", head[:20], key=AUDIT_KEY).returncode == 1  # a shortened hash will do


def test_a_rewritten_trail_does_not_match_the_head(keyed_bot: BotHarness) -> None:
    """Rewriting every row with plain hashes leaves a chain that looks older than keyed hashing; the
    head kept outside the database gives it away."""
    three_direct_changes(keyed_bot)
    db = keyed_bot.settings.db_path
    head = cli(db, "head", key=AUDIT_KEY).stdout.strip()
    rewrite_with_plain_hashes(db, 1, {"user_id": "U0MALLORY"}, version=None)
    assert cli(db, "verify", key=AUDIT_KEY).returncode == 0
    result = cli(db, "verify", "--head", head, key=AUDIT_KEY)
    assert result.returncode == 1
    assert result.stdout.strip() == "TAMPERED: row 3 does not match the recorded head (the trail was rewritten)"
    bad = cli(db, "verify", "--head", "three", key=AUDIT_KEY)
    assert bad.returncode == 2 and bad.stderr.startswith("ona-bot: --head: the head is COUNT:HASH")


def test_the_head_is_logged_when_it_moves_and_posted_at_most_once_per_interval(
        keyed_bot: BotHarness, slack, caplog: pytest.LogCaptureFixture) -> None:
    store = keyed_bot.services.approvals.store
    now = [1000.0]
    client = slack_client(BOT_TOKEN, slack.api_url)
    first = Checkpoints(store, client, CHANNEL, interval=3600, clock=lambda: now[0])
    second = Checkpoints(store, client, CHANNEL, interval=3600, clock=lambda: now[0])  # another process
    assert first.tick(starting=True) is None  # nothing recorded yet: nothing to keep
    keyed_bot.command("banner off").reply()
    wait_until(lambda: store.audit_head(), what="a first audit row")
    with caplog.at_level(logging.INFO, logger="ona.audit"):
        first.tick(starting=True)
        second.tick(starting=True)
        one = str(store.audit_head())
        assert f"audit trail head {one}" in caplog.text
        keyed_bot.command("banner on Back soon").reply()
        wait_until(lambda: store.audit_head().count == 2, what="a second audit row")
        now[0] += 60
        first.tick()
        two = str(store.audit_head())
        assert f"audit trail head {two}" in caplog.text  # logged at once…
    texts = [message_text(a) for a in slack.calls_to("chat.postMessage") if a.get("channel") == CHANNEL]
    assert [HEAD.search(t).group(1) for t in texts] == [one]  # …posted once, by one process, not yet again
    now[0] += 3600
    first.tick()
    texts = [message_text(a) for a in slack.calls_to("chat.postMessage") if a.get("channel") == CHANNEL]
    assert [HEAD.search(t).group(1) for t in texts] == [one, two]
    assert "Audit checkpoint: 2 entries so far" in texts[-1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_running_bot_posts_and_logs_the_head_at_start(emulator, slack: FakeSlack, tmp_path: Path,
                                                          db_location: str) -> None:
    db = db_location
    earlier = open_store(db, audit_key=AUDIT_KEY)
    earlier.audit(action="direct", user_id="U0ALICE", operation="banner.update", outcome="succeeded")
    head = str(earlier.audit_head())
    earlier.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "ONA_", "GITPOD_"))}
    env.update({
        "SLACK_BOT_TOKEN": "xoxb-serve", "SLACK_SIGNING_SECRET": "s", "SLACK_API_URL": slack.url + "/api",
        "ONA_API_KEY": emulator.admin_key, "ONA_BASE_URL": emulator.base_url,
        "ONA_ORGANIZATION_ID": emulator.organization_id, "ONA_BOT_DB": str(db),
        "ONA_BOT_APPROVALS_CHANNEL": CHANNEL, **keys_for(db), "ONA_BOT_AUDIT_KEY": AUDIT_KEY,
    })
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
                            env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        posted = slack.wait_for("chat.postMessage", lambda a: a.get("channel") == CHANNEL, timeout=30)
        assert HEAD.search(message_text(posted[-1])).group(1) == head
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=30)
    assert f"audit trail head {head}" in stderr
    assert AUDIT_KEY not in stderr
    if not is_postgres_url(db):
        assert stat.S_IMODE(os.stat(db).st_mode) == 0o600


# --- the files ----------------------------------------------------------------------------------


def test_the_database_and_its_wal_and_shm_are_readable_by_the_owner_only(emulator, slack: FakeSlack) -> None:
    emulator.state.banner.enabled = True
    previous = os.umask(0o022)  # the usual umask: files would be readable by everyone
    try:
        bot = make_harness(emulator, slack)
        try:
            bot.command("banner off").reply()
            wait_until(lambda: bot.services.approvals.store.audit_rows(), what="an audit row")
        finally:
            bot.close()
    finally:
        os.umask(previous)
    db = Path(bot.settings.db_path)
    for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm"), Path(f"{db}.audit-key")):
        assert path.exists(), path
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, (path, oct(path.stat().st_mode))
