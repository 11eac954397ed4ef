"""A `reason: …` typed with a command that asks first rides in the confirm button into the request (the
approval message shows it; no empty reason form). The button's value is untrusted: cleaned and cut."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from bot.localslack import FakeSlack
from tests.harness import APPROVAL_POLICY, APPROVALS_CHANNEL, BotHarness, buttons, make_harness, message_text


@pytest.fixture
def abot(emulator, slack: FakeSlack) -> Iterator[BotHarness]:
    harness = make_harness(emulator, slack, policy=APPROVAL_POLICY)
    yield harness
    harness.close()


def posted_request(bot: BotHarness) -> dict:
    return bot.slack.wait_for("chat.postMessage", lambda a: a.get("channel") == APPROVALS_CHANNEL)[-1]


def only_reason(bot: BotHarness) -> str:
    [request] = bot.services.approvals.store.in_states("pending", "draft")
    return request.reason


def test_invite_reason_is_carried_through_the_confirm_button(abot: BotHarness, emulator) -> None:
    card = abot.command("invite reason: new hire onboarding").reply()
    button = buttons(card)["invite:create"]
    assert json.loads(button["value"])["reason"] == "new hire onboarding"
    abot.click("invite:create", button["value"], channel_id="C0OPS")
    assert "new hire onboarding" in message_text(posted_request(abot))
    assert abot.slack.calls_to("views.open") == []  # no empty reason form
    assert only_reason(abot) == "new hire onboarding"


def test_domain_remove_reason_is_carried_too(abot: BotHarness, emulator, ona) -> None:
    ona.create_domain_verification(domain="old.acme.example")
    card = abot.command("domain remove old.acme.example reason: domain sold").reply()
    button = buttons(card)["domain:remove"]
    abot.click("domain:remove", button["value"], channel_id="C0OPS")
    assert "domain sold" in message_text(posted_request(abot))
    assert abot.slack.calls_to("views.open") == []


def test_a_forged_reason_in_the_button_is_cleaned_and_cut(abot: BotHarness, emulator) -> None:
    forged = json.dumps({"reason": "\u202eevil\u0007 " + "why " * 800})  # (no run of x: a test secret is one)
    abot.click("invite:create", forged, channel_id="C0OPS")
    posted_request(abot)
    reason = only_reason(abot)
    assert reason.startswith("evil why why") and len(reason) <= 500
    assert "\u202e" not in reason and "\u0007" not in reason


def test_without_a_reason_the_form_still_asks_for_one(abot: BotHarness, emulator) -> None:
    card = abot.command("invite").reply()
    button = buttons(card)["invite:create"]
    assert "reason" not in (button.get("value") or "")
    abot.click("invite:create", button.get("value", ""), channel_id="C0OPS")
    abot.slack.wait_for("views.open", lambda a: a["view"]["callback_id"] == "approval_reason")
