"""/ona help — one phone screen: the groups this person may use, one line each; /ona help <group>
(or /ona <group> help) — that group's commands."""

from __future__ import annotations

import difflib

from bot import blocks as bk
from bot.context import Context
from bot.registry import Args, Group, Subcommand, UsageError

GROUP = Group("help", "What the bot can do", aliases=("?", "commands"), public=True)
USAGE = "help [group]"

NOT_OFFERED = (
    "Creating, deleting, joining or leaving an organization is not offered in chat: those act on the "
    "bot's own identity or cannot be undone. Use the Ona dashboard."
)
NOBODY = ("You may not use any command of this bot: it is for the Ona organization's admins. "
          "Ask one of them if you need something.")


def _usable(ctx: Context, group: Group) -> list[Subcommand]:
    """The subcommands this person may use: none of a group they may not read, and changes only
    where the policy lets them ask for one."""
    subcommands = list(group.subcommands.values())
    approvals = ctx.services.approvals
    person = approvals.person(ctx, fresh=False)
    if not approvals.may_use(person, group):
        return []
    may_change = approvals.may_request_any(person, group)
    return [s for s in subcommands if may_change or not s.mutating]


def _find(ctx: Context, word: str) -> Group:
    groups = {name: g for g in ctx.services.groups for name in (g.name, *g.aliases) if g.name != "help"}
    found = groups.get(word.lower())
    if found is None:
        near = difflib.get_close_matches(word.lower(), list(groups), n=1, cutoff=0.5)
        hint = f" Did you mean `{near[0]}`?" if near else ""
        raise UsageError(f"There is no group `{word[:40]}`.{hint}", f"/ona {USAGE}")
    return found


@GROUP.command(usage=USAGE, help="The groups of commands, or one group's commands")
def show_help(ctx: Context, args: Args) -> None:
    if args.words:
        _group_help(ctx, _find(ctx, args.words[0]))
        return
    lines, hidden = [], False
    for group in ctx.services.groups:
        usable = _usable(ctx, group)
        hidden = hidden or len(usable) < len(group.subcommands)
        if group.name != "help" and usable:
            lines.append(f"`/ona {group.name}` {bk.escape(group.summary)}")
    if not lines:
        ctx.reply(bk.message([bk.section(NOBODY)], text="Ona bot commands"))
        return
    blocks: list = [bk.section("*Ona commands* · `/ona help &lt;group&gt;`\n" + "\n".join(lines))]
    blocks.append(bk.context("Only what you may do is listed." if hidden else "Changes ask first."))
    ctx.reply(bk.message(blocks, text="Ona bot commands"))


def _group_help(ctx: Context, group: Group) -> None:
    usable = _usable(ctx, group)
    if not usable:
        ctx.reply(bk.message([bk.section(f"You may not use *{bk.escape(group.summary.lower())}*: it is for the "
                                         "Ona organization's admins. Ask one of them.")], text=group.summary))
        return
    # Without the "/ona " on every line: the longest groups then still fit one phone screen.
    lines = [f"`{bk.escape(s.usage)}` — {bk.escape(s.help)}" for s in usable]
    blocks: list = [bk.section(f"*{bk.escape(group.summary)}* · `/ona …`\n" + "\n".join(lines))]
    if group.name == "org":
        blocks.append(bk.context(NOT_OFFERED))
    ctx.reply(bk.message(blocks, text=group.summary))
