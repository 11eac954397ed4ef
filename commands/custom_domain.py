"""/ona custom-domain — show the organization's custom domain, set it (created when there is none,
updated otherwise) with its cloud provider and account, or remove it after a confirmation."""

from __future__ import annotations

import re
from typing import Any

from bot import blocks as bk
from bot.context import Context
from bot.ona.client import OnaClient
from bot.ona.errors import AlreadyExists, FailedPrecondition, NotFound, OnaError
from bot.ona.models import CustomDomain, CustomDomainProvider
from bot.registry import Args, Group, Outcome, UsageError, action_value
from commands.domains import day, parse_domain, reject_extra_words

GROUP = Group("custom-domain", "Custom domain", aliases=("customdomain",))

USAGE_SET = "custom-domain set <domain> [aws|gcp] [account-id]"
USAGE_REMOVE = "custom-domain remove"
PROVIDERS = {"aws": CustomDomainProvider.AWS, "gcp": CustomDomainProvider.GCP}
LABELS = {"aws": "AWS", "gcp": "Google Cloud", "": "not set"}
_AWS_ACCOUNT = re.compile(r"\d{12}")
# Google's rule for project IDs: 6–30 characters, lower-case letters, digits and hyphens,
# starting with a letter and not ending with a hyphen.
_GCP_PROJECT = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]")


def _current(ona: OnaClient) -> CustomDomain | None:
    try:
        return ona.get_custom_domain().custom_domain
    except NotFound:  # Ona answers not_found when the organization has none
        return None


def _provider(d: CustomDomain) -> str:
    return next((key for key, value in PROVIDERS.items() if d.provider == value), "")


def _values(d: CustomDomain) -> dict[str, str]:
    """What `set` can change, as params name it (aws_account_id is the deprecated twin of cloud_account_id)."""
    return {"domain_name": d.domain_name, "provider": _provider(d),
            "cloud_account_id": d.cloud_account_id or d.aws_account_id}


def _details(d: CustomDomain) -> list[tuple[str, str]]:
    values = _values(d)
    return [("Domain", bk.escape(d.domain_name)), ("Provider", LABELS[values["provider"]]),
            ("Cloud account", bk.escape(values["cloud_account_id"]) or "—")]


def _none_set() -> dict[str, Any]:
    text = f"No custom domain is set. `/ona {bk.escape(USAGE_SET)}` sets one."
    return bk.message([bk.section(text)], text="No custom domain is set.")


def _remove_button(domain_name: str) -> Any:
    return bk.button("Remove", "custom-domain:remove", {"domain_name": domain_name}, style="danger",
                     confirm_with=bk.confirm(f"Remove {domain_name}?", "Ona stops serving the organization on "
                                             f"{bk.escape(domain_name)}.", ok="Remove"))


# --- show ---------------------------------------------------------------------------------------


@GROUP.command(usage="custom-domain", help="Show the custom domain")
def show(ctx: Context, args: Args) -> None:
    if args.words:
        reject_extra_words(GROUP, args.words)
    domain = _current(ctx.ona)
    if domain is None:
        ctx.reply(_none_set())
        return
    blocks = [
        bk.header("Custom domain"),
        *bk.fields([*_details(domain), ("Updated", day(domain.updated_at))]),
        bk.actions(_remove_button(domain.domain_name)),
        bk.context(f"`/ona {bk.escape(USAGE_SET)}` changes it."),
    ]
    ctx.reply(bk.message(blocks, text=f"Custom domain: {domain.domain_name}"))


# --- set ----------------------------------------------------------------------------------------


def parse_set(words: list[str]) -> dict[str, str]:
    """`<domain> [aws|gcp] [account-id]` → params with only what was given (the rest is kept)."""
    usage = f"/ona {USAGE_SET}"
    if not 1 <= len(words) <= 3:
        raise UsageError("Give the domain, then optionally `aws` or `gcp` and the account ID.", usage)
    params = {"domain_name": parse_domain(words[0], usage)}
    if len(words) >= 2:
        provider = words[1].lower()
        if provider not in PROVIDERS:
            raise UsageError(f"After the domain comes the cloud, `aws` or `gcp` (then the account ID), "
                             f"not `{words[1][:30]}`.", usage)
        params["provider"] = provider
        if len(words) == 3:
            params["cloud_account_id"] = _parse_account(provider, words[2], usage)
    return params


def _parse_account(provider: str, raw: str, usage: str) -> str:
    if provider == "aws":
        account = raw.replace("-", "")  # the AWS console shows 1234-5678-9012
        if not _AWS_ACCOUNT.fullmatch(account):
            raise UsageError("An AWS account ID has 12 digits, e.g. 123456789012.", usage)
        return account
    project = raw.lower()  # phones capitalise the first letter; project IDs are lower case
    if not _GCP_PROJECT.fullmatch(project):
        raise UsageError("A GCP project ID has 6 to 30 lower-case letters, digits or hyphens, starts with a "
                         "letter and does not end with a hyphen, e.g. acme-prod-1.", usage)
    return project


@GROUP.command("set", usage=USAGE_SET, help="Set or change the custom domain", mutating=True)
def set_domain(ctx: Context, args: Args) -> None:
    params = parse_set(args.words)
    current = _current(ctx.ona)
    if current is not None and all(_values(current)[k].lower() == v for k, v in params.items()):
        ctx.reply(bk.message([bk.section(f":information_source: The custom domain is already "
                                         f"*{bk.escape(current.domain_name)}* with these settings.")],
                             text="Nothing to change."))
        return
    ctx.mutate("custom_domain.set", params)


def _request(params: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {"domain_name": params["domain_name"]}
    if params.get("provider"):
        fields["provider"] = PROVIDERS[params["provider"]]
    if params.get("cloud_account_id"):
        fields["cloud_account_id"] = params["cloud_account_id"]
    return fields


def _read_set(ona: OnaClient, params: dict[str, Any]) -> dict[str, Any]:
    current = _current(ona)
    if current is None:
        return {"exists": False}
    values = _values(current)
    return {key: values[key] for key in params}


def _ran_set(ona: OnaClient, params: dict[str, Any], before: dict[str, Any]) -> bool | None:
    """It ran if the custom domain now has the requested values; not if it is as it was before."""
    now = _read_set(ona, params)
    if now == params:
        return True
    return False if now == before else None


@GROUP.operation("custom_domain.set", "Set the custom domain", read=_read_set, ran=_ran_set)
def set_custom_domain(ona: OnaClient, params: dict[str, Any]) -> Outcome:
    fields = _request(params)
    domain: CustomDomain | None = None
    created = False
    if _current(ona) is None:
        try:
            domain = ona.create_custom_domain(**fields).custom_domain
            created = True
        except AlreadyExists:  # created by someone else since the look-up: update it instead
            pass
    if not created:
        domain = ona.update_custom_domain(**fields).custom_domain
    verb = "set" if created else "changed"
    shown = domain or CustomDomain(domain_name=params["domain_name"])
    return Outcome(text=f"The custom domain is {verb}: *{bk.escape(shown.domain_name)}*.", details=_details(shown))


# --- remove -------------------------------------------------------------------------------------


@GROUP.command("remove", usage=USAGE_REMOVE, help="Remove the custom domain (after a confirmation)", mutating=True)
def remove(ctx: Context, args: Args) -> None:
    if args.words:
        raise UsageError("`custom-domain remove` takes nothing after it.", f"/ona {USAGE_REMOVE}")
    domain = _current(ctx.ona)
    if domain is None:
        ctx.reply(_none_set())
        return
    name = bk.escape(domain.domain_name)
    blocks: list[Any] = [bk.section(f":warning: Remove the custom domain *{name}*? Ona stops serving the "
                                    "organization on it.")]
    if _custom_domain_required(ctx.ona):
        blocks.append(bk.section(":rotating_light: The policy *Require the custom domain* is on: members may "
                                 "lose access until it is turned off (`/ona policies edit`)."))
    blocks.append(bk.actions(_remove_button(domain.domain_name)))
    ctx.ask_first(bk.message(blocks, text=f"Remove the custom domain {domain.domain_name}?"),
                  "custom_domain.remove", {"domain_name": domain.domain_name})


def _custom_domain_required(ona: OnaClient) -> bool:
    """Only for a warning: if the policies cannot be read, the confirmation goes without it."""
    try:
        policies = ona.get_organization_policies().policies
    except OnaError:
        return False
    return bool(policies and policies.require_custom_domain_access)


@GROUP.action("custom-domain:remove")
def click_remove(ctx: Context, payload: dict[str, Any]) -> None:
    name = action_value(payload).get("domain_name")
    if not isinstance(name, str) or not name:
        raise UsageError("That button no longer works: ask again.", f"/ona {USAGE_REMOVE}")
    try:
        ctx.mutate("custom_domain.remove", {"domain_name": name})
    except NotFound:
        ctx.reply(bk.message([bk.section(f":information_source: *{bk.escape(name)}* was already removed.")],
                             text="The custom domain was already removed."))


def _read_remove(ona: OnaClient, params: dict[str, Any]) -> dict[str, Any]:
    """Whether the custom domain the requester saw is still there (a different one counts as gone)."""
    current = _current(ona)
    return {"exists": current is not None and current.domain_name.lower() == params["domain_name"].lower()}


@GROUP.operation("custom_domain.remove", "Remove the custom domain", read=_read_remove)
def remove_custom_domain(ona: OnaClient, params: dict[str, Any]) -> Outcome:
    current = _current(ona)
    if current is None:
        raise NotFound("the organization has no custom domain", method="GetCustomDomain")
    # DeleteCustomDomain names no domain: never remove one other than the one the requester saw.
    if current.domain_name.lower() != params["domain_name"].lower():
        raise FailedPrecondition(f"the custom domain is now {current.domain_name}, not {params['domain_name']}; "
                                 "nothing was removed. Check it with /ona custom-domain", method="DeleteCustomDomain")
    ona.delete_custom_domain()
    return Outcome(text=f"Removed the custom domain *{bk.escape(current.domain_name)}*.")
