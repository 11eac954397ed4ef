"""/ona sso end to end: list, show, the add and edit modals (the client secret reaches Ona and nothing
else), activate, deactivate and remove with confirmation, and ID prefixes."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from bot.localslack import text_input
from bot.ona.emulator.state import SEED_SSO_CLIENT_SECRET, SEED_SSO_ID
from bot.ona.models import SSOConfiguration, SSOConfigurationState
from commands import sso as sso_module
from tests.harness import BotHarness, make_harness, message_text, wait_calls

SECRET = "GOCSPX-very-secret-value-0123456789"
OTHER_ID = "5d3c1b2a-7e6f-4a8b-9c0d-1e2f3a4b5c6d"



def _buttons(payload: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["action_id"]: e for b in payload["blocks"] if b["type"] == "actions" for e in b["elements"]}


def _add_sso(emulator, sso_id: str, name: str, *, active: bool = False, domains: list[str] | None = None) -> None:
    emulator.state.sso_configurations[sso_id] = SSOConfiguration(
        id=sso_id, organization_id=emulator.organization_id, client_id=f"client-{name}",
        issuer_url=f"https://{name.lower()}.example.com", display_name=name, email_domains=domains or [],
        state=SSOConfigurationState.ACTIVE if active else SSOConfigurationState.INACTIVE,
    )


def _form_values(form: dict[str, Any], **overrides: str) -> dict[str, Any]:
    """The form as Slack submits it with its initial values, except `overrides` (block_id -> text)."""
    values = {b["block_id"]: text_input(b["element"].get("initial_value")) for b in form["blocks"]
              if b["type"] == "input"}
    values.update({k: text_input(v) for k, v in overrides.items()})
    return values


def _seed(emulator) -> SSOConfiguration:
    return emulator.state.sso_configurations[SEED_SSO_ID]


# --- list ---------------------------------------------------------------------------------------


def test_list_shows_each_configuration_with_show_and_a_confirmed_deactivate(bot: BotHarness, emulator) -> None:
    reply = bot.command("sso").reply()
    assert reply["response_type"] == "ephemeral"
    text = message_text(reply)
    for fact in ("Google Workspace", "https://accounts.google.com", "active", "example.com", SEED_SSO_ID[:8]):
        assert fact in text
    buttons = _buttons(reply)
    assert json.loads(buttons["sso:show"]["value"]) == {"id": SEED_SSO_ID}
    deactivate = buttons["sso:deactivate"]
    assert deactivate["style"] == "danger"
    assert "will not be able to" in deactivate["confirm"]["text"]["text"]
    assert emulator.calls("UpdateSSOConfiguration") == []


def test_list_offers_activate_for_an_inactive_configuration(bot: BotHarness, emulator) -> None:
    _seed(emulator).state = SSOConfigurationState.INACTIVE
    buttons = _buttons(bot.command("sso").reply())
    assert "sso:activate" in buttons and "sso:deactivate" not in buttons
    assert buttons["sso:activate"]["confirm"]


def test_list_is_paginated_and_next_replaces_the_message(bot: BotHarness, emulator) -> None:
    for n in range(12):
        _add_sso(emulator, f"{n:08x}-0000-4000-8000-000000000000", f"Idp{n}")
    reply = bot.command("sso").reply()
    assert len(reply["blocks"]) <= 50
    text = message_text(reply)
    assert "Page 1 of 2" in text and "Idp11" not in text
    next_button = _buttons(reply)["sso:page:next"]
    page2 = bot.click("sso:page:next", next_button["value"]).reply()
    assert page2["replace_original"] is True
    assert "Idp11" in message_text(page2) and "Page 2 of 2" in message_text(page2)


def test_list_with_stray_words_gets_usage(bot: BotHarness) -> None:
    text = bot.command("sso lst").reply_text()
    assert "I don't know `sso lst`" in text and "/ona sso show &lt;id&gt;" in text


def test_list_ona_error_is_friendly(bot: BotHarness, emulator) -> None:
    emulator.inject_fault("ListSSOConfigurations", code="permission_denied")
    text = bot.command("sso").reply_text()
    assert "not an admin of this organization" in text and "Traceback" not in text


# --- show and ID prefixes -----------------------------------------------------------------------


def test_show_by_prefix_gives_details_and_never_a_secret(bot: BotHarness, emulator) -> None:
    reply = bot.command("sso show 9a1e").reply()
    text = message_text(reply)
    for fact in ("Google Workspace", "123456789012-acme.apps.googleusercontent.com", SEED_SSO_ID,
                 "Ona never shows it", "builtin"):
        assert fact in text
    assert {"sso:edit", "sso:deactivate", "sso:remove"} <= set(_buttons(reply))
    assert SEED_SSO_CLIENT_SECRET not in bot.slack.everything_sent()


def test_show_accepts_the_full_id_in_capitals_and_the_show_button(bot: BotHarness) -> None:
    assert SEED_SSO_ID in bot.command(f"sso show {SEED_SSO_ID.upper()}").reply_text()
    assert SEED_SSO_ID in bot.click("sso:show", json.dumps({"id": SEED_SSO_ID})).reply_text()


def test_ambiguous_prefix_lists_the_candidates_and_a_longer_one_works(bot: BotHarness, emulator) -> None:
    twin = "9a1e5c7b-ffff-4000-8000-000000000000"
    _add_sso(emulator, twin, "Okta")
    text = bot.command("sso show 9a1e").reply_text()
    assert "matches 2 SSO configurations" in text
    assert "9a1e5c7b-3" in text and "9a1e5c7b-f" in text  # the shortest prefixes that tell them apart
    assert "Okta" in bot.command("sso show 9a1e5c7b-f").reply_text()


@pytest.mark.parametrize(("given", "expected"), [
    ("ffff", "No SSO configuration has an ID starting with `ffff`"),
    ("9a1", "is not an ID"),
    ("okta", "is not an ID"),
])
def test_unknown_or_malformed_ids_are_refused_before_any_change(bot: BotHarness, emulator, given, expected) -> None:
    text = bot.command(f"sso deactivate {given}").reply_text()
    assert expected in text and "/ona sso deactivate &lt;id&gt;" in text
    assert emulator.calls("UpdateSSOConfiguration") == []


def test_show_without_id_gets_usage(bot: BotHarness) -> None:
    text = bot.command("sso show").reply_text()
    assert "Give exactly one ID" in text and "/ona sso show &lt;id&gt;" in text


def test_show_ona_unavailable_is_friendly(bot: BotHarness, emulator) -> None:
    emulator.inject_fault("ListSSOConfigurations", code="unavailable", times=10)
    assert "Ona did not answer" in bot.command("sso show 9a1e").reply_text()


# --- add ----------------------------------------------------------------------------------------


def test_add_validates_inline_then_creates_and_the_secret_goes_nowhere_else(
        bot: BotHarness, emulator, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    sent = bot.command("sso add")
    form = bot.slack.wait_for("views.open", lambda a: a["view"]["callback_id"] == "sso_add")[-1]["view"]
    assert bot.slack.calls_to("views.update") == []  # nothing to load: the form opens directly
    secret_input = next(b for b in form["blocks"] if b["block_id"] == "client_secret")
    assert "initial_value" not in secret_input["element"]

    bad = bot.submit(form, {
        "issuer_url": text_input("http://idp.example.com"), "client_id": text_input("  "),
        "client_secret": text_input(SECRET), "display_name": text_input("x" * 129),
        "email_domains": text_input("example.com, bad_domain"),
        "additional_scopes": text_input(" ".join(f"s{n}" for n in range(101))),
    })
    body = bad.json()
    assert body["response_action"] == "errors"
    assert set(body["errors"]) == {"issuer_url", "client_id", "display_name", "email_domains", "additional_scopes"}
    assert "https://" in body["errors"]["issuer_url"] and "bad_domain" in body["errors"]["email_domains"]
    assert SECRET not in bad.text
    no_secret = bot.submit(form, {"issuer_url": text_input("https://idp.example.com"),
                                  "client_id": text_input("abc"), "client_secret": text_input("")}).json()
    assert set(no_secret["errors"]) == {"client_secret"}
    assert emulator.calls("CreateSSOConfiguration") == []

    ok = bot.submit(form, {
        "issuer_url": text_input("https://acme.okta.com"), "client_id": text_input("0oa1b2c3"),
        "client_secret": text_input(SECRET), "display_name": text_input("Okta <!here>"),
        "email_domains": text_input("Acme.com  acme.io,acme.com"),
        "additional_scopes": text_input("groups, offline_access"),
    })
    assert ok.status_code == 200 and not ok.content.strip(b"{}")  # the modal closes
    text = sent.reply_text()
    assert "Added SSO configuration" in text and "inactive" in text and "&lt;!here&gt;" in text
    assert emulator.calls("CreateSSOConfiguration") == [{
        "organizationId": emulator.organization_id, "issuerUrl": "https://acme.okta.com", "clientId": "0oa1b2c3",
        "clientSecret": SECRET, "displayName": "Okta <!here>", "emailDomains": ["acme.com", "acme.io"],
        "additionalScopes": ["groups", "offline_access"],
    }]
    created = next(s for s in emulator.state.sso_configurations.values() if s.client_id == "0oa1b2c3")
    assert emulator.state.secrets[created.id] == SECRET
    assert SECRET not in bot.slack.everything_sent()
    assert SECRET not in caplog.text
    assert any(r.levelno == logging.DEBUG for r in caplog.records)  # DEBUG logging really was on


def test_add_button_on_the_list_opens_the_form(bot: BotHarness) -> None:
    bot.click("sso:add")
    bot.slack.wait_for("views.open", lambda a: a["view"]["callback_id"] == "sso_add")


def test_add_rejected_by_ona_is_friendly_and_keeps_the_secret_out(bot: BotHarness, emulator) -> None:
    emulator.inject_fault("CreateSSOConfiguration", code="invalid_argument")
    sent = bot.command("sso add")
    form = bot.slack.wait_for("views.open")[-1]["view"]
    bot.submit(form, {"issuer_url": text_input("https://acme.okta.com"), "client_id": text_input("0oa"),
                      "client_secret": text_input(SECRET)})
    assert "Ona rejected the change" in sent.reply_text()
    assert SECRET not in bot.slack.everything_sent()
    assert len(emulator.state.sso_configurations) == 1


# --- edit ---------------------------------------------------------------------------------------


def test_edit_opens_loading_then_fills_and_sends_only_what_changed(bot: BotHarness, emulator) -> None:
    sent = bot.command("sso edit 9a1e")
    assert "Loading" in message_text(bot.slack.wait_for("views.open")[-1]["view"])
    form = bot.filled_view("sso_edit")
    blocks = {b["block_id"]: b for b in form["blocks"] if b["type"] == "input"}
    assert blocks["issuer_url"]["element"]["initial_value"] == "https://accounts.google.com"
    assert "initial_value" not in blocks["client_secret"]["element"]
    assert blocks["client_secret"]["hint"]["text"] == "leave empty to keep the current secret"
    assert "cannot clear" in blocks["email_domains"]["hint"]["text"]
    assert SEED_SSO_CLIENT_SECRET not in json.dumps(form)

    bot.submit(form, _form_values(form, display_name="Google SSO", email_domains="example.com"))
    assert "Updated SSO configuration *Google SSO*" in sent.reply_text()
    assert wait_calls(emulator, "UpdateSSOConfiguration") == [
        {"ssoConfigurationId": SEED_SSO_ID, "displayName": "Google SSO"}
    ]
    assert emulator.state.secrets[SEED_SSO_ID] == SEED_SSO_CLIENT_SECRET  # empty secret kept the old one
    assert emulator.calls("GetSSOConfiguration")  # the form was filled from GetSSOConfiguration


def test_edit_replaces_the_secret_and_clears_scopes(bot: BotHarness, emulator, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    _seed(emulator).additional_scopes = ["groups"]
    sent = bot.command("sso edit 9a1e5c7b")
    form = bot.filled_view("sso_edit")
    bot.submit(form, _form_values(form, client_secret=SECRET, additional_scopes=""))
    text = sent.reply_text()
    assert "Client secret" in text and "replaced" in text
    assert emulator.calls("UpdateSSOConfiguration") == [
        {"ssoConfigurationId": SEED_SSO_ID, "clientSecret": SECRET, "additionalScopes": {"scopes": []}}
    ]
    assert emulator.state.secrets[SEED_SSO_ID] == SECRET
    assert _seed(emulator).additional_scopes == []
    assert SECRET not in bot.slack.everything_sent() and SECRET not in caplog.text


def test_edit_refuses_to_clear_domains_and_bad_values_inline(bot: BotHarness, emulator) -> None:
    bot.command("sso edit 9a1e")
    form = bot.filled_view("sso_edit")
    answer = bot.submit(form, _form_values(form, email_domains=" ", issuer_url="accounts.google.com",
                                           client_id=""))
    body = answer.json()
    assert body["response_action"] == "errors"
    assert set(body["errors"]) == {"email_domains", "issuer_url", "client_id"}
    assert "cannot clear" in body["errors"]["email_domains"]
    assert emulator.calls("UpdateSSOConfiguration") == []


def test_edit_without_changes_says_so(bot: BotHarness, emulator) -> None:
    sent = bot.command("sso edit 9a1e")
    form = bot.filled_view("sso_edit")
    bot.submit(form, _form_values(form, email_domains="EXAMPLE.com"))  # same domain, other case
    assert "Nothing changed" in sent.reply_text()
    assert emulator.calls("UpdateSSOConfiguration") == []


def test_edit_of_an_unknown_id_answers_in_the_modal(bot: BotHarness, emulator) -> None:
    bot.command("sso edit ffff")
    notice = bot.filled_view("sso_edit")
    assert "No SSO configuration has an ID" in message_text(notice) and "submit" not in notice


def test_edit_when_ona_refuses_to_read_answers_in_the_modal(bot: BotHarness, emulator) -> None:
    emulator.inject_fault("GetSSOConfiguration", code="permission_denied")
    bot.command("sso edit 9a1e")
    assert "not an admin" in message_text(bot.filled_view("sso_edit"))


def test_edit_rejected_by_ona_is_friendly(bot: BotHarness, emulator) -> None:
    emulator.inject_fault("UpdateSSOConfiguration", code="invalid_argument")
    sent = bot.command("sso edit 9a1e")
    form = bot.filled_view("sso_edit")
    bot.submit(form, _form_values(form, display_name="New name"))
    assert "Ona rejected the change" in sent.reply_text()
    assert _seed(emulator).display_name == "Google Workspace"


def test_edit_button_opens_the_form(bot: BotHarness) -> None:
    bot.click("sso:edit", json.dumps({"id": SEED_SSO_ID}))
    assert bot.filled_view("sso_edit")["submit"]["text"] == "Save"


# --- activate, deactivate, remove ---------------------------------------------------------------


def test_activate_mutates_directly(bot: BotHarness, emulator) -> None:
    _seed(emulator).state = SSOConfigurationState.INACTIVE
    text = bot.command("sso activate 9a1e").reply_text()
    assert "now *active*" in text
    assert emulator.calls("UpdateSSOConfiguration") == [
        {"ssoConfigurationId": SEED_SSO_ID, "state": "SSO_CONFIGURATION_STATE_ACTIVE"}
    ]
    assert _seed(emulator).state == SSOConfigurationState.ACTIVE


def test_activate_when_already_active_changes_nothing(bot: BotHarness, emulator) -> None:
    assert "already active" in bot.command("sso activate 9a1e").reply_text()
    assert emulator.calls("UpdateSSOConfiguration") == []


def test_activate_needs_an_id(bot: BotHarness) -> None:
    text = bot.command("sso activate").reply_text()
    assert "Give exactly one ID" in text and "/ona sso activate &lt;id&gt;" in text


def test_activate_refused_by_ona_is_friendly(bot: BotHarness, emulator) -> None:
    _seed(emulator).state = SSOConfigurationState.INACTIVE
    emulator.inject_fault("UpdateSSOConfiguration", code="permission_denied")
    assert "not an admin" in bot.command("sso activate 9a1e").reply_text()
    assert _seed(emulator).state == SSOConfigurationState.INACTIVE


def test_deactivate_asks_with_a_danger_button_and_mutates_on_click(bot: BotHarness, emulator) -> None:
    reply = bot.command("sso deactivate 9a1e").reply()
    assert "will not be able to" in message_text(reply)
    button = _buttons(reply)["sso:deactivate"]
    assert button["style"] == "danger"
    assert "Members who sign in with SSO will not be able to" in button["confirm"]["text"]["text"]
    assert emulator.calls("UpdateSSOConfiguration") == []  # nothing before the click
    assert "now *inactive*" in bot.click("sso:deactivate", button["value"]).reply_text()
    assert emulator.calls("UpdateSSOConfiguration") == [
        {"ssoConfigurationId": SEED_SSO_ID, "state": "SSO_CONFIGURATION_STATE_INACTIVE"}
    ]


def test_deactivate_with_two_ids_gets_usage(bot: BotHarness) -> None:
    assert "Give exactly one ID" in bot.command("sso deactivate 9a1e 5d3c").reply_text()


def test_deactivate_click_when_ona_is_down_says_the_outcome_is_unknown(bot: BotHarness, emulator) -> None:
    emulator.inject_fault("UpdateSSOConfiguration", code="unavailable")
    text = bot.click("sso:deactivate", json.dumps({"id": SEED_SSO_ID})).reply_text()
    assert "may or may not have been applied" in text  # issue 12: `unavailable` proves nothing
    assert _seed(emulator).state == SSOConfigurationState.ACTIVE


def test_remove_asks_then_deletes_on_click(bot: BotHarness, emulator) -> None:
    _add_sso(emulator, OTHER_ID, "Okta")
    reply = bot.command("sso remove 5d3c").reply()
    button = _buttons(reply)["sso:remove"]
    assert button["style"] == "danger" and "cannot be undone" in button["confirm"]["text"]["text"]
    assert emulator.calls("DeleteSSOConfiguration") == []
    assert "Removed SSO configuration *Okta*" in bot.click("sso:remove", button["value"]).reply_text()
    assert emulator.calls("DeleteSSOConfiguration") == [{"ssoConfigurationId": OTHER_ID}]
    assert OTHER_ID not in emulator.state.sso_configurations


def test_remove_of_an_sso_linked_to_scim_relays_onas_refusal(bot: BotHarness, emulator) -> None:
    text = bot.click("sso:remove", json.dumps({"id": SEED_SSO_ID})).reply_text()
    assert "Ona cannot do that yet" in text and "SCIM" in text
    assert SEED_SSO_ID in emulator.state.sso_configurations


def test_remove_of_an_unknown_prefix_gets_a_not_found_line(bot: BotHarness, emulator) -> None:
    assert "No SSO configuration has an ID starting with `abcdef`" in bot.command("sso remove abcdef").reply_text()
    assert emulator.calls("DeleteSSOConfiguration") == []


# --- operations: what the approval flow will read -----------------------------------------------


def test_operation_reads_return_current_values_and_never_a_secret(ona, emulator) -> None:
    ops = sso_module.GROUP.operations
    assert ops["sso.create"].secret_params == ("client_secret",)
    assert ops["sso.update"].secret_params == ("client_secret",)
    assert ops["sso.create"].read(ona, {"issuer_url": "https://x.example.com"}) == {"exists": False}
    before = ops["sso.update"].read(ona, {"sso_configuration_id": SEED_SSO_ID, "display_name": "New",
                                          "client_secret": SECRET, "email_domains": ["a.example.com"]})
    assert before == {"sso_configuration_id": SEED_SSO_ID, "display_name": "Google Workspace",
                      "email_domains": ["example.com"]}
    assert ops["sso.deactivate"].read(ona, {"sso_configuration_id": SEED_SSO_ID, "state": "inactive"}) == {
        "sso_configuration_id": SEED_SSO_ID, "state": "active"}
    assert ops["sso.remove"].read(ona, {"sso_configuration_id": SEED_SSO_ID, "exists": False})["exists"] is True
    assert ops["sso.remove"].read(ona, {"sso_configuration_id": OTHER_ID, "exists": False})["exists"] is False


# --- dry run and the approval flow ----------------------------------------------------------------

APPROVAL_POLICY = '[defaults]\napproval = "required"\napprovals = 1\nreason = false\n'


def test_deactivate_dry_run_shows_the_change_without_a_button(bot: BotHarness, emulator) -> None:
    reply = bot.command("sso deactivate 9a1e --dry-run").reply()
    assert "Dry run" in message_text(reply) and "sso:deactivate" not in _buttons(reply)
    assert emulator.calls("UpdateSSOConfiguration") == []


def test_edit_through_approval_seals_the_secret_until_an_approver_runs_it(emulator, slack, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    abot = make_harness(emulator, slack, policy=APPROVAL_POLICY)
    try:
        abot.command("sso edit 9a1e", user="U0ALICE")
        form = abot.filled_view("sso_edit")
        abot.submit(form, _form_values(form, display_name="Okta", client_secret=SECRET), user="U0ALICE")
        posted = slack.wait_for("chat.postMessage", lambda a: a.get("channel") == "C0APPROVALS")[-1]
        assert "Okta" in message_text(posted)
        assert emulator.calls("UpdateSSOConfiguration") == []
        approve = _buttons(posted)["approval:approve"]
        abot.click("approval:approve", approve["value"], user="U0BOB", channel_id="C0APPROVALS").reply()
        assert wait_calls(emulator, "UpdateSSOConfiguration") == [
            {"ssoConfigurationId": SEED_SSO_ID, "clientSecret": SECRET, "displayName": "Okta"}]
        assert emulator.state.secrets[SEED_SSO_ID] == SECRET
        db = Path(abot.settings.db_path).read_bytes()
    finally:
        abot.close()
    assert SECRET.encode() not in db
    assert SECRET not in slack.everything_sent() and SECRET not in caplog.text
