"""Check payloads against Slack's Block Kit limits with slack-sdk's own models."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

# Buttons that change nothing on click: they open a form, show something, or page.
NO_CONFIRM_NEEDED = {"banner:edit", "policies:edit", "sso:add", "sso:edit", "sso:show", "invite:ask",
                     "approval:deny"}


def _read_only_actions() -> set[str]:
    from commands import GROUPS

    return {a for g in GROUPS for a in g.read_only_actions}


def check_confirms(blocks: list[dict[str, Any]]) -> None:
    """Every button that changes something carries a confirm dialog."""
    exempt = NO_CONFIRM_NEEDED | _read_only_actions()
    for block in blocks:
        elements = block.get("elements", []) if block.get("type") == "actions" else [block.get("accessory") or {}]
        for element in elements:
            if element.get("type") == "button":
                action = element["action_id"]
                base = action.rsplit(":", 1)[0] if action.endswith((":next", ":prev")) else action
                assert base in exempt or element.get("confirm"), f"button {action} changes something: confirm it"


MESSAGE_METHODS = {"chat.postMessage", "chat.update", "chat.postEphemeral", "response_url"}
VIEW_METHODS = {"views.open", "views.update", "views.push", "views.publish"}


def check_message(payload: dict[str, Any]) -> None:
    blocks = payload.get("blocks") or []
    assert len(blocks) <= 50, f"{len(blocks)} blocks in a message"
    assert len(payload.get("text") or "") <= 40_000
    check_confirms(blocks)
    for block in blocks:
        parsed = Block.parse(block)
        assert parsed is not None, f"unknown block {block.get('type')}"
        parsed.validate_json()
        assert parsed.to_dict() == block or block.get("type") in ("input",), f"block changed when parsed: {block}"


def check_view(view: dict[str, Any]) -> None:
    parsed = View(**view)
    parsed.validate_json()
    check_confirms(view.get("blocks") or [])  # title/submit/close <= 24, private_metadata <= 3000, blocks valid
    assert len(view.get("blocks") or []) <= 100


def check_call(method: str, args: dict[str, Any]) -> None:
    if method in MESSAGE_METHODS and (args.get("blocks") or args.get("text")):
        check_message(args)
    elif method in VIEW_METHODS:
        check_view({k: v for k, v in args["view"].items() if k not in ("id", "hash", "state")})
