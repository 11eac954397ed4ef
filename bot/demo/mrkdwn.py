"""Slack's mrkdwn as a person reads it in a terminal: ``*bold*``, ``_italic_``, ``~strike~``,
`` `code` ``, ``> quotes``, ``<@U…>`` mentions, ``<!date^…>`` dates, ``<url|text>`` links and
``:emoji:`` become styled text (see ``terminal.py``)."""

from __future__ import annotations

import html
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot import durations
from bot.demo.terminal import span, wrap

# --- mrkdwn -------------------------------------------------------------------------------------

EMOJI = {
    "white_check_mark": "✔", "heavy_check_mark": "✔", "ballot_box_with_check": "☑", "x": "✘",
    "warning": "⚠", "no_entry": "⊘", "no_entry_sign": "⊘", "information_source": "ℹ", "mag": "⌕",
    "hourglass": "⧗", "hourglass_flowing_sand": "⧗", "white_circle": "○", "large_green_circle": "●",
    "red_circle": "●", "gear": "⚙", "tada": "✦", "satellite": "⌁", "rotating_light": "‼",
    "leftwards_arrow_with_hook": "↩", "inbox_tray": "⤓", "grey_question": "?", "question": "?",
    "alarm_clock": "⏲", "lock": "⚿", "key": "⚷", "bell": "♪", "arrow_right": "→", "star": "★",
}
_EMOJI_COLOR = {"white_check_mark": "green", "heavy_check_mark": "green", "ballot_box_with_check": "green",
                "large_green_circle": "green", "x": "red", "no_entry": "red", "no_entry_sign": "red",
                "red_circle": "red", "warning": "yellow", "rotating_light": "red"}
_SHORTCODE = re.compile(r":([a-z0-9_+\-]+):")


def emoji(text: str) -> str:
    def swap(match: re.Match[str]) -> str:
        name = match.group(1)
        symbol = EMOJI.get(name)
        if symbol is None:
            return match.group(0)
        return span(_EMOJI_COLOR[name], symbol) if name in _EMOJI_COLOR else symbol

    return _SHORTCODE.sub(swap, text)


@dataclass
class Viewer:
    """Whose eyes: names for mentions and channels, and a time zone for <!date> (as Slack does)."""

    users: dict[str, str] = field(default_factory=dict)  # U0ALICE -> alice
    channels: dict[str, str] = field(default_factory=dict)  # C0OPS -> ops
    tz: str = "UTC"
    now: float | None = None

    def zone(self) -> Any:
        try:
            return ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError):  # no time zone database here: UTC
            return UTC


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def slack_date(epoch: int, fmt: str, viewer: Viewer) -> str:
    """Slack's <!date^…> tokens, in the viewer's time zone (24-hour clock)."""
    zone = viewer.zone()
    when = datetime.fromtimestamp(epoch, zone)
    today = datetime.fromtimestamp(viewer.now if viewer.now is not None else time.time(), zone).date()
    pretty = {today: "today", today + timedelta(days=1): "tomorrow", today - timedelta(days=1): "yesterday"}
    tokens = {
        "date_num": f"{when:%Y-%m-%d}",
        "date": f"{when:%B} {_ordinal(when.day)}, {when.year}",
        "date_short": f"{when:%b} {when.day}, {when.year}",
        "date_long": f"{when:%A}, {when:%B} {_ordinal(when.day)}, {when.year}",
        "time": f"{when:%H:%M}",
        "time_secs": f"{when:%H:%M:%S}",
    }
    ago = (viewer.now if viewer.now is not None else time.time()) - epoch
    tokens["ago"] = ("just now" if abs(ago) < 60 else f"{durations.words(ago)} ago" if ago > 0
                     else f"in {durations.words(-ago)}")
    tokens["date_pretty"] = pretty.get(when.date(), tokens["date"])
    tokens["date_short_pretty"] = pretty.get(when.date(), f"{when:%b} {when.day}")
    tokens["date_long_pretty"] = pretty.get(when.date(), tokens["date_long"])
    return re.sub(r"\{(\w+)\}", lambda m: tokens.get(m.group(1), m.group(0)), fmt)


_LINK = re.compile(r"<([^<>|]+)(?:\|([^<>]*))?>")


def _link(match: re.Match[str], viewer: Viewer) -> str:
    target, label = match.group(1), match.group(2)
    if target.startswith("@"):
        name = viewer.users.get(target[1:], label or target[1:])
        return span("bold cyan", f"@{name}")
    if target.startswith("#"):
        name = viewer.channels.get(target[1:], label or target[1:])
        return span("cyan", f"#{name}")
    if target.startswith("!date^"):
        parts = target.split("^")
        try:
            return slack_date(int(parts[1]), parts[2] if len(parts) > 2 else "{date}", viewer)
        except (IndexError, ValueError, OverflowError, OSError):
            return label or target
    if target.startswith("!subteam^"):
        return span("bold cyan", "@" + (label or target.split("^", 1)[1]).lstrip("@"))
    if target.startswith("!"):
        return span("bold cyan", "@" + target[1:].split("^")[0])
    return span("blue", label) if label else span("blue", target)


_BOLD = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_ITALIC = re.compile(r"(?<![A-Za-z0-9_])_(?=\S)([^_\n]+?)(?<=\S)_(?![A-Za-z0-9_])")
_STRIKE = re.compile(r"(?<![\w~])~(?=\S)([^~\n]+?)(?<=\S)~(?![\w~])")
_CODE = re.compile(r"`([^`\n]+)`")


def _inline(text: str, viewer: Viewer, color: bool) -> str:
    """One line of mrkdwn: code spans kept literal, the rest formatted. Backticks stay when there is
    no colour to tell code apart."""
    out: list[str] = []
    last = 0
    for match in _CODE.finditer(text):
        out.append(_format(text[last:match.start()], viewer))
        code = html.unescape(match.group(1))
        out.append(span("cyan", code) if color else f"`{code}`")
        last = match.end()
    out.append(_format(text[last:], viewer))
    return "".join(out)


def _format(text: str, viewer: Viewer) -> str:
    text = _LINK.sub(lambda m: _link(m, viewer), text)
    text = _BOLD.sub(lambda m: span("bold", m.group(1)), text)
    text = _ITALIC.sub(lambda m: span("italic", m.group(1)), text)
    text = _STRIKE.sub(lambda m: span("strike", m.group(1)), text)
    return emoji(html.unescape(text))


def mrkdwn(text: str, viewer: Viewer, width: int, color: bool = False) -> list[str]:
    """Wrapped lines (with style markers): quotes keep their bar, bullets hang."""
    lines: list[str] = []
    in_fence = False
    for raw in text.split("\n"):
        if raw.strip().startswith("```"):
            in_fence = not in_fence
            rest = raw.strip()[3:].removesuffix("```")
            if rest:
                lines.append("  " + span("cyan", html.unescape(rest)))
            if raw.strip().endswith("```") and len(raw.strip()) > 3:
                in_fence = not in_fence
            continue
        if in_fence:
            lines.append("  " + span("cyan", html.unescape(raw)))
            continue
        quote = re.match(r"^(&gt;|>)\s?", raw)
        if quote:
            body = _inline(raw[quote.end():], viewer, color)
            bar = span("dim", "▎") + " "
            lines += wrap(body, width, bar, bar)
            continue
        bullet = re.match(r"^(\s*)([•\-]) ", raw)
        body = _inline(raw, viewer, color)
        hang = " " * (len(bullet.group(0))) if bullet else ""
        lines += wrap(body, width, "", hang)
    return lines


def plain_text(obj: dict[str, Any] | None) -> str:
    """A plain_text object (or mrkdwn used as a label), literal: only emoji codes are drawn."""
    if not obj:
        return ""
    text = obj.get("text") or ""
    return emoji(text) if obj.get("emoji", True) else text
