"""The approval state machine: request, vote, execute exactly once, deny, cancel, expire, reconcile.

    draft → pending → approved → executing → succeeded | failed
            pending → denied | expired | cancelled;   executing → conflict (Ona changed meanwhile)

No Slack here: the service (service.py) renders and posts. Every transition is a compare-and-set in
the store, so concurrent clicks, Slack retries and other processes lose cleanly.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NoReturn

from bot import usertext
from bot.approvals.gate import Gate
from bot.approvals.model import (
    APPROVED,
    CANCELLED,
    CONFLICT,
    DENIED,
    DRAFT,
    EXECUTING,
    EXPIRED,
    FAILED,
    NOT_APPLIED,
    OUTCOME_UNKNOWN,
    PENDING,
    SUCCEEDED,
    Request,
    canonical,
    expected_after,
    new_request_id,
    redact,
    request_hash,
    sha256,
    split_secrets,
)
from bot.approvals.policy import Policy, Rule
from bot.approvals.sealing import Sealer
from bot.approvals.store import RequestStore, StoreUnavailable
from bot.identity import Directory, Person, one_decision
from bot.logs import bind
from bot.ona.client import OnaClient
from bot.ona.errors import OnaError, unknown_outcome
from bot.registry import Operation, Outcome, Refused

log = logging.getLogger("ona.approvals")




class Kind(StrEnum):
    """What a click did."""

    VOTE = "vote"
    EXECUTED = "executed"
    ALREADY = "already"  # decided before (the request's state says how)
    CONFLICT = "conflict"
    EXPIRED = "expired"
    DENIED = "denied"
    CANCELLED = "cancelled"


@dataclass
class Decision:
    """What a click did, as data, for the service to render (views.py)."""

    request: Request
    kind: Kind
    message: str = ""  # plain words, no Slack formatting
    outcome: Outcome | None = None
    votes: list[dict[str, Any]] = field(default_factory=list)


# Longer than any execution can take (the client's timeouts and retries are well under it): a request
# `executing` for longer was left by a process that died.
RECONCILE_GRACE = 300.0
WITNESS = "witness"  # the key of an operation's witness in "before" (see registry.Operation)

UNSEALABLE = ("Not run: the secret given with this request can no longer be read by the bot (its seal key "
              "was changed). Nothing was changed; please ask again.")

SYSTEM = Person(team_id="", user_id="system", email=None, name="ona-bot")


class ApprovalFlow:
    def __init__(self, store: RequestStore, policy: Policy, directory: Directory, operations: dict[str, Operation],
                 ona: OnaClient, sealer: Sealer, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.policy = policy
        self.directory = directory
        self.operations = operations
        self.ona = ona
        self.sealer = sealer
        self.clock = clock
        self.gate = Gate(directory, policy, store)

    # --- rules ----------------------------------------------------------------------------------

    def rule_for(self, operation: str, params: dict[str, Any]) -> Rule:
        op = self.operations[operation]
        return self.policy.rule(op.policy_key(params) if op.policy_key else operation)

    def target(self, op: Operation) -> Any:
        """What an operation changes: Ona, or (a local one, like a banner window) the bot's own store."""
        return self.store if op.local else self.ona

    # --- the lifecycle --------------------------------------------------------------------------

    def read_before(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        """Ona's state of what the change touches, and its witness: what recognising later that it ran
        needs. The witness is the same in the expected "after", so a diff never shows it."""
        op = self.operations[operation]
        before = op.read(self.target(op), params) if op.read else {}
        if op.witness:
            before[WITNESS] = op.witness(self.ona, params)
        return before

    def ran(self, request: Request) -> bool | None:
        """After a crash: did the request's change run? True, False, or None when Ona's state cannot tell."""
        op = self.operations[request.operation]
        if op.ran:
            return op.ran(self.ona, request.params, request.before)
        if canonical(request.before) == canonical(request.after):
            return None  # it changes nothing Ona shows (a secret, a new token, a new link)
        now = self.read_before(request.operation, request.params)
        if canonical(now) == canonical(request.after):
            return True
        if canonical(now) == canonical(request.before):
            return False
        return None  # neither: changed by someone else since

    @one_decision
    def open(self, actor: Person, operation: str, params: dict[str, Any], *, reason: str,
             origin: dict[str, Any], draft: bool = False) -> Request:
        """Record a request (or a draft waiting for its reason), with "before" as Ona has it now."""
        op = self.operations[operation]
        rule = self.rule_for(operation, params)
        self.gate.check_requester(actor, rule)
        public, secret = split_secrets(op.secret_params, params)
        before = self.read_before(operation, params)
        now = self.clock()
        request_id = new_request_id()
        request = Request(
            id=request_id, operation=operation, policy_key=rule.operation, params=public, before=before,
            after=expected_after(public, before),
            hash=request_hash(request_id, operation, public, before, usertext.one_paragraph(reason)),
            state=DRAFT if draft else PENDING, requester_team=actor.team_id, requester_id=actor.user_id,
            requester_email=actor.email, reason=usertext.one_paragraph(reason), approvals_needed=rule.approvals,
            approvers=list(rule.approvers), created_at=now, expires_at=now + rule.ttl_seconds, origin=origin,
            sealed=self.sealer.seal(secret) if secret else None,
        )
        self.store.create(request)
        bind(request_id=request.id, operation=operation)  # this work's log lines name the request from now on
        if not draft:
            self._audit("request", actor, request, outcome="pending")
        return request

    def submit_draft(self, request_id: str, actor: Person, reason: str) -> Request:
        request = self._get(request_id, actor)
        if request.requester_id != actor.user_id:
            self._refuse(actor, request, "Only the requester can complete this request.")
        reason = usertext.one_paragraph(reason)
        # The Approve button's hash binds what approvers read, the reason included.
        bound = request_hash(request.id, request.operation, request.params, request.before, reason)
        if not (request := self.store.transition(request_id, DRAFT, PENDING, reason=reason, hash=bound)):
            raise Refused("This request was already submitted or has expired.")
        self._audit("request", actor, request, outcome="pending")
        return request

    @one_decision
    def approve(self, request_id: str, actor: Person, claimed_hash: str) -> Decision:
        request = self._get(request_id, actor)
        if claimed_hash != request.hash:
            self._refuse(actor, request, "This button does not match the request. Nothing was done.",
                         why="tampered approval (hash mismatch)")
        if request.state != PENDING:
            return self._already(request)
        if self.clock() >= request.expires_at:
            return self.expire(request)
        self._check_approver_audited(request, actor)
        if self.store.add_vote(request_id, actor.user_id, actor.team_id, actor.email):
            self._audit("vote", actor, request, outcome="approve")
        votes = self.gate.valid_votes(request)
        if len(votes) < request.approvals_needed:
            return Decision(request, Kind.VOTE, votes=votes,
                            message=f"{len(votes)} of {request.approvals_needed} approvals")
        if not (approved := self.store.transition(request_id, PENDING, APPROVED, decided_by=actor.user_id,
                                                  decided_at=self.clock())):
            return self._already(self._get(request_id))
        return self.execute(approved, actor, votes)

    @one_decision
    def execute(self, request: Request, actor: Person, votes: list[dict[str, Any]] | None = None) -> Decision:
        """Run the change once: approved → executing is the single winner's ticket."""
        votes = votes if votes is not None else self.store.votes(request.id)
        if self.clock() >= request.expires_at:
            moved = self.store.transition(request.id, APPROVED, EXPIRED,
                                          note="approved too late to run before expiry")
            self._audit("expire", actor, request, outcome="lapsed before execution")
            return Decision(moved or self._get(request.id), Kind.EXPIRED, "The request expired before it could run.")
        if not self.store.transition(request.id, APPROVED, EXECUTING):
            return self._already(self._get(request.id))
        op = self.operations[request.operation]
        try:
            secret = self.sealer.unseal(request.sealed) if request.sealed else {}
        except ValueError:  # sealed under a key no longer at hand: fail now, never stay `executing`
            log.error("request %s: its sealed secret opens with none of the seal keys (set ONA_BOT_SEAL_OLD_KEYS "
                      "to the previous ONA_BOT_SEAL_KEY, or restore the .seal-key file)", request.id)
            moved = self.store.transition(request.id, EXECUTING, FAILED, result=UNSEALABLE, sealed=None)
            self._audit("execute", actor, request, outcome="not run: sealed secret cannot be opened")
            return Decision(moved or self._get(request.id), Kind.EXECUTED, UNSEALABLE, votes=votes)
        revoked = self.gate.revoked(request)
        if revoked:  # who asked, or who approved, is no longer allowed to: nothing runs
            moved = self.store.transition(request.id, EXECUTING, FAILED, result=revoked, sealed=None)
            self._audit("execute", actor, request, outcome=f"not run: {revoked}"[:300])
            return Decision(moved or self._get(request.id), Kind.EXECUTED, revoked, votes=votes)
        try:
            now = self.read_before(request.operation, request.params)
        except OnaError as exc:
            text = ("Not run: Ona could not be read to check that nothing changed since the request. "
                    "Nothing was changed; ask again later.")
            moved = self.store.transition(request.id, EXECUTING, FAILED, result=text, sealed=None)
            self._audit("execute", actor, request, outcome=f"failed: could not re-read Ona ({exc.code})")
            return Decision(moved or self._get(request.id), Kind.EXECUTED, text, votes=votes)
        if canonical(now) != canonical(request.before):
            moved = self.store.transition(request.id, EXECUTING, CONFLICT,
                                          note="Ona changed after the request")
            self._audit("execute", actor, request, outcome="conflict: Ona changed since the request")
            return Decision(moved or self._get(request.id), Kind.CONFLICT,
                            "Ona changed since the request was made, so it was not run. Please ask again.")
        params = {**request.params, **secret}
        try:
            outcome = op.apply(self.target(op), params)
        except OnaError as exc:
            # Only an answer that proves Ona did not act says so; anything else (a timeout, a gateway's
            # 502/503/504, `unavailable`, `deadline_exceeded`) leaves the outcome unknown, with what to check.
            unknown = exc.may_have_applied
            result = (unknown_outcome(exc, op.check) if unknown
                      else f"Nothing was changed: {exc.user_message}")[:500]
            if not (failed := self.store.transition(request.id, EXECUTING, FAILED, result=result, sealed=None,
                                                    note=OUTCOME_UNKNOWN if unknown else None)):
                return self._already(self._get(request.id))
            self._audit("execute", actor, request, outcome=f"failed: {exc.code}" + (" (may have applied)"
                                                                                   if unknown else ""))
            return Decision(failed, Kind.EXECUTED,
                            f"Outcome unknown. {result}" if unknown else f"Not done. {result}",
                            votes=votes)
        secret_hash = sha256(outcome.secret) if outcome.secret else None
        if not (succeeded := self.store.transition(request.id, EXECUTING, SUCCEEDED, result=outcome.plain[:500],
                                                   secret_sha256=secret_hash, sealed=None)):
            # Another process settled it meanwhile (a restart's reconcile): say what the store says.
            return self._already(self._get(request.id))
        self._audit("execute", actor, request, outcome="succeeded")
        return Decision(succeeded, Kind.EXECUTED, outcome.plain, outcome=outcome, votes=votes)

    @one_decision
    def deny(self, request_id: str, actor: Person, reason: str) -> Decision:
        request = self._get(request_id, actor)
        if request.state != PENDING:
            return self._already(request)
        if actor.user_id == request.requester_id:
            self._refuse(actor, request, "To withdraw your own request, cancel it.")
        self._check_approver_audited(request, actor)
        reason = usertext.one_paragraph(reason)
        if not (denied := self.store.transition(request_id, PENDING, DENIED, decided_by=actor.user_id,
                                                decided_at=self.clock(), note=reason, sealed=None)):
            return self._already(self._get(request_id))
        self._audit("deny", actor, request, outcome=f"denied: {reason}"[:300])
        return Decision(denied, Kind.DENIED, reason)

    def cancel(self, request_id: str, actor: Person) -> Decision:
        request = self._get(request_id, actor)
        if actor.user_id != request.requester_id:
            self._refuse(actor, request, "Only the requester can cancel a request.")
        if not (cancelled := self.store.transition(request_id, {PENDING, DRAFT}, CANCELLED,
                                                   decided_by=actor.user_id, decided_at=self.clock(), sealed=None)):
            return self._already(self._get(request_id))
        self._audit("cancel", actor, request, outcome="cancelled")
        return Decision(cancelled, Kind.CANCELLED)

    def expire(self, request: Request) -> Decision:
        if expired := self.store.transition(request.id, {PENDING, DRAFT, APPROVED}, EXPIRED,
                                            decided_at=self.clock(), sealed=None):
            self._audit("expire", None, request, outcome="expired")
        return Decision(expired or self._get(request.id), Kind.EXPIRED, "This request expired.")

    def overdue(self) -> list[Request]:
        return self.store.overdue(self.clock())

    def resume_approved(self, older_than: float = 60.0) -> list[Decision]:
        """Run approvals whose executor died between `approved` and `executing` (the CAS keeps it once).
        Their age is by the database's clock, as every process sharing it sees the same (point 8)."""
        return [self.execute(r, SYSTEM) for r in self.store.unchanged_for(APPROVED, older_than)]

    def reconcile(self, grace: float = RECONCILE_GRACE) -> list[Request]:
        """After a crash: a request left `executing` for longer than any execution takes is settled by
        asking Ona whether it ran (each operation says how to tell), never run again. Where Ona's state
        cannot tell, it ends "outcome unknown" and says what to check: never a guess. (A younger one may
        still be running in a live process: its age is by the database's clock, not this process's.)"""
        settled = []
        for request in self.store.unchanged_for(EXECUTING, grace):
            op = self.operations[request.operation]
            try:
                ran = self.ran(request)
            except OnaError:
                continue  # Ona unreachable: try at the next start or sweep
            if ran:
                lost = (" The bot stopped before it could hand over the new secret, which Ona shows only once: "
                        "ask for a new one." if op.secret_result else "")
                moved = self.store.transition(request.id, EXECUTING, SUCCEEDED, sealed=None,
                                              result=f"Applied (found after the bot restarted).{lost}")
                outcome = "succeeded (reconciled)"
            elif ran is False:
                moved = self.store.transition(
                    request.id, EXECUTING, FAILED, sealed=None, note=NOT_APPLIED,
                    result="Not applied: the bot stopped before Ona ran it, and Ona shows it did not. Nothing was "
                           "changed; ask again if it is still needed.")
                outcome = "failed: not applied (reconciled)"
            else:
                moved = self.store.transition(
                    request.id, EXECUTING, FAILED, sealed=None, note=OUTCOME_UNKNOWN,
                    result=f"The bot stopped while this change ran, and Ona's state cannot show whether it was "
                           f"applied. {op.check}")
                outcome = "failed: outcome unknown, not retried"
            if not moved:
                continue  # settled meanwhile by another process
            self._audit("reconcile", None, request, outcome=outcome)
            settled.append(moved)
        return settled

    # --- the audit trail: the flow is its one writer ------------------------------------------------

    @one_decision
    def run_directly(self, actor: Person, operation: str, params: dict[str, Any]) -> tuple[Outcome, bool]:
        """A change the policy lets run at once: run it, and record it (params redacted). Returns the
        outcome and whether it could be recorded; an Ona error is recorded, then raised."""
        op = self.operations[operation]
        row = {"action": "direct", "team_id": actor.team_id, "user_id": actor.user_id, "email": actor.email,
               "operation": operation, "params": redact(op.secret_params, params)}
        try:
            outcome = op.apply(self.target(op), params)
        except Exception as exc:
            self.store.audit(**row, outcome=f"failed: {getattr(exc, 'code', type(exc).__name__)}")
            raise
        try:
            self.store.audit(**row, outcome="succeeded" + (
                f" (secret sha256 {sha256(outcome.secret)[:12]}…)" if outcome.secret else ""))
        except StoreUnavailable as exc:  # the change ran: the caller says it went unrecorded
            log.error("configuration error: the audit trail cannot be written (%s); %s ran unrecorded", exc,
                      operation)
            return outcome, False
        return outcome, True

    def record_refusal(self, actor: Person, what: str, why: str) -> None:
        """Someone was refused a read or a change (not a request: those go through _refuse)."""
        self.store.audit(action="refused", team_id=actor.team_id, user_id=actor.user_id, email=actor.email,
                         operation=what, outcome=why[:300])

    def record(self, action: str, request: Request, *, outcome: str, actor: Person | None = None) -> None:
        """Something the service did with a request (withdrawn, a kept secret shown)."""
        self._audit(action, actor, request, outcome=outcome)

    # --- helpers --------------------------------------------------------------------------------

    def _get(self, request_id: str, actor: Person | None = None) -> Request:
        request = self.store.get(request_id) if request_id else None
        if request is None:
            if actor is not None:  # a click on a request that does not exist: forged or stale, audited
                self.store.audit(action="refused", team_id=actor.team_id, user_id=actor.user_id,
                                 email=actor.email, request_id=request_id[:40], outcome="no such request")
            raise Refused("There is no such request.")
        bind(request_id=request.id, operation=request.operation)
        return request

    def _refuse(self, actor: Person, request: Request, message: str, *, why: str | None = None) -> NoReturn:
        self._audit("refused", actor, request, outcome=why or message)
        raise Refused(message)

    def _check_approver_audited(self, request: Request, actor: Person) -> None:
        try:
            self.gate.check_approver(request, actor)
        except Refused as exc:
            self._audit("refused", actor, request, outcome=str(exc))
            raise

    def _already(self, request: Request) -> Decision:
        return Decision(request, Kind.ALREADY)  # the views say how (and by whom) it was decided

    def _audit(self, action: str, actor: Person | None, request: Request, *, outcome: str) -> None:
        self.store.audit(
            action=action, team_id=actor.team_id if actor else "", user_id=actor.user_id if actor else "system",
            email=actor.email if actor else None, operation=request.operation, request_id=request.id,
            params=request.params, outcome=outcome)
