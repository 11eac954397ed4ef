"""How approval requests read on a phone: the channel message, the lists, the Home tab, dry runs."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bot import blocks as bk
from bot.approvals.policy import Rule
from bot.approvals.store import DRAFT, PENDING, REDACTED, Request

MAX_DIFF_LINES = 10
STATE_LINE = {
    "succeeded": ":white_check_mark: *Approved and done*",
    "failed": ":x: *Approved, but Ona refused*",
    "denied": ":no_entry_sign: *Denied*",
    "expired": ":hourglass: *Expired* without a decision",
    "cancelled": ":leftwards_arrow_with_hook: *Cancelled* by the requester",
    "conflict": ":warning: *Not run*: Ona changed since the request; ask again",
    "executing": ":gear: *Running…*",
    "approved": ":gear: *Approved, running…*",
}


def slack_date(epoch: float, fmt: str = "{date_short_pretty} at {time}") -> str:
    """Shown in each viewer's own time zone by Slack; the fallback is UTC."""
    fallback = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(epoch))
    return f"<!date^{int(epoch)}^{fmt}|{fallback}>"


Show = Callable[[str, Any], str] | None


def _value(value: Any, key: str = "", show: Show = None) -> str:
    if show is not None and value is not None and value != REDACTED:
        return show(key, value)
    if value is None or value == "" or value == []:
        return "—"
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value)
    if value == REDACTED:
        return "(secret, not shown)"
    return bk.escape(bk.clip(str(value), 80))


def diff_lines(request_or_before: Request | dict[str, Any], after: dict[str, Any] | None = None,
               params: dict[str, Any] | None = None, show: Show = None) -> list[str]:
    """One line per field that changes, `before → after`; identifying params listed as context."""
    if isinstance(request_or_before, Request):
        before, after, params = request_or_before.before, request_or_before.after, request_or_before.params
    else:
        before = request_or_before
    after = after or {}
    lines = [f"*{bk.escape(k.replace('_', ' '))}*: {_value(before.get(k), k, show)} → {_value(v, k, show)}"
             for k, v in after.items() if before.get(k) != v]
    lines += [f"*{bk.escape(k.replace('_', ' '))}*: {_value(v, k, show)}" for k, v in (params or {}).items()
              if k not in after]
    if len(lines) > MAX_DIFF_LINES:
        lines = [*lines[: MAX_DIFF_LINES - 1], f"…and {len(lines) - MAX_DIFF_LINES + 1} more"]
    return lines or ["(no visible change)"]


def approvers_text(principals: list[str] | tuple[str, ...]) -> str:
    parts = [("Ona organization admins" if p == "ona:admins" else f"<!subteam^{p}>" if p.startswith("S")
              else f"<@{p}>") for p in principals]
    return ", ".join(parts)


def approval_message(request: Request, title: str, votes: list[dict[str, Any]], show: Show = None) -> dict[str, Any]:
    """The message in the approvals channel: what, who, why, the diff, expiry, and the buttons."""
    blocks: list[Any] = [
        bk.header(f"Approval needed: {title}"),
        bk.section(f"<@{request.requester_id}> asks to *{bk.escape(title)}*."),
    ]
    if request.reason:
        blocks.append(bk.section(f"*Why:* {bk.escape(request.reason)}"))
    blocks.append(bk.section("\n".join(diff_lines(request, show=show))))
    blocks.append(bk.context(_progress(request, votes) + f" · expires {slack_date(request.expires_at)}"
                             f" · `{request.id}`"))
    if request.state == PENDING:
        value = {"id": request.id, "h": request.hash}
        blocks.append(bk.actions(
            bk.button("Approve", "approval:approve", value, style="primary", confirm_with=bk.confirm(
                "Approve this change?", f"{bk.clip(title, 200)} will run in Ona as soon as it has "
                f"{request.approvals_needed} approval(s).", ok="Approve")),
            bk.button("Deny", "approval:deny", {"id": request.id}, style="danger"),
        ))
    else:
        blocks.append(bk.section(_final_line(request, votes)))
    return bk.message(blocks, text=f"Approval needed: {title} (requested by <@{request.requester_id}>)"
                      if request.state == PENDING else f"{title}: {request.state}")


def _progress(request: Request, votes: list[dict[str, Any]]) -> str:
    who = ", ".join(f"<@{v['approver_id']}>" for v in votes)
    needed = f"{len(votes)} of {request.approvals_needed} approvals" + (f": {who}" if who else "")
    return f"{needed} · approvers: {approvers_text(request.approvers)}"


def _final_line(request: Request, votes: list[dict[str, Any]]) -> str:
    line = STATE_LINE.get(request.state, request.state)
    if request.state == "failed" and request.note == "outcome unknown":
        line = ":warning: *Approved, but Ona did not confirm*"
    if request.decided_by and request.state in ("succeeded", "failed", "denied", "approved", "executing"):
        line += f" — by <@{request.decided_by}>"
    if request.decided_at:
        line += f", {slack_date(request.decided_at)}"
    if request.state == "denied" and request.note:
        line += f"\n*Reason:* {bk.escape(request.note)}"
    if request.state in ("succeeded", "failed") and request.result:
        line += f"\n{request.result if request.state == 'succeeded' else bk.escape(request.result)}"
    return line


def requester_notice(request: Request, title: str, permalink: str | None) -> dict[str, Any]:
    where = f"<{permalink}|the approvals channel>" if permalink else "the approvals channel"
    text = (f":inbox_tray: Your request to *{bk.escape(title)}* (`{request.id}`) is waiting for "
            f"{request.approvals_needed} approval(s) in {where}. It expires {slack_date(request.expires_at)}.")
    cancel = bk.button("Cancel request", "approval:cancel", {"id": request.id},
                       confirm_with=bk.confirm("Cancel this request?", "Approvers will no longer see buttons."))
    return bk.message([bk.section(text), bk.actions(cancel)], text=f"Request {request.id} is waiting for approval")


def outcome_for_requester(request: Request, title: str, text: str) -> dict[str, Any]:
    line = STATE_LINE.get(request.state, request.state)
    body = f"{line}: your request to *{bk.escape(title)}* (`{request.id}`)."
    if text:
        body += f"\n{text}"
    return bk.message([bk.section(body)], text=f"Your request {request.id}: {request.state}")


def dry_run(title: str, rule: Rule, before: dict[str, Any], after: dict[str, Any],
            params: dict[str, Any], show: Show = None) -> dict[str, Any]:
    how = ("runs at once" if not rule.needs_approval else
           f"needs {rule.approvals} approval(s) from {approvers_text(rule.approvers)}")
    blocks = [
        bk.header(f"Dry run: {title}"),
        bk.section("\n".join(diff_lines(before, after, params, show))),
        bk.context(f"Nothing was changed or requested. For real, this {how} ({bk.escape(rule.source)})."),
    ]
    return bk.message(blocks, text=f"Dry run: {title}")


def request_line(request: Request, title: str) -> str:
    state = "waiting for its reason" if request.state == DRAFT else request.state
    return (f"*{bk.escape(title)}* · `{request.id}` · {state}\n<@{request.requester_id}> · "
            f"expires {slack_date(request.expires_at, '{date_short} {time}')}")


def request_list(requests: list[tuple[Request, str, bool]], *, heading: str, empty: str) -> list[Any]:
    """(request, title, viewer may decide) rows, each with the buttons the viewer may press."""
    blocks: list[Any] = [bk.header(heading)]
    if not requests:
        return [*blocks, bk.section(empty)]
    for request, title, may_decide in requests[:15]:
        accessory = None
        if may_decide and request.state == PENDING:
            accessory = bk.button("Approve", "approval:approve", {"id": request.id, "h": request.hash},
                                  style="primary", confirm_with=bk.confirm("Approve this change?",
                                                                           bk.clip(title, 250), ok="Approve"))
        blocks.append(bk.section(request_line(request, title), accessory=accessory))
    return blocks


def home(pending_for_me: list[tuple[Request, str, bool]], mine: list[tuple[Request, str, bool]]) -> dict[str, Any]:
    blocks = [
        *request_list(pending_for_me, heading="Waiting for your approval", empty="Nothing to decide. :tada:"),
        bk.divider(),
        *request_list(mine, heading="Your requests", empty="You have not requested anything yet."),
        bk.context("Type `/ona help` in any channel for commands."),
    ]
    return bk.home(blocks[:100])
