"""Two `ona-bot run` replicas on one database, connected to one Socket Mode server: Slack spreads the
deliveries over the open connections, a delivery that reaches both is acted on once, and when one
replica dies the other keeps answering."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.localslack import FakeSlack, SlackPayloads
from tests.dbutil import keys_for
from tests.harness import message_text, wait_until
from tests.socketmode import SECRET, SocketModeServer, launch_run


@dataclass
class Replicas:
    sockets: SocketModeServer
    slack: FakeSlack
    payloads: SlackPayloads
    procs: list[subprocess.Popen[str]]


@pytest.fixture
def replicas(emulator, slack: FakeSlack, tmp_path: Path, db_location: str) -> Iterator[Replicas]:
    """Two replicas on one database: a SQLite file on this host, or a real PostgreSQL server."""
    sockets = SocketModeServer().start()
    slack.socket_mode_url = sockets.url
    procs = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        procs.append(launch_run(emulator, slack, tmp_path / name, db=db_location, **keys_for(db_location)))
    try:
        try:
            sockets.wait_connected(2)
        except AssertionError:
            for proc in procs:
                proc.terminate()
            raise AssertionError("the replicas never both connected:\n" + "\n".join(
                p.communicate(timeout=30)[1] for p in procs)) from None
        yield Replicas(sockets, slack, SlackPayloads(SECRET), procs)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=30)
        sockets.stop()


def replies_to(slack: FakeSlack, name: str) -> list[dict]:
    return [a for a in slack.calls_to("response_url") if a["_url"] == f"/response/{name}"]


def test_deliveries_are_spread_over_both_replicas_and_each_is_answered_once(replicas: Replicas) -> None:
    names = [f"spread{i}" for i in range(10)]
    envelopes = []
    for name in names:  # the server hands envelopes to the two connections in turn
        body, _ = replicas.payloads.slash_command("help", user_id="U0ALICE",
                                                  response_url=replicas.slack.response_url(name))
        envelopes.append(replicas.sockets.slash_command(body))
    for envelope in envelopes:
        replicas.sockets.wait_ack(envelope)
    wait_until(lambda: all(replies_to(replicas.slack, n) for n in names), what="every answer")
    assert [len(replies_to(replicas.slack, n)) for n in names] == [1] * 10


def test_a_delivery_that_reaches_both_replicas_changes_ona_once(replicas: Replicas, emulator) -> None:
    emulator.state.banner.enabled = True
    body, _ = replicas.payloads.block_action(user_id="U0ALICE", action_id="banner:off",
                                             response_url=replicas.slack.response_url("dup"))
    # The same delivery (one trigger_id) on each connection, as a Slack retry after a slow ack can land.
    first, second = replicas.sockets.interactive(body), replicas.sockets.interactive(body)
    replicas.sockets.wait_ack(first)
    replicas.sockets.wait_ack(second)
    wait_until(lambda: emulator.calls("UpdateAnnouncementBanner"), what="the banner change")
    # A later, distinct command on each replica: once both are answered, a duplicate would have run too.
    markers = []
    for name in ("after-a", "after-b"):
        marker, _ = replicas.payloads.slash_command("banner", user_id="U0ALICE",
                                                    response_url=replicas.slack.response_url(name))
        markers.append(replicas.sockets.slash_command(marker))
    wait_until(lambda: all(replies_to(replicas.slack, n) for n in ("after-a", "after-b")), what="the markers")
    assert len(emulator.calls("UpdateAnnouncementBanner")) == 1
    assert len(replies_to(replicas.slack, "dup")) == 1
    assert "now *off*" in message_text(replies_to(replicas.slack, "dup")[0])


def test_when_one_replica_is_killed_the_other_keeps_answering(replicas: Replicas, emulator) -> None:
    replicas.procs[0].send_signal(signal.SIGKILL)
    replicas.procs[0].wait(timeout=30)
    # Slack drops a dead connection and sends everything over the ones still open.
    wait_until(lambda: len(replicas.sockets.connections) == 1, what="the dead replica's connection to close")
    emulator.state.banner.enabled = True
    emulator.state.banner.message = "Still here"
    names = [f"survivor{i}" for i in range(4)]
    for name in names:
        body, _ = replicas.payloads.slash_command("banner", user_id="U0ALICE",
                                                  response_url=replicas.slack.response_url(name))
        replicas.sockets.wait_ack(replicas.sockets.slash_command(body))
    wait_until(lambda: all(replies_to(replicas.slack, n) for n in names), what="the survivor's answers")
    assert all("Still here" in json.dumps(replies_to(replicas.slack, n)) for n in names)
