"""Shared fixtures: the local Ona emulator over real HTTP, and a client pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.localslack import FakeSlack
from bot.ona.client import OnaClient
from bot.ona.emulator import Emulator
from tests.blockkit import check_call
from tests.harness import BotHarness, make_harness
from tests.pgserver import PgServer
from tests.secretscan import ARCHIVE, install_log_capture


@pytest.fixture(scope="session", autouse=True)
def _capture_logs_for_the_secret_scan() -> None:
    install_log_capture()


@pytest.fixture(scope="session")
def _emulator_server() -> Iterator[Emulator]:
    emu = Emulator()
    emu.start()  # a free loopback port
    yield emu
    ARCHIVE.harvest_emulator(emu)
    emu.stop()


@pytest.fixture
def emulator(_emulator_server: Emulator) -> Iterator[Emulator]:
    """The emulator, reset to its seed state (state, faults and request log) for each test."""
    _emulator_server.reset()
    yield _emulator_server
    ARCHIVE.harvest_emulator(_emulator_server)  # before the next reset forgets them


@pytest.fixture
def ona(emulator: Emulator) -> Iterator[OnaClient]:
    """An admin client with fast back-off, so retry tests stay quick."""
    client = OnaClient(
        emulator.admin_key,
        base_url=emulator.base_url,
        organization_id=emulator.organization_id,
        backoff_base=0.01,
        backoff_max=0.05,
    )
    yield client
    client.close()


@pytest.fixture(scope="session")
def _fake_slack() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    yield fake
    fake.stop()


@pytest.fixture
def slack(_fake_slack: FakeSlack) -> Iterator[FakeSlack]:
    """The fake Slack Web API, emptied for each test. Afterwards, every message and view the bot sent
    must be valid Block Kit within Slack's limits (checked with slack-sdk's own models)."""
    _fake_slack.reset()
    yield _fake_slack
    calls = list(_fake_slack.calls)
    ARCHIVE.archive_slack(calls)
    for call in calls:
        check_call(call.method, call.args)


@pytest.fixture
def bot(emulator: Emulator, slack: FakeSlack) -> Iterator[BotHarness]:
    """The real Bolt app behind a loopback HTTP server, wired to the fake Slack and the emulator."""
    harness = make_harness(emulator, slack)
    yield harness
    harness.close()



@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """One real PostgreSQL server for the session (initdb + postgres on a free loopback port). Missing
    binaries fail the tests that need it (PostgresMissing), never skip them."""
    server = PgServer().start()
    try:
        server.migrate_template()
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def db_location(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Where a test's database is, on each backend: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path_factory.mktemp("db") / "bot.db")
    return request.getfixturevalue("pg_server").new_database()
