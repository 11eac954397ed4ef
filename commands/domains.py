"""/ona domains — the organization's domain verifications: list them, add one (shows the DNS TXT
record to publish), verify it once the record is visible, and remove one after a confirmation.

Ona checks for a TXT record on the domain itself whose value is the verification token (its docs
name no special record name). The token is not a secret: it is meant to be published in DNS.
"""

from __future__ import annotations

import difflib
import math
import re
from datetime import datetime
from typing import Any

from bot import blocks as bk
from bot.context import Context
from bot.ona.client import OnaClient
from bot.ona.errors import AlreadyExists, FailedPrecondition, NotFound
from bot.ona.models import DomainVerification, DomainVerificationState
from bot.ona.rules import RULES
from bot.registry import Args, Group, Outcome, UsageError, action_value

GROUP = Group("domain", "Domain verification", aliases=("domains",))

PAGE_SIZE = 10
USAGE_ADD = "domain add <domain>"
USAGE_VERIFY = "domain verify <domain>"
USAGE_REMOVE = "domain remove <domain>"

# Ona's hostname rule (buf.validate on InviteDomains items; CreateDomainVerification checks the length).
_RULE = RULES["InviteDomains"]["domains"]["items"]
DOMAIN_MIN: int = _RULE["min_len"]
DOMAIN_MAX: int = _RULE["max_len"]
_HOSTNAME = re.compile(_RULE["pattern"])
_SLACK_LINK = re.compile(r"<([^|>]*)(?:\|([^>]*))?>")  # Slack may auto-link a typed domain
_SCHEME = re.compile(r"^https?://", re.I)


# --- shared with commands/custom_domain.py ------------------------------------------------------


def parse_domain(raw: str, usage: str) -> str:
    """A hostname as Ona accepts it, lower-cased; a pasted URL or a Slack auto-link is unwrapped."""
    text = raw.strip()
    link = _SLACK_LINK.fullmatch(text)
    if link:
        text = link.group(2) or link.group(1)
    text = _SCHEME.sub("", text).removesuffix("/").removesuffix(".").lower()
    if not text:
        raise UsageError("Give a domain name, e.g. example.com.", usage)
    if not DOMAIN_MIN <= len(text) <= DOMAIN_MAX:
        raise UsageError(f"A domain name has {DOMAIN_MIN} to {DOMAIN_MAX} characters, e.g. example.com.", usage)
    if not _HOSTNAME.fullmatch(text):
        raise UsageError(f"`{text[:60]}` is not a domain name like example.com.", usage)
    return text


def reject_extra_words(group: Group, words: list[str]) -> None:
    """The group's default command takes no words: whatever was typed is a mistyped subcommand."""
    near = difflib.get_close_matches(words[0].lower(), [n for n in group.subcommands if n], n=1)
    hint = f" Did you mean `{group.name} {near[0]}`?" if near else ""
    raise UsageError(f"`{group.name}` has no subcommand `{words[0][:40]}`.{hint}", "\n".join(group.usages))


def day(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d}" if value else "—"


# --- helpers ------------------------------------------------------------------------------------


def _find(ona: OnaClient, domain: str) -> DomainVerification | None:
    """The verification of `domain` (lower case), looked up over every page."""
    return next((v for v in ona.iter_domain_verifications() if v.domain.lower() == domain), None)


def _verified(v: DomainVerification) -> bool:
    return v.state == DomainVerificationState.VERIFIED


def _state(v: DomainVerification) -> str:
    return "verified" if _verified(v) else "pending"


def _token(v: DomainVerification) -> str:
    """The record's value in code style (easy to copy on a phone)."""
    return f"`{bk.escape(v.verification_token)}`" if v.verification_token else "(Ona sent none: see its dashboard)"


def _record(v: DomainVerification) -> list[tuple[str, str]]:
    """The DNS record to publish, as fields."""
    return [("Record type", "TXT"), ("Name", bk.escape(v.domain)), ("Value", _token(v))]


def _verify_button(domain: str, text: str = "Verify") -> Any:
    return bk.button(text, "domain:verify", {"domain": domain}, style="primary", confirm_with=bk.confirm(
        f"Verify {domain}?", "Ona looks up the DNS TXT record now.", ok="Verify"))


def _not_found(domain: str) -> dict[str, Any]:
    text = (f":mag: No verification for *{bk.escape(domain)}*. `/ona domains` lists them; "
            f"`/ona domain add {bk.escape(domain)}` starts one.")
    return bk.message([bk.section(text)], text=f"No verification for {domain}.")


def _info(text: str) -> dict[str, Any]:
    return bk.message([bk.section(text)], text=text)


# --- list ---------------------------------------------------------------------------------------


@GROUP.command(usage="domains", help="List domain verifications (pending or verified)")
def list_domains(ctx: Context, args: Args) -> None:
    if args.words and args.words != ["list"]:
        reject_extra_words(GROUP, args.words)
    _show_page(ctx, 0)


@GROUP.action("domain:list", read_only=True)
def click_page(ctx: Context, payload: dict[str, Any]) -> None:
    page = action_value(payload).get("page", 0)
    _show_page(ctx, page if isinstance(page, int) else 0, replace=True)


def _show_page(ctx: Context, page: int, *, replace: bool = False) -> None:
    items = sorted(ctx.ona.iter_domain_verifications(), key=lambda v: v.domain.lower())
    ctx.reply(_list_message(items, page), replace=replace)


def _list_message(items: list[DomainVerification], page: int) -> dict[str, Any]:
    if not items:
        return _info(f"No domain verifications yet. `/ona {bk.escape(USAGE_ADD)}` starts one.")
    pages = math.ceil(len(items) / PAGE_SIZE)
    page = min(max(page, 0), pages - 1)  # the list may have shrunk since the button was drawn
    verified = sum(1 for v in items if _verified(v))
    blocks: list[Any] = [
        bk.header(f"Domains ({len(items)})"),
        bk.context(f"{verified} verified · {len(items) - verified} pending"),
    ]
    blocks += [_row(v) for v in items[page * PAGE_SIZE:(page + 1) * PAGE_SIZE]]
    blocks += bk.pager("domain:list", page, pages, {})
    blocks.append(bk.context(f"`/ona {bk.escape(USAGE_ADD)}` · `/ona {bk.escape(USAGE_REMOVE)}`"))
    return bk.message(blocks, text=f"{len(items)} domains: {verified} verified")


def _row(v: DomainVerification) -> Any:
    name = f"*{bk.escape(v.domain)}*"
    if _verified(v):
        return bk.section(f"{name}\n:white_check_mark: verified {day(v.verified_at)}")
    return bk.section(f"{name}\n:hourglass: pending since {day(v.created_at)}", accessory=_verify_button(v.domain))


def pending_rows(ona: OnaClient, limit: int = 5) -> list[Any]:
    """The verifications still waiting for their DNS record, each with Verify (for the App Home)."""
    pending = sorted((v for v in ona.iter_domain_verifications() if not _verified(v)), key=lambda v: v.domain.lower())
    if not pending:
        return [bk.context("No domain is waiting for verification.")]
    rows = [_row(v) for v in pending[:limit]]
    if len(pending) > limit:
        rows.append(bk.context(f"…and {len(pending) - limit} more: `/ona domains` lists them."))
    return rows


# --- add ----------------------------------------------------------------------------------------


@GROUP.command("add", usage=USAGE_ADD, help="Start verifying a domain (shows the DNS record to publish)",
               mutating=True)
def add(ctx: Context, args: Args) -> None:
    usage = f"/ona {USAGE_ADD}"
    domain = parse_domain(args.one("domain", usage), usage)
    existing = _find(ctx.ona, domain)
    if existing is not None:
        ctx.reply(_already_added(existing))
        return
    try:
        ctx.mutate("domain.add", {"domain": domain})
    except AlreadyExists:  # added by someone else since the look-up above
        ctx.reply(_info(f":information_source: *{bk.escape(domain)}* was just added by someone else. "
                        "`/ona domains` shows its state."))
        return
    created = _find(ctx.ona, domain)
    if created is not None and not _verified(created):  # absent while a change waits for approval
        ctx.reply(_next_step(created))


def _already_added(v: DomainVerification) -> dict[str, Any]:
    name = bk.escape(v.domain)
    if _verified(v):
        return _info(f":white_check_mark: *{name}* is already verified (since {day(v.verified_at)}).")
    blocks = [
        bk.section(f":information_source: *{name}* was already added and waits for its DNS record:"),
        *bk.fields(_record(v)),
        bk.actions(_verify_button(v.domain)),
    ]
    return bk.message(blocks, text=f"{v.domain} was already added: publish its TXT record, then verify.")


def _next_step(v: DomainVerification) -> dict[str, Any]:
    blocks = [
        bk.section("Publish the TXT record at your DNS provider, then press *Verify*. "
                   "DNS changes can take a few minutes (sometimes hours) to be visible."),
        bk.actions(_verify_button(v.domain)),
        bk.context(f"Later: `/ona domain verify {bk.escape(v.domain)}`"),
    ]
    return bk.message(blocks, text=f"Publish the TXT record, then verify {v.domain}.")


def _read_add(ona: OnaClient, params: dict[str, Any]) -> dict[str, Any]:
    return {"exists": _find(ona, params["domain"]) is not None}


@GROUP.operation("domain.add", "Start verifying a domain", read=_read_add)
def add_domain(ona: OnaClient, params: dict[str, Any]) -> Outcome:
    domain = params["domain"]
    v = ona.create_domain_verification(domain=domain).domain_verification or DomainVerification(domain=domain)
    name = bk.escape(v.domain)
    # The value goes in the text, not the details: an approved request tells the requester only the text.
    return Outcome(
        text=f"Verification of *{name}* started. Publish a DNS TXT record on *{name}* with the value "
             f"{_token(v)}, then verify it: `/ona domain verify {name}`.",
        details=_record(v)[:2],
    )


# --- verify -------------------------------------------------------------------------------------


@GROUP.command("verify", usage=USAGE_VERIFY, help="Check the DNS record and mark the domain verified",
               mutating=True)
def verify(ctx: Context, args: Args) -> None:
    usage = f"/ona {USAGE_VERIFY}"
    _verify(ctx, parse_domain(args.one("domain", usage), usage))


@GROUP.action("domain:verify")
def click_verify(ctx: Context, payload: dict[str, Any]) -> None:
    _verify(ctx, parse_domain(str(action_value(payload).get("domain") or ""), f"/ona {USAGE_VERIFY}"))


def _verify(ctx: Context, domain: str) -> None:
    v = _find(ctx.ona, domain)
    if v is None:
        ctx.reply(_not_found(domain))
        return
    if _verified(v):
        ctx.reply(_info(f":white_check_mark: *{bk.escape(v.domain)}* is already verified "
                        f"(since {day(v.verified_at)})."))
        return
    try:
        ctx.mutate("domain.verify", {"domain_verification_id": v.id, "domain": v.domain, "state": "verified"})
    except FailedPrecondition as exc:  # Ona did not find the TXT record (yet)
        ctx.reply(_not_visible(v, exc))


def _not_visible(v: DomainVerification, exc: FailedPrecondition) -> dict[str, Any]:
    name = bk.escape(v.domain)
    blocks: list[Any] = [
        bk.section(f":hourglass: The TXT record for *{name}* isn't visible to Ona yet. Check that it is "
                   "published exactly like this, give DNS a few minutes, then try again."),
        *bk.fields(_record(v)),
    ]
    if exc.message:
        blocks.append(bk.context(f"Ona said: {bk.escape(exc.message)}"))
    blocks.append(bk.actions(_verify_button(v.domain, "Verify again")))
    return bk.message(blocks, text=f"The TXT record for {v.domain} isn't visible yet.")


def _read_verify(ona: OnaClient, params: dict[str, Any]) -> dict[str, Any]:
    try:
        v = ona.get_domain_verification(domain_verification_id=params["domain_verification_id"]).domain_verification
    except NotFound:
        return {"state": "missing"}
    return {"state": _state(v) if v else "missing"}


@GROUP.operation("domain.verify", "Verify a domain", read=_read_verify)
def verify_domain(ona: OnaClient, params: dict[str, Any]) -> Outcome:
    v = ona.verify_domain(domain_verification_id=params["domain_verification_id"]).domain_verification
    if v is None or not _verified(v):
        raise FailedPrecondition("Ona checked the DNS record but the domain is still pending", method="VerifyDomain")
    return Outcome(text=f"*{bk.escape(v.domain)}* is verified.",
                   details=[("Domain", bk.escape(v.domain)), ("Verified", day(v.verified_at))])


# --- remove -------------------------------------------------------------------------------------


@GROUP.command("remove", usage=USAGE_REMOVE, help="Remove a domain verification (after a confirmation)",
               mutating=True)
def remove(ctx: Context, args: Args) -> None:
    usage = f"/ona {USAGE_REMOVE}"
    domain = parse_domain(args.one("domain", usage), usage)
    v = _find(ctx.ona, domain)
    if v is None:
        ctx.reply(_not_found(domain))
        return
    name = bk.escape(v.domain)
    consequence = ("Ona stops treating it as the organization's domain; verifying it again means publishing "
                   "a new DNS record." if _verified(v) else "Its pending verification is cancelled.")
    button = bk.button("Remove", "domain:remove", {"id": v.id, "domain": v.domain}, style="danger",
                       confirm_with=bk.confirm(f"Remove {v.domain}?", consequence, ok="Remove"))
    blocks = [bk.section(f":warning: Remove the {_state(v)} domain *{name}*? {consequence}"), bk.actions(button)]
    ctx.ask_first(bk.message(blocks, text=f"Remove {v.domain}?"), "domain.remove",
                  {"domain_verification_id": v.id, "domain": v.domain})


@GROUP.action("domain:remove")
def click_remove(ctx: Context, payload: dict[str, Any]) -> None:
    value = action_value(payload)
    vid, domain = value.get("id"), value.get("domain")
    if not (isinstance(vid, str) and vid and isinstance(domain, str) and domain):
        raise UsageError("That button no longer works: ask again.", f"/ona {USAGE_REMOVE}")
    try:
        ctx.mutate("domain.remove", {"domain_verification_id": vid, "domain": domain})
    except NotFound:
        ctx.reply(_info(f":information_source: *{bk.escape(domain)}* was already removed."))


def _read_remove(ona: OnaClient, params: dict[str, Any]) -> dict[str, Any]:
    try:
        ona.get_domain_verification(domain_verification_id=params["domain_verification_id"])
    except NotFound:
        return {"exists": False}
    return {"exists": True}


@GROUP.operation("domain.remove", "Remove a domain verification", read=_read_remove)
def remove_domain(ona: OnaClient, params: dict[str, Any]) -> Outcome:
    ona.delete_domain_verification(domain_verification_id=params["domain_verification_id"])
    return Outcome(text=f"Removed the verification of *{bk.escape(params['domain'])}*.")
