"""Drive the bot the way Slack does: signed HTTP requests into the real Bolt app, over loopback.

Slack's Web API is the local FakeSlack (slack-sdk's base_url), Ona is the local emulator.
"""

from __future__ import annotations

import itertools
import json
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import httpx

from bot.app import build_app
from bot.approvals.policy import parse_policy
from bot.bootstrap import build_services, new_metrics, slack_client
from bot.localslack import LISTEN_BACKLOG, FakeSlack, SlackPayloads
from bot.ona.client import OnaClient
from bot.server import EVENTS_PATH, services_wsgi_app
from bot.services import Services
from bot.settings import Settings
from bot.work import WorkPool
from tests.dbutil import keys_for
from tests.secretscan import ARCHIVE

SIGNING_SECRET = "test-signing-secret"
BOT_TOKEN = "xoxb-test-token"


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    # socketserver's default backlog is 5: a burst of 50 clicks overflowed it (ListenOverflows),
    # and a connection the kernel dropped could end in a reset.
    request_queue_size = LISTEN_BACKLOG


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@dataclass
class Sent:
    """One request Slack sent to the bot: the HTTP answer (the ack) and where replies go."""

    response: httpx.Response
    response_url: str
    harness: BotHarness

    def replies(self, count: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:
        path = self.response_url.split(self.harness.slack.url, 1)[1]
        return self.harness.slack.wait_for("response_url", lambda a: a.get("_url") == path, count=count,
                                           timeout=timeout)

    def reply(self, timeout: float = 10.0) -> dict[str, Any]:
        return self.replies(1, timeout)[-1]

    def reply_text(self, timeout: float = 10.0) -> str:
        return message_text(self.reply(timeout))


def message_text(payload: dict[str, Any]) -> str:
    """Everything a person would read in a message or view payload, as one string."""
    parts: list[str] = [payload.get("text") or ""]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") in ("mrkdwn", "plain_text") and isinstance(node.get("text"), str):
                parts.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(payload.get("blocks") or [])
    return "\n".join(p for p in parts if p)


class BotHarness:
    def __init__(self, settings: Settings, services: Services, slack: FakeSlack) -> None:
        self.settings = settings
        self.services = services
        self.slack = slack
        self.work = WorkPool(rate=None)  # tests send bursts (50 clicks at once) on purpose
        self.app = build_app(services, signing_secret=SIGNING_SECRET, work=self.work)
        self.payloads = SlackPayloads(SIGNING_SECRET)
        self._server = make_server("127.0.0.1", 0, services_wsgi_app(services, self.app),
                                   server_class=_ThreadingWSGIServer, handler_class=_QuietHandler)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.http = httpx.Client(base_url=self.url, timeout=10)
        self._n = itertools.count(1)

    def close(self) -> None:
        self._server.shutdown()  # no new requests, then let the work already handed off finish here:
        self._server.server_close()  # a late answer would land on the next test's (reset) fake Slack
        self.work.close(wait=True)
        self.http.close()
        self.services.approvals.store.close()  # a PostgreSQL pool's connections

    def post(self, body: str, headers: dict[str, str]) -> httpx.Response:
        return self.http.post(EVENTS_PATH, content=body, headers=headers)

    def command(self, text: str, *, user: str = "U0ALICE", channel: str = "C0OPS", **kw: Any) -> Sent:
        response_url = self.slack.response_url(f"cmd{next(self._n)}")
        body, headers = self.payloads.slash_command(text, user_id=user, channel_id=channel,
                                                    response_url=response_url, **kw)
        return Sent(self.post(body, headers), response_url, self)

    def click(self, action_id: str, value: str = "", *, user: str = "U0ALICE", **kw: Any) -> Sent:
        response_url = kw.pop("response_url", None) or self.slack.response_url(f"act{next(self._n)}")
        body, headers = self.payloads.block_action(user_id=user, action_id=action_id, value=value,
                                                   response_url=response_url, **kw)
        return Sent(self.post(body, headers), response_url, self)

    def submit(self, view: dict[str, Any], values: dict[str, dict[str, Any]], *, user: str = "U0ALICE",
               **kw: Any) -> httpx.Response:
        body, headers = self.payloads.view_submission(view, values, user_id=user, **kw)
        return self.post(body, headers)

    def shortcut(self, callback_id: str, *, user: str = "U0ALICE", message: dict[str, Any] | None = None) -> Sent:
        """A global shortcut, or with `message` a message shortcut (which carries its channel, the message
        and a response_url), signed as Slack sends them."""
        team = self.payloads.team_id
        payload: dict[str, Any] = {
            "type": "message_action" if message is not None else "shortcut", "callback_id": callback_id,
            "trigger_id": self.payloads._trigger(), "action_ts": f"{time.time():.6f}", "token": "deprecated",
            "user": {"id": user, "username": user.lower(), "team_id": team}, "team": {"id": team, "domain": "acme"},
            "api_app_id": self.payloads.api_app_id,
        }
        response_url = self.slack.response_url(f"sc{next(self._n)}")
        if message is not None:
            payload |= {"channel": {"id": "C0OPS", "name": "ops"}, "message": message, "message_ts": message["ts"],
                        "response_url": response_url}
        body = urllib.parse.urlencode({"payload": json.dumps(payload)})
        headers = {"Content-Type": "application/x-www-form-urlencoded", **self.payloads.sign(body)}
        return Sent(self.post(body, headers), response_url, self)

    def homes(self, user: str) -> list[dict[str, Any]]:
        """Every App Home view published for `user`, oldest first."""
        return [a["view"] for a in self.slack.calls_to("views.publish") if a.get("user_id") == user]

    def open_home(self, user: str = "U0ALICE") -> dict[str, Any]:
        """Open the App Home as Slack tells the bot (app_home_opened); the view it publishes, with its id."""
        before = len(self.homes(user))
        body, headers = self.payloads.event({"type": "app_home_opened", "user": user, "channel": "D0" + user[2:],
                                             "tab": "home"})
        assert self.post(body, headers).status_code == 200
        return self.next_home(user, before)

    def next_home(self, user: str, before: int, timeout: float = 10.0) -> dict[str, Any]:
        """The Home published after the `before` ones already seen (publishing it again follows a click)."""
        homes = wait_until(lambda: self.homes(user)[before:], timeout, what=f"the App Home of {user} published")
        return {**homes[0], "id": "VHOME"}

    def click_in_view(self, view: dict[str, Any], action_id: str, value: str = "", *, user: str = "U0ALICE") -> None:
        """A button pressed in the App Home or a modal: Slack sends the view, and no channel or response_url."""
        body, headers = self.payloads.block_action(user_id=user, action_id=action_id, value=value, channel_id=None,
                                                   view=view)
        assert self.post(body, headers).status_code == 200

    def opened_view(self, callback_id: str, timeout: float = 10.0) -> dict[str, Any]:
        """The latest version of a modal (views.open, then views.update once Ona answered)."""
        def matches(a: dict[str, Any]) -> bool:
            return a.get("view", {}).get("callback_id") == callback_id
        opened = self.slack.wait_for("views.open", matches, timeout=timeout)[-1]
        updates = [a for a in self.slack.calls_to("views.update") if matches(a)]
        view = (updates[-1] if updates else opened)["view"]
        return {**view, "id": (updates[-1] if updates else opened).get("view_id", "V00001")}

    def filled_view(self, callback_id: str, timeout: float = 10.0) -> dict[str, Any]:
        """Wait until the loading modal was replaced by the form (views.update)."""
        found = self.slack.wait_for(
            "views.update", lambda a: a.get("view", {}).get("callback_id") == callback_id, timeout=timeout
        )[-1]
        return {**found["view"], "id": found.get("view_id")}


def make_settings(emulator: Any, slack: FakeSlack, **overrides: Any) -> Settings:
    values = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.url + "/api",
        "ONA_API_KEY": emulator.admin_key,
        "ONA_BASE_URL": emulator.base_url,
        "ONA_ORGANIZATION_ID": emulator.organization_id,
        "ONA_BOT_APPROVALS_CHANNEL": "C0APPROVALS",
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


# Command tests run every change directly (still only for Ona admins); approval tests pass
# policy=None for the built-in policy, or their own TOML.
DIRECT_POLICY = '[defaults]\napproval = "none"\n'


def make_harness(emulator: Any, slack: FakeSlack, *, api_key: str | None = None,
                 policy: str | None = DIRECT_POLICY, db_path: str | None = None, **overrides: Any) -> BotHarness:
    """`db_path`: a SQLite file or a PostgreSQL URL (tests' db_location); a new SQLite file by default."""
    db = db_path or str(Path(tempfile.mkdtemp(prefix="ona-bot-test-")) / "bot.db")
    ARCHIVE.db_paths.add(db)  # searched for secrets at the end of the session
    settings = make_settings(emulator, slack, ONA_BOT_DB=db, **{**keys_for(db), **overrides})
    metrics = new_metrics()
    ona = OnaClient(api_key or emulator.admin_key, base_url=emulator.base_url,
                    organization_id=emulator.organization_id, backoff_base=0.01, backoff_max=0.05,
                    observe=metrics.ona_call)
    parsed = parse_policy(policy, "test policy", None) if policy is not None else None
    services = build_services(settings, ona=ona, slack=slack_client(BOT_TOKEN, slack.api_url), policy=parsed,
                              metrics=metrics)
    return BotHarness(settings, services, slack)


# Every change needs one approval from another Ona admin, with a reason.
APPROVAL_POLICY = """
[defaults]
approval = "required"
approvals = 1
requesters = ["ona:admins"]
approvers = ["ona:admins"]
ttl = "1h"
reason = true
"""
APPROVALS_CHANNEL = "C0APPROVALS"


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll with a deadline (never a fixed sleep); returns the predicate's first truthy value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def wait_calls(emulator: Any, method: str, timeout: float = 10.0) -> list[Any]:
    """The bodies Ona received for `method`, once there is at least one."""
    return wait_until(lambda: emulator.calls(method), timeout, what=f"Ona to receive {method}")


# How the bot asks Ona who the admins are (to check who may read or change).
ADMIN_LOOKUP = {"roles": ["ORGANIZATION_ROLE_ADMIN"], "statuses": ["USER_STATUS_ACTIVE"]}


def member_listings(emulator: Any) -> list[Any]:
    """The ListMembers calls a command made, without the bot's own look-ups of who the admins are."""
    return [body for body in emulator.calls("ListMembers") if body.get("filter") != ADMIN_LOOKUP]


def mrkdwn_texts(node: Any) -> list[str]:
    """Every mrkdwn text in a payload: what Slack parses (plain_text and button values cannot ping or link)."""
    if isinstance(node, list):
        return [t for item in node for t in mrkdwn_texts(item)]
    if not isinstance(node, dict):
        return []
    own = [node["text"]] if node.get("type") == "mrkdwn" else []
    return own + [t for value in node.values() for t in mrkdwn_texts(value)]


def buttons(payload: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every button of a message or view by action id: in actions blocks and as section accessories."""
    blocks = payload.get("blocks", [])
    found = {e["action_id"]: e for b in blocks if b["type"] == "actions" for e in b["elements"]}
    found.update({b["accessory"]["action_id"]: b["accessory"] for b in blocks
                  if (b.get("accessory") or {}).get("type") == "button"})
    return found


# --- the approval flow's clock and parts, for tests that move time or forget a cached answer ----------
# (the one place tests reach behind ApprovalService's public interface)

def set_clock(services: Services, clock: Callable[[], float]) -> None:
    """The approval flow's clock (expiry, reminders, windows, undo time) reads `clock` from now on."""
    services.approvals._flow.clock = clock


def forget_installation(services: Services) -> None:
    """Make the identity directory ask Slack's auth.test again (as after a reinstall)."""
    services.approvals._flow.directory._installation = None


def operation_of(services: Services, name: str) -> Any:
    """The registered Operation called `name`."""
    return next(op for group in services.groups for op in group.operations.values() if op.name == name)
