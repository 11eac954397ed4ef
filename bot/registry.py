"""What a command module declares: its group, subcommands, buttons, modals and operations.

A module in ``commands/`` builds one ``Group`` and decorates plain functions on it. Nothing here
knows about Bolt or HTTP: ``bot/app.py`` wires every group into the Bolt app, and ``bot/router.py``
turns the text of ``/ona …`` into a call of one subcommand.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot import blocks as bk

if TYPE_CHECKING:
    from bot.context import ActionHandler, Handler, ViewHandler
    from bot.ona.client import OnaClient


class UsageError(Exception):
    """Bad input from the user: answered ephemerally with the message and the usage line."""

    def __init__(self, message: str, usage: str | None = None) -> None:
        super().__init__(message)
        self.usage = usage


class Refused(Exception):
    """The person may not do this (policy, self-approval, not the requester): the text says why. Who
    may instead is kept as data (`who`: policy principals) where the text says "{who}"; the reply
    renders them (mentions in Slack), str() in plain words."""

    def __init__(self, message: str, who: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.who = tuple(who)

    def render(self, names: Callable[[tuple[str, ...]], str]) -> str:
        return str(self.args[0]).replace("{who}", names(self.who))

    def __str__(self) -> str:
        return self.render(plain_names)


def plain_names(principals: tuple[str, ...]) -> str:
    """Policy principals in plain words (no Slack formatting)."""
    return ", ".join("Ona organization admins" if p == "ona:admins" else f"user group {p}" if p.startswith("S")
                     else f"user {p}" for p in principals)


@dataclass
class Args:
    """A parsed command line: `words` after the subcommand, `rest` as typed, and `--flags`."""

    words: list[str]
    rest: str
    flags: set[str] = field(default_factory=set)  # option names, lower-case, without "--"
    reason: str | None = None  # "reason: …" at the end of the command
    raw: list[str] = field(default_factory=list)  # every word after the subcommand, flags included, in order

    def option(self, name: str) -> str | None:
        """The value of `--name=value` or `--name value` (case kept); None when absent or bare."""
        for i, word in enumerate(self.raw):
            key, eq, value = word[2:].partition("=")
            if word.startswith("--") and key.lower() == name:
                if eq:
                    return value or None
                following = self.raw[i + 1] if i + 1 < len(self.raw) else ""
                return following if following and not following.startswith("--") else None
        return None

    def positional(self, *valued: str) -> list[str]:
        """The words that are not options, nor the values of the options named in `valued`."""
        out: list[str] = []
        skip = False
        for word in self.raw:
            if skip:
                skip = False
                continue
            if word.startswith("--") and len(word) > 2:
                key, eq, _ = word[2:].partition("=")
                skip = key.lower() in valued and not eq
                continue
            out.append(word)
        return out

    def one(self, name: str, usage: str) -> str:
        if len(self.words) != 1:
            raise UsageError(f"Give exactly one {name}.", usage)
        return self.words[0]


@dataclass(frozen=True)
class Outcome:
    """What a mutation did, for the person who asked. `secret` is shown to them only, once."""

    text: str
    details: list[tuple[str, str]] = field(default_factory=list)
    secret: str | None = None
    secret_label: str = ""

    @property
    def plain(self) -> str:
        """`text` without Slack formatting: what the database keeps."""
        return bk.unformat(self.text)


@dataclass(frozen=True)
class Operation:
    """A change to the Ona organization, the unit the approval flow decides on.

    `apply` performs it; `read` returns the current values of exactly the fields it changes (the
    "before" of an approval); `params` hold the validated "after" and must be JSON-serialisable.
    """

    name: str
    title: str
    apply: Callable[[OnaClient, dict[str, Any]], Outcome]
    read: Callable[[OnaClient, dict[str, Any]], dict[str, Any]] | None = None
    secret_result: bool = False
    secret_params: tuple[str, ...] = ()  # params never stored, logged or shown (e.g. an SSO client secret)
    # The approval policy's name for these params when it differs (granting admin is stricter).
    policy_key: Callable[[dict[str, Any]], str] | None = None
    variants: tuple[str, ...] = ()  # every name policy_key may return, so the policy file can name them
    # How a param value reads in an approval diff ("8h", not 28800); None: as it is.
    show: Callable[[str, Any], str] | None = None
    # What it does, in words, for approvers when the change has no before/after to show.
    effect: str = ""
    # How to tell, after a crash, whether it ran. `witness` reads, before it runs, what telling needs
    # besides `read` (e.g. a fingerprint of the current invite); it is kept with "before", never shown.
    # `ran(ona, params, before)` answers True (it ran), False (it did not) or None (Ona's state cannot
    # tell). Without `ran`: `read` again, compared with before and the expected after (approvals/flow.py).
    witness: Callable[[OnaClient, dict[str, Any]], dict[str, Any]] | None = None
    ran: Callable[[OnaClient, dict[str, Any], dict[str, Any]], bool | None] | None = None
    # What to check when its outcome is unknown, in words ("Check it with `/ona sso` before …").
    check: str = ""
    # Its effect is in the bot's own database (a scheduled banner window), not in Ona: `apply` and `read`
    # get the request store (bot/approvals/store.py) where others get the Ona client.
    local: bool = False
    # The params that put `before` back (for Undo), or None when it cannot be; None: no Undo offered.
    undo: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None


Validator = Callable[[dict[str, Any], dict[str, Any]], "dict[str, str] | dict[str, Any]"]


@dataclass(frozen=True)
class Subcommand:
    group: str
    name: str  # "" is the group's default ("/ona banner")
    usage: str
    help: str
    handler: Handler
    mutating: bool = False
    self_checked: bool = False  # checks who may use it itself (cancel: the request's requester)


@dataclass(frozen=True)
class ViewSpec:
    """A modal submission. `validate(values, metadata)` runs before the ack, so it must be fast and pure;
    it returns {"errors": {block_id: text}} (shown inline), {"view": next_view} (replaces the modal,
    e.g. a preview), or {"params": {...}}, which `submit(ctx, params, metadata)` gets after the ack."""

    callback_id: str
    validate: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]
    submit: ViewHandler


@dataclass
class Group:
    name: str
    summary: str
    subcommands: dict[str, Subcommand] = field(default_factory=dict)
    actions: dict[str, ActionHandler] = field(default_factory=dict)
    read_only_actions: set[str] = field(default_factory=set)  # e.g. pagers: errors need not say "nothing changed"
    views: dict[str, ViewSpec] = field(default_factory=dict)
    operations: dict[str, Operation] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    public: bool = False  # anyone may use it (help); other groups follow the policy's [reads]
    # Also usable by whoever the policy names as requester or approver of any change (the requests list:
    # an approver who is no admin must still see what waits for them).
    for_participants: bool = False
    # Buttons and modals that check who may press them themselves (Approve: the request's approvers).
    self_checked: set[str] = field(default_factory=set)
    # Slack shortcuts (global or on a message) by callback_id: what `/ona` would do, from a menu.
    shortcuts: dict[str, ActionHandler] = field(default_factory=dict)
    # Subcommands also typed without the group's name (`/ona cancel R…` is `/ona requests cancel R…`).
    top_level: tuple[str, ...] = ()

    def command(self, name: str = "", *, usage: str, help: str, mutating: bool = False,
                self_checked: bool = False) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            self.subcommands[name] = Subcommand(self.name, name, usage, help, fn, mutating, self_checked)
            return fn

        return register

    def shortcut(self, callback_id: str) -> Callable[[ActionHandler], ActionHandler]:
        """A shortcut's handler gets the Context (with its trigger_id) and the payload, after the same
        access check as the group's commands."""
        def register(fn: ActionHandler) -> ActionHandler:
            self.shortcuts[callback_id] = fn
            return fn

        return register

    def action(self, action_id: str, *, read_only: bool = False,
               self_checked: bool = False) -> Callable[[ActionHandler], ActionHandler]:
        def register(fn: ActionHandler) -> ActionHandler:
            self.actions[action_id] = fn
            if read_only:
                self.read_only_actions.add(action_id)
            if self_checked:
                self.self_checked.add(action_id)
            return fn

        return register

    def view(self, callback_id: str, *, validate: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]],
             self_checked: bool = False):
        def register(fn: ViewHandler) -> ViewHandler:
            self.views[callback_id] = ViewSpec(callback_id, validate, fn)
            if self_checked:
                self.self_checked.add(callback_id)
            return fn

        return register

    def operation(
        self, name: str, title: str, *, read: Callable[[OnaClient, dict[str, Any]], dict[str, Any]] | None = None,
        secret_result: bool = False, secret_params: tuple[str, ...] = (),
        policy_key: Callable[[dict[str, Any]], str] | None = None, variants: tuple[str, ...] = (),
        show: Callable[[str, Any], str] | None = None, effect: str = "",
        witness: Callable[[OnaClient, dict[str, Any]], dict[str, Any]] | None = None,
        ran: Callable[[OnaClient, dict[str, Any], dict[str, Any]], bool | None] | None = None,
        check: str | None = None, local: bool = False,
        undo: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None,
    ) -> Callable[[Callable[[OnaClient, dict[str, Any]], Outcome]], Operation]:
        check = check or f"Check it with `/ona {self.name}` before trying again."

        def register(fn: Callable[[OnaClient, dict[str, Any]], Outcome]) -> Operation:
            op = Operation(name, title, fn, read, secret_result, secret_params, policy_key, variants, show, effect,
                           witness, ran, check, local, undo)
            self.operations[name] = op
            return op

        return register

    @property
    def usages(self) -> list[str]:
        return [f"/ona {s.usage}" for s in self.subcommands.values()]


def restore(before: dict[str, Any]) -> dict[str, Any] | None:
    """The usual Undo: apply the values `read` found before the change (never the witness)."""
    return {k: v for k, v in before.items() if k != "witness"} or None


def existence(key: str, fetch: Callable[[OnaClient, str], Any]) -> Callable[[OnaClient, dict[str, Any]], dict]:
    """The `read` of a removal: whether the thing named by params[key] still exists in Ona."""
    from bot.ona.errors import NotFound

    def read(ona: OnaClient, params: dict[str, Any]) -> dict[str, Any]:
        try:
            fetch(ona, params[key])
        except NotFound:
            return {key: params[key], "exists": False}
        return {key: params[key], "exists": True}

    return read


def action_value(payload: dict[str, Any]) -> dict[str, Any]:
    """The JSON value a button carries (see blocks.button); {} when it is not JSON."""
    action = (payload.get("actions") or [{}])[0]
    try:
        value = json.loads(action.get("value") or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
