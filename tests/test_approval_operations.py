"""Every operation that needs approval under the built-in policy: request in Slack (with the reason
modal where none was typed), approve with the buttons (twice where two approvers are needed), and
check that Ona received exactly one call."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from bot.approvals.policy import load_policy
from bot.bootstrap import policy_names
from bot.localslack import FakeSlack, text_input
from bot.mutations import operations_of
from bot.ona.client import OnaClient
from bot.ona.models import OrganizationRole, SSOConfigurationState
from commands import GROUPS
from tests.harness import BotHarness, make_harness, message_text
from tests.test_approvals import CHANNEL, buttons, channel_message, store, wait_until
from tests.test_policies import _values

SECRET = "client-secret-for-the-matrix-0001"


@dataclass
class Case:
    operation: str
    command: str
    method: str  # the Ona method that must be called exactly once
    click: str | None = None  # the confirm button the command answers with
    modal: Callable[[BotHarness, dict], dict] | None = None  # fills the form the command opens
    setup: Callable[[Any, OnaClient], dict[str, str]] | None = None  # ids for the command

    @property
    def id(self) -> str:
        return self.operation


def _second_sso(emulator: Any, ona: OnaClient, *, active: bool = True) -> dict[str, str]:
    sso = ona.create_sso_configuration(issuer_url="https://login.example.org", client_id="matrix",
                                       client_secret="x" * 12, display_name="Matrix").sso_configuration
    state = SSOConfigurationState.ACTIVE if active else SSOConfigurationState.INACTIVE
    ona.update_sso_configuration(sso_configuration_id=sso.id, state=state)
    return {"sso": sso.id}


def _seeded(emulator: Any, ona: OnaClient) -> dict[str, str]:
    scim = next(ona.iter_scim_configurations())
    return {"sso": scim.sso_configuration_id, "scim": scim.id}


def _sso_add_form(bot: BotHarness, form: dict) -> dict:
    return {"issuer_url": text_input("https://id.example.com"), "client_id": text_input("matrix-client"),
            "client_secret": text_input(SECRET), "display_name": text_input("Matrix IdP"),
            "email_domains": text_input(""), "additional_scopes": text_input("")}


def _sso_edit_form(bot: BotHarness, form: dict) -> dict:
    return _values(form, display_name=text_input("Renamed IdP"))


def _policies_form(bot: BotHarness, form: dict) -> dict:
    return _values(form, maximum_environment_timeout=text_input("2h"))


CASES = [
    Case("policies.update", "policies edit", "UpdateOrganizationPolicies", modal=_policies_form),
    Case("invite.create", "invite", "CreateOrganizationInvite", click="invite:create"),
    Case("org.rename", "org rename Acme Labs reason: rebrand", "UpdateOrganization"),
    Case("org.invite_domains", "org invite-domains acme.example reason: onboarding", "UpdateOrganization"),
    Case("members.set_role", "role bob@example.com member reason: rotation", "SetRole"),
    Case("members.grant_admin", "role carol@example.com admin reason: on-call", "SetRole"),
    Case("domain.remove", "domain remove old.acme.example", "DeleteDomainVerification", click="domain:remove",
         setup=lambda emu, ona: {"d": ona.create_domain_verification(domain="old.acme.example")
                                 .domain_verification.id}),
    Case("custom_domain.set", "custom-domain set ws.acme.example aws 123456789012 reason: launch",
         "CreateCustomDomain"),
    Case("custom_domain.remove", "custom-domain remove", "DeleteCustomDomain", click="custom-domain:remove",
         setup=lambda emu, ona: {"c": ona.create_custom_domain(domain_name="ws.acme.example",
                                                               provider="CUSTOM_DOMAIN_PROVIDER_AWS",
                                                               cloud_account_id="123456789012").custom_domain.id}),
    Case("sso.create", "sso add", "CreateSSOConfiguration", modal=_sso_add_form),
    Case("sso.update", "sso edit {sso}", "UpdateSSOConfiguration", modal=_sso_edit_form, setup=_second_sso),
    Case("sso.activate", "sso activate {sso} reason: back", "UpdateSSOConfiguration",
         setup=lambda emu, ona: _second_sso(emu, ona, active=False)),
    Case("sso.deactivate", "sso deactivate {sso}", "UpdateSSOConfiguration", click="sso:deactivate",
         setup=_second_sso),
    Case("sso.remove", "sso remove {sso}", "DeleteSSOConfiguration", click="sso:remove", setup=_second_sso),
    Case("scim.create", "scim add Matrix --sso {sso} reason: provisioning", "CreateSCIMConfiguration",
         setup=_seeded),
    Case("scim.regenerate_token", "scim regenerate {scim}", "RegenerateSCIMToken", click="scim:regenerate",
         setup=_seeded),
    Case("scim.disable", "scim disable {scim} reason: audit", "UpdateSCIMConfiguration", setup=_seeded),
    Case("scim.remove", "scim remove {scim}", "DeleteSCIMConfiguration", click="scim:remove", setup=_seeded),
]


@pytest.fixture
def pbot(emulator: Any, slack: FakeSlack) -> Iterator[BotHarness]:
    """The built-in policy, and a third admin so that two-approver operations can complete."""
    emulator.add_member("dan@example.com", "Dan Admin", role=OrganizationRole.ADMIN.value)
    slack.users["U0DAN"] = {"name": "dan", "real_name": "Dan Admin", "email": "dan@example.com"}
    harness = make_harness(emulator, slack, policy=None)
    yield harness
    harness.close()


def test_the_matrix_covers_every_operation_that_needs_approval_by_default() -> None:
    operations = operations_of(GROUPS)
    policy = load_policy(None, policy_names(operations))
    needing = {name for name in policy_names(operations) if policy.rule(name).needs_approval}
    # scim.enable: the twin of disable. Banner windows follow the banner's own rule (their policy_key is
    # banner.update, which runs at once by default), so by name they read as the defaults.
    follows_banner = {name for name in needing if operations.get(name) and operations[name].local}
    assert follows_banner == {"banner.schedule", "banner.cancel_window"}
    assert not any(policy.rule(operations[n].policy_key({})).needs_approval for n in follows_banner)
    assert needing - {"scim.enable"} - follows_banner == {c.operation for c in CASES}


def request_through_slack(bot: BotHarness, case: Case, ids: dict[str, str]) -> dict:
    """Everything the requester does in Slack; returns the approval message posted to the channel."""
    sent = bot.command(case.command.format(**ids))
    if case.modal is not None:
        callback = {"policies edit": "policies_edit", "sso add": "sso_add"}.get(case.command, "sso_edit")
        form = bot.opened_view(callback) if case.command == "sso add" else bot.filled_view(callback)
        answer = bot.submit(form, case.modal(bot, form))
        assert answer.status_code == 200 and b"errors" not in answer.content, answer.text
    if case.click is not None:
        button = buttons(sent.reply())[case.click]
        bot.click(case.click, button.get("value", ""))
    if "reason:" not in case.command:
        modal = bot.slack.wait_for("views.open", lambda a: a["view"]["callback_id"] == "approval_reason")[-1]
        bot.submit({**modal["view"], "id": "VREASON"}, {"reason": text_input("needed for the test")})
    posted = bot.slack.wait_for("chat.postMessage", lambda a: a.get("channel") == CHANNEL)[-1]
    # The bot records where it posted just after Slack answered: wait for that too, not only the post.
    wait_until(lambda: all(r.ts for r in store(bot).in_states("pending")), what="the message's place recorded")
    return posted


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_request_approve_execute(pbot: BotHarness, emulator: Any, case: Case) -> None:
    ids = case.setup(emulator, pbot.services.ona) if case.setup else {}
    before = len(emulator.calls(case.method))
    posted = request_through_slack(pbot, case, ids)
    request = store(pbot).in_states("pending")[0]
    assert request.policy_key == case.operation
    assert emulator.calls(case.method)[before:] == [], "nothing may run before the approval"
    approve = buttons(posted)["approval:approve"]["value"]
    approvers = ["U0BOB", "U0DAN"][: request.approvals_needed]
    for approver in approvers:
        pbot.click("approval:approve", approve, user=approver).reply()
    wait_until(lambda: store(pbot).get(request.id).state in ("succeeded", "failed", "conflict"), what="execution")
    final = store(pbot).get(request.id)
    assert final.state == "succeeded", (final.state, final.result, final.note)
    assert len(emulator.calls(case.method)) - before == 1
    final_message = channel_message(pbot)
    assert "Approved and done" in message_text(final_message) and not buttons(final_message)


def test_the_policy_change_modal_waits_for_the_reason_then_runs_after_approval(pbot: BotHarness, emulator) -> None:
    posted = request_through_slack(pbot, CASES[0], {})
    assert "needed for the test" in message_text(posted)
    assert "8h → 2h" in message_text(posted)  # durations read as people type them, not 28800
    pbot.click("approval:approve", buttons(posted)["approval:approve"]["value"], user="U0BOB").reply()
    assert emulator.state.policies.maximum_environment_timeout == timedelta(hours=2)
