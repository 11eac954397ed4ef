"""How approval requests read on a phone: the channel message, the lists (in messages, the App Home and
the requests modal), dry runs."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bot import blocks as bk
from bot import usertext
from bot.approvals.model import (
    APPROVED,
    DENIED,
    DRAFT,
    EXECUTING,
    FAILED,
    OUTCOME_UNKNOWN,
    PENDING,
    REDACTED,
    SUCCEEDED,
    Request,
)
from bot.approvals.policy import Rule
from bot.registry import Operation

# A diff is cut into sections Slack accepts (3,000 characters each); past CHANNEL_SECTIONS of them (about
# a phone screen) a message shows "See the full change", which opens every line in a modal.
SECTION_CHUNK = 2900
CHANNEL_SECTIONS = 1
LIST_SECTIONS = 1
# The buttons views draw and listeners.py answers: one name each, in one place.
APPROVE = "approval:approve"
DENY = "approval:deny"
CANCEL = "approval:cancel"
FULL_CHANGE = "approval:full"
SHOW_SECRET = "approval:secret"
UNDO = "approval:undo"  # a change that ran at once, put back (direct.py)
REASON_CALLBACK = "approval_reason"
DENY_CALLBACK = "approval_deny"
REQUESTS_MODAL = "approval_requests"  # the modal of the "Ona approvals" shortcut, drawn again after a click
STATE_LINE = {
    "succeeded": ":white_check_mark: *Approved and done*",
    "failed": ":x: *Approved, but not done*",
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
    return bk.escape(str(value))


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
    return lines or ["(no visible change)"]


def change_lines(request: Request, op: Operation) -> list[str]:
    """Everything an approver must see of the change, every value in full, in people's words."""
    lines = diff_lines(request, show=op.show)
    if op.effect:
        lines = [f":information_source: {bk.escape(op.effect)}",
                 *[line for line in lines if line != "(no visible change)"]]
    return lines


def chunks(lines: list[str], size: int = SECTION_CHUNK) -> list[str]:
    """Lines packed into texts of at most `size` characters (a longer line is split)."""
    pieces = [piece for line in lines for piece in _split(line, size)]
    out: list[str] = []
    for piece in pieces:
        if out and len(out[-1]) + 1 + len(piece) <= size:
            out[-1] += "\n" + piece
        else:
            out.append(piece)
    return out


def _split(line: str, size: int) -> list[str]:
    """A line cut into pieces of at most `size`, between words (a list's items stay whole) when it can."""
    pieces = []
    while len(line) > size:
        cut = line.rfind(" ", size // 2, size)
        cut = cut if cut > 0 else size
        pieces.append(line[:cut])
        line = line[cut:].lstrip(" ")
    return [*pieces, line]


def change_blocks(request: Request, op: Operation, *, sections: int) -> list[Any]:
    """The diff in at most `sections` sections; past that, a button opens the whole change."""
    texts = chunks(change_lines(request, op))
    blocks: list[Any] = [bk.section(text) for text in texts[:sections]]
    if len(texts) > sections:
        blocks.append(bk.section(f"_The change goes on ({bk.plural(len(texts) - sections, 'more part')})._",
                                 accessory=bk.button("See the full change", FULL_CHANGE, {"id": request.id})))
    return blocks


def reason_block(reason: str, label: str = "Why") -> Any:
    """The requester's words, as plain text: they cannot look like the bot's own lines."""
    return bk.plain_section(f"{label}: {usertext.one_paragraph(reason)}")


def approvers_text(principals: list[str] | tuple[str, ...]) -> str:
    return bk.principals(principals)


def already(request: Request) -> str:
    """A click on a request decided before: how, and by whom."""
    if request.state == DRAFT:
        return "This request is waiting for its reason."
    who = f" by <@{request.decided_by}>" if request.decided_by else ""
    return f"This request was already {request.state}{who}."


def decision_text(request: Request, message: str) -> str:
    """The flow's plain words about an execution (escaped here), with the mark its outcome deserves."""
    if request.state == FAILED:
        return f":warning: {bk.escape(message)}" if request.note == OUTCOME_UNKNOWN else f":x: {bk.escape(message)}"
    return f"Done: {bk.escape(message)}" if request.state == SUCCEEDED else bk.escape(message)


def approval_message(request: Request, op: Operation, votes: list[dict[str, Any]],
                     shortfall: str | None = None, *, mention: str | None = None) -> dict[str, Any]:
    """The message in the approvals channel: what, who, why, the whole change, expiry, and the buttons.
    `mention`: the user group the policy tells instead of direct messages (notify = "S…")."""
    blocks: list[Any] = [bk.header(f"Approval needed: {op.title}")]
    pending = request.state == PENDING
    if pending and mention:
        blocks.append(bk.section(f"<!subteam^{mention}>: your approval is needed."))
    blocks += _card_and_outcome(request, op, votes, shortfall)
    if pending and request.untold:
        blocks.append(bk.context(f":warning: {bk.plural(request.untold, 'approver')} got no direct message about "
                                 "this request (too many to message, or Slack refused): they can decide here."))
    text = f"Approval needed: {op.title} (requested by <@{request.requester_id}>)"
    return bk.message(blocks, text=(f"<!subteam^{mention}> {text}" if mention else text) if pending
                      else f"{op.title}: {STATE_WORDS.get(request.state, 'decided')}")


def approver_dm(request: Request, op: Operation, votes: list[dict[str, Any]], channel: str | None) -> dict[str, Any]:
    """An approver's own copy, by direct message: the same card and buttons as the channel's, updated to
    the outcome once decided, wherever that was."""
    blocks: list[Any] = [bk.header(f"Your approval is needed: {op.title}" if request.state == PENDING
                                   else f"Approval request: {op.title}"),
                         *_card_and_outcome(request, op, votes, None)]
    if channel:
        blocks.append(bk.context(f"Also in <#{channel}>: deciding here or there is the same."))
    return bk.message(blocks, text=f"<@{request.requester_id}> asks for your approval: {op.title}"
                      if request.state == PENDING else f"{op.title}: {STATE_WORDS.get(request.state, 'decided')}")


def _card_and_outcome(request: Request, op: Operation, votes: list[dict[str, Any]],
                      shortfall: str | None) -> list[Any]:
    blocks = approval_card(request, op, votes, sections=CHANNEL_SECTIONS, shortfall=shortfall)
    if request.state != PENDING:
        blocks.append(bk.section(_final_line(request, votes)))
        if request.state == DENIED and request.note:
            blocks.append(reason_block(request.note, "Reason for denying"))
    return blocks


def reminder_in_thread(request: Request, needed: int, reminded: int, *, mention: str | None) -> dict[str, Any]:
    """The reminder under the channel message: how many approvals are missing, when it expires, who was told."""
    text = (f":alarm_clock: Reminder: this request still needs {bk.plural(needed, 'approval')}; it expires "
            f"{slack_date(request.expires_at)}.")
    if mention:
        text += f" <!subteam^{mention}>"
    elif reminded:
        text += (f" {bk.plural(reminded, 'approver')} who {'has' if reminded == 1 else 'have'} not voted "
                 f"{'was' if reminded == 1 else 'were'} reminded by direct message.")
    else:
        text += f" Approvers: {approvers_text(request.approvers)}"
    return bk.message([bk.section(text)], text=f"Reminder: this request still needs {bk.plural(needed, 'approval')}")


def reminder_dm(request: Request, title: str, needed: int, link: str | None) -> dict[str, Any]:
    """The reminder to one approver who has not voted yet, pointing at their copy."""
    where = f"<{link}|your copy of the request>" if link else "the request above"
    text = (f":alarm_clock: Reminder: <@{request.requester_id}>'s request to *{bk.escape(title)}* still needs "
            f"{bk.plural(needed, 'approval')}; it expires {slack_date(request.expires_at)}. Approve or deny it in "
            f"{where}.")
    return bk.message([bk.section(text)], text=f"Reminder: a request still needs your approval: {title}")


def approval_card(request: Request, op: Operation, votes: list[dict[str, Any]], *, sections: int,
                  shortfall: str | None = None) -> list[Any]:
    """One request as an approver must see it wherever it can be decided (channel, App Home, lists):
    who asks, why, the whole change, and Approve and Deny while it is pending."""
    blocks: list[Any] = [bk.section(f"<@{request.requester_id}> asks to *{bk.escape(op.title)}*.")]
    if request.reason:
        blocks.append(reason_block(request.reason))
    blocks += change_blocks(request, op, sections=sections)
    blocks.append(bk.context(_progress(request, votes) + f" · expires {slack_date(request.expires_at)}"
                             f" · `{request.id}`"))
    if shortfall and request.state == PENDING:
        blocks.append(bk.context(f":warning: {shortfall}"))
    if request.state == PENDING:
        blocks.append(decide_buttons(request, op))
    return blocks


def decide_buttons(request: Request, op: Operation) -> Any:
    needed = bk.plural(request.approvals_needed, "approval")
    value = {"id": request.id, "h": request.hash}
    return bk.actions(
        bk.button("Approve", APPROVE, value, style="primary", confirm_with=bk.confirm(
            "Approve this change?", f"{bk.clip(op.title, 150)}, as shown above, "
            f"{'is kept by the bot and runs at its time' if op.local else 'runs in Ona'} as soon as it has "
            f"{needed}.", ok="Approve")),
        bk.button("Deny", DENY, {"id": request.id}, style="danger"),
    )


def full_change(request: Request, op: Operation) -> dict[str, Any]:
    """The modal behind "See the full change": every line of it."""
    blocks: list[Any] = [bk.section(f"<@{request.requester_id}> asks to *{bk.escape(op.title)}* (`{request.id}`).")]
    if request.reason:
        blocks.append(reason_block(request.reason))
    blocks += [bk.section(text) for text in chunks(change_lines(request, op))][: bk.VIEW_MAX_BLOCKS - 2]
    return bk.modal("The full change", blocks, callback_id="approval_full_change")


def _progress(request: Request, votes: list[dict[str, Any]]) -> str:
    who = ", ".join(f"<@{v['approver_id']}>" for v in votes)
    needed = f"{len(votes)} of {request.approvals_needed} approvals" + (f": {who}" if who else "")
    return f"{needed} · approvers: {approvers_text(request.approvers)}"


def state_line(request: Request) -> str:
    """The request's state in words. A failure never reads as done, and one whose outcome is unknown
    (note "outcome unknown", set by the flow) never reads as refused."""
    if request.state == FAILED and request.note == OUTCOME_UNKNOWN:
        return ":warning: *Approved, outcome unknown*"
    return STATE_LINE.get(request.state, request.state)


def _final_line(request: Request, votes: list[dict[str, Any]]) -> str:
    line = state_line(request)
    if request.decided_by and request.state in (SUCCEEDED, FAILED, DENIED, APPROVED, EXECUTING):
        line += f" — by <@{request.decided_by}>"
    if request.decided_at:
        line += f", {slack_date(request.decided_at)}"
    if request.state in (SUCCEEDED, FAILED) and request.result:
        line += f"\n{bk.escape(request.result)}"  # plain words: the database keeps no formatting
    return line


def requester_notice(request: Request, title: str, permalink: str | None,
                     shortfall: str | None = None) -> dict[str, Any]:
    where = f"<{permalink}|the approvals channel>" if permalink else "the approvals channel"
    text = (f":inbox_tray: Your request to *{bk.escape(title)}* (`{request.id}`) is waiting for "
            f"{bk.plural(request.approvals_needed, 'approval')} in {where}. "
            f"It expires {slack_date(request.expires_at)}.")
    if shortfall:
        text += f"\n:warning: {shortfall}"
    return bk.message([bk.section(text), bk.actions(cancel_button(request))],
                      text=f"Request {request.id} is waiting for approval")


def cancel_button(request: Request, text: str = "Cancel request") -> Any:
    return bk.button(text, CANCEL, {"id": request.id},
                     confirm_with=bk.confirm("Cancel this request?", "Approvers will no longer see buttons.",
                                             ok="Cancel it", deny="Keep it"))


def outcome_for_requester(request: Request, title: str, text: str) -> dict[str, Any]:
    line = state_line(request)
    body = f"{line}: your request to *{bk.escape(title)}* (`{request.id}`)."
    if text:
        body += f"\n{text}"
    return bk.message([bk.section(body)], text=f"Your request {request.id}: {request.state}")


def dry_run(title: str, rule: Rule, before: dict[str, Any], after: dict[str, Any],
            params: dict[str, Any], show: Show = None) -> dict[str, Any]:
    how = ("runs at once" if not rule.needs_approval else
           f"needs {bk.plural(rule.approvals, 'approval')} from {approvers_text(rule.approvers)}")
    blocks = [
        bk.header(f"Dry run: {title}"),
        bk.section("\n".join(diff_lines(before, after, params, show))),
        bk.context(f"Nothing was changed or requested. For real, this {how} ({bk.escape(rule.source)})."),
    ]
    return bk.message(blocks, text=f"Dry run: {title}")


# A request's state in a list line, as people say it.
STATE_WORDS = {"draft": "waiting for its reason", "pending": "pending", "approved": "running", "executing": "running",
               "succeeded": "done", "failed": "not done", "denied": "denied", "expired": "expired",
               "cancelled": "cancelled", "conflict": "not run: Ona changed first"}


def request_line(request: Request, title: str) -> str:
    state = STATE_WORDS.get(request.state, "unknown")
    if request.state == "failed" and request.note == "outcome unknown":
        state = "outcome unknown"
    if request.state in (PENDING, DRAFT):
        when = f"expires {slack_date(request.expires_at, '{date_short} {time}')}"
    else:
        when = slack_date(request.decided_at or request.updated_at or request.created_at, "{date_short} {time}")
    return f"*{bk.escape(title)}* · `{request.id}` · {state}\n<@{request.requester_id}> · {when}"


def request_list(requests: list[tuple[Request, Operation, bool]], *, heading: str | None, empty: str,
                 limit: int = 8, viewer: str | None = None) -> list[Any]:
    """(request, operation, viewer may decide) rows. One the viewer may decide shows as a whole card
    (reason, change, Approve and Deny); the viewer's own pending ones with Cancel; the others as a line."""
    blocks: list[Any] = [bk.header(heading)] if heading else []
    if not requests:
        return [*blocks, bk.section(empty)]
    for request, op, may_decide in requests[:limit]:
        if may_decide and request.state == PENDING:
            divider = [bk.divider()] if blocks else []  # cards apart; nothing above the first without a heading
            blocks += [*divider, *approval_card(request, op, [], sections=LIST_SECTIONS)]
        elif viewer and request.requester_id == viewer and request.state == PENDING:
            blocks.append(bk.section(request_line(request, op.title), accessory=cancel_button(request, "Cancel")))
        else:
            blocks.append(bk.section(request_line(request, op.title)))
    if len(requests) > limit:
        blocks.append(bk.context(f"…and {len(requests) - limit} more: `/ona requests` lists them."))
    return blocks
