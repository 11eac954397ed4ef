"""Block Kit as a person reads it in a terminal: 80 columns, numbered buttons, modals as forms.

The text inside blocks is drawn by ``mrkdwn.py``; styles and wrapping are ``terminal.py``'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.demo.mrkdwn import Viewer, mrkdwn, plain_text
from bot.demo.terminal import GUTTER, WIDTH, Style, plain, span, width_of, wrap

if TYPE_CHECKING:
    from bot.demo.forms import Form


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
