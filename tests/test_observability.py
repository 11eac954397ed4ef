"""What an operator watches: /metrics (Prometheus text), /readyz and /healthz, and JSON log lines, read
over real HTTP from the bot behind its loopback server, driven by signed Slack requests."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.app import BUSY, build_app
from bot.localslack import TEAM_ID, FakeSlack
from bot.logs import JsonFormatter, Redactor
from bot.ona.emulator import Emulator
from bot.server import services_wsgi_app
from bot.work import WorkPool
from tests.harness import (
    APPROVAL_POLICY,
    APPROVALS_CHANNEL,
    BOT_TOKEN,
    SIGNING_SECRET,
    BotHarness,
    buttons,
    make_harness,
    wait_until,
)


def scrape(bot: BotHarness) -> str:
    response = bot.http.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return response.text


def value(text: str, name: str, **labels: str) -> float:
    """The sum of the samples called `name` whose labels include `labels` (0 when there is none)."""
    return sum(sample.value for family in text_string_to_metric_families(text) for sample in family.samples
               if sample.name == name and labels.items() <= sample.labels.items())


def wait_metric(bot: BotHarness, name: str, at_least: float = 1, **labels: str) -> str:
    """The metrics text once `name{labels}` has reached `at_least` (the count follows the reply)."""
    def reached() -> str | None:
        text = scrape(bot)
        return text if value(text, name, **labels) >= at_least else None

    return wait_until(reached, what=f"{name}{labels} to reach {at_least}")


# --- /metrics ----------------------------------------------------------------------------------------


def test_a_signed_command_and_a_click_move_the_counters(bot: BotHarness, emulator) -> None:
    before = scrape(bot)
    assert value(before, "ona_bot_requests_total") == 0
    emulator.state.banner.enabled = True
    bot.command("banner").reply()
    text = wait_metric(bot, "ona_bot_requests_total", kind="command", group="banner", result="ok")
    assert value(text, "ona_bot_ack_seconds_count", kind="command") == 1
    assert value(text, "ona_bot_ona_calls_total", method="GetAnnouncementBanner", code="ok") >= 1
    assert value(text, "ona_bot_ona_call_seconds_count", method="GetAnnouncementBanner") >= 1

    bot.click("banner:off").reply()
    text = wait_metric(bot, "ona_bot_requests_total", kind="click", group="banner", result="ok")
    assert value(text, "ona_bot_ack_seconds_count", kind="click") == 1
    assert value(text, "ona_bot_ona_calls_total", method="UpdateAnnouncementBanner", code="ok") == 1


def test_results_are_told_apart_and_what_people_typed_never_becomes_a_label(bot: BotHarness, emulator) -> None:
    bot.command("frobnicate alice@example.com").reply()
    wait_metric(bot, "ona_bot_requests_total", kind="command", group="unknown", result="usage")
    bot.command("banner", user="U0CAROL").reply()  # a member, not an admin
    wait_metric(bot, "ona_bot_requests_total", kind="command", group="banner", result="refused")
    emulator.inject_fault("GetAnnouncementBanner", code="permission_denied")
    bot.command("banner").reply()
    text = wait_metric(bot, "ona_bot_requests_total", kind="command", group="banner", result="error")
    assert value(text, "ona_bot_ona_calls_total", method="GetAnnouncementBanner", code="permission_denied") == 1
    for private in ("U0ALICE", "U0CAROL", "alice@example.com", "carol@example.com", "frobnicate", TEAM_ID,
                    BOT_TOKEN, SIGNING_SECRET, emulator.admin_key, emulator.organization_id):
        assert private not in text


def test_busy_answers_are_counted(bot: BotHarness, emulator) -> None:
    bot.work.close()
    bot.work = WorkPool(rate=1e-6, burst=1)  # one request's work, then nothing for a long while
    bot._server.set_app(services_wsgi_app(bot.services, build_app(bot.services, signing_secret=SIGNING_SECRET,
                                                                  work=bot.work)))
    bot.command("banner").reply()
    assert BUSY in bot.command("banner").response.text
    text = wait_metric(bot, "ona_bot_busy_answers_total", kind="command")
    assert value(text, "ona_bot_requests_total", kind="command", group="banner", result="busy") == 1


@pytest.fixture
def abot(emulator, slack: FakeSlack) -> Iterator[BotHarness]:
    emulator.state.banner.enabled = True
    harness = make_harness(emulator, slack, policy=APPROVAL_POLICY)
    yield harness
    harness.close()


def test_approvals_by_state_pending_count_and_the_oldest_ones_age(abot: BotHarness, emulator) -> None:
    text = scrape(abot)
    assert value(text, "ona_bot_pending_requests") == 0
    assert value(text, "ona_bot_oldest_pending_request_age_seconds") == 0
    abot.command("banner off reason: maintenance window").reply()
    posted = abot.slack.wait_for("chat.postMessage", lambda a: a.get("channel") == APPROVALS_CHANNEL)[-1]
    text = scrape(abot)
    assert value(text, "ona_bot_pending_requests") == 1
    assert value(text, "ona_bot_approval_requests", state="pending") == 1
    assert value(text, "ona_bot_oldest_pending_request_age_seconds") > 0
    assert value(text, "ona_bot_approval_transitions_total", state="pending") == 1

    abot.click("approval:approve", buttons(posted)["approval:approve"]["value"], user="U0BOB",
               channel_id=APPROVALS_CHANNEL).reply()
    text = wait_metric(abot, "ona_bot_requests_total", kind="click", group="approval-buttons", result="ok")
    for state in ("approved", "executing", "succeeded"):
        assert value(text, "ona_bot_approval_transitions_total", state=state) == 1
    assert value(text, "ona_bot_pending_requests") == 0


def test_a_background_sweep_is_reported(bot: BotHarness) -> None:
    from bot.approvals.sweeper import Sweeper

    assert value(scrape(bot), "ona_bot_background_last_run_timestamp_seconds") == 0
    sweeper = Sweeper(bot.services.approvals, interval=0.01, on_run=bot.services.metrics.background_ran).start()
    try:
        text = wait_metric(bot, "ona_bot_background_runs_total", result="ok")
    finally:
        sweeper.stop()
    assert value(text, "ona_bot_background_last_run_timestamp_seconds") > 1.7e9


# --- /readyz and /healthz ----------------------------------------------------------------------------


def test_ready_when_database_and_ona_answer_and_a_storm_of_checks_asks_ona_once(bot: BotHarness, emulator) -> None:
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: bot.http.get("/readyz"), range(40)))
    assert {(a.status_code, a.text) for a in answers} == {(200, "ready")}
    assert len(emulator.calls("GetOrganization")) == 1


def test_not_ready_when_ona_is_out_of_reach_but_still_alive(slack: FakeSlack) -> None:
    ona = Emulator()
    ona.start()
    bot = make_harness(ona, slack)
    try:
        ona.stop()
        answer = bot.http.get("/readyz")
        assert (answer.status_code, answer.text) == (503, "Ona unreachable")
        assert bot.http.get("/healthz").status_code == 200
        wait_metric(bot, "ona_bot_ona_calls_total", method="GetOrganization", code="unavailable")
    finally:
        bot.close()


def test_not_ready_while_the_database_is_unusable(bot: BotHarness) -> None:
    assert bot.http.get("/readyz").status_code == 200
    with sqlite3.connect(bot.settings.db_path) as db:
        db.execute("ALTER TABLE requests RENAME TO requests_away")
    answer = bot.http.get("/readyz")
    assert (answer.status_code, answer.text) == (503, "database unavailable")
    assert bot.http.get("/metrics").status_code == 200  # the scrape still answers, without the database's gauges
    with sqlite3.connect(bot.settings.db_path) as db:
        db.execute("ALTER TABLE requests_away RENAME TO requests")
    assert bot.http.get("/readyz").status_code == 200


def test_other_paths_and_methods_are_not_the_operators_endpoints(bot: BotHarness) -> None:
    assert httpx.post(f"{bot.url}/metrics").status_code != 200
    assert bot.http.get("/metricsz").status_code == 404


# --- JSON log lines ------------------------------------------------------------------------------------


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def json_lines(emulator) -> Iterator[Lines]:
    """Every log line of the test in the JSON format, redacting what `ona-bot` would (its settings' secrets)."""
    handler = Lines()
    handler.setFormatter(JsonFormatter(Redactor([BOT_TOKEN, SIGNING_SECRET, emulator.admin_key])))
    logging.getLogger().addHandler(handler)
    yield handler
    logging.getLogger().removeHandler(handler)


def test_json_log_lines_name_user_team_operation_and_request(abot: BotHarness, json_lines: Lines) -> None:
    abot.command("banner off reason: maintenance window").reply()
    posted = abot.slack.wait_for("chat.postMessage", lambda a: a.get("channel") == APPROVALS_CHANNEL)[-1]
    abot.click("approval:approve", buttons(posted)["approval:approve"]["value"], user="U0BOB",
               channel_id=APPROVALS_CHANNEL).reply()
    request_id = wait_until(lambda: abot.services.approvals.store.in_states("succeeded"))[0].id
    wait_until(lambda: any('"click for approval-buttons' in line for line in json_lines.lines), what="the click's line")
    parsed = [json.loads(line) for line in json_lines.lines]
    assert all({"time", "level", "logger", "message"} <= set(p) for p in parsed)
    command = next(p for p in parsed if p["message"] == "command for banner: ok")
    assert (command["user"], command["team"], command["operation"]) == ("U0ALICE", TEAM_ID, "banner.update")
    click = next(p for p in parsed if p["message"] == "click for approval-buttons: ok")
    assert (click["user"], click["team"], click["request_id"]) == ("U0BOB", TEAM_ID, request_id)
    # The Ona call that carried out the change is logged with the request it belongs to.
    call = next(p for p in parsed if p["message"].startswith("ona call UpdateAnnouncementBanner"))
    assert call["request_id"] == request_id and call["user"] == "U0BOB"


def test_json_log_lines_never_hold_a_secret(emulator) -> None:
    # A logger of its own, not propagating: the session's secret scan (test_zz) reads every line that
    # reaches the root logger unformatted, and these lines hold secrets on purpose.
    json_lines = Lines()
    json_lines.setFormatter(JsonFormatter(Redactor([BOT_TOKEN, SIGNING_SECRET, emulator.admin_key])))
    log = logging.getLogger("ona.test.redaction")
    log.propagate = False
    log.addHandler(json_lines)
    try:
        log.warning("Slack said %s for xoxb-1234-abcd and xapp-1-A0-99", BOT_TOKEN)
        log.warning("Ona key %s, header Bearer %s, scim_%s", emulator.admin_key, "tok-123", "A" * 30)
        try:
            raise RuntimeError(f"failed with {SIGNING_SECRET}")
        except RuntimeError:
            log.exception("with a traceback")
    finally:
        log.removeHandler(json_lines)
    text = "\n".join(json_lines.lines)
    for secret in (BOT_TOKEN, "xoxb-1234", "xapp-1-A0", emulator.admin_key, "tok-123", "scim_AAAA", SIGNING_SECRET):
        assert secret not in text
    assert all(json.loads(line) for line in json_lines.lines)
    assert "[redacted]" in json.loads(json_lines.lines[-1])["exception"]
