"""Overload: the bot admits a bounded rate of work and says "busy" in the ack beyond it, so the acks
stay within Slack's deadline whatever the load (figures in the README's Performance section)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from bot.app import BUSY, build_app
from bot.server import wsgi_app
from bot.work import WorkPool
from tests.harness import SIGNING_SECRET, BotHarness, make_harness, wait_until


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_admission_is_a_token_bucket_and_frees_places_when_work_ends() -> None:
    clock = FakeClock()
    pool = WorkPool(threads=1, backlog=1, rate=2.0, burst=2, clock=clock)
    assert pool.reserve() and pool.reserve()
    assert not pool.reserve()  # the burst is spent (and the pool is full)
    release = threading.Event()
    done = threading.Event()
    pool.start(release.wait)
    pool.start(done.set)
    clock.now += 10  # tokens again, but both places are taken until the work ends
    assert not pool.reserve()
    release.set()
    assert done.wait(5)
    wait_until(pool.reserve, what="a place freed once the work ended")
    pool.close()


def test_unlimited_and_inline_pools_admit_everything() -> None:
    assert all(WorkPool(rate=None, backlog=1000).reserve() for _ in range(500))
    inline = WorkPool(inline=True, backlog=1000)
    assert all(inline.reserve() for _ in range(500))


@pytest.fixture
def tight(emulator, slack) -> Iterator[BotHarness]:
    """A bot whose pool admits one request's work, then nothing for a long while."""
    harness = make_harness(emulator, slack)
    harness.work.close()
    harness.work = WorkPool(rate=1e-6, burst=1)
    harness._server.set_app(wsgi_app(build_app(harness.services, signing_secret=SIGNING_SECRET, work=harness.work)))
    yield harness
    harness.close()


def test_a_command_beyond_the_rate_is_told_busy_in_its_ack_and_does_nothing(tight: BotHarness, emulator) -> None:
    emulator.state.banner.enabled = True
    first = tight.command("banner off")
    assert "now *off*" in first.reply_text()
    second = tight.command("banner on Hello")
    assert second.response.status_code == 200 and BUSY in second.response.text
    assert len(emulator.calls("UpdateAnnouncementBanner")) == 1


def test_a_click_beyond_the_rate_is_told_busy(tight: BotHarness, emulator) -> None:
    tight.command("banner").reply()
    assert BUSY in tight.click("banner:off").reply_text()
    assert emulator.calls("UpdateAnnouncementBanner") == []
