"""Closed-loop load generator, run as its own process (`python -m bench.load < spec.json`).

N client threads, each with its own keep-alive httpx connection, send Slack-signed requests to
POST /slack/events back to back; the HTTP response is the ack, so its latency is the ack latency.
A short warm-up is not counted; then every request started within `duration` seconds is timed.
Prints one JSON object: latencies, statuses, errors and the measured window (CLOCK_MONOTONIC, the
same clock as the FakeSlack's call times in the parent process).

Spec: {"url" (or "urls": client i sends to urls[i % len(urls)], a client-side round-robin over
replicas, one keep-alive connection each, as a connection-level load balancer would), "kind": "policies"|"approve", "clients", "duration", "warmup", "secret", "slack_url",
"tag", "values": [button values, for "approve"], "timeout", "start_at": a time.monotonic() value}
"""

from __future__ import annotations

import itertools
import json
import sys
import threading
import time
from typing import Any

import httpx

from bot.localslack import SlackPayloads

EVENTS_PATH = "/slack/events"
MAX_REQUESTS = 200_000  # a hard bound whatever the server's speed


def run(spec: dict[str, Any]) -> dict[str, Any]:
    urls: list[str] = spec.get("urls") or [spec["url"]]
    kind, clients = spec["kind"], int(spec["clients"])
    duration, warmup = float(spec["duration"]), float(spec.get("warmup", 1.0))
    if not all(u.startswith("http://127.0.0.1:") for u in urls):
        raise SystemExit("bench.load only sends to 127.0.0.1")
    values: list[str] = spec.get("values") or [""]
    people: list[str] = spec.get("people") or ["U0ALICE"]
    slack_url, tag = spec["slack_url"], spec["tag"]
    counter = itertools.count()
    lock = threading.Lock()
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    errors: dict[str, int] = {}
    barrier = threading.Barrier(clients + 1)
    times: dict[str, float] = {}

    def make(payloads: SlackPayloads) -> tuple[str, dict[str, str]]:
        n = next(counter)
        response_url = f"{slack_url}/response/{tag}-{n}"
        person = people[n % len(people)]  # many admins: each has a work budget of their own
        if kind == "policies":
            return payloads.slash_command("policies", user_id=person, channel_id="C0OPS",
                                          response_url=response_url)
        return payloads.block_action(user_id=person, action_id="approval:approve", value=values[n % len(values)],
                                     channel_id="C0APPROVALS", response_url=response_url)

    def client_loop(url: str) -> None:
        payloads = SlackPayloads(spec["secret"])
        mine_lat: list[float] = []
        mine_status: dict[str, int] = {}
        mine_err: dict[str, int] = {}
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        with httpx.Client(base_url=url, timeout=float(spec.get("timeout", 10.0)), limits=limits) as http:
            barrier.wait()
            start, stop = times["start"], times["stop"]
            while True:
                began = time.monotonic()
                if began >= stop or len(mine_lat) > MAX_REQUESTS // clients:
                    break
                body, headers = make(payloads)
                try:
                    response = http.post(EVENTS_PATH, content=body, headers=headers)
                    status = str(response.status_code)
                except httpx.HTTPError as exc:
                    status = None
                    key = type(exc).__name__
                took = time.monotonic() - began
                if began < start:
                    continue  # warm-up
                mine_lat.append(took)
                if status is None:
                    mine_err[key] = mine_err.get(key, 0) + 1
                else:
                    mine_status[status] = mine_status.get(status, 0) + 1
        with lock:
            latencies.extend(mine_lat)
            for k, v in mine_status.items():
                statuses[k] = statuses.get(k, 0) + v
            for k, v in mine_err.items():
                errors[k] = errors.get(k, 0) + v

    threads = [threading.Thread(target=client_loop, args=(urls[i % len(urls)],), daemon=True)
               for i in range(clients)]
    for t in threads:
        t.start()
    # The parent names the start (CLOCK_MONOTONIC is one clock for every process), so it knows when
    # the window ends without asking; if this process is late, the window starts late.
    begin = max(float(spec.get("start_at", 0.0)), time.monotonic())
    times["start"] = begin + warmup
    times["stop"] = begin + warmup + duration
    time.sleep(max(0.0, begin - time.monotonic()))
    barrier.wait()
    for t in threads:
        t.join(timeout=warmup + duration + 60)
    ended = time.monotonic()
    return {
        "latencies": latencies, "statuses": statuses, "errors": errors, "sent": next(counter),
        "window_start": times["start"], "window_stop": times["stop"], "ended": ended,
    }


def main() -> int:
    spec = json.load(sys.stdin)
    json.dump(run(spec), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
