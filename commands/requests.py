"""/ona requests — pending approval requests, and the buttons and modals that decide them."""

from __future__ import annotations

from typing import Any

from bot import blocks as bk
from bot.approvals import views
from bot.approvals.model import PENDING
from bot.approvals.service import DENY_CALLBACK, REASON_CALLBACK, SHOW_SECRET, ApprovalService
from bot.context import Context
from bot.registry import Args, Group, Refused, action_value

GROUP = Group("requests", "Approval requests", aliases=("request", "approvals"))


def _service(ctx: Context) -> ApprovalService:
    if ctx.services.approvals is None:
        raise Refused("Approvals are not configured on this bot.")
    return ctx.services.approvals


@GROUP.command(usage="requests", help="Pending approval requests, with buttons for those you may decide")
def list_pending(ctx: Context, args: Args) -> None:
    service = _service(ctx)
    viewer = service.person(ctx)
    rows = []
    for request in service.flow.store.in_states(PENDING, limit=50):
        may = request.requester_id != ctx.user_id and service.flow.directory.matches(
            viewer.team_id, viewer.user_id, tuple(request.approvers)) is not None
        rows.append((request, service.flow.operations[request.operation], may))
    blocks = views.request_list(rows, heading="Pending requests", empty="No request is pending.", limit=5)
    ctx.reply(bk.message(_kept_secrets(service, ctx) + blocks, text=f"{len(rows)} pending request(s)"))


def _kept_secrets(service: ApprovalService, ctx: Context) -> list[Any]:
    """The caller's own results whose direct message failed: each behind a button that shows it once."""
    blocks: list[Any] = []
    for request in service.flow.store.kept_secrets(ctx.user_id, service.flow.clock()):
        if request.requester_team != ctx.team_id:
            continue
        blocks.append(bk.section(
            f":key: The result of your request to *{bk.escape(service.title(request))}* (`{request.id}`) could "
            f"not be sent to you as a direct message. You can see it once, until "
            f"{views.slack_date(request.secret_until or 0, '{time}')}.",
            accessory=bk.button("Show the secret", SHOW_SECRET, {"id": request.id}, confirm_with=bk.confirm(
                "Show the secret?", "It is shown once, only to you, then erased.", ok="Show it"))))
    return blocks


@GROUP.action("approval:approve", self_checked=True)
def approve(ctx: Context, payload: dict[str, Any]) -> None:
    value = action_value(payload)
    _service(ctx).approve(ctx, str(value.get("id", "")), str(value.get("h", "")))


@GROUP.action("approval:deny", self_checked=True)
def deny(ctx: Context, payload: dict[str, Any]) -> None:
    _service(ctx).ask_deny_reason(ctx, str(action_value(payload).get("id", "")))


@GROUP.action(views.FULL_CHANGE, read_only=True, self_checked=True)
def full_change(ctx: Context, payload: dict[str, Any]) -> None:
    _service(ctx).show_full_change(ctx, str(action_value(payload).get("id", "")))


@GROUP.action(SHOW_SECRET, self_checked=True)
def show_secret(ctx: Context, payload: dict[str, Any]) -> None:
    _service(ctx).reveal_secret(ctx, str(action_value(payload).get("id", "")))


@GROUP.action("approval:cancel", self_checked=True)
def cancel(ctx: Context, payload: dict[str, Any]) -> None:
    _service(ctx).cancel(ctx, str(action_value(payload).get("id", "")))


def _reason(values: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    reason = (values.get("reason") or "").strip()
    if not reason:
        return {"errors": {"reason": "Give a short reason."}}
    return {"params": {"reason": reason[:500], "request": str(meta.get("request", ""))}}


@GROUP.view(REASON_CALLBACK, validate=_reason, self_checked=True)
def submit_reason(ctx: Context, params: dict[str, Any], meta: dict[str, Any]) -> None:
    _service(ctx).submit_reason(ctx, params["request"], params["reason"])


@GROUP.view(DENY_CALLBACK, validate=_reason, self_checked=True)
def submit_deny(ctx: Context, params: dict[str, Any], meta: dict[str, Any]) -> None:
    _service(ctx).deny(ctx, params["request"], params["reason"])
