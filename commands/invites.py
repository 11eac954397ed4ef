"""/ona invite — create a new invite link (the old one stops working), or summarise the current one.

The link is a secret: it goes only to the person who asked, ephemerally, and is never logged.
"""

from __future__ import annotations

import hashlib
from typing import Any

from bot import blocks as bk
from bot.context import Context
from bot.ona.client import OnaClient
from bot.registry import Args, Group, Outcome

GROUP = Group("invite", "Invite links", aliases=("invites",))

WARNING = "Creating a new invite link *stops the current link from working*. People who have not joined yet need the new one."


def invite_link(ona: OnaClient, invite_id: str) -> str:
    """Ona's join page for an invite (the app's URL is the API's without `/api`)."""
    return f"{ona.base_url.removesuffix('/api')}/join?inviteId={invite_id}"


@GROUP.command(usage="invite", help="Create a new invite link (after a confirmation)", mutating=True)
def ask(ctx: Context, args: Args) -> None:
    create = bk.button("Create new link", "invite:create", style="danger", confirm_with=bk.confirm(
        "Replace the invite link?", "The current link stops working at once.", ok="Create new link"))
    blocks = [bk.header("New invite link"), bk.section(f":warning: {WARNING}"), bk.actions(create)]
    ctx.ask_first(bk.message(blocks, text="Create a new invite link? The current link stops working."),
                  "invite.create", {})


@GROUP.action("invite:create")
def click_create(ctx: Context, payload: dict[str, Any]) -> None:
    ctx.mutate("invite.create", {})


@GROUP.command("show", usage="invite show", help="Summary of the current invite")
def show(ctx: Context, args: Args) -> None:
    invite = ctx.ona.get_organization_invite().invite
    if invite is None or not invite.invite_id:
        ctx.reply(bk.message([bk.section("There is no invite link yet. `/ona invite` creates one.")],
                             text="No invite link yet."))
        return
    summary = ctx.ona.get_organization_invite_summary(invite_id=invite.invite_id)
    blocks = [
        bk.header("Current invite link"),
        *bk.fields([
            ("Organization", bk.escape(summary.organization_name)),
            ("Members", str(summary.organization_member_count)),
            ("Link", "active (shown only when created)"),
        ]),
        bk.actions(bk.button("Create new link", "invite:ask")),
    ]
    ctx.reply(bk.message(blocks, text="Current invite link: active"))


@GROUP.action("invite:ask")
def click_ask(ctx: Context, payload: dict[str, Any]) -> None:
    ask(ctx, Args(words=[], rest=""))


def _fingerprint(ona: OnaClient, params: dict[str, Any]) -> dict[str, Any]:
    """The current invite, to tell later whether a new one was made: its ID is the secret part of the
    link, so only a digest of it is kept."""
    invite = ona.get_organization_invite().invite
    invite_id = invite.invite_id if invite else ""
    return {"invite": hashlib.sha256(invite_id.encode()).hexdigest() if invite_id else ""}


def _ran(ona: OnaClient, params: dict[str, Any], before: dict[str, Any]) -> bool | None:
    """A new invite was made if the invite is no longer the one read before the change."""
    seen = (before.get("witness") or {}).get("invite")
    if seen is None:
        return None
    return _fingerprint(ona, params)["invite"] != seen


@GROUP.operation("invite.create", "Create a new invite link", secret_result=True,
                 effect="Replaces the current invite link: the old link stops working at once, and the new one "
                        "goes only to the person who asked.",
                 witness=_fingerprint, ran=_ran,
                 check="The old link may no longer work: if you need one, create a new link with `/ona invite` "
                       "(it replaces whichever link is current).")
def create_invite(ona: OnaClient, params: dict[str, Any]) -> Outcome:
    invite = ona.create_organization_invite().invite
    invite_id = invite.invite_id if invite else ""
    return Outcome(
        text="A new invite link was created; the previous link no longer works.",
        secret=invite_link(ona, invite_id), secret_label="Invite link",
    )
