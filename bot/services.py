"""The long-lived parts, built once at start-up by bot/bootstrap.py and passed in explicitly (no
module-level clients): every Context reaches them (bot/context.py types them as protocols)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from slack_sdk import WebClient

from bot.approvals.service import ApprovalService
from bot.context import Context
from bot.metrics import Metrics
from bot.ona.client import OnaClient
from bot.readiness import Readiness
from bot.registry import Group


@dataclass
class Services:
    ona: OnaClient
    slack: WebClient
    approvals: ApprovalService
    groups: list[Group] = field(default_factory=list)
    metrics: Metrics = field(default_factory=Metrics)  # this app's own registry, never a global one
    readiness: Readiness | None = None  # GET /readyz; None: not checked (always ready)
    # Draws a surface again (the App Home, a modal listing requests) for ctx.surface: commands/home.py.
    redraw: Callable[[Context], None] | None = None
