"""/ona custom-domain [set|remove] end to end: signed Slack requests in, the fake Slack and the Ona
emulator observed."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.localslack import text_input
from bot.ona.emulator.state import new_id
from bot.ona.models import CustomDomain, CustomDomainProvider
from commands import custom_domain
from tests.harness import APPROVAL_POLICY, BotHarness, make_harness, message_text, mrkdwn_texts

WHEN = datetime(2025, 4, 2, 12, 0, tzinfo=UTC)
USAGE_SET = "/ona custom-domain set &lt;domain&gt; [aws|gcp] [account-id]"
USAGE_SET_MRKDWN = "`/ona custom-domain set &lt;domain&gt; [aws|gcp] [account-id]`"  # as Slack must get it


def _seed(emulator, name: str = "ws.acme.com", provider: CustomDomainProvider = CustomDomainProvider.AWS,
          cloud_account_id: str = "123456789012", aws_account_id: str = "") -> CustomDomain:
    domain = CustomDomain(
        id=new_id(), organization_id=emulator.organization_id, domain_name=name, provider=provider,
        cloud_account_id=cloud_account_id, aws_account_id=aws_account_id, created_at=WHEN, updated_at=WHEN,
    )
    emulator.state.custom_domain = domain
    return domain



def _only_ephemeral_and_inert(slack) -> None:
    """Nothing went to a channel, and no raw <…> reached mrkdwn (a link or a ping to Slack)."""
    assert slack.calls_to("chat.postMessage") == []
    for reply in slack.calls_to("response_url"):
        assert reply["response_type"] == "ephemeral"
        assert not [t for t in mrkdwn_texts(reply.get("blocks")) if "<" in t or ">" in t]


def _button(payload: dict[str, Any], action_id: str) -> dict[str, Any]:
    return next(e for b in payload["blocks"] if b["type"] == "actions" for e in b["elements"]
                if e["action_id"] == action_id)




def approve(bot: BotHarness, posted: dict[str, Any], user: str) -> Any:
    button = _button(posted, "approval:approve")
    return bot.click("approval:approve", button["value"], user=user, channel_id="C0APPROVALS")


# --- show ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["custom-domain", "customdomain"])
def test_show_when_none_is_set(bot: BotHarness, emulator, command: str) -> None:
    reply = bot.command(command).reply()
    assert reply["response_type"] == "ephemeral"
    text = message_text(reply)
    assert "No custom domain is set" in text and USAGE_SET_MRKDWN in text
    assert emulator.calls("GetCustomDomain") == [{"organizationId": emulator.organization_id}]
    _only_ephemeral_and_inert(bot.slack)


def test_show_the_custom_domain_with_a_remove_button(bot: BotHarness, emulator) -> None:
    _seed(emulator)
    reply = bot.command("custom-domain").reply()
    text = message_text(reply)
    assert "ws.acme.com" in text and "AWS" in text and "123456789012" in text and "2025-04-02" in text
    remove = _button(reply, "custom-domain:remove")
    assert remove["style"] == "danger" and remove["confirm"]
    assert json.loads(remove["value"]) == {"domain_name": "ws.acme.com"}
    _only_ephemeral_and_inert(bot.slack)


def test_show_falls_back_to_the_deprecated_aws_account_id(bot: BotHarness, emulator) -> None:
    _seed(emulator, cloud_account_id="", aws_account_id="210987654321")
    assert "210987654321" in bot.command("custom-domain").reply_text()


def test_show_with_extra_words_gets_usage(bot: BotHarness, emulator) -> None:
    text = bot.command("custom-domain sett ws.acme.com").reply_text()
    assert "Did you mean `custom-domain set`" in text and USAGE_SET_MRKDWN in text


def test_show_when_ona_is_down(bot: BotHarness, emulator) -> None:
    emulator.inject_fault("GetCustomDomain", code="unavailable", times=10)
    text = bot.command("custom-domain").reply_text()
    assert "Ona did not answer" in text and "Traceback" not in text


# --- set ----------------------------------------------------------------------------------------


def test_set_creates_when_there_is_none(bot: BotHarness, emulator) -> None:
    text = bot.command("custom-domain set WS.Acme.com aws 1234-5678-9012").reply_text()
    assert emulator.calls("CreateCustomDomain") == [{
        "organizationId": emulator.organization_id, "domainName": "ws.acme.com",
        "provider": "CUSTOM_DOMAIN_PROVIDER_AWS", "cloudAccountId": "123456789012",
    }]
    assert emulator.calls("UpdateCustomDomain") == []
    assert "The custom domain is set: *ws.acme.com*" in text and "AWS" in text and "123456789012" in text
    stored = emulator.state.custom_domain
    assert stored.domain_name == "ws.acme.com" and stored.cloud_account_id == "123456789012"


def test_set_with_only_a_domain_creates_without_provider(bot: BotHarness, emulator) -> None:
    bot.command("custom-domain set ws.acme.com").reply()
    assert emulator.calls("CreateCustomDomain") == [
        {"organizationId": emulator.organization_id, "domainName": "ws.acme.com"}
    ]


def test_set_updates_when_one_exists(bot: BotHarness, emulator) -> None:
    _seed(emulator)
    text = bot.command("custom-domain set dev.acme.com gcp Acme-Prod-1").reply_text()
    assert emulator.calls("UpdateCustomDomain") == [{
        "organizationId": emulator.organization_id, "domainName": "dev.acme.com",
        "provider": "CUSTOM_DOMAIN_PROVIDER_GCP", "cloudAccountId": "acme-prod-1",
    }]
    assert emulator.calls("CreateCustomDomain") == []
    assert "The custom domain is changed: *dev.acme.com*" in text and "Google Cloud" in text
    assert emulator.state.custom_domain.provider == CustomDomainProvider.GCP


def test_set_domain_only_keeps_provider_and_account(bot: BotHarness, emulator) -> None:
    _seed(emulator)
    bot.command("custom-domain set dev.acme.com").reply()
    assert emulator.calls("UpdateCustomDomain") == [
        {"organizationId": emulator.organization_id, "domainName": "dev.acme.com"}
    ]
    stored = emulator.state.custom_domain
    assert stored.provider == CustomDomainProvider.AWS and stored.cloud_account_id == "123456789012"


def test_set_with_nothing_new_changes_nothing(bot: BotHarness, emulator) -> None:
    _seed(emulator)
    assert "already *ws.acme.com*" in bot.command("custom-domain set WS.acme.com aws 123456789012").reply_text()
    assert emulator.calls("UpdateCustomDomain") == []


@pytest.mark.parametrize(("args", "expected"), [
    ("", "Give the domain"),
    ("ws.acme.com aws 123456789012 extra", "Give the domain"),
    ("ws_acme", "is not a domain name"),
    ("ws.acme.com azure", "`aws` or `gcp`"),
    ("ws.acme.com 123456789012", "`aws` or `gcp`"),
    ("ws.acme.com aws 12345", "12 digits"),
    ("ws.acme.com aws 12345678901a", "12 digits"),
    ("ws.acme.com gcp 1acme-prod", "GCP project ID"),
    ("ws.acme.com gcp acme", "GCP project ID"),
    ("ws.acme.com gcp acme-prod-", "GCP project ID"),
    ("ws.acme.com gcp acme_prod_1", "GCP project ID"),
    ("ws.acme.com gcp " + "a" * 31, "GCP project ID"),
])
def test_set_refuses_bad_input_before_ona(bot: BotHarness, emulator, args: str, expected: str) -> None:
    text = bot.command(f"custom-domain set {args}".strip()).reply_text()
    assert expected in text and USAGE_SET in text
    assert emulator.calls("CreateCustomDomain") == [] and emulator.calls("UpdateCustomDomain") == []


def test_set_when_ona_rejects_it(bot: BotHarness, emulator) -> None:
    emulator.inject_fault("CreateCustomDomain", code="invalid_argument")
    text = bot.command("custom-domain set ws.acme.com").reply_text()
    assert "Ona rejected the change" in text
    assert emulator.state.custom_domain is None


def test_set_when_someone_created_one_meanwhile_updates_it(bot: BotHarness, emulator) -> None:
    _seed(emulator)
    # The bot's two look-ups see no domain, as if it was created right after them.
    emulator.inject_fault("GetCustomDomain", code="not_found", times=2)
    text = bot.command("custom-domain set dev.acme.com").reply_text()
    assert len(emulator.calls("CreateCustomDomain")) == 1  # refused: already_exists
    assert emulator.calls("UpdateCustomDomain") == [
        {"organizationId": emulator.organization_id, "domainName": "dev.acme.com"}
    ]
    assert "The custom domain is changed: *dev.acme.com*" in text


def test_set_with_a_member_key_is_refused_kindly(emulator, slack) -> None:
    harness = make_harness(emulator, slack, api_key=emulator.member_key)
    try:
        text = harness.command("custom-domain set ws.acme.com").reply_text()
    finally:
        harness.close()
    assert "not an admin of this organization" in text and "Nothing was changed" in text


# --- remove -------------------------------------------------------------------------------------


def test_remove_asks_then_removes_on_click(bot: BotHarness, emulator) -> None:
    _seed(emulator)
    ask = bot.command("custom-domain remove").reply()
    assert "Remove the custom domain *ws.acme.com*" in message_text(ask)
    assert "Require the custom domain" not in message_text(ask)
    button = _button(ask, "custom-domain:remove")
    assert button["style"] == "danger" and button["confirm"]["confirm"]["text"] == "Remove"
    assert emulator.calls("DeleteCustomDomain") == []
    text = bot.click("custom-domain:remove", button["value"]).reply_text()
    assert "Removed the custom domain *ws.acme.com*" in text
    assert emulator.calls("DeleteCustomDomain") == [{"organizationId": emulator.organization_id}]
    assert emulator.state.custom_domain is None
    _only_ephemeral_and_inert(bot.slack)


def test_remove_warns_when_the_policy_requires_the_custom_domain(bot: BotHarness, emulator) -> None:
    _seed(emulator)
    emulator.state.policies.require_custom_domain_access = True
    text = bot.command("custom-domain remove").reply_text()
    assert "Require the custom domain" in text and "lose access" in text


def test_remove_when_none_is_set(bot: BotHarness, emulator) -> None:
    assert "No custom domain is set" in bot.command("custom-domain remove").reply_text()


def test_remove_with_extra_words_gets_usage(bot: BotHarness, emulator) -> None:
    _seed(emulator)
    text = bot.command("custom-domain remove ws.acme.com").reply_text()
    assert "takes nothing after it" in text and "/ona custom-domain remove" in text


def test_remove_click_never_removes_a_different_domain(bot: BotHarness, emulator) -> None:
    _seed(emulator)
    value = _button(bot.command("custom-domain remove").reply(), "custom-domain:remove")["value"]
    _seed(emulator, name="new.acme.com")  # changed behind the bot's back
    text = bot.click("custom-domain:remove", value).reply_text()
    assert "now new.acme.com" in text and "nothing was removed" in text
    assert emulator.calls("DeleteCustomDomain") == []
    assert emulator.state.custom_domain.domain_name == "new.acme.com"


def test_remove_click_after_it_was_removed(bot: BotHarness, emulator) -> None:
    text = bot.click("custom-domain:remove", json.dumps({"domain_name": "ws.acme.com"})).reply_text()
    assert "*ws.acme.com* was already removed" in text


def test_remove_button_with_a_bad_value(bot: BotHarness, emulator) -> None:
    _seed(emulator)
    assert "no longer works" in bot.click("custom-domain:remove", "{}").reply_text()
    assert emulator.state.custom_domain is not None


def test_remove_when_ona_is_down_says_the_outcome_is_unknown(bot: BotHarness, emulator) -> None:
    _seed(emulator)
    emulator.inject_fault("DeleteCustomDomain", code="unavailable", times=5)
    text = bot.click("custom-domain:remove", json.dumps({"domain_name": "ws.acme.com"})).reply_text()
    assert "may or may not have been applied" in text  # issue 12: `unavailable` proves nothing
    assert emulator.state.custom_domain is not None


# --- operations: what the approval flow will read -----------------------------------------------


def test_operation_reads_report_the_current_values(emulator, ona) -> None:
    ops = custom_domain.GROUP.operations
    params = {"domain_name": "dev.acme.com", "provider": "gcp", "cloud_account_id": "acme-prod-1"}
    assert ops["custom_domain.set"].read(ona, params) == {"exists": False}
    assert ops["custom_domain.remove"].read(ona, {"domain_name": "ws.acme.com"}) == {"exists": False}
    _seed(emulator)
    assert ops["custom_domain.set"].read(ona, params) == {
        "domain_name": "ws.acme.com", "provider": "aws", "cloud_account_id": "123456789012"}
    assert ops["custom_domain.set"].read(ona, {"domain_name": "x.acme.com"}) == {"domain_name": "ws.acme.com"}
    assert ops["custom_domain.remove"].read(ona, {"domain_name": "WS.acme.com"}) == {"exists": True}
    assert ops["custom_domain.remove"].read(ona, {"domain_name": "old.acme.com"}) == {"exists": False}


def test_approved_removal_does_not_run_when_the_domain_changed_meanwhile(emulator, slack) -> None:
    _seed(emulator)
    bot = make_harness(emulator, slack, policy=APPROVAL_POLICY)
    try:
        value = _button(bot.command("custom-domain remove").reply(), "custom-domain:remove")["value"]
        bot.click("custom-domain:remove", value)
        # the policy wants a reason: the click asks for it in a modal
        bot.submit(bot.opened_view("approval_reason"), {"reason": text_input("moving to a new domain")})
        posted = slack.wait_for("chat.postMessage", lambda a: a.get("channel") == "C0APPROVALS")[-1]
        assert "custom domain" in message_text(posted).lower() and _button(posted, "approval:approve")
        _seed(emulator, name="new.acme.com")  # changed in the dashboard meanwhile
        approve(bot, posted, "U0BOB").reply()
    finally:
        bot.close()
    assert emulator.calls("DeleteCustomDomain") == []
    assert emulator.state.custom_domain.domain_name == "new.acme.com"
