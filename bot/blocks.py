"""Block Kit helpers: every message, modal and Home view the bot sends is built from these.

They wrap slack_sdk's Block Kit models, so every payload is checked against Slack's limits when it is
serialised (``to_dict``), and add the few rules of our own: user text is escaped, long text is cut to
the limit with an ellipsis, buttons that change something carry a confirm dialog, and messages stay
within 50 blocks (modals and Home within 100).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    CheckboxesElement,
    ConfirmObject,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    NumberInputElement,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
    StaticMultiSelectElement,
    StaticSelectElement,
    UserSelectElement,
)
from slack_sdk.models.views import View

from bot import usertext

MESSAGE_MAX_BLOCKS = 50
VIEW_MAX_BLOCKS = 100
SECTION_MAX = 3000
FIELD_MAX = 2000
HEADER_MAX = 150
BUTTON_TEXT_MAX = 75
VALUE_MAX = 2000
TITLE_MAX = 24
METADATA_MAX = 3000


class BlockLimitError(ValueError):
    """A payload would break one of Slack's Block Kit limits."""


def escape(text: str) -> str:
    """Make user-typed text inert in mrkdwn: no @channel/@here pings, no forged links or mentions."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unformat(mrkdwn: str) -> str:
    """The plain words of mrkdwn we wrote: links as their labels, no bold/italic/code marks, entities
    decoded. For text kept in the database, which must not hold Slack formatting."""
    text = re.sub(r"<[^>|]+\|([^>]+)>", r"\1", mrkdwn)
    text = re.sub(r"(?<![\w])[*_~`]+|[*_~`]+(?![\w])", "", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def plural(count: int, word: str, many: str | None = None) -> str:
    """"1 approval", "2 approvals"; `many` for words that do not just take an s ("policies")."""
    return f"{count} {word if count == 1 else many or word + 's'}"


def principals(names: list[str] | tuple[str, ...]) -> str:
    """Policy principals as Slack shows them: "Ona organization admins", @group mentions, @people."""
    return ", ".join("Ona organization admins" if p == "ona:admins" else f"<!subteam^{p}>" if p.startswith("S")
                     else f"<@{p}>" for p in names)


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _md(text: str) -> MarkdownTextObject:
    # verbatim: Slack must not auto-link channel names or URLs in what we (or users) wrote.
    return MarkdownTextObject(text=text, verbatim=True)


def _plain(text: str, limit: int = 75) -> PlainTextObject:
    return PlainTextObject(text=clip(text, limit), emoji=True)


def header(text: str) -> HeaderBlock:
    return HeaderBlock(text=_plain(text, HEADER_MAX))


def section(text: str, *, accessory: ButtonElement | None = None, block_id: str | None = None) -> SectionBlock:
    return SectionBlock(text=_md(clip(text, SECTION_MAX)), accessory=accessory, block_id=block_id)


def fields(pairs: Iterable[tuple[str, str]]) -> list[SectionBlock]:
    """Key facts as two-column fields (they stack on a phone). Values are mrkdwn: escape user text first."""
    items = [_md(clip(f"*{label}*\n{value or '—'}", FIELD_MAX)) for label, value in pairs]
    return [SectionBlock(fields=items[i : i + 10]) for i in range(0, len(items), 10)]


def plain_section(text: str) -> SectionBlock:
    """Text a person typed, shown as typed: plain text (no bold, links, mentions or emoji codes), so it
    cannot pass for the bot's own formatted lines."""
    return SectionBlock(text=PlainTextObject(text=clip(text, SECTION_MAX), emoji=False))


def context(text: str) -> ContextBlock:
    return ContextBlock(elements=[_md(clip(text, SECTION_MAX))])


def divider() -> DividerBlock:
    return DividerBlock()


def confirm(title: str, text: str, ok: str = "Yes", deny: str = "Cancel") -> ConfirmObject:
    return ConfirmObject(
        title=_plain(title, 100), text=_md(clip(text, 300)), confirm=_plain(ok, 30), deny=_plain(deny, 30)
    )


def button(
    text: str,
    action_id: str,
    value: str | dict[str, Any] = "",
    *,
    style: str | None = None,
    confirm_with: ConfirmObject | None = None,
) -> ButtonElement:
    """A button; a dict value is sent as compact JSON. Buttons that change something need `confirm_with`."""
    raw = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    if len(raw) > VALUE_MAX:
        raise BlockLimitError(f"button value of {len(raw)} chars exceeds {VALUE_MAX}")
    return ButtonElement(
        text=_plain(text, BUTTON_TEXT_MAX), action_id=action_id, value=raw or None, style=style, confirm=confirm_with
    )


def actions(*elements: ButtonElement, block_id: str | None = None) -> ActionsBlock:
    return ActionsBlock(elements=list(elements), block_id=block_id)


def pager(action_id: str, page: int, pages: int, state: dict[str, Any]) -> list[Block]:
    """Previous/Next buttons and a 'page x of y' line; `state` rides in the button value."""
    if pages <= 1:
        return []
    buttons = []
    if page > 0:
        buttons.append(button("◀ Previous", f"{action_id}:prev", {**state, "page": page - 1}))
    if page < pages - 1:
        buttons.append(button("Next ▶", f"{action_id}:next", {**state, "page": page + 1}))
    return [context(f"Page {page + 1} of {pages}"), actions(*buttons)]


# --- modal inputs -------------------------------------------------------------------------------


def options(choices: Sequence[tuple[str, str]]) -> list[Option]:
    """(value, label) pairs as Block Kit options."""
    return [Option(value=value, text=_plain(label, 75)) for value, label in choices]


def _input(block_id: str, label: str, element: Any, optional: bool, hint: str | None) -> InputBlock:
    """Every input reads its value from action_id "value" (see submitted_values)."""
    return InputBlock(block_id=block_id, label=_plain(label, 2000), element=element, optional=optional,
                      hint=_plain(hint, 2000) if hint else None)


def text_input(
    block_id: str,
    label: str,
    *,
    initial: str | None = None,
    multiline: bool = False,
    max_length: int | None = None,
    optional: bool = False,
    hint: str | None = None,
    placeholder: str | None = None,
) -> InputBlock:
    element = PlainTextInputElement(
        action_id="value",
        initial_value=initial or None,
        multiline=multiline,
        max_length=max_length,
        placeholder=_plain(placeholder, 150) if placeholder else None,
    )
    return _input(block_id, label, element, optional, hint)


def number_input(
    block_id: str, label: str, *, initial: int | None = None, minimum: int | None = None,
    maximum: int | None = None, optional: bool = True, hint: str | None = None,
) -> InputBlock:
    element = NumberInputElement(
        action_id="value", is_decimal_allowed=False,
        initial_value=str(initial) if initial is not None else None,
        min_value=str(minimum) if minimum is not None else None,
        max_value=str(maximum) if maximum is not None else None,
    )
    return _input(block_id, label, element, optional, hint)


def select_input(
    block_id: str, label: str, choices: Sequence[tuple[str, str]], *, initial: str | None = None,
    optional: bool = False, hint: str | None = None,
) -> InputBlock:
    opts = options(choices)
    chosen = next((o for o in opts if o.value == initial), None)
    element = StaticSelectElement(action_id="value", options=opts, initial_option=chosen)
    return _input(block_id, label, element, optional, hint)


def user_select_input(block_id: str, label: str, *, optional: bool = False, hint: str | None = None) -> InputBlock:
    """Slack's member picker: the person is tapped, never typed."""
    return _input(block_id, label, UserSelectElement(action_id="value"), optional, hint)


def multi_select_input(
    block_id: str, label: str, choices: Sequence[tuple[str, str]], *, initial: Sequence[str] = (),
    optional: bool = True, hint: str | None = None,
) -> InputBlock:
    opts = options(choices)
    chosen = [o for o in opts if o.value in set(initial)] or None
    element = StaticMultiSelectElement(action_id="value", options=opts, initial_options=chosen)
    return _input(block_id, label, element, optional, hint)


def checkboxes_input(
    block_id: str, label: str, choices: Sequence[tuple[str, str]], *, initial: Sequence[str] = (),
    hint: str | None = None,
) -> InputBlock:
    opts = options(choices)
    chosen = [o for o in opts if o.value in set(initial)] or None
    element = CheckboxesElement(action_id="value", options=opts, initial_options=chosen)
    return _input(block_id, label, element, True, hint)


# --- whole payloads -----------------------------------------------------------------------------


def message(blocks: Sequence[Block], text: str) -> dict[str, Any]:
    """A message payload (`text` is the notification/fallback line)."""
    if len(blocks) > MESSAGE_MAX_BLOCKS:
        raise BlockLimitError(f"{len(blocks)} blocks in a message (Slack allows {MESSAGE_MAX_BLOCKS})")
    return {"text": clip(text, 3000), "blocks": [b.to_dict() for b in blocks]}


def modal(
    title: str,
    blocks: Sequence[Block],
    *,
    callback_id: str,
    submit: str | None = None,
    close: str = "Cancel",
    private_metadata: str | dict[str, Any] = "",
    notify_on_close: bool = False,
) -> dict[str, Any]:
    meta = metadata_json(private_metadata)
    if len(meta) > METADATA_MAX:
        raise BlockLimitError(f"private_metadata of {len(meta)} chars exceeds {METADATA_MAX}")
    if len(blocks) > VIEW_MAX_BLOCKS:
        raise BlockLimitError(f"{len(blocks)} blocks in a modal (Slack allows {VIEW_MAX_BLOCKS})")
    view = View(
        type="modal",
        callback_id=callback_id,
        title=_plain(title, TITLE_MAX),
        submit=_plain(submit, TITLE_MAX) if submit else None,
        close=_plain(close, TITLE_MAX),
        blocks=list(blocks),
        private_metadata=meta or None,
        notify_on_close=notify_on_close or None,
    )
    return view.to_dict()


def blocks_of(payload: dict[str, Any]) -> list[Block]:
    """The blocks of a message payload as models again (to show a reply inside a modal)."""
    return [b for b in (Block.parse(raw) for raw in payload.get("blocks") or []) if b is not None]


def metadata_json(value: str | dict[str, Any]) -> str:
    """private_metadata as compact JSON, non-ASCII kept as is (Slack counts characters, not bytes)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def loading_modal(title: str, callback_id: str) -> dict[str, Any]:
    """What opens at once (a trigger_id lives 3 s) while Ona is asked for the form's data."""
    return modal(title, [section(":hourglass_flowing_sand: Loading from Ona…")], callback_id=callback_id)


def home(blocks: Sequence[Block]) -> dict[str, Any]:
    if len(blocks) > VIEW_MAX_BLOCKS:
        raise BlockLimitError(f"{len(blocks)} blocks in the Home tab (Slack allows {VIEW_MAX_BLOCKS})")
    return View(type="home", blocks=list(blocks)).to_dict()


def submitted_values(view: dict[str, Any]) -> dict[str, Any]:
    """Flatten view.state.values into {block_id: value}: text, number, select, multi-select, checkboxes."""
    out: dict[str, Any] = {}
    for block_id, elements in view.get("state", {}).get("values", {}).items():
        for element in elements.values():
            kind = element.get("type")
            if kind in ("plain_text_input", "number_input"):
                value = element.get("value")
                out[block_id] = usertext.clean(value) if isinstance(value, str) else value
            elif kind == "users_select":
                out[block_id] = element.get("selected_user")
            elif kind == "static_select":
                selected = element.get("selected_option")
                out[block_id] = selected["value"] if selected else None
            elif kind in ("multi_static_select", "checkboxes"):
                out[block_id] = [o["value"] for o in element.get("selected_options") or []]
            else:
                out[block_id] = element.get("value")
    return out
