"""`ona-bot serve`: the production HTTP mode on gunicorn, started as Slack's admins would start it."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bot.localslack import TEAM_ID, FakeSlack, SlackPayloads
from tests.harness import message_text, wait_until

SECRET = "serve-signing-secret"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Served:
    url: str
    proc: subprocess.Popen[str]

    def stderr(self) -> str:
        self.proc.terminate()
        return self.proc.communicate(timeout=30)[1]


@pytest.fixture
def server(emulator, slack: FakeSlack, tmp_path: Path) -> Iterator[str]:
    with serving(emulator, slack, tmp_path) as served:
        yield served.url


@contextlib.contextmanager
def serving(emulator, slack: FakeSlack, tmp_path: Path, **env_extra: str) -> Iterator[Served]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "ONA_", "GITPOD_"))}
    env.update({
        "SLACK_BOT_TOKEN": "xoxb-serve", "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": slack.url + "/api",
        "ONA_API_KEY": emulator.admin_key, "ONA_BASE_URL": emulator.base_url,
        "ONA_ORGANIZATION_ID": emulator.organization_id, "ONA_BOT_DB": str(tmp_path / "serve.db"), **env_extra,
    })
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
                            env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    try:
        while True:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else "server exited"
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "ona-bot serve never became healthy"
            time.sleep(0.05)
        yield Served(url, proc)
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)


def test_serve_answers_health_checks_and_signed_slash_commands(server: str, slack: FakeSlack, emulator) -> None:
    assert httpx.get(f"{server}/healthz").text == "ok"
    body, headers = SlackPayloads(SECRET).slash_command("banner", user_id="U0ALICE",
                                                        response_url=slack.response_url("serve"))
    response = httpx.post(f"{server}/slack/events", content=body, headers=headers)
    assert response.status_code == 200
    reply = slack.wait_for("response_url", lambda a: a["_url"].endswith("/serve"))[-1]
    assert "Announcement banner" in message_text(reply)
    forged = httpx.post(f"{server}/slack/events", content=body, headers={**headers, "X-Slack-Signature": "v0=0"})
    assert forged.status_code == 401


def test_serve_answers_metrics_and_readiness_and_logs_json(emulator, slack: FakeSlack, tmp_path: Path) -> None:
    with serving(emulator, slack, tmp_path, ONA_BOT_LOG_FORMAT="json") as served:
        ready = httpx.get(f"{served.url}/readyz")
        assert (ready.status_code, ready.text) == (200, "ready")
        body, headers = SlackPayloads(SECRET).slash_command("banner", user_id="U0ALICE",
                                                            response_url=slack.response_url("metrics"))
        assert httpx.post(f"{served.url}/slack/events", content=body, headers=headers).status_code == 200
        slack.wait_for("response_url", lambda a: a["_url"].endswith("/metrics"))

        def metrics() -> str | None:
            text = httpx.get(f"{served.url}/metrics").text
            done = 'ona_bot_requests_total{group="banner",kind="command",result="ok"} 1.0'
            return text if done in text else None

        text = wait_until(metrics, what="the command counted")
        assert 'ona_bot_ack_seconds_count{kind="command"} 1.0' in text
        assert 'ona_bot_ona_calls_total{code="ok",method="GetAnnouncementBanner"}' in text
        assert 'ona_bot_ona_calls_total{code="ok",method="GetOrganization"} 1.0' in text  # the readiness probe
        for private in ("U0ALICE", "alice@example.com", TEAM_ID, emulator.admin_key, "xoxb-serve", SECRET):
            assert private not in text
        stderr = served.stderr()
    lines = [json.loads(line) for line in stderr.splitlines() if line.strip()]  # gunicorn's own lines too
    assert any(line["logger"].startswith("gunicorn") for line in lines)
    done = next(line for line in lines if line["message"] == "command for banner: ok")
    assert (done["user"], done["team"], done["operation"]) == ("U0ALICE", TEAM_ID, "banner")
    for secret in ("xoxb-serve", SECRET, emulator.admin_key):
        assert secret not in stderr
