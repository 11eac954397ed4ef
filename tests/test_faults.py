"""Faults: Ona failing or hanging, Slack rate-limiting, a bot process killed mid-burst, Slack's retries.

Everything goes through the bot the way Slack drives it (signed HTTP into the real Bolt app); the
faults are injected at the network boundary only: the Ona emulator (`inject_fault`) and FakeSlack
(`fail_next`). The emulator's request log is the witness of what reached Ona.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot.approvals import audit_trail
from bot.approvals.model import APPROVED, EXECUTING, FINAL, PENDING
from bot.localslack import FakeSlack, text_input
from tests.harness import APPROVAL_POLICY, SIGNING_SECRET, BotHarness, message_text, wait_until
from tests.workers.bots import SHORT_TIMEOUT, build_harness, close_harness

CHANNEL = "C0APPROVALS"
ALL_STATES = ("draft", "pending", "approved", "executing", "succeeded", "failed", "denied", "expired",
              "cancelled", "conflict")
HANG = 1.5  # seconds Ona takes to answer when it "hangs": three times the client's read timeout (0.5 s)




def logged(emulator, method: str) -> list[dict[str, Any]]:
    """The emulator's log entries for `method` (status None = the connection was dropped)."""
    return [entry for entry in emulator.requests if entry["method"] == method]


def body_of(entry: dict[str, Any]) -> dict[str, Any]:
    """A logged request's JSON body; {} for one that did not decode (cut off when its sender was killed)."""
    return entry["body"] if isinstance(entry["body"], dict) else {}


def buttons(payload: dict) -> dict[str, dict]:
    return {e["action_id"]: e for b in payload.get("blocks", []) if b["type"] == "actions"
            for e in b["elements"]}


def channel_message(bot: BotHarness) -> dict:
    return next(m for (channel, _), m in bot.slack.messages.items() if channel == CHANNEL)


def store(bot: BotHarness):
    return bot.services.approvals.store


def backdate(bot: BotHarness, seconds: float) -> None:
    """Time passes for reconciliation: every request's last change is `seconds` older in the database."""
    with store(bot).connect() as conn:
        conn.execute("UPDATE requests SET updated_at = updated_at - ?", (seconds,))


def channel_posts(bot: BotHarness) -> list[dict]:
    """What the bot posted in the approvals channel (the approvers' direct messages aside)."""
    return [a for a in bot.slack.calls_to("chat.postMessage") if a.get("channel") == CHANNEL]


def requests_in_store(bot: BotHarness):
    return store(bot).in_states(*ALL_STATES)


def request_banner_off(bot: BotHarness, reason: str = "maintenance window") -> dict:
    """Alice asks to turn the banner off; returns the approval message posted to the channel."""
    bot.command(f"banner off reason: {reason}").reply()
    posted = bot.slack.wait_for("chat.postMessage", lambda a: a.get("channel") == CHANNEL)[-1]
    # The bot records where it posted just after Slack answered: wait for that too, not only the post.
    wait_until(lambda: all(r.ts for r in bot.services.approvals.store.in_states("pending")),
               what="the message's place recorded")
    return posted


def approve(bot: BotHarness, posted: dict, user: str = "U0BOB"):
    return bot.click("approval:approve", buttons(posted)["approval:approve"]["value"], user=user,
                     channel_id=CHANNEL)


def dm_to_alice(bot: BotHarness) -> dict:
    return bot.slack.wait_for("chat.postMessage", lambda a: a.get("channel", "").startswith("D0ALICE"))[-1]


@pytest.fixture
def fbot(emulator, slack: FakeSlack) -> Iterator[BotHarness]:
    """Changes run at once; the Ona client gives up reading after 0.5 s."""
    harness = build_harness(emulator, slack, timeout=SHORT_TIMEOUT)
    yield harness
    close_harness(harness)


@pytest.fixture
def abot(emulator, slack: FakeSlack) -> Iterator[BotHarness]:
    """Every change needs one approval; the Ona client gives up reading after 0.5 s."""
    harness = build_harness(emulator, slack, policy=APPROVAL_POLICY, timeout=SHORT_TIMEOUT)
    yield harness
    close_harness(harness)


# --- Ona fails or hangs: reads ------------------------------------------------------------------

READ_FAULTS = {
    "unavailable": {"code": "unavailable", "times": 2},
    "resource_exhausted+Retry-After": {"code": "resource_exhausted", "retry_after": 1},
    "hangs past the timeout": {"code": None, "delay": HANG},
    "connection dropped": {"drop": True},
}
READ_STATUSES = {  # HTTP status of each attempt, in order (None: dropped without an answer)
    "unavailable": [503, 503, 200],
    "resource_exhausted+Retry-After": [429, 200],
    "hangs past the timeout": [200, 200],  # the first answered late, after the client had given up
    "connection dropped": [None, 200],
}


@pytest.mark.parametrize("fault", list(READ_FAULTS))
def test_a_failing_read_is_retried_and_the_user_gets_the_normal_answer(fbot: BotHarness, emulator,
                                                                      fault: str) -> None:
    emulator.state.banner.enabled = True
    emulator.state.banner.message = "Deploy freeze until Friday"
    emulator.inject_fault("GetAnnouncementBanner", **READ_FAULTS[fault])
    text = fbot.command("banner").reply_text(timeout=20)
    assert "Announcement banner" in text and "Deploy freeze until Friday" in text
    # The emulator saw the failed attempt(s), then the retry that succeeded. (The hung call is logged when
    # the emulator finally answers it, after the client gave up on it.)
    expected = READ_STATUSES[fault]
    calls = wait_until(lambda: len(logged(emulator, "GetAnnouncementBanner")) >= len(expected) and
                       logged(emulator, "GetAnnouncementBanner"), what="every attempt in the emulator log")
    calls.sort(key=lambda c: c["time"])
    assert [c["status"] for c in calls] == expected
    if fault == "resource_exhausted+Retry-After":
        assert calls[1]["time"] - calls[0]["time"] >= 0.9, "Retry-After: 1 was not honoured"


# --- Ona fails or hangs: mutations --------------------------------------------------------------

MUTATION_FAULTS = {
    "hangs past the timeout": {"code": None, "delay": HANG},
    "connection dropped": {"drop": True},
}


def test_a_mutation_answered_unavailable_is_sent_once_and_the_user_is_told_the_outcome_is_unknown(
        fbot: BotHarness, emulator) -> None:
    # Connect's `unavailable` does not prove Ona did not act (issue 12): the outcome is unknown.
    emulator.state.banner.enabled = True
    emulator.inject_fault("UpdateAnnouncementBanner", code="unavailable")
    text = fbot.command("banner off").reply_text(timeout=20)
    assert "may or may not have been applied" in text and "nothing was changed" not in text.lower()
    assert len(logged(emulator, "UpdateAnnouncementBanner")) == 1  # not retried: a write


@pytest.mark.parametrize("fault", list(MUTATION_FAULTS))
def test_a_mutation_whose_outcome_is_unknown_is_sent_once_and_the_user_is_told(fbot: BotHarness, emulator,
                                                                                fault: str) -> None:
    emulator.state.banner.enabled = True
    emulator.inject_fault("UpdateAnnouncementBanner", **MUTATION_FAULTS[fault])
    text = fbot.command("banner off").reply_text(timeout=20)
    # Exactly one call reached Ona (the hung one is logged once the emulator answers it, late).
    calls = wait_until(lambda: logged(emulator, "UpdateAnnouncementBanner"), what="the mutation in the log")
    assert len(calls) == 1
    assert "Something went wrong" not in text
    # Told in words, and not told something the bot cannot know: the change may or may not have landed.
    assert "may or may not have been applied" in text, text
    assert "nothing was changed" not in text.lower(), text


def test_a_hung_mutation_is_applied_by_ona_later_which_is_why_the_user_is_not_told_nothing_changed(
        fbot: BotHarness, emulator) -> None:
    emulator.state.banner.enabled = True
    emulator.inject_fault("UpdateAnnouncementBanner", code=None, delay=HANG)
    text = fbot.command("banner off").reply_text(timeout=20)
    assert "Ona did not answer in time" in text and "may or may not have been applied" in text
    wait_until(lambda: emulator.state.banner.enabled is False, what="Ona applying the late change")
    assert len(logged(emulator, "UpdateAnnouncementBanner")) == 1  # and the bot did not send it again


def test_a_rate_limited_mutation_waits_for_retry_after_and_is_applied_once(fbot: BotHarness,
                                                                           emulator) -> None:
    emulator.state.banner.enabled = True
    emulator.inject_fault("UpdateAnnouncementBanner", code="resource_exhausted", retry_after=1)
    text = fbot.command("banner off").reply_text(timeout=20)
    assert "now *off*" in text
    calls = logged(emulator, "UpdateAnnouncementBanner")
    assert [c["code"] for c in calls] == ["resource_exhausted", None]  # refused before acting, then applied
    assert calls[1]["time"] - calls[0]["time"] >= 0.9
    assert emulator.state.banner.enabled is False


# --- Ona fails: approval requests ---------------------------------------------------------------


def test_approved_request_whose_execution_hits_unavailable_ends_failed_and_can_be_asked_again(
        abot: BotHarness, emulator) -> None:
    emulator.state.banner.enabled = True
    posted = request_banner_off(abot)
    emulator.inject_fault("UpdateAnnouncementBanner", code="unavailable")
    answer = approve(abot, posted).reply_text()
    (request,) = requests_in_store(abot)
    assert request.state == "failed" and "unavailable" in request.result.lower()
    assert len(logged(emulator, "UpdateAnnouncementBanner")) == 1  # not retried
    assert emulator.state.banner.enabled is True
    assert "unavailable" in answer.lower()
    # The channel message says so, without buttons; the requester is told.
    final = channel_message(abot)
    assert not buttons(final)
    assert "outcome unknown" in message_text(final) and "unavailable" in message_text(final).lower()
    assert "failed" in message_text(dm_to_alice(abot))
    audit = store(abot).audit_rows()
    assert [(r["action"], r["outcome"]) for r in audit][-1] == ("execute", "failed: unavailable (may have applied)")
    # Ona is back: the requester asks again, and this time it runs.
    abot.slack.reset()
    posted = request_banner_off(abot, reason="second try")
    approve(abot, posted).reply()
    states = sorted(r.state for r in requests_in_store(abot))
    assert states == ["failed", "succeeded"]
    assert emulator.state.banner.enabled is False
    assert [c["code"] for c in logged(emulator, "UpdateAnnouncementBanner")] == ["unavailable", None]
    assert audit_trail.verify(store(abot))[0]


def test_approved_request_whose_execution_hangs_is_failed_as_maybe_applied_and_not_sent_again(
        abot: BotHarness, emulator) -> None:
    emulator.state.banner.enabled = True
    posted = request_banner_off(abot)
    emulator.inject_fault("UpdateAnnouncementBanner", code=None, delay=HANG)
    approve(abot, posted).reply(timeout=20)
    (request,) = requests_in_store(abot)
    assert request.state == "failed"
    assert "may or may not have been applied" in request.result
    wait_until(lambda: logged(emulator, "UpdateAnnouncementBanner"), what="the late mutation")
    assert len(logged(emulator, "UpdateAnnouncementBanner")) == 1
    assert emulator.state.banner.enabled is False  # Ona did apply it, late
    # So the channel must not say Ona refused it (someone would ask again): it says the outcome is unknown.
    final = message_text(channel_message(abot))
    assert "may or may not have been applied" in final
    assert "Ona refused" not in final, final
    # A second click cannot run it again: the request is final.
    assert "already failed" in approve(abot, posted, user="U0BOB").reply_text()
    assert len(logged(emulator, "UpdateAnnouncementBanner")) == 1


@pytest.mark.parametrize("with_reason", [True, False], ids=["reason typed", "reason modal"])
def test_a_request_whose_creation_time_read_fails_is_not_half_created(abot: BotHarness, emulator,
                                                                      with_reason: bool) -> None:
    emulator.state.banner.enabled = True
    attempts = abot.services.ona.max_retries + 1
    emulator.inject_fault("GetAnnouncementBanner", code="unavailable", times=attempts)
    sent = abot.command("banner off reason: release" if with_reason else "banner off")
    text = sent.reply_text()
    assert "Ona did not answer" in text and "Something went wrong" not in text
    assert len(logged(emulator, "GetAnnouncementBanner")) == attempts  # the read was retried, then given up
    assert requests_in_store(abot) == []  # neither a pending request nor a draft
    assert [r for r in store(abot).audit_rows() if r["action"] == "request"] == []
    assert abot.slack.calls_to("chat.postMessage") == [] and abot.slack.calls_to("views.open") == []
    assert logged(emulator, "UpdateAnnouncementBanner") == []
    # Ona is back: asking again works.
    request_banner_off(abot)
    assert [r.state for r in requests_in_store(abot)] == [PENDING]


# --- Slack rate-limits the bot ------------------------------------------------------------------


@pytest.mark.parametrize("method", ["chat.postMessage", "chat.update"])
def test_slack_429_is_retried_by_slack_sdk_and_the_approval_message_still_ends_up_right(
        abot: BotHarness, emulator, method: str) -> None:
    handlers = abot.services.slack.retry_handlers
    assert any(isinstance(h, RateLimitErrorRetryHandler) for h in handlers)
    emulator.state.banner.enabled = True
    if method == "chat.postMessage":
        abot.slack.fail_next("chat.postMessage", status=429, retry_after=1)
        posted = request_banner_off(abot)  # the approval message itself
        attempts = [c for c in abot.slack.calls if c.method == "chat.postMessage" and c.args["channel"] == CHANNEL]
        assert len(attempts) == 2 and attempts[0].args == attempts[1].args
        assert buttons(channel_message(abot))  # posted once, with its buttons
        assert len([k for k in abot.slack.messages if k[0] == CHANNEL]) == 1
        approve(abot, posted).reply()
    else:
        posted = request_banner_off(abot)
        abot.slack.fail_next("chat.update", status=429, retry_after=1)
        approve(abot, posted).reply(timeout=20)
        attempts = [c for c in abot.slack.calls if c.method == "chat.update" and c.args["channel"] == CHANNEL]
        assert len(attempts) == 2 and attempts[0].args == attempts[1].args
    assert attempts[1].time - attempts[0].time >= 0.9  # Retry-After honoured by slack-sdk's handler
    final = channel_message(abot)
    assert not buttons(final) and "Approved and done" in message_text(final)
    assert len(logged(emulator, "UpdateAnnouncementBanner")) == 1


# --- a bot process killed mid-burst, several processes on one database ---------------------------


def test_sigkill_during_a_burst_of_approvals_loses_nothing_and_runs_nothing_twice(
        emulator, slack: FakeSlack, tmp_path: Path) -> None:
    workers, per_worker = 4, 12
    db = tmp_path / "shared.db"
    main = build_harness(emulator, slack, policy=APPROVAL_POLICY, db_path=str(db))  # creates the schema
    try:
        # Every mutation takes Ona 0.25 s, so a process is caught while its change is on the wire.
        emulator.inject_fault("UpdateAnnouncementBanner", code=None, delay=0.25, times=10_000)
        go = tmp_path / "go"
        env = {
            "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "ONA_API_KEY": emulator.admin_key, "ONA_BASE_URL": emulator.base_url,
            "ONA_ORGANIZATION_ID": emulator.organization_id, "ONA_BOT_DB": str(db),
            "ONA_BOT_APPROVALS_CHANNEL": CHANNEL,
        }

        def config(worker: int) -> dict[str, Any]:
            return {"env": env, "slack_api": slack.api_url, "slack_url": slack.url, "policy": APPROVAL_POLICY,
                    "secret": SIGNING_SECRET, "go_file": str(go), "worker": worker, "requests": per_worker,
                    "requester": "U0ALICE", "approver": "U0BOB",
                    "progress_file": str(tmp_path / f"progress-{worker}.txt")}

        procs = [subprocess.Popen([sys.executable, "-m", "tests.workers.approval_burst", "burst",
                                   json.dumps(config(w))],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for w in range(workers)]
        victim, progress = procs[0], tmp_path / "progress-0.txt"

        def lines(worker: int) -> list[str]:
            path = tmp_path / f"progress-{worker}.txt"
            return path.read_text().splitlines() if path.exists() else []

        def victim_mid_mutation() -> str | None:
            """The message of the victim's own change while it is on the wire to Ona (sent, no answer)."""
            done = lines(0)
            assert victim.poll() is None, f"the victim ended before it was caught: {done[-3:]}"
            created = sum(line.startswith("created ") for line in done)
            if created < 3 or not done or not done[-1].startswith("send "):
                return None
            return done[-1].split(" ", 1)[1]

        try:
            go.write_text("go")
            # (generous: four processes share two cores with whatever else the machine runs)
            in_flight = wait_until(victim_mid_mutation, timeout=180, what="the victim to be mid-execution")
            os.kill(victim.pid, signal.SIGKILL)
            victim.wait(timeout=10)
            assert victim.returncode == -signal.SIGKILL
            survivors = [p.communicate(timeout=120) for p in procs[1:]]
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        assert [p.returncode for p in procs[1:]] == [0] * (workers - 1), [err[-3000:] for _, err in survivors]
        assert "done" not in progress.read_text()

        # The crash left the request whose change was on the wire in `executing`.
        stuck = {r.params["message"]: r for r in store(main).in_states(EXECUTING, APPROVED)}
        assert in_flight in stuck and stuck[in_flight].state == EXECUTING
        # Ona still answers the call the dead process made, if its bytes left before the kill: let it land
        # before the restart. (Killed a moment earlier, the call never reaches Ona: both are checked below.)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not any(body_of(c).get("message") == in_flight
                                                      for c in logged(emulator, "UpdateAnnouncementBanner")):
            time.sleep(0.01)

        # Restart: a fresh process reconciles, 15 minutes later. Reconcile rightly leaves alone what was
        # `executing` moments ago (it could belong to a live process: test_a_restarting_process_does_not_settle_…),
        # and judges that by the database's clock, not its own (issue 12): the crash is aged in the database.
        backdate(main, 900)
        restart = subprocess.run([sys.executable, "-m", "tests.workers.approval_burst", "reconcile",
                                  json.dumps({**config(0), "clock_offset": 900})],
                                 capture_output=True, text=True, timeout=60)
        assert restart.returncode == 0, restart.stderr[-3000:]

        rows = store(main).in_states(*ALL_STATES, limit=10_000)
        by_message = {r.params["message"]: r for r in rows}
        # Every request is pending or final: none stuck in approved/executing (nor a draft: reasons were
        # typed).
        assert {r.state for r in rows} <= FINAL | {PENDING}, Counter(r.state for r in rows)
        # None lost: every request a process recorded is there, once; every one was audited as requested.
        created = [line.split() for w in range(workers) for line in lines(w) if line.startswith("created ")]
        assert len(created) >= (workers - 1) * per_worker + 3
        assert {request_id for _, request_id, _ in created} <= {r.id for r in rows}
        assert len(rows) == len(by_message) == len({r.id for r in rows})
        audited = {r["request_id"] for r in store(main).audit_rows() if r["action"] == "request"}
        assert audited == {r.id for r in rows}
        # No change reached Ona twice for a request; a succeeded one exactly once; a conflict never.
        sent = Counter(body_of(c).get("message") for c in logged(emulator, "UpdateAnnouncementBanner"))
        assert sent and max(sent.values()) == 1, sent.most_common(3)
        for message, request in by_message.items():
            expected = {"succeeded": {1}, "failed": {0, 1}}.get(request.state, {0})
            assert sent[message] in expected, (message, request.state, sent[message])
        assert set(sent) <= set(by_message)
        assert by_message[in_flight].state in FINAL
        executions = Counter(r["request_id"] for r in store(main).audit_rows()
                             if r["action"] in ("execute", "reconcile"))
        assert max(executions.values()) == 1
        # The audit trail is intact, as `ona-bot audit verify` sees it.
        verify = subprocess.run([sys.executable, "-m", "bot.cli", "audit", "verify", "--db", str(db)],
                                capture_output=True, text=True, timeout=60)
        assert verify.returncode == 0 and verify.stdout.startswith("OK:"), verify.stdout + verify.stderr
    finally:
        close_harness(main)


def test_a_crash_between_approved_and_executing_is_settled_by_reconcile(abot: BotHarness, emulator) -> None:
    """The process won pending → approved, then died before approved → executing: nothing reached Ona."""
    emulator.state.banner.enabled = True
    request_banner_off(abot)
    (request,) = requests_in_store(abot)
    assert store(abot).transition(request.id, PENDING, APPROVED, decided_by="U0BOB", decided_at=time.time())
    abot.services.approvals.reconcile()  # the restart
    (settled,) = requests_in_store(abot)
    assert settled.state in FINAL | {PENDING}, f"left {settled.state} after a restart"
    calls = logged(emulator, "UpdateAnnouncementBanner")
    assert len(calls) == (1 if settled.state == "succeeded" else 0)


def test_a_restarting_process_does_not_settle_a_request_another_live_process_is_executing(
        emulator, slack: FakeSlack, tmp_path: Path) -> None:
    """Two bot processes share the database (gunicorn workers); one restarts while the other is in the
    middle of running an approved change: reconcile must not declare that change failed."""
    db = str(tmp_path / "shared.db")
    live = build_harness(emulator, slack, policy=APPROVAL_POLICY, db_path=db)
    restarted = build_harness(emulator, slack, policy=APPROVAL_POLICY, db_path=db)
    try:
        emulator.state.banner.enabled = True
        posted = request_banner_off(live)
        emulator.inject_fault("UpdateAnnouncementBanner", code=None, delay=1.0)  # Ona is slow, not failing
        click = approve(live, posted)
        wait_until(lambda: [r.state for r in requests_in_store(live)] == [EXECUTING], what="executing")
        restarted.services.approvals.reconcile()
        click.reply(timeout=20)
        (request,) = requests_in_store(live)
        assert emulator.state.banner.enabled is False
        assert len(logged(emulator, "UpdateAnnouncementBanner")) == 1
        assert request.state == "succeeded", f"{request.state}: {request.result}"
        assert "Approved and done" in message_text(channel_message(live))
        outcomes = [r["outcome"] for r in store(live).audit_rows() if r["request_id"] == request.id]
        assert not any("unknown" in o for o in outcomes), outcomes
    finally:
        close_harness(live)
        close_harness(restarted)


# --- Slack's retries and duplicate deliveries -----------------------------------------------------

RETRY_HEADERS = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}


@pytest.fixture
def sync_direct(emulator, slack: FakeSlack) -> Iterator[BotHarness]:
    """process_before_response: the HTTP answer comes once the listener is done, so "nothing more
    happened" is observable at once."""
    harness = build_harness(emulator, slack, process_before_response=True)
    yield harness
    close_harness(harness)


@pytest.fixture
def sync_approvals(emulator, slack: FakeSlack) -> Iterator[BotHarness]:
    harness = build_harness(emulator, slack, policy=APPROVAL_POLICY, process_before_response=True)
    yield harness
    close_harness(harness)


def deliver_twice(bot: BotHarness, body: str, headers: dict[str, str], how: str) -> None:
    """Slack delivers the same request again: as a retry (new signature, retry headers) or verbatim."""
    assert bot.post(body, headers).status_code == 200
    again = {**headers, **bot.payloads.sign(body), **RETRY_HEADERS} if how == "retry" else headers
    assert bot.post(body, again).status_code == 200


@pytest.mark.parametrize("how", ["retry", "duplicate"])
def test_a_slash_command_delivered_twice_changes_ona_once(sync_direct: BotHarness, emulator,
                                                          how: str) -> None:
    emulator.state.banner.enabled = True
    body, headers = sync_direct.payloads.slash_command("banner off", user_id="U0ALICE",
                                                       response_url=sync_direct.slack.response_url("c1"))
    deliver_twice(sync_direct, body, headers, how)
    assert len(emulator.calls("UpdateAnnouncementBanner")) == 1


@pytest.mark.parametrize("how", ["retry", "duplicate"])
def test_a_button_click_delivered_twice_changes_ona_once(sync_direct: BotHarness, emulator, how: str) -> None:
    emulator.state.banner.enabled = True
    body, headers = sync_direct.payloads.block_action(user_id="U0ALICE", action_id="banner:off",
                                                      response_url=sync_direct.slack.response_url("a1"))
    deliver_twice(sync_direct, body, headers, how)
    assert len(emulator.calls("UpdateAnnouncementBanner")) == 1


@pytest.mark.parametrize("how", ["retry", "duplicate"])
def test_a_modal_submission_delivered_twice_changes_ona_once(sync_direct: BotHarness, emulator,
                                                             how: str) -> None:
    origin = {"channel": "C0OPS", "response_url": sync_direct.slack.response_url("v1")}
    view = {"id": "V0PUBLISH", "type": "modal", "callback_id": "banner_publish", "blocks": [],
            "title": {"type": "plain_text", "text": "Announcement banner"},
            "private_metadata": json.dumps({**origin, "message": "Deploy freeze", "enabled": True})}
    body, headers = sync_direct.payloads.view_submission(view, {}, user_id="U0ALICE")
    deliver_twice(sync_direct, body, headers, how)
    assert len(emulator.calls("UpdateAnnouncementBanner")) == 1


@pytest.mark.parametrize("how", ["retry", "duplicate"])
def test_a_slash_command_delivered_twice_opens_one_approval_request(sync_approvals: BotHarness, emulator,
                                                                    how: str) -> None:
    emulator.state.banner.enabled = True
    body, headers = sync_approvals.payloads.slash_command("banner off reason: release", user_id="U0ALICE",
                                                          response_url=sync_approvals.slack.response_url("c1"))
    deliver_twice(sync_approvals, body, headers, how)
    assert len(requests_in_store(sync_approvals)) == 1
    assert len(channel_posts(sync_approvals)) == 1


@pytest.mark.parametrize("how", ["retry", "duplicate"])
def test_an_approve_click_delivered_twice_runs_the_change_once(sync_approvals: BotHarness, emulator,
                                                               how: str) -> None:
    emulator.state.banner.enabled = True
    posted = request_banner_off(sync_approvals)
    body, headers = sync_approvals.payloads.block_action(
        user_id="U0BOB", action_id="approval:approve", value=buttons(posted)["approval:approve"]["value"],
        channel_id=CHANNEL, response_url=sync_approvals.slack.response_url("a1"))
    deliver_twice(sync_approvals, body, headers, how)
    assert len(emulator.calls("UpdateAnnouncementBanner")) == 1
    assert [r.state for r in requests_in_store(sync_approvals)] == ["succeeded"]
    assert [r["action"] for r in store(sync_approvals).audit_rows()].count("execute") == 1


@pytest.mark.parametrize("how", ["retry", "duplicate"])
def test_a_reason_submission_delivered_twice_posts_one_request(sync_approvals: BotHarness, emulator,
                                                               how: str) -> None:
    emulator.state.banner.enabled = True
    sync_approvals.command("banner off")
    modal = sync_approvals.slack.wait_for("views.open")[-1]["view"]
    body, headers = sync_approvals.payloads.view_submission(
        {**modal, "id": "V1"}, {"reason": text_input("release")}, user_id="U0ALICE")
    deliver_twice(sync_approvals, body, headers, how)
    assert [r.state for r in requests_in_store(sync_approvals)] == [PENDING]
    assert len(channel_posts(sync_approvals)) == 1
    assert [r["action"] for r in store(sync_approvals).audit_rows()] == ["request"]
