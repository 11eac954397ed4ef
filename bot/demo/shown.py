"""What a person sees in the demo shell: items under a label, where each lives (for clicks), and
the shell's way out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.demo.forms import Form


@dataclass
class Source:
    """Where a shown item lives, so a click on its buttons sends the payload Slack would send."""

    kind: str  # "ephemeral" | "message" | "view"
    channel: str | None = None
    ts: str | None = None
    view: dict[str, Any] | None = None


@dataclass
class Shown:
    """Something a person sees: a message, a modal or the Home tab, under a label."""

    label: str
    payload: dict[str, Any]
    source: Source | None = None
    form: Form | None = None
    errors: dict[str, str] = field(default_factory=dict)
    only: set[str] | None = None


class Quit(Exception):
    """:quit, Ctrl-D or Ctrl-C: leave the shell."""


def message_of(args: dict[str, Any]) -> dict[str, Any]:
    return {"text": args.get("text"), "blocks": args.get("blocks")}
