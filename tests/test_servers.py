"""The local servers the tests rely on take a burst of connections without the kernel dropping any."""

from __future__ import annotations

import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.harness import BotHarness

BURST = 100


def listen_overflows() -> int:
    """The kernel's count of connections dropped because a listen queue was full (all sockets)."""
    lines = Path("/proc/net/netstat").read_text().splitlines()
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            return int(dict(zip(names.split(), values.split(), strict=False))["ListenOverflows"])
    raise AssertionError("no TcpExt counters")


def burst(url: str) -> None:
    """Open BURST connections at once and hold them open, so they wait in the listen queue."""
    host, port = httpx.URL(url).host, httpx.URL(url).port
    before = listen_overflows()
    with ThreadPoolExecutor(max_workers=BURST) as pool:
        sockets = list(pool.map(lambda _: socket.create_connection((host, port), timeout=10), range(BURST)))
    for sock in sockets:
        sock.close()
    assert listen_overflows() == before, "connections were dropped: the listen backlog is too small"


def test_the_bolt_server_takes_a_burst(bot: BotHarness) -> None:
    burst(bot.url)


def test_the_fake_slack_takes_a_burst(slack) -> None:
    burst(slack.url)


def test_the_emulator_takes_a_burst(emulator) -> None:
    burst(emulator.base_url)
