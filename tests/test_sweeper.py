"""Background work (expiry, reminders, settling crashes) runs on one replica at a time, by a lease in the
database, and moves to another replica when that one dies: on both backends."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from bot.approvals.sweeper import Sweeper
from bot.localslack import FakeSlack
from tests.harness import APPROVAL_POLICY, APPROVALS_CHANNEL, BotHarness, make_harness, set_clock, wait_until

LATER = 2 * 3600  # past the policy's one-hour expiry


@pytest.fixture
def replicas(emulator, slack: FakeSlack, db_location: str) -> Iterator[list[BotHarness]]:
    emulator.state.banner.enabled = True
    bots = [make_harness(emulator, slack, policy=APPROVAL_POLICY, db_path=db_location) for _ in range(2)]
    yield bots
    for bot in bots:
        bot.close()


def test_one_replica_sweeps_and_another_takes_over_when_it_dies(replicas: list[BotHarness], slack: FakeSlack) -> None:
    first = replicas[0]
    first.command("banner off reason: maintenance").reply()
    slack.wait_for("chat.postMessage", lambda a: a.get("channel") == APPROVALS_CHANNEL)
    store = first.services.approvals.store
    wait_until(lambda: all(r.ts for r in store.in_states("pending")), what="the message's place recorded")
    for bot in replicas:
        set_clock(bot.services, lambda: time.time() + LATER)
    sweepers = [Sweeper(bot.services.approvals, interval=0.2) for bot in replicas]

    assert sweepers[0].tick() is True
    assert sweepers[1].tick() is False  # the first replica holds the lease
    assert sweepers[0].tick() is True
    assert [r.state for r in store.in_states("expired")] == ["expired"]
    told = [a for a in slack.calls_to("chat.postMessage") if a.get("channel", "").startswith("D0ALICE")]
    assert len(told) == 1, "the requester is told once"

    first.close()  # the first replica dies: its session ends (PostgreSQL), its lease stops being renewed (SQLite)
    wait_until(sweepers[1].tick, timeout=10, what="the second replica to take the lease")
    assert sweepers[1].tick() is True
