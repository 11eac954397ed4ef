"""Changes the policy lets run at once, and their Undo: the answer offers an Undo button for a few
minutes, which puts back what Ona showed before. An undo is a change like any other (the same
policy, the same audit trail, through `Context.mutate`); it is offered only where the operation says
how to restore (`Operation.undo`: banner, policies, settings, roles; never invites or secrets), only to
the person who made the change, once, and only while Ona still shows what the change made."""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Any

from bot import blocks as bk
from bot import durations, replies
from bot.approvals.flow import WITNESS
from bot.approvals.model import Undo, canonical, expected_after
from bot.approvals.store import StoreUnavailable
from bot.approvals.views import UNDO
from bot.ona.errors import OnaError
from bot.registry import Refused

if TYPE_CHECKING:
    from bot.approvals.flow import ApprovalFlow
    from bot.context import Context
    from bot.identity import Person

log = logging.getLogger("ona.approvals")
UNDO_FOR = 300.0  # seconds an Undo button works: long enough to see a slip, short enough to be safe


def _plain(state: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in state.items() if k != WITNESS}


class DirectChanges:
    _flow: ApprovalFlow

    def _run_directly(self, ctx: Context, actor: Person, operation: str, params: dict[str, Any]) -> None:
        op = self._flow.operations[operation]
        before = None
        if op.undo is not None:
            try:  # what Undo would put back; Ona unreadable now: the change runs without Undo
                before = _plain(self._flow.read_before(operation, params))
            except OnaError:
                before = None
        outcome, recorded = self._flow.run_directly(actor, operation, params)
        reply = replies.outcome(op, outcome)
        if not recorded:  # the change ran: say so, and that it went unrecorded
            reply["blocks"].append(bk.context(":warning: The bot could not record this change in its audit "
                                              "trail (its database cannot be written). Tell whoever runs the bot."))
        restore = op.undo(before) if op.undo is not None and before is not None else None
        after = expected_after(params, before or {})
        if restore and recorded and canonical(after) != canonical(before):
            undo = Undo(id="U" + uuid.uuid4().hex[:12], operation=operation, params=restore, after=after,
                        team_id=actor.team_id, user_id=actor.user_id, created_at=self._flow.clock())
            try:
                self._flow.store.keep_undo(undo)
                confirm = bk.confirm("Undo this change?", "The previous value is put back in Ona.", ok="Undo")
                reply["blocks"].append(bk.actions(bk.button("Undo", UNDO, {"id": undo.id}, confirm_with=confirm)))
                reply["blocks"].append(bk.context(f"A slip? Undo puts back the previous value, for the next "
                                                  f"{durations.words(UNDO_FOR)}."))
            except StoreUnavailable:
                log.warning("could not keep the undo of a direct %s", operation)
        ctx.reply(reply)

    def undo(self, ctx: Context, undo_id: str) -> None:
        """The Undo button: the previous value back, as a change of its own (policy, audit)."""
        undo = self._flow.store.take_undo(undo_id[:20], ctx.user_id)
        if undo is None or undo.team_id != ctx.team_id:
            raise Refused("There is nothing to undo here: it was undone already, or the change was not yours.")
        if self._flow.clock() - undo.created_at > UNDO_FOR:
            ctx.reply(replies.info(f":hourglass: Too late to undo: Undo works for {durations.words(UNDO_FOR)} after "
                                   "a change. Nothing was changed; make the change again if it is still needed."))
            return
        now = _plain(self._flow.read_before(undo.operation, undo.params))
        if canonical(now) != canonical({k: undo.after.get(k) for k in now}):
            ctx.reply(replies.info(":information_source: Not undone: it was changed again since (by someone or "
                                   "something else), so putting back the old value could undo their change."))
            return
        ctx.mutate(undo.operation, undo.params)
