"""Bots built like tests/harness.make_harness, with the two knobs the fault and hostile-input tests need:

- ``timeout``: the Ona client's timeout (a short read timeout, so a hanging Ona times out quickly);
- ``process_before_response``: Bolt answers the HTTP request only once the listener is done, so a test
  can tell that *nothing* happened (no second action) without waiting for something that never comes.

Everything else is the real thing: the Bolt app behind a loopback HTTP server, the emulator, FakeSlack.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import httpx

from bot.app import build_app
from bot.approvals.policy import parse_policy
from bot.bootstrap import build_services, slack_client
from bot.localslack import FakeSlack
from bot.ona.client import OnaClient
from bot.server import wsgi_app
from tests.harness import BOT_TOKEN, DIRECT_POLICY, SIGNING_SECRET, BotHarness, make_settings
from tests.secretscan import ARCHIVE

SHORT_TIMEOUT = httpx.Timeout(connect=2.0, read=0.5, write=2.0, pool=2.0)


def build_harness(emulator: Any, slack: FakeSlack, *, policy: str | None = DIRECT_POLICY,
                  timeout: httpx.Timeout | None = None, process_before_response: bool = False,
                  db_path: str | None = None) -> BotHarness:
    db = db_path or str(Path(tempfile.mkdtemp(prefix="ona-bot-test-")) / "bot.db")
    ARCHIVE.db_paths.add(db)  # searched for secrets at the end of the session
    settings = make_settings(emulator, slack, ONA_BOT_DB=db)
    ona = OnaClient(emulator.admin_key, base_url=emulator.base_url, organization_id=emulator.organization_id,
                    backoff_base=0.01, backoff_max=0.05, timeout=timeout)
    parsed = parse_policy(policy, "test policy", None) if policy is not None else None
    services = build_services(settings, ona=ona, slack=slack_client(BOT_TOKEN, slack.api_url), policy=parsed)
    harness = BotHarness(settings, services, slack)
    if process_before_response:
        harness.app = build_app(services, signing_secret=SIGNING_SECRET, process_before_response=True)
        harness._server.set_app(wsgi_app(harness.app))  # wsgiref asks the server for its app per request
    return harness


def close_harness(harness: BotHarness) -> None:
    harness.close()
    harness.services.ona.close()
