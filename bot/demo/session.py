"""The demo's world: the Ona emulator, a fake Slack, a temporary SQLite file, the demo approval policy
and the real Bolt app, wired exactly as `ona-bot run` wires them (bootstrap.build_services).

Requests reach the app as Slack sends them: signed bodies (SlackPayloads) in a ``BoltRequest``
through ``App.dispatch``. The app runs with ``process_before_response=True``, so when ``dispatch``
returns, every Slack call the request caused has been made: the shell needs no waiting.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import re
import secrets
import shutil
import socket
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slack_bolt import App
from slack_bolt.request import BoltRequest

from bot.app import build_app
from bot.approvals.policy import DEFAULT_POLICY, Policy, load_policy, parse_policy
from bot.bootstrap import build_services, policy_names, slack_client
from bot.localslack import DEFAULT_USERS, FakeSlack, SlackPayloads
from bot.mutations import operations_of
from bot.ona.client import OnaClient
from bot.ona.emulator import Emulator
from bot.ona.models import DomainVerificationState
from bot.services import Services
from bot.settings import Settings
from commands import GROUPS

BOT_TOKEN = "xoxb-demo-token"
APPROVALS_CHANNEL = "C0APPROVALS"
REPO_ROOT = Path(__file__).resolve().parents[2]
DEMO_POLICY = REPO_ROOT / "demo" / "policy.toml"

# The seeded people: two Ona admins and one member, matched to the emulator's members by email.
USERS: dict[str, str] = {info["name"]: user_id for user_id, info in DEFAULT_USERS.items()}
ROLES = {"alice": "Ona admin", "bob": "Ona admin", "carol": "Ona member"}


def channel_id(name: str) -> str | None:
    """#ops → C0OPS, #approvals → C0APPROVALS (the approvals channel); None for a bad name."""
    name = name.strip().lstrip("#").lower()
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,79}", name):
        return None
    return "C0" + re.sub(r"[^A-Z0-9]", "", name.upper())


@dataclass
class Exchange:
    """One call the bot made to the Slack Web API (or a response_url), with Slack's answer."""

    method: str
    args: dict[str, Any]
    answer: dict[str, Any]


@dataclass
class Result:
    """What one request did: Slack's HTTP answer to the bot's ack, and the Slack calls it caused."""

    status: int
    ack: dict[str, Any]
    calls: list[Exchange] = field(default_factory=list)
    response_url: str | None = None


class RecordingSlack(FakeSlack):
    """FakeSlack that also keeps its answers (views.open's view id is only in the answer)."""

    def __init__(self) -> None:
        super().__init__()
        self.exchanges: list[Exchange] = []
        self._record_lock = threading.Lock()

    def _answer(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        answer = super()._answer(method, args)
        with self._record_lock:
            self.exchanges.append(Exchange(method, args, answer))
        return answer

    def stop(self) -> None:
        """Stop at once: FakeSlack's server polls every 0.5 s, so wake it with connections."""
        server = self._server
        if server is None:
            return
        stopping = threading.Thread(target=server.shutdown, daemon=True)
        stopping.start()
        while stopping.is_alive():
            with contextlib.suppress(OSError):
                socket.create_connection(server.server_address[:2], timeout=1).close()
            stopping.join(0.02)
        server.server_close()
        self._server = None


def demo_policy(path: Path | None = None) -> tuple[Policy, str]:
    """The demo's approval policy (demo/policy.toml), validated like the bot's own; the built-in
    policy when the file is not there (an installed, non-editable copy)."""
    path = path or DEMO_POLICY
    if path.exists():
        with contextlib.suppress(ValueError):  # "demo/policy.toml line 6" reads better in /ona explain
            path = path.resolve().relative_to(Path.cwd())
        return load_policy(path, policy_names(operations_of(GROUPS))), str(path)
    return parse_policy(DEFAULT_POLICY, "built-in policy", None), "the built-in policy"


class Session:
    """Everything the demo runs on. ``start()`` it, send requests as a user, ``close()`` it."""

    def __init__(self, policy_path: Path | None = None) -> None:
        self.policy, self.policy_origin = demo_policy(policy_path)
        self.signing_secret = secrets.token_hex(16)
        self.payloads = SlackPayloads(self.signing_secret)
        self.emulator = Emulator()
        self.slack = RecordingSlack()
        self._dir: Path | None = None
        self.ona: OnaClient | None = None
        self.services: Services | None = None
        self.app: App | None = None
        self._urls = itertools.count(1)
        self.url_owner: dict[str, str] = {}  # response_url path -> the user it answers

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> Session:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def _start(self) -> None:
        self.emulator.start()  # a free loopback port
        self.slack.start()
        self._dir = Path(tempfile.mkdtemp(prefix="ona-bot-demo-"))
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_SIGNING_SECRET=self.signing_secret,
            SLACK_API_URL=self.slack.url + "/api",
            ONA_API_KEY=self.emulator.admin_key,
            ONA_BASE_URL=self.emulator.base_url,
            ONA_ORGANIZATION_ID=self.emulator.organization_id,
            ONA_BOT_DB=str(self._dir / "ona-bot.db"),
            ONA_BOT_APPROVALS_CHANNEL=APPROVALS_CHANNEL,
        )
        self.ona = OnaClient(self.emulator.admin_key, base_url=self.emulator.base_url,
                             organization_id=self.emulator.organization_id)
        self.services = build_services(settings, ona=self.ona, slack=slack_client(BOT_TOKEN, self.slack.api_url),
                                       policy=self.policy)
        self.app = build_app(self.services, signing_secret=self.signing_secret, process_before_response=True)

    def close(self) -> None:
        if self.ona is not None:
            self.ona.close()
        self.slack.stop()  # RecordingSlack.stop: a no-op when it never started
        self.emulator.stop()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> Session:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- requests, as Slack sends them ------------------------------------------------------------

    def new_response_url(self, user_id: str) -> str:
        url = self.slack.response_url(f"demo{next(self._urls)}")
        self.url_owner[url.split(self.slack.url, 1)[1]] = user_id
        return url

    def command(self, user_id: str, channel: str, text: str) -> Result:
        response_url = self.new_response_url(user_id)
        body, headers = self.payloads.slash_command(text, user_id=user_id, channel_id=channel,
                                                    response_url=response_url)
        return self._dispatch(body, headers, response_url)

    def click(self, user_id: str, action_id: str, value: str, *, channel: str | None = None,
              message: dict[str, Any] | None = None, view: dict[str, Any] | None = None) -> Result:
        """A button press. Messages carry a response_url; views (modals, App Home) do not."""
        response_url = None if view is not None else self.new_response_url(user_id)
        body, headers = self.payloads.block_action(
            user_id=user_id, action_id=action_id, value=value, channel_id=None if view is not None else channel,
            response_url=response_url, message=message, view=view)
        return self._dispatch(body, headers, response_url)

    def submit(self, user_id: str, view: dict[str, Any], values: dict[str, dict[str, Any]]) -> Result:
        body, headers = self.payloads.view_submission(view, values, user_id=user_id)
        return self._dispatch(body, headers, None)

    def open_home(self, user_id: str) -> Result:
        channel = "D" + user_id.removeprefix("U")
        body, headers = self.payloads.event({"type": "app_home_opened", "user": user_id, "channel": channel,
                                             "tab": "home", "event_ts": "1700000000.000001"})
        return self._dispatch(body, headers, None)

    def _dispatch(self, body: str, headers: dict[str, str], response_url: str | None) -> Result:
        assert self.app is not None, "start() the session first"
        start = len(self.slack.exchanges)
        response = self.app.dispatch(BoltRequest(body=body, headers=headers))
        ack: dict[str, Any] = {}
        if response.body:
            try:
                parsed = json.loads(response.body)
                ack = parsed if isinstance(parsed, dict) else {}
            except ValueError:
                ack = {"text": response.body}
        return Result(response.status, ack, list(self.slack.exchanges[start:]), response_url)

    # --- the stand-in for DNS ---------------------------------------------------------------------

    def publish_dns(self, domain: str) -> tuple[str, str] | None:
        """Publish the TXT record of a pending verification of `domain`: (domain, token), or None."""
        wanted = domain.strip().lower().rstrip(".")
        for verification in list(self.emulator.state.domain_verifications.values()):
            if verification.domain.lower() == wanted and verification.state != DomainVerificationState.VERIFIED:
                self.emulator.publish_dns(verification.domain, verification.verification_token)
                return verification.domain, verification.verification_token
        return None

    def pending_domains(self) -> list[str]:
        return sorted(v.domain for v in self.emulator.state.domain_verifications.values()
                      if v.state != DomainVerificationState.VERIFIED)


class _OneLineToStderr(logging.Handler):
    """Errors only, one line each, on whatever sys.stderr is when they happen."""

    def emit(self, record: logging.LogRecord) -> None:
        sys.stderr.write(f"(bot log) {record.levelname.lower()}: {record.getMessage()}\n")


@contextlib.contextmanager
def quiet_logs() -> Iterator[None]:
    """The bot's log lines would interleave with the transcript: keep errors only, without tracebacks
    (the person sees the bot's own answer, with its reference)."""
    root = logging.getLogger()
    handler = _OneLineToStderr(logging.ERROR)
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
