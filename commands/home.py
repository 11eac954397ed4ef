"""The App Home as a control panel, per person.

For whoever the policy lets use a group (an admin): the banner with Turn on/off and Edit, the requests
they may decide (whole, with Approve and Deny), their own requests (Cancel), domains waiting for
verification (Verify), SCIM tokens that expire soon (New token) and the last few changes, in words.
For everyone else: what they may do and whom to ask. The buttons are the commands' own (banner:on,
domain:verify, approval:approve …); bot/app.py draws the Home again after any of them (`redraw`).

Each section is read on its own: when Ona (or the database) fails for one, that section says so in
words and the others still show.
"""

from __future__ import annotations

import calendar
import logging
import time
from collections.abc import Callable
from typing import Any

from bot import blocks as bk
from bot import replies
from bot.approvals import views
from bot.context import Context
from bot.ona.errors import OnaError
from commands import audit, banner, domains, requests
from commands import banner_windows as windows
from commands.scim import GROUP as SCIM_GROUP
from commands.scim import views as scim_views

log = logging.getLogger("ona.bot")

SCIM_DAYS = 14  # a token that expires within this many days is shown, with New token
RECENT = 5  # changes shown from the audit trail
CARDS = 5  # requests to decide shown whole (each is a few blocks; the Home holds 100)


def redraw(ctx: Context) -> None:
    """Draw again where a click came from: the App Home, or the "Ona approvals" modal (its view ID)."""
    if ctx.surface == "home":
        publish(ctx)
    elif ctx.surface:
        ctx.update_modal(ctx.surface, requests.requests_modal(ctx))


def publish(ctx: Context) -> None:
    ctx.slack.views_publish(user_id=ctx.user_id, view=home_view(ctx))


def home_view(ctx: Context) -> dict[str, Any]:
    approvals = ctx.services.approvals
    panel = (banner.GROUP, domains.GROUP, SCIM_GROUP, audit.GROUP)
    try:
        person = approvals.person(ctx, fresh=False)
        may = {group.name: approvals.may_use(person, group) for group in panel}
        refusal = person.refusal
        # (groups every participant may use, like the requests list, do not make someone an admin here)
        usable = [g for g in ctx.services.groups if g.subcommands and not g.public and not g.for_participants
                  and approvals.may_use(person, g)]
    except Exception as exc:  # Slack or Ona cannot say who this is: show what needs no answer from them
        log.warning("App Home of %s: could not tell what they may use (%s)", ctx.user_id, type(exc).__name__)
        may, refusal, usable = {}, None, []
        who: list[Any] = [bk.section(_trouble(exc, "What you may do"))]
    else:
        who = [] if usable else _everyone_else(ctx, refusal)
    blocks: list[Any] = [bk.header("Ona"), *who]
    to_decide = _read(lambda: [row for row in approvals.pending_for(ctx.team_id, ctx.user_id) if row[2]])
    if usable or to_decide:  # (an approver named in the policy may decide without reading anything)
        blocks += _section("Waiting for your approval", "The requests waiting for you",
                           lambda: _to_decide(to_decide))
    if may.get("banner"):
        blocks += _section("Announcement banner", "The banner", lambda: _banner(ctx))
    mine = _read(lambda: approvals.own_requests(ctx.team_id, ctx.user_id, limit=5))
    if usable or mine:
        blocks += _section("Your requests", "Your requests", lambda: _mine(ctx, mine))
    if may.get("domain"):
        blocks += _section("Domains to verify", "The domains", lambda: domains.pending_rows(ctx.ona))
    if may.get("scim"):
        blocks += _section(f"SCIM tokens expiring in {SCIM_DAYS} days", "The SCIM tokens",
                           lambda: scim_views.expiring(list(ctx.ona.iter_scim_configurations()), SCIM_DAYS))
    if may.get("audit"):
        blocks += _section("Last changes", "The last changes", lambda: _recent(ctx))
    blocks += [bk.divider(), bk.context("`/ona help` in any channel lists the commands you may use.")]
    return bk.home(blocks[: bk.VIEW_MAX_BLOCKS])


# --- sections: each one fails alone -----------------------------------------------------------------


class _Unread(Exception):
    """What _read keeps: the failure of a read done before its section is drawn."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _read(fetch: Callable[[], Any]) -> Any:
    """Read now (the section's presence may depend on it), fail later in the section that shows it."""
    try:
        return fetch()
    except Exception as exc:
        return _Unread(exc)


def _section(title: str, what: str, build: Callable[[], list[Any]]) -> list[Any]:
    try:
        body = build()
    except Exception as exc:
        cause = exc.cause if isinstance(exc, _Unread) else exc
        log.warning("App Home: %s could not be shown (%s)", what.lower(), type(cause).__name__,
                    exc_info=not isinstance(cause, OnaError))
        body = [bk.section(_trouble(cause, what))]
    return [bk.header(title), *body]


def _trouble(exc: Exception, what: str) -> str:
    """A section that could not be read, in words: Ona's error as the commands say it, or the bot's."""
    if isinstance(exc, OnaError):
        why = replies.ona_error(exc, mutating=False)["text"]
    else:
        why = ":warning: The bot could not read it right now (its database or Slack is not answering)."
    return f"{why}\n_{what} could not be shown; the rest of this page is up to date. Open the tab again later._"


def _unwrap(value: Any) -> Any:
    if isinstance(value, _Unread):
        raise value
    return value


def _to_decide(rows: Any) -> list[Any]:
    return views.request_list(_unwrap(rows), heading=None, empty="Nothing to decide. :tada:", limit=CARDS)


def _mine(ctx: Context, rows: Any) -> list[Any]:
    own = [(request, op, False) for request, op in _unwrap(rows)]
    return views.request_list(own, heading=None, empty="You have not requested anything yet.", limit=5,
                              viewer=ctx.user_id)


def _banner(ctx: Context) -> list[Any]:
    current = ctx.ona.get_announcement_banner().banner
    scheduled = windows.listing(ctx.services.approvals.banner_windows(), windows.tz_of(ctx))
    return banner.card(current.enabled if current else False, current.message if current else "", scheduled)


def _recent(ctx: Context) -> list[Any]:
    """The last changes made (directly or by an approved request), newest first, in words."""
    approvals = ctx.services.approvals
    rows = [r for r in approvals.audit_tail(50) if r["action"] in ("direct", "execute")][-RECENT:]
    if not rows:
        return [bk.context("No change was made through the bot yet.")]
    lines = [_change_line(row, approvals.operation_title(row["operation"] or "")) for row in reversed(rows)]
    return [bk.section("\n".join(lines)), bk.context("`/ona audit` shows the whole trail.")]


def _change_line(row: dict[str, Any], title: str) -> str:
    outcome = str(row.get("outcome") or "")
    if outcome.startswith("succeeded"):
        mark = ":white_check_mark:"
    elif "may have applied" in outcome:
        mark = ":warning: outcome unknown:"
    elif outcome.startswith("conflict"):
        mark = ":warning: not run (Ona changed first):"
    else:
        mark = ":x: not done:"
    user = str(row.get("user_id") or "")
    who = f"<@{user}>" if user.startswith(("U", "W")) else "the bot"
    by = f"approved by {who}" if row["action"] == "execute" else f"by {who}"
    try:
        when = " · " + views.slack_date(calendar.timegm(time.strptime(row["at"], "%Y-%m-%dT%H:%M:%SZ")),
                                        "{date_short} {time}")
    except (KeyError, TypeError, ValueError):
        when = ""
    return f"{mark} {bk.escape(title)} · {by}{when}"


def _everyone_else(ctx: Context, refusal: str | None) -> list[Any]:
    """Someone the policy lets use none of the commands: what they can do here, and whom to ask."""
    if refusal:  # Slack does not vouch for this account (a guest, a deactivated account …)
        return [bk.section(f"{bk.escape(refusal)} This page shows nothing else.")]
    admins = bk.principals(ctx.services.approvals.readers_of("default"))
    return [
        bk.section("*What you can do here*\nThis bot runs the Ona organization for its admins: the banner, "
                   "members, invites, domains, sign-in. You cannot change those through it yourself."),
        bk.section(f"*Whom to ask*\n{admins}. `/ona explain &lt;change&gt;` says who may ask for a change and who "
                   "approves it."),
        bk.context("If someone asks you to approve a change, it shows up here."),
    ]
