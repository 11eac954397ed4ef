"""Styled text in a terminal: styles are carried as private-use marker characters while text is
wrapped (so wrapping counts only what is visible) and become ANSI escapes at the end, or nothing when
colour is off (NO_COLOR, or not a terminal)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

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
