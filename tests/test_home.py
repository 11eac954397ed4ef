"""The App Home as a control panel, the shortcuts and Cancel, end to end: signed Slack requests in (events,
clicks in the Home and in modals, shortcuts), the fake Slack's views.publish / views.open / views.update
and the Ona emulator observed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.localslack import FakeSlack, checkboxes, text_input
from bot.ona.emulator.state import SEED_SCIM_ID, new_id
from bot.ona.models import DomainVerification, DomainVerificationState
from tests.harness import (
    APPROVAL_POLICY,
    APPROVALS_CHANNEL,
    BotHarness,
    buttons,
    make_harness,
    message_text,
    wait_until,
)

# Operation names and enum values a person must never read.
INTERNAL = ("banner.update", "domain.verify", "scim.regenerate_token", "PENDING", "STATE_", "succeeded")


@pytest.fixture
def abot(emulator, slack: FakeSlack) -> Iterator[BotHarness]:
    """Every change needs one approval from another admin, with a reason."""
    emulator.state.banner.enabled = True  # the sample request is `banner off`: it must change something
    harness = make_harness(emulator, slack, policy=APPROVAL_POLICY)
    yield harness
    harness.close()


def pending_domain(emulator, domain: str = "acme-labs.com") -> DomainVerification:
    v = DomainVerification(id=new_id(), organization_id=emulator.organization_id, domain=domain,
                           state=DomainVerificationState.PENDING, verification_token=f"ona-verify={domain}",
                           created_at=datetime(2025, 3, 1, tzinfo=UTC))
    emulator.state.domain_verifications[v.id] = v
    return v


def request_banner_off(bot: BotHarness) -> str:
    """Alice asks to turn the banner off; returns the request's ID once its message is posted."""
    bot.command("banner off reason: maintenance window").reply()
    bot.slack.wait_for("chat.postMessage", lambda a: a.get("channel") == APPROVALS_CHANNEL)
    store = bot.services.approvals.store
    return wait_until(lambda: next((r.id for r in store.in_states("pending") if r.ts), None),
                      what="the request posted")


def state_of(bot: BotHarness, request_id: str) -> str:
    return bot.services.approvals.store.get(request_id).state


def headers_of(view: dict[str, Any]) -> list[str]:
    return [b["text"]["text"] for b in view["blocks"] if b["type"] == "header"]


def value(view: dict[str, Any], action_id: str) -> str:
    return buttons(view)[action_id].get("value") or ""


def all_buttons(view: dict[str, Any]) -> set[str]:
    return {e["action_id"] for b in view["blocks"] for e in
            (b.get("elements") or []) + ([b["accessory"]] if b.get("accessory") else []) if "action_id" in e}


# --- what the Home shows -----------------------------------------------------------------------


def test_an_admins_home_is_a_control_panel(bot: BotHarness, emulator) -> None:
    bot.command("banner on Maintenance tonight").reply()  # a direct change: the last changes show it
    pending_domain(emulator)
    emulator.state.scim_configurations[SEED_SCIM_ID].token_expires_at = datetime.now(UTC) + timedelta(days=5)
    home = bot.open_home("U0ALICE")
    text = message_text(home)
    assert headers_of(home)[:1] == ["Ona"]
    assert {"Announcement banner", "Your requests", "Domains to verify", "SCIM tokens expiring in 14 days",
            "Last changes"} <= set(headers_of(home))
    assert "Maintenance tonight" in text and ":large_green_circle: On" in text
    assert {"banner:off", "banner:edit", "domain:verify", "scim:regenerate"} <= all_buttons(home)
    assert "acme-labs.com" in text and "Google Workspace provisioning" in text
    assert "Update the announcement banner · by <@U0ALICE>" in text
    assert not any(word in text for word in INTERNAL)


def test_nothing_due_reads_as_such(bot: BotHarness, emulator) -> None:
    home = bot.open_home("U0ALICE")  # the seed's SCIM token expires in a year; no domain waits
    text = message_text(home)
    assert "No SCIM token expires in the next 14 days." in text
    assert "No domain is waiting for verification." in text
    assert "No change was made through the bot yet." in text
    assert {"domain:verify", "scim:regenerate"}.isdisjoint(all_buttons(home))


def test_someone_who_may_use_nothing_is_told_what_they_can_do_and_whom_to_ask(bot: BotHarness) -> None:
    home = bot.open_home("U0CAROL")  # a member of Ona, not an admin
    text = message_text(home)
    assert "Whom to ask" in text and "Ona organization admins" in text and "`/ona explain &lt;change&gt;`" in text
    assert "Announcement banner" not in headers_of(home) and "Last changes" not in headers_of(home)
    assert not all_buttons(home)


def test_each_section_fails_alone_and_says_so(bot: BotHarness, emulator) -> None:
    pending_domain(emulator)
    emulator.inject_fault("GetAnnouncementBanner", "unavailable", times=20)
    home = bot.open_home("U0ALICE")
    text = message_text(home)
    assert "Ona did not answer" in text and "The banner could not be shown" in text
    assert "banner:off" not in all_buttons(home) and "banner:on" not in all_buttons(home)
    assert "acme-labs.com" in text and "domain:verify" in all_buttons(home)  # the rest still shows
    assert "Last changes" in headers_of(home)


def test_requests_to_decide_show_whole_and_ones_own_with_cancel(abot: BotHarness) -> None:
    request_banner_off(abot)
    bobs = abot.open_home("U0BOB")
    text = message_text(bobs)
    assert "maintenance window" in text and "→" in text  # the reason and the whole change
    assert {"approval:approve", "approval:deny"} <= all_buttons(bobs)
    alices = abot.open_home("U0ALICE")
    assert "approval:cancel" in all_buttons(alices) and "approval:approve" not in all_buttons(alices)


# --- the buttons in the Home act, and the Home is drawn again ----------------------------------------


def test_turn_off_from_the_home(bot: BotHarness, emulator) -> None:
    emulator.state.banner.enabled = True
    emulator.state.banner.message = "Deploy freeze"
    home = bot.open_home("U0ALICE")
    seen = len(bot.homes("U0ALICE"))
    bot.click_in_view(home, "banner:off")
    again = bot.next_home("U0ALICE", seen)
    assert emulator.state.banner.enabled is False
    assert "banner:on" in all_buttons(again) and ":white_circle: Off" in message_text(again)


def test_approve_from_the_home(abot: BotHarness, emulator) -> None:
    request_id = request_banner_off(abot)
    home = abot.open_home("U0BOB")
    seen = len(abot.homes("U0BOB"))
    abot.click_in_view(home, "approval:approve", value(home, "approval:approve"), user="U0BOB")
    again = abot.next_home("U0BOB", seen)
    assert state_of(abot, request_id) == "succeeded" and emulator.state.banner.enabled is False
    assert "approval:approve" not in all_buttons(again) and "Nothing to decide" in message_text(again)
    alices = message_text(abot.open_home("U0ALICE"))  # her request reads as done, in words
    assert f"`{request_id}` · done" in alices and not any(word in alices for word in INTERNAL)


def test_deny_from_the_home_asks_a_reason_then_draws_the_home_again(abot: BotHarness) -> None:
    request_id = request_banner_off(abot)
    home = abot.open_home("U0BOB")
    abot.click_in_view(home, "approval:deny", value(home, "approval:deny"), user="U0BOB")
    form = abot.opened_view("approval_deny")
    assert json.loads(form["private_metadata"])["surface"] == "home"  # the form remembers where it came from
    abot.submit(form, {"reason": text_input("not tonight")}, user="U0BOB")
    wait_until(lambda: state_of(abot, request_id) == "denied", what="the request denied")
    # (the click that opened the form drew the Home too: wait for the one drawn after the denial)
    wait_until(lambda: "approval:deny" not in all_buttons(abot.homes("U0BOB")[-1]), what="the Home drawn again")


def test_cancel_from_the_home(abot: BotHarness) -> None:
    request_id = request_banner_off(abot)
    home = abot.open_home("U0ALICE")
    seen = len(abot.homes("U0ALICE"))
    abot.click_in_view(home, "approval:cancel", value(home, "approval:cancel"))
    again = abot.next_home("U0ALICE", seen)
    assert state_of(abot, request_id) == "cancelled"
    assert "approval:cancel" not in all_buttons(again) and "cancelled" in message_text(again)


def test_verify_from_the_home(bot: BotHarness, emulator) -> None:
    v = pending_domain(emulator)
    emulator.publish_dns(v.domain, v.verification_token)
    home = bot.open_home("U0ALICE")
    seen = len(bot.homes("U0ALICE"))
    bot.click_in_view(home, "domain:verify", value(home, "domain:verify"))
    again = bot.next_home("U0ALICE", seen)
    assert emulator.state.domain_verifications[v.id].state == DomainVerificationState.VERIFIED
    assert "No domain is waiting for verification." in message_text(again)


def test_edit_from_the_home_publishes_through_the_preview_and_draws_the_home_again(bot: BotHarness,
                                                                                   emulator) -> None:
    home = bot.open_home("U0ALICE")
    bot.click_in_view(home, "banner:edit")
    form = bot.filled_view("banner_edit")
    assert len(bot.homes("U0ALICE")) == 1  # opening the form changed nothing: the Home is not drawn again
    preview = bot.submit(form, {"message": text_input("Office closed Friday"), "enabled": checkboxes(["on"])})
    step = preview.json()["view"]
    assert step["callback_id"] == "banner_publish" and "Office closed Friday" in message_text(step)
    seen = len(bot.homes("U0ALICE"))
    bot.submit({**step, "id": "V0PREVIEW"}, {})
    again = bot.next_home("U0ALICE", seen)
    assert emulator.state.banner.message == "Office closed Friday" and emulator.state.banner.enabled is True
    assert "Office closed Friday" in message_text(again)
    assert json.loads(step["private_metadata"])["surface"] == "home"


# --- shortcuts -------------------------------------------------------------------------------------


def test_set_the_banner_shortcut_opens_the_form_with_the_current_message(bot: BotHarness, emulator) -> None:
    emulator.state.banner.message = "Deploy freeze"
    assert bot.shortcut("banner_set").response.status_code == 200
    form = bot.filled_view("banner_edit")
    field = next(b for b in form["blocks"] if b.get("block_id") == "message")
    assert field["element"]["initial_value"] == "Deploy freeze"


def test_post_as_banner_prefills_the_form_with_the_message_and_previews_it(bot: BotHarness, emulator) -> None:
    message = {"type": "message", "user": "U0BOB", "ts": "1700000000.000100",
               "text": "Deploy at 5 &amp; ask <@U0BOB>: <https://status.example.com|status page>"}
    bot.shortcut("banner_from_message", message=message)
    form = bot.filled_view("banner_edit")  # the loading modal, then the form
    field = next(b for b in form["blocks"] if b.get("block_id") == "message")
    typed = "Deploy at 5 & ask @bob: status page (https://status.example.com)"
    assert field["element"]["initial_value"] == typed
    preview = bot.submit(form, {"message": text_input(typed), "enabled": checkboxes(["on"])}).json()["view"]
    assert preview["callback_id"] == "banner_publish" and "Preview" in message_text(preview)
    bot.submit({**preview, "id": "V0PREVIEW"}, {})
    wait_until(lambda: emulator.state.banner.message == typed, what="the banner published")


def test_post_as_banner_cuts_a_message_longer_than_ona_allows_and_says_so(bot: BotHarness) -> None:
    # (not a run of one letter: the secret scan would take it for another test's secret)
    text = "Planned maintenance, see the status page. " * 30  # 1,259 characters once stripped
    bot.shortcut("banner_from_message", message={"type": "message", "ts": "1700000000.000200", "text": text})
    form = bot.filled_view("banner_edit")  # the loading modal, then the form
    field = next(b for b in form["blocks"] if b.get("block_id") == "message")
    assert text.startswith(field["element"]["initial_value"]) and len(field["element"]["initial_value"]) <= 1000
    assert f"{len(text.strip())} characters" in message_text(form)


def test_shortcuts_refuse_a_non_admin_saying_who_may(bot: BotHarness) -> None:
    message = {"type": "message", "ts": "1700000000.000300", "text": "hi"}
    for count, callback_id in enumerate(("banner_set", "ona_approvals", "banner_from_message"), start=1):
        bot.shortcut(callback_id, user="U0CAROL", message=message if callback_id == "banner_from_message" else None)
        answers = bot.slack.wait_for("views.open", lambda a: a["view"]["callback_id"] == "shortcut_answer",
                                     count=count)
        assert "Only Ona organization admins may use" in message_text(answers[-1]["view"])
    assert all(a["view"]["callback_id"] == "shortcut_answer" for a in bot.slack.calls_to("views.open"))


def test_ona_approvals_lists_what_one_may_decide_and_approving_there_redraws_it(abot: BotHarness) -> None:
    request_id = request_banner_off(abot)
    abot.shortcut("ona_approvals", user="U0BOB")
    modal = abot.filled_view("approval_requests")
    assert {"approval:approve", "approval:deny"} <= all_buttons(modal) and "maintenance window" in message_text(modal)
    updates = len(abot.slack.calls_to("views.update"))
    abot.click_in_view(modal, "approval:approve", value(modal, "approval:approve"), user="U0BOB")
    again = abot.slack.wait_for("views.update", lambda a: a.get("view_id") == modal["id"], count=2)[-1]
    assert len(abot.slack.calls_to("views.update")) > updates
    assert state_of(abot, request_id) == "succeeded" and "Nothing to decide" in message_text(again["view"])


def test_ona_approvals_shows_ones_own_with_cancel_and_deny_there_stacks_its_form(abot: BotHarness) -> None:
    request_banner_off(abot)
    abot.shortcut("ona_approvals", user="U0ALICE")
    mine = abot.filled_view("approval_requests")
    assert "approval:cancel" in all_buttons(mine) and "approval:approve" not in all_buttons(mine)
    abot.shortcut("ona_approvals", user="U0BOB")
    bobs = abot.slack.wait_for("views.update", lambda a: a["view"].get("callback_id") == "approval_requests",
                               count=2)[-1]
    modal = {**bobs["view"], "id": bobs["view_id"]}
    abot.click_in_view(modal, "approval:deny", value(modal, "approval:deny"), user="U0BOB")
    pushed = abot.slack.wait_for("views.push", lambda a: a["view"].get("callback_id") == "approval_deny")
    assert pushed and not [a for a in abot.slack.calls_to("views.open") if a["view"]["callback_id"] == "approval_deny"]


# --- cancel: the button in /ona requests and /ona cancel <id> ----------------------------------------


def test_requests_show_cancel_on_ones_own_and_it_cancels(abot: BotHarness) -> None:
    request_id = request_banner_off(abot)
    listing = abot.command("requests").reply()
    assert "approval:cancel" in buttons(listing)
    assert "approval:cancel" not in buttons(abot.command("requests", user="U0BOB").reply())
    answer = abot.click("approval:cancel", buttons(listing)["approval:cancel"]["value"]).reply_text()
    assert "Request cancelled." in answer and state_of(abot, request_id) == "cancelled"


def test_cancel_by_command(abot: BotHarness) -> None:
    request_id = request_banner_off(abot)
    assert "Only the requester can cancel" in abot.command(f"cancel {request_id}", user="U0BOB").reply_text()
    assert state_of(abot, request_id) == "pending"
    assert "Request cancelled." in abot.command(f"cancel {request_id.lower()}").reply_text()
    assert state_of(abot, request_id) == "cancelled"
    approval = next(m for (channel, _), m in abot.slack.messages.items() if channel == APPROVALS_CHANNEL)
    wait_until(lambda: "Cancelled" in message_text(approval), what="the approval message updated")
    assert "already cancelled" in abot.command(f"cancel {request_id}").reply_text()


@pytest.mark.parametrize(("text", "expected"), [
    ("cancel", "Give the ID of one of your requests"),
    ("cancel R1 R2", "Give the ID of one of your requests"),
    ("cancel tomorrow", "is not a request ID"),
    ("cancel RFFFFFFFFFF", "There is no request `RFFFFFFFFFF`"),
])
def test_cancel_answers_bad_input_in_words(abot: BotHarness, text: str, expected: str) -> None:
    reply = abot.command(text).reply()
    assert expected in message_text(reply)
    if "Give" in expected or "not a request" in expected:
        assert "/ona cancel &lt;request ID&gt;" in json.dumps(reply)


def test_an_approver_named_in_the_policy_sees_what_to_decide_and_nothing_else(emulator, slack: FakeSlack) -> None:
    emulator.state.banner.enabled = True
    policy = APPROVAL_POLICY.replace('approvers = ["ona:admins"]', 'approvers = ["ona:admins", "U0CAROL"]')
    harness = make_harness(emulator, slack, policy=policy)
    try:
        request_id = request_banner_off(harness)
        # The requests list and the "Ona approvals" shortcut let her in too: she must see what waits for her.
        listed = harness.command("requests", user="U0CAROL").reply()
        assert "approval:approve" in buttons(listed) and "maintenance window" in message_text(listed)
        harness.shortcut("ona_approvals", user="U0CAROL")
        assert "approval:approve" in all_buttons(harness.filled_view("approval_requests"))
        assert harness.command("members", user="U0CAROL").reply_text().startswith(":no_entry:")  # nothing else
        home = harness.open_home("U0CAROL")
        assert "Whom to ask" in message_text(home) and "Waiting for your approval" in headers_of(home)
        assert all_buttons(home) == {"approval:approve", "approval:deny"}
        seen = len(harness.homes("U0CAROL"))
        harness.click_in_view(home, "approval:approve", value(home, "approval:approve"), user="U0CAROL")
        harness.next_home("U0CAROL", seen)
        assert state_of(harness, request_id) == "succeeded"
    finally:
        harness.close()


def test_the_home_lists_scheduled_banner_windows_with_cancel(bot: BotHarness, emulator) -> None:
    bot.command("banner at tomorrow 9:30 for 2h Planned maintenance").reply()
    home = bot.open_home("U0ALICE")
    assert "Maintenance windows" in message_text(home) and "Planned maintenance" in message_text(home)
    assert any(a.startswith("banner:cancel_window") for a in all_buttons(home))
