"""Outcomes reach people whatever Slack or the database does (issue 12, points 2, 4, 5, 6, 7).

Everything goes through the bot as Slack drives it (signed HTTP into the real Bolt app); faults are
injected at the boundary: FakeSlack's `fail_next` (429, 5xx, or an `ok: false` error such as
`not_in_channel`), a rotated or lost key on disk, a write lock held by a second SQLite connection.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.approvals.sealing import Sealer, seal_key_file
from bot.approvals.views import SHOW_SECRET
from bot.localslack import FakeSlack, text_input
from tests.harness import (
    APPROVAL_POLICY,
    APPROVALS_CHANNEL,
    SIGNING_SECRET,
    BotHarness,
    buttons,
    make_harness,
    message_text,
    set_clock,
    wait_until,
)

CHANNEL = APPROVALS_CHANNEL
CLIENT_SECRET = "sealed-client-secret-for-rotation-0001"
ALL_STATES = ("draft", "pending", "approved", "executing", "succeeded", "failed", "denied", "expired",
              "cancelled", "conflict")


@pytest.fixture
def abot(emulator, slack: FakeSlack) -> Iterator[BotHarness]:
    harness = make_harness(emulator, slack, policy=APPROVAL_POLICY)
    yield harness
    harness.close()


def only_request(bot: BotHarness):
    rows = bot.services.approvals.store.in_states(*ALL_STATES)
    assert len(rows) == 1
    return rows[0]


def channel_message(bot: BotHarness) -> dict:
    return next(m for (channel, _), m in bot.slack.messages.items() if channel == CHANNEL)


def posted_request(bot: BotHarness) -> dict:
    posted = bot.slack.wait_for("chat.postMessage", lambda a: a.get("channel") == CHANNEL)[-1]
    # The bot records where it posted just after Slack answered: wait for that too, not only the post.
    wait_until(lambda: all(r.ts for r in bot.services.approvals.store.in_states("pending")),
               what="the message's place recorded")
    # The requester is told last, once the approvers' direct messages went out: after it, a fault
    # injected into chat.postMessage hits the message the test means.
    bot.slack.wait_for("response_url", lambda a: "is waiting for" in message_text(a))
    return posted


def approve(bot: BotHarness, posted: dict, user: str = "U0BOB") -> Any:
    return bot.click("approval:approve", buttons(posted)["approval:approve"]["value"], user=user, channel_id=CHANNEL)


def give_reason(bot: BotHarness) -> None:
    modal = bot.slack.wait_for("views.open", lambda a: a["view"]["callback_id"] == "approval_reason")[-1]
    bot.submit({**modal["view"], "id": "VREASON"}, {"reason": text_input("needed for the test")})


def delivered_dms(slack: FakeSlack, user: str = "D0ALICE") -> list[dict]:
    """DMs Slack accepted (a failed attempt is recorded in calls, not kept as a message)."""
    return [m for (channel, _), m in slack.messages.items() if channel.startswith(user)]


# --- 2. sealed secrets survive a rotated signing secret -------------------------------------------


def request_sso_with_secret(emulator, slack: FakeSlack, db: str) -> dict:
    """Alice asks (through the first bot process) for an SSO configuration with a client secret."""
    first = make_harness(emulator, slack, policy=APPROVAL_POLICY, db_path=db)
    try:
        first.command("sso add")
        form = first.opened_view("sso_add")
        answer = first.submit(form, {
            "issuer_url": text_input("https://id.example.com"), "client_id": text_input("rotation-client"),
            "client_secret": text_input(CLIENT_SECRET), "display_name": text_input("Rotation IdP"),
            "email_domains": text_input(""), "additional_scopes": text_input("")})
        assert answer.status_code == 200 and b"errors" not in answer.content, answer.text
        give_reason(first)
        return posted_request(first)
    finally:
        first.close()


def test_a_pending_secret_still_opens_after_the_signing_secret_is_rotated(emulator, slack: FakeSlack,
                                                                         tmp_path: Path) -> None:
    db = str(tmp_path / "bot.db")
    posted = request_sso_with_secret(emulator, slack, db)
    # The operator rotates SLACK_SIGNING_SECRET and restarts the bot on the same database.
    bot = make_harness(emulator, slack, policy=APPROVAL_POLICY, db_path=db,
                       SLACK_SIGNING_SECRET="rotated-signing-secret-0002")
    try:
        approve(bot, posted).reply()
        wait_until(lambda: only_request(bot).state == "succeeded", what="the change to run")
        created = emulator.calls("CreateSSOConfiguration")
        assert len(created) == 1 and CLIENT_SECRET in json.dumps(created[0])
        assert only_request(bot).sealed is None  # erased once used
    finally:
        bot.close()


def test_a_request_sealed_with_the_signing_secret_before_the_seal_key_still_opens(emulator, slack: FakeSlack,
                                                                                  tmp_path: Path) -> None:
    db = str(tmp_path / "bot.db")
    posted = request_sso_with_secret(emulator, slack, db)
    # As a database from before the seal key: sealed with the key derived from the signing secret.
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE requests SET sealed = ?", (Sealer(SIGNING_SECRET).seal({"client_secret": CLIENT_SECRET}),))
    seal_key_file(db).unlink()
    bot = make_harness(emulator, slack, policy=APPROVAL_POLICY, db_path=db)
    try:
        approve(bot, posted).reply()
        wait_until(lambda: only_request(bot).state == "succeeded", what="the change to run")
        assert CLIENT_SECRET in json.dumps(emulator.calls("CreateSSOConfiguration"))
    finally:
        bot.close()


def test_a_secret_no_key_can_open_fails_cleanly_and_is_never_settled_applied(emulator, slack: FakeSlack,
                                                                            tmp_path: Path) -> None:
    db = str(tmp_path / "bot.db")
    posted = request_sso_with_secret(emulator, slack, db)
    seal_key_file(db).unlink()  # the key file was lost, and the signing secret rotated
    bot = make_harness(emulator, slack, policy=APPROVAL_POLICY, db_path=db,
                       SLACK_SIGNING_SECRET="rotated-signing-secret-0003")
    try:
        approve(bot, posted).reply()
        request = wait_until(lambda: only_request(bot).state == "failed" and only_request(bot),
                             what="the request to fail")
        assert request.sealed is None
        assert not emulator.calls("CreateSSOConfiguration")
        assert not buttons(channel_message(bot))  # the buttons are gone
        dm = message_text(bot.slack.wait_for("chat.postMessage",
                                             lambda a: a.get("channel", "").startswith("D0ALICE"))[-1])
        assert "can no longer be read" in dm and "Nothing was changed" in dm
        # Later sweeps and a restart's reconcile leave it failed: never "applied".
        set_clock(bot.services, lambda: time.time() + 3600)
        bot.services.approvals.sweep()
        bot.services.approvals.reconcile()
        assert only_request(bot).state == "failed"
    finally:
        bot.close()


# --- 4. no request approvers cannot see -----------------------------------------------------------

POST_FAULTS = {
    "not_in_channel": ({"error": "not_in_channel"}, "invite it there"),
    "channel_not_found": ({"error": "channel_not_found"}, "ONA_BOT_APPROVALS_CHANNEL"),
    "rate limited beyond the retries": ({"status": 429, "retry_after": 0, "times": 4}, "try again in a minute"),
}


@pytest.mark.parametrize("fault", list(POST_FAULTS))
def test_a_request_that_cannot_be_posted_is_withdrawn_and_the_requester_told_what_to_fix(
        abot: BotHarness, emulator, caplog: pytest.LogCaptureFixture, fault: str) -> None:
    emulator.state.banner.enabled = True
    how, fix = POST_FAULTS[fault]
    abot.slack.fail_next("chat.postMessage", **how)
    with caplog.at_level(logging.ERROR):
        text = abot.command("banner off reason: maintenance").reply_text(timeout=20)
    assert "withdrawn" in text and fix in text and "nothing was changed" in text
    assert only_request(abot).state == "cancelled"
    assert not abot.services.approvals.store.in_states("pending")
    assert not [m for (channel, _), m in abot.slack.messages.items() if channel == CHANNEL]
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("configuration error" in r.getMessage() for r in errors)
    assert not any(r.exc_info for r in errors)  # a configuration error, not a traceback
    assert not emulator.calls("UpdateAnnouncementBanner")


# --- 5. a one-time secret is never lost -----------------------------------------------------------


def approve_invite(bot: BotHarness) -> None:
    """Alice asks for a new invite link; Bob approves."""
    bot.click("invite:create")
    give_reason(bot)
    approve(bot, posted_request(bot)).reply(timeout=20)


def secret_block(payload: dict) -> dict:
    return next(b for b in payload["blocks"] if b.get("block_id") == "secret")


def test_a_secret_dm_answered_500_is_sent_again(abot: BotHarness, emulator) -> None:
    abot.click("invite:create")
    give_reason(abot)
    posted = posted_request(abot)
    abot.slack.fail_next("chat.postMessage", status=500, times=1)  # the DM with the link
    approve(abot, posted).reply(timeout=20)
    dm = wait_until(lambda: delivered_dms(abot.slack), what="the DM")[-1]
    link = emulator.state.invite_id
    # The link is alone in its own block: a long-press copies it and nothing else.
    assert link in secret_block(dm)["text"]["text"] and secret_block(dm)["text"]["type"] == "plain_text"
    assert only_request(abot).sealed is None


def test_an_undelivered_secret_is_kept_sealed_and_shown_once_to_the_requester(abot: BotHarness, emulator) -> None:
    abot.click("invite:create")
    give_reason(abot)
    posted = posted_request(abot)
    abot.slack.fail_next("chat.postMessage", status=500, times=5)  # every attempt at the DM fails
    approve(abot, posted).reply(timeout=20)
    request = wait_until(lambda: only_request(abot).sealed and only_request(abot), what="the kept secret")
    link = emulator.state.invite_id
    assert request.state == "succeeded" and not delivered_dms(abot.slack)
    assert link not in request.sealed and request.secret_until > time.time() + 3000
    # Where Alice asked, she is told where to get it (not the secret itself).
    pointer = wait_until(lambda: [a for a in abot.slack.calls_to("response_url")
                                  if "Show the secret" in message_text(a)], what="the pointer")
    assert link not in json.dumps(pointer)

    # /ona requests offers the button to Alice only.
    assert SHOW_SECRET not in buttons(abot.command("requests", user="U0BOB").reply())
    listing = abot.command("requests").reply()
    button = buttons(listing)[SHOW_SECRET]
    refused = abot.click(SHOW_SECRET, button["value"], user="U0BOB").reply_text()
    assert "Only the person who asked" in refused and link not in refused
    shown = abot.click(SHOW_SECRET, button["value"]).reply()
    assert shown["response_type"] == "ephemeral" and link in secret_block(shown)["text"]["text"]
    assert only_request(abot).sealed is None  # erased once shown
    again = abot.click(SHOW_SECRET, button["value"]).reply_text()
    assert "already shown" in again and link not in again
    assert SHOW_SECRET not in buttons(abot.command("requests").reply())


def test_a_kept_secret_is_erased_after_its_hour(abot: BotHarness, emulator) -> None:
    abot.click("invite:create")
    give_reason(abot)
    posted = posted_request(abot)
    abot.slack.fail_next("chat.postMessage", status=500, times=5)
    approve(abot, posted).reply(timeout=20)
    wait_until(lambda: only_request(abot).sealed, what="the kept secret")
    set_clock(abot.services, lambda: time.time() + 3601)
    abot.services.approvals.sweep()
    assert only_request(abot).sealed is None and only_request(abot).secret_until is None


# --- 6. no stale buttons --------------------------------------------------------------------------


def request_banner_off(bot: BotHarness) -> dict:
    bot.command("banner off reason: maintenance").reply()
    return posted_request(bot)


def test_a_failed_update_of_a_decided_request_is_repaired_by_the_sweeper(abot: BotHarness, emulator) -> None:
    emulator.state.banner.enabled = True
    posted = request_banner_off(abot)
    abot.slack.fail_next("chat.update", status=500, times=1)
    approve(abot, posted).reply(timeout=20)
    assert only_request(abot).state == "succeeded"
    assert buttons(channel_message(abot))  # stale: Slack refused the update
    abot.services.approvals.sweep()
    final = channel_message(abot)
    assert not buttons(final) and "Approved and done" in message_text(final)
    updates = len(abot.slack.calls_to("chat.update"))
    abot.services.approvals.sweep()  # once repaired, left alone
    assert len(abot.slack.calls_to("chat.update")) == updates


def test_a_click_on_a_decided_request_refreshes_its_stale_message(abot: BotHarness, emulator) -> None:
    emulator.state.banner.enabled = True
    posted = request_banner_off(abot)
    abot.slack.fail_next("chat.update", status=429, retry_after=0, times=4)  # beyond slack-sdk's retries
    approve(abot, posted).reply(timeout=20)
    assert buttons(channel_message(abot))
    text = approve(abot, posted, user="U0CAROL").reply_text()  # someone presses the stale button
    assert "already" in text
    final = channel_message(abot)
    assert not buttons(final) and "Approved and done" in message_text(final)
    assert len(emulator.calls("UpdateAnnouncementBanner")) == 1


# --- 7. a locked database never breaks the 3-second ack -------------------------------------------


@pytest.fixture
def locked_db(abot: BotHarness) -> Iterator[sqlite3.Connection]:
    """Another process holds the database's write lock."""
    conn = sqlite3.connect(abot.settings.db_path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    yield conn
    conn.execute("ROLLBACK")
    conn.close()


def test_a_held_write_lock_gets_a_fast_busy_ack_and_starts_no_work(abot: BotHarness, emulator,
                                                                   locked_db: sqlite3.Connection) -> None:
    emulator.state.banner.enabled = True
    started = time.monotonic()
    sent = abot.command("banner off reason: maintenance")
    assert time.monotonic() - started < 2.0, "the ack waited for the lock"
    assert sent.response.status_code == 200
    ack = sent.response.json()
    assert ack["response_type"] == "ephemeral" and "busy" in ack["text"] and "Nothing was done" in ack["text"]
    click = abot.click("invite:create")
    assert click.response.status_code == 200 and "Nothing was done" in click.reply_text()
    locked_db.execute("ROLLBACK")
    locked_db.execute("BEGIN")  # (the fixture's ROLLBACK ends this one)
    # Nothing started: no request, no approval message, no modal.
    assert not abot.services.approvals.store.in_states(*ALL_STATES)
    assert not abot.slack.calls_to("chat.postMessage") and not abot.slack.calls_to("views.open")
    # Once the lock is gone, the same command works.
    abot.command("banner off reason: maintenance").reply()
    assert only_request(abot).state == "pending"


# --- a full disk ------------------------------------------------------------------------------------


@pytest.fixture
def full_disk(emulator, slack: FakeSlack, tmp_path: Path) -> Iterator[BotHarness]:
    """A bot whose database lives on a small file system that is then filled to the last byte, as a
    full disk is (tmpfs: this machine, the developers' and CI's run as root)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], check=True)
    harness = None
    try:
        harness = make_harness(emulator, slack, policy=APPROVAL_POLICY, db_path=str(disk / "bot.db"))
        with contextlib.suppress(OSError), open(disk / "filler", "wb", buffering=0) as filler:
            while True:  # until ENOSPC: the disk is full
                filler.write(b"\0" * 4096)
        yield harness
    finally:
        if harness is not None:
            harness.close()
        subprocess.run(["umount", "-l", str(disk)], check=True)  # lazy: worker threads keep the file open


def test_a_full_disk_gives_a_clear_message_and_reads_still_answer(full_disk: BotHarness, emulator) -> None:
    emulator.state.banner.enabled = True
    emulator.state.banner.message = "Maintenance tonight"
    assert "Maintenance tonight" in full_disk.command("banner").reply_text()  # a read still answers
    text = full_disk.command("banner off reason: maintenance").reply_text()
    assert "cannot write to its database" in text and "Nothing was changed" in text
    assert "Traceback" not in text
    assert emulator.calls("UpdateAnnouncementBanner") == [] and emulator.state.banner.enabled
    assert not full_disk.slack.calls_to("chat.postMessage")  # no request approvers could not see
