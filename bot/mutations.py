"""The one path every change to Ona takes. The approval flow wraps it; until then it executes directly."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

from bot import replies
from bot.registry import Group, Operation

if TYPE_CHECKING:
    from bot.context import Context

log = logging.getLogger("ona.bot")


class Mutator(Protocol):
    def submit(self, ctx: Context, operation: str, params: dict[str, Any]) -> None: ...


def operations_of(groups: Iterable[Group]) -> dict[str, Operation]:
    ops: dict[str, Operation] = {}
    for group in groups:
        for name, op in group.operations.items():
            if name in ops:
                raise ValueError(f"operation {name} is declared twice")
            ops[name] = op
    return ops


class DirectMutator:
    """Apply the operation now and tell the requester (ephemerally: results may hold a secret)."""

    def __init__(self, operations: dict[str, Operation]) -> None:
        self.operations = operations

    def submit(self, ctx: Context, operation: str, params: dict[str, Any]) -> None:
        op = self.operations[operation]
        result = op.apply(ctx.ona, params)
        log.info("applied %s for %s", op.name, ctx.user_id)  # never params: they may hold secrets
        ctx.reply(replies.outcome(op, result))
