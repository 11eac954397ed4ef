"""Local stand-ins for Slack, for the tests, the demo and benchmarks.

- ``FakeSlack``: a Slack Web API server on loopback (point slack-sdk's ``base_url`` at
  ``fake.api_url``). It records every call, answers like Slack, keeps posted messages (applying
  ``chat.update``), serves ``response_url`` posts, and can answer 429 with ``Retry-After``, a 5xx,
  or an error as Slack gives it (HTTP 200 with ``ok: false``, e.g. ``not_in_channel``).
- ``SlackPayloads``: builds Slack's real request formats (slash command, block_actions,
  view_submission, events) and signs them with the signing secret, as Slack does.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from slack_sdk.signature import SignatureVerifier

TEAM_ID = "T0ACME"

# socketserver listens with a backlog of 5; tests send bursts of 50 requests at once. Every local
# server (fake Slack, emulator, the tests' Bolt server) takes this many waiting connections.
LISTEN_BACKLOG = 128

# The demo's and tests' Slack users; their emails match the Ona emulator's seeded members.
DEFAULT_USERS: dict[str, dict[str, Any]] = {
    "U0ALICE": {"name": "alice", "real_name": "Alice Admin", "email": "alice@example.com", "tz": "Europe/Berlin"},
    "U0BOB": {"name": "bob", "real_name": "Bob Builder", "email": "bob@example.com", "tz": "America/New_York"},
    "U0CAROL": {"name": "carol", "real_name": "Carol Member", "email": "carol@example.com", "tz": "UTC"},
}


# The scope a method needs, for FakeSlack.missing_scopes (only those the tests take away).
_SCOPES = {"usergroups.users.list": "usergroups:read", "users.info": "users:read",
           "users.lookupByEmail": "users:read.email"}


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    time: float = field(default_factory=time.monotonic)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = LISTEN_BACKLOG


class FakeSlack:
    def __init__(self, users: dict[str, dict[str, Any]] | None = None, team_id: str = TEAM_ID) -> None:
        self._initial_users = dict(users or DEFAULT_USERS)
        self.users = dict(self._initial_users)
        self.team_id = team_id
        self.enterprise_id: str | None = None  # an Enterprise Grid organization-wide install, when set
        self.calls: list[Call] = []
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}  # (channel, ts) -> message
        self.usergroups: dict[str, list[str]] = {}  # unknown IDs answer no_such_subteam, as Slack does
        self.rejected_tokens: set[str] = set()  # every method answers invalid_auth to these
        self.missing_scopes: set[str] = set()  # e.g. {"usergroups:read"}: its methods answer missing_scope
        # Socket Mode: apps.connections.open hands out what this returns (a ws:// URL), when set.
        self.socket_mode_url: Callable[[], str] | None = None
        self._faults: dict[str, list[tuple[int, float, str]]] = {}
        self._lock = threading.Lock()
        self._ts = itertools.count(1)
        self._views = itertools.count(1)
        self._server: _Server | None = None

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self, port: int = 0) -> FakeSlack:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                fake._handle(self)

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

        self._server = _Server(("127.0.0.1", port), Handler)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def response_url(self, name: str = "r") -> str:
        return f"{self.url}/response/{name}"

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.messages.clear()
            self._faults.clear()
            self.users = dict(self._initial_users)
            self.enterprise_id = None
            self.usergroups.clear()
            self.rejected_tokens.clear()
            self.missing_scopes.clear()
            self.socket_mode_url = None

    # --- test controls ------------------------------------------------------------------------

    def fail_next(self, method: str, *, status: int = 429, retry_after: float = 1, times: int = 1,
                  error: str | None = None) -> None:
        """The next `times` calls of `method` answer HTTP `status` (429 with Retry-After); with `error`,
        HTTP 200 and `{"ok": false, "error": error}`, as Slack answers `not_in_channel`."""
        with self._lock:
            fault = (200, 0.0, error) if error else (status, retry_after, "ratelimited" if status == 429 else
                                                      "internal_error")
            self._faults.setdefault(method, []).extend([fault] * times)

    def calls_to(self, method: str) -> list[dict[str, Any]]:
        with self._lock:
            return [c.args for c in self.calls if c.method == method]

    def wait_for(
        self, method: str, predicate: Callable[[dict[str, Any]], bool] = lambda _: True, *, timeout: float = 10.0,
        count: int = 1,
    ) -> list[dict[str, Any]]:
        """Poll (with a deadline) until `count` calls of `method` match; return them."""
        deadline = time.monotonic() + timeout
        while True:
            found = [args for args in self.calls_to(method) if predicate(args)]
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                seen = [c.method for c in self.calls]
                raise AssertionError(f"no {count}× {method} matching within {timeout}s; calls seen: {seen}")
            time.sleep(0.01)

    def everything_sent(self) -> str:
        """All text the bot sent to Slack, as one string (for secret scans)."""
        with self._lock:
            return "\n".join(json.dumps(c.args, sort_keys=True) for c in self.calls)

    # --- the server ---------------------------------------------------------------------------

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length).decode() if length else ""
        path = urllib.parse.urlparse(request.path).path
        if path.startswith("/response/"):
            method, args = "response_url", _decode(raw, request.headers.get("Content-Type", ""))
            args["_url"] = path
        else:
            method = path.removeprefix("/api/").strip("/")
            args = _decode(raw, request.headers.get("Content-Type", ""))
        with self._lock:
            self.calls.append(Call(method, args))
            fault = self._faults.get(method, []).pop(0) if self._faults.get(method) else None
        if fault:
            status, retry_after, error = fault
            headers = {"Retry-After": str(int(retry_after))} if status == 429 else {}
            self._send(request, status, {"ok": False, "error": error}, headers)
            return
        token = (request.headers.get("Authorization") or "").removeprefix("Bearer ").strip() or args.get("token")
        if token in self.rejected_tokens:
            self._send(request, 200, {"ok": False, "error": "invalid_auth"})
            return
        needed = _SCOPES.get(method)
        if needed in self.missing_scopes:
            self._send(request, 200, {"ok": False, "error": "missing_scope", "needed": needed})
            return
        self._send(request, 200, self._answer(method, args))

    @staticmethod
    def _send(request: BaseHTTPRequestHandler, status: int, body: dict[str, Any], headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            request.send_header(name, value)
        request.end_headers()
        request.wfile.write(data)

    def _answer(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        ok: dict[str, Any] = {"ok": True}
        if method == "auth.test":
            answer = {**ok, "user_id": "U0BOT", "bot_id": "B0BOT", "team_id": self.team_id, "team": "Acme"}
            return answer | ({"enterprise_id": self.enterprise_id} if self.enterprise_id else {})
        if method == "apps.connections.open":
            if self.socket_mode_url is None:
                return {"ok": False, "error": "not_allowed_token_type"}
            return {**ok, "url": self.socket_mode_url()}
        if method == "chat.postMessage":
            ts = f"1700000000.{next(self._ts):06d}"
            message = {k: v for k, v in args.items() if k in ("text", "blocks", "thread_ts")} | {"ts": ts}
            with self._lock:
                self.messages[(args.get("channel", ""), ts)] = message
            return {**ok, "channel": args.get("channel"), "ts": ts, "message": message}
        if method == "chat.update":
            key = (args.get("channel", ""), args.get("ts", ""))
            with self._lock:
                if key not in self.messages:
                    return {"ok": False, "error": "message_not_found"}
                self.messages[key].update({k: v for k, v in args.items() if k in ("text", "blocks")})
            return {**ok, "channel": key[0], "ts": key[1]}
        if method == "chat.postEphemeral":
            return {**ok, "message_ts": f"1700000000.{next(self._ts):06d}"}
        if method == "chat.getPermalink":
            return {**ok, "permalink": f"https://acme.slack.com/archives/{args.get('channel')}/p{args.get('message_ts')}"}
        if method in ("views.open", "views.update", "views.push"):
            view = args.get("view") or {}
            view_id = args.get("view_id") or f"V{next(self._views):05d}"
            return {**ok, "view": {**view, "id": view_id, "hash": f"h{next(self._views)}"}}
        if method == "views.publish":
            return {**ok, "view": {**(args.get("view") or {}), "id": "VHOME"}}
        if method == "conversations.open":
            return {**ok, "channel": {"id": "D" + str(args.get("users", "")).lstrip("U")}}
        if method == "users.info":
            return self._user(args.get("user", ""))
        if method == "users.lookupByEmail":
            email = str(args.get("email", "")).lower()
            found = next((uid for uid, u in self.users.items() if str(u.get("email", "")).lower() == email), None)
            return self._user(found) if found else {"ok": False, "error": "users_not_found"}
        if method == "usergroups.users.list":
            users = self.usergroups.get(args.get("usergroup", ""))
            return {**ok, "users": users} if users is not None else {"ok": False, "error": "no_such_subteam"}
        return ok

    def _user(self, user_id: str) -> dict[str, Any]:
        user = self.users.get(user_id)
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        # As users.info answers for a full member of this workspace; a test user may override any field
        # (a guest: is_restricted; Slack Connect: its own team_id and is_stranger; Grid: enterprise_user).
        plain = {"name", "real_name", "email", "tz"}
        return {
            "ok": True,
            "user": {
                "id": user_id, "team_id": self.team_id, "name": user["name"], "real_name": user["real_name"],
                "tz": user.get("tz", "UTC"), "deleted": False, "is_bot": False, "is_app_user": False,
                "is_restricted": False, "is_ultra_restricted": False, "is_email_confirmed": True,
                "profile": {"email": user["email"], "real_name": user["real_name"], "display_name": user["name"]},
                **{k: v for k, v in user.items() if k not in plain},
            },
        }


def _decode(raw: str, content_type: str) -> dict[str, Any]:
    """slack-sdk sends JSON or form data (with blocks/view as JSON strings): decode both."""
    if "json" in content_type:
        try:
            data = json.loads(raw or "{}")
        except ValueError:
            return {"_raw": raw}
        return data if isinstance(data, dict) else {"_raw": data}
    args: dict[str, Any] = {k: v[-1] for k, v in urllib.parse.parse_qs(raw, keep_blank_values=True).items()}
    for key in ("blocks", "view", "attachments"):
        if isinstance(args.get(key), str):
            with contextlib.suppress(ValueError):
                args[key] = json.loads(args[key])
    return args


class SlackPayloads:
    """Slack's request formats, signed with the signing secret exactly as Slack signs them."""

    def __init__(self, signing_secret: str, *, team_id: str = TEAM_ID, api_app_id: str = "A0ONABOT") -> None:
        self.verifier = SignatureVerifier(signing_secret)
        self.team_id = team_id
        self.api_app_id = api_app_id
        self._ids = itertools.count(1)

    def sign(self, body: str, *, timestamp: int | None = None) -> dict[str, str]:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        return {
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": self.verifier.generate_signature(timestamp=ts, body=body),
        }

    def slash_command(
        self, text: str, *, user_id: str, channel_id: str = "C0OPS", response_url: str, command: str = "/ona",
        team_id: str | None = None,
    ) -> tuple[str, dict[str, str]]:
        fields = {
            "token": "deprecated", "team_id": team_id or self.team_id, "team_domain": "acme",
            "channel_id": channel_id, "channel_name": "ops", "user_id": user_id, "user_name": user_id.lower(),
            "command": command, "text": text, "api_app_id": self.api_app_id, "is_enterprise_install": "false",
            "response_url": response_url, "trigger_id": self._trigger(),
        }
        return self._form(fields)

    def block_action(
        self, *, user_id: str, action_id: str, value: str = "", channel_id: str | None = "C0OPS",
        response_url: str | None = None, message: dict[str, Any] | None = None, view: dict[str, Any] | None = None,
        team_id: str | None = None,
    ) -> tuple[str, dict[str, str]]:
        team = team_id or self.team_id
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": {"id": user_id, "username": user_id.lower(), "team_id": team},
            "api_app_id": self.api_app_id,
            "token": "deprecated",
            "team": {"id": team, "domain": "acme"},
            "trigger_id": self._trigger(),
            "actions": [{
                "type": "button", "action_id": action_id, "block_id": "b", "value": value,
                "action_ts": f"{time.time():.6f}", "text": {"type": "plain_text", "text": "x"},
            }],
        }
        if channel_id:
            payload["channel"] = {"id": channel_id, "name": "ops"}
            payload["container"] = {"type": "message", "channel_id": channel_id, "message_ts": (message or {}).get("ts")}
        if message is not None:
            payload["message"] = message
        if response_url:
            payload["response_url"] = response_url
        if view is not None:
            payload["view"] = view
            payload["container"] = {"type": "view", "view_id": view.get("id", "V0")}
        return self._form({"payload": json.dumps(payload)})

    def view_submission(
        self, view: dict[str, Any], values: dict[str, dict[str, Any]], *, user_id: str, team_id: str | None = None,
    ) -> tuple[str, dict[str, str]]:
        """`values` maps block_id -> {"type": ..., "value"/"selected_option(s)": ...} (action_id "value")."""
        team = team_id or self.team_id
        submitted = {**view, "state": {"values": {bid: {"value": v} for bid, v in values.items()}}}
        payload = {
            "type": "view_submission",
            "team": {"id": team, "domain": "acme"},
            "user": {"id": user_id, "username": user_id.lower(), "team_id": team},
            "api_app_id": self.api_app_id,
            "token": "deprecated",
            "trigger_id": self._trigger(),
            "view": submitted,
            "response_urls": [],
        }
        return self._form({"payload": json.dumps(payload)})

    def event(self, event: dict[str, Any], *, team_id: str | None = None) -> tuple[str, dict[str, str]]:
        body = json.dumps({
            "token": "deprecated", "team_id": team_id or self.team_id, "api_app_id": self.api_app_id,
            "type": "event_callback", "event_id": f"Ev{uuid.uuid4().hex[:12].upper()}", "event_time": int(time.time()),
            "event": event,
        })
        return body, {"Content-Type": "application/json", **self.sign(body)}

    def _trigger(self) -> str:
        """Unique across processes, like Slack's (the bot drops a delivery it has seen)."""
        return f"{next(self._ids)}.{uuid.uuid4().hex}"

    def _form(self, fields: dict[str, str]) -> tuple[str, dict[str, str]]:
        body = urllib.parse.urlencode(fields)
        return body, {"Content-Type": "application/x-www-form-urlencoded", **self.sign(body)}


def text_input(value: str | None) -> dict[str, Any]:
    return {"type": "plain_text_input", "value": value}


def number_input(value: str | int | None) -> dict[str, Any]:
    return {"type": "number_input", "value": None if value is None else str(value)}


def select(value: str | None) -> dict[str, Any]:
    return {"type": "static_select", "selected_option": {"value": value} if value is not None else None}


def multi_select(values: list[str]) -> dict[str, Any]:
    return {"type": "multi_static_select", "selected_options": [{"value": v} for v in values]}


def user_select(user_id: str | None) -> dict[str, Any]:
    return {"type": "users_select", "selected_user": user_id}


def checkboxes(values: list[str]) -> dict[str, Any]:
    return {"type": "checkboxes", "selected_options": [{"value": v} for v in values]}
