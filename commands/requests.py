"""/ona requests — pending approval requests (deciding them: bot/approvals/listeners.py)."""

from __future__ import annotations

from typing import Any

from bot import blocks as bk
from bot.approvals import views
from bot.context import Context
from bot.registry import Args, Group

GROUP = Group("requests", "Approval requests", aliases=("request", "approvals"))


@GROUP.command(usage="requests", help="Pending approval requests, with buttons for those you may decide")
def list_pending(ctx: Context, args: Args) -> None:
    rows = ctx.services.approvals.pending_for(ctx.team_id, ctx.user_id)
    blocks = views.request_list(rows, heading="Pending requests", empty="No request is pending.", limit=5)
    ctx.reply(bk.message(_kept_secrets(ctx) + blocks, text=bk.plural(len(rows), "pending request")))


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
