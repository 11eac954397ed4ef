"""The background step that runs banner windows (see commands/banner_windows.py): at a window's start
the banner goes on with its message, at its end off again, each a change made through the flow (run
directly and audited: the policy was applied when the window was scheduled, so nothing is asked again),
with a note where the window was asked for."""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import blocks as bk
from bot import replies
from bot.approvals.flow import SYSTEM, ApprovalFlow
from bot.approvals.model import BannerWindow
from bot.approvals.notify import slack_error
from bot.approvals.views import slack_date
from bot.ona.errors import OnaError

log = logging.getLogger("ona.approvals")
BANNER = "banner.update"


def run(flow: ApprovalFlow, slack: WebClient) -> None:
    """Start the windows whose time has come and end those that are over. Every move is a
    compare-and-set on the window, so of several processes sweeping together one acts."""
    now = flow.clock()
    for window in flow.store.banner_windows("scheduled"):
        if window.starts_at > now:
            break  # soonest first: the rest are later still
        if window.ends_at <= now:  # the bot was not running during the whole window
            if missed := flow.store.move_banner_window(window.id, {"scheduled"}, "missed"):
                _note(slack, missed, f":warning: The banner window {_when(missed)} passed and the banner was not "
                                     "shown (the bot was not running, or Ona did not take the change).")
            continue
        if not (started := flow.store.move_banner_window(window.id, {"scheduled"}, "on")):
            continue
        try:
            flow.run_directly(SYSTEM, BANNER, {"enabled": True, "message": started.message})
        except Exception as exc:  # Ona could not take it now: try again at the next sweep
            log.warning("banner window %s: could not turn the banner on (%s)", started.id,
                        getattr(exc, "code", type(exc).__name__))
            flow.store.move_banner_window(started.id, {"on"}, "scheduled")
            continue
        _note(slack, started, f":large_green_circle: The banner is on for the maintenance window, until "
                              f"{_date(started.ends_at, '{time}')}:\n{_quote(started.message)}")
    for window in flow.store.banner_windows("on"):
        if window.ends_at > now or not (ended := flow.store.move_banner_window(window.id, {"on"}, "done")):
            continue
        try:
            banner = flow.ona.get_announcement_banner().banner
        except OnaError as exc:  # Ona cannot say now: try again at the next sweep
            log.warning("banner window %s: could not read the banner (%s)", ended.id, exc.code)
            flow.store.move_banner_window(ended.id, {"done"}, "on")
            continue
        if banner is None or not banner.enabled or banner.message != ended.message:
            _note(slack, ended, ":information_source: The banner window is over. The banner was changed during "
                                "it, so the bot left it as it is now.")
            continue
        try:
            flow.run_directly(SYSTEM, BANNER, {"enabled": False})
        except Exception as exc:  # try again at the next sweep
            log.warning("banner window %s: could not turn the banner off (%s)", ended.id,
                        getattr(exc, "code", type(exc).__name__))
            flow.store.move_banner_window(ended.id, {"done"}, "on")
            continue
        _note(slack, ended, ":white_circle: The maintenance window is over: the banner is off.")


def _date(epoch: float, fmt: str) -> str:
    """Shown in each reader's own time zone by Slack."""
    return slack_date(epoch, fmt)


def _when(window: BannerWindow) -> str:
    return f"{_date(window.starts_at, '{date_short_pretty} {time}')}–{_date(window.ends_at, '{time}')}"


def _quote(message: str) -> str:
    return "\n".join(f"> {line}" for line in bk.escape(message).splitlines())


def _note(slack: WebClient, window: BannerWindow, text: str) -> None:
    """Where the window was asked for: its channel, or the person who asked, by DM."""
    try:
        channel = window.notes_to
        if channel.startswith(("U", "W")):
            channel = slack.conversations_open(users=channel)["channel"]["id"]
        slack.chat_postMessage(channel=channel, **replies.info(text))
    except (SlackApiError, OSError) as exc:  # a note that cannot be posted never undoes the change
        log.warning("banner window %s: could not post the note (%s)", window.id, slack_error(exc))
