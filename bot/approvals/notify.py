"""Approvers are told where they will see it: a direct message each, with the change, the reason,
Approve and Deny (or, per the policy's `notify`, a user group mentioned in the channel message), every
copy updated when the request is decided, and one reminder to those who have not voted yet.

The copies are the channel message's twins: the same card and the same buttons (views.approver_dm),
so a click in a direct message is handled like one in the channel. Where each copy was posted is kept
in the store, so whoever decides (a click anywhere, expiry, a restart) updates them all, and the
sweeper repairs a copy whose update Slack refused.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.approvals import views
from bot.approvals.flow import ApprovalFlow
from bot.approvals.model import FINAL, PENDING, Request
from bot.approvals.policy import CHANNEL, DM, ONA_ADMINS, Rule

log = logging.getLogger("ona.approvals")

MAX_DMS = 20  # direct messages per request: past that, the channel message says who was not told
EMAIL_TTL = 600.0  # seconds an admin's email → Slack account answer is kept (users.lookupByEmail is tier 3)
# Slack errors that mean a message will never be updated: stop trying.
GONE = {"message_not_found", "channel_not_found", "cant_update_message", "is_archived", "not_in_channel"}


def slack_error(exc: Exception) -> str:
    return str(exc.response.get("error")) if isinstance(exc, SlackApiError) else type(exc).__name__


class Notifier:
    def __init__(self, flow: ApprovalFlow, slack: WebClient, *, max_dms: int = MAX_DMS) -> None:
        self.flow = flow
        self.slack = slack
        self.max_dms = max_dms
        self._by_email: dict[str, tuple[float, str | None]] = {}
        self._lock = threading.Lock()

    def rule(self, request: Request) -> Rule:
        return self.flow.policy.rule(request.policy_key)

    def mention(self, request: Request) -> str | None:
        """The user group the channel message mentions instead of direct messages, if the policy says so."""
        notify = self.rule(request).notify
        return None if notify in (DM, CHANNEL) else notify

    # --- when the request is posted ---------------------------------------------------------------

    def announce(self, request: Request) -> int:
        """A direct message to each approver (at most `max_dms`), each copy recorded. Returns how many
        approvers got none (over the cap, or Slack refused), also kept on the request for its message."""
        if self.rule(request).notify != DM:
            return 0
        try:
            people, over = self.recipients(request)
        except Exception:  # Slack or Ona cannot say who now: the channel message still stands
            log.warning("could not find the approvers of %s to message them", request.id, exc_info=True)
            return 0
        op = self.flow.operations[request.operation]
        failed = 0
        for user_id in people:
            try:
                channel = self.slack.conversations_open(users=user_id)["channel"]["id"]
                posted = self.slack.chat_postMessage(channel=channel,
                                                     **views.approver_dm(request, op, [], request.channel))
            except (SlackApiError, OSError) as exc:
                log.warning("could not message approver %s of %s: %s", user_id, request.id, slack_error(exc))
                failed += 1
                continue
            self.flow.store.add_copy(request.id, user_id, posted["channel"], posted["ts"], request.state)
        untold = over + failed
        if untold:
            self.flow.store.update_fields(request.id, untold=untold)
            request.untold = untold
        now = self.flow.store.get(request.id)
        if now is not None and now.state in FINAL:  # decided while the copies went out: show it in them
            self.update_copies(now, self.flow.store.votes(now.id))
        return untold

    def recipients(self, request: Request) -> tuple[list[str], int]:
        """Up to `max_dms` Slack users who may decide the request (never its requester), in the policy's
        order, and how many more could have been told. Ona admins are found by their email in Slack;
        one with no Slack account cannot decide in Slack and is not counted."""
        directory = self.flow.directory
        candidates: list[tuple[str, str]] = []  # ("user", U…) or ("email", address)
        for principal in request.approvers:
            if principal == ONA_ADMINS:
                candidates += [("email", e) for e in sorted(directory.ona_admin_emails())]
            elif principal.startswith("S"):
                candidates += [("user", u) for u in sorted(directory.usergroup_members(principal))]
            else:
                candidates.append(("user", principal))
        people: list[str] = []
        seen: set[str] = set()
        for index, (kind, key) in enumerate(candidates):
            if len(people) >= self.max_dms:
                rest = {k for _, k in candidates[index:]} - seen - set(people)
                return people, len(rest - {request.requester_id, (request.requester_email or "").lower()})
            seen.add(key)
            if kind == "email" and key == (request.requester_email or "").lower():
                continue  # nobody approves their own request
            user_id = key if kind == "user" else self._user_by_email(key)
            if not user_id or user_id == request.requester_id or user_id in people:
                continue
            if directory.matches(request.requester_team, user_id, tuple(request.approvers)) is not None:
                people.append(user_id)
        return people, 0

    def _user_by_email(self, email: str) -> str | None:
        with self._lock:
            kept = self._by_email.get(email)
        if kept and time.monotonic() - kept[0] < EMAIL_TTL:
            return kept[1]
        try:
            user_id = self.slack.users_lookupByEmail(email=email)["user"]["id"]
        except SlackApiError as exc:
            if exc.response.get("error") != "users_not_found":
                log.warning("could not look up an approver in Slack: %s", exc.response.get("error"))
                return None  # not kept: ask again next time
            user_id = None  # no Slack account with that email: cannot decide in Slack
        with self._lock:
            self._by_email[email] = (time.monotonic(), user_id)
        return user_id

    # --- when it is decided (or a vote is added) --------------------------------------------------

    def update_copies(self, request: Request, votes: list[dict[str, Any]], *, force: bool = False) -> None:
        """Every copy shows the request as it is now: its votes while pending, then its outcome with the
        buttons gone. A copy Slack refused to update is left marked stale, for the sweeper."""
        op = self.flow.operations[request.operation]
        for copy in self.flow.store.copies(request.id):
            if not copy["ts"] or (request.state != PENDING and copy["shown_state"] == request.state and not force):
                continue
            try:
                self.slack.chat_update(channel=copy["channel"], ts=copy["ts"],
                                       **views.approver_dm(request, op, votes, request.channel))
            except (SlackApiError, OSError) as exc:
                error = slack_error(exc)
                log.warning("could not update %s's copy of %s: %s", copy["user_id"], request.id, error)
                if error not in GONE:
                    continue
            self.flow.store.mark_copy(request.id, copy["user_id"], request.state)
        if request.state == PENDING and not force:
            # Decided while these went out: an update showing it pending may have landed after the outcome.
            now = self.flow.store.get(request.id)
            if now is not None and now.state in FINAL:
                self.update_copies(now, self.flow.store.votes(now.id), force=True)

    # --- the reminder -----------------------------------------------------------------------------

    def remind(self, now: float) -> None:
        """At the policy's `remind_at` (a fraction of the time to expiry), once per request: a note in
        the channel message's thread, and a direct message to each approver who has not voted yet."""
        for request in self.flow.store.in_states(PENDING):
            rule = self.rule(request)
            if request.reminded or not request.channel or not request.ts or not rule.remind_at:
                continue
            if now < request.created_at + rule.remind_at * (request.expires_at - request.created_at):
                continue
            if not self.flow.store.claim_reminder(request.id):
                continue  # another process reminded
            self._remind(request, rule)

    def _remind(self, request: Request, rule: Rule) -> None:
        voters = {v["approver_id"] for v in self.flow.store.votes(request.id)}
        needed = max(request.approvals_needed - len(voters), 1)
        title = self.flow.operations[request.operation].title
        reminded = 0
        waiting = [c for c in self.flow.store.copies(request.id) if c["ts"] and c["user_id"] not in voters]
        for copy in waiting if rule.notify == DM else []:
            try:
                self.slack.chat_postMessage(channel=copy["channel"],
                                            **views.reminder_dm(request, title, needed, self._link(copy)))
                reminded += 1
            except (SlackApiError, OSError) as exc:
                log.warning("could not remind %s of %s: %s", copy["user_id"], request.id, slack_error(exc))
        try:
            self.slack.chat_postMessage(channel=request.channel, thread_ts=request.ts, **views.reminder_in_thread(
                request, needed, reminded, mention=self.mention(request)))
        except (SlackApiError, OSError) as exc:
            log.warning("reminder for %s failed: %s", request.id, slack_error(exc))

    def _link(self, copy: dict[str, Any]) -> str | None:
        try:
            return self.slack.chat_getPermalink(channel=copy["channel"], message_ts=copy["ts"])["permalink"]
        except (SlackApiError, OSError):
            return None  # the reminder says "the request above" instead
