"""/ona explain <operation> [@user] — who may request and approve an operation, and by which rule."""

from __future__ import annotations

import re

from bot import blocks as bk
from bot.approvals.views import approvers_text
from bot.context import Context
from bot.durations import format_seconds
from bot.registry import Args, Group, Refused, UsageError

GROUP = Group("explain", "Who may do what")
USAGE = "/ona explain <operation> [@user]"
_MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(\|[^>]*)?>$")


@GROUP.command(usage="explain <operation> [@user]", help="Who may request and approve an operation")
def explain(ctx: Context, args: Args) -> None:
    service = ctx.services.approvals
    if service is None:
        raise Refused("Approvals are not configured on this bot.")
    operations = service.flow.operations
    if not args.words or len(args.words) > 2:
        raise UsageError("Name an operation.", f"{USAGE}\nOperations: {', '.join(sorted(operations))}")
    name = args.words[0].lower()
    if name not in operations and name not in service.flow.policy.operations:
        raise UsageError(f"There is no operation `{name[:60]}`.",
                         f"{USAGE}\nOperations: {', '.join(sorted(operations))}")
    rule = service.flow.policy.rule(name)
    lines = [
        f"*Requesters:* {approvers_text(rule.requesters)}",
        "*Approval:* none, runs at once" if not rule.needs_approval else
        f"*Approval:* {rule.approvals} distinct approver(s) from {approvers_text(rule.approvers)}; "
        "nobody approves their own request",
        f"*Pending for at most:* {format_seconds(rule.ttl_seconds)} · reason "
        f"{'required' if rule.reason else 'optional'}",
        f"*Rule:* {bk.escape(rule.source)}",
    ]
    if rule.needs_approval:  # a policy the organization cannot satisfy today, said plainly
        shortfall = service.flow.shortfall(rule.approvers, rule.approvals, service.person(ctx, fresh=False))
        if shortfall:
            lines.append(f":warning: {shortfall}")
    if len(args.words) == 2:
        found = _MENTION.match(args.words[1])
        if not found:
            raise UsageError("Name the user as a mention (@name, picked from the list).", USAGE)
        user = found.group(1)
        directory = service.flow.directory
        may_request = directory.matches(ctx.team_id, user, rule.requesters)
        may_approve = directory.matches(ctx.team_id, user, rule.approvers)
        lines.append(f"<@{user}> {'may' if may_request else 'may not'} request it"
                     + (f" (as {approvers_text((may_request,))})" if may_request else "")
                     + f" and {'may' if may_approve and rule.needs_approval else 'may not'} approve it"
                     + (" (unless they requested it)" if may_approve and rule.needs_approval else "") + ".")
    ctx.reply(bk.message([bk.header(f"Who may: {name}"), bk.section("\n".join(lines))], text=f"Who may: {name}"))
