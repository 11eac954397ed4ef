"""/ona requests — pending approval requests, Cancel on one's own; /ona cancel <id>; the "Ona approvals"
shortcut's modal (deciding them: bot/approvals/listeners.py)."""

from __future__ import annotations

import re
from typing import Any

from bot import blocks as bk
from bot import replies
from bot.approvals import views
from bot.context import Context
from bot.registry import Args, Group, UsageError

GROUP = Group("requests", "Approval requests", aliases=("request", "approvals"), top_level=("cancel",),
              for_participants=True)
USAGE_CANCEL = "cancel <request ID>"
SHORTCUT = "ona_approvals"  # manifest.yml's global shortcut "Ona approvals"
_REQUEST_ID = re.compile(r"R[0-9A-F]{10}")
MODAL_CARDS = 5  # requests to decide shown whole in the modal (each is a few blocks; a modal holds 100)


@GROUP.command(usage="requests", help="Pending approval requests, with buttons for those you may decide")
def list_pending(ctx: Context, args: Args) -> None:
    rows = ctx.services.approvals.pending_for(ctx.team_id, ctx.user_id)
    blocks = views.request_list(rows, heading="Pending requests", empty="No request is pending.", limit=5,
                                viewer=ctx.user_id)
    ctx.reply(bk.message(_kept_secrets(ctx) + blocks, text=bk.plural(len(rows), "pending request")))


@GROUP.command("cancel", usage=USAGE_CANCEL, help="Cancel a request of yours that is still waiting",
               self_checked=True)  # the approval flow lets only the requester cancel
def cancel(ctx: Context, args: Args) -> None:
    usage = f"/ona {USAGE_CANCEL}"
    if len(args.words) != 1:
        raise UsageError("Give the ID of one of your requests: `/ona requests` shows it (like R1A2B3C4D5E).", usage)
    request_id = args.words[0].strip("`").upper()
    if not _REQUEST_ID.fullmatch(request_id):
        raise UsageError(f"`{args.words[0][:40]}` is not a request ID: they look like R1A2B3C4D5E.", usage)
    approvals = ctx.services.approvals
    if approvals.request_of(request_id) is None:
        ctx.reply(replies.info(f":mag: There is no request `{request_id}`. `/ona requests` lists the pending ones."))
        return
    approvals.cancel(ctx, request_id)


@GROUP.shortcut(SHORTCUT)
def open_requests(ctx: Context, payload: dict[str, Any]) -> None:
    """Opens at once (the trigger lives 3 s), then shows the requests once they are read."""
    view_id = ctx.open_modal(bk.loading_modal("Ona approvals", views.REQUESTS_MODAL))
    ctx.update_modal(view_id, requests_modal(ctx))


def requests_modal(ctx: Context) -> dict[str, Any]:
    """What this person may decide (whole, with Approve and Deny) and their own latest requests (Cancel)."""
    approvals = ctx.services.approvals
    to_decide = [row for row in approvals.pending_for(ctx.team_id, ctx.user_id) if row[2]]
    mine = [(request, op, False) for request, op in approvals.own_requests(ctx.team_id, ctx.user_id, limit=5)]
    blocks = [
        *views.request_list(to_decide, heading="Waiting for your approval", empty="Nothing to decide. :tada:",
                            limit=MODAL_CARDS),
        bk.divider(),
        *views.request_list(mine, heading="Your requests", empty="You have not requested anything yet.",
                            limit=5, viewer=ctx.user_id),
    ]
    return bk.modal("Ona approvals", blocks[: bk.VIEW_MAX_BLOCKS], callback_id=views.REQUESTS_MODAL, close="Close")


def _kept_secrets(ctx: Context) -> list[Any]:
    """The caller's own results whose direct message failed: each behind a button that shows it once."""
    blocks: list[Any] = []
    for request, title in ctx.services.approvals.kept_secrets_for(ctx):
        blocks.append(bk.section(
            f":key: The result of your request to *{bk.escape(title)}* (`{request.id}`) could "
            f"not be sent to you as a direct message. You can see it once, until "
            f"{views.slack_date(request.secret_until or 0, '{time}')}.",
            accessory=bk.button("Show the secret", views.SHOW_SECRET, {"id": request.id}, confirm_with=bk.confirm(
                "Show the secret?", "It is shown once, only to you, then erased.", ok="Show it"))))
    return blocks
