"""The buttons and forms that decide requests, next to the views that draw them (views.py): Approve,
Deny (and its reason form), Cancel, the requester's reason form, "See the full change" and "Show the
secret". Each checks who pressed it itself (the request's approvers, or its requester), so all are
`self_checked`: the policy's [reads] does not gate them."""

from __future__ import annotations

from typing import Any

from bot.approvals.views import (
    APPROVE,
    CANCEL,
    DENY,
    DENY_CALLBACK,
    FULL_CHANGE,
    REASON_CALLBACK,
    SHOW_SECRET,
    UNDO,
)
from bot.context import Context
from bot.registry import Group, action_value

# Buttons only: no `/ona` subcommand, so neither help nor the router lists it.
GROUP = Group("approval-buttons", "Deciding approval requests")


def _id(payload: dict[str, Any]) -> str:
    return str(action_value(payload).get("id", ""))


@GROUP.action(APPROVE, self_checked=True)
def approve(ctx: Context, payload: dict[str, Any]) -> None:
    ctx.services.approvals.approve(ctx, _id(payload), str(action_value(payload).get("h", "")))


@GROUP.action(DENY, self_checked=True)
def deny(ctx: Context, payload: dict[str, Any]) -> None:
    ctx.services.approvals.ask_deny_reason(ctx, _id(payload))


@GROUP.action(CANCEL, self_checked=True)
def cancel(ctx: Context, payload: dict[str, Any]) -> None:
    ctx.services.approvals.cancel(ctx, _id(payload))


@GROUP.action(FULL_CHANGE, read_only=True, self_checked=True)
def full_change(ctx: Context, payload: dict[str, Any]) -> None:
    ctx.services.approvals.show_full_change(ctx, _id(payload))


@GROUP.action(SHOW_SECRET, self_checked=True)
def show_secret(ctx: Context, payload: dict[str, Any]) -> None:
    ctx.services.approvals.reveal_secret(ctx, _id(payload))


@GROUP.action(UNDO, self_checked=True)  # only its maker may; the change itself follows the policy
def undo(ctx: Context, payload: dict[str, Any]) -> None:
    ctx.services.approvals.undo(ctx, _id(payload))


def _reason(values: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    reason = (values.get("reason") or "").strip()
    if not reason:
        return {"errors": {"reason": "Give a short reason."}}
    return {"params": {"reason": reason[:500], "request": str(meta.get("request", ""))}}


@GROUP.view(REASON_CALLBACK, validate=_reason, self_checked=True)
def submit_reason(ctx: Context, params: dict[str, Any], meta: dict[str, Any]) -> None:
    ctx.services.approvals.submit_reason(ctx, params["request"], params["reason"])


@GROUP.view(DENY_CALLBACK, validate=_reason, self_checked=True)
def submit_deny(ctx: Context, params: dict[str, Any], meta: dict[str, Any]) -> None:
    ctx.services.approvals.deny(ctx, params["request"], params["reason"])
