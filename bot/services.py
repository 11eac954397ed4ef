"""The long-lived parts, built once at start-up by bot/bootstrap.py and passed in explicitly (no
module-level clients): every Context reaches them (bot/context.py types them as protocols)."""

from __future__ import annotations

from dataclasses import dataclass, field

from slack_sdk import WebClient

from bot.approvals.service import ApprovalService
from bot.ona.client import OnaClient
from bot.registry import Group


@dataclass
class Services:
    ona: OnaClient
    slack: WebClient
    approvals: ApprovalService
    groups: list[Group] = field(default_factory=list)
