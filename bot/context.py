"""The long-lived services a handler may use, and the per-request Context handed to it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from slack_sdk import WebClient

from bot.ona.client import OnaClient

if TYPE_CHECKING:
    from bot.approvals.service import ApprovalService
    from bot.mutations import Mutator
    from bot.registry import Group

log = logging.getLogger("ona.bot")


@dataclass
class Services:
    """Built once at start-up and passed in explicitly (no module-level clients)."""

    ona: OnaClient
    slack: WebClient
    mutator: Mutator
    groups: list[Group] = field(default_factory=list)
    approvals_channel: str | None = None
    approvals: ApprovalService | None = None


@dataclass
class Context:
    """Who asked, from where, and how to answer them. Handlers never see Bolt or HTTP."""

    services: Services
    user_id: str
    team_id: str
    channel_id: str | None = None
    trigger_id: str | None = None
    response_url: str | None = None
    respond: Callable[..., Any] | None = None
    dry_run: bool = False  # --dry-run: show the exact change, request nothing
    reason: str | None = None  # "reason: …" typed with the command
    view_id: str | None = None  # the modal this request opened, so an error can replace "Loading…"

    @property
    def ona(self) -> OnaClient:
        return self.services.ona

    @property
    def slack(self) -> WebClient:
        return self.services.slack

    def check_access(self, group: Group, action: str | None = None) -> None:
        """Refuse (raise Refused) unless this person may use the group, per the policy's [reads].
        Buttons and modals that check their own presser (Approve, Deny) are let through."""
        if self.services.approvals is not None and (action is None or action not in group.self_checked):
            self.services.approvals.check_access(self, group)

    def reply(self, payload: dict[str, Any], *, replace: bool = False) -> None:
        """An ephemeral answer to the person who asked (never visible to the channel)."""
        if self.respond is not None and self.response_url:
            self.respond(**payload, response_type="ephemeral", replace_original=replace)
        elif self.channel_id and not self.channel_id.startswith("D"):
            self.slack.chat_postEphemeral(channel=self.channel_id, user=self.user_id, **payload)
        else:
            self.dm(payload)

    def dm(self, payload: dict[str, Any]) -> None:
        """A direct message from the bot to the person who asked (seen by them only)."""
        channel = self.slack.conversations_open(users=self.user_id)["channel"]["id"]
        self.slack.chat_postMessage(channel=channel, **payload)

    def open_modal(self, view: dict[str, Any]) -> str:
        """Open a modal now (the trigger_id expires 3 s after Slack sent it); returns the view id."""
        if not self.trigger_id:
            raise RuntimeError("no trigger_id to open a modal with")
        self.view_id = self.slack.views_open(trigger_id=self.trigger_id, view=view)["view"]["id"]
        return self.view_id

    def update_modal(self, view_id: str, view: dict[str, Any]) -> None:
        self.slack.views_update(view_id=view_id, view=view)

    def origin(self) -> dict[str, str]:
        """Where to answer later: carried in a modal's private_metadata."""
        origin = {"channel": self.channel_id, "response_url": self.response_url, "dry_run": self.dry_run,
                  "reason": self.reason}
        return {k: v for k, v in origin.items() if v}

    def ask_first(self, question: dict[str, Any], operation: str, params: dict[str, Any]) -> None:
        """Reply with a confirm button for a dangerous change; with --dry-run, show the change now
        (a click would not carry the flag)."""
        if self.dry_run:
            self.mutate(operation, params)
        else:
            self.reply(question)

    def mutate(self, operation: str, params: dict[str, Any]) -> None:
        """Every change to Ona goes through here, so the approval flow can stand in front of it."""
        self.services.mutator.submit(self, operation, params)
