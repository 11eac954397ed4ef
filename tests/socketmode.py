"""Slack's Socket Mode end, on loopback: what `ona-bot run` connects to in the tests.

FakeSlack answers ``apps.connections.open`` with this server's ``ws://`` URL. Like Slack, the server
says ``hello`` on each connection, sends envelopes (``slash_commands``, ``interactive``,
``events_api``, with ``retry_attempt``/``retry_reason`` on events), collects the app's acks by
``envelope_id``, and can send ``disconnect`` so the app reconnects. Envelopes are spread over the
open connections in turn, as Slack spreads them over an app's connections.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

from bot.localslack import LISTEN_BACKLOG, FakeSlack
from tests.harness import DIRECT_POLICY

APP_ID = "A0ONABOT"
SECRET = "socket-mode-secret"  # Socket Mode requests are not signed; the setting is still required


def launch_run(emulator: Any, slack: FakeSlack, workdir: Any, *args: str, db: str,
               policy: str = DIRECT_POLICY, **env_extra: str) -> subprocess.Popen[str]:
    """`ona-bot run` (python -m bot.cli run) as a subprocess, configured for the fake Slack (whose
    apps.connections.open hands out this module's server) and the emulator, on the database `db`."""
    policy_file = workdir / "policy.toml"
    policy_file.write_text(policy)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "ONA_", "GITPOD_"))}
    env.update({
        "SLACK_BOT_TOKEN": "xoxb-run", "SLACK_APP_TOKEN": "xapp-1-run", "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": slack.url + "/api", "ONA_API_KEY": emulator.admin_key, "ONA_BASE_URL": emulator.base_url,
        "ONA_ORGANIZATION_ID": emulator.organization_id, "ONA_BOT_DB": db, "ONA_BOT_POLICY_FILE": str(policy_file),
        **env_extra,
    })
    return subprocess.Popen([sys.executable, "-m", "bot.cli", "run", *args], env=env, cwd=workdir,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


class SocketModeServer:
    def __init__(self) -> None:
        self.connections: list[ServerConnection] = []
        self.acks: dict[str, dict[str, Any]] = {}  # envelope_id -> the app's ack (with its payload)
        self.opened = 0  # connections ever opened (reconnects count)
        self._changed = threading.Condition()
        self._turn = itertools.count()
        self._server: Server | None = None

    def start(self) -> SocketModeServer:
        self._server = serve(self._serve, "127.0.0.1", 0, backlog=LISTEN_BACKLOG)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()

    def url(self) -> str:
        """A fresh connection URL, as apps.connections.open hands out (a ticket per call)."""
        assert self._server is not None
        port = self._server.socket.getsockname()[1]
        return f"ws://127.0.0.1:{port}/link/?ticket={uuid.uuid4()}&app_id={APP_ID}"

    # --- the connection, as Slack runs it ------------------------------------------------------

    def _serve(self, ws: ServerConnection) -> None:
        ws.send(json.dumps({
            "type": "hello", "num_connections": len(self.connections) + 1,
            "debug_info": {"host": "applink-local", "build_number": 1, "approximate_connection_time": 18060},
            "connection_info": {"app_id": APP_ID},
        }))
        with self._changed:
            self.connections.append(ws)
            self.opened += 1
            self._changed.notify_all()
        try:
            for raw in ws:
                message = json.loads(raw)
                if isinstance(message, dict) and message.get("envelope_id"):
                    with self._changed:
                        self.acks[message["envelope_id"]] = message
                        self._changed.notify_all()
        except ConnectionClosed:
            pass
        finally:
            with self._changed:
                if ws in self.connections:
                    self.connections.remove(ws)
                self._changed.notify_all()

    def _wait(self, predicate: Any, timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not (value := predicate()):
                left = deadline - time.monotonic()
                assert left > 0, f"timed out waiting for {what}"
                self._changed.wait(left)
            return value

    def wait_connected(self, count: int = 1, timeout: float = 30.0) -> None:
        self._wait(lambda: len(self.connections) >= count, timeout, f"{count} Socket Mode connection(s)")

    def wait_opened(self, count: int, timeout: float = 30.0) -> None:
        self._wait(lambda: self.opened >= count and self.connections, timeout, f"{count} connections opened")

    def wait_ack(self, envelope_id: str, timeout: float = 10.0) -> dict[str, Any]:
        """The app's ack of one envelope: {"envelope_id": ..., "payload": ...}."""
        return self._wait(lambda: self.acks.get(envelope_id), timeout, f"the ack of {envelope_id}")

    # --- what Slack sends ------------------------------------------------------------------------

    def send(self, kind: str, payload: dict[str, Any], *, accepts_response_payload: bool = False,
             retry_attempt: int | None = None, retry_reason: str = "") -> str:
        """Send one envelope over the next open connection; returns its envelope_id."""
        envelope: dict[str, Any] = {
            "envelope_id": str(uuid.uuid4()), "payload": payload, "type": kind,
            "accepts_response_payload": accepts_response_payload,
        }
        if kind == "events_api":  # Slack puts these on every event, 0 on the first delivery
            envelope["retry_attempt"] = retry_attempt or 0
            envelope["retry_reason"] = retry_reason
        with self._changed:
            assert self.connections, "no open Socket Mode connection"
            ws = self.connections[next(self._turn) % len(self.connections)]
        ws.send(json.dumps(envelope))
        return envelope["envelope_id"]

    def slash_command(self, form_body: str) -> str:
        """A slash command built (and signed, which Socket Mode ignores) by SlackPayloads."""
        fields = {k: v[-1] for k, v in urllib.parse.parse_qs(form_body, keep_blank_values=True).items()}
        return self.send("slash_commands", fields, accepts_response_payload=True)

    def interactive(self, form_body: str) -> str:
        """A block_actions or view_submission payload built by SlackPayloads."""
        payload = json.loads(urllib.parse.parse_qs(form_body)["payload"][0])
        return self.send("interactive", payload, accepts_response_payload=payload["type"] == "view_submission")

    def event(self, json_body: str, *, retry_attempt: int = 0, retry_reason: str = "") -> str:
        """An Events API callback built by SlackPayloads (the same event_id when retried)."""
        return self.send("events_api", json.loads(json_body), retry_attempt=retry_attempt, retry_reason=retry_reason)

    def disconnect(self, reason: str = "refresh_requested") -> None:
        """Ask every connection to go: the app opens a new one, then Slack closes the old."""
        with self._changed:
            connections = list(self.connections)
        for ws in connections:
            ws.send(json.dumps({"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-local"}}))
