"""/ona audit [n] — the last entries of the audit trail (who did what, when, with what outcome)."""

from __future__ import annotations

import calendar
import time

from bot import blocks as bk
from bot.approvals.views import slack_date
from bot.context import Context
from bot.registry import Args, Group, UsageError

GROUP = Group("audit", "Audit trail")
USAGE = "/ona audit [n]"


@GROUP.command(usage="audit [n]", help="The last n audit entries (default 10, at most 40)")
def show(ctx: Context, args: Args) -> None:
    count = 10
    if args.words:
        if len(args.words) > 1 or not (args.words[0].isascii() and args.words[0].isdigit()) or not 1 <= int(args.words[0]) <= 40:
            raise UsageError("Give a number of entries from 1 to 40.", USAGE)
        count = int(args.words[0])
    rows = ctx.services.approvals.audit_tail(count)
    blocks: list = [bk.header(f"Audit trail: last {len(rows)}")]
    for row in reversed(rows):
        epoch = calendar.timegm(time.strptime(row["at"], "%Y-%m-%dT%H:%M:%SZ"))
        who = f"<@{row['user_id']}>" if row["user_id"].startswith(("U", "W")) else bk.escape(row["user_id"])
        what = bk.escape(row["operation"] or "—")
        request = f" `{row['request_id']}`" if row["request_id"] else ""
        blocks.append(bk.section(f"*{bk.escape(row['action'])}* {what}{request} · {who}\n"
                                 f"{bk.escape(bk.clip(row['outcome'], 200))} · {slack_date(epoch, '{date_short} {time}')}"))
    if not rows:
        blocks.append(bk.section("Nothing recorded yet."))
    ctx.reply(bk.message(blocks[:50], text=f"Audit trail: last {len(rows)} entries"))
