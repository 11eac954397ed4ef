"""The one path every change to Ona takes: `Context.mutate` hands each change to a Mutator (the
approval service, bot/approvals/service.py), which decides per the policy whether it runs now."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

from bot.registry import Group, Operation

if TYPE_CHECKING:
    from bot.context import Context



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
