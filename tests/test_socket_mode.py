"""`ona-bot run` end to end over Socket Mode: the real command in a subprocess, connected to a local
Socket Mode server through the fake Slack's apps.connections.open, with the emulator as Ona."""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.localslack import FakeSlack, SlackPayloads, checkboxes, text_input
from tests.harness import message_text, wait_until
from tests.socketmode import SECRET, SocketModeServer, launch_run


@dataclass
class RunningBot:
    sockets: SocketModeServer
    slack: FakeSlack
    payloads: SlackPayloads
    proc: subprocess.Popen[str]

    def stderr(self) -> str:
        self.proc.terminate()
        return self.proc.communicate(timeout=30)[1]


@contextlib.contextmanager
def running(emulator, slack: FakeSlack, tmp_path: Path, *args: str, **env_extra: str) -> Iterator[RunningBot]:
    """`ona-bot run *args` in a subprocess, connected to a local Socket Mode server."""
    sockets = SocketModeServer().start()
    slack.socket_mode_url = sockets.url
    proc = launch_run(emulator, slack, tmp_path, *args, db=str(tmp_path / "run.db"), **env_extra)
    running = RunningBot(sockets, slack, SlackPayloads(SECRET), proc)
    try:
        try:
            sockets.wait_connected()
        except AssertionError:
            raise AssertionError(f"ona-bot run never connected:\n{running.stderr()}") from None
        yield running
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)
        sockets.stop()


@pytest.fixture
def run_bot(emulator, slack: FakeSlack, tmp_path: Path) -> Iterator[RunningBot]:
    with running(emulator, slack, tmp_path) as bot:
        yield bot


def home_views(slack: FakeSlack, user: str) -> list[dict]:
    return [a["view"] for a in slack.calls_to("views.publish") if a.get("user_id") == user]


def test_run_connects_with_the_app_token_through_apps_connections_open(run_bot: RunningBot) -> None:
    assert run_bot.slack.calls_to("apps.connections.open")


def test_a_slash_command_is_acked_by_envelope_and_answered(run_bot: RunningBot, emulator) -> None:
    emulator.state.banner.enabled = True
    emulator.state.banner.message = "Maintenance tonight"
    body, _ = run_bot.payloads.slash_command("banner", user_id="U0ALICE",
                                             response_url=run_bot.slack.response_url("sm1"))
    envelope = run_bot.sockets.slash_command(body)
    assert run_bot.sockets.wait_ack(envelope)["envelope_id"] == envelope
    reply = run_bot.slack.wait_for("response_url", lambda a: a["_url"] == "/response/sm1")[-1]
    assert "Maintenance tonight" in message_text(reply)


def test_a_button_click_changes_ona(run_bot: RunningBot, emulator) -> None:
    emulator.state.banner.enabled = True
    body, _ = run_bot.payloads.block_action(user_id="U0ALICE", action_id="banner:off",
                                            response_url=run_bot.slack.response_url("sm2"))
    run_bot.sockets.wait_ack(run_bot.sockets.interactive(body))
    wait_until(lambda: emulator.calls("UpdateAnnouncementBanner"), what="the banner change")
    assert emulator.calls("UpdateAnnouncementBanner") == [
        {"organizationId": emulator.organization_id, "enabled": False}
    ]
    assert "now *off*" in message_text(
        run_bot.slack.wait_for("response_url", lambda a: a["_url"] == "/response/sm2")[-1])


def test_a_modal_submission_is_answered_in_the_ack(run_bot: RunningBot, emulator) -> None:
    body, _ = run_bot.payloads.slash_command("banner set", user_id="U0ALICE",
                                             response_url=run_bot.slack.response_url("sm3"))
    run_bot.sockets.slash_command(body)
    found = run_bot.slack.wait_for("views.update", lambda a: a["view"].get("callback_id") == "banner_edit")[-1]
    form = {**found["view"], "id": found["view_id"]}

    def submit(view: dict, values: dict) -> dict:
        body, _ = run_bot.payloads.view_submission(view, values, user_id="U0ALICE")
        return run_bot.sockets.wait_ack(run_bot.sockets.interactive(body)).get("payload") or {}

    invalid = submit(form, {"message": text_input(""), "enabled": checkboxes(["on"])})
    assert invalid["response_action"] == "errors" and "message" in invalid["errors"]
    preview = submit(form, {"message": text_input("Release at 5pm"), "enabled": checkboxes(["on"])})
    assert preview["response_action"] == "update" and preview["view"]["callback_id"] == "banner_publish"
    assert emulator.calls("UpdateAnnouncementBanner") == []
    submit({**preview["view"], "id": form["id"]}, {})
    wait_until(lambda: emulator.calls("UpdateAnnouncementBanner"), what="the banner change")
    assert emulator.state.banner.enabled is True and emulator.state.banner.message == "Release at 5pm"


def test_the_app_home_is_published_when_opened(run_bot: RunningBot) -> None:
    body, _ = run_bot.payloads.event({"type": "app_home_opened", "user": "U0ALICE", "channel": "D0ALICE",
                                      "tab": "home"})
    run_bot.sockets.wait_ack(run_bot.sockets.event(body))  # retry_attempt 0, as Slack sends it
    home = wait_until(lambda: home_views(run_bot.slack, "U0ALICE"), what="the App Home")[-1]
    assert home["type"] == "home"


def test_a_retried_event_is_acted_on_once(run_bot: RunningBot) -> None:
    opened = {"type": "app_home_opened", "user": "U0ALICE", "channel": "D0ALICE", "tab": "home"}
    body, _ = run_bot.payloads.event(opened)
    run_bot.sockets.wait_ack(run_bot.sockets.event(body))
    run_bot.sockets.wait_ack(run_bot.sockets.event(body, retry_attempt=1, retry_reason="timeout"))
    # A retry whose first delivery never arrived is acted on, once.
    lost, _ = run_bot.payloads.event({**opened, "user": "U0BOB", "channel": "D0BOB"})
    run_bot.sockets.wait_ack(run_bot.sockets.event(lost, retry_attempt=1, retry_reason="timeout"))
    run_bot.sockets.wait_ack(run_bot.sockets.event(lost, retry_attempt=2, retry_reason="timeout"))
    wait_until(lambda: home_views(run_bot.slack, "U0BOB"), what="the retried App Home")
    # A last, distinct event: once it is published, the duplicates before it would have been too.
    marker, _ = run_bot.payloads.event({**opened, "user": "U0CAROL", "channel": "D0CAROL"})
    run_bot.sockets.wait_ack(run_bot.sockets.event(marker))
    wait_until(lambda: home_views(run_bot.slack, "U0CAROL"), what="the marker's App Home")
    assert (len(home_views(run_bot.slack, "U0ALICE")), len(home_views(run_bot.slack, "U0BOB"))) == (1, 1)


def test_slacks_disconnect_leads_to_a_new_connection_that_keeps_answering(run_bot: RunningBot, emulator) -> None:
    run_bot.sockets.disconnect("refresh_requested")
    run_bot.sockets.wait_opened(2)
    wait_until(lambda: len(run_bot.slack.calls_to("apps.connections.open")) >= 2, what="a new connection URL")
    body, _ = run_bot.payloads.slash_command("banner", user_id="U0ALICE",
                                             response_url=run_bot.slack.response_url("sm4"))
    run_bot.sockets.wait_ack(run_bot.sockets.slash_command(body))
    reply = run_bot.slack.wait_for("response_url", lambda a: a["_url"] == "/response/sm4")[-1]
    assert "banner" in json.dumps(reply).lower()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_metrics_port_serves_metrics_and_readiness_and_logs_are_json(emulator, slack: FakeSlack,
                                                                      tmp_path: Path) -> None:
    port = _free_port()
    with running(emulator, slack, tmp_path, "--metrics-port", str(port), "--metrics-host", "127.0.0.1",
                 ONA_BOT_LOG_FORMAT="json") as bot:
        ops = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{ops}/healthz").text == "ok"
        assert (httpx.get(f"{ops}/readyz").status_code, httpx.get(f"{ops}/readyz").text) == (200, "ready")
        body, _ = bot.payloads.slash_command("banner", user_id="U0ALICE", response_url=slack.response_url("sm9"))
        bot.sockets.wait_ack(bot.sockets.slash_command(body))
        slack.wait_for("response_url", lambda a: a["_url"] == "/response/sm9")

        def counted() -> dict[tuple[str, tuple], float]:
            text = httpx.get(f"{ops}/metrics").text
            return {(s.name, tuple(sorted(s.labels.items()))): s.value
                    for f in text_string_to_metric_families(text) for s in f.samples}

        command = ("ona_bot_requests_total", (("group", "banner"), ("kind", "command"), ("result", "ok")))
        samples = wait_until(lambda: (found := counted()).get(command) and found, what="the command counted")
        assert samples[("ona_bot_ack_seconds_count", (("kind", "command"),))] == 1
        assert samples[("ona_bot_ona_calls_total", (("code", "ok"), ("method", "GetAnnouncementBanner")))] >= 1
        stderr = bot.stderr()
    lines = [json.loads(line) for line in stderr.splitlines() if line.strip()]  # every line is one JSON object
    done = next(line for line in lines if line["message"] == "command for banner: ok")
    assert (done["user"], done["team"], done["operation"], done["level"]) == ("U0ALICE", "T0ACME", "banner", "INFO")
    for secret in ("xoxb-run", "xapp-1-run", SECRET, emulator.admin_key):
        assert secret not in stderr
