"""ApprovalFlow alone: no Slack, no HTTP. A fake clock, a fake Ona (a dict behind the two functions an
Operation calls), a fake Directory (who is an admin), and the real store: a SQLite file, or a database on
the tests' PostgreSQL server.
The end-to-end tests (test_approvals.py and others) drive the same flow through Slack and the emulator."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from bot.approvals.backends import open_store
from bot.approvals.flow import ApprovalFlow
from bot.approvals.model import Request, RequestState
from bot.approvals.pg_store import PostgresStore
from bot.approvals.policy import ONA_ADMINS, Policy, Rule
from bot.approvals.sealing import Sealer
from bot.approvals.sqlite_store import SqliteStore
from bot.approvals.store import RequestStore
from bot.identity import Person
from bot.registry import Operation, Outcome, Refused
from tests.dbutil import PG_AUDIT_KEY

TEAM = "T0ACME"
ALICE = Person(TEAM, "U0ALICE", "alice@example.com", "Alice")
BOB = Person(TEAM, "U0BOB", "bob@example.com", "Bob")
CAROL = Person(TEAM, "U0CAROL", "carol@example.com", "Carol")
MALLORY = Person(TEAM, "U0MALLORY", "mallory@example.com", "Mallory")  # not an admin
TTL = 3600


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeOna:
    """The organization's banner, and every change applied to it."""

    def __init__(self) -> None:
        self.banner = {"enabled": True, "message": "hello"}
        self.applied: list[dict[str, Any]] = []


def _apply(ona: FakeOna, params: dict[str, Any]) -> Outcome:
    ona.applied.append(dict(params))
    ona.banner.update(params)
    return Outcome("*Banner* updated: <https://example.com|the page> &amp; more.")


BANNER = Operation(name="banner.update", title="Update the banner", apply=_apply,
                   read=lambda ona, params: {k: ona.banner[k] for k in params})


class FakeDirectory:
    """The Directory methods the flow calls: people, and who the principals admit."""

    def __init__(self, admins: set[str]) -> None:
        self.admins = admins
        self.people = {p.user_id: p for p in (ALICE, BOB, CAROL, MALLORY)}

    def person(self, team_id: str, user_id: str, *, fresh: bool = False) -> Person:
        return self.people[user_id]

    def matches(self, team_id: str, user_id: str, principals: tuple[str, ...], *, fresh: bool = False) -> str | None:
        if ONA_ADMINS in principals and user_id in self.admins:
            return ONA_ADMINS
        return user_id if user_id in principals else None

    def possible_approvers(self, principals: tuple[str, ...], requester: Person) -> int:
        return len(self.admins - {requester.user_id})

    def one_decision(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()


class Counting:
    """A store that counts reads of one request, and can let "another process" move a request between
    the flow's read and its compare-and-set."""

    location: str
    gets = 0
    cut_in: Any = None  # called once, just before the next transition

    def get(self, request_id: str) -> Request | None:
        self.gets += 1
        return super().get(request_id)  # type: ignore[misc]

    def transition(self, request_id: str, from_states: Any, to_state: Any, **fields: Any) -> Request | None:
        cut_in, self.cut_in = self.cut_in, None
        if cut_in:
            cut_in()
        return super().transition(request_id, from_states, to_state, **fields)  # type: ignore[misc]


class CountingSqlite(Counting, SqliteStore):
    pass


class CountingPostgres(Counting, PostgresStore):
    pass


CountingStore = CountingSqlite | CountingPostgres


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ona() -> FakeOna:
    return FakeOna()


@pytest.fixture
def store(db_location: str) -> Iterator[CountingStore]:
    store: CountingStore = (CountingPostgres(db_location, audit_key=PG_AUDIT_KEY) if db_location.startswith("postgresql:")
                            else CountingSqlite(db_location))
    store.location = db_location
    yield store
    store.close()


@pytest.fixture
def other_store(store: CountingStore) -> Iterator[RequestStore]:
    """The same database, opened by another process."""
    other = open_store(store.location, audit_key=PG_AUDIT_KEY)
    yield other
    other.close()


def make_flow(store: RequestStore, ona: FakeOna, clock: Clock, approvals: int = 1) -> ApprovalFlow:
    policy = Policy(defaults=Rule("*", approvals=approvals, ttl_seconds=TTL), operations={}, origin="test")
    return ApprovalFlow(store, policy, FakeDirectory({"U0ALICE", "U0BOB", "U0CAROL"}),  # type: ignore[arg-type]
                        {BANNER.name: BANNER}, ona, Sealer("k" * 64), clock=clock)  # type: ignore[arg-type]


@pytest.fixture
def flow(store: CountingStore, ona: FakeOna, clock: Clock) -> ApprovalFlow:
    return make_flow(store, ona, clock)


def open_request(flow: ApprovalFlow) -> Request:
    return flow.open(ALICE, "banner.update", {"enabled": False}, reason="quiet  week", origin={"channel": "C0OPS"})


def actions(store: RequestStore) -> list[tuple[str, str, str]]:
    return [(r["action"], r["user_id"], r["outcome"]) for r in store.audit_rows()]


def test_two_votes_execute_the_change_once(store: CountingStore, ona: FakeOna, clock: Clock) -> None:
    flow = make_flow(store, ona, clock, approvals=2)
    request = open_request(flow)
    assert request.before == {"enabled": True} and request.after == {"enabled": False}
    assert store.get(request.id).state == RequestState.PENDING and request.reason == "quiet week"

    first = flow.approve(request.id, BOB, request.hash)
    assert first.kind == "vote" and first.request.state == "pending" and ona.applied == []

    store.gets = 0
    second = flow.approve(request.id, CAROL, request.hash)
    assert second.request.state == RequestState.SUCCEEDED and second.request.decided_by == "U0CAROL"
    assert second.outcome is not None and [v["approver_id"] for v in second.votes] == ["U0BOB", "U0CAROL"]
    assert ona.applied == [{"enabled": False}] and ona.banner["enabled"] is False
    # One read of the request; every step after it works on the row its compare-and-set returned.
    assert store.gets == 1

    again = flow.approve(request.id, BOB, request.hash)
    assert again.kind == "already" and len(ona.applied) == 1
    # The database keeps the outcome's plain words, never Slack formatting; the views escape them.
    assert store.get(request.id).state == "succeeded"
    assert store.get(request.id).result == "Banner updated: the page & more." == second.message
    assert actions(store) == [("request", "U0ALICE", "pending"), ("vote", "U0BOB", "approve"),
                              ("vote", "U0CAROL", "approve"), ("execute", "U0CAROL", "succeeded")]


def test_the_requester_and_strangers_cannot_approve(flow: ApprovalFlow, store: RequestStore, ona: FakeOna) -> None:
    request = open_request(flow)
    for person in (ALICE, MALLORY):
        with pytest.raises(Refused):
            flow.approve(request.id, person, request.hash)
    with pytest.raises(Refused):
        flow.approve(request.id, BOB, "0" * 64)  # a button that does not match the request
    assert store.get(request.id).state == "pending" and ona.applied == [] and store.votes(request.id) == []


def test_deny_ends_the_request_and_nothing_runs(flow: ApprovalFlow, store: RequestStore, ona: FakeOna,
                                               clock: Clock) -> None:
    request = open_request(flow)
    clock.advance(60)
    decision = flow.deny(request.id, BOB, "not   this week")
    assert decision.kind == "denied" and decision.request.state == RequestState.DENIED
    assert decision.request.note == "not this week" and decision.request.decided_at == clock.now
    assert flow.approve(request.id, CAROL, request.hash).kind == "already"
    assert ona.applied == [] and store.get(request.id).state == "denied"


def test_only_the_requester_cancels(flow: ApprovalFlow, store: RequestStore, ona: FakeOna) -> None:
    request = open_request(flow)
    with pytest.raises(Refused):
        flow.cancel(request.id, BOB)
    decision = flow.cancel(request.id, ALICE)
    assert decision.kind == "cancelled" and decision.request.state == RequestState.CANCELLED
    assert decision.request.decided_by == "U0ALICE"
    assert flow.approve(request.id, BOB, request.hash).kind == "already" and ona.applied == []


def test_a_request_expires_by_the_clock(flow: ApprovalFlow, store: RequestStore, ona: FakeOna, clock: Clock) -> None:
    request = open_request(flow)
    clock.advance(TTL - 1)
    assert flow.overdue() == []
    clock.advance(1)
    assert [r.id for r in flow.overdue()] == [request.id]
    decision = flow.approve(request.id, BOB, request.hash)
    assert decision.kind == "expired" and decision.request.state == RequestState.EXPIRED
    assert ona.applied == [] and flow.overdue() == []
    assert ("expire", "system", "expired") in actions(store)


def test_conflict_when_ona_changed_since_the_request(flow: ApprovalFlow, store: RequestStore, ona: FakeOna) -> None:
    request = open_request(flow)
    ona.banner["enabled"] = False  # someone changed it in Ona meanwhile
    decision = flow.approve(request.id, BOB, request.hash)
    assert decision.kind == "conflict" and decision.request.state == RequestState.CONFLICT
    assert decision.request.note == "Ona changed after the request" and ona.applied == []


def test_a_decision_landing_first_elsewhere_wins_cleanly(flow: ApprovalFlow, store: CountingStore,
                                                        other_store: RequestStore, ona: FakeOna, clock: Clock) -> None:
    """Carol's deny, in another process, lands between Bob's read and his compare-and-set."""
    request = open_request(flow)
    other = make_flow(other_store, ona, clock)
    store.cut_in = lambda: other.deny(request.id, CAROL, "no")
    decision = flow.approve(request.id, BOB, request.hash)
    assert decision.kind == "already" and decision.request.state == RequestState.DENIED
    assert decision.request.decided_by == "U0CAROL" and ona.applied == []
    assert [a for a, _, _ in actions(store)] == ["request", "vote", "deny"]


def test_an_approved_request_runs_once_whoever_resumes_it(flow: ApprovalFlow, store: CountingStore,
                                                         other_store: RequestStore, ona: FakeOna, clock: Clock) -> None:
    """Two processes both pick up an approved request (as after a crash): one executes, one does not."""
    request = open_request(flow)
    approved = store.transition(request.id, RequestState.PENDING, RequestState.APPROVED, decided_by="U0BOB")
    store.add_vote(request.id, BOB.user_id, TEAM, BOB.email)
    other = make_flow(other_store, ona, clock)
    store.cut_in = lambda: other.execute(approved, BOB)
    decision = flow.execute(approved, BOB)
    assert decision.kind == "already" and decision.request.state == RequestState.SUCCEEDED
    assert ona.applied == [{"enabled": False}]
    assert [a for a, _, _ in actions(store)].count("execute") == 1
