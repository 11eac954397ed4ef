"""/ona org: the overview, rename, and invite domains (set, validate, clear), end to end."""

from __future__ import annotations

import json

import pytest

from bot.ona.models import InviteDomains
from commands.org import GROUP
from tests.harness import BotHarness, member_listings, message_text


def test_org_shows_name_tier_created_members_and_domains(bot: BotHarness, emulator) -> None:
    reply = bot.command("org").reply()
    assert reply["response_type"] == "ephemeral"
    text = message_text(reply)
    for fact in ("*Name*\nAcme Corp", "*Tier*\nEnterprise", "*Created*\n14 Mar 2023", "*Members*\n5",
                 "*Invite domains*\nnone"):
        assert fact in text
    assert emulator.calls("GetOrganization") and member_listings(emulator)[0]["count"] == {"include": True}


def test_org_alias_and_listed_invite_domains(bot: BotHarness, emulator) -> None:
    emulator.state.organization.invite_domains = InviteDomains(domains=["example.com", "acme.io"])
    assert "*Invite domains*\nexample.com, acme.io" in bot.command("organization").reply_text()


def test_org_name_is_escaped(bot: BotHarness, emulator) -> None:
    emulator.state.organization.name = "<!channel> Corp"
    reply = bot.command("org").reply()
    rendered = json.dumps(reply)
    assert "<!channel>" not in rendered and "&lt;!channel&gt; Corp" in rendered


def test_org_ona_unavailable_is_friendly(bot: BotHarness, emulator) -> None:
    emulator.inject_fault("GetOrganization", code="unavailable", times=10)
    text = bot.command("org").reply_text()
    assert "Ona did not answer" in text and "Traceback" not in text


# --- rename ------------------------------------------------------------------------------------------


def test_rename_sends_the_trimmed_name(bot: BotHarness, emulator) -> None:
    text = bot.command("org rename   Acme Inc.  ").reply_text()
    assert "now called *Acme Inc.*" in text
    assert emulator.calls("UpdateOrganization") == [{"organizationId": emulator.organization_id, "name": "Acme Inc."}]
    assert emulator.state.organization.name == "Acme Inc."


def test_rename_keeps_the_text_and_escapes_it_in_slack(bot: BotHarness, emulator) -> None:
    # As Slack sends it with should_escape on: what was typed, with & < > escaped.
    reply = bot.command("org rename &lt;!channel&gt; &amp; &lt;@U0BOB&gt; Corp").reply()
    assert emulator.state.organization.name == "<!channel> & <@U0BOB> Corp"
    rendered = json.dumps(reply)
    assert "<!channel>" not in rendered and "<@U0BOB>" not in rendered
    assert "&lt;!channel&gt; &amp; &lt;@U0BOB&gt; Corp" in rendered


@pytest.mark.parametrize("line, expected", [
    ("org rename", "Give the new name"),
    ("org rename    ", "Give the new name"),
    ("org rename " + "n" * 81, "81 characters; keep it to 80"),
])
def test_rename_bad_input_gets_usage(bot: BotHarness, emulator, line: str, expected: str) -> None:
    text = bot.command(line).reply_text()
    assert expected in text and "/ona org rename" in text
    assert emulator.calls("UpdateOrganization") == []


def test_rename_to_the_current_name_sends_nothing(bot: BotHarness, emulator) -> None:
    assert "already called *Acme Corp*" in bot.command("org rename Acme Corp").reply_text()
    assert emulator.calls("UpdateOrganization") == []


def test_rename_permission_denied_is_friendly(bot: BotHarness, emulator) -> None:
    emulator.inject_fault("UpdateOrganization", code="permission_denied")
    text = bot.command("org rename Acme Inc").reply_text()
    assert "not an admin of this organization" in text and "Nothing was changed" in text
    assert emulator.state.organization.name == "Acme Corp"


def test_rename_operation_reads_the_current_name(ona) -> None:
    assert GROUP.operations["org.rename"].read(ona, {"name": "New"}) == {"name": "Acme Corp"}


# --- invite domains -----------------------------------------------------------------------------------


def test_invite_domains_are_normalised_deduplicated_and_sent(bot: BotHarness, emulator) -> None:
    text = bot.command("org invite-domains Example.COM acme.io, acme.io <http://corp.example.org|corp.example.org>"
                       ).reply_text()
    assert "can now join" in text and "example.com, acme.io, corp.example.org" in text
    assert emulator.calls("UpdateOrganization") == [{
        "organizationId": emulator.organization_id,
        "inviteDomains": {"domains": ["example.com", "acme.io", "corp.example.org"]},
    }]
    assert emulator.state.organization.invite_domains.domains == ["example.com", "acme.io", "corp.example.org"]


@pytest.mark.parametrize("domains", ["not_a_domain", "a.b", "-bad.example.com", "example", "x" * 250 + ".com"])
def test_invalid_invite_domains_get_usage_and_nothing_is_sent(bot: BotHarness, emulator, domains: str) -> None:
    text = bot.command(f"org invite-domains example.com {domains}").reply_text()
    assert "Not a domain Ona accepts" in text and "/ona org invite-domains" in text
    assert emulator.calls("UpdateOrganization") == []


def test_invite_domains_without_domains_gets_usage(bot: BotHarness, emulator) -> None:
    assert "Give at least one domain" in bot.command("org invite-domains").reply_text()
    assert "not both" in bot.command("org invite-domains --clear example.com").reply_text()
    assert emulator.calls("UpdateOrganization") == []


@pytest.mark.parametrize("line", ["org invite-domains --clear", "org invite-domains none", "org invite-domains —clear"])
def test_clearing_invite_domains_sends_the_empty_wrapper(bot: BotHarness, emulator, line: str) -> None:
    emulator.state.organization.invite_domains = InviteDomains(domains=["example.com"])
    text = bot.command(line).reply_text()
    assert "Invite domains cleared" in text
    [body] = emulator.calls("UpdateOrganization")
    assert body["inviteDomains"].get("domains", []) == []  # present, empty: Ona clears the list
    assert not emulator.state.organization.invite_domains.domains


def test_unchanged_invite_domains_send_nothing(bot: BotHarness, emulator) -> None:
    assert "already: none" in bot.command("org invite-domains --clear").reply_text()
    emulator.state.organization.invite_domains = InviteDomains(domains=["acme.io", "example.com"])
    assert "Nothing was changed" in bot.command("org invite-domains example.com acme.io").reply_text()
    assert emulator.calls("UpdateOrganization") == []


def test_invite_domains_rejected_by_ona_shows_its_message(bot: BotHarness, emulator) -> None:
    emulator.inject_fault("UpdateOrganization", code="invalid_argument")
    text = bot.command("org invite-domains example.com").reply_text()
    assert "Ona rejected the change" in text
    assert emulator.state.organization.invite_domains is None


def test_invite_domains_operation_reads_the_current_domains(ona, emulator) -> None:
    op = GROUP.operations["org.invite_domains"]
    assert op.read(ona, {"domains": ["example.com"]}) == {"domains": []}
    emulator.state.organization.invite_domains = InviteDomains(domains=["acme.io"])
    assert op.read(ona, {"domains": []}) == {"domains": ["acme.io"]}
