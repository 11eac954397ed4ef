"""What the flow relies on from any store, checked on both backends (SQLite file, real PostgreSQL server)
with several store objects on one database, as several replicas have: compare-and-set transitions,
claims acted on once, an audit chain that never forks, secrets taken once, and one lease holder."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from bot.approvals import audit_trail
from bot.approvals.backends import open_store
from bot.approvals.model import (
    APPROVED,
    DENIED,
    PENDING,
    SUCCEEDED,
    BannerWindow,
    Request,
    RequestState,
    Undo,
    new_request_id,
)
from bot.approvals.store import RequestStore
from tests.dbutil import PG_AUDIT_KEY, run_sql
from tests.harness import wait_until


@pytest.fixture
def stores(db_location: str) -> Iterator[Callable[[], RequestStore]]:
    """Open another store on the test's database (another replica); all are closed at the end."""
    opened: list[RequestStore] = []

    def another() -> RequestStore:
        opened.append(open_store(db_location, audit_key=PG_AUDIT_KEY))
        return opened[-1]

    yield another
    for store in opened:
        store.close()


def new_request(**fields: Any) -> Request:
    now = time.time()
    values: dict[str, Any] = {
        "id": new_request_id(), "operation": "banner.update", "policy_key": "banner.update",
        "params": {"enabled": False}, "before": {"enabled": True}, "after": {"enabled": False}, "hash": "h" * 64,
        "state": PENDING, "requester_team": "T0ACME", "requester_id": "U0ALICE", "requester_email": None,
        "reason": "tidy", "approvals_needed": 1, "approvers": ["ona:admins"], "created_at": now,
        "expires_at": now + 3600, "origin": {"channel": "C0OPS"}, **fields}
    return Request(**values)


def race(n: int, fn: Callable[[int], Any]) -> list[Any]:
    """`fn(i)` from n threads released at once."""
    start = threading.Barrier(n)

    def run(i: int) -> Any:
        start.wait()
        return fn(i)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))


def test_a_request_reads_back_as_written_and_one_transition_of_many_wins(stores) -> None:
    first, second = stores(), stores()
    request = new_request(channel="C0APPROVALS", ts="1.5")
    first.create(request)
    got = second.get(request.id)
    assert got is not None and got.params == {"enabled": False} and got.approvers == ["ona:admins"]
    assert got.state == RequestState.PENDING and got.ts == "1.5" and got.updated_at is not None
    replicas = [first, second]
    won = race(20, lambda i: replicas[i % 2].transition(request.id, PENDING, APPROVED, decided_by=f"U{i}"))
    winners = [r for r in won if r is not None]
    assert len(winners) == 1 and winners[0].state == APPROVED
    assert first.get(request.id).decided_by == winners[0].decided_by
    assert second.transition(request.id, {PENDING, APPROVED}, DENIED, note="no").state == DENIED
    assert [r.id for r in first.in_states("denied")] == [request.id] and first.in_states(PENDING) == []


def test_deliveries_votes_and_reminders_are_claimed_once_across_replicas(stores) -> None:
    replicas = [stores(), stores()]
    request = new_request(channel="C0APPROVALS", ts="1.0", created_at=time.time() - 3000, expires_at=time.time() + 600)
    replicas[0].create(request)
    assert sum(race(20, lambda i: replicas[i % 2].claim_delivery("trigger-1"))) == 1
    assert sum(race(20, lambda i: replicas[i % 2].add_vote(request.id, "U0BOB", "T0ACME", None))) == 1
    assert [v["approver_id"] for v in replicas[1].votes(request.id)] == ["U0BOB"]
    assert sum(race(10, lambda i: replicas[i % 2].claim_reminder(request.id))) == 1
    assert not replicas[0].claim_reminder(request.id)


def test_the_audit_chain_never_forks_under_concurrent_appends(stores) -> None:
    replicas = [stores(), stores(), stores()]
    race(30, lambda i: replicas[i % 3].audit(action="vote", user_id=f"U{i}", operation="banner.update",
                                            request_id="R1", outcome="approve"))
    rows = replicas[0].audit_rows()
    assert [r["seq"] for r in rows] == list(range(1, 31))
    assert len({r["prev_hash"] for r in rows}) == 30  # each row follows exactly one other
    ok, message = audit_trail.verify(replicas[1])
    assert ok, message
    assert str(replicas[2].audit_head()) == f"30:{rows[-1]['hash']}"
    assert [r["seq"] for r in replicas[0].audit_rows(last=2)] == [29, 30]


def test_a_kept_secret_is_taken_once(stores, db_location: str) -> None:
    replicas = [stores(), stores()]
    request = new_request(state=SUCCEEDED)
    replicas[0].create(request)
    now = time.time()
    assert replicas[0].keep_secret(request.id, "sealed-text", now + 60)
    assert [r.id for r in replicas[1].kept_secrets("U0ALICE", now)] == [request.id]
    assert replicas[1].take_secret(request.id, "U0BOB", now) is None  # only the requester
    taken = race(10, lambda i: replicas[i % 2].take_secret(request.id, "U0ALICE", now))
    assert [t for t in taken if t] == ["sealed-text"]
    assert replicas[0].keep_secret(request.id, "again", now - 1) and replicas[1].erase_lapsed_secrets(now) == 1
    assert run_sql(db_location, "SELECT sealed FROM requests") == [{"sealed": None}]


def test_the_last_change_is_timed_by_the_database_clock(stores, db_location: str) -> None:
    store = stores()
    request = new_request()
    store.create(request)
    assert store.unchanged_for(PENDING, 60) == []
    run_sql(db_location, "UPDATE requests SET updated_at = updated_at - 120")
    assert [r.id for r in store.unchanged_for(PENDING, 60)] == [request.id]
    moved = store.transition(request.id, PENDING, APPROVED)
    assert moved is not None and abs(moved.updated_at - time.time()) < 30


def test_one_replica_holds_the_lease_and_another_takes_it_when_that_one_is_gone(stores, db_location: str) -> None:
    first, second = stores(), stores()
    assert first.lease("sweeper", "first", ttl=0.5)
    assert first.lease("sweeper", "first", ttl=0.5)  # renewed by its holder
    assert not second.lease("sweeper", "second", ttl=0.5)
    assert run_sql(db_location, "SELECT holder FROM leases") == [{"holder": "first"}]
    first.close()  # the first replica died (its session ended; on SQLite, it stops renewing)
    wait_until(lambda: second.lease("sweeper", "second", ttl=0.5), what="the lease to move to the second replica")
    assert run_sql(db_location, "SELECT holder FROM leases") == [{"holder": "second"}]
    assert second.lease("sweeper", "second", ttl=0.5) and second.lease("other work", "second", ttl=0.5)



def test_banner_windows_are_stored_once_and_moved_by_one_replica(stores) -> None:
    first, second = stores(), stores()
    window = BannerWindow(id="W1", message="Planned maintenance", starts_at=100.0, ends_at=200.0,
                          notes_to="C0OPS", tz="Europe/Berlin", created_at=50.0)
    assert first.add_banner_window(window) is True and second.add_banner_window(window) is False
    assert second.banner_windows("scheduled") == [window] and first.banner_windows("on") == []
    replicas = [first, second]
    moved = race(10, lambda i: replicas[i % 2].move_banner_window("W1", {"scheduled"}, "on"))
    assert [m.state for m in moved if m is not None] == ["on"]
    ended = second.move_banner_window("W1", {"on"}, "done", ends_at=150.0)
    assert ended is not None and (ended.state, ended.ends_at) == ("done", 150.0)


def test_an_undo_is_taken_once_by_its_own_person(stores) -> None:
    first, second = stores(), stores()
    undo = Undo(id="U1", operation="banner.update", params={"enabled": True}, after={"enabled": False},
                team_id="T0ACME", user_id="U0ALICE", created_at=time.time())
    first.keep_undo(undo)
    assert second.take_undo("U1", "U0MALLORY") is None
    replicas = [first, second]
    taken = [u for u in race(10, lambda i: replicas[i % 2].take_undo("U1", "U0ALICE")) if u is not None]
    assert len(taken) == 1 and taken[0].params == {"enabled": True} and taken[0].after == {"enabled": False}


def test_approver_copies_are_kept_and_stale_ones_found(stores) -> None:
    first, second = stores(), stores()
    request = new_request(channel="C0APPROVALS", ts="1.5")
    first.create(request)
    first.add_copy(request.id, "U0BOB", "D0BOB", "2.5", PENDING)
    second.add_copy(request.id, "U0CAROL", "D0CAROL", "3.5", PENDING)
    assert [(c["user_id"], c["ts"]) for c in second.copies(request.id)] == [("U0BOB", "2.5"), ("U0CAROL", "3.5")]
    assert first.stale_copies() == []
    second.transition(request.id, PENDING, DENIED, note="no")
    assert [r.id for r in first.stale_copies()] == [request.id]
    first.mark_copy(request.id, "U0BOB", DENIED)
    second.mark_copy(request.id, "U0CAROL", DENIED)
    first.mark_copy(request.id, "U0BOB", PENDING)  # not the request's state (a late update): nothing recorded
    assert first.stale_copies() == [] and {c["shown_state"] for c in first.copies(request.id)} == {"denied"}
