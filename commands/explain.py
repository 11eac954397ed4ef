"""/ona explain <operation> [@user] — who may request and approve an operation, and by which rule."""

from __future__ import annotations

import re

from bot import blocks as bk
from bot.approvals.policy import CHANNEL, DM
from bot.approvals.views import approvers_text
from bot.context import Context
from bot.durations import format_seconds
from bot.registry import Args, Group, UsageError

GROUP = Group("explain", "Who may do what")
USAGE = "/ona explain <change> [@user]"
_MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(\|[^>]*)?>$")

# The words people use for a change (a command, or what it is about) → the operation it is.
PHRASES = {
    "banner": "banner.update", "banner on": "banner.update", "banner off": "banner.update",
    "banner set": "banner.update",
    "policies": "policies.update", "policy": "policies.update", "policies edit": "policies.update",
    "policies set": "policies.update",
    "invite": "invite.create", "invites": "invite.create", "invite link": "invite.create",
    "role": "members.set_role", "members": "members.set_role", "member": "members.set_role",
    "admin": "members.grant_admin", "make admin": "members.grant_admin", "role admin": "members.grant_admin",
    "role member": "members.set_role",
    "rename": "org.rename", "org rename": "org.rename", "org": "org.rename",
    "invite-domains": "org.invite_domains", "org invite-domains": "org.invite_domains",
    "domain add": "domain.add", "domain verify": "domain.verify", "domain remove": "domain.remove",
    "custom-domain set": "custom_domain.set", "custom-domain remove": "custom_domain.remove",
    "scim add": "scim.create", "scim regenerate": "scim.regenerate_token", "scim token": "scim.regenerate_token",
    "scim enable": "scim.enable", "scim disable": "scim.disable", "scim remove": "scim.remove",
    "sso add": "sso.create", "sso edit": "sso.update", "sso activate": "sso.activate",
    "sso deactivate": "sso.deactivate", "sso remove": "sso.remove",
}
ALIASES = {"domains": "domain", "customdomain": "custom-domain", "custom": "custom-domain"}
EXAMPLES = "For example: `banner`, `role`, `admin`, `invite`, `policies`, `sso remove`, `domain add`."


def _operation(words: list[str], known: set[str]) -> str | None:
    """The operation these words name: a phrase people use, or the operation's own name."""
    words = [ALIASES.get(w.lower(), w.lower()) for w in words]
    phrase = " ".join(words)
    if phrase in known:
        return phrase
    found = PHRASES.get(phrase)
    return found if found in known else None


def _told(notify: str, remind_at: float) -> str:
    """How approvers hear of a request, and when they are reminded, in words."""
    how = {DM: "by direct message", CHANNEL: "in the approvals channel only"}.get(
        notify, f"by a mention of <!subteam^{notify.lstrip('@')}> in the approvals channel")
    if not remind_at:
        return f"{how}; no reminder"
    when = "halfway to expiry" if remind_at == 0.5 else f"when {round(remind_at * 100)} % of the time has passed"
    return f"{how}; reminded {when}, if they have not voted"


@GROUP.command(usage="explain <change> [@user]", help="Who may request and approve a change")
def explain(ctx: Context, args: Args) -> None:
    service = ctx.services.approvals
    words = list(args.words)
    user_word = words.pop() if len(words) > 1 and words[-1].startswith(("<@", "@")) else None
    if not words:
        raise UsageError(f"Say which change: the command or what it is about. {EXAMPLES}", USAGE)
    known = service.operation_names()
    name = _operation(words, known)
    if name is None:
        group = ALIASES.get(words[0].lower(), words[0].lower())
        choices = sorted(p for p in PHRASES if p.startswith(group + " ") and PHRASES[p] in known)
        hint = ("Which one? " + ", ".join(f"`{c}`" for c in choices) + ".") if choices else EXAMPLES
        raise UsageError(f"I don't know the change `{' '.join(words)[:60]}`. {hint}", USAGE)
    user = None
    if user_word:
        found = _MENTION.match(user_word)
        if not found:
            raise UsageError("Name the user as a mention (@name, picked from the list).", USAGE)
        user = found.group(1)
    told = service.explain(ctx, name, user)
    rule = told.rule
    lines = [
        f"*Requesters:* {approvers_text(rule.requesters)}",
        "*Approval:* none, runs at once" if not rule.needs_approval else
        f"*Approval:* {'1 approver' if rule.approvals == 1 else f'{rule.approvals} different approvers'} from {approvers_text(rule.approvers)}; "
        "nobody approves their own request",
        f"*Pending for at most:* {format_seconds(rule.ttl_seconds)} · reason "
        f"{'required' if rule.reason else 'optional'}",
        f"*Rule:* {bk.escape(rule.source)}",
    ]
    if rule.needs_approval:
        lines.insert(-1, f"*Approvers are told:* {_told(rule.notify, rule.remind_at)}")
    if told.shortfall:  # a policy the organization cannot satisfy today, said plainly
        lines.append(f":warning: {told.shortfall}")
    if user:
        may_request, may_approve = told.may_request, told.may_approve
        lines.append(f"<@{user}> {'may' if may_request else 'may not'} request it"
                     + (f" (as {approvers_text((may_request,))})" if may_request else "")
                     + f" and {'may' if may_approve and rule.needs_approval else 'may not'} approve it"
                     + (" (unless they requested it)" if may_approve and rule.needs_approval else "") + ".")
    title = service.operation_title(name)
    heading = f"Who may {title[0].lower()}{title[1:]}"
    ctx.reply(bk.message([bk.section(f"*{bk.escape(heading)}?*\n" + "\n".join(lines))], text=heading))
