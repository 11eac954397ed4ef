"""Every operation the command groups declare, by name: what the approval flow decides on. (Every change
to Ona goes through `Context.mutate`, which hands it to the approval service.)"""

from __future__ import annotations

from collections.abc import Iterable

from bot.registry import Group, Operation


def operations_of(groups: Iterable[Group]) -> dict[str, Operation]:
    ops: dict[str, Operation] = {}
    for group in groups:
        for name, op in group.operations.items():
            if name in ops:
                raise ValueError(f"operation {name} is declared twice")
            ops[name] = op
    return ops
