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


@GROUP.command(usage="help", help="List the commands")
def show_help(ctx: Context, args: Args) -> None:
    groups = [g for g in ctx.services.groups if g.name != "help"]
    blocks: list = [bk.header("Ona bot commands")]
    for group in groups:
        lines = "\n".join(f"`/ona {bk.escape(s.usage)}`" for s in group.subcommands.values())
        blocks.append(bk.section(f"*{group.summary}*\n{lines}"))
    blocks.append(bk.context("Changes ask for confirmation. " + NOT_OFFERED))
    ctx.reply(bk.message(blocks, text="Ona bot commands"))
