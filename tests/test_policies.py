"""/ona policies: grouped display, and the edit modal that validates inline and sends only changes."""

from __future__ import annotations

from datetime import timedelta

from bot.localslack import checkboxes, multi_select, number_input, select, text_input
from tests.harness import BotHarness, message_text, wait_calls

TOGGLES_NOW = ["members_create_projects"]


def _values(form: dict, **overrides) -> dict:
    """Submit the form as Slack would with the initial values, except `overrides` (block_id -> value)."""
    values: dict = {}
    for block in form["blocks"]:
        if block["type"] != "input":
            continue
        element, bid = block["element"], block["block_id"]
        kind = element["type"]
        if kind == "plain_text_input":
            values[bid] = text_input(element.get("initial_value"))
        elif kind == "number_input":
            values[bid] = number_input(element.get("initial_value"))
        elif kind == "static_select":
            values[bid] = select((element.get("initial_option") or {}).get("value"))
        elif kind == "multi_static_select":
            values[bid] = multi_select([o["value"] for o in element.get("initial_options") or []])
        elif kind == "checkboxes":
            values[bid] = checkboxes([o["value"] for o in element.get("initial_options") or []])
    values.update(overrides)
    return values


def test_policies_are_shown_grouped(bot: BotHarness, emulator) -> None:
    reply = bot.command("policies").reply()
    text = message_text(reply)
    for heading in ("Editors", "Environment limits", "Projects", "Agents", "Security"):
        assert heading in text
    assert reply["response_type"] == "ephemeral"
    assert len(reply["blocks"]) <= 50


def test_edit_sends_only_the_changed_field(bot: BotHarness, emulator) -> None:
    bot.command("policies edit")
    form = bot.filled_view("policies_edit")
    answer = bot.submit(form, _values(form, maximum_environment_timeout=text_input("2h")))
    assert answer.status_code == 200 and not answer.content.strip(b"{}")  # closes the modal
    emulator_calls = wait_calls(emulator, "UpdateOrganizationPolicies")
    assert emulator_calls == [{"organizationId": emulator.organization_id, "maximumEnvironmentTimeout": "7200s"}]
    assert emulator.state.policies.maximum_environment_timeout == timedelta(hours=2)


def test_edit_sends_explicit_false_and_nested_agent_fields(bot: BotHarness, emulator) -> None:
    bot.command("policies edit")
    form = bot.filled_view("policies_edit")
    toggles = [o["value"] for b in form["blocks"] if b["block_id"] == "toggles"
               for o in b["element"].get("initial_options") or []]
    assert "members_create_projects" in toggles
    new_toggles = [t for t in toggles if t != "members_create_projects"]
    bot.submit(form, _values(form, toggles=checkboxes(new_toggles),
                             **{"agent.max_subagents_per_environment": number_input(3)}))
    body = wait_calls(emulator, "UpdateOrganizationPolicies")[0]
    assert body == {
        "organizationId": emulator.organization_id,
        "membersCreateProjects": False,
        "agentPolicy": {"maxSubagentsPerEnvironment": 3},
    }


def test_invalid_values_get_inline_errors_and_nothing_is_sent(bot: BotHarness, emulator) -> None:
    bot.command("policies edit")
    form = bot.filled_view("policies_edit")
    answer = bot.submit(form, _values(
        form,
        maximum_environment_timeout=text_input("10m"),
        maximum_environment_lifetime=text_input("200d"),
        delete_archived_environments_after=text_input("3600s"),
        allowed_editor_ids=multi_select([]),
        **{"agent.max_subagents_per_environment": number_input(11)},
    ))
    body = answer.json()
    assert body["response_action"] == "errors"
    assert set(body["errors"]) == {
        "maximum_environment_timeout", "maximum_environment_lifetime", "delete_archived_environments_after",
        "allowed_editor_ids", "agent.max_subagents_per_environment",
    }
    assert "cannot clear" in body["errors"]["allowed_editor_ids"]
    assert emulator.calls("UpdateOrganizationPolicies") == []


def test_no_change_says_so(bot: BotHarness, emulator) -> None:
    sent = bot.command("policies edit")
    form = bot.filled_view("policies_edit")
    bot.submit(form, _values(form))
    assert "No policy changed" in sent.reply_text()
    assert emulator.calls("UpdateOrganizationPolicies") == []


def test_ona_rejection_is_shown_with_onas_message(bot: BotHarness, emulator) -> None:
    emulator.inject_fault("UpdateOrganizationPolicies", code="invalid_argument", times=1)
    sent = bot.command("policies edit")
    form = bot.filled_view("policies_edit")
    bot.submit(form, _values(form, maximum_environment_timeout=text_input("1h")))
    assert "Ona rejected the change" in sent.reply_text()


def test_unknown_subcommand_gets_nearest_usage(bot: BotHarness) -> None:
    text = bot.command("polcies").reply_text()
    assert "Did you mean `policies`" in text and "/ona policies edit" in text



def test_a_timeout_longer_than_ona_can_store_gets_an_inline_error(bot: BotHarness, emulator) -> None:
    bot.command("policies edit")
    form = bot.filled_view("policies_edit")
    answer = bot.submit(form, _values(form, maximum_environment_timeout=text_input("99999999999999999999h")))
    body = answer.json()
    assert body["response_action"] == "errors" and "longer than Ona" in body["errors"]["maximum_environment_timeout"]
    assert emulator.calls("UpdateOrganizationPolicies") == []


# --- one value in one line ---------------------------------------------------------------------------


def test_set_one_value_sends_only_that_field(bot: BotHarness, emulator) -> None:
    assert "Max inactivity timeout" in bot.command("policies set timeout 12h").reply_text()
    bot.command("policies set delete-archived-after 14d").reply()
    bot.command("policies set port-sharing off").reply()
    bot.command("policies set mcp off").reply()
    assert emulator.calls("UpdateOrganizationPolicies") == [
        {"organizationId": emulator.organization_id, "maximumEnvironmentTimeout": "43200s"},
        {"organizationId": emulator.organization_id, "deleteArchivedEnvironmentsAfter": "1209600s"},
        {"organizationId": emulator.organization_id, "portSharingDisabled": True},
        {"organizationId": emulator.organization_id, "agentPolicy": {"mcpDisabled": True}},
    ]


def test_set_uses_the_forms_validation(bot: BotHarness, emulator) -> None:
    assert "at least 30m" in bot.command("policies set timeout 5m").reply_text()
    assert "at most 180 days" in bot.command("policies set lifetime 200d").reply_text()
    assert "from 0 to 10" in bot.command("policies set subagents 11").reply_text()
    assert "Say on or off" in bot.command("policies set mcp maybe").reply_text()
    assert "Did you mean `timeout`" in bot.command("policies set timeot 1h").reply_text()
    assert "Usage" in bot.command("policies set timeout").reply_text()
    assert emulator.calls("UpdateOrganizationPolicies") == []


def test_set_to_the_current_value_changes_nothing(bot: BotHarness, emulator) -> None:
    assert "Nothing was changed" in bot.command("policies set timeout 8h").reply_text()
    assert emulator.calls("UpdateOrganizationPolicies") == []


def test_policies_view_fits_a_phone_screen_and_keeps_every_topic(bot: BotHarness, emulator) -> None:
    text = message_text(bot.command("policies").reply())
    for words in ("timeout 8h", "lifetime 30d", "5 running", "archived deleted after 7d", "MCP on",
                  "port sharing on"):
        assert words in text
