"""Text people typed, made safe to echo: no control or direction-override characters, and a reason
is one plain paragraph, so nothing a person types can pass for the bot's own lines."""

from __future__ import annotations

import re

# C0/C1 controls (tab and newline are handled by the callers) and the Unicode bidirectional
# embedding, override and isolate marks that can make text read backwards ("Trojan Source").
_INVISIBLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
REASON_MAX = 500


def clean(text: str) -> str:
    """Drop control and bidirectional-override characters; keep newlines and tabs."""
    return _INVISIBLE.sub("", text)


def one_paragraph(text: str, limit: int = REASON_MAX) -> str:
    """A reason as approvers read it: one line of plain text, whitespace runs collapsed, at most `limit`."""
    flat = re.sub(r"\s+", " ", clean(text)).strip()
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"
