"""IDs as people type them on a phone: the full UUID or an unambiguous prefix (at least 4 characters)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Protocol, TypeVar

from bot import blocks as bk
from bot.registry import UsageError

ID_PREFIX_MIN = 4
_ID_CHARS = re.compile(r"^[0-9a-f-]+$")


class _HasId(Protocol):
    id: str


T = TypeVar("T", bound=_HasId)


def short(item_id: str) -> str:
    return item_id[:8]


def find_by_id(items: Iterable[T], raw: str, kind: str, usage: str, listing: str) -> T:
    """The one item whose ID is `raw` or starts with it; UsageError when none, or several, match."""
    wanted = raw.strip().lower()
    if len(wanted) < ID_PREFIX_MIN or not _ID_CHARS.fullmatch(wanted):
        raise UsageError(f"`{bk.clip(raw, 40)}` is not an ID: give the ID or at least its first "
                         f"{ID_PREFIX_MIN} characters (`{listing}` lists them).", usage)
    candidates = list(items)
    matches = [i for i in candidates if i.id.lower() == wanted] or [
        i for i in candidates if i.id.lower().startswith(wanted)]
    if not matches:
        raise UsageError(f"No {kind} has an ID starting with `{wanted}`. `{listing}` lists them.", usage)
    if len(matches) > 1:
        shown = ", ".join(f"`{p}`" for p in _distinct_prefixes([m.id for m in matches]))
        raise UsageError(f"`{wanted}` matches {len(matches)} {kind}s ({shown}): type more of the ID.", usage)
    return matches[0]


def _distinct_prefixes(ids: Sequence[str]) -> list[str]:
    """The shortest prefixes (8 characters or more) that tell the IDs apart."""
    for n in range(8, 37):
        if len({i[:n] for i in ids}) == len(ids):
            return [i[:n] for i in ids]
    return list(ids)


