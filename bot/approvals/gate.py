"""Who may ask for a change and who may decide it, asked afresh for changes (a revoked admin is refused
at once), and whether the organization can meet a rule today. Words as data: principals stay IDs,
rendered by the views (bot/registry.py Refused's `who`)."""

from __future__ import annotations

from typing import Any

from bot.approvals.model import Request
from bot.approvals.policy import Policy, Rule
from bot.approvals.store import RequestStore
from bot.identity import Directory, Person
from bot.registry import Refused


class Gate:
    def __init__(self, directory: Directory, policy: Policy, store: RequestStore) -> None:
        self.directory = directory
        self.policy = policy
        self.store = store

    def check_requester(self, actor: Person, rule: Rule, *, fresh: bool = True) -> str:
        """Changes ask Slack and Ona afresh (fresh=True): a revoked admin is refused at once."""
        if actor.refusal:
            raise Refused(actor.refusal)
        principal = self.directory.matches(actor.team_id, actor.user_id, rule.requesters, fresh=fresh)
        if principal is None:
            raise Refused(f"You may not request this change: {{who}} may ({rule.source}).", rule.requesters)
        return principal

    def check_approver(self, request: Request, actor: Person) -> str:
        if actor.refusal:
            raise Refused(actor.refusal)
        if actor.user_id == request.requester_id:
            raise Refused("You cannot approve your own request: another approver must.")
        if actor.team_id != request.requester_team:
            raise Refused("Only members of the workspace the request was made in can decide it.")
        # Asked afresh: someone who left the Ona admins since the request must not approve it.
        principal = self.directory.matches(actor.team_id, actor.user_id, tuple(request.approvers), fresh=True)
        if principal is None:
            raise Refused("You are not an approver of this request ({who} are).", tuple(request.approvers))
        return principal

    def valid_votes(self, request: Request) -> list[dict[str, Any]]:
        """The votes that still count: each approver is asked afresh (a demoted admin's vote lapses)."""
        return [v for v in self.store.votes(request.id)
                if self.directory.matches(v["team_id"] or request.requester_team, v["approver_id"],
                                          tuple(request.approvers), fresh=True)]

    def revoked(self, request: Request) -> str | None:
        """Why the request may no longer run (requester or approvals revoked since), or None."""
        requester = self.directory.person(request.requester_team, request.requester_id, fresh=True)
        rule = self.policy.rule(request.policy_key)
        if requester.refusal or self.directory.matches(requester.team_id, requester.user_id, rule.requesters,
                                                       fresh=True) is None:
            return ("Not run: the person who asked for it may no longer request this change. "
                    "Nothing was changed.")
        if len(self.valid_votes(request)) < request.approvals_needed:
            return ("Not run: an approver may no longer approve this change, so it lacks approvals. "
                    "Nothing was changed.")
        return None

    def shortfall(self, approvers: tuple[str, ...], needed: int, requester: Person) -> Shortfall | None:
        """When a rule cannot get its approvals as things stand: how many are needed and possible."""
        possible = self.directory.possible_approvers(approvers, requester)
        return None if possible >= needed else Shortfall(needed, possible, approvers)


class Shortfall:
    """A rule the organization cannot meet today, as data; `words(names)` says it."""

    def __init__(self, needed: int, possible: int, approvers: tuple[str, ...]) -> None:
        self.needed, self.possible, self.approvers = needed, possible, approvers

    def words(self, names: Any) -> str:
        others = ("nobody else can approve it" if self.possible == 0 else
                  f"only {self.possible} other person can approve it" if self.possible == 1 else
                  f"only {self.possible} other people can approve it")
        return (f"Needs {self.needed} approval{'s' if self.needed != 1 else ''}, but {others} now "
                f"({names(self.approvers)}). Add approvers or change the policy.")
