"""Block Kit as a person reads it in a terminal: 80 columns, numbered buttons, modals as forms.

Slack's mrkdwn (``*bold*``, ``_italic_``, ``~strike~``, `` `code` ``, ``> quotes``, ``<@U…>`` mentions,
``<!date^…>`` dates, ``<url|text>`` links, ``:emoji:``) becomes styled text. Styles are carried as
private-use marker characters while text is wrapped (so wrapping counts only what is visible) and
become ANSI escapes at the end, or nothing when colour is off (NO_COLOR, or not a terminal).
"""

from __future__ import annotations

import html
import re
import time
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    from bot.demo.forms import Form

WIDTH = 80
GUTTER = "│ "

# --- styles -------------------------------------------------------------------------------------

_ANSI = {"bold": "1", "dim": "2", "italic": "3", "strike": "9", "red": "31", "green": "32", "yellow": "33",
         "blue": "34", "cyan": "36"}
_NAMES = list(_ANSI)
_ON = {name: chr(0xE000 + i) for i, name in enumerate(_NAMES)}
_OFF = {name: chr(0xE080 + i) for i, name in enumerate(_NAMES)}
_MARKER = {**{c: (n, True) for n, c in _ON.items()}, **{c: (n, False) for n, c in _OFF.items()}}
_MARKERS = re.compile("[" + "".join(_MARKER) + "]")


def span(style: str, text: str) -> str:
    """Mark `text` with a style (several: "bold red"); applied or dropped by `Style.apply`."""
    if not text:
        return text
    names = style.split()
    return "".join(_ON[n] for n in names) + text + "".join(_OFF[n] for n in reversed(names))


def plain(text: str) -> str:
    return _MARKERS.sub("", text)


def width_of(text: str) -> int:
    """Columns a terminal uses for `text` (markers take none, wide characters two)."""
    total = 0
    for ch in plain(text):
        if unicodedata.combining(ch) or ch in "\u200b\ufe0f":
            continue
        total += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return total


@dataclass(frozen=True)
class Style:
    """Colour on or off; `apply` turns markers into ANSI escapes (re-opened on every line)."""

    color: bool = False

    def apply(self, line: str) -> str:
        if not self.color:
            return plain(line)
        out: list[str] = []
        active: list[str] = []
        for ch in line:
            if ch in _MARKER:
                name, on = _MARKER[ch]
                if on:
                    active.append(name)
                elif name in active:
                    active.reverse()
                    active.remove(name)
                    active.reverse()
                out.append("\x1b[0m" + "".join(f"\x1b[{_ANSI[n]}m" for n in active))
            else:
                out.append(ch)
        text = "".join(out)
        return text + "\x1b[0m" if active or "\x1b[" in text else text


# --- wrapping -----------------------------------------------------------------------------------


def _carry(line: str) -> tuple[str, str]:
    """Close the styles still open at the end of a wrapped line and re-open them on the next."""
    active: list[str] = []
    for ch in line:
        if ch in _MARKER:
            name, on = _MARKER[ch]
            if on:
                active.append(name)
            elif name in active:
                active.remove(name)
    return "".join(_OFF[n] for n in reversed(active)), "".join(_ON[n] for n in active)


def wrap(text: str, width: int, indent: str = "", subsequent: str | None = None) -> list[str]:
    """Greedy word wrap of one paragraph by visible width; words longer than a line are cut.
    Styles that span a line break are closed and re-opened, so an indent is never styled."""
    subsequent = indent if subsequent is None else subsequent
    stripped = text.lstrip(" ")
    first = indent + text[: len(text) - len(stripped)]
    rows: list[str] = []

    def room() -> int:
        return max(1, width - width_of(first if not rows else subsequent))

    current = ""
    for gap, word in re.findall(r"( *)([^ ]+)", stripped):  # runs of spaces inside a line are kept
        if plain(current) and width_of(current) + len(gap) + width_of(word) > room():
            rows.append(current)
            current = ""
        if not plain(current) and width_of(word) > room():
            for ch in word:
                if plain(current) and width_of(current + ch) > room():
                    rows.append(current)
                    current = ""
                current += ch
            continue
        current += (gap if plain(current) else "") + word
    rows.append(current)
    for i in range(len(rows) - 1):
        close, reopen = _carry(rows[i])
        rows[i] += close
        rows[i + 1] = reopen + rows[i + 1]
    return [((first if i == 0 else subsequent) + row).rstrip() for i, row in enumerate(rows)]


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


# --- buttons ------------------------------------------------------------------------------------


@dataclass
class Button:
    """A numbered button as shown; `item` is what it belongs to (for the click's payload)."""

    number: int
    text: str
    action_id: str
    value: str
    style: str | None
    confirm: dict[str, Any] | None
    item: Any = None
    url: str | None = None


def button_label(button: Button) -> str:
    color = {"primary": "bold green", "danger": "bold red"}.get(button.style or "", "bold")
    return "[" + span(color, f"{button.number} {button.text}") + "]"


def confirm_text(confirm: dict[str, Any], viewer: Viewer, width: int) -> list[str]:
    """A confirm dialog: title, text, and its two choices."""
    title = plain_text(confirm.get("title")) or "Are you sure?"
    body = confirm.get("text") or {}
    lines = [span("bold", title)]
    if body.get("type") == "mrkdwn":
        lines += mrkdwn(body.get("text") or "", viewer, width)
    else:
        lines += wrap(plain_text(body), width)
    ok = plain_text(confirm.get("confirm")) or "Yes"
    deny = plain_text(confirm.get("deny")) or "Cancel"
    return [*lines, span("dim", f"[y] {ok}  [n] {deny}")]


# --- blocks -------------------------------------------------------------------------------------


class Renderer:
    """Turns payloads into lines for one viewer; buttons are numbered into the list it is given."""

    def __init__(self, viewer: Viewer, style: Style | None = None, width: int = WIDTH) -> None:
        self.viewer = viewer
        self.style = style or Style()
        self.width = max(40, width)

    @property
    def inner(self) -> int:
        return self.width - len(GUTTER)

    # The public entry points return finished strings (styles applied).

    def item(self, label: str, payload: dict[str, Any], buttons: list[Button], *, source: Any = None,
             form: Form | None = None, errors: dict[str, str] | None = None, only: set[str] | None = None) -> str:
        """A message, modal or Home view under a label line, behind a gutter."""
        if payload.get("type") in ("modal", "home"):
            body = self.view_lines(payload, buttons, source=source, form=form, errors=errors, only=only)
        else:
            body = self.message_lines(payload, buttons, source=source)
        head = span("dim", "┌ ") + label
        lines = [head, *(span("dim", GUTTER.rstrip()) + (" " + line if plain(line) else "") for line in body)]
        return "\n".join(self.style.apply(line) for line in lines)

    def text(self, text: str, indent: str = "") -> str:
        """Narration (notices, help): wrapped, styled."""
        out: list[str] = []
        for paragraph in text.split("\n"):
            out += wrap(paragraph, self.width, indent, indent + ("  " if paragraph.startswith("  ") else ""))
        return "\n".join(self.style.apply(line) for line in out)

    def lines(self, lines: list[str]) -> str:
        return "\n".join(self.style.apply(line) for line in lines)

    def message_lines(self, payload: dict[str, Any], buttons: list[Button], *, source: Any = None) -> list[str]:
        blocks = payload.get("blocks") or []
        if not blocks:
            return mrkdwn(payload.get("text") or "", self.viewer, self.inner, self.style.color)
        out: list[str] = []
        for block in blocks:
            out += self.block(block, buttons, source)
        return out

    def view_lines(self, view: dict[str, Any], buttons: list[Button], *, source: Any = None,
                   form: Form | None = None, errors: dict[str, str] | None = None,
                   only: set[str] | None = None) -> list[str]:
        out: list[str] = []  # a modal's title is in the label above it
        for block in view.get("blocks") or []:
            if only is not None and block.get("block_id") not in only:
                continue
            if block.get("type") == "input":
                out += self.input_block(block, form, (errors or {}).get(block.get("block_id", "")))
            else:
                out += self.block(block, buttons, source)
        if view.get("type") == "modal" and only is None:
            submit = plain_text(view.get("submit"))
            close = plain_text(view.get("close")) or "Cancel"
            out.append(("[" + span("bold green", submit) + "]  " if submit else "") + "[" + close + "]")
        return out

    def block(self, block: dict[str, Any], buttons: list[Button], source: Any) -> list[str]:
        kind = block.get("type")
        width = self.inner
        if kind == "header":
            title = plain_text(block.get("text"))
            return [span("bold", title), span("dim", "─" * min(width_of(title), width))]
        if kind == "section":
            out: list[str] = []
            text = block.get("text")
            if text:
                out += (mrkdwn(text.get("text") or "", self.viewer, width, self.style.color)
                        if text.get("type") == "mrkdwn" else wrap(plain_text(text), width))
            if block.get("fields"):
                out += self.fields(block["fields"])
            accessory = block.get("accessory")
            if accessory:
                out += self.elements([accessory], buttons, source, indent="  ")
            return out
        if kind == "context":
            parts = []
            for element in block.get("elements") or []:
                if element.get("type") == "mrkdwn":
                    parts.append(element.get("text") or "")
                elif element.get("type") == "plain_text":
                    parts.append(plain_text(element))
            out = []
            for line in mrkdwn("  ".join(parts), self.viewer, width, self.style.color):
                out.append(span("dim", line))
            return out
        if kind == "divider":
            return [span("dim", "─" * width)]
        if kind == "actions":
            return self.elements(block.get("elements") or [], buttons, source)
        if kind == "image":
            return [span("dim", f"[image: {block.get('alt_text', '')}]")]
        if kind == "input":
            return self.input_block(block, None, None)
        if kind == "rich_text":
            return [span("dim", "(formatted text)")]
        return [span("dim", f"({kind} block)")]

    def fields(self, fields: list[dict[str, Any]]) -> list[str]:
        """Slack's two-column fields, as "Label: value" cells: two per row when they fit, else one."""
        cells = []
        for f in fields:
            text = f.get("text") or ""
            rendered = (mrkdwn(text, self.viewer, 10_000, self.style.color) if f.get("type") == "mrkdwn"
                        else [plain_text(f)])
            first, rest = rendered[0] if rendered else "", [r for r in rendered[1:] if plain(r).strip()]
            if rest:
                cells.append(first + ": " + "; ".join(rest) if plain(first) else "; ".join(rest))
            else:
                cells.append(first)
        column = (self.inner - 2) // 2 - 1
        if all(width_of(c) <= column - 1 for c in cells):
            out = []
            for i in range(0, len(cells), 2):
                left = cells[i]
                if i + 1 < len(cells):
                    out.append("  " + left + " " * (column - width_of(left) + 1) + cells[i + 1])
                else:
                    out.append("  " + left)
            return out
        out = []
        for c in cells:
            out += wrap(c, self.inner, "  ", "      ")
        return out

    def elements(self, elements: list[dict[str, Any]], buttons: list[Button], source: Any,
                 indent: str = "") -> list[str]:
        labels = []
        for element in elements:
            if element.get("type") == "button":
                button = Button(len(buttons) + 1, plain_text(element.get("text")), element.get("action_id", ""),
                                element.get("value") or "", element.get("style"), element.get("confirm"),
                                source, element.get("url"))
                buttons.append(button)
                labels.append(button_label(button))
            elif element.get("type") in ("static_select", "overflow", "users_select", "datepicker"):
                labels.append(span("dim", f"({element['type'].replace('_', ' ')}: not in the demo)"))
        return wrap("  ".join(labels), self.inner, indent, indent) if labels else []

    # --- forms ----------------------------------------------------------------------------------

    def input_block(self, block: dict[str, Any], form: Form | None, error: str | None) -> list[str]:
        label = plain_text(block.get("label"))
        element = block.get("element") or {}
        kind = element.get("type")
        optional = " " + span("dim", "(optional)") if block.get("optional") else ""
        out = wrap(span("bold", label) + optional, self.inner)
        field = form.field(block.get("block_id", "")) if form else None
        value = form.values.get(field.block_id) if form and field else _initial(element)
        options = [(o.get("value", ""), plain_text(o.get("text"))) for o in element.get("options") or []]
        if kind == "checkboxes":
            chosen = set(value or [])
            for v, text in options:
                mark = span("green", "[x]") if v in chosen else "[ ]"
                out += wrap(f"{mark} {text}", self.inner, "  ", "      ")
        else:
            if kind == "static_select":
                shown = dict(options).get(value or "", "") if value else ""
                extra = span("dim", f"  · one of {len(options)}")
            elif kind == "multi_static_select":
                names = dict(options)
                shown = ", ".join(names.get(v, v) for v in value or [])
                extra = span("dim", f"  · any of {len(options)}")
            else:
                shown = str(value) if value not in (None, "") else ""
                low, high = element.get("min_value"), element.get("max_value")
                extra = span("dim", f"  · {low}–{high}") if kind == "number_input" and low and high else ""
            if shown:
                for i, line in enumerate(shown.split("\n")):
                    out += wrap("▸ " + line + (extra if i == 0 else ""), self.inner, "  ", "    ")
            else:
                out.append("  " + span("dim", "▸ (empty)") + extra)
        hint = plain_text(block.get("hint"))
        if hint:
            out += [span("dim", line) for line in wrap(hint, self.inner, "  ", "  ")]
        if error:
            out += wrap(span("bold red", "✘ " + error), self.inner, "  ", "    ")
        return out


def _initial(element: dict[str, Any]) -> Any:
    kind = element.get("type")
    if kind in ("multi_static_select", "checkboxes"):
        return [o.get("value") for o in element.get("initial_options") or []]
    if kind == "static_select":
        option = element.get("initial_option")
        return option.get("value") if option else None
    return element.get("initial_value")
