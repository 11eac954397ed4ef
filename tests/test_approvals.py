"""Approvals end to end: request in Slack, decide with buttons, execute exactly once, audit everything.

Every test runs on both backends (db_location: a SQLite file, a database on a real PostgreSQL server).
Changes use `/ona banner off|on …` with a test policy that makes banner.update need approval: the
simplest command that changes Ona. The built-in policy is covered in test_approval_policy.py.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from bot.approvals import audit_trail
from bot.approvals.model import EXECUTING
from bot.localslack import FakeSlack, text_input
from bot.ona.models import OrganizationRole
from tests.dbutil import keys_for, run_sql
from tests.harness import (
    APPROVAL_POLICY,
    APPROVALS_CHANNEL,
    BotHarness,
    buttons,
    make_harness,
    message_text,
    mrkdwn_texts,
    set_clock,
    wait_until,
)

TWO_APPROVALS = APPROVAL_POLICY.replace("approvals = 1", "approvals = 2")


def backdate(bot: BotHarness, seconds: float) -> None:
    """Time passes for reconciliation: every request's last change is `seconds` older in the database."""
    run_sql(bot.settings.db_path, "UPDATE requests SET updated_at = updated_at - ?", (seconds,))
CHANNEL = APPROVALS_CHANNEL


@pytest.fixture
def abot(emulator, slack: FakeSlack, db_location: str) -> Iterator[BotHarness]:
    emulator.state.banner.enabled = True  # the sample change is `banner off`: it must change something
    harness = make_harness(emulator, slack, policy=APPROVAL_POLICY, db_path=db_location)
    yield harness
    harness.close()


def request_banner_off(bot: BotHarness, *, user: str = "U0ALICE", reason: str = "maintenance window") -> dict:
    """Alice asks to turn the banner off; returns the approval message posted to the channel."""
    bot.command(f"banner off reason: {reason}", user=user).reply()
    posted = bot.slack.wait_for("chat.postMessage", lambda a: a.get("channel") == CHANNEL)[-1]
    # The bot records where it posted just after Slack answered: wait for that too, not only the post.
    wait_until(lambda: all(r.ts for r in store(bot).in_states("pending")), what="the message's place recorded")
    return posted




def channel_message(bot: BotHarness) -> dict:
    """The approval message as the channel shows it now (chat.update applied)."""
    return next(m for (channel, _), m in bot.slack.messages.items() if channel == CHANNEL)


def approve(bot: BotHarness, posted: dict, user: str) -> Any:
    button = buttons(posted)["approval:approve"]
    return bot.click("approval:approve", button["value"], user=user, channel_id=CHANNEL)




def store(bot: BotHarness):
    return bot.services.approvals.store


def only_request(bot: BotHarness):
    rows = store(bot).in_states("draft", "pending", "approved", "executing", "succeeded", "failed", "denied",
                                "expired", "cancelled", "conflict")
    assert len(rows) == 1
    return rows[0]


# --- the happy path ---------------------------------------------------------------------------


def test_request_then_approve_executes_once_and_tells_everyone(abot: BotHarness, emulator) -> None:
    emulator.state.banner.enabled = True
    posted = request_banner_off(abot)
    # The approval message: what, who, why, the diff, expiry in the viewer's zone, two buttons.
    text = message_text(posted)
    assert "<@U0ALICE>" in text and "maintenance window" in text and "yes → no" in text
    assert "<!date^" in text
    assert buttons(posted)["approval:approve"]["confirm"]
    assert emulator.calls("UpdateAnnouncementBanner") == []
    # The requester was told, ephemerally, with a link to the message.
    notice = abot.slack.wait_for("response_url", lambda a: "waiting for" in message_text(a))[-1]
    assert notice["response_type"] == "ephemeral" and "acme.slack.com/archives" in message_text(notice)

    approve(abot, posted, "U0BOB").reply()
    assert emulator.calls("UpdateAnnouncementBanner") == [
        {"organizationId": emulator.organization_id, "enabled": False}]
    assert emulator.state.banner.enabled is False
    final = channel_message(abot)
    assert not buttons(final), "buttons must be gone once decided"
    assert "Approved and done" in message_text(final) and "<@U0BOB>" in message_text(final)
    dm = abot.slack.wait_for("chat.postMessage", lambda a: a.get("channel", "").startswith("D0ALICE"))[-1]
    assert "succeeded" in dm["text"]
    assert only_request(abot).state == "succeeded"
    actions = [r["action"] for r in store(abot).audit_rows()]
    assert actions == ["request", "vote", "execute"]


def test_reason_modal_when_none_is_typed(abot: BotHarness, emulator) -> None:
    emulator.state.banner.enabled = True
    abot.command("banner off")
    modal = abot.slack.wait_for("views.open")[-1]["view"]
    assert modal["callback_id"] == "approval_reason" and "yes → no" in message_text(modal)
    assert abot.slack.calls_to("chat.postMessage") == []  # nothing posted before the reason
    answer = abot.submit({**modal, "id": "V1"}, {"reason": text_input("")})
    assert answer.json()["errors"]["reason"]
    abot.submit({**modal, "id": "V1"}, {"reason": text_input("planned outage")})
    posted = abot.slack.wait_for("chat.postMessage", lambda a: a.get("channel") == CHANNEL)[-1]
    assert "planned outage" in message_text(posted)


def test_dry_run_shows_the_change_and_requests_nothing(abot: BotHarness, emulator) -> None:
    emulator.state.banner.enabled = True
    text = abot.command("banner off —dry-run").reply_text()
    assert "Dry run" in text and "yes → no" in text and "1 approval" in text
    assert abot.slack.calls_to("chat.postMessage") == [] and emulator.calls("UpdateAnnouncementBanner") == []
    assert store(abot).in_states("pending", "draft") == []


# --- refusals ---------------------------------------------------------------------------------


def test_self_approval_is_refused(abot: BotHarness, emulator) -> None:
    posted = request_banner_off(abot)
    text = approve(abot, posted, "U0ALICE").reply_text()
    assert "cannot approve your own request" in text
    assert emulator.calls("UpdateAnnouncementBanner") == []
    assert only_request(abot).state == "pending"
    assert "refused" in [r["action"] for r in store(abot).audit_rows()]


def test_non_approver_is_refused(abot: BotHarness, emulator) -> None:
    posted = request_banner_off(abot)
    assert "not an approver" in approve(abot, posted, "U0CAROL").reply_text()
    assert emulator.calls("UpdateAnnouncementBanner") == []


def test_non_admin_cannot_request(abot: BotHarness, emulator) -> None:
    text = abot.command("banner off reason: x", user="U0CAROL").reply_text()
    assert "Only Ona organization admins may use" in text
    assert abot.slack.calls_to("chat.postMessage") == []


def test_approver_removed_from_ona_admins_since_the_request_is_refused(abot: BotHarness, emulator) -> None:
    posted = request_banner_off(abot)
    bob = next(m for m in emulator.state.members.values() if m.email == "bob@example.com")
    bob.role = OrganizationRole.MEMBER  # demoted in Ona after the request was made
    assert "not an approver" in approve(abot, posted, "U0BOB").reply_text()
    assert emulator.calls("UpdateAnnouncementBanner") == []


def test_tampered_button_value_is_refused_and_audited(abot: BotHarness, emulator) -> None:
    posted = request_banner_off(abot)
    value = json.loads(buttons(posted)["approval:approve"]["value"])
    forged = json.dumps({**value, "h": "0" * 64})
    assert "does not match" in abot.click("approval:approve", forged, user="U0BOB").reply_text()
    assert "no such request" in abot.click("approval:approve", json.dumps({"id": "RNOPE", "h": "x"}),
                                           user="U0BOB").reply_text()
    assert emulator.calls("UpdateAnnouncementBanner") == []
    assert "tampered approval (hash mismatch)" in [r["outcome"] for r in store(abot).audit_rows()]


def test_click_from_another_workspace_is_refused(abot: BotHarness, emulator) -> None:
    posted = request_banner_off(abot)
    body, headers = abot.payloads.block_action(
        user_id="U0BOB", action_id="approval:approve", value=buttons(posted)["approval:approve"]["value"],
        team_id="T0OTHER", response_url=abot.slack.response_url("other"))
    abot.post(body, headers)
    abot.slack.wait_for("response_url", lambda a: a["_url"].endswith("/other"))
    assert emulator.calls("UpdateAnnouncementBanner") == []


# --- the other endings ------------------------------------------------------------------------


def test_deny_with_a_reason(abot: BotHarness, emulator) -> None:
    posted = request_banner_off(abot)
    abot.click("approval:deny", buttons(posted)["approval:deny"]["value"], user="U0BOB")
    modal = abot.slack.wait_for("views.open", lambda a: a["view"]["callback_id"] == "approval_deny")[-1]["view"]
    abot.submit({**modal, "id": "V9"}, {"reason": text_input("not during the release <!here>")}, user="U0BOB")
    wait_until(lambda: only_request(abot).state == "denied", what="denied")
    wait_until(lambda: not buttons(channel_message(abot)), what="the message updated")
    final = channel_message(abot)
    assert not buttons(final) and "Denied" in message_text(final)
    # The reason shows as typed, in plain text, which Slack never parses for mentions or links.
    assert "not during the release <!here>" in message_text(final)
    assert not any("!here" in text for text in mrkdwn_texts(final["blocks"]))
    dm = abot.slack.wait_for("chat.postMessage", lambda a: a.get("channel", "").startswith("D0ALICE"))[-1]
    assert "not during the release" in message_text(dm)
    assert emulator.calls("UpdateAnnouncementBanner") == []


def test_requester_cancels(abot: BotHarness, emulator) -> None:
    posted = request_banner_off(abot)
    notice = abot.slack.wait_for("response_url", lambda a: "waiting for" in message_text(a))[-1]
    cancel = buttons(notice)["approval:cancel"]
    assert "only the requester" in abot.click("approval:cancel", cancel["value"], user="U0BOB").reply_text().lower()
    abot.click("approval:cancel", cancel["value"], user="U0ALICE").reply()
    assert only_request(abot).state == "cancelled"
    assert not buttons(channel_message(abot))
    assert "already cancelled" in approve(abot, posted, "U0BOB").reply_text()


def test_expiry_updates_the_message_and_tells_the_requester(abot: BotHarness, emulator) -> None:
    request_banner_off(abot)
    set_clock(abot.services, lambda: time.time() + 2 * 3600)
    abot.services.approvals.sweep()
    assert only_request(abot).state == "expired"
    final = channel_message(abot)
    assert not buttons(final) and "Expired" in message_text(final)
    abot.slack.wait_for("chat.postMessage", lambda a: a.get("channel", "").startswith("D0ALICE"))


def test_half_ttl_reminder_goes_into_the_thread_once(abot: BotHarness, emulator) -> None:
    posted = request_banner_off(abot)
    set_clock(abot.services, lambda: time.time() + 0.6 * 3600)
    abot.services.approvals.sweep()
    abot.services.approvals.sweep()
    reminders = abot.slack.calls_to("chat.postMessage")
    threaded = [r for r in reminders if r.get("thread_ts")]
    assert len(threaded) == 1 and threaded[0]["thread_ts"] == channel_message(abot)["ts"]
    assert "Reminder" in message_text(threaded[0])
    assert posted


def test_conflict_when_ona_changed_after_the_request(abot: BotHarness, emulator) -> None:
    emulator.state.banner.enabled = True
    posted = request_banner_off(abot)
    emulator.state.banner.enabled = False  # someone changed it in the dashboard meanwhile
    approve(abot, posted, "U0BOB").reply()
    assert only_request(abot).state == "conflict"
    assert emulator.calls("UpdateAnnouncementBanner") == []
    dm = abot.slack.wait_for("chat.postMessage", lambda a: a.get("channel", "").startswith("D0ALICE"))[-1]
    assert "ask again" in message_text(dm).lower()


def test_two_of_n_updates_the_message_at_each_vote(emulator, slack: FakeSlack, db_location: str) -> None:
    emulator.state.banner.enabled = True
    emulator.add_member("dan@example.com", "Dan Admin", role=OrganizationRole.ADMIN.value)
    slack.users["U0DAN"] = {"name": "dan", "real_name": "Dan Admin", "email": "dan@example.com"}
    bot = make_harness(emulator, slack, policy=TWO_APPROVALS, db_path=db_location)
    try:
        posted = request_banner_off(bot)
        assert "0 of 2 approvals" in message_text(posted)
        assert "1 of 2" in approve(bot, posted, "U0BOB").reply_text()
        assert "1 of 2 approvals: <@U0BOB>" in message_text(channel_message(bot))
        assert emulator.calls("UpdateAnnouncementBanner") == []
        approve(bot, posted, "U0BOB").reply()  # a second click by the same approver is not a second vote
        assert only_request(bot).state == "pending"
        approve(bot, posted, "U0DAN").reply()
        assert only_request(bot).state == "succeeded"
        assert len(emulator.calls("UpdateAnnouncementBanner")) == 1
    finally:
        bot.close()


def test_fifty_concurrent_approve_clicks_execute_once(abot: BotHarness, emulator) -> None:
    posted = request_banner_off(abot)
    value = buttons(posted)["approval:approve"]["value"]

    def click(_: int) -> int:
        return abot.click("approval:approve", value, user="U0BOB").response.status_code

    with ThreadPoolExecutor(max_workers=50) as pool:
        assert set(pool.map(click, range(50))) == {200}
    wait_until(lambda: only_request(abot).state == "succeeded", what="execution")
    wait_until(lambda: len(abot.slack.calls_to("response_url")) >= 51, what="every click answered")
    assert len(emulator.calls("UpdateAnnouncementBanner")) == 1
    answers = [message_text(a) for a in abot.slack.calls_to("response_url")]
    assert sum("already" in a for a in answers) >= 40


# --- crash safety -----------------------------------------------------------------------------


def test_crash_between_executing_and_the_ona_call_is_settled_without_a_call(abot: BotHarness, emulator) -> None:
    emulator.state.banner.enabled = True
    request_banner_off(abot)
    request = only_request(abot)
    # The process died right after winning approved → executing, before calling Ona.
    assert store(abot).transition(request.id, "pending", EXECUTING)
    abot.services.approvals.reconcile()  # too soon: it may still be running somewhere
    assert only_request(abot).state == EXECUTING
    backdate(abot, 600)  # the restart, minutes later (by the database's clock: issue 12)
    abot.services.approvals.reconcile()
    settled = only_request(abot)
    # Ona's state shows it did not run (the banner is still on): said so, not "outcome unknown".
    assert settled.state == "failed" and settled.result.startswith("Not applied") and settled.note == "not applied"
    assert emulator.calls("UpdateAnnouncementBanner") == []
    assert not buttons(channel_message(abot))


def test_crash_after_the_ona_call_is_settled_as_succeeded(abot: BotHarness, emulator) -> None:
    emulator.state.banner.enabled = True
    request_banner_off(abot)
    request = only_request(abot)
    assert store(abot).transition(request.id, "pending", EXECUTING)
    emulator.state.banner.enabled = False  # Ona had applied it before the crash
    backdate(abot, 600)
    abot.services.approvals.reconcile()
    assert only_request(abot).state == "succeeded"
    assert emulator.calls("UpdateAnnouncementBanner") == []


# --- the audit trail --------------------------------------------------------------------------


def test_audit_verify_names_the_altered_and_the_removed_row(abot: BotHarness, emulator) -> None:
    posted = request_banner_off(abot)
    approve(abot, posted, "U0BOB").reply()
    ok, message = audit_trail.verify(store(abot))
    assert ok, message
    run_sql(abot.settings.db_path, "UPDATE audit SET outcome = 'approve (edited)' WHERE seq = 2")
    ok, message = audit_trail.verify(store(abot))
    assert not ok and message == "row 2 was altered"
    run_sql(abot.settings.db_path, "DELETE FROM audit WHERE seq = 2")
    ok, message = audit_trail.verify(store(abot))
    assert not ok and "row 2 was removed" in message


def test_audit_command_shows_the_last_entries(abot: BotHarness, emulator) -> None:
    posted = request_banner_off(abot)
    approve(abot, posted, "U0BOB").reply()
    text = abot.command("audit 3").reply_text()
    # In words: what (as people say it), who (a mention), how it ended, when ("… ago" in Slack's terms).
    assert "*Update the announcement banner* — asked for by <@U0ALICE>" in text
    assert "approved by <@U0BOB>" in text and "ran after approval: done" in text
    assert "^{ago}|just now>" in text
    for internal in ("banner.update", "vote", "execute", "succeeded", "pending", "approve "):
        assert internal not in text, internal
    assert "1 to 40" in abot.command("audit 500").reply_text()


def test_requests_lists_pending_with_buttons_only_for_approvers(abot: BotHarness, emulator) -> None:
    request_banner_off(abot)
    for_bob = abot.command("requests", user="U0BOB").reply()
    assert "approval:approve" in json.dumps(for_bob["blocks"])
    for_alice = abot.command("requests", user="U0ALICE").reply()
    assert "approval:approve" not in json.dumps(for_alice["blocks"])
    assert "Turn the banner" in message_text(for_alice) or "banner" in message_text(for_alice).lower()


def test_app_home_shows_pending_approvals_and_own_requests(abot: BotHarness, emulator) -> None:
    request_banner_off(abot)
    body, headers = abot.payloads.event({"type": "app_home_opened", "user": "U0BOB", "tab": "home"})
    assert abot.post(body, headers).status_code == 200
    home = abot.slack.wait_for("views.publish", lambda a: a.get("user_id") == "U0BOB")[-1]["view"]
    assert "Waiting for your approval" in message_text(home) and "approval:approve" in json.dumps(home)
    body, headers = abot.payloads.event({"type": "app_home_opened", "user": "U0ALICE", "tab": "home"})
    abot.post(body, headers)
    mine = abot.slack.wait_for("views.publish", lambda a: a.get("user_id") == "U0ALICE")[-1]["view"]
    assert "pending" in message_text(mine) and "approval:approve" not in json.dumps(mine)


# On SQLite: processes sharing the file. (PostgreSQL's replicas: test_replicas.py, with `ona-bot serve`.)
@pytest.mark.parametrize("db_location", ["sqlite"], indirect=True)
def test_approve_clicks_from_four_processes_sharing_the_database_execute_once(
    abot: BotHarness, emulator, tmp_path
) -> None:
    import subprocess
    import sys

    emulator.add_member("dan@example.com", "Dan Admin", role=OrganizationRole.ADMIN.value)
    abot.slack.users["U0DAN"] = {"name": "dan", "real_name": "Dan Admin", "email": "dan@example.com"}
    posted = request_banner_off(abot)
    go = tmp_path / "go"
    config = {
        "env": {
            "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": "test-signing-secret",
            "ONA_API_KEY": emulator.admin_key, "ONA_BASE_URL": emulator.base_url,
            "ONA_ORGANIZATION_ID": emulator.organization_id, "ONA_BOT_DB": str(abot.settings.db_path),
            "ONA_BOT_APPROVALS_CHANNEL": CHANNEL, **keys_for(abot.settings.db_path),
        },
        "slack_api": abot.slack.api_url, "slack_url": abot.slack.url, "policy": APPROVAL_POLICY,
        "secret": "test-signing-secret", "value": buttons(posted)["approval:approve"]["value"],
        "users": ["U0BOB", "U0DAN"], "clicks": 12, "go_file": str(go),
    }
    procs = [subprocess.Popen([sys.executable, "-m", "tests.workers.approve_clicks", json.dumps(config)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    go.write_text("go")
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], [err[-2000:] for _, err in outputs]
    for out, _ in outputs:
        assert set(json.loads(out)["statuses"]) == {200}
    assert len(emulator.calls("UpdateAnnouncementBanner")) == 1  # 48 clicks, one mutation
    assert only_request(abot).state == "succeeded"
    assert audit_trail.verify(store(abot))[0]
    assert [r["action"] for r in store(abot).audit_rows()].count("execute") == 1


def test_crash_between_approved_and_executing_runs_once_at_restart(abot: BotHarness, emulator) -> None:
    emulator.state.banner.enabled = True
    request_banner_off(abot)
    request = only_request(abot)
    assert store(abot).add_vote(request.id, "U0BOB", "T0ACME", "bob@example.com")
    assert store(abot).transition(request.id, "pending", "approved", decided_by="U0BOB", decided_at=time.time())
    abot.services.approvals.reconcile()
    abot.services.approvals.reconcile()  # a second start finds nothing left to do
    assert only_request(abot).state == "succeeded"
    assert len(emulator.calls("UpdateAnnouncementBanner")) == 1


def test_user_group_approvers_are_mentioned_and_only_members_may_approve(emulator, slack: FakeSlack,
                                                                        db_location: str) -> None:
    emulator.state.banner.enabled = True
    slack.usergroups["S0ONCALL"] = ["U0BOB"]
    policy = APPROVAL_POLICY.replace('approvers = ["ona:admins"]', 'approvers = ["S0ONCALL"]')
    bot = make_harness(emulator, slack, policy=policy, db_path=db_location)
    try:
        posted = request_banner_off(bot)
        assert "<!subteam^S0ONCALL>" in message_text(posted)
        slack.users["U0DAN"] = {"name": "dan", "real_name": "Dan", "email": "dan@example.com"}
        assert "not an approver" in approve(bot, posted, "U0DAN").reply_text()
        approve(bot, posted, "U0BOB").reply()
        assert only_request(bot).state == "succeeded"
    finally:
        bot.close()
