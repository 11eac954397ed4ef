"""What the bot reports when it cannot know (issue 12, points 1, 3 and 8).

1. A change answered by a gateway's 502/503/504 (an HTML page, not a Connect error) or by
   `deadline_exceeded` is "outcome unknown", with what to check; never "nothing was changed", never "Done".
3. After a crash, each operation is settled by what Ona's state shows about *it* (a new invite, a moved
   token expiry, a new configuration), and "outcome unknown" where Ona cannot tell; never a guess.
8. A process whose clock runs ahead never settles an execution that another process is still running.

Driven as Slack does (signed requests into the Bolt app, FakeSlack, the Ona emulator over HTTP); faults are
injected at the network boundary (`emulator.inject_fault`). A crash is a request left `executing` in the
shared database, aged in the database, then what a restart runs (`reconcile`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.approvals.model import EXECUTING, PENDING
from bot.localslack import FakeSlack, text_input
from bot.ona.client import OnaClient
from bot.ona.models import SSOConfigurationState
from tests.harness import (
    APPROVAL_POLICY,
    APPROVALS_CHANNEL,
    BotHarness,
    buttons,
    message_text,
    operation_of,
    set_clock,
    wait_until,
)
from tests.test_approval_operations import CASES, request_through_slack
from tests.test_policies import _values
from tests.workers.bots import build_harness, close_harness

CASE = {case.operation: case for case in CASES}
SECRET = "client-secret-for-outcomes-0002"


@pytest.fixture
def direct(emulator, slack: FakeSlack) -> Iterator[BotHarness]:
    harness = build_harness(emulator, slack)
    yield harness
    close_harness(harness)


@pytest.fixture
def abot(emulator, slack: FakeSlack) -> Iterator[BotHarness]:
    """Every change needs one approval (U0BOB approves what U0ALICE asks)."""
    harness = build_harness(emulator, slack, policy=APPROVAL_POLICY)
    yield harness
    close_harness(harness)


def store(bot: BotHarness):
    return bot.services.approvals.store


def channel_message(bot: BotHarness) -> dict:
    return next(m for (channel, _), m in bot.slack.messages.items() if channel == APPROVALS_CHANNEL)


def second_sso(ona: OnaClient, *, active: bool = True) -> str:
    sso = ona.create_sso_configuration(issuer_url="https://login.example.org", client_id="outcomes",
                                       client_secret="y" * 12, display_name="Outcomes").sso_configuration
    state = SSOConfigurationState.ACTIVE if active else SSOConfigurationState.INACTIVE
    ona.update_sso_configuration(sso_configuration_id=sso.id, state=state)
    return sso.id


# --- 1. a gateway's 502/503/504, or deadline_exceeded: the outcome is unknown -------------------------

ANSWERS = {
    "gateway 502": {"gateway": 502},
    "gateway 503": {"gateway": 503},
    "gateway 504 after Ona applied it": {"gateway": 504, "applied": True},
    "deadline_exceeded": {"code": "deadline_exceeded"},
}


@pytest.mark.parametrize("answer", list(ANSWERS))
def test_a_direct_change_without_a_proving_answer_is_reported_unknown_with_what_to_check(
        direct: BotHarness, emulator, answer: str) -> None:
    emulator.state.banner.enabled = True
    emulator.inject_fault("UpdateAnnouncementBanner", **ANSWERS[answer])
    text = direct.command("banner off").reply_text(timeout=20)
    assert "may or may not have been applied" in text, text
    assert "Check it with `/ona banner`" in text  # what to check
    assert "nothing was changed" not in text.lower() and "Something went wrong" not in text
    assert "504" not in text and "deadline_exceeded" not in text  # words, not codes
    if answer.startswith("gateway"):
        assert "gateway in front of Ona" in text
    assert len(emulator.calls("UpdateAnnouncementBanner")) == 1  # a change is never re-sent
    assert emulator.state.banner.enabled is ("applied" not in answer)


def test_a_change_ona_provably_refused_still_says_nothing_was_changed(direct: BotHarness, emulator) -> None:
    emulator.state.banner.enabled = True
    emulator.inject_fault("UpdateAnnouncementBanner", code="permission_denied")
    text = direct.command("banner off").reply_text(timeout=20)
    assert "Nothing was changed" in text and "may or may not" not in text


def test_an_approved_sso_deactivation_answered_504_after_ona_applied_it_never_reads_done_or_refused(
        abot: BotHarness, emulator) -> None:
    """The issue's reproduction: it was inactive, and the bot said "Done: Ona is unavailable"."""
    sso_id = second_sso(abot.services.ona)
    posted = request_through_slack(abot, CASE["sso.deactivate"], {"sso": sso_id})
    emulator.inject_fault("UpdateSSOConfiguration", gateway=504, applied=True)
    answer = abot.click("approval:approve", buttons(posted)["approval:approve"]["value"], user="U0BOB",
                        channel_id=APPROVALS_CHANNEL).reply_text(timeout=20)
    assert not re.sub(r"^:\w+:\s*", "", answer).startswith("Done") and "Done:" not in answer, answer
    assert "may or may not have been applied" in answer and "`/ona sso`" in answer
    (request,) = store(abot).in_states("failed")
    assert request.note == "outcome unknown"
    assert emulator.state.sso_configurations[sso_id].state == SSOConfigurationState.INACTIVE  # it did apply
    assert len(emulator.calls("UpdateSSOConfiguration")) == 2  # the setup's activation, and this one once
    final = message_text(channel_message(abot))
    assert "outcome unknown" in final and "may or may not have been applied" in final
    assert "refused" not in final and "Approved and done" not in final and not buttons(channel_message(abot))
    dm = message_text(abot.slack.wait_for("chat.postMessage", lambda a: a["channel"].startswith("D0ALICE"))[-1])
    assert "outcome unknown" in dm and "refused" not in dm


# --- 3. crash recovery per operation ------------------------------------------------------------------


def crash_while_executing(bot: BotHarness) -> Any:
    """The process won `executing` and died (before or after its call reached Ona), minutes ago."""
    (request,) = store(bot).in_states(PENDING)
    assert store(bot).transition(request.id, PENDING, EXECUTING)
    with store(bot).connect() as conn:
        conn.execute("UPDATE requests SET updated_at = updated_at - 600 WHERE id = ?", (request.id,))
    return request


def restart(bot: BotHarness, request: Any) -> Any:
    bot.services.approvals.reconcile()
    settled = store(bot).get(request.id)
    assert settled.state != EXECUTING
    return settled


def seeded_scim(ona: OnaClient) -> dict[str, str]:
    scim = next(ona.iter_scim_configurations())
    return {"sso": scim.sso_configuration_id, "scim": scim.id}


def _sso_secret_only(bot: BotHarness, form: dict) -> dict:
    return _values(form, client_secret=text_input(SECRET))


def request(bot: BotHarness, operation: str, ids: dict[str, str] | None = None) -> Any:
    case = CASE[operation]
    if operation == "sso.update":
        case = type(case)(**{**case.__dict__, "modal": _sso_secret_only})
    request_through_slack(bot, case, ids or {})
    return crash_while_executing(bot)


# (operation, ids, what Ona did before the crash (None: nothing), expected state, expected note)
def _apply_invite(ona: OnaClient, ids: dict[str, str]) -> None:
    ona.create_organization_invite()


def _apply_regenerate(ona: OnaClient, ids: dict[str, str]) -> None:
    ona.regenerate_scim_token(scim_configuration_id=ids["scim"])


def _apply_sso_create(ona: OnaClient, ids: dict[str, str]) -> None:
    ona.create_sso_configuration(issuer_url="https://id.example.com", client_id="matrix-client",
                                 client_secret=SECRET, display_name="Matrix IdP")


def _apply_scim_create(ona: OnaClient, ids: dict[str, str]) -> None:
    ona.create_scim_configuration(sso_configuration_id=ids["sso"], name="Matrix",
                                  token_expires_in=timedelta(days=365))


RECOVERY = {
    "invite.create not applied": ("invite.create", None, "failed", "not applied"),
    "invite.create applied": ("invite.create", _apply_invite, "succeeded", None),
    "scim.regenerate_token not applied": ("scim.regenerate_token", None, "failed", "not applied"),
    "scim.regenerate_token applied": ("scim.regenerate_token", _apply_regenerate, "succeeded", None),
    "sso.create applied": ("sso.create", _apply_sso_create, "succeeded", None),
    "sso.create not applied": ("sso.create", None, "failed", "not applied"),
    "scim.create applied": ("scim.create", _apply_scim_create, "succeeded", None),
    "sso.update secret only, not applied": ("sso.update", None, "failed", "outcome unknown"),
}
WORDS = {"succeeded": "Approved and done", "not applied": "Approved, but not done",
         "outcome unknown": "Approved, outcome unknown"}


@pytest.mark.parametrize("scenario", list(RECOVERY))
def test_a_restart_settles_each_operation_by_what_ona_shows_of_it(abot: BotHarness, emulator,
                                                                  scenario: str) -> None:
    operation, applied_by_ona, state, note = RECOVERY[scenario]
    ona = abot.services.ona
    ids = seeded_scim(ona) if operation.startswith("scim") else {}
    if operation == "sso.update":
        ids = {"sso": second_sso(ona)}
    crashed = request(abot, operation, ids)
    if applied_by_ona:
        applied_by_ona(ona, ids)
    settled = restart(abot, crashed)
    assert (settled.state, settled.note) == (state, note), settled.result
    final = message_text(channel_message(abot))
    assert WORDS[note or state] in final and not buttons(channel_message(abot))
    if note == "outcome unknown":
        assert "cannot show whether it was applied" in final and "`/ona sso`" in final
    if state == "succeeded" and operation_of(abot.services, operation).secret_result:
        assert "ask for a new one" in settled.result  # the new secret was lost with the process
    # The requester is told how it ended, in a direct message.
    told = abot.slack.wait_for("chat.postMessage", lambda a: a.get("channel") == f"D{crashed.requester_id[1:]}"
                               and crashed.id in message_text(a))[-1]
    assert WORDS[note or state].split(",")[0] in message_text(told)
    audit = [r["outcome"] for r in store(abot).audit_rows() if r["request_id"] == crashed.id]
    assert audit[-1].startswith("succeeded" if state == "succeeded" else "failed")
    # Nothing was run by the restart: Ona saw only what the test applied as the dead process's call.
    assert settled.sealed is None


def test_an_invite_fingerprint_not_the_link_is_kept(abot: BotHarness, emulator) -> None:
    """The invite ID is the secret part of the link: the request keeps only a digest of it."""
    crashed = request(abot, "invite.create")
    invite_id = abot.services.ona.get_organization_invite().invite.invite_id
    with store(abot).connect() as conn:
        row = dict(conn.execute("SELECT * FROM requests WHERE id = ?", (crashed.id,)).fetchone())
    assert crashed.before["witness"]["invite"] and invite_id and invite_id not in str(row)


# --- 8. one clock for reconciliation ------------------------------------------------------------------


def test_a_process_whose_clock_runs_ahead_does_not_settle_a_live_execution(
        emulator, slack: FakeSlack, tmp_path: Path) -> None:
    db = str(tmp_path / "shared.db")
    live = build_harness(emulator, slack, policy=APPROVAL_POLICY, db_path=db)
    skewed = build_harness(emulator, slack, policy=APPROVAL_POLICY, db_path=db)
    try:
        set_clock(skewed.services, lambda: time.time() + 900)  # 15 min ahead
        emulator.state.banner.enabled = True
        live.command("banner off reason: release").reply()
        posted = slack.wait_for("chat.postMessage", lambda a: a.get("channel") == APPROVALS_CHANNEL)[-1]
        wait_until(lambda: all(r.ts for r in store(live).in_states("pending")), what="the message's place")
        emulator.inject_fault("UpdateAnnouncementBanner", code=None, delay=1.0)  # Ona is slow, not failing
        click = live.click("approval:approve", buttons(posted)["approval:approve"]["value"], user="U0BOB",
                           channel_id=APPROVALS_CHANNEL)
        wait_until(lambda: [r.state for r in store(live).in_states(EXECUTING)], what="executing")
        skewed.services.approvals.sweep()  # its clock says the execution is 15 minutes old: it is not
        skewed.services.approvals.reconcile()
        assert "Done:" in click.reply_text(timeout=20)
        (request,) = store(live).in_states("succeeded")
        assert emulator.state.banner.enabled is False and len(emulator.calls("UpdateAnnouncementBanner")) == 1
        actions = [r["action"] for r in store(live).audit_rows() if r["request_id"] == request.id]
        assert "reconcile" not in actions and actions.count("execute") == 1
        assert "Approved and done" in message_text(channel_message(live))
    finally:
        close_harness(live)
        close_harness(skewed)
