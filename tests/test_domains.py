"""/ona domains and /ona domain add|verify|remove end to end: signed Slack requests in, the fake Slack
and the Ona emulator observed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.ona.emulator.state import new_id
from bot.ona.models import DomainVerification, DomainVerificationState
from commands import domains
from tests.harness import APPROVAL_POLICY, BotHarness, make_harness, message_text, mrkdwn_texts, wait_until

CREATED = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def _seed(emulator, domain: str, *, verified: bool = False, token: str | None = None) -> DomainVerification:
    """A verification put straight into Ona's state (as if made in the dashboard)."""
    v = DomainVerification(
        id=new_id(), organization_id=emulator.organization_id, domain=domain,
        state=DomainVerificationState.VERIFIED if verified else DomainVerificationState.PENDING,
        verification_token=token or f"ona-domain-verification={domain}-token",
        created_at=CREATED, verified_at=CREATED + timedelta(days=1) if verified else None,
    )
    emulator.state.domain_verifications[v.id] = v
    return v


def _buttons(payload: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for block in payload.get("blocks") or []:
        if block["type"] == "actions":
            out += block["elements"]
        elif block.get("accessory", {}).get("type") == "button":
            out.append(block["accessory"])
    return out


def _button(payload: dict[str, Any], action_id: str) -> dict[str, Any]:
    return next(b for b in _buttons(payload) if b["action_id"] == action_id)




def approve(bot: BotHarness, posted: dict[str, Any], user: str) -> Any:
    button = _button(posted, "approval:approve")
    return bot.click("approval:approve", button["value"], user=user, channel_id="C0APPROVALS")


def _domains_shown(payload: dict[str, Any]) -> list[str]:
    return [b["text"]["text"].split("*")[1] for b in payload["blocks"]
            if b["type"] == "section" and b.get("text", {}).get("text", "").startswith("*")]


def _wait_calls(emulator, method: str, count: int) -> None:
    """Until Ona received `count` calls of `method`: the handler got that far."""
    wait_until(lambda: len(emulator.calls(method)) >= count, what=f"Ona to receive {count}× {method}")


def _only_ephemeral(slack) -> None:
    """Nothing went to a channel: every answer went back through response_url, ephemerally."""
    assert slack.calls_to("chat.postMessage") == []
    for reply in slack.calls_to("response_url"):
        assert reply["response_type"] == "ephemeral"
        # no raw <…> in mrkdwn: Slack would read `<domain>` as a link, `<!channel>` as a ping
        assert not [t for t in mrkdwn_texts(reply.get("blocks")) if "<" in t or ">" in t]


# --- list -------------------------------------------------------------------------------------


def test_list_is_empty_at_first(bot: BotHarness, emulator) -> None:
    reply = bot.command("domains").reply()
    _only_ephemeral(bot.slack)
    assert reply["response_type"] == "ephemeral"
    assert "No domain verifications yet" in message_text(reply) and "/ona domain add" in message_text(reply)
    assert emulator.calls("ListDomainVerifications") == [
        {"organizationId": emulator.organization_id, "pagination": {"pageSize": 100}}
    ]


@pytest.mark.parametrize("command", ["domains", "domain", "domains list"])
def test_list_shows_states_and_a_verify_button_on_pending_ones(bot: BotHarness, emulator, command: str) -> None:
    _seed(emulator, "acme.com", verified=True)
    _seed(emulator, "acme-labs.io")
    reply = bot.command(command).reply()
    _only_ephemeral(bot.slack)
    text = message_text(reply)
    assert "Domains (2)" in text and "1 verified · 1 pending" in text
    assert "verified 2025-03-02" in text and "pending since 2025-03-01" in text
    assert _domains_shown(reply) == ["acme-labs.io", "acme.com"]  # sorted by name
    verify = [b for b in _buttons(reply) if b["action_id"] == "domain:verify"]
    assert [json.loads(b["value"]) for b in verify] == [{"domain": "acme-labs.io"}]
    assert verify[0]["confirm"]["title"]["text"]
    assert not any(b["action_id"].startswith("domain:list") for b in _buttons(reply))  # one page: no pager


def test_list_paginates_ten_a_page_over_several_ona_pages(bot: BotHarness, emulator) -> None:
    names = [f"team{i:03d}.example.com" for i in range(105)]
    for name in reversed(names):
        _seed(emulator, name, verified=names.index(name) % 2 == 0)
    sent = bot.command("domains")
    first = sent.reply()
    assert _domains_shown(first) == names[:10]
    assert "Page 1 of 11" in message_text(first) and "Domains (105)" in message_text(first)
    # the bot followed Ona's pagination (100 a page) to the end
    calls = emulator.calls("ListDomainVerifications")
    assert len(calls) == 2 and calls[1]["pagination"]["token"]
    assert [b["action_id"] for b in _buttons(first) if b["action_id"].startswith("domain:list")] == [
        "domain:list:next"]

    nxt = _button(first, "domain:list:next")
    second = bot.click("domain:list:next", nxt["value"]).reply()
    assert _domains_shown(second) == names[10:20]
    assert second["replace_original"] is True
    assert {"domain:list:prev", "domain:list:next"} <= {b["action_id"] for b in _buttons(second)}

    last = bot.click("domain:list:next", json.dumps({"page": 10})).reply()
    assert _domains_shown(last) == names[100:]
    assert "Page 11 of 11" in message_text(last)
    assert [b["action_id"] for b in _buttons(last) if b["action_id"].startswith("domain:list")] == [
        "domain:list:prev"]
    assert len(last["blocks"]) <= 50
    _only_ephemeral(bot.slack)


def test_list_of_verifications_created_through_the_api(bot: BotHarness, emulator, ona) -> None:
    for i in range(12):
        ona.create_domain_verification(domain=f"d{i:02d}.example.org")
    first = bot.command("domain").reply()
    assert _domains_shown(first) == [f"d{i:02d}.example.org" for i in range(10)]
    second = bot.click("domain:list:next", _button(first, "domain:list:next")["value"]).reply()
    assert _domains_shown(second) == ["d10.example.org", "d11.example.org"]
    back = bot.click("domain:list:prev", _button(second, "domain:list:prev")["value"]).reply()
    assert _domains_shown(back) == _domains_shown(first)


def test_a_page_past_the_end_shows_the_last_page(bot: BotHarness, emulator) -> None:
    for i in range(3):
        _seed(emulator, f"x{i}.example.com")
    reply = bot.click("domain:list:next", json.dumps({"page": 7})).reply()
    assert _domains_shown(reply) == ["x0.example.com", "x1.example.com", "x2.example.com"]


def test_domain_names_from_ona_are_escaped(bot: BotHarness, emulator) -> None:
    _seed(emulator, "<!channel>.example.com")
    rendered = " ".join(mrkdwn_texts(bot.command("domains").reply()["blocks"]))
    assert "<!channel>" not in rendered and "&lt;!channel&gt;" in rendered



def test_mistyped_subcommand_gets_the_nearest_usage(bot: BotHarness, emulator) -> None:
    text = bot.command("domain ad example.com").reply_text()
    assert "Did you mean `domain add`" in text and "`/ona domain add &lt;domain&gt;`" in text
    assert emulator.calls("CreateDomainVerification") == []


def test_list_when_ona_is_down(bot: BotHarness, emulator) -> None:
    emulator.inject_fault("ListDomainVerifications", code="unavailable", times=10)
    text = bot.command("domains").reply_text()
    assert "Ona did not answer" in text and "Traceback" not in text


# --- add → publish DNS → verify -----------------------------------------------------------------


def test_add_publish_verify_full_flow(bot: BotHarness, emulator) -> None:
    sent = bot.command("domain add Acme-Corp.COM")
    outcome, next_step = sent.replies(2)
    assert emulator.calls("CreateDomainVerification") == [
        {"organizationId": emulator.organization_id, "domain": "acme-corp.com"}
    ]
    (v,) = emulator.state.domain_verifications.values()
    token = v.verification_token
    text = message_text(outcome)
    assert "Verification of *acme-corp.com* started" in text
    assert "TXT" in text and f"`{token}`" in text and "/ona domain verify acme-corp.com" in text
    verify = _button(next_step, "domain:verify")
    assert json.loads(verify["value"]) == {"domain": "acme-corp.com"} and verify["confirm"]

    # Verify before the record is published: Ona's failed_precondition, shown with the record again.
    early = bot.click("domain:verify", verify["value"]).reply()
    early_text = message_text(early)
    assert "isn't visible to Ona yet" in early_text and f"`{token}`" in early_text and "TXT" in early_text
    assert _button(early, "domain:verify")["text"]["text"] == "Verify again"
    assert v.state == DomainVerificationState.PENDING

    emulator.publish_dns("acme-corp.com", token)
    done = bot.click("domain:verify", _button(early, "domain:verify")["value"]).reply()
    assert "*acme-corp.com* is verified" in message_text(done)
    assert v.state == DomainVerificationState.VERIFIED and v.verified_at is not None
    assert emulator.calls("VerifyDomain") == [{"domainVerificationId": v.id}] * 2

    listed = bot.command("domains").reply()
    assert "1 verified · 0 pending" in message_text(listed)
    assert not [b for b in _buttons(listed) if b["action_id"] == "domain:verify"]
    _only_ephemeral(bot.slack)


def test_add_unwraps_a_slack_auto_link(bot: BotHarness, emulator) -> None:
    bot.command("domain add <http://acme.dev|acme.dev>").replies(2)
    assert emulator.calls("CreateDomainVerification")[0]["domain"] == "acme.dev"


@pytest.mark.parametrize(("text", "expected"), [
    ("domain add", "Give exactly one domain"),
    ("domain add a.io b.io", "Give exactly one domain"),
    ("domain add not_a_domain.com", "is not a domain name"),
    ("domain add localhost", "is not a domain name"),
    ("domain add a.b", "4 to 253 characters"),
    ("domain add " + "a" * 250 + ".com", "4 to 253 characters"),
    ("domain add https://acme.com/path", "is not a domain name"),
])
def test_add_refuses_bad_input_before_ona(bot: BotHarness, emulator, text: str, expected: str) -> None:
    reply_text = bot.command(text).reply_text()
    assert expected in reply_text and "/ona domain add &lt;domain&gt;" in reply_text
    assert emulator.calls("CreateDomainVerification") == []


def test_add_of_a_pending_domain_shows_its_record_again(bot: BotHarness, emulator) -> None:
    v = _seed(emulator, "acme.com")
    reply = bot.command("domain add acme.com").reply()
    text = message_text(reply)
    assert "already added" in text and f"`{v.verification_token}`" in text
    assert json.loads(_button(reply, "domain:verify")["value"]) == {"domain": "acme.com"}
    assert emulator.calls("CreateDomainVerification") == []


def test_add_of_a_verified_domain_says_so(bot: BotHarness, emulator) -> None:
    _seed(emulator, "acme.com", verified=True)
    assert "already verified (since 2025-03-02)" in bot.command("domain add ACME.com").reply_text()
    assert emulator.calls("CreateDomainVerification") == []


def test_add_when_ona_says_it_already_exists(bot: BotHarness, emulator) -> None:
    emulator.inject_fault("CreateDomainVerification", code="already_exists")
    text = bot.command("domain add acme.com").reply_text()
    assert "was just added by someone else" in text and "/ona domains" in text


def test_add_with_a_member_key_is_refused_kindly(emulator, slack) -> None:
    harness = make_harness(emulator, slack, api_key=emulator.member_key)
    try:
        text = harness.command("domain add acme.com").reply_text()
    finally:
        harness.close()
    assert "not an admin of this organization" in text and "Nothing was changed" in text
    assert emulator.state.domain_verifications == {}


# --- verify -------------------------------------------------------------------------------------


def test_verify_command_after_publishing(bot: BotHarness, emulator) -> None:
    v = _seed(emulator, "acme.com")
    emulator.publish_dns("acme.com", v.verification_token)
    text = bot.command("domain verify acme.com").reply_text()
    assert "*acme.com* is verified" in text
    assert emulator.calls("VerifyDomain") == [{"domainVerificationId": v.id}]


def test_verify_unknown_domain_is_a_friendly_not_found(bot: BotHarness, emulator) -> None:
    _seed(emulator, "acme.com")
    text = bot.command("domain verify other.com").reply_text()
    assert "No verification for *other.com*" in text and "/ona domains" in text
    assert emulator.calls("VerifyDomain") == []


def test_verify_of_a_verified_domain_changes_nothing(bot: BotHarness, emulator) -> None:
    _seed(emulator, "acme.com", verified=True)
    assert "already verified" in bot.command("domain verify acme.com").reply_text()
    assert emulator.calls("VerifyDomain") == []


@pytest.mark.parametrize("text", ["domain verify", "domain verify acme"])
def test_verify_refuses_bad_input(bot: BotHarness, emulator, text: str) -> None:
    assert "/ona domain verify &lt;domain&gt;" in bot.command(text).reply_text()
    assert emulator.calls("VerifyDomain") == []


def test_verify_button_with_a_bad_value_gets_usage(bot: BotHarness, emulator) -> None:
    text = bot.click("domain:verify", "not json").reply_text()
    assert "Give a domain name" in text and "/ona domain verify &lt;domain&gt;" in text


def test_verify_when_ona_is_down_says_the_outcome_is_unknown(bot: BotHarness, emulator) -> None:
    v = _seed(emulator, "acme.com")
    emulator.publish_dns("acme.com", v.verification_token)
    emulator.inject_fault("VerifyDomain", code="unavailable", times=5)
    text = bot.command("domain verify acme.com").reply_text()
    assert "may or may not have been applied" in text  # issue 12: `unavailable` proves nothing
    assert v.state == DomainVerificationState.PENDING


# --- remove -------------------------------------------------------------------------------------


def test_remove_asks_then_removes_on_click(bot: BotHarness, emulator) -> None:
    v = _seed(emulator, "acme.com", verified=True)
    ask = bot.command("domain remove acme.com").reply()
    assert "Remove the verified domain *acme.com*" in message_text(ask)
    button = _button(ask, "domain:remove")
    assert button["style"] == "danger" and button["confirm"]["confirm"]["text"] == "Remove"
    assert emulator.calls("DeleteDomainVerification") == []  # nothing before the click
    done = bot.click("domain:remove", button["value"]).reply_text()
    assert "Removed the verification of *acme.com*" in done
    assert emulator.calls("DeleteDomainVerification") == [{"domainVerificationId": v.id}]
    assert emulator.state.domain_verifications == {}


def test_remove_unknown_domain_is_a_friendly_not_found(bot: BotHarness, emulator) -> None:
    text = bot.command("domain remove acme.com").reply_text()
    assert "No verification for *acme.com*" in text and "/ona domains" in text


@pytest.mark.parametrize("text", ["domain remove", "domain remove acme..com"])
def test_remove_refuses_bad_input(bot: BotHarness, emulator, text: str) -> None:
    assert "/ona domain remove &lt;domain&gt;" in bot.command(text).reply_text()


def test_remove_click_after_someone_else_removed_it(bot: BotHarness, emulator) -> None:
    v = _seed(emulator, "acme.com")
    value = _button(bot.command("domain remove acme.com").reply(), "domain:remove")["value"]
    del emulator.state.domain_verifications[v.id]
    assert "*acme.com* was already removed" in bot.click("domain:remove", value).reply_text()


def test_remove_button_with_a_bad_value(bot: BotHarness, emulator) -> None:
    text = bot.click("domain:remove", json.dumps({"domain": "acme.com"})).reply_text()
    assert "no longer works" in text
    assert emulator.calls("DeleteDomainVerification") == []


def test_remove_when_ona_refuses(bot: BotHarness, emulator) -> None:
    v = _seed(emulator, "acme.com")
    value = _button(bot.command("domain remove acme.com").reply(), "domain:remove")["value"]
    emulator.inject_fault("DeleteDomainVerification", code="permission_denied")
    text = bot.click("domain:remove", value).reply_text()
    assert "not an admin" in text and "Nothing was changed" in text
    assert v.id in emulator.state.domain_verifications


# --- operations: what the approval flow will read -----------------------------------------------


def test_operation_reads_report_the_current_values(emulator, ona) -> None:
    ops = domains.GROUP.operations
    assert ops["domain.add"].read(ona, {"domain": "acme.com"}) == {"exists": False}
    v = _seed(emulator, "acme.com")
    assert ops["domain.add"].read(ona, {"domain": "acme.com"}) == {"exists": True}
    params = {"domain_verification_id": v.id, "domain": "acme.com", "state": "verified"}
    assert ops["domain.verify"].read(ona, params) == {"state": "pending"}
    assert ops["domain.remove"].read(ona, params) == {"exists": True}
    v.state = DomainVerificationState.VERIFIED
    assert ops["domain.verify"].read(ona, params) == {"state": "verified"}
    del emulator.state.domain_verifications[v.id]
    assert ops["domain.verify"].read(ona, params) == {"state": "missing"}
    assert ops["domain.remove"].read(ona, params) == {"exists": False}
    assert not any(op.secret_result or op.secret_params for op in ops.values())  # the token is public


def test_parse_domain_normalises_what_people_type() -> None:
    usage = "/ona domain add <domain>"
    assert domains.parse_domain("Example.COM.", usage) == "example.com"
    assert domains.parse_domain("https://example.com/", usage) == "example.com"
    assert domains.parse_domain("<https://sub.example.com>", usage) == "sub.example.com"


# --- under an approval policy -------------------------------------------------------------------


def test_add_under_approval_runs_once_approved_and_tells_the_requester_the_record(emulator, slack) -> None:
    bot = make_harness(emulator, slack, policy=APPROVAL_POLICY)
    try:
        sent = bot.command("domain add acme.com reason: SSO for acme staff")
        assert "waiting for" in sent.reply_text()
        assert emulator.calls("CreateDomainVerification") == []
        posted = slack.wait_for("chat.postMessage", lambda a: a.get("channel") == "C0APPROVALS")[-1]
        assert "acme.com" in message_text(posted)
        _wait_calls(emulator, "ListDomainVerifications", 3)  # look-up, "before", look-up again
        approve(bot, posted, "U0BOB").reply()
    finally:
        bot.close()
    assert len(sent.replies()) == 1  # no Verify button before the verification exists
    (v,) = emulator.state.domain_verifications.values()
    dm = slack.wait_for("chat.postMessage", lambda a: a.get("channel", "").startswith("D0ALICE"))[-1]
    assert v.verification_token in message_text(dm) and "TXT" in message_text(dm)


def test_dry_run_of_add_shows_the_change_and_creates_nothing(bot: BotHarness, emulator) -> None:
    sent = bot.command("domain add acme.com --dry-run")
    text = sent.reply_text()
    assert "Dry run" in text and "Start verifying a domain" in text
    _wait_calls(emulator, "ListDomainVerifications", 3)  # look-up, "before", look-up again
    assert emulator.calls("CreateDomainVerification") == []
    assert len(sent.replies()) == 1  # no Verify button for a verification that does not exist
