"""/ona scim — SCIM provisioning: list the configurations, add one, regenerate its token, enable,
disable or remove it.

A SCIM token is a secret: it goes only into Outcome.secret, which the requester alone sees, once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bot import blocks as bk
from bot import durations
from bot.context import Context
from bot.ids import find_by_id, short
from bot.ona.client import OnaClient
from bot.ona.errors import NotFound
from bot.ona.models import SCIMConfiguration, SSOConfiguration
from bot.ona.rules import RULES
from bot.registry import Args, Group, Outcome, UsageError, action_value, existence
from commands.sso import find_sso, name_of

GROUP = Group("scim", "SCIM provisioning")

USAGE_LIST = "scim"
USAGE_ADD = "scim add [name] [--sso <id>] [--expires 90d]"
USAGE_REGENERATE = "scim regenerate <id>"
USAGE_ENABLE = "scim enable <id>"
USAGE_DISABLE = "scim disable <id>"
USAGE_REMOVE = "scim remove <id>"
PAGE_SIZE = 10

# Ona's limits (buf.validate on CreateSCIMConfigurationRequest).
_CREATE_RULES = RULES["CreateSCIMConfigurationRequest"]
NAME_MAX = _CREATE_RULES["name"]["max_len"]
EXPIRES_MIN = int(_CREATE_RULES["tokenExpiresIn"]["gte"])  # 1 day
EXPIRES_MAX = int(_CREATE_RULES["tokenExpiresIn"]["lte"])  # 730 days
EXPIRES_DEFAULT = 365 * 86_400
STOPS_WORKING = "The current token stops working at once: your identity provider cannot provision users until " \
                "you paste the new token into it."


def find_scim(ona: OnaClient, raw: str, usage: str) -> SCIMConfiguration:
    return find_by_id(ona.iter_scim_configurations(), raw, "SCIM configuration", usage, "/ona scim")


def _clicked_id(payload: dict[str, Any]) -> str:
    item_id = str(action_value(payload).get("id") or "")
    if not item_id:
        raise UsageError("That button carries no SCIM configuration: run `/ona scim` again.")
    return item_id


def _name(scim: SCIMConfiguration) -> str:
    return scim.name or f"SCIM {short(scim.id)}"


def _date(value: datetime | None) -> str:
    """Slack shows the date in the reader's time zone; the fallback is the UTC date."""
    if value is None:
        return "—"
    text = f"<!date^{int(value.timestamp())}^{{date_short}}|{value.astimezone(UTC):%Y-%m-%d}>"
    return f":warning: expired {text}" if value <= datetime.now(UTC) else text


def _linked(scim: SCIMConfiguration, ssos: dict[str, SSOConfiguration]) -> str:
    if not scim.sso_configuration_id:
        return "none"
    sso = ssos.get(scim.sso_configuration_id)
    return bk.escape(name_of(sso)) if sso else f"`{short(scim.sso_configuration_id)}` (missing)"


# --- rendering ----------------------------------------------------------------------------------


def _toggle(scim: SCIMConfiguration) -> bk.ButtonElement:
    name = bk.escape(_name(scim))
    if scim.enabled:
        return bk.button("Disable", "scim:disable", {"id": scim.id}, confirm_with=bk.confirm(
            "Disable SCIM?", f"Your identity provider stops provisioning users through *{name}*.", ok="Disable"))
    return bk.button("Enable", "scim:enable", {"id": scim.id}, style="primary", confirm_with=bk.confirm(
        "Enable SCIM?", f"Your identity provider can provision users through *{name}* again.", ok="Enable"))


def _regenerate_button(scim: SCIMConfiguration) -> bk.ButtonElement:
    return bk.button("New token", "scim:regenerate", {"id": scim.id}, style="danger", confirm_with=bk.confirm(
        "Regenerate the SCIM token?", STOPS_WORKING, ok="Regenerate"))


def _remove_button(scim: SCIMConfiguration) -> bk.ButtonElement:
    return bk.button("Remove", "scim:remove", {"id": scim.id}, style="danger", confirm_with=bk.confirm(
        "Remove SCIM configuration?",
        f"Provisioning through *{bk.escape(_name(scim))}* stops and its token stops working. This cannot be undone.",
        ok="Remove"))


def _list_page(ona: OnaClient, page: int) -> dict[str, Any]:
    configs = list(ona.iter_scim_configurations())
    ssos = {s.id: s for s in ona.iter_sso_configurations()} if configs else {}
    pages = max(1, -(-len(configs) // PAGE_SIZE))
    page = min(max(page, 0), pages - 1)
    blocks: list[Any] = [bk.header(f"SCIM configurations ({len(configs)})")]
    if not configs:
        blocks.append(bk.section("No SCIM configuration yet. `/ona scim add [name]` creates one."))
    for scim in configs[page * PAGE_SIZE:(page + 1) * PAGE_SIZE]:
        state = ":large_green_circle: enabled" if scim.enabled else ":white_circle: disabled"
        blocks.append(bk.section(
            f"*{bk.escape(_name(scim))}* · {state}\nSSO: {_linked(scim, ssos)} · "
            f"token expires {_date(scim.token_expires_at)}\nID `{short(scim.id)}`"))
        blocks.append(bk.actions(_toggle(scim), _regenerate_button(scim)))
    blocks += bk.pager("scim:page", page, pages, {})
    return bk.message(blocks, text=f"{len(configs)} SCIM configuration(s)")


# --- commands -----------------------------------------------------------------------------------


@GROUP.command(usage=USAGE_LIST, help="List the SCIM configurations")
def list_configs(ctx: Context, args: Args) -> None:
    if args.words:
        raise UsageError(f"I don't know `scim {bk.clip(args.words[0], 40)}`.", "\n".join(GROUP.usages))
    ctx.reply(_list_page(ctx.ona, 0))


@GROUP.action("scim:page", read_only=True)
def click_page(ctx: Context, payload: dict[str, Any]) -> None:
    page = action_value(payload).get("page", 0)
    ctx.reply(_list_page(ctx.ona, page if isinstance(page, int) else 0), replace=True)


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
        names = ", ".join(f"{name_of(s)} (`{short(s.id)}`)" for s in ssos[:10])
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
    name = _name(scim)
    blocks = [
        bk.header(f"New SCIM token: {name}?"),
        bk.section(f":warning: {STOPS_WORKING}"),
        bk.context(f"Current token expires {_date(scim.token_expires_at)} · ID `{short(scim.id)}`"),
        bk.actions(_regenerate_button(scim)),
    ]
    ctx.ask_first(bk.message(blocks, text=f"Regenerate the SCIM token of {name}? The current token stops working."),
                  "scim.regenerate_token", {"scim_configuration_id": scim.id})


@GROUP.command("enable", usage=USAGE_ENABLE, help="Turn SCIM provisioning on", mutating=True)
def enable(ctx: Context, args: Args) -> None:
    _set_enabled(ctx, args, True, f"/ona {USAGE_ENABLE}")


@GROUP.command("disable", usage=USAGE_DISABLE, help="Turn SCIM provisioning off", mutating=True)
def disable(ctx: Context, args: Args) -> None:
    _set_enabled(ctx, args, False, f"/ona {USAGE_DISABLE}")


def _set_enabled(ctx: Context, args: Args, enabled: bool, usage: str) -> None:
    scim = find_scim(ctx.ona, args.one("ID", usage), usage)
    if scim.enabled == enabled:
        word = "enabled" if enabled else "disabled"
        ctx.reply(bk.message([bk.section(f":information_source: *{bk.escape(_name(scim))}* is already {word}.")],
                             text=f"Already {word}."))
        return
    ctx.mutate("scim.enable" if enabled else "scim.disable", {"scim_configuration_id": scim.id, "enabled": enabled})


@GROUP.command("remove", usage=USAGE_REMOVE, help="Delete a SCIM configuration (asks first)", mutating=True)
def remove(ctx: Context, args: Args) -> None:
    usage = f"/ona {USAGE_REMOVE}"
    scim = find_scim(ctx.ona, args.one("ID", usage), usage)
    name = _name(scim)
    blocks = [
        bk.header(f"Remove SCIM: {name}?"),
        bk.section(f":warning: Provisioning through *{bk.escape(name)}* stops and its token stops working."),
        bk.context(f"ID `{short(scim.id)}`"),
        bk.actions(_remove_button(scim)),
    ]
    ctx.ask_first(bk.message(blocks, text=f"Remove the SCIM configuration {name}?"), "scim.remove",
                  _removal(scim.id))


@GROUP.action("scim:regenerate")
def click_regenerate(ctx: Context, payload: dict[str, Any]) -> None:
    ctx.mutate("scim.regenerate_token", {"scim_configuration_id": _clicked_id(payload)})


@GROUP.action("scim:enable")
def click_enable(ctx: Context, payload: dict[str, Any]) -> None:
    ctx.mutate("scim.enable", {"scim_configuration_id": _clicked_id(payload), "enabled": True})


@GROUP.action("scim:disable")
def click_disable(ctx: Context, payload: dict[str, Any]) -> None:
    ctx.mutate("scim.disable", {"scim_configuration_id": _clicked_id(payload), "enabled": False})


@GROUP.action("scim:remove")
def click_remove(ctx: Context, payload: dict[str, Any]) -> None:
    ctx.mutate("scim.remove", _removal(_clicked_id(payload)))


def _removal(scim_id: str) -> dict[str, Any]:
    return {"scim_configuration_id": scim_id, "exists": False}


# --- operations ---------------------------------------------------------------------------------


def _get(ona: OnaClient, scim_id: str) -> SCIMConfiguration:
    scim = ona.get_scim_configuration(scim_configuration_id=scim_id).scim_configuration
    if scim is None:
        raise NotFound(f"SCIM configuration {scim_id} not found")
    return scim


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


def _read_create(ona: OnaClient, params: dict[str, Any]) -> dict[str, Any]:
    return {"exists": False}


def _linked_ids(ona: OnaClient, params: dict[str, Any]) -> dict[str, Any]:
    """The SCIM configurations already linked to this SSO (with this name), to recognise a new one later."""
    name = params.get("name")
    return {"linked": sorted(c.id for c in ona.iter_scim_configurations()
                             if c.sso_configuration_id == params["sso_configuration_id"]
                             and (not name or c.name == name))}


def _ran_create(ona: OnaClient, params: dict[str, Any], before: dict[str, Any]) -> bool | None:
    seen = (before.get("witness") or {}).get("linked")
    if seen is None:
        return None
    return bool(set(_linked_ids(ona, params)["linked"]) - set(seen))


@GROUP.operation("scim.create", "Set up SCIM provisioning", read=_read_create, secret_result=True,
                 witness=_linked_ids, ran=_ran_create)
def create_scim(ona: OnaClient, params: dict[str, Any]) -> Outcome:
    answer = ona.create_scim_configuration(
        sso_configuration_id=params["sso_configuration_id"],
        token_expires_in=timedelta(seconds=params["token_expires_in"]),
        **({"name": params["name"]} if params.get("name") else {}),
    )
    scim = answer.scim_configuration or SCIMConfiguration()
    return Outcome(
        text=f"Created SCIM configuration *{bk.escape(_name(scim))}*. Paste the token into your identity provider "
             "now: Ona will not show it again.",
        details=[("Linked SSO", f"`{short(params['sso_configuration_id'])}`"),
                 ("Token expires", _date(answer.token_expires_at or scim.token_expires_at)),
                 ("ID", f"`{short(scim.id)}`")],
        secret=answer.token, secret_label="SCIM token",
    )


def _read_token(ona: OnaClient, params: dict[str, Any]) -> dict[str, Any]:
    scim = _get(ona, params["scim_configuration_id"])
    return {"scim_configuration_id": scim.id, "token_expires_at": _iso(scim.token_expires_at)}


def _ran_token(ona: OnaClient, params: dict[str, Any], before: dict[str, Any]) -> bool | None:
    """A new token was issued if the token's expiry moved since it was read before the change."""
    try:
        now = _read_token(ona, params)
    except NotFound:
        return None  # removed since: nothing left to tell by
    if "token_expires_at" not in before:
        return None
    return now["token_expires_at"] != before["token_expires_at"]


@GROUP.operation("scim.regenerate_token", "Regenerate a SCIM token", read=_read_token, secret_result=True,
                 ran=_ran_token,
                 effect="Replaces this SCIM configuration's token: the old token stops working at once, so "
                        "provisioning stops until the new token is in the identity provider.")
def regenerate_token(ona: OnaClient, params: dict[str, Any]) -> Outcome:
    scim = _get(ona, params["scim_configuration_id"])  # first: an unknown ID changes nothing
    answer = ona.regenerate_scim_token(scim_configuration_id=scim.id)
    return Outcome(
        text=f"New SCIM token for *{bk.escape(_name(scim))}*; the previous token no longer works. Paste it into "
             "your identity provider now: Ona will not show it again.",
        details=[("Token expires", _date(answer.token_expires_at)), ("ID", f"`{short(scim.id)}`")],
        secret=answer.token, secret_label="SCIM token",
    )


def _read_enabled(ona: OnaClient, params: dict[str, Any]) -> dict[str, Any]:
    scim = _get(ona, params["scim_configuration_id"])
    return {"scim_configuration_id": scim.id, "enabled": scim.enabled}


def _apply_enabled(ona: OnaClient, params: dict[str, Any]) -> Outcome:
    # `enabled` is optional in the request: an explicit false is sent (to_wire keeps what was set).
    scim = ona.update_scim_configuration(scim_configuration_id=params["scim_configuration_id"],
                                         enabled=bool(params["enabled"])).scim_configuration
    name = _name(scim) if scim else short(params["scim_configuration_id"])
    word = "enabled" if params["enabled"] else "disabled"
    return Outcome(text=f"SCIM provisioning through *{bk.escape(name)}* is now *{word}*.",
                   details=[("ID", f"`{short(params['scim_configuration_id'])}`")])


GROUP.operation("scim.enable", "Enable SCIM provisioning", read=_read_enabled)(_apply_enabled)
GROUP.operation("scim.disable", "Disable SCIM provisioning", read=_read_enabled)(_apply_enabled)


@GROUP.operation("scim.remove", "Remove a SCIM configuration", read=existence("scim_configuration_id", _get))
def remove_scim(ona: OnaClient, params: dict[str, Any]) -> Outcome:
    scim = _get(ona, params["scim_configuration_id"])
    ona.delete_scim_configuration(scim_configuration_id=scim.id)
    return Outcome(text=f"Removed SCIM configuration *{bk.escape(_name(scim))}*; its token no longer works.",
                   details=[("ID", f"`{short(scim.id)}`")])
