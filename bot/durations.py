"""Durations as people type them on a phone ("30m", "8h", "7d", "1h30m", "0") and as they read them."""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"(\d+)\s*(d|day|days|h|hr|hrs|hour|hours|m|min|mins|minute|minutes|w|wk|week|weeks)", re.I)
_UNIT = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60}
NONE_WORDS = {"0", "none", "never", "off", "no limit", "unlimited"}


class DurationError(ValueError):
    pass


def parse(text: str) -> int:
    """Seconds, from '30m', '8h', '7d', '2w', '1h30m' or '0'/'never' (= 0). Never '3600s'."""
    cleaned = text.strip().lower()
    if cleaned in NONE_WORDS:
        return 0
    if not cleaned or not re.fullmatch(rf"(\s*{_PART.pattern}\s*)+", cleaned, re.I):
        raise DurationError("Use minutes, hours, days or weeks, e.g. 30m, 8h, 7d, 2w (0 for none).")
    return sum(int(n) * _UNIT[unit[0].lower()] for n, unit in _PART.findall(cleaned))


def format_seconds(seconds: float | None) -> str:
    """'8h', '7d', '1h 30m'; '0' stays 'none'."""
    if not seconds:
        return "none"
    seconds = int(seconds)
    parts = []
    for suffix, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            parts.append(f"{seconds // size}{suffix}")
            seconds %= size
    if seconds or not parts:
        parts.append(f"{seconds}s")
    return " ".join(parts)


def format_delta(value: timedelta | None) -> str:
    return format_seconds(value.total_seconds() if value is not None else None)


def words(seconds: float) -> str:
    """As people say it: "2 hours", "1 hour 30 minutes", "3 days", "5 minutes"."""
    seconds = round(seconds / 60.0) * 60
    parts = []
    for name, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds >= size:
            count, seconds = divmod(seconds, size)
            parts.append(f"{count} {name}{'' if count == 1 else 's'}")
    return " ".join(parts[:2]) or "less than a minute"
