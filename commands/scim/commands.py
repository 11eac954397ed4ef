"""/ona scim: the commands and buttons (list, add, regenerate the token, enable, disable, remove)."""

from __future__ import annotations

from typing import Any

from bot import blocks as bk
from bot import durations
from bot.context import Context
from bot.ids import find_by_id, short
from bot.ona.client import OnaClient
from bot.ona.models import SCIMConfiguration, SSOConfiguration
from bot.ona.rules import RULES
from bot.registry import Args, Group, UsageError
from commands._shared import (
    Switch,
    already,
    clicked_id,
    clicked_page,
    confirm_first,
    find_sso,
    removal,
    sso_name,
)
from commands.scim import views

GROUP = Group("scim", "SCIM provisioning")
SWITCH = Switch(GROUP, "scim_configuration_id", "enabled", on=("enable", True), off=("disable", False))

USAGE_LIST = "scim"
USAGE_ADD = "scim add [name] [--sso <id>] [--expires 90d]"
USAGE_REGENERATE = "scim regenerate <id>"
USAGE_ENABLE = "scim enable <id>"
USAGE_DISABLE = "scim disable <id>"
USAGE_REMOVE = "scim remove <id>"

# Ona's limits (buf.validate on CreateSCIMConfigurationRequest).
_CREATE_RULES = RULES["CreateSCIMConfigurationRequest"]
NAME_MAX = _CREATE_RULES["name"]["max_len"]
EXPIRES_MIN = int(_CREATE_RULES["tokenExpiresIn"]["gte"])  # 1 day
EXPIRES_MAX = int(_CREATE_RULES["tokenExpiresIn"]["lte"])  # 730 days
EXPIRES_DEFAULT = 365 * 86_400


def find_scim(ona: OnaClient, raw: str, usage: str) -> SCIMConfiguration:
    return find_by_id(ona.iter_scim_configurations(), raw, "SCIM configuration", usage, "/ona scim")


def clicked(payload: dict[str, Any]) -> str:
    return clicked_id(payload, "SCIM configuration", "scim")


def _list(ona: OnaClient, page: int) -> dict[str, Any]:
    configs = list(ona.iter_scim_configurations())
    ssos = {s.id: s for s in ona.iter_sso_configurations()} if configs else {}
    return views.list_page(configs, ssos, page)


@GROUP.command(usage=USAGE_LIST, help="List the SCIM configurations")
def list_configs(ctx: Context, args: Args) -> None:
    if args.words:
        raise UsageError(f"I don't know `scim {bk.clip(args.words[0], 40)}`.", "\n".join(GROUP.usages))
    ctx.reply(_list(ctx.ona, 0))


@GROUP.action("scim:page", read_only=True)
def click_page(ctx: Context, payload: dict[str, Any]) -> None:
    ctx.reply(_list(ctx.ona, clicked_page(payload)), replace=True)


def _options(args: Args) -> tuple[list[str], dict[str, str | None]]:
    """`--sso <id>` / `--sso=<id>` and `--expires 90d` / `--expires=90d`; the other words are the name."""
    usage = f"/ona {USAGE_ADD}"
    unknown = sorted(args.flags - {"sso", "expires", "dry-run"})
    if unknown:
        raise UsageError(f"I don't know the option `--{bk.clip(unknown[0], 30)}`.", usage)
    given: dict[str, str | None] = {}
    for key in ("sso", "expires"):
        if key in args.flags:
            given[key] = args.option(key)
            if given[key] is None:
                raise UsageError(f"Give a value after `--{key}`.", usage)
    return args.positional("sso", "expires"), given


def _is_duration(word: str) -> bool:
    try:
        durations.parse(word)
    except durations.DurationError:
        return False
    return True


def _is_id_prefix(word: str) -> bool:
    return len(word) >= 4 and all(c in "0123456789abcdefABCDEF-" for c in word)


def _expires(raw: str | None) -> int:
    usage = f"/ona {USAGE_ADD}"
    if raw is None:
        return EXPIRES_DEFAULT
    try:
        seconds = durations.parse(raw)
    except durations.DurationError as exc:
        raise UsageError(f"--expires: {exc}", usage) from None
    if not EXPIRES_MIN <= seconds <= EXPIRES_MAX:
        raise UsageError(f"The token must expire in 1 to {EXPIRES_MAX // 86_400} days (e.g. 90d).", usage)
    return seconds


def _pick_sso(ona: OnaClient, raw: str | None) -> SSOConfiguration:
    usage = f"/ona {USAGE_ADD}"
    if raw:
        return find_sso(ona, raw, usage)
    ssos = list(ona.iter_sso_configurations())
    if not ssos:
        raise UsageError("SCIM needs an SSO configuration: add one first with `/ona sso add`.", usage)
    if len(ssos) > 1:
        names = ", ".join(f"{sso_name(s)} (`{short(s.id)}`)" for s in ssos[:10])
        raise UsageError(f"This organization has {len(ssos)} SSO configurations: pick one with `--sso <id>`. "
                         f"{names}", usage)
    return ssos[0]


@GROUP.command("add", usage=USAGE_ADD, help="Set up SCIM provisioning; the token is shown once, to you",
               mutating=True)
def add(ctx: Context, args: Args) -> None:
    words, options = _options(args)
    name = " ".join(words).strip()
    if len(name) > NAME_MAX:
        raise UsageError(f"The name has {len(name)} characters; Ona allows {NAME_MAX}.", f"/ona {USAGE_ADD}")
    seconds = _expires(options.get("expires"))
    sso = _pick_sso(ctx.ona, options.get("sso"))
    params: dict[str, Any] = {"sso_configuration_id": sso.id, "token_expires_in": seconds}
    if name:
        params["name"] = name
    ctx.mutate("scim.create", params)


@GROUP.command("regenerate", usage=USAGE_REGENERATE, help="New SCIM token; the old one stops working (asks first)",
               mutating=True)
def regenerate(ctx: Context, args: Args) -> None:
    usage = f"/ona {USAGE_REGENERATE}"
    scim = find_scim(ctx.ona, args.one("ID", usage), usage)
    name = views.name_of(scim)
    confirm_first(ctx, title=f"New SCIM token: {name}?", warning=views.STOPS_WORKING,
                  facts=f"Current token expires {views.date(scim.token_expires_at)} · ID `{short(scim.id)}`",
                  button=views.regenerate_button(scim),
                  text=f"Regenerate the SCIM token of {name}? The current token stops working.",
                  operation="scim.regenerate_token", params={"scim_configuration_id": scim.id})


@GROUP.command("enable", usage=USAGE_ENABLE, help="Turn SCIM provisioning on", mutating=True)
def enable(ctx: Context, args: Args) -> None:
    _set_enabled(ctx, args, True, f"/ona {USAGE_ENABLE}")


@GROUP.command("disable", usage=USAGE_DISABLE, help="Turn SCIM provisioning off", mutating=True)
def disable(ctx: Context, args: Args) -> None:
    _set_enabled(ctx, args, False, f"/ona {USAGE_DISABLE}")


def _set_enabled(ctx: Context, args: Args, enabled: bool, usage: str) -> None:
    scim = find_scim(ctx.ona, args.one("ID", usage), usage)
    if scim.enabled == enabled:
        already(ctx, views.name_of(scim), "enabled" if enabled else "disabled")
        return
    ctx.mutate(SWITCH.operation(enabled), SWITCH.params(scim.id, enabled))


@GROUP.command("remove", usage=USAGE_REMOVE, help="Delete a SCIM configuration (asks first)", mutating=True)
def remove(ctx: Context, args: Args) -> None:
    usage = f"/ona {USAGE_REMOVE}"
    scim = find_scim(ctx.ona, args.one("ID", usage), usage)
    name = views.name_of(scim)
    confirm_first(ctx, title=f"Remove SCIM: {name}?",
                  warning=f"Provisioning through *{bk.escape(name)}* stops and its token stops working.",
                  facts=f"ID `{short(scim.id)}`", button=views.remove_button(scim),
                  text=f"Remove the SCIM configuration {name}?", operation="scim.remove",
                  params=removal("scim_configuration_id", scim.id))


@GROUP.action("scim:regenerate")
def click_regenerate(ctx: Context, payload: dict[str, Any]) -> None:
    ctx.mutate("scim.regenerate_token", {"scim_configuration_id": clicked(payload)})


@GROUP.action("scim:remove")
def click_remove(ctx: Context, payload: dict[str, Any]) -> None:
    ctx.mutate("scim.remove", removal("scim_configuration_id", clicked(payload)))
