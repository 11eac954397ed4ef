"""PostgreSQL's own side of the store: the same schema and named migrations as SQLite, applied once
under a lock; the URL's password never shown; a server that goes away gives "try again" (StoreUnavailable,
within the ack's budget for delivery claims), and the store recovers by itself when it is back."""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import psycopg
import pytest

from bot.approvals import pg_migrations, sqlite_migrations
from bot.approvals.model import RequestState
from bot.approvals.pg_store import PostgresStore
from bot.approvals.sqlite_store import SqliteStore
from bot.approvals.store import StoreUnavailable
from bot.bootstrap import preflight
from bot.localslack import FakeSlack
from bot.settings import SettingsError, load_settings
from bot.startup import StartupError
from tests.dbutil import PG_AUDIT_KEY, run_sql
from tests.harness import (
    APPROVAL_POLICY,
    APPROVALS_CHANNEL,
    BotHarness,
    buttons,
    make_harness,
    make_settings,
    wait_until,
)
from tests.pgserver import PgServer

PASSWORD = "s3cret-Pa55word-never-shown"
ALL_STATES = tuple(RequestState)


def pg_columns(url: str) -> dict[str, list[str]]:
    rows = run_sql(url, "SELECT table_name, column_name FROM information_schema.columns "
                        "WHERE table_schema = 'public' ORDER BY table_name, ordinal_position")
    tables: dict[str, list[str]] = {}
    for row in rows:
        tables.setdefault(row["table_name"], []).append(row["column_name"])
    return tables


def sqlite_columns(path: Path) -> dict[str, list[str]]:
    with closing(sqlite3.connect(path)) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {n: [r[1] for r in conn.execute(f"PRAGMA table_info({n})")] for n in names}


def pg_recorded(url: str) -> list[str]:
    return [r["name"] for r in run_sql(url, "SELECT name FROM migrations ORDER BY ctid")]


def test_both_backends_hold_the_same_tables_columns_and_migration_names(pg_server: PgServer, tmp_path: Path) -> None:
    url = pg_server.new_database(empty=True)
    store = PostgresStore(url)
    SqliteStore(tmp_path / "bot.db")
    names = [fn.__name__ for fn in sqlite_migrations.MIGRATIONS]
    assert [fn.__name__ for fn in pg_migrations.MIGRATIONS] == names
    assert pg_recorded(url) == names
    assert all(r["applied_at"].endswith("Z") for r in run_sql(url, "SELECT applied_at FROM migrations"))
    assert pg_columns(url) == sqlite_columns(tmp_path / "bot.db")
    assert store.migrate() == [] and PostgresStore(url).migrate() == []  # a restart applies none
    assert pg_recorded(url) == names
    store.close()


def test_a_later_migration_runs_once_and_a_failing_one_leaves_nothing_half_done(
        pg_server: PgServer, monkeypatch: pytest.MonkeyPatch) -> None:
    url = pg_server.new_database(empty=True)
    PostgresStore(url).close()
    runs = []

    def m009_requests_label(conn: psycopg.Connection) -> None:
        runs.append(1)
        conn.execute("ALTER TABLE requests ADD COLUMN label text")

    def m010_broken(conn: psycopg.Connection) -> None:
        conn.execute("ALTER TABLE requests ADD COLUMN half text")
        raise RuntimeError("half way")

    monkeypatch.setattr(pg_migrations, "MIGRATIONS", [*pg_migrations.MIGRATIONS, m009_requests_label])
    PostgresStore(url).close()
    PostgresStore(url).close()
    assert runs == [1] and pg_recorded(url)[-1] == "m009_requests_label"
    monkeypatch.setattr(pg_migrations, "MIGRATIONS", [*pg_migrations.MIGRATIONS, m010_broken])
    with pytest.raises(RuntimeError):
        PostgresStore(url)
    assert "half" not in pg_columns(url)["requests"] and pg_recorded(url)[-1] == "m009_requests_label"


def test_replicas_starting_together_migrate_once(pg_server: PgServer) -> None:
    url = pg_server.new_database(empty=True)
    errors: list[BaseException] = []
    opened: list[PostgresStore] = []

    def start() -> None:
        try:
            opened.append(PostgresStore(url))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for store in opened:
        store.close()
    assert errors == []
    assert pg_recorded(url) == [fn.__name__ for fn in pg_migrations.MIGRATIONS]


def _dead_url() -> str:
    from tests.pgserver import _free_port

    return f"postgresql://bot:{PASSWORD}@127.0.0.1:{_free_port()}/ona"


def test_the_password_is_never_shown(caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    url = _dead_url()
    with caplog.at_level(logging.DEBUG), pytest.raises(StoreUnavailable) as raised:
        PostgresStore(url, timeout=1)
    assert "bot:***@127.0.0.1" in str(raised.value) and PASSWORD not in str(raised.value)
    assert PASSWORD not in caplog.text
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ONA_", "SLACK_"))}
    result = subprocess.run([sys.executable, "-m", "bot.cli", "audit", "verify", "--db", url], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "could not" not in result.stdout
    assert "***" in result.stderr and PASSWORD not in result.stderr + result.stdout


def test_a_database_out_of_reach_stops_the_start_with_one_line(emulator, slack: FakeSlack) -> None:
    settings = make_settings(emulator, slack, ONA_BOT_DB=_dead_url(), ONA_BOT_AUDIT_KEY=PG_AUDIT_KEY,
                             ONA_BOT_SEAL_KEY=PG_AUDIT_KEY)
    with pytest.raises(StartupError) as raised:
        preflight(settings)
    message = str(raised.value)
    assert message.startswith("the database could not be opened: PostgreSQL at postgresql://bot:***@127.0.0.1")
    assert raised.value.exit_code == 1 and PASSWORD not in message and "\n" not in message


def test_postgres_needs_the_audit_and_seal_keys_as_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"SLACK_BOT_TOKEN": "xoxb-x", "SLACK_SIGNING_SECRET": "s", "ONA_API_KEY": "k",
           "ONA_ORGANIZATION_ID": "00000000-0000-4000-8000-000000000001", "ONA_BOT_DB": _dead_url()}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as raised:
        load_settings(env_file=None)
    message = str(raised.value)
    assert "ONA_BOT_AUDIT_KEY and ONA_BOT_SEAL_KEY must be set" in message and PASSWORD not in message
    monkeypatch.setenv("ONA_BOT_AUDIT_KEY", PG_AUDIT_KEY)
    monkeypatch.setenv("ONA_BOT_SEAL_KEY", PG_AUDIT_KEY[::-1])
    assert load_settings(env_file=None).db_path.startswith("postgresql://")


# --- the server goes away and comes back ------------------------------------------------------------


@pytest.fixture(scope="module")
def own_server() -> Iterator[PgServer]:
    """A server of this module's own, to stop and restart without disturbing the others' tests."""
    server = PgServer().start()
    yield server
    server.stop()


def test_a_server_restart_gives_try_again_then_the_store_recovers_by_itself(own_server: PgServer) -> None:
    store = PostgresStore(own_server.new_database(empty=True), audit_key=PG_AUDIT_KEY, max_size=4, timeout=2)
    try:
        assert store.claim_delivery("before")
        own_server.stop_server()
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            store.claim_delivery("while down")
        assert time.monotonic() - started < 2.0  # before Slack's 3-second ack
        with pytest.raises(StoreUnavailable):
            store.audit(action="direct", user_id="U0ALICE", outcome="succeeded")
        own_server.start_server()
        deadline = time.monotonic() + 20
        while True:  # the same store object: no restart of the bot
            try:
                assert store.claim_delivery("after")
                break
            except StoreUnavailable:
                assert time.monotonic() < deadline, "the store did not recover after the server came back"
                time.sleep(0.1)
        store.audit(action="direct", user_id="U0ALICE", outcome="succeeded")
        assert not store.claim_delivery("before") and store.audit_head().count == 1
    finally:
        store.close()


def test_idle_connections_a_restart_closed_are_replaced_before_use(own_server: PgServer) -> None:
    """After a quick restart the first operations succeed: the pool notices its closed connections."""
    store = PostgresStore(own_server.new_database(empty=True), audit_key=PG_AUDIT_KEY, min_size=3, max_size=3)
    try:
        assert store.claim_delivery("warm")
        own_server.restart()
        assert [store.claim_delivery(f"after {i}") for i in range(5)] == [True] * 5
    finally:
        store.close()


def test_people_are_told_to_try_again_while_the_server_restarts_and_nothing_runs_twice(
        own_server: PgServer, emulator, slack: FakeSlack) -> None:
    """PostgreSQL restarted mid-run, under the bot (no bot restart): clicks and commands while it is down
    are answered "try again, nothing was done"; a change whose Ona call was on the wire during the restart
    is recorded once it is back; the request runs once."""
    emulator.state.banner.enabled = True
    bot = make_harness(emulator, slack, policy=APPROVAL_POLICY, db_path=own_server.new_database())
    try:
        bot.command("banner off reason: maintenance").reply()
        posted = slack.wait_for("chat.postMessage", lambda a: a.get("channel") == APPROVALS_CHANNEL)[-1]
        store = bot.services.approvals.store
        wait_until(lambda: all(r.ts for r in store.in_states("pending")), what="the message's place recorded")
        value = buttons(posted)["approval:approve"]["value"]

        own_server.stop_server()
        down = bot.click("approval:approve", value, user="U0BOB", channel_id=APPROVALS_CHANNEL)
        assert down.response.status_code == 200 and "try again" in down.reply_text()
        typed = bot.command("banner on Later reason: x")
        assert "try again" in typed.response.json()["text"]
        assert emulator.calls("UpdateAnnouncementBanner") == []

        own_server.start_server()
        wait_until(lambda: store_states(bot) == ["pending"], timeout=30, what="the store back, by itself")
        # Ona takes a second over the change, and the server restarts again while the call is on the wire.
        emulator.inject_fault("UpdateAnnouncementBanner", code=None, delay=1.0, times=1)
        clicked = bot.click("approval:approve", value, user="U0BOB", channel_id=APPROVALS_CHANNEL)
        wait_until(lambda: store_states(bot) == ["executing"], what="the change under way")
        own_server.restart()
        told = clicked.reply_text(timeout=30)
        assert "Something went wrong" not in told  # an outcome, or "try again": never an internal error
        if store_states(bot) == ["executing"]:  # its ending could not be recorded: settled after a crash's grace
            assert "try again" in told
            run_sql(bot.settings.db_path, "UPDATE requests SET updated_at = updated_at - 900")
            bot.services.approvals.sweep()
        ran = len(emulator.calls("UpdateAnnouncementBanner"))
        assert ran <= 1 and store_states(bot) == (["succeeded"] if ran else ["failed"])
        assert emulator.state.banner.enabled is (not ran)
        executions = [r["action"] for r in store.audit_rows() if r["action"] in ("execute", "reconcile")]
        assert len(executions) == 1
    finally:
        bot.close()


def store_states(bot: BotHarness) -> list[str]:
    try:
        return [r.state for r in bot.services.approvals.store.in_states(*ALL_STATES)]
    except StoreUnavailable:
        return []


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql://bot:pw@db:5432/ona", "postgresql://bot:***@db:5432/ona"),
    ("postgres://bot:p%40ss@db/ona?sslmode=require", "postgres://bot:***@db/ona?sslmode=require"),
    ("postgresql://bot@db/ona", "postgresql://bot@db/ona"),
    ("postgresql://bot:pw@db:notaport/ona", "postgresql://bot:***@db:notaport/ona"),
    # libpq also reads a password from the query string
    ("postgresql://bot@db/ona?password=s3cret", "postgresql://bot@db/ona?password=***"),
    ("postgresql://bot@db/ona?sslmode=require&sslpassword=k3y", "postgresql://bot@db/ona?sslmode=require&sslpassword=***"),
])
def test_urls_are_shown_without_their_password(url: str, shown: str) -> None:
    from bot.approvals.dburl import is_postgres_url, mask_url, password_of

    assert is_postgres_url(url) and mask_url(url) == shown
    assert password_of("postgresql://bot@db/ona?password=s3cret") == "s3cret"  # scrubbed from driver errors too
    assert not is_postgres_url("/var/lib/ona-bot/bot.db") and not is_postgres_url("postgresql.db")


def test_open_store_takes_either_scheme(pg_server: PgServer) -> None:
    from bot.approvals.backends import open_store

    url = pg_server.new_database().replace("postgresql://", "postgres://")
    store = open_store(url, audit_key=PG_AUDIT_KEY)
    try:
        assert isinstance(store, PostgresStore) and store.claim_delivery("k")
    finally:
        store.close()
