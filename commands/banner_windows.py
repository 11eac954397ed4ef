"""Maintenance windows for the banner: `banner on <message> for 2h | until 12:00` and
`banner at Sat 10:00 for 2h <message>`, in the person's Slack time zone.

Scheduling a window is a change like any other (the `banner.schedule` operation, ruled by the banner's
approval policy): where changing the banner needs approval, the window becomes an approval request when
it is asked for, and only once approved is it stored. The background work (bot/approvals/windows.py)
then turns the banner on and off at its times without asking again: the approval covered the window.
Cancelling a window is a change too (`banner.cancel_window`, the same policy).
"""

from __future__ import annotations

import re
import time
from typing import Any

from bot import blocks as bk
from bot import durations, when
from bot.approvals.model import BannerWindow, canonical, sha256
from bot.approvals.views import slack_date
from bot.context import Context
from bot.registry import Outcome, UsageError, action_value

MAX_LENGTH = 7 * 86_400  # a window longer than a week is not a maintenance window
MAX_AHEAD = 90 * 86_400
USAGE_ON = "banner on [message] [for 2h | until 12:00]"
USAGE_AT = "banner at <day> <time> for <duration> <message>"
CANCEL = "banner:cancel_window"
LISTED = 3  # windows on the banner's card
_DUR = (r"(?:\d+\s*(?:weeks?|wks?|w|days?|d|hours?|hrs?|h|minutes?|mins?|m)(?=\d|\s|$)\s*)+")
_FOR_END = re.compile(rf"^(?P<msg>.*?)(?:^|\s+)for\s+(?P<dur>{_DUR})$", re.I | re.S)
_UNTIL_END = re.compile(rf"^(?P<msg>.*?)(?:^|\s+)until\s+(?P<until>{when.WHEN})$", re.I | re.S)
_AT = re.compile(rf"^(?P<start>{when.WHEN})\s+(?:for\s+(?P<dur>{_DUR})|until\s+(?P<until>{when.WHEN})\s*)"
                 rf"(?P<msg>.*)$", re.I | re.S)


def _unquote(text: str) -> str:
    text = text.strip()
    return text[1:-1].strip() if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'" else text


def tz_of(ctx: Context) -> str:
    return getattr(ctx.services.approvals.person(ctx, fresh=False), "tz", "UTC") or "UTC"


def split_on(text: str) -> tuple[str, str | None, str | None] | None:
    """`<message> for 2h` / `<message> until 12:00` → (message, duration, until); None without either.
    A message in quotes is all message ("Deploy freeze until 18:00" in quotes stays as it is)."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return None
    if found := _FOR_END.match(text):
        return _unquote(found["msg"]), found["dur"], None
    if found := _UNTIL_END.match(text):
        return _unquote(found["msg"]), None, found["until"]
    return None


def _end(start: float, dur: str | None, until: str | None, tz: str, usage: str) -> float:
    try:
        end = start + durations.parse(dur) if dur else when.parse(until or "", start, tz)
    except (durations.DurationError, when.WhenError) as exc:
        raise UsageError(str(exc), usage) from None
    if end <= start:
        raise UsageError("A window needs a length: give one like 30m or 2h.", usage)
    if end - start > MAX_LENGTH:
        raise UsageError(f"That window lasts {durations.words(end - start)}: a window lasts at most 7 days.", usage)
    return end


def _params(ctx: Context, message: str, start: float, end: float, tz: str, usage: str) -> dict[str, Any]:
    if not message:
        raise UsageError("Write the message members should see during the window.", usage)
    if len(message) > 1000:
        raise UsageError(f"The message has {len(message)} characters; Ona allows 1000.", usage)
    notes_to = ctx.channel_id if ctx.channel_id and not ctx.channel_id.startswith("D") else ctx.user_id
    return {"message": message, "starts": int(start), "ends": int(end), "time_zone": tz, "notes_to": notes_to}


def window_now(ctx: Context, message: str, dur: str | None, until: str | None) -> None:
    """`banner on <message> for 2h`: a window from now; it goes on at once (when no approval is needed).
    Without a message (`banner on for 2h`), the banner's current message."""
    tz, now = tz_of(ctx), time.time()
    if not message:
        banner = ctx.ona.get_announcement_banner().banner
        message = banner.message if banner else ""
    end = _end(now, dur, until, tz, f"/ona {USAGE_ON}")
    ctx.mutate("banner.schedule", _params(ctx, message, now, end, tz, f"/ona {USAGE_ON}"))
    ctx.services.approvals.run_windows()


def schedule_at(ctx: Context, args: Any) -> None:
    """`banner at Sat 10:00 for 2h <message>`."""
    usage = f"/ona {USAGE_AT}"
    found = _AT.match(args.rest.strip())
    if not found:
        raise UsageError("Say when it starts and how long it lasts, then the message.", usage)
    tz, now = tz_of(ctx), time.time()
    try:
        start = when.parse(found["start"], now, tz)
    except when.WhenError as exc:
        raise UsageError(str(exc), usage) from None
    if start < now - 60:
        raise UsageError(f"{when.moment(start, tz)} has already passed: give a time to come.", usage)
    if start - now > MAX_AHEAD:
        raise UsageError("Schedule a window at most 90 days ahead.", usage)
    end = _end(start, found["dur"], found["until"], tz, usage)
    ctx.mutate("banner.schedule", _params(ctx, _unquote(found["msg"]), start, end, tz, usage))
    ctx.services.approvals.run_windows()


def show(key: str, value: Any) -> str:
    """Approvers read the times in their own zone (Slack renders them), the notes' place as a mention."""
    if key in ("starts", "ends") and isinstance(value, int | float):
        return slack_date(value, "{date_short_pretty} {time}")
    if key == "notes_to" and isinstance(value, str):
        return f"<@{value}>" if value.startswith(("U", "W")) else f"<#{value}>"
    return bk.escape(str(value))


def apply_schedule(store: Any, params: dict[str, Any]) -> Outcome:
    """Store the window (once: its id is the hash of what it is). The background work runs it."""
    if float(params["ends"]) <= time.time():  # approved after its end: there is nothing left to show
        return Outcome(text=":information_source: The window had already ended when this was approved: "
                            "nothing was changed.")
    window = BannerWindow(id="W" + sha256(canonical(params))[:9].upper(), message=str(params["message"]),
                          starts_at=float(params["starts"]), ends_at=float(params["ends"]),
                          notes_to=str(params["notes_to"]), tz=str(params.get("time_zone") or "UTC"),
                          created_at=time.time())
    # The same window again after a cancel: its row is back to scheduled rather than "already scheduled".
    new = store.add_banner_window(window) or store.move_banner_window(window.id, {"cancelled"}, "scheduled") is not None
    span = when.words(window.starts_at, window.ends_at, window.tz, time.time())
    length = durations.words(window.ends_at - max(window.starts_at, time.time()))
    text = (f"The banner will be on *{span}* ({length}), then off again."
            if new else f":information_source: This window was already scheduled: *{span}*.")
    return Outcome(text=text, details=[("Message", bk.escape(window.message))])


def apply_cancel(store: Any, params: dict[str, Any]) -> Outcome:
    """A window to come is dropped; the one on now ends now (the background work turns the banner off)."""
    window_id = str(params["window"])
    if store.move_banner_window(window_id, {"scheduled"}, "cancelled"):
        return Outcome(text=":x: The banner window is cancelled: the banner will not go on for it.")
    if store.move_banner_window(window_id, {"on"}, "on", ends_at=time.time()):
        return Outcome(text=":x: The banner window is cancelled: the banner goes off now.")
    return Outcome(text=":information_source: That window has already ended or was cancelled. Nothing was changed.")


def click_cancel(ctx: Context, payload: dict[str, Any]) -> None:
    window_id = str(action_value(payload).get("id") or "")[:20]
    window = next((w for w in ctx.services.approvals.banner_windows() if w.id == window_id), None)
    if window is None:
        raise UsageError("That window has already ended or was cancelled. Nothing was changed.", "/ona banner")
    ctx.mutate("banner.cancel_window", {"window": window.id, "message": window.message,
                                        "starts": int(window.starts_at), "ends": int(window.ends_at)})
    ctx.services.approvals.run_windows()


def listing(windows: list[BannerWindow], tz: str) -> list[Any]:
    """The windows on the banner's card, a line each (times in the viewer's zone), and a Cancel button
    each, named by its start: the card still fits a phone screen."""
    now = time.time()
    lines, cancels = [], []
    for i, window in enumerate(windows[:LISTED]):
        span = when.words(window.starts_at, window.ends_at, tz, now)
        room = max(12, 34 - len(span))
        lines.append(f"• *{span}* {bk.escape(bk.clip(window.message.splitlines()[0] if window.message else '', room))}")
        label = "End it now" if window.state == "on" else f"Cancel {when.moment(window.starts_at, tz, now)}"
        confirm = bk.confirm("Cancel this window?", f"{span}: {bk.clip(window.message, 100)}",
                             ok="Cancel the window", deny="Keep it")
        cancels.append(bk.button(label, f"{CANCEL}:{i}", value={"id": window.id}, style="danger",
                                 confirm_with=confirm))
    if not lines:
        return []
    if len(windows) > LISTED:  # a phone screen holds a few; the next ones show once these are over
        lines.append(f"…and {len(windows) - LISTED} more later.")
    return [bk.section("*Maintenance windows*\n" + "\n".join(lines)), bk.actions(*cancels)]
