"""A separate bot process for the crash test: its own Bolt app, Ona client and SQLite connections on
the shared database file. It requests banner changes (`/ona banner on burst-w<k>-<i> reason: …`, each
message unique, so the emulator's log can be grouped per request) and approves them, and also clicks
Approve on other processes' pending requests, so processes race on the same rows.

    python -m tests.workers.approval_burst burst '<json config>'
    python -m tests.workers.approval_burst reconcile '<json config>'   # "restart": settle what a crash left

Progress goes to ``progress_file``, one line per step, written straight to the file (no buffering), so
it survives SIGKILL:  ``created <id> <message>``, ``send <message>`` (just before the Ona mutation goes
out), ``sent <message>`` (Ona answered), ``approved <id> <http status>``.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from slack_bolt.request import BoltRequest

from bot.app import build_app
from bot.approvals.policy import parse_policy
from bot.bootstrap import build_services, slack_client
from bot.localslack import SlackPayloads
from bot.ona.client import OnaClient
from bot.settings import Settings
from tests.harness import set_clock


class Progress:
    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def write(self, line: str) -> None:
        os.write(self.fd, (line + "\n").encode())


class ReportingTransport(httpx.HTTPTransport):
    """The network boundary: notes each banner mutation as it leaves the process and as it comes back."""

    def __init__(self, progress: Progress) -> None:
        super().__init__()
        self.progress = progress

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        mutation = request.url.path.endswith("/UpdateAnnouncementBanner")
        message = json.loads(request.content or b"{}").get("message", "") if mutation else ""
        if mutation:
            self.progress.write(f"send {message}")
        response = super().handle_request(request)
        if mutation:
            response.read()
            self.progress.write(f"sent {message}")
        return response


def build(config: dict[str, Any], progress: Progress | None = None):
    settings = Settings(_env_file=None, **config["env"])  # type: ignore[call-arg]
    ona = OnaClient(settings.ona_api_key.get_secret_value(), base_url=settings.ona_base_url,
                    organization_id=settings.ona_organization_id, backoff_base=0.01, backoff_max=0.05,
                    transport=ReportingTransport(progress) if progress else None)
    services = build_services(settings, ona=ona, slack=slack_client("xoxb-test", config["slack_api"]),
                              policy=parse_policy(config["policy"], "test policy", None))
    return settings, services


def burst(config: dict[str, Any]) -> int:
    progress = Progress(config["progress_file"])
    _, services = build(config, progress)
    # process_before_response: dispatch returns once the listener is done (as in approve_clicks.py).
    app = build_app(services, signing_secret=config["secret"], process_before_response=True)
    payloads = SlackPayloads(config["secret"])
    store = services.approvals.store
    go = Path(config["go_file"])
    deadline = time.monotonic() + 30
    while not go.exists():  # start together with the other processes
        if time.monotonic() > deadline:
            return 3
        time.sleep(0.005)
    worker = config["worker"]
    rng = random.Random(worker)

    def dispatch(body: str, headers: dict[str, str]) -> int:
        response = app.dispatch(BoltRequest(body=body, headers={k.lower(): [v] for k, v in headers.items()}))
        return response.status

    def approve(request_id: str, request_hash: str, n: int) -> None:
        body, headers = payloads.block_action(
            user_id=config["approver"], action_id="approval:approve",
            value=json.dumps({"id": request_id, "h": request_hash}),
            response_url=f"{config['slack_url']}/response/w{worker}-a{n}")
        progress.write(f"approved {request_id} {dispatch(body, headers)}")

    for i in range(config["requests"]):
        message = f"burst-w{worker}-{i}"
        body, headers = payloads.slash_command(
            f"banner on {message} reason: burst {i}", user_id=config["requester"],
            response_url=f"{config['slack_url']}/response/w{worker}-c{i}")
        dispatch(body, headers)
        with store.connect() as conn:
            row = conn.execute("SELECT id, hash FROM requests WHERE json_extract(params, '$.message') = ?",
                               (message,)).fetchone()
        if row is None:
            progress.write(f"missing {message}")
            return 4
        progress.write(f"created {row['id']} {message}")
        approve(row["id"], row["hash"], i)
        # …and a click on someone else's pending request, if any: processes race on the same rows.
        with store.connect() as conn:
            others = conn.execute("SELECT id, hash FROM requests WHERE state = 'pending' AND "
                                  "json_extract(params, '$.message') NOT LIKE ?",
                                  (f"burst-w{worker}-%",)).fetchall()
        for other in rng.sample(list(others), min(2, len(others))):
            approve(other["id"], other["hash"], 1000 + i)
    progress.write("done")
    return 0


def reconcile(config: dict[str, Any]) -> int:
    """What `ona-bot serve` does first when it starts (bot.server.start_housekeeping), minus the sweeper.
    A restart takes a while: `clock_offset` seconds are added to the approval flow's clock."""
    _, services = build(config)
    offset = float(config.get("clock_offset", 0))
    set_clock(services, lambda: time.time() + offset)
    services.approvals.reconcile()
    print(json.dumps({"reconciled": True}))
    return 0


if __name__ == "__main__":
    mode, raw = sys.argv[1], sys.argv[2]
    sys.exit({"burst": burst, "reconcile": reconcile}[mode](json.loads(raw)))
