"""/ona banner end to end: signed Slack requests in, the fake Slack and the Ona emulator observed."""

from __future__ import annotations

from bot.localslack import checkboxes, text_input
from tests.harness import BotHarness, message_text


def test_show_banner_reads_ona_and_answers_ephemerally(bot: BotHarness, emulator) -> None:
    emulator.state.banner.enabled = True
    emulator.state.banner.message = "Maintenance tonight"
    sent = bot.command("banner")
    assert sent.response.status_code == 200
    reply = sent.reply()
    assert reply["response_type"] == "ephemeral"
    text = message_text(reply)
    assert "On" in text and "Maintenance tonight" in text
    assert [c["body"] for c in emulator.requests if c["method"] == "GetAnnouncementBanner"]


def test_banner_on_with_message_sends_exactly_those_fields(bot: BotHarness, emulator) -> None:
    sent = bot.command('banner on "Deploy freeze until 18:00"')  # in quotes: all message, not a window
    assert "now *on*" in sent.reply_text()
    assert emulator.calls("UpdateAnnouncementBanner") == [
        {"organizationId": emulator.organization_id, "enabled": True, "message": "Deploy freeze until 18:00"}
    ]


def test_banner_off_sends_explicit_false(bot: BotHarness, emulator) -> None:
    emulator.state.banner.enabled = True
    sent = bot.command("banner off")
    assert "now *off*" in sent.reply_text()
    assert emulator.calls("UpdateAnnouncementBanner") == [
        {"organizationId": emulator.organization_id, "enabled": False}
    ]


def test_banner_on_without_a_message_opens_the_form_ticked(bot: BotHarness, emulator) -> None:
    emulator.state.banner.message = "Old news"
    bot.command("banner on")
    form = bot.filled_view("banner_edit")
    [message] = [b for b in form["blocks"] if b["block_id"] == "message"]
    [shown] = [b for b in form["blocks"] if b["block_id"] == "enabled"]
    assert message["element"]["initial_value"] == "Old news"
    assert [o["value"] for o in shown["element"]["initial_options"]] == ["on"]
    assert emulator.calls("UpdateAnnouncementBanner") == []


def test_banner_set_starts_with_show_now_ticked_even_when_off(bot: BotHarness, emulator) -> None:
    assert emulator.state.banner.enabled is False
    bot.command("banner set")
    [shown] = [b for b in bot.filled_view("banner_edit")["blocks"] if b["block_id"] == "enabled"]
    assert [o["value"] for o in shown["element"].get("initial_options") or []] == ["on"]


def test_banner_onn_gets_did_you_mean_and_changes_nothing(bot: BotHarness, emulator) -> None:
    text = bot.command("banner onn").reply_text()
    assert "Did you mean `banner on`?" in text and "/ona banner on [message]" in text
    assert emulator.calls("UpdateAnnouncementBanner") == [] and emulator.calls("GetAnnouncementBanner") == []


def test_quotes_around_the_message_are_not_kept(bot: BotHarness, emulator) -> None:
    bot.command("banner on “Maintenance”").reply()
    bot.command("banner on 'Deploy freeze'").reply()
    assert [c["message"] for c in emulator.calls("UpdateAnnouncementBanner")] == ["Maintenance", "Deploy freeze"]


def test_escaped_mentions_and_links_reach_ona_as_typed(bot: BotHarness, emulator) -> None:
    # What Slack sends with should_escape on for "Ask @bob, see https://status.example.com & <b>"
    bot.command("banner on Ask <@U0BOB|bob>, see <https://status.example.com> &amp; &lt;b&gt;").reply()
    assert emulator.state.banner.message == "Ask @bob, see https://status.example.com & <b>"


def test_too_long_message_is_refused_before_ona(bot: BotHarness, emulator) -> None:
    text = bot.command("banner on " + "x" * 1001).reply_text()
    assert "1001 characters" in text and "Usage" in text
    assert emulator.calls("UpdateAnnouncementBanner") == []


def test_message_with_mentions_and_links_is_escaped(bot: BotHarness, emulator) -> None:
    # Typed "<!channel> see docs & more" (docs a formatted link), as Slack escapes it.
    bot.command("banner on &lt;!channel&gt; see <http://evil.example|docs> &amp; more").reply()
    reply = bot.command("banner").reply()
    rendered = str(reply["blocks"])
    assert "<!channel>" not in rendered and "&lt;!channel&gt;" in rendered
    assert "<http://evil.example" not in rendered
    # Ona got the text as typed.
    assert emulator.state.banner.message == "<!channel> see docs (http://evil.example) & more"


def test_member_key_gets_a_friendly_permission_error(emulator, slack) -> None:
    from tests.harness import make_harness

    emulator.state.banner.enabled = True
    harness = make_harness(emulator, slack, api_key=emulator.member_key)
    try:
        text = harness.command("banner off").reply_text()
    finally:
        harness.close()
    assert "not an admin of this organization" in text
    assert "Traceback" not in text


def test_ona_unavailable_on_the_change_says_the_outcome_is_unknown(bot: BotHarness, emulator) -> None:
    emulator.state.banner.enabled = True
    emulator.inject_fault("UpdateAnnouncementBanner", code="unavailable", times=10)
    text = bot.command("banner off").reply_text()
    assert "may or may not have been applied" in text and "`/ona banner`" in text  # issue 12
    assert emulator.state.banner.enabled  # the emulator's fault answered without applying it


def test_toggle_button_carries_a_confirm_dialog_and_works(bot: BotHarness, emulator) -> None:
    reply = bot.command("banner").reply()
    buttons = [e for b in reply["blocks"] if b["type"] == "actions" for e in b["elements"]]
    turn_on = next(b for b in buttons if b["action_id"] == "banner:on")
    assert turn_on["confirm"]["title"]["text"]
    emulator.state.banner.message = "Hello"
    bot.click("banner:on").reply()
    assert emulator.state.banner.enabled is True


def test_set_opens_a_modal_at_once_then_fills_it_and_previews_before_publishing(bot: BotHarness, emulator) -> None:
    sent = bot.command("banner set")
    assert sent.response.status_code == 200
    loading = bot.slack.wait_for("views.open")[-1]["view"]
    assert "Loading" in message_text(loading)
    form = bot.filled_view("banner_edit")
    # empty message → inline error, nothing sent to Ona
    answer = bot.submit(form, {"message": text_input(""), "enabled": checkboxes(["on"])})
    assert answer.json()["response_action"] == "errors" and "message" in answer.json()["errors"]
    # a real message → the preview replaces the form
    answer = bot.submit(form, {"message": text_input("Release at *5pm* <!here>"), "enabled": checkboxes(["on"])})
    body = answer.json()
    assert body["response_action"] == "update" and body["view"]["callback_id"] == "banner_publish"
    assert "&lt;!here&gt;" in message_text(body["view"])
    assert emulator.calls("UpdateAnnouncementBanner") == []
    # publish
    bot.submit({**body["view"], "id": form["id"]}, {})
    bot.slack.wait_for("response_url", lambda a: "now *on*" in message_text(a))
    assert emulator.calls("UpdateAnnouncementBanner")[-1] == {
        "organizationId": emulator.organization_id, "enabled": True, "message": "Release at *5pm* <!here>",
    }


def test_banner_set_shows_onas_error_in_the_modal_instead_of_loading_forever(bot: BotHarness, emulator) -> None:
    emulator.inject_fault("GetAnnouncementBanner", code="unavailable", times=10)
    bot.command("banner set")
    shown = bot.slack.wait_for("views.update", lambda a: a["view"]["callback_id"] == "error")[-1]["view"]
    assert "Ona did not answer" in message_text(shown)


def test_banner_off_when_it_is_already_off_says_so_and_changes_nothing(bot: BotHarness, emulator) -> None:
    assert not emulator.state.banner.enabled
    text = bot.command("banner off").reply_text()
    assert "already off" in text and "Nothing was changed" in text
    assert emulator.calls("UpdateAnnouncementBanner") == []
