"""/ona help — what you can do from Slack, one short block per group."""

from __future__ import annotations

from bot import blocks as bk
from bot.context import Context
from bot.registry import Args, Group

GROUP = Group("help", "What the bot can do", aliases=("?", "commands"))

NOT_OFFERED = (
    "Creating, deleting, joining or leaving an organization is not offered in chat: those act on the "
    "bot's own identity or cannot be undone. Use the Ona dashboard."
)


def _may_change(ctx: Context) -> bool:
    """Whether the policy's default lets this person request changes at all."""
    approvals = ctx.services.approvals
    if approvals is None:
        return True
    rule = approvals.flow.policy.defaults
    return approvals.flow.directory.matches(ctx.team_id, ctx.user_id, rule.requesters) is not None


@GROUP.command(usage="help", help="List the commands")
def show_help(ctx: Context, args: Args) -> None:
    may_change = _may_change(ctx)
    blocks: list = [bk.header("Ona bot commands")]
    for group in ctx.services.groups:
        usable = [s for s in group.subcommands.values() if may_change or not s.mutating]
        if group.name == "help" or not usable:
            continue
        lines = "\n".join(f"`/ona {bk.escape(s.usage)}`" for s in usable)
        blocks.append(bk.section(f"*{group.summary}*\n{lines}"))
    if not may_change:
        blocks.append(bk.context("You can look things up; changes are made by the Ona organization's admins."))
    blocks.append(bk.context("Changes ask for confirmation and follow the approval policy "
                             "(`/ona explain &lt;operation&gt;`). " + NOT_OFFERED))
    ctx.reply(bk.message(blocks, text="Ona bot commands"))
