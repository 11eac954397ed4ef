"""/ona audit [n] — the last entries of the audit trail, in words: what was changed (as people say it),
by whom (a mention), how it ended, and when ("5 minutes ago"). The trail itself keeps the exact
operation names and outcomes for `ona-bot audit export`; none of them reaches a person here."""

from __future__ import annotations

import calendar
import time
from typing import Any

from bot import blocks as bk
from bot import durations
from bot.context import Context
from bot.registry import Args, Group, UsageError

GROUP = Group("audit", "Audit trail")
USAGE = "/ona audit [n]"

# How each kind of entry reads: "{what} — {how}", {who} being the person (or the bot).
_HOW = {
    "request": "asked for by {who}",
    "vote": "approved by {who}",
    "execute": "ran after approval: {outcome}",
    "direct": "{outcome}, by {who}",
    "deny": "denied by {who}",
    "cancel": "request cancelled by {who}",
    "expire": "request expired",
    "refused": "refused to {who}: {outcome}",
    "reconcile": "settled after the bot restarted: {outcome}",
    "withdraw": "request withdrawn: it could not be posted to the approvals channel",
    "secret shown": "its one-time result was shown to {who}",
}


def outcome_words(outcome: str) -> str:
    """The recorded outcome as people say it: no codes, hashes or state names."""
    text = outcome.strip()
    if text.startswith("succeeded"):
        return "done (found after a restart)" if "reconciled" in text else "done"
    if text.startswith("failed"):
        if "may have applied" in text or "outcome unknown" in text:
            return "outcome unknown: check it in Ona"
        if "not applied" in text:
            return "not applied"
        return "failed, nothing was changed" if "re-read" not in text else "not run: Ona could not be read"
    if text.startswith("conflict"):
        return "not run: Ona changed since the request"
    if text == "lapsed before execution":
        return "expired before it could run"
    if text.startswith("denied: "):
        return text.removeprefix("denied: ")
    return text


def _what(ctx: Context, operation: str) -> str:
    if operation.startswith("read "):
        return f"Look at the {operation.removeprefix('read ')} commands"
    if not operation:
        return "A request"
    return ctx.services.approvals.operation_title(operation)


def _when(epoch: float) -> str:
    """Slack shows "5 minutes ago" in the reader's terms; the fallback says the same in words."""
    ago = max(0.0, time.time() - epoch)
    fallback = "just now" if ago < 60 else f"{durations.words(ago)} ago"
    return f"<!date^{int(epoch)}^{{ago}}|{fallback}>"


def entry(ctx: Context, row: dict[str, Any]) -> str:
    user = row["user_id"] or ""
    who = f"<@{user}>" if user.startswith(("U", "W")) else "the bot"
    outcome = bk.escape(bk.clip(outcome_words(row["outcome"] or ""), 200))
    how = _HOW.get(row["action"], "{outcome}").format(who=who, outcome=outcome)
    if row["action"] == "deny" and outcome:
        how += f": {outcome}"
    epoch = calendar.timegm(time.strptime(row["at"], "%Y-%m-%dT%H:%M:%SZ"))
    return f"*{bk.escape(_what(ctx, row['operation'] or ''))}* — {how} · {_when(epoch)}"


@GROUP.command(usage="audit [n]", help="The last n audit entries (default 10, at most 40)")
def show(ctx: Context, args: Args) -> None:
    count = 10
    if args.words:
        if len(args.words) > 1 or not (args.words[0].isascii() and args.words[0].isdigit()) or not 1 <= int(args.words[0]) <= 40:
            raise UsageError("Give a number of entries from 1 to 40.", USAGE)
        count = int(args.words[0])
    rows = ctx.services.approvals.audit_tail(count)
    blocks: list = [bk.header(f"Audit trail: the last {len(rows)}")]
    blocks += [bk.section(entry(ctx, row)) for row in reversed(rows)]
    if not rows:
        blocks.append(bk.section("Nothing recorded yet."))
    ctx.reply(bk.message(blocks[:50], text=f"Audit trail: the last {len(rows)} entries"))
