"""What every command relies on: signatures, the 3-second ack, parsing, help, errors, health."""

from __future__ import annotations

import time

import pytest

from bot.router import normalise
from tests.harness import BotHarness, message_text


def test_ack_comes_back_under_3s_while_ona_takes_5s(bot: BotHarness, emulator) -> None:
    emulator.inject_fault("GetOrganizationPolicies", code=None, delay=5.0, times=1)
    started = time.monotonic()
    sent = bot.command("policies")
    ack_seconds = time.monotonic() - started
    assert sent.response.status_code == 200
    assert ack_seconds < 3.0, f"ack took {ack_seconds:.2f}s"
    # …and the answer still arrives once Ona does.
    assert "Organization policies" in sent.reply_text(timeout=20)


def test_modal_opens_at_once_while_ona_is_slow(bot: BotHarness, emulator) -> None:
    emulator.inject_fault("GetOrganizationPolicies", code=None, delay=5.0, times=1)
    started = time.monotonic()
    bot.command("policies edit")
    opened = bot.slack.wait_for("views.open", timeout=3)[-1]
    assert time.monotonic() - started < 3.0
    assert "Loading" in message_text(opened["view"])
    assert bot.filled_view("policies_edit", timeout=20)["callback_id"] == "policies_edit"


@pytest.mark.parametrize(
    "tamper",
    ["wrong_secret", "missing_headers", "altered_body", "old_timestamp", "future_timestamp"],
)
def test_unsigned_or_tampered_requests_get_401_and_do_nothing(bot: BotHarness, emulator, tamper: str) -> None:
    from bot.localslack import SlackPayloads

    body, headers = bot.payloads.slash_command("banner off", user_id="U0ALICE",
                                               response_url=bot.slack.response_url("x"))
    if tamper == "wrong_secret":
        body, headers = SlackPayloads("not-the-secret").slash_command(
            "banner off", user_id="U0ALICE", response_url=bot.slack.response_url("x"))
    elif tamper == "missing_headers":
        headers = {"Content-Type": headers["Content-Type"]}
    elif tamper == "altered_body":
        body = body.replace("banner+off", "banner+on")
    elif tamper in ("old_timestamp", "future_timestamp"):
        skew = -301 if tamper == "old_timestamp" else 301
        headers = {**headers, **bot.payloads.sign(body, timestamp=int(time.time()) + skew)}
    response = bot.post(body, headers)
    assert response.status_code == 401
    assert emulator.requests == []
    assert bot.slack.calls_to("response_url") == []


def test_healthz(bot: BotHarness) -> None:
    assert bot.http.get("/healthz").status_code == 200


def test_help_lists_every_group_and_what_is_not_offered(bot: BotHarness) -> None:
    text = bot.command("help").reply_text()
    for group in ("/ona policies", "/ona banner", "/ona invite", "/ona sso", "/ona audit"):
        assert group in text
    assert "banner on" not in text  # one line a group; the commands are one `help <group>` away
    assert "policies edit" in bot.command("help policies").reply_text()
    assert bot.command("banner help").reply_text() == bot.command("help banner").reply_text()
    assert "banner on [message]" in bot.command("help banner").reply_text()
    assert "not offered in chat" in bot.command("help org").reply_text()
    assert "Did you mean `banner`" in bot.command("help baner").reply_text()
    assert bot.command("").reply_text() == text  # `/ona` alone is help


def test_unknown_command_gets_the_nearest_usage(bot: BotHarness) -> None:
    text = bot.command("baner of").reply_text()
    assert "Did you mean `banner`" in text and "/ona banner off" in text


def test_phone_typography_is_understood(bot: BotHarness, emulator) -> None:
    assert normalise("banner  on “hello”  —dry-run") == 'banner on "hello" --dry-run'
    assert normalise("policies\u00a0edit") == "policies edit"
    emulator.state.banner.enabled = True
    bot.command("BANNER  OFF").reply()
    assert emulator.calls("UpdateAnnouncementBanner") == [
        {"organizationId": emulator.organization_id, "enabled": False}
    ]


def test_handler_crash_gives_a_reference_not_a_traceback(bot: BotHarness, emulator) -> None:
    emulator.inject_fault("GetAnnouncementBanner", code="internal", times=5)
    text = bot.command("banner").reply_text()
    assert "internal" in text and "Traceback" not in text


def test_invite_link_goes_only_to_the_requester(bot: BotHarness, emulator) -> None:
    ask = bot.command("invite").reply()
    button = next(e for b in ask["blocks"] if b["type"] == "actions" for e in b["elements"])
    assert button["confirm"] and "stops working" in message_text(ask)
    sent = bot.click(button["action_id"], button.get("value", ""))
    reply = sent.reply()
    invite_id = emulator.state.invite_id
    assert invite_id in message_text(reply) and reply["response_type"] == "ephemeral"
    others = [c for c in bot.slack.calls if c.method != "response_url"]
    assert all(invite_id not in str(c.args) for c in others)
    # the summary shows facts, not the link
    summary = bot.command("invite show").reply_text()
    assert "Acme" in summary and invite_id not in summary


def test_member_key_invite_is_refused_friendly(emulator, slack) -> None:
    from tests.harness import make_harness

    harness = make_harness(emulator, slack, api_key=emulator.member_key)
    try:
        text = harness.click("invite:create").reply_text()
    finally:
        harness.close()
    assert "not an admin of this organization" in text


def test_invite_dry_run_shows_the_change_without_a_button(bot: BotHarness, emulator) -> None:
    text = bot.command("invite --dry-run").reply_text()
    assert "Dry run" in text and "Create a new invite link" in text
    assert emulator.calls("CreateOrganizationInvite") == []


def test_help_lists_only_what_the_caller_may_do(bot: BotHarness) -> None:
    admin = bot.command("help banner", user="U0ALICE").reply_text()
    member = bot.command("help banner", user="U0CAROL").reply_text()
    assert "banner off" in admin and "banner off" not in member
    member = bot.command("help", user="U0CAROL").reply_text()
    assert "/ona policies" not in member and "it is for the Ona organization's admins" in member
