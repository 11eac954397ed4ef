"""What the SSO and SCIM commands share, written once: the ID a button carries, list pages, the
"already so" answer, confirm-first cards, enable/disable pairs, removals, and finding an SSO
configuration by (a prefix of) its ID, which SCIM links to."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlparse

from bot import blocks as bk
from bot.context import Context
from bot.ids import find_by_id, short
from bot.ona.client import OnaClient
from bot.ona.errors import NotFound
from bot.ona.models import SSOConfiguration
from bot.registry import Group, Outcome, UsageError, action_value

T = TypeVar("T")
Read = Callable[[OnaClient, dict[str, Any]], dict[str, Any]]


def clicked_id(payload: dict[str, Any], noun: str, command: str) -> str:
    """The ID a button carries; a button without one (an old or forged message) gets words, not a trace."""
    item_id = str(action_value(payload).get("id") or "")
    if not item_id:
        raise UsageError(f"That button carries no {noun}: run `/ona {command}` again.")
    return item_id


def clicked_page(payload: dict[str, Any]) -> int:
    page = action_value(payload).get("page", 0)
    return page if isinstance(page, int) else 0


def page_of(items: Sequence[T], page: int, size: int) -> tuple[Sequence[T], int, int]:
    """The items on `page` (clamped to the pages there are), the page and the number of pages."""
    pages = max(1, -(-len(items) // size))
    page = min(max(page, 0), pages - 1)
    return items[page * size:(page + 1) * size], page, pages


def already(ctx: Context, name: str, word: str) -> None:
    """Nothing to change: say so rather than ask Ona for a change that does nothing."""
    ctx.reply(bk.message([bk.section(f":information_source: *{bk.escape(name)}* is already {word}.")],
                         text=f"Already {word}."))


def confirm_first(ctx: Context, *, title: str, warning: str, facts: str, button: bk.ButtonElement, text: str,
                  operation: str, params: dict[str, Any]) -> None:
    """A dangerous change: a card that says what it does; the button's confirm dialog decides."""
    blocks = [bk.header(title), bk.section(f":warning: {warning}"), bk.context(facts), bk.actions(button)]
    ctx.ask_first(bk.message(blocks, text=text), operation, params)


def required(item: T | None, noun: str, item_id: str) -> T:
    """Ona's Get answer's item, or NotFound when the answer carries none."""
    if item is None:
        raise NotFound(f"{noun} {item_id} not found")
    return item


def removal(id_field: str, item_id: str) -> dict[str, Any]:
    """A removal's params: the item, and the state it ends in (gone), which the approval flow checks."""
    return {id_field: item_id, "exists": False}


def read_create(ona: OnaClient, params: dict[str, Any]) -> dict[str, Any]:
    return {"exists": False}


def new_since(before: dict[str, Any], key: str, now: Sequence[str]) -> bool | None:
    """Whether an ID is in `now` that the witness taken before the change (under `key`) did not see."""
    seen = (before.get("witness") or {}).get(key)
    if seen is None:
        return None
    return bool(set(now) - set(seen))


@dataclass(frozen=True)
class Switch:
    """An on/off pair of one field of one item: two operations (`<group>.<verb>`), two buttons
    (`<group>:<verb>`), one read and one change for both."""

    group: Group
    id_field: str  # e.g. "sso_configuration_id"
    field: str  # e.g. "state"
    on: tuple[str, Any]  # (verb, value), e.g. ("activate", "active")
    off: tuple[str, Any]

    def operation(self, on: bool) -> str:
        return f"{self.group.name}.{(self.on if on else self.off)[0]}"

    def params(self, item_id: str, on: bool) -> dict[str, Any]:
        return {self.id_field: item_id, self.field: (self.on if on else self.off)[1]}

    def reader(self, get: Callable[[OnaClient, str], T], current: Callable[[T], Any]) -> Read:
        """The `read` of both operations: the item's ID and the field's current value."""
        def read(ona: OnaClient, params: dict[str, Any]) -> dict[str, Any]:
            item = get(ona, params[self.id_field])
            return {self.id_field: item.id, self.field: current(item)}  # type: ignore[attr-defined]

        return read

    def register(self, titles: tuple[str, str], read: Read, apply: Callable[[OnaClient, dict[str, Any]], Outcome],
                 clicked: Callable[[dict[str, Any]], str]) -> None:
        """Both operations, and both buttons: a click is already confirmed by the button's dialog."""
        for on, title in ((True, titles[0]), (False, titles[1])):
            self.group.operation(self.operation(on), title, read=read)(apply)
            self.group.action(f"{self.group.name}:{(self.on if on else self.off)[0]}")(self._click(on, clicked))

    def _click(self, on: bool, clicked: Callable[[dict[str, Any]], str]) -> Callable[[Context, dict[str, Any]], None]:
        def click(ctx: Context, payload: dict[str, Any]) -> None:
            ctx.mutate(self.operation(on), self.params(clicked(payload), on))

        return click


# --- SSO configurations, which SCIM links to ------------------------------------------------------


def sso_name(sso: SSOConfiguration) -> str:
    """What people call it: the display name, else the issuer's host (plain text; escape for mrkdwn)."""
    return sso.display_name or urlparse(sso.issuer_url).hostname or sso.issuer_url or short(sso.id)


def find_sso(ona: OnaClient, raw: str, usage: str) -> SSOConfiguration:
    return find_by_id(ona.iter_sso_configurations(), raw, "SSO configuration", usage, "/ona sso")
