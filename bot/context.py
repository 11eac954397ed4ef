"""The per-request Context handed to every handler, the handler types, and the parts a Context reaches
(as protocols: the concrete services are assembled above, in bot/services.py and bot/bootstrap.py)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from slack_sdk import WebClient

from bot import usertext
from bot.ona.client import OnaClient

if TYPE_CHECKING:
    from bot.registry import Args, Group

log = logging.getLogger("ona.bot")


class Approvals(Protocol):
    """What handlers may ask of the approval system (bot/approvals/service.py implements it). Typed here,
    at the bottom, so a Context never carries the concrete service: no import reaches back up."""

    def submit(self, ctx: Context, operation: str, params: dict[str, Any]) -> None: ...
    def check_access(self, ctx: Context, group: Group) -> None: ...
    def person(self, ctx: Context, *, fresh: bool = True, user_id: str | None = None) -> Any: ...
    def may_use(self, person: Any, group: Group) -> bool: ...
    def may_request_any(self, person: Any, group: Group) -> bool: ...
    def pending_for(self, team_id: str, user_id: str) -> list[Any]: ...
    def own_requests(self, team_id: str, user_id: str, limit: int = 10) -> list[Any]: ...
    def request_of(self, request_id: str) -> Any: ...
    def readers_of(self, group: str) -> tuple[str, ...]: ...
    def kept_secrets_for(self, ctx: Context) -> list[Any]: ...
    def audit_tail(self, count: int) -> list[dict[str, Any]]: ...
    def banner_windows(self) -> list[Any]: ...
    def run_windows(self) -> None: ...
    def undo(self, ctx: Context, undo_id: str) -> None: ...
    def operation_names(self) -> set[str]: ...
    def operation_title(self, name: str) -> str: ...
    def explain(self, ctx: Context, operation: str, user_id: str | None = None) -> Any: ...
    def approve(self, ctx: Context, request_id: str, claimed_hash: str) -> None: ...
    def ask_deny_reason(self, ctx: Context, request_id: str) -> None: ...
    def deny(self, ctx: Context, request_id: str, reason: str) -> None: ...
    def cancel(self, ctx: Context, request_id: str) -> None: ...
    def submit_reason(self, ctx: Context, request_id: str, reason: str) -> None: ...
    def show_full_change(self, ctx: Context, request_id: str) -> None: ...
    def reveal_secret(self, ctx: Context, request_id: str) -> None: ...


class Parts(Protocol):
    """The long-lived parts a Context reaches (bot/services.py's Services, built by bot/bootstrap.py)."""

    ona: OnaClient
    slack: WebClient
    approvals: Approvals
    groups: list[Group]


# What a command module's functions look like (bot/registry.py's Group stores them).
Handler = Callable[["Context", "Args"], None]
ActionHandler = Callable[["Context", dict[str, Any]], None]
ViewHandler = Callable[["Context", dict[str, Any], dict[str, Any]], None]


def carry_reason(message: dict[str, Any], reason: str) -> dict[str, Any]:
    """The message with `reason` added to the JSON value of each of its buttons (those whose value is
    JSON or empty): the click brings it back (bot/app.py reads it as untrusted text)."""
    blocks = []
    for block in message.get("blocks") or []:
        if isinstance(block, dict) and block.get("type") == "actions":
            elements = []
            for element in block.get("elements") or []:
                value = element.get("value") or "{}"
                try:
                    data = json.loads(value)
                except ValueError:
                    data = None
                if element.get("type") == "button" and isinstance(data, dict):
                    element = {**element, "value": json.dumps({**data, "reason": usertext.one_paragraph(reason)},
                                                              separators=(",", ":"))}
                elements.append(element)
            block = {**block, "elements": elements}
        blocks.append(block)
    return {**message, "blocks": blocks}


@dataclass
class Context:
    """Who asked, from where, and how to answer them. Handlers never see Bolt or HTTP."""

    services: Parts
    user_id: str
    team_id: str
    channel_id: str | None = None
    trigger_id: str | None = None
    response_url: str | None = None
    respond: Callable[..., Any] | None = None
    dry_run: bool = False  # --dry-run: show the exact change, request nothing
    reason: str | None = None  # "reason: …" typed with the command
    view_id: str | None = None  # the modal this request opened, so an error can replace "Loading…"
    # Where a click came from, to draw it again afterwards: "home" (the App Home), or the ID of an open
    # modal listing requests. Carried through the forms the click opens (origin()).
    surface: str | None = None
    from_modal: bool = False  # clicked inside a modal: a new modal stacks on it (views.push)

    @property
    def ona(self) -> OnaClient:
        return self.services.ona

    @property
    def slack(self) -> WebClient:
        return self.services.slack

    def check_access(self, group: Group, action: str | None = None) -> None:
        """Refuse (raise Refused) unless this person may use the group, per the policy's [reads].
        Buttons and modals that check their own presser (Approve, Deny) are let through."""
        if action is None or action not in group.self_checked:
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
        # From inside a modal Slack wants the new one pushed on top (closing it shows the first again).
        if self.from_modal:
            opened = self.slack.views_push(trigger_id=self.trigger_id, view=view)
        else:
            opened = self.slack.views_open(trigger_id=self.trigger_id, view=view)
        self.view_id = opened["view"]["id"]
        return self.view_id

    def update_modal(self, view_id: str, view: dict[str, Any]) -> None:
        self.slack.views_update(view_id=view_id, view=view)

    def origin(self) -> dict[str, str]:
        """Where to answer later: carried in a modal's private_metadata."""
        origin = {"channel": self.channel_id, "response_url": self.response_url, "dry_run": self.dry_run,
                  "reason": self.reason, "surface": self.surface}
        return {k: v for k, v in origin.items() if v}

    def ask_first(self, question: dict[str, Any], operation: str, params: dict[str, Any]) -> None:
        """Reply with a confirm button for a dangerous change; with --dry-run, show the change now
        (a click would not carry the flag)."""
        if self.dry_run:
            self.mutate(operation, params)
        else:  # a "reason: …" typed with the command rides in the confirm button, into the request
            self.reply(carry_reason(question, self.reason) if self.reason else question)

    def mutate(self, operation: str, params: dict[str, Any]) -> None:
        """Every change to Ona goes through here, so the approval flow can stand in front of it."""
        self.services.approvals.submit(self, operation, params)
