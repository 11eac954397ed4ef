"""Undo for a change that ran at once: offered for five minutes, to its maker, once; it restores what Ona
showed before, as a change of its own (audited); after the time, or when Ona changed since, it says so."""

from __future__ import annotations

import time

from bot.approvals.views import UNDO
from tests.harness import BotHarness, buttons, message_text, set_clock


def banner_changes(emulator) -> list[dict]:
    return [{k: v for k, v in c.items() if k != "organizationId"} for c in emulator.calls("UpdateAnnouncementBanner")]


def turn_banner_on(bot: BotHarness, emulator) -> dict:
    emulator.state.banner.enabled = False
    emulator.state.banner.message = "Old news"
    reply = bot.command("banner on Deploy freeze").reply()
    assert emulator.state.banner.enabled is True
    return reply


def test_undo_puts_back_the_previous_banner_as_an_audited_change(bot: BotHarness, emulator) -> None:
    reply = turn_banner_on(bot, emulator)
    undo = buttons(reply)[UNDO]
    assert "5 minutes" in message_text(reply) and "300" not in message_text(reply)
    answer = bot.click(UNDO, undo["value"], channel_id="C0OPS").reply_text()
    assert "now *off*" in answer
    assert banner_changes(emulator)[1:] == [{"enabled": False, "message": "Old news"}]
    assert (emulator.state.banner.enabled, emulator.state.banner.message) == (False, "Old news")
    rows = bot.services.approvals.store.audit_rows()
    assert [(r["action"], r["operation"]) for r in rows] == [("direct", "banner.update"), ("direct", "banner.update")]
    again = bot.click(UNDO, undo["value"], channel_id="C0OPS").reply_text()
    assert "nothing to undo" in again and len(banner_changes(emulator)) == 2


def test_undo_after_five_minutes_is_too_late_in_words(bot: BotHarness, emulator) -> None:
    undo = buttons(turn_banner_on(bot, emulator))[UNDO]
    set_clock(bot.services, lambda: time.time() + 301)
    answer = bot.click(UNDO, undo["value"], channel_id="C0OPS").reply_text()
    assert "Too late to undo" in answer and "5 minutes" in answer and "301" not in answer
    assert len(banner_changes(emulator)) == 1


def test_only_its_maker_may_undo(bot: BotHarness, emulator) -> None:
    undo = buttons(turn_banner_on(bot, emulator))[UNDO]
    answer = bot.click(UNDO, undo["value"], user="U0BOB", channel_id="C0OPS").reply_text()
    assert "nothing to undo" in answer and len(banner_changes(emulator)) == 1
    assert "now *off*" in bot.click(UNDO, undo["value"], channel_id="C0OPS").reply_text()  # still Alice's


def test_undo_does_not_overwrite_a_later_change(bot: BotHarness, emulator) -> None:
    undo = buttons(turn_banner_on(bot, emulator))[UNDO]
    emulator.state.banner.message = "Someone else's words"
    answer = bot.click(UNDO, undo["value"], channel_id="C0OPS").reply_text()
    assert "Not undone" in answer and "changed again" in answer
    assert len(banner_changes(emulator)) == 1


def test_a_forged_undo_value_gets_words(bot: BotHarness, emulator) -> None:
    answer = bot.click(UNDO, '{"id": "Unothing"}', channel_id="C0OPS").reply_text()
    assert "nothing to undo" in answer and banner_changes(emulator) == []


def test_undo_of_a_rename(bot: BotHarness, emulator) -> None:
    old = emulator.state.organization.name
    reply = bot.command("org rename Acme Renamed").reply()
    bot.click(UNDO, buttons(reply)[UNDO]["value"], channel_id="C0OPS").reply()
    assert emulator.state.organization.name == old


def test_no_undo_for_an_invite_link(bot: BotHarness, emulator) -> None:
    bot.command("invite").reply()
    card = bot.slack.wait_for("response_url", lambda a: buttons(a))[-1]
    [confirm] = [b for b in buttons(card).values() if b["action_id"] != UNDO]
    reply = bot.click(confirm["action_id"], confirm.get("value", ""), channel_id="C0OPS").reply()
    assert emulator.calls("CreateOrganizationInvite") and UNDO not in buttons(reply)


def test_the_audit_trail_reads_in_words(bot: BotHarness, emulator) -> None:
    reply = turn_banner_on(bot, emulator)
    bot.click(UNDO, buttons(reply)[UNDO]["value"], channel_id="C0OPS").reply()
    bot.command("role nobody@example.com admin").reply()  # refused by Ona: no such member
    text = bot.command("audit").reply_text()
    assert text.count("*Update the announcement banner* — done, by <@U0ALICE>") == 2
    for internal in ("banner.update", "direct", "succeeded", "members.set_role", "not_found", "failed:"):
        assert internal not in text, internal


def test_undo_of_a_role_change(bot: BotHarness, emulator) -> None:
    reply = bot.command("role bob@example.com member").reply()
    assert "member" in message_text(reply)
    bot.click(UNDO, buttons(reply)[UNDO]["value"], channel_id="C0OPS").reply()
    roles = [c["role"] for c in emulator.calls("SetRole")]
    assert roles == ["ORGANIZATION_ROLE_MEMBER", "ORGANIZATION_ROLE_ADMIN"]


def test_undo_of_a_policy_set_in_one_line(bot: BotHarness, emulator) -> None:
    reply = bot.command("policies set timeout 12h").reply()
    bot.click(UNDO, buttons(reply)[UNDO]["value"], channel_id="C0OPS").reply()
    sent = [c.get("maximumEnvironmentTimeout") for c in emulator.calls("UpdateOrganizationPolicies")]
    assert sent == ["43200s", "28800s"]
