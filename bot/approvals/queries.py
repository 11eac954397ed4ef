"""What commands ask of approvals and get back as data: pending requests, kept secrets, the audit
trail's tail, and `/ona explain`. A part of ApprovalService (service.py), kept apart to stay small."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.approvals import views
from bot.approvals.model import PENDING, BannerWindow, Request
from bot.approvals.policy import Rule
from bot.registry import Operation

if TYPE_CHECKING:
    from bot.approvals.flow import ApprovalFlow
    from bot.context import Context
    from bot.identity import Person


@dataclass(frozen=True)
class Explanation:
    """What `/ona explain` shows, as data: the rule, whether the organization can meet it today, and
    for a named person the rule entries that admit them (None: they may not)."""

    rule: Rule
    shortfall: str | None
    may_request: str | None = None
    may_approve: str | None = None


class Queries:
    _flow: ApprovalFlow

    if TYPE_CHECKING:  # provided by ApprovalService, which these queries are part of
        def person(self, ctx: Context, *, fresh: bool = True, user_id: str | None = None) -> Person: ...
        def title(self, request_or_operation: Request | str) -> str: ...

    def pending_for(self, team_id: str, user_id: str) -> list[tuple[Request, Operation, bool]]:
        """Pending requests, each with whether this person may decide it (never their own)."""
        viewer = self._flow.directory.person(team_id, user_id)
        rows = []
        for request in self._flow.store.in_states(PENDING, limit=50):
            may = (request.requester_id != user_id and self._flow.directory.matches(
                viewer.team_id, viewer.user_id, tuple(request.approvers)) is not None)
            rows.append((request, self._flow.operations[request.operation], may))
        return rows

    def own_requests(self, team_id: str, user_id: str, limit: int = 10) -> list[tuple[Request, Operation]]:
        """This person's latest requests (any state but drafts), newest first. Slack user IDs are unique
        across workspaces, so the team is not compared (an Enterprise Grid member's may differ by surface)."""
        return [(r, self._flow.operations[r.operation]) for r in self._flow.store.by_requester(user_id, limit=limit)]

    def request_of(self, request_id: str) -> Request | None:
        """One request by its ID, or None (for words about a typed ID before acting on it)."""
        return self._flow.store.get(request_id)

    def readers_of(self, group: str) -> tuple[str, ...]:
        """Who the policy lets use a command group (its [reads]): whom to ask."""
        return self._flow.policy.readers(group).principals

    def kept_secrets_for(self, ctx: Context) -> list[tuple[Request, str]]:
        """The caller's results whose direct message failed, still waiting to be shown once."""
        return [(r, self.title(r)) for r in self._flow.store.kept_secrets(ctx.user_id, self._flow.clock())
                if r.requester_team == ctx.team_id]

    def banner_windows(self) -> list[BannerWindow]:
        """The banner windows to come and the one on now, soonest first."""
        return self._flow.store.banner_windows("on", "scheduled")

    def audit_tail(self, count: int) -> list[dict[str, Any]]:
        return self._flow.store.audit_rows(last=count)

    def operation_names(self) -> set[str]:
        """Every name the policy knows an operation by (members.grant_admin included)."""
        return set(self._flow.operations) | set(self._flow.policy.operations)

    def operation_title(self, name: str) -> str:
        op = self._flow.operations.get(name)
        if op is None and name == "members.grant_admin":
            return "Make a member an admin"
        return op.title if op else name

    def explain(self, ctx: Context, operation: str, user_id: str | None = None) -> Explanation:
        """Who may request and approve `operation`, by which rule; for `user_id`, whether they may."""
        rule = self._flow.policy.rule(operation)
        short = (self._flow.gate.shortfall(rule.approvers, rule.approvals, self.person(ctx, fresh=False))
                 if rule.needs_approval else None)
        shortfall = short.words(views.approvers_text) if short else None
        may_request = may_approve = None
        if user_id:
            may_request = self._flow.directory.matches(ctx.team_id, user_id, rule.requesters)
            may_approve = self._flow.directory.matches(ctx.team_id, user_id, rule.approvers)
        return Explanation(rule, shortfall, may_request, may_approve)

