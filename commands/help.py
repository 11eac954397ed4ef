"""/ona help — what you can do from Slack, one short block per group."""

from __future__ import annotations

from bot import blocks as bk
from bot.context import Context
from bot.registry import Args, Group, Subcommand

GROUP = Group("help", "What the bot can do", aliases=("?", "commands"), public=True)

NOT_OFFERED = (
    "Creating, deleting, joining or leaving an organization is not offered in chat: those act on the "
    "bot's own identity or cannot be undone. Use the Ona dashboard."
)


def _usable(ctx: Context, group: Group) -> list[Subcommand]:
    """The subcommands this person may use: none of a group they may not read, and changes only
    where the policy lets them ask for one."""
    subcommands = list(group.subcommands.values())
    approvals = ctx.services.approvals
    if approvals is None:
        return subcommands
    person = approvals.person(ctx, fresh=False)
    if not approvals.may_use(person, group):
        return []
    may_change = approvals.may_request_any(person, group)
    return [s for s in subcommands if may_change or not s.mutating]


@GROUP.command(usage="help", help="List the commands")
def show_help(ctx: Context, args: Args) -> None:
    blocks: list = [bk.header("Ona bot commands")]
    hidden = False
    for group in ctx.services.groups:
        usable = _usable(ctx, group)
        hidden = hidden or len(usable) < len(group.subcommands)
        if group.name == "help" or not usable:
            continue
        lines = "\n".join(f"`/ona {bk.escape(s.usage)}`" for s in usable)
        blocks.append(bk.section(f"*{group.summary}*\n{lines}"))
    if len(blocks) == 1:
        blocks.append(bk.section("You may not use any command of this bot: it is for the Ona organization's "
                                 "admins. Ask one of them if you need something."))
    elif hidden:
        blocks.append(bk.context("Only what you may do is listed; the rest is for the Ona organization's admins."))
    blocks.append(bk.context("Changes ask for confirmation and follow the approval policy "
                             "(`/ona explain &lt;operation&gt;`). " + NOT_OFFERED))
    ctx.reply(bk.message(blocks, text="Ona bot commands"))
