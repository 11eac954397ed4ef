"""`ona-bot serve`: the production HTTP mode on gunicorn, started as Slack's admins would start it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.localslack import FakeSlack, SlackPayloads
from tests.harness import message_text

SECRET = "serve-signing-secret"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(emulator, slack: FakeSlack, tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "ONA_", "GITPOD_"))}
    env.update({
        "SLACK_BOT_TOKEN": "xoxb-serve", "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": slack.url + "/api",
        "ONA_API_KEY": emulator.admin_key, "ONA_BASE_URL": emulator.base_url,
        "ONA_ORGANIZATION_ID": emulator.organization_id, "ONA_BOT_DB": str(tmp_path / "serve.db"),
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
        yield url
    finally:
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
