"""A modal as a form the shell can fill: its input fields, their values, Slack's own client-side checks
(required fields, number ranges, lengths), and the ``view.state.values`` a submission carries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.demo.mrkdwn import plain_text

KINDS = {"plain_text_input": "text", "number_input": "number", "static_select": "select",
         "multi_static_select": "multi", "checkboxes": "checkboxes"}
CLEAR = ("-", "none")


@dataclass
class Field:
    block_id: str
    label: str
    kind: str  # text | number | select | multi | checkboxes | other
    element: dict[str, Any]
    optional: bool = False
    hint: str = ""
    options: list[tuple[str, str]] = field(default_factory=list)  # (value, label)

    @property
    def multiple(self) -> bool:
        return self.kind in ("multi", "checkboxes")

    def describe(self) -> str:
        """How to answer, for the interactive prompt."""
        if self.kind == "select":
            return "a number"
        if self.multiple:
            return "numbers like 1,3"
        if self.kind == "number":
            low, high = self.element.get("min_value"), self.element.get("max_value")
            return f"{low}–{high}" if low is not None and high is not None else "a number"
        return "text"


class FormError(ValueError):
    """An answer that does not fit the field (unknown option, no such field)."""


class Form:
    """The open modal: `view_id`, the view as last sent by the bot, and what the person typed."""

    def __init__(self, view_id: str, view: dict[str, Any]) -> None:
        self.view_id = view_id
        self.view = view
        self.fields: list[Field] = []
        self.values: dict[str, Any] = {}
        for block in view.get("blocks") or []:
            if block.get("type") != "input":
                continue
            element = block.get("element") or {}
            f = Field(
                block_id=block.get("block_id", ""), label=plain_text(block.get("label")),
                kind=KINDS.get(element.get("type", ""), "other"), element=element,
                optional=bool(block.get("optional")), hint=plain_text(block.get("hint")),
                options=[(o.get("value", ""), plain_text(o.get("text"))) for o in element.get("options") or []],
            )
            self.fields.append(f)
            self.values[f.block_id] = _initial(f)

    @property
    def title(self) -> str:
        return plain_text(self.view.get("title"))

    @property
    def submit_label(self) -> str:
        return plain_text(self.view.get("submit"))

    def field(self, block_id: str) -> Field | None:
        return next((f for f in self.fields if f.block_id == block_id), None)

    def find(self, name: str) -> Field:
        """A field by block_id or label: exact (any case), then a unique prefix of the label."""
        wanted = name.strip().lower()
        for f in self.fields:
            if wanted in (f.block_id.lower(), f.label.lower()):
                return f
        near = [f for f in self.fields if f.label.lower().startswith(wanted) or f.block_id.lower().startswith(wanted)]
        if len(near) == 1 and wanted:
            return near[0]
        names = ", ".join(f.label for f in self.fields)
        which = "matches several fields" if near else "is not a field of this form"
        raise FormError(f"“{name.strip()}” {which}. Fields: {names}.")

    # --- answers --------------------------------------------------------------------------------

    def set(self, f: Field, raw: str) -> None:
        """Set a field from what was typed: text as is, options by number, value or label."""
        text = raw.strip()
        if f.kind in ("text", "other"):
            value = raw.replace("\\n", "\n") if f.element.get("multiline") else raw.strip()
            self.values[f.block_id] = None if text.lower() in CLEAR and f.optional else value
        elif f.kind == "number":
            self.values[f.block_id] = None if text.lower() in CLEAR or not text else text
        elif f.kind == "select":
            self.values[f.block_id] = None if text.lower() in CLEAR or not text else self._option(f, text)
        else:
            if text.lower() in CLEAR or not text:
                self.values[f.block_id] = []
            else:
                chosen = [self._option(f, part.strip()) for part in text.split(",") if part.strip()]
                self.values[f.block_id] = [v for v, _ in f.options if v in chosen]

    @staticmethod
    def _option(f: Field, text: str) -> str:
        if text.isascii() and text.isdigit() and 1 <= int(text) <= len(f.options):
            return f.options[int(text) - 1][0]
        lowered = text.lower()
        for value, label in f.options:
            if lowered in (value.lower(), label.lower()):
                return value
        near = [value for value, label in f.options if label.lower().startswith(lowered)]
        if len(near) == 1:
            return near[0]
        raise FormError(f"“{text}” is not one of the {len(f.options)} choices of {f.label}.")

    def shown(self, f: Field) -> str:
        value = self.values.get(f.block_id)
        names = dict(f.options)
        if f.multiple:
            return ", ".join(names.get(v, v) for v in value or []) or "(none)"
        if f.kind == "select":
            return names.get(value, value) if value else "(none)"
        return "(empty)" if value in (None, "") else str(value)

    # --- submitting -----------------------------------------------------------------------------

    def client_errors(self) -> dict[str, str]:
        """What Slack itself checks before sending a submission: required fields, numbers, lengths."""
        errors: dict[str, str] = {}
        for f in self.fields:
            value = self.values.get(f.block_id)
            empty = value in (None, "", [])
            if empty:
                if not f.optional and f.kind != "checkboxes":
                    errors[f.block_id] = "Please complete this required field."
                continue
            if f.kind == "number":
                errors.update(_number_error(f, str(value)))
            elif f.kind == "text":
                low, high = f.element.get("min_length"), f.element.get("max_length")
                if high is not None and len(str(value)) > int(high):
                    errors[f.block_id] = f"Please use {high} characters or fewer."
                elif low is not None and len(str(value)) < int(low):
                    errors[f.block_id] = f"Please use at least {low} characters."
        return errors

    def state_values(self) -> dict[str, dict[str, Any]]:
        """{block_id: element state}, as Slack puts it in view.state.values (action_id "value")."""
        out: dict[str, dict[str, Any]] = {}
        for f in self.fields:
            value = self.values.get(f.block_id)
            kind = f.element.get("type", "plain_text_input")
            if f.kind == "select":
                out[f.block_id] = {"type": kind, "selected_option": _option_object(f, value) if value else None}
            elif f.multiple:
                out[f.block_id] = {"type": kind, "selected_options": [_option_object(f, v) for v in value or []]}
            else:
                out[f.block_id] = {"type": kind, "value": value if value not in ("",) else None}
        return out

    def submission_view(self) -> dict[str, Any]:
        return {**self.view, "id": self.view_id}


def _initial(f: Field) -> Any:
    element = f.element
    if f.multiple:
        return [o.get("value") for o in element.get("initial_options") or []]
    if f.kind == "select":
        option = element.get("initial_option")
        return option.get("value") if option else None
    return element.get("initial_value")


def _option_object(f: Field, value: str) -> dict[str, Any]:
    label = dict(f.options).get(value, value)
    return {"text": {"type": "plain_text", "text": label, "emoji": True}, "value": value}


def _number_error(f: Field, value: str) -> dict[str, str]:
    decimal = bool(f.element.get("is_decimal_allowed"))
    try:
        number = float(value) if decimal else int(value)
    except ValueError:
        return {f.block_id: "Please enter a number." if decimal else "Please enter a whole number."}
    low, high = f.element.get("min_value"), f.element.get("max_value")
    if low is not None and number < float(low):
        return {f.block_id: f"Please enter a number {low} or more."}
    if high is not None and number > float(high):
        return {f.block_id: f"Please enter a number {high} or less."}
    return {}
