"""Approvers are told where they will see it (issue 16): a direct message each with Approve and Deny,
or a user group mentioned in the channel message, per the policy's `notify`; every copy updated when
the request is decided anywhere; one reminder, in the thread and to those who have not voted, at the
policy's `remind_at`. Driven through signed Slack requests; Slack is the fake, Ona the emulator."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from bot.approvals.views import APPROVE, DENY
from bot.localslack import FakeSlack
from bot.ona.models import OrganizationRole
from tests.harness import (
    APPROVAL_POLICY,
    APPROVALS_CHANNEL,
    BotHarness,
    buttons,
    make_harness,
    message_text,
    set_clock,
    wait_until,
)

CHANNEL = APPROVALS_CHANNEL


def add_admin(emulator, slack: FakeSlack, user_id: str, name: str) -> None:
    """Another Ona admin, with a Slack account of the same email."""
    email = f"{name.lower()}@example.com"
    emulator.add_member(email, f"{name} Admin", role=OrganizationRole.ADMIN.value)
    slack.users[user_id] = {"name": name.lower(), "real_name": f"{name} Admin", "email": email}


def harness(emulator, slack: FakeSlack, policy: str = APPROVAL_POLICY) -> BotHarness:
    emulator.state.banner.enabled = True  # the sample change is `banner off`
    return make_harness(emulator, slack, policy=policy)


@pytest.fixture
def abot(emulator, slack: FakeSlack) -> Iterator[BotHarness]:
    """Alice, Bob and Dan are Ona admins; every change needs one approval."""
    add_admin(emulator, slack, "U0DAN", "Dan")
    bot = harness(emulator, slack)
    yield bot
    bot.close()


def request_banner_off(bot: BotHarness) -> dict:
    """Alice asks; returns the channel message. Her notice comes after the approvers' messages went out."""
    bot.command("banner off reason: maintenance window").reply()
    return bot.slack.wait_for("chat.postMessage", lambda a: a.get("channel") == CHANNEL)[-1]


def dms(bot: BotHarness, dm: str) -> list[dict]:
    return [a for a in bot.slack.calls_to("chat.postMessage") if a.get("channel") == dm]


def shown(bot: BotHarness, channel: str) -> dict:
    """The one message in this channel as Slack shows it now (chat.update applied)."""
    found = [m for (c, _), m in bot.slack.messages.items() if c == channel and not m.get("thread_ts")]
    assert len(found) == 1, found
    return found[0]


def only_request(bot: BotHarness):
    rows = bot.services.approvals.store.in_states("pending", "succeeded", "denied", "expired", "cancelled")
    assert len(rows) == 1
    return rows[0]


def test_each_approver_but_the_requester_gets_a_dm_and_a_click_there_updates_every_copy(
        abot: BotHarness, emulator) -> None:
    posted = request_banner_off(abot)
    bob, dan = dms(abot, "D0BOB"), dms(abot, "D0DAN")
    assert len(bob) == 1 and len(dan) == 1
    assert dms(abot, "D0ALICE") == []  # nobody is asked to approve their own request
    text = message_text(bob[0])
    assert "<@U0ALICE>" in text and "maintenance window" in text and "yes → no" in text and "<!date^" in text
    # The same buttons as the channel's: the Approve value binds the request's hash.
    assert buttons(bob[0])[APPROVE]["value"] == buttons(posted)[APPROVE]["value"]
    assert DENY in buttons(bob[0]) and buttons(bob[0])[APPROVE]["confirm"]
    request = only_request(abot)
    copies = abot.services.approvals.store.copies(request.id)
    assert {(c["user_id"], c["channel"], c["shown_state"]) for c in copies} == {
        ("U0BOB", "D0BOB", "pending"), ("U0DAN", "D0DAN", "pending")}

    # Bob approves from his direct message.
    abot.click(APPROVE, buttons(bob[0])[APPROVE]["value"], user="U0BOB", channel_id="D0BOB").reply()
    assert emulator.calls("UpdateAnnouncementBanner") == [
        {"organizationId": emulator.organization_id, "enabled": False}]
    for channel in (CHANNEL, "D0BOB", "D0DAN"):
        final = shown(abot, channel)
        assert not buttons(final), f"the copy in {channel} still has buttons"
        assert "Approved and done" in message_text(final) and "<@U0BOB>" in message_text(final)
    assert {c["shown_state"] for c in abot.services.approvals.store.copies(request.id)} == {"succeeded"}
    # Dan's stale button (Slack had not refreshed his view yet) changes nothing.
    assert "already" in abot.click(APPROVE, buttons(dan[0])[APPROVE]["value"], user="U0DAN",
                                   channel_id="D0DAN").reply_text()
    assert len(emulator.calls("UpdateAnnouncementBanner")) == 1


def test_a_copy_slack_would_not_update_is_repaired_by_the_sweeper(abot: BotHarness, emulator) -> None:
    posted = request_banner_off(abot)
    abot.slack.fail_next("chat.update", error="internal_error", times=3)  # the channel's and both copies
    abot.click(APPROVE, buttons(posted)[APPROVE]["value"], user="U0BOB", channel_id=CHANNEL).reply()
    request = only_request(abot)
    assert request.state == "succeeded"
    assert buttons(shown(abot, "D0BOB")) and buttons(shown(abot, "D0DAN"))
    assert [r.id for r in abot.services.approvals.store.stale_copies()] == [request.id]
    abot.services.approvals.sweep()
    for channel in (CHANNEL, "D0BOB", "D0DAN"):
        assert not buttons(shown(abot, channel)) and "Approved and done" in message_text(shown(abot, channel))
    assert abot.services.approvals.store.stale_copies() == []
    updates = len(abot.slack.calls_to("chat.update"))
    abot.services.approvals.sweep()  # once repaired, left alone
    assert len(abot.slack.calls_to("chat.update")) == updates


def test_denied_in_the_channel_updates_the_copies(abot: BotHarness, emulator) -> None:
    from bot.localslack import text_input

    posted = request_banner_off(abot)
    abot.click(DENY, buttons(posted)[DENY]["value"], user="U0DAN", channel_id=CHANNEL)
    modal = abot.slack.wait_for("views.open", lambda a: a["view"]["callback_id"] == "approval_deny")[-1]["view"]
    abot.submit({**modal, "id": "V9"}, {"reason": text_input("not during the release")}, user="U0DAN")
    for channel in ("D0BOB", "D0DAN"):
        wait_until(lambda c=channel: "Denied" in message_text(shown(abot, c)), what=f"the copy in {channel}")
        assert not buttons(shown(abot, channel)) and "not during the release" in message_text(shown(abot, channel))


@pytest.mark.parametrize("why", ["over the cap", "Slack refused"])
def test_approvers_who_got_no_dm_are_counted_in_the_channel(abot: BotHarness, emulator, why: str) -> None:
    if why == "over the cap":
        abot.services.approvals.notifier.max_dms = 1
    else:
        abot.slack.fail_next("conversations.open", error="cannot_dm_bot")
    request_banner_off(abot)
    assert len(dms(abot, "D0BOB")) + len(dms(abot, "D0DAN")) == 1
    note = message_text(shown(abot, CHANNEL))
    assert "1 approver got no direct message" in note and "they can decide here" in note


def test_a_user_group_is_mentioned_in_the_channel_instead_of_direct_messages(emulator, slack: FakeSlack) -> None:
    slack.usergroups["S0ONCALL"] = ["U0BOB"]
    bot = harness(emulator, slack, APPROVAL_POLICY + 'notify = "@S0ONCALL"\n')
    try:
        posted = request_banner_off(bot)
        assert posted["text"].startswith("<!subteam^S0ONCALL>")  # the notification Slack shows
        assert "<!subteam^S0ONCALL>: your approval is needed" in message_text(posted)
        assert not slack.calls_to("conversations.open")
        assert [a for a in slack.calls_to("chat.postMessage") if a["channel"] != CHANNEL] == []
        at(bot, 0.6)  # the reminder mentions the group in the thread, and sends no direct message either
        thread, direct = reminders(bot)
        assert len(thread) == 1 and "<!subteam^S0ONCALL>" in message_text(thread[0]) and direct == {}
        bot.click(APPROVE, buttons(posted)[APPROVE]["value"], user="U0BOB", channel_id=CHANNEL).reply()
        assert "your approval is needed" not in message_text(shown(bot, CHANNEL))  # once decided
    finally:
        bot.close()


def test_notify_channel_tells_nobody_directly(emulator, slack: FakeSlack) -> None:
    bot = harness(emulator, slack, APPROVAL_POLICY + 'notify = "channel"\n')
    try:
        posted = request_banner_off(bot)
        assert "subteam" not in message_text(posted)
        assert not slack.calls_to("conversations.open")
    finally:
        bot.close()


def reminders(bot: BotHarness) -> tuple[list[dict], dict[str, list[dict]]]:
    """The reminders sent so far: in the channel message's thread, and by DM (per DM channel)."""
    sent = bot.slack.calls_to("chat.postMessage")
    thread = [a for a in sent if a.get("channel") == CHANNEL and a.get("thread_ts")]
    direct: dict[str, list[dict]] = {}
    for a in sent:
        if a["channel"].startswith("D") and "Reminder" in (a.get("text") or ""):
            direct.setdefault(a["channel"], []).append(a)
    return thread, direct


def at(bot: BotHarness, fraction: float) -> None:
    """Sweep as if `fraction` of the request's hour had passed."""
    set_clock(bot.services, lambda: time.time() + fraction * 3600)
    bot.services.approvals.sweep()


def test_the_reminder_goes_to_the_thread_and_to_those_who_have_not_voted_once(emulator, slack: FakeSlack) -> None:
    add_admin(emulator, slack, "U0DAN", "Dan")
    bot = harness(emulator, slack, APPROVAL_POLICY.replace("approvals = 1", "approvals = 2"))
    try:
        posted = request_banner_off(bot)
        assert "1 of 2" in bot.click(APPROVE, buttons(posted)[APPROVE]["value"], user="U0BOB",
                                     channel_id=CHANNEL).reply_text()
        at(bot, 0.4)  # before half-time (the default): nothing yet
        assert reminders(bot) == ([], {})
        at(bot, 0.6)
        at(bot, 0.7)  # once only
        thread, direct = reminders(bot)
        assert len(thread) == 1 and thread[0]["thread_ts"] == posted_ts(bot)
        text = message_text(thread[0])
        assert "still needs 1 approval;" in text and "<!date^" in text and "1 approver who has not voted" in text
        assert list(direct) == ["D0DAN"] and len(direct["D0DAN"]) == 1  # not Bob (voted), not Alice (asked)
        dm = message_text(direct["D0DAN"][0])
        assert "<@U0ALICE>" in dm and "1 approval;" in dm and "<!date^" in dm and "acme.slack.com" in dm
        assert "seconds" not in dm and "banner.update" not in dm
    finally:
        bot.close()


@pytest.mark.parametrize(("setting", "quiet_at", "due_at"), [("0.8", 0.7, 0.85), ("false", 0.99, None)])
def test_when_to_remind_is_set_in_the_policy(emulator, slack: FakeSlack, setting: str, quiet_at: float,
                                             due_at: float | None) -> None:
    bot = harness(emulator, slack, APPROVAL_POLICY + f"remind_at = {setting}\n")
    try:
        request_banner_off(bot)
        at(bot, quiet_at)
        assert reminders(bot) == ([], {})
        if due_at is not None:
            at(bot, due_at)
            thread, direct = reminders(bot)
            assert len(thread) == 1 and list(direct) == ["D0BOB"]
    finally:
        bot.close()


def posted_ts(bot: BotHarness) -> str:
    return next(ts for (channel, ts), m in bot.slack.messages.items() if channel == CHANNEL and not m.get("thread_ts"))
