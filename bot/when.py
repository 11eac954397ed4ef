"""Times as people type them on a phone ("12:00", "Sat 10:00", "tomorrow 9:30", "2026-12-24 18:00"), in
their own Slack time zone, and as they read them ("Sat 10:00–12:00", "for 2 hours")."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_TIME = r"(?P<h>\d{1,2})(?::(?P<m>\d{2}))?\s*(?P<ampm>am|pm)?"
_DAY = r"(?P<day>today|tomorrow|(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*|\d{4}-\d{2}-\d{2})"
_WHEN = re.compile(rf"(?:{_DAY}\s+)?{_TIME}$", re.I)
# The same, without named groups, to find a time inside a command ("at Sat 10:00 for 2h …").
WHEN = (r"(?:(?:today|tomorrow|(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*|\d{4}-\d{2}-\d{2})\s+)?"
        r"\d{1,2}(?::\d{2})?(?:\s*(?:am|pm))?")


class WhenError(ValueError):
    pass


def zone(name: str | None) -> ZoneInfo:
    """The person's Slack time zone (users.info `tz`); UTC when Slack gives none we know."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def parse(text: str, now: float, tz: str | None) -> float:
    """The next moment `text` names, in `tz`, as Unix seconds. A bare time is its next occurrence
    (today, or tomorrow if it has passed); a weekday is the next one (today if the time is still ahead)."""
    found = _WHEN.match(text.strip())
    if not found:
        raise WhenError("Give a time like 12:00, Sat 10:00, tomorrow 9:00 or 2026-12-24 18:00.")
    hour, minute = int(found["h"]), int(found["m"] or 0)
    if found["ampm"]:
        if not 1 <= hour <= 12:
            raise WhenError("With am or pm, the hour is 1 to 12.")
        hour = hour % 12 + (12 if found["ampm"].lower() == "pm" else 0)
    if hour > 23 or minute > 59:
        raise WhenError(f"{text.strip()} is not a time of day.")
    local_now = datetime.fromtimestamp(now, zone(tz))
    day = (found["day"] or "").lower()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", day):
        try:
            date = datetime.strptime(day, "%Y-%m-%d").date()
        except ValueError:
            raise WhenError(f"{day} is not a date.") from None
        if abs(date.year - local_now.year) > 1:
            raise WhenError("Give a date within the next few months.")
        return _at(date, hour, minute, tz)
    date: Any = local_now.date() + timedelta(days=1 if day == "tomorrow" else 0)
    if day[:3] in _DAYS:
        date += timedelta(days=(_DAYS.index(day[:3]) - local_now.weekday()) % 7)
    moment = _at(date, hour, minute, tz)
    if moment <= now and (not day or day[:3] in _DAYS):  # passed: its next occurrence
        moment = _at(date + timedelta(days=7 if day else 1), hour, minute, tz)
    return moment


def _at(date: Any, hour: int, minute: int, tz: str | None) -> float:
    try:
        return datetime(date.year, date.month, date.day, hour, minute, tzinfo=zone(tz)).timestamp()
    except (OverflowError, ValueError, OSError):  # a date at the edge of the calendar
        raise WhenError("Give a date within the next few months.") from None


def words(start: float, end: float, tz: str | None, now: float | None = None) -> str:
    """"Sat 10:00–12:00", "Sat 22:00–Sun 02:00"; "now until 14:00" when it has begun."""
    begun = now is not None and start <= now
    a = datetime.fromtimestamp(max(start, now) if begun and now is not None else start, zone(tz))
    b = datetime.fromtimestamp(end, zone(tz))
    end_text = b.strftime("%H:%M") if a.date() == b.date() else moment(end, tz, now)
    return f"now until {end_text}" if begun else f"{moment(start, tz, now)}–{end_text}"


def moment(epoch: float, tz: str | None, now: float | None = None) -> str:
    """"Sat 10:00" in the person's time zone; a day more than 6 days from `now` gets its date too
    ("Sat 19 Dec 10:00"), as a weekday alone would name an earlier one."""
    at = datetime.fromtimestamp(epoch, zone(tz))
    far = now is None or abs(epoch - now) > 6 * 86_400
    return at.strftime("%a %-d %b %H:%M" if far else "%a %H:%M")
