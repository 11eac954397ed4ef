"""/ona org — the organization at a glance; rename it; set the email domains whose people may join on their own."""

from __future__ import annotations

import re
from typing import Any

from bot import blocks as bk
from bot import replies
from bot.context import Context
from bot.ona.client import OnaClient
from bot.ona.models import (
    CountRequest,
    CountResponseRelation,
    InviteDomains,
    Organization,
    OrganizationTier,
    PaginationRequest,
)
from bot.ona.rules import RULES
from bot.registry import Args, Group, Outcome, UsageError, restore

GROUP = Group("org", "Organization", aliases=("organization",))

NAME_MAX = 80
USAGE_RENAME = "org rename <name>"
USAGE_DOMAINS = "org invite-domains <domain> [domain …] | --clear"
CLEAR_WORDS = {"none", "clear", "-"}

# Ona's rules for InviteDomains.domains (buf.validate): unique, 4–253 chars, a hostname with a TLD.
_DOMAIN_RULE = RULES["InviteDomains"]["domains"]["items"]
DOMAIN_MIN, DOMAIN_MAX = _DOMAIN_RULE["min_len"], _DOMAIN_RULE["max_len"]
_DOMAIN = re.compile(_DOMAIN_RULE["pattern"])

TIERS = {
    OrganizationTier.FREE: "Free", OrganizationTier.FREE_ONA: "Free",
    OrganizationTier.CORE: "Core", OrganizationTier.ENTERPRISE: "Enterprise",
}


def _organization(ona: OnaClient) -> Organization:
    return ona.get_organization().organization or Organization()


def _domains(org: Organization) -> list[str]:
    return list(org.invite_domains.domains) if org.invite_domains else []


def _member_count(ona: OnaClient) -> str:
    count = ona.list_members(pagination=PaginationRequest(page_size=1), count=CountRequest(include=True)).count
    if count is None:
        return "—"
    return f"{count.value}+" if count.relation == CountResponseRelation.GTE else str(count.value)


@GROUP.command(usage="org", help="Show the organization: name, tier, members, invite domains")
def show(ctx: Context, args: Args) -> None:
    org = _organization(ctx.ona)
    domains = _domains(org)
    blocks = [
        bk.header("Organization"),  # the name goes in a field, escaped: a header is plain text
        *bk.fields([
            ("Name", bk.escape(org.name)),
            ("Tier", TIERS.get(org.tier, "—")),
            ("Created", f"{org.created_at.day} {org.created_at:%b %Y}" if org.created_at else "—"),
            ("Members", _member_count(ctx.ona)),
            ("Invite domains", bk.escape(", ".join(domains)) if domains else "none (invite link only)"),
        ]),
        bk.context("`/ona org rename <name>` · `/ona org invite-domains <domain …>` · `/ona members`"),
    ]
    ctx.reply(bk.message(blocks, text=f"Organization: {bk.escape(org.name)}"))


# --- rename ----------------------------------------------------------------------------------------


def _valid_name(raw: str) -> str:
    name = raw.strip()
    if not name:
        raise UsageError("Give the new name.", f"/ona {USAGE_RENAME}")
    if len(name) > NAME_MAX:
        raise UsageError(f"The name has {len(name)} characters; keep it to {NAME_MAX}.", f"/ona {USAGE_RENAME}")
    return name


@GROUP.command("rename", usage=USAGE_RENAME, help="Rename the organization", mutating=True)
def rename(ctx: Context, args: Args) -> None:
    name = _valid_name(args.rest)
    if _organization(ctx.ona).name == name:
        ctx.reply(replies.info(f":information_source: The organization is already called *{bk.escape(name)}*. "
                               "Nothing was changed."))
        return
    ctx.mutate("org.rename", {"name": name})


def _read_name(ona: OnaClient, params: dict[str, Any]) -> dict[str, Any]:
    return {"name": _organization(ona).name}


@GROUP.operation("org.rename", "Rename the organization", read=_read_name, undo=restore)
def apply_rename(ona: OnaClient, params: dict[str, Any]) -> Outcome:
    org = ona.update_organization(name=params["name"]).organization
    name = org.name if org and org.name else params["name"]
    return Outcome(text=f"The organization is now called *{bk.escape(name)}*.")


# --- invite domains --------------------------------------------------------------------------------


def _unlink(word: str) -> str:
    """Slack turns a typed "example.com" into <http://example.com|example.com>: take the text back."""
    if not (word.startswith("<") and word.endswith(">")):
        return word
    inner = word[1:-1]
    text = inner.split("|", 1)[1] if "|" in inner else inner
    return re.sub(r"^(?:https?://|mailto:)", "", text).split("/", 1)[0]


def parse_domains(words: list[str]) -> list[str]:
    """Lower-cased, de-duplicated domains ("a.com, b.com" works too); UsageError naming the bad ones."""
    seen: list[str] = []
    bad: list[str] = []
    for word in (w for raw in words for w in raw.split(",")):
        domain = _unlink(word.strip()).removeprefix("@").rstrip(".").lower()
        if not domain:
            continue
        if not (DOMAIN_MIN <= len(domain) <= DOMAIN_MAX and _DOMAIN.match(domain)):
            bad.append(word.strip())
        elif domain not in seen:
            seen.append(domain)
    if bad:
        listed = ", ".join(f"`{b[:60]}`" for b in bad[:5])
        raise UsageError(f"Not a domain Ona accepts: {listed}. Use names like example.com.", f"/ona {USAGE_DOMAINS}")
    if not seen:
        raise UsageError("Give at least one domain, or --clear to remove them all.", f"/ona {USAGE_DOMAINS}")
    return seen


@GROUP.command("invite-domains", usage=USAGE_DOMAINS, mutating=True,
               help="Set the email domains whose people may join without an invite (--clear for none)")
def invite_domains(ctx: Context, args: Args) -> None:
    if "clear" in args.flags and args.words:
        raise UsageError("Give domains or --clear, not both.", f"/ona {USAGE_DOMAINS}")
    clear = "clear" in args.flags or (len(args.words) == 1 and args.words[0].lower() in CLEAR_WORDS)
    domains = [] if clear else parse_domains(args.words)
    current = _domains(_organization(ctx.ona))
    if sorted(current) == sorted(domains):
        now = ", ".join(current) or "none"
        ctx.reply(replies.info(f":information_source: The invite domains are already: {bk.escape(now)}. "
                               "Nothing was changed."))
        return
    ctx.mutate("org.invite_domains", {"domains": domains})


def _read_domains(ona: OnaClient, params: dict[str, Any]) -> dict[str, Any]:
    return {"domains": _domains(_organization(ona))}


@GROUP.operation("org.invite_domains", "Set the organization's invite domains", read=_read_domains, undo=restore)
def apply_invite_domains(ona: OnaClient, params: dict[str, Any]) -> Outcome:
    # InviteDomains is a wrapper message: sent with an empty list it clears them (not "no change").
    ona.update_organization(invite_domains=InviteDomains(domains=list(params["domains"])))
    if not params["domains"]:
        return Outcome(text="Invite domains cleared: people now need an invite link to join.")
    listed = bk.escape(", ".join(params["domains"]))
    return Outcome(text="People with an email at these domains can now join the organization without an invite.",
                   details=[("Invite domains", listed)])
