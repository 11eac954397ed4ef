"""Two `ona-bot serve` replicas on one PostgreSQL database, as behind a load balancer: Slack's requests
spread over both are acted on once, and when one replica is killed (SIGKILL) the other settles its
work: its sweeper takes the lease the dead one held."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bot.approvals import audit_trail
from bot.approvals.backends import open_store
from bot.approvals.model import FINAL
from bot.localslack import FakeSlack, SlackPayloads
from tests.dbutil import PG_AUDIT_KEY, keys_for, run_sql
from tests.harness import APPROVAL_POLICY, APPROVALS_CHANNEL, buttons, wait_until
from tests.pgserver import PgServer, _free_port

SECRET = "replica-signing-secret"
PAYLOADS = SlackPayloads(SECRET)


@dataclass
class Replica:
    proc: subprocess.Popen[str]
    url: str

    def post(self, body: str, headers: dict[str, str]) -> int:
        return httpx.post(f"{self.url}/slack/events", content=body, headers=headers, timeout=10).status_code

    def kill(self) -> None:
        """SIGKILL to gunicorn's master and its worker at once: a crash, nothing shuts down cleanly."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)


class Cluster:
    def __init__(self, emulator, slack: FakeSlack, db: str, tmp_path: Path) -> None:
        policy = tmp_path / "policy.toml"
        policy.write_text(APPROVAL_POLICY)
        self.db = db
        self.tmp_path = tmp_path
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "ONA_", "GITPOD_"))}
        self.env.update({
            "SLACK_BOT_TOKEN": "xoxb-replica", "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": slack.url + "/api",
            "ONA_API_KEY": emulator.admin_key, "ONA_BASE_URL": emulator.base_url,
            "ONA_ORGANIZATION_ID": emulator.organization_id, "ONA_BOT_DB": db, **keys_for(db),
            "ONA_BOT_APPROVALS_CHANNEL": APPROVALS_CHANNEL, "ONA_BOT_POLICY_FILE": str(policy),
            "ONA_BOT_SWEEP_SECONDS": "0.3", "ONA_BOT_AUDIT_CHECKPOINT": "0",
        })
        self.replicas: list[Replica] = []

    def start(self) -> Replica:
        port = _free_port()
        log = open(self.tmp_path / f"replica-{port}.log", "w")  # noqa: SIM115 - the process writes it until it ends
        proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
                                env=self.env, cwd=self.tmp_path, stdout=log, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
        replica = Replica(proc, f"http://127.0.0.1:{port}")
        self.replicas.append(replica)

        def healthy() -> bool:
            assert proc.poll() is None, (self.tmp_path / f"replica-{port}.log").read_text()[-3000:]
            try:
                return httpx.get(f"{replica.url}/healthz", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(healthy, timeout=60, what="a replica to become healthy")
        return replica

    def stop(self) -> None:
        for replica in self.replicas:
            if replica.proc.poll() is None:
                os.killpg(replica.proc.pid, signal.SIGTERM)
                try:
                    replica.proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    replica.kill()

    def logs(self) -> str:
        return "".join(p.read_text() for p in sorted(self.tmp_path.glob("replica-*.log")))


@pytest.fixture
def cluster(emulator, slack: FakeSlack, pg_server: PgServer, tmp_path: Path) -> Iterator[Cluster]:
    emulator.state.banner.enabled = True  # the sample change is `banner off`: it must change something
    cluster = Cluster(emulator, slack, pg_server.new_database(), tmp_path)
    yield cluster
    cluster.stop()
    logs = cluster.logs()
    assert PG_AUDIT_KEY not in logs
    assert "Traceback" not in logs, logs[logs.index("Traceback") - 2000:][:5000]


def request_banner(replica: Replica, slack: FakeSlack, text: str, n: int) -> dict:
    """Alice asks for a change through `replica`; the approval message it posts, once its place is recorded."""
    body, headers = PAYLOADS.slash_command(f"{text} reason: maintenance {n}", user_id="U0ALICE",
                                           response_url=slack.response_url(f"ask{n}"))
    assert replica.post(body, headers) == 200
    posted = slack.wait_for("chat.postMessage", lambda a: a.get("channel") == APPROVALS_CHANNEL, count=n + 1,
                            timeout=20)[n]
    return posted


def states(db: str) -> list[str]:
    return [r["state"] for r in run_sql(db, "SELECT state FROM requests ORDER BY created_at")]


def actions(db: str, action: str) -> int:
    return len(run_sql(db, "SELECT seq FROM audit WHERE action = ?", (action,)))


def test_fifty_approve_clicks_spread_over_two_replicas_execute_once(cluster: Cluster, slack: FakeSlack,
                                                                     emulator) -> None:
    replicas = [cluster.start(), cluster.start()]
    posted = request_banner(replicas[0], slack, "banner off", 0)
    wait_until(lambda: run_sql(cluster.db, "SELECT ts FROM requests WHERE ts IS NOT NULL"),
               what="the message's place recorded")
    value = buttons(posted)["approval:approve"]["value"]

    def click(i: int) -> int:
        body, headers = PAYLOADS.block_action(user_id="U0BOB", action_id="approval:approve", value=value,
                                              channel_id=APPROVALS_CHANNEL, response_url=slack.response_url(f"c{i}"))
        return replicas[i % 2].post(body, headers)

    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = list(pool.map(click, range(50)))
    assert set(statuses) == {200}, statuses
    wait_until(lambda: states(cluster.db) == ["succeeded"], timeout=30, what="the change to run")
    # (Not every click gets a reply: past a person's burst each replica says "busy" a bounded number of times.)
    assert len(emulator.calls("UpdateAnnouncementBanner")) == 1 and emulator.state.banner.enabled is False
    trail = [(r["action"], r["outcome"]) for r in run_sql(cluster.db, "SELECT action, outcome FROM audit ORDER BY seq")]
    assert actions(cluster.db, "execute") == 1 and actions(cluster.db, "vote") == 1, trail
    store = open_store(cluster.db, audit_key=PG_AUDIT_KEY)
    try:
        assert audit_trail.verify(store)[0]
    finally:
        store.close()


def test_a_replica_killed_mid_execution_is_settled_by_the_other(cluster: Cluster, slack: FakeSlack,
                                                                emulator) -> None:
    first = cluster.start()
    holder = wait_until(lambda: run_sql(cluster.db, "SELECT holder FROM leases"), what="a replica to take the lease")
    second = cluster.start()
    assert run_sql(cluster.db, "SELECT holder FROM leases") == holder  # the first one still sweeps
    posts = [request_banner(first, slack, f"banner on Burst {n}", n) for n in range(4)]
    wait_until(lambda: len(run_sql(cluster.db, "SELECT ts FROM requests WHERE ts IS NOT NULL")) == 4,
               what="the messages' places recorded")
    # Ona takes its time with the change, so the first replica is caught while its call is on the wire.
    emulator.inject_fault("UpdateAnnouncementBanner", code=None, delay=1.0, times=10_000)
    for n, posted in enumerate(posts):
        body, headers = PAYLOADS.block_action(user_id="U0BOB", action_id="approval:approve",
                                              value=buttons(posted)["approval:approve"]["value"],
                                              channel_id=APPROVALS_CHANNEL, response_url=slack.response_url(f"a{n}"))
        assert (first if n < 2 else second).post(body, headers) == 200
    mine = tuple(json.loads(buttons(p)["approval:approve"]["value"])["id"] for p in posts[:2])
    wait_until(lambda: run_sql(cluster.db, "SELECT id FROM requests WHERE state = 'executing' AND id IN (?, ?)", mine),
               what="the first replica's execution under way")
    first.kill()
    # What the dead replica left `approved` or `executing` may be settled only minutes later (by the
    # database's clock), as it could belong to a live replica: those minutes pass.
    run_sql(cluster.db, "UPDATE requests SET updated_at = updated_at - 900 WHERE state IN ('approved', 'executing') "
                        "AND id IN (?, ?)", mine)
    wait_until(lambda: set(states(cluster.db)) <= FINAL, timeout=30, what="every request settled by the survivor")
    after = run_sql(cluster.db, "SELECT holder FROM leases")
    assert after != holder and after[0]["holder"].split(":")[1] != holder[0]["holder"].split(":")[1]
    sent: dict[str, int] = {}
    for call in emulator.calls("UpdateAnnouncementBanner"):
        sent[call.get("message", "")] = sent.get(call.get("message", ""), 0) + 1
    assert all(count == 1 for count in sent.values()), sent  # no change reached Ona twice
    assert actions(cluster.db, "request") == 4 and states(cluster.db).count("succeeded") >= 1
    body, headers = PAYLOADS.slash_command("banner", user_id="U0ALICE", response_url=slack.response_url("alive"))
    assert second.post(body, headers) == 200  # the survivor still answers
    slack.wait_for("response_url", lambda a: a["_url"].endswith("/alive"))


def test_serve_refuses_postgres_without_keys(emulator, slack: FakeSlack, pg_server: PgServer, tmp_path: Path) -> None:
    url = pg_server.new_database().replace("postgres@", "postgres:pw-must-not-show@")
    cluster = Cluster(emulator, slack, url, tmp_path)
    env = {k: v for k, v in cluster.env.items() if k not in ("ONA_BOT_AUDIT_KEY", "ONA_BOT_SEAL_KEY")}
    result = subprocess.run([sys.executable, "-m", "bot.cli", "serve", "--port", str(_free_port())], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "ONA_BOT_AUDIT_KEY and ONA_BOT_SEAL_KEY must be set" in result.stderr
    assert "pw-must-not-show" not in result.stderr


@pytest.fixture(scope="module")
def own_server() -> Iterator[PgServer]:
    """A server of this module's own, to restart without disturbing the other tests."""
    server = PgServer().start()
    yield server
    server.stop()


def advisory_locks(db: str) -> int:
    return run_sql(db, "SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory'")[0]["n"]


def test_postgres_restarted_under_two_replicas_they_say_try_again_then_carry_on(
        emulator, slack: FakeSlack, own_server: PgServer, tmp_path: Path) -> None:
    emulator.state.banner.enabled = True
    cluster = Cluster(emulator, slack, own_server.new_database(), tmp_path)
    try:
        replicas = [cluster.start(), cluster.start()]
        wait_until(lambda: advisory_locks(cluster.db) == 1, what="one replica holding the sweeper's lease")
        posted = request_banner(replicas[0], slack, "banner off", 0)
        wait_until(lambda: run_sql(cluster.db, "SELECT ts FROM requests WHERE ts IS NOT NULL"),
                   what="the message's place recorded")
        value = buttons(posted)["approval:approve"]["value"]

        def click(replica: Replica, name: str) -> None:
            body, headers = PAYLOADS.block_action(user_id="U0BOB", action_id="approval:approve", value=value,
                                                  channel_id=APPROVALS_CHANNEL, response_url=slack.response_url(name))
            assert replica.post(body, headers) == 200

        own_server.stop_server()
        click(replicas[1], "down")
        told = slack.wait_for("response_url", lambda a: a["_url"].endswith("/down"))[-1]
        assert "try again" in told["text"]
        body, headers = PAYLOADS.slash_command("banner on Later reason: x", user_id="U0ALICE",
                                               response_url=slack.response_url("typed"))
        answer = httpx.post(f"{replicas[0].url}/slack/events", content=body, headers=headers, timeout=10)
        assert "try again" in answer.json()["text"]
        assert emulator.calls("UpdateAnnouncementBanner") == []

        own_server.start_server()  # neither replica restarts
        tries = 0

        def approved() -> bool:
            """Bob clicks again each time he was told to try again, on one replica then the other."""
            nonlocal tries
            if states(cluster.db) == ["pending"] and slack.calls_to("response_url")[-1]["_url"].endswith(
                    f"/again{tries}" if tries else "/down"):
                tries += 1
                click(replicas[tries % 2], f"again{tries}")
            return states(cluster.db) == ["succeeded"]

        wait_until(approved, timeout=30, what="a click to go through once the server is back")
        assert len(emulator.calls("UpdateAnnouncementBanner")) == 1 and actions(cluster.db, "execute") == 1
        wait_until(lambda: advisory_locks(cluster.db) == 1, timeout=30, what="a replica to sweep again")
    finally:
        cluster.stop()
    assert "Traceback" not in cluster.logs(), cluster.logs()[-5000:]
