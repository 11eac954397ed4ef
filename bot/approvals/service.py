"""The approval flow in Slack: what every change goes through (`submit`), and what each decision shows.

`submit` decides per the policy: run at once, show a dry run, or open a request (asking for a reason
first when the policy wants one), post it to the approvals channel and tell the requester. Clicks
come back through `approve`, `deny`, `cancel`; `sweep` expires and reminds. Rendering is views.py;
rules and state are flow.py; this module only moves between them and Slack.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from bot import blocks as bk
from bot import replies
from bot.approvals import views, windows
from bot.approvals.direct import DirectChanges
from bot.approvals.flow import ApprovalFlow, Decision, Kind
from bot.approvals.model import (
    CANCELLED,
    DRAFT,
    EXPIRED,
    FINAL,
    PENDING,
    SUCCEEDED,
    Request,
    expected_after,
    redact,
    sha256,
)
from bot.approvals.notify import GONE, Notifier
from bot.approvals.queries import Queries
from bot.approvals.store import RequestStore, StoreUnavailable
from bot.approvals.views import DENY_CALLBACK, REASON_CALLBACK
from bot.context import Context
from bot.identity import Person
from bot.registry import Group, Outcome, Refused

log = logging.getLogger("ona.approvals")

SECRET_KEPT_FOR = 3600.0  # an undelivered one-time secret waits this long for its requester, sealed
DB_TROUBLE = ("The bot cannot write to its database right now (its disk is full, or it is locked). "
              "Nothing was changed. Tell whoever runs the bot.")



class ApprovalService(Queries, DirectChanges):
    def __init__(self, flow: ApprovalFlow, slack: WebClient, channel: str | None, *,
                 secret_slack: WebClient | None = None) -> None:
        self._flow = flow
        self.slack = slack
        self.channel = channel
        self.secret_slack = secret_slack or slack  # for the DM that carries a one-time secret
        self.notifier = Notifier(flow, slack)  # approvers' direct messages and reminders

    @property
    def store(self) -> RequestStore:
        """Where requests, deliveries and the audit trail are kept: for the parts around the service
        (the duplicate check, chain-head checkpoints, the sweeper's lease, readiness and metrics)."""
        return self._flow.store

    def person(self, ctx: Context, *, fresh: bool = True, user_id: str | None = None) -> Person:
        """Who clicked or typed (or `user_id`, someone they named). Fresh by default: decisions and changes
        never trust a cached answer. `refusal` says why Slack does not vouch for the account."""
        return self._flow.directory.person(ctx.team_id, user_id or ctx.user_id, fresh=fresh)

    # --- who may use a command group -------------------------------------------------------------

    def may_use(self, person: Person, group: Group) -> bool:
        """Reads are admin data: the policy's readers of the group may use it, and so may whoever may
        request one of its changes (they must see what they change). Cached answers are fine here."""
        if group.public:
            return True
        if person.refusal:
            return False
        directory = self._flow.directory
        if directory.matches(person.team_id, person.user_id, self._flow.policy.readers(group.name).principals):
            return True
        if group.for_participants and any(directory.matches(person.team_id, person.user_id, principals)
                                          for principals in self._flow.policy.participants()):
            return True
        return self.may_request_any(person, group)

    def may_request_any(self, person: Person, group: Group) -> bool:
        """Whether the policy lets this person ask for at least one of the group's changes."""
        names = {n for op in group.operations.values() for n in (op.name, *op.variants)}
        return not person.refusal and any(
            self._flow.directory.matches(person.team_id, person.user_id, self._flow.policy.rule(n).requesters)
            for n in names)

    def check_access(self, ctx: Context, group: Group) -> None:
        """Raise Refused, in plain words and audited, unless this person may use the group."""
        person = self.person(ctx, fresh=False)
        if self.may_use(person, group):
            return
        readers = self._flow.policy.readers(group.name)
        refusal = Refused(person.refusal) if person.refusal else Refused(
            f"Only {{who}} may use *{bk.escape(group.summary.lower())}*. Ask one of them.", readers.principals)
        self._flow.record_refusal(person, f"read {group.name}", str(refusal))
        raise refusal

    def title(self, request_or_operation: Request | str) -> str:
        name = request_or_operation if isinstance(request_or_operation, str) else request_or_operation.operation
        return self._flow.operations[name].title

    # --- every change: submit ----------------------------------------------------------------------

    def submit(self, ctx: Context, operation: str, params: dict[str, Any]) -> None:
        actor = self.person(ctx)
        op = self._flow.operations[operation]
        rule = self._flow.rule_for(operation, params)
        try:
            self._flow.gate.check_requester(actor, rule)
        except Refused as exc:
            self._flow.record_refusal(actor, operation, str(exc))
            ctx.reply(replies.refused(exc))
            return
        if ctx.dry_run:
            before = self._flow.read_before(operation, params)
            public = redact(op.secret_params, params)
            ctx.reply(views.dry_run(op.title, rule, before, expected_after(public, before), public, op.show))
            return
        if not rule.needs_approval:
            self._run_directly(ctx, actor, operation, params)
            return
        if not self.channel:
            ctx.reply(replies.info(":warning: This change needs approval, but no approvals channel is set "
                                   "(ONA_BOT_APPROVALS_CHANNEL). Nothing was changed."))
            return
        if rule.reason and not ctx.reason:
            self._ask_reason(ctx, actor, operation, params)
            return
        try:
            request = self._flow.open(actor, operation, params, reason=ctx.reason or "", origin=ctx.origin())
        except StoreUnavailable as exc:
            log.error("configuration error: the database cannot be written (%s)", exc)
            raise Refused(DB_TROUBLE) from None
        self._publish(ctx, request)

    def _ask_reason(self, ctx: Context, actor: Person, operation: str, params: dict[str, Any]) -> None:
        if not ctx.trigger_id:
            raise Refused("This change needs a reason: add `reason: …` at the end of the command.")
        request = self._flow.open(actor, operation, params, reason="", origin=ctx.origin(), draft=True)
        blocks = [
            bk.section(f"*{bk.escape(self.title(operation))}* needs approval. Approvers see your reason."),
            *views.change_blocks(request, self._flow.operations[operation], sections=views.CHANNEL_SECTIONS),
            bk.text_input("reason", "Reason", multiline=True, max_length=500,
                          placeholder="Why is this change needed?"),
        ]
        ctx.open_modal(bk.modal("Request approval", blocks, callback_id=REASON_CALLBACK, submit="Request",
                                private_metadata={**ctx.origin(), "request": request.id}))

    def submit_reason(self, ctx: Context, request_id: str, reason: str) -> None:
        request = self._flow.submit_draft(request_id, self.person(ctx), reason)
        self._publish(ctx, request)

    def _publish(self, ctx: Context, request: Request) -> None:
        """Post the one approval message and tell the requester where it is."""
        title = self.title(request)
        try:
            posted = self.slack.chat_postMessage(channel=self.channel, **self._message(request, []))
        except (SlackApiError, OSError) as exc:  # (after slack-sdk's retries of 429s and broken connections)
            error = exc.response.get("error") if isinstance(exc, SlackApiError) else type(exc).__name__
            self._withdraw(ctx, request, str(error))
            return
        self._flow.store.update_fields(request.id, channel=posted["channel"], ts=posted["ts"],
                                      message_state=request.state)
        request.channel, request.ts = posted["channel"], posted["ts"]
        if self.notifier.announce(request):  # some approvers got no direct message: the channel says so
            self.refresh_message(request, copies=False)
        try:
            permalink = self.slack.chat_getPermalink(channel=posted["channel"], message_ts=posted["ts"])["permalink"]
        except SlackApiError:
            permalink = None
        ctx.reply(views.requester_notice(request, title, permalink, self.shortfall(request)))

    def _withdraw(self, ctx: Context, request: Request, error: str) -> None:
        """No approver can see a request that was not posted: withdraw it and say what to fix."""
        self._flow.store.transition(request.id, PENDING, CANCELLED, decided_at=self._flow.clock(), sealed=None,
                                   note="withdrawn: it could not be posted to the approvals channel")
        self._flow.record("withdraw", request, outcome=f"withdrawn: approvals channel answered {error}"[:300],
                         actor=self._flow.directory.person(request.requester_team, request.requester_id))
        log.error("configuration error: the approvals channel %s refused the request message (%s); request %s "
                  "was withdrawn", self.channel, error, request.id)
        channel = f"<#{self.channel}>"
        if error == "not_in_channel":
            fix = f"the bot is not a member of the approvals channel {channel}: invite it there (`/invite`)"
        elif error in ("channel_not_found", "is_archived"):
            fix = (f"the approvals channel {channel} does not exist or is archived: whoever runs the bot must "
                   "set ONA_BOT_APPROVALS_CHANNEL to the ID of a channel the bot is in")
        else:
            fix = "Slack did not take the approval message (it is busy or limiting the bot): try again in a minute"
        ctx.reply(replies.info(f":warning: Your request was withdrawn and nothing was changed: {fix}, then ask "
                               "again."))

    # --- decisions ------------------------------------------------------------------------------

    def approve(self, ctx: Context, request_id: str, claimed_hash: str) -> None:
        with self._flow.directory.one_decision():  # who clicked is asked about once, with everyone else
            decision = self._flow.approve(request_id, self.person(ctx), claimed_hash)
        self._show(ctx, decision)

    def ask_deny_reason(self, ctx: Context, request_id: str) -> None:
        request = self._flow.store.get(request_id)
        if request is None or request.state != PENDING:
            ctx.reply(replies.info("This request is no longer pending."))
            return
        blocks = [bk.section(f"Deny *{bk.escape(self.title(request))}* (`{request.id}`)?"),
                  bk.text_input("reason", "Reason for the requester", multiline=True, max_length=500)]
        ctx.open_modal(bk.modal("Deny request", blocks, callback_id=DENY_CALLBACK, submit="Deny",
                                private_metadata={**ctx.origin(), "request": request.id}))

    def deny(self, ctx: Context, request_id: str, reason: str) -> None:
        self._show(ctx, self._flow.deny(request_id, self.person(ctx), reason))

    def cancel(self, ctx: Context, request_id: str) -> None:
        self._show(ctx, self._flow.cancel(request_id, self.person(ctx)))

    def _show(self, ctx: Context, decision: Decision) -> None:
        request = decision.request
        if decision.kind != Kind.ALREADY:  # (the message was updated when it was decided)
            self.refresh_message(request)
        if decision.kind == Kind.VOTE:
            ctx.reply(replies.info(f":ballot_box_with_check: Your approval is recorded: {decision.message}."))
            return
        if decision.kind == Kind.ALREADY:
            if request.state in FINAL and request.message_state != request.state:
                self.refresh_message(request)  # its earlier update failed: the click repairs it
            elif request.state in FINAL:  # (a click on a stale copy repairs the copies)
                self.notifier.update_copies(request, self._flow.store.votes(request.id))
            ctx.reply(replies.info(views.already(request)))
            return
        self.tell_requester(request, decision)
        if decision.kind == Kind.EXECUTED and self._flow.operations[request.operation].local:
            self.run_windows()  # an approved window that starts now goes on now, not at the next sweep
        done = decision.outcome is not None and request.state == SUCCEEDED  # a failure never reads "Done"
        executed = f"Done: {decision.outcome.text}" if done else views.decision_text(request, decision.message)
        text = {Kind.EXECUTED: executed, Kind.CONFLICT: decision.message, Kind.EXPIRED: decision.message,
                Kind.DENIED: "Denied; the requester was told.",
                Kind.CANCELLED: "Request cancelled."}.get(decision.kind, decision.message)
        # The approver sees the outcome text only: a secret result goes to the requester alone.
        ctx.reply(replies.info(text))

    def refresh_message(self, request: Request, *, copies: bool = True) -> None:
        """Update the channel message in place, then the approvers' copies (notify.py): progress, or the
        outcome with the buttons gone."""
        if not request.channel or not request.ts:
            # A click can overtake the recording of where the message was posted: look again.
            request = self._flow.store.get(request.id) or request
            if not request.channel or not request.ts:
                return
        votes = self._flow.store.votes(request.id)
        try:
            self.slack.chat_update(channel=request.channel, ts=request.ts, **self._message(request, votes))
            self._flow.store.mark_message(request.id, request.state)
        except (SlackApiError, OSError) as exc:  # left marked stale: the sweeper tries again
            error = exc.response.get("error") if isinstance(exc, SlackApiError) else type(exc).__name__
            log.warning("could not update approval message of %s: %s", request.id, error)
            if error in GONE:
                self._flow.store.mark_message(request.id, request.state)
        if copies:
            self.notifier.update_copies(request, votes)

    def _message(self, request: Request, votes: list[dict[str, Any]]) -> dict[str, Any]:
        op = self._flow.operations[request.operation]
        return views.approval_message(request, op, votes, self.shortfall(request),
                                      mention=self.notifier.mention(request))

    def shortfall(self, request: Request) -> str | None:
        """"Needs 2 approvals; only 1 other person can approve it now", or None when enough can."""
        if request.state != PENDING:
            return None
        requester = self._flow.directory.person(request.requester_team, request.requester_id)
        try:
            short = self._flow.gate.shortfall(tuple(request.approvers), request.approvals_needed, requester)
            return short.words(views.approvers_text) if short else None
        except Exception:  # Slack or Ona cannot say right now: the message goes out without the warning
            log.warning("could not count the possible approvers of %s", request.id)
            return None

    def show_full_change(self, ctx: Context, request_id: str) -> None:
        """"See the full change": every line, in a modal, for the requester and the approvers."""
        request = self._flow.store.get(request_id)
        if request is None:
            raise Refused("There is no such request.")
        person = self.person(ctx, fresh=False)
        if person.user_id != request.requester_id and self._flow.directory.matches(
                person.team_id, person.user_id, tuple(request.approvers)) is None:
            raise Refused(person.refusal or "Only the requester and the approvers of this request can see it.")
        ctx.open_modal(views.full_change(request, self._flow.operations[request.operation]))

    def tell_requester(self, request: Request, decision: Decision) -> None:
        """A DM to the requester: the outcome, and a secret result (shown to nobody else)."""
        result: list[dict[str, Any]] = []
        if decision.outcome is not None:  # the whole result: details, and a secret shown to them alone
            result = replies.outcome(self._flow.operations[request.operation], decision.outcome)["blocks"]
        payload = views.outcome_for_requester(request, self.title(request), "" if result else decision.message
                                              if decision.kind in (Kind.EXECUTED, Kind.CONFLICT, Kind.DENIED) else "")
        payload["blocks"] += result
        secret = decision.outcome.secret if decision.outcome is not None else None
        slack = self.secret_slack if secret else self.slack  # it also retries Slack's 5xx answers
        try:
            channel = slack.conversations_open(users=request.requester_id)["channel"]["id"]
            slack.chat_postMessage(channel=channel, **payload)
        except (SlackApiError, OSError) as exc:
            error = exc.response.get("error") if isinstance(exc, SlackApiError) else type(exc).__name__
            log.warning("could not tell the requester of %s: %s", request.id, error)
            if secret and decision.outcome is not None:
                self._keep_secret(request, decision.outcome)

    def _keep_secret(self, request: Request, outcome: Outcome) -> None:
        """A one-time secret the DM could not carry is kept sealed, for its requester to see once."""
        sealed = self._flow.sealer.seal({"secret": outcome.secret, "label": outcome.secret_label})
        until = self._flow.clock() + SECRET_KEPT_FOR
        if not self._flow.store.keep_secret(request.id, sealed, until):
            return
        log.warning("the secret result of %s is kept sealed for its requester until %s", request.id, int(until))
        url = request.origin.get("response_url")
        if url:  # where they asked, if Slack still takes answers there (not the secret: where to get it)
            text = (f":key: The result of your request `{request.id}` could not be sent to you as a direct "
                    "message. Type `/ona requests` within the hour and press *Show the secret* to see it once.")
            try:
                WebhookClient(url).send(text=text, response_type="ephemeral", replace_original=False)
            except Exception:  # best effort: /ona requests shows it anyway
                log.warning("could not point the requester of %s to the kept secret", request.id)

    def reveal_secret(self, ctx: Context, request_id: str) -> None:
        """"Show the secret": the kept secret, once, to its requester only, in an ephemeral answer."""
        request = self._flow.store.get(request_id)
        if request is None or request.requester_id != ctx.user_id or request.requester_team != ctx.team_id:
            raise Refused("Only the person who asked for this result can see it.")
        sealed = self._flow.store.take_secret(request.id, ctx.user_id, self._flow.clock())
        if sealed is None:
            ctx.reply(replies.info("This secret was already shown, or its hour has passed: it is gone. "
                                   "Ask for a new one if you still need it."))
            return
        kept = self._flow.sealer.unseal(sealed)
        outcome = Outcome(text=f"The result of your request to *{bk.escape(self.title(request))}* "
                               f"(`{request.id}`).", secret=kept["secret"], secret_label=kept.get("label", ""))
        try:
            ctx.reply(replies.outcome(self._flow.operations[request.operation], outcome))
        except Exception:  # not shown after all: keep it for another try
            self._flow.store.keep_secret(request.id, sealed, request.secret_until or self._flow.clock())
            raise
        self._flow.record("secret shown", request, actor=self.person(ctx, fresh=False),
                         outcome=f"kept secret shown once (sha256 {sha256(kept['secret'])[:12]}…)")

    # --- housekeeping ---------------------------------------------------------------------------

    def sweep(self) -> None:
        """Expire overdue requests (no stale buttons), repair stale messages, and remind, once."""
        for request in self._flow.overdue():
            decision = self._flow.expire(request)
            self.refresh_message(decision.request)
            if decision.request.state == EXPIRED and request.state != DRAFT:
                self.tell_requester(decision.request, decision)
        for decision in self._flow.resume_approved():
            self.refresh_message(decision.request)
            self.tell_requester(decision.request, decision)
        for request in self._flow.reconcile():  # left `executing` by a process that died
            self._settled(request)
        for request in self._flow.store.stale_messages():  # decided, but its chat.update failed
            self.refresh_message(request)
        for request in self._flow.store.stale_copies():  # an approver's copy of it, likewise
            self.notifier.update_copies(request, self._flow.store.votes(request.id))
        self._flow.store.erase_lapsed_secrets(self._flow.clock())
        self.notifier.remind(self._flow.clock())  # at the policy's remind_at, once
        self.run_windows()

    def run_windows(self) -> None:
        """Banner windows whose time has come go on, those that are over go off (windows.py)."""
        windows.run(self._flow, self.slack)

    def reconcile(self) -> None:
        """At start-up: settle what a crash left `executing`, run what it left `approved`."""
        for request in self._flow.reconcile():
            self._settled(request)
        for decision in self._flow.resume_approved(older_than=0):
            self.refresh_message(decision.request)
            self.tell_requester(decision.request, decision)

    def _settled(self, request: Request) -> None:
        """A request a crash interrupted is settled: its message and its requester say how it ended
        (done, not applied, or outcome unknown with what to check)."""
        self.refresh_message(request)
        self.tell_requester(request, Decision(request, "executed", request.result or ""))
