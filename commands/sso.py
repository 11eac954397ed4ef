"""/ona sso — the organization's OIDC single sign-on: list, show, add and edit in a modal, activate,
deactivate and remove (the last two after a confirmation).

The client secret travels only from the modal's input to Ona, inside the operation's params (declared
secret): it is never put in a view, in private_metadata, in a message or in a log line, and Ona never
returns it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlparse

from bot import blocks as bk
from bot import replies
from bot.context import Context
from bot.ids import find_by_id, short
from bot.ona.client import OnaClient
from bot.ona.errors import NotFound, OnaError
from bot.ona.models import AdditionalScopesUpdate, SSOConfiguration, SSOConfigurationState
from bot.ona.rules import RULES
from bot.registry import Args, Group, Outcome, UsageError, action_value, existence

GROUP = Group("sso", "SSO (OIDC)")

USAGE_LIST = "sso"
USAGE_SHOW = "sso show <id>"
USAGE_ADD = "sso add"
USAGE_EDIT = "sso edit <id>"
USAGE_ACTIVATE = "sso activate <id>"
USAGE_DEACTIVATE = "sso deactivate <id>"
USAGE_REMOVE = "sso remove <id>"
PAGE_SIZE = 10

# Ona's limits (buf.validate on CreateSSOConfigurationRequest; UpdateSSOConfigurationRequest has the same).
_CREATE_RULES = RULES["CreateSSOConfigurationRequest"]
_DOMAIN_RULE = _CREATE_RULES["emailDomains"]["items"]
DOMAIN = re.compile(_DOMAIN_RULE["pattern"])
DOMAIN_MIN, DOMAIN_MAX = _DOMAIN_RULE["min_len"], _DOMAIN_RULE["max_len"]
DISPLAY_NAME_MAX = _CREATE_RULES["displayName"]["max_len"]
SCOPES_MAX = _CREATE_RULES["additionalScopes"]["max_items"]
SCOPE_MAX = _CREATE_RULES["additionalScopes"]["items"]["max_len"]

STATES = {"active": SSOConfigurationState.ACTIVE, "inactive": SSOConfigurationState.INACTIVE}
SECRET_HINT = "leave empty to keep the current secret"
LOCKOUT = "Members who sign in with SSO will not be able to sign in with *{name}*"
_SPLIT = re.compile(r"[\s,;]+")

def find_sso(ona: OnaClient, raw: str, usage: str) -> SSOConfiguration:
    return find_by_id(ona.iter_sso_configurations(), raw, "SSO configuration", usage, "/ona sso")


def _clicked_id(payload: dict[str, Any]) -> str:
    item_id = str(action_value(payload).get("id") or "")
    if not item_id:
        raise UsageError("That button carries no SSO configuration: run `/ona sso` again.")
    return item_id


# --- rendering ----------------------------------------------------------------------------------


def _state(sso: SSOConfiguration) -> str:
    return {SSOConfigurationState.ACTIVE: "active", SSOConfigurationState.INACTIVE: "inactive"}.get(
        sso.state, "unknown")


def name_of(sso: SSOConfiguration) -> str:
    """What people call it: the display name, else the issuer's host (plain text; escape for mrkdwn)."""
    return sso.display_name or urlparse(sso.issuer_url).hostname or sso.issuer_url or short(sso.id)


def _badge(sso: SSOConfiguration) -> str:
    return {"active": ":large_green_circle: active", "inactive": ":white_circle: inactive"}.get(
        _state(sso), ":grey_question: unknown")


def _domains(values: Sequence[str]) -> str:
    return bk.escape(", ".join(values)) if values else "—"


def _toggle(sso: SSOConfiguration) -> bk.ButtonElement:
    name = bk.escape(name_of(sso))
    if _state(sso) == "active":
        return bk.button("Deactivate", "sso:deactivate", {"id": sso.id}, style="danger", confirm_with=bk.confirm(
            "Deactivate SSO?", LOCKOUT.format(name=name) + " until it is activated again.", ok="Deactivate"))
    return bk.button("Activate", "sso:activate", {"id": sso.id}, style="primary", confirm_with=bk.confirm(
        "Activate SSO?", f"Members will be able to sign in with *{name}*.", ok="Activate"))


def _remove_button(sso: SSOConfiguration) -> bk.ButtonElement:
    return bk.button("Remove", "sso:remove", {"id": sso.id}, style="danger", confirm_with=bk.confirm(
        "Remove SSO configuration?",
        LOCKOUT.format(name=bk.escape(name_of(sso))) + " any more. This cannot be undone.", ok="Remove"))


def _list_page(configs: list[SSOConfiguration], page: int) -> dict[str, Any]:
    pages = max(1, -(-len(configs) // PAGE_SIZE))
    page = min(max(page, 0), pages - 1)
    blocks: list[Any] = [bk.header(f"SSO configurations ({len(configs)})")]
    if not configs:
        blocks.append(bk.section("No SSO configuration yet."))
    for sso in configs[page * PAGE_SIZE:(page + 1) * PAGE_SIZE]:
        blocks.append(bk.section(
            f"*{bk.escape(name_of(sso))}* · {_badge(sso)}\n{bk.escape(sso.issuer_url)}\n"
            f"Domains: {_domains(sso.email_domains)} · ID `{short(sso.id)}`"))
        blocks.append(bk.actions(bk.button("Show", "sso:show", {"id": sso.id}), _toggle(sso)))
    blocks += bk.pager("sso:page", page, pages, {})
    blocks.append(bk.actions(bk.button("Add SSO configuration", "sso:add")))
    return bk.message(blocks, text=f"{len(configs)} SSO configuration(s)")


def _detail(sso: SSOConfiguration) -> dict[str, Any]:
    provider = sso.provider_type.value.removeprefix("PROVIDER_TYPE_").lower()
    blocks = [
        bk.header(f"SSO: {name_of(sso)}"),
        *bk.fields([
            ("State", _badge(sso)),
            ("Provider", provider if provider != "unspecified" else "—"),
            ("Issuer", bk.escape(sso.issuer_url)),
            ("Client ID", bk.escape(sso.client_id)),
            ("Email domains", _domains(sso.email_domains)),
            ("Extra scopes", bk.escape(" ".join(sso.additional_scopes)) or "—"),
            ("Client secret", "set (Ona never shows it)"),
            ("ID", f"`{sso.id}`"),
        ]),
        bk.actions(bk.button("Edit", "sso:edit", {"id": sso.id}), _toggle(sso), _remove_button(sso)),
    ]
    return bk.message(blocks, text=f"SSO configuration {name_of(sso)}: {_state(sso)}")


# --- read commands ------------------------------------------------------------------------------


@GROUP.command(usage=USAGE_LIST, help="List the SSO configurations")
def list_configs(ctx: Context, args: Args) -> None:
    if args.words:
        raise UsageError(f"I don't know `sso {bk.clip(args.words[0], 40)}`.", "\n".join(GROUP.usages))
    ctx.reply(_list_page(list(ctx.ona.iter_sso_configurations()), 0))


@GROUP.action("sso:page", read_only=True)
def click_page(ctx: Context, payload: dict[str, Any]) -> None:
    page = action_value(payload).get("page", 0)
    ctx.reply(_list_page(list(ctx.ona.iter_sso_configurations()), page if isinstance(page, int) else 0),
              replace=True)


@GROUP.command("show", usage=USAGE_SHOW, help="Details of one SSO configuration")
def show(ctx: Context, args: Args) -> None:
    ctx.reply(_detail(find_sso(ctx.ona, args.one("ID", f"/ona {USAGE_SHOW}"), f"/ona {USAGE_SHOW}")))


@GROUP.action("sso:show", read_only=True)
def click_show(ctx: Context, payload: dict[str, Any]) -> None:
    ctx.reply(_detail(find_sso(ctx.ona, _clicked_id(payload), f"/ona {USAGE_SHOW}")))


# --- the add and edit modals --------------------------------------------------------------------


@GROUP.command("add", usage=USAGE_ADD, help="Add an SSO configuration in a form", mutating=True)
def add(ctx: Context, args: Args) -> None:
    ctx.open_modal(_add_form(ctx.origin()))  # nothing to load: the form opens directly


@GROUP.action("sso:add")
def click_add(ctx: Context, payload: dict[str, Any]) -> None:
    add(ctx, Args(words=[], rest=""))


def _inputs(current: dict[str, Any] | None) -> list[Any]:
    now = current or {}
    had_domains = bool(now.get("email_domains"))
    return [
        bk.text_input("issuer_url", "Issuer URL", initial=now.get("issuer_url"),
                      placeholder="https://accounts.google.com", hint="The https:// URL of your OIDC provider."),
        bk.text_input("client_id", "Client ID", initial=now.get("client_id")),
        bk.text_input("client_secret", "Client secret", optional=current is not None,
                      hint=SECRET_HINT if current is not None else "Sent to Ona only; never shown again."),
        bk.text_input("display_name", "Display name", initial=now.get("display_name"), optional=True,
                      max_length=DISPLAY_NAME_MAX, placeholder="Okta"),
        bk.text_input("email_domains", "Email domains", initial=" ".join(now.get("email_domains") or []),
                      optional=True, placeholder="example.com, example.org",
                      hint=("Separate with commas or spaces. Ona cannot clear this list: keep at least one domain."
                            if had_domains else "Members with these email domains sign in with this SSO. "
                            "Separate with commas or spaces.")),
        bk.text_input("additional_scopes", "Additional scopes", initial=" ".join(now.get("additional_scopes") or []),
                      optional=True, placeholder="groups offline_access",
                      hint="Besides openid, email and profile. Separate with spaces"
                           + ("; leave empty to remove them all." if current is not None else ".")),
    ]


def _add_form(origin: dict[str, str]) -> dict[str, Any]:
    return bk.modal("Add SSO", _inputs(None), callback_id="sso_add", submit="Add", private_metadata=origin)


def _split(raw: str | None) -> list[str]:
    """Unique words of a comma/space separated input, in the order typed."""
    return list(dict.fromkeys(w for w in _SPLIT.split(raw or "") if w))


def _parse_form(values: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    """The form's values, checked with Ona's rules; problems go into `errors` by block id."""
    fields: dict[str, Any] = {
        "issuer_url": (values.get("issuer_url") or "").strip(),
        "client_id": (values.get("client_id") or "").strip(),
        "client_secret": (values.get("client_secret") or "").strip(),
        "display_name": (values.get("display_name") or "").strip(),
        "email_domains": list(dict.fromkeys(d.lower().rstrip(".") for d in _split(values.get("email_domains")))),
        "additional_scopes": _split(values.get("additional_scopes")),
    }
    issuer = urlparse(fields["issuer_url"])
    if issuer.scheme != "https" or not issuer.hostname or " " in fields["issuer_url"]:
        errors["issuer_url"] = "Enter the issuer as an https:// URL, e.g. https://accounts.google.com."
    if not fields["client_id"]:
        errors["client_id"] = "Enter the client ID your identity provider gave you."
    if len(fields["display_name"]) > DISPLAY_NAME_MAX:
        errors["display_name"] = f"At most {DISPLAY_NAME_MAX} characters."
    bad = [d for d in fields["email_domains"] if not (DOMAIN_MIN <= len(d) <= DOMAIN_MAX and DOMAIN.fullmatch(d))]
    if bad:
        errors["email_domains"] = f"Not a domain name (like example.com): {', '.join(bad)[:200]}"
    scopes = fields["additional_scopes"]
    if len(scopes) > SCOPES_MAX:
        errors["additional_scopes"] = f"At most {SCOPES_MAX} scopes."
    elif any(len(s) > SCOPE_MAX for s in scopes):
        errors["additional_scopes"] = f"Each scope has at most {SCOPE_MAX} characters."
    return fields


def validate_add(values: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, str] = {}
    fields = _parse_form(values, errors)
    if not fields["client_secret"]:
        errors["client_secret"] = "Enter the client secret."
    if errors:
        return {"errors": errors}
    return {"params": {k: v for k, v in fields.items() if v}}  # empty optional fields are not sent


@GROUP.view("sso_add", validate=validate_add)
def submit_add(ctx: Context, params: dict[str, Any], meta: dict[str, Any]) -> None:
    ctx.mutate("sso.create", params)


@GROUP.command("edit", usage=USAGE_EDIT, help="Change an SSO configuration in a form", mutating=True)
def edit(ctx: Context, args: Args) -> None:
    usage = f"/ona {USAGE_EDIT}"
    _open_edit(ctx, args.one("ID", usage), usage)


@GROUP.action("sso:edit")
def click_edit(ctx: Context, payload: dict[str, Any]) -> None:
    _open_edit(ctx, _clicked_id(payload), f"/ona {USAGE_EDIT}")


def _open_edit(ctx: Context, raw_id: str, usage: str) -> None:
    view_id = ctx.open_modal(bk.loading_modal("Edit SSO", "sso_edit"))
    try:
        sso = find_sso(ctx.ona, raw_id, usage)
        sso = ctx.ona.get_sso_configuration(sso_configuration_id=sso.id).sso_configuration or sso
    except UsageError as exc:  # the modal is open already: answer in it rather than leave it loading
        ctx.update_modal(view_id, _notice(f":warning: {bk.escape(str(exc))}"))
        return
    except OnaError as exc:
        ctx.update_modal(view_id, _notice(replies.ona_error(exc, mutating=False)["text"]))
        return
    except Exception:
        ctx.update_modal(view_id, _notice(":x: The form could not be loaded. Nothing was changed."))
        raise  # the router logs it and answers with a reference
    ctx.update_modal(view_id, _edit_form(sso, ctx.origin()))


def _notice(text: str) -> dict[str, Any]:
    return bk.modal("Edit SSO", [bk.section(text)], callback_id="sso_edit", close="Close")


def editable(sso: SSOConfiguration) -> dict[str, Any]:
    """The fields the edit form changes, JSON-able (the secret is not among them: Ona never returns it)."""
    return {"issuer_url": sso.issuer_url, "client_id": sso.client_id, "display_name": sso.display_name,
            "email_domains": list(sso.email_domains), "additional_scopes": list(sso.additional_scopes)}


def _fingerprint(name: str, value: Any) -> str:
    """A short digest of a field's value, so private_metadata stays small however long the lists are."""
    if name == "email_domains":
        value = sorted({d.lower().rstrip(".") for d in value})
    elif name == "additional_scopes":
        value = sorted(set(value))
    return hashlib.sha256(json.dumps(value).encode()).hexdigest()[:16]


def _edit_form(sso: SSOConfiguration, origin: dict[str, str]) -> dict[str, Any]:
    current = editable(sso)
    meta = {**origin, "id": sso.id, "had_domains": bool(sso.email_domains),
            "fp": {k: _fingerprint(k, v) for k, v in current.items()}}
    return bk.modal("Edit SSO", _inputs(current), callback_id="sso_edit", submit="Save", private_metadata=meta)


def validate_edit(values: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    """Inline errors for what Ona would reject; otherwise the ID and only the fields that changed."""
    errors: dict[str, str] = {}
    fields = _parse_form(values, errors)
    if meta.get("had_domains") and not fields["email_domains"]:
        errors["email_domains"] = "Ona cannot clear the email domains: keep at least one."
    if errors:
        return {"errors": errors}
    before: dict[str, str] = meta.get("fp") or {}
    params: dict[str, Any] = {"sso_configuration_id": str(meta.get("id", ""))}
    for name, value in fields.items():
        if name == "client_secret":
            if value:  # empty keeps the current secret
                params[name] = value
        elif name == "email_domains" and not value:
            continue  # no domains before and none now: nothing to send (Ona cannot clear them anyway)
        elif _fingerprint(name, value) != before.get(name):
            params[name] = value
    return {"params": params}


@GROUP.view("sso_edit", validate=validate_edit)
def submit_edit(ctx: Context, params: dict[str, Any], meta: dict[str, Any]) -> None:
    if set(params) == {"sso_configuration_id"}:
        ctx.reply(bk.message([bk.section("Nothing changed in the SSO configuration.")], text="Nothing changed."))
        return
    ctx.mutate("sso.update", params)


# --- activate, deactivate, remove ---------------------------------------------------------------


@GROUP.command("activate", usage=USAGE_ACTIVATE, help="Let members sign in with this SSO", mutating=True)
def activate(ctx: Context, args: Args) -> None:
    usage = f"/ona {USAGE_ACTIVATE}"
    sso = find_sso(ctx.ona, args.one("ID", usage), usage)
    if _state(sso) == "active":
        ctx.reply(bk.message([bk.section(f":information_source: *{bk.escape(name_of(sso))}* is already active.")],
                             text="Already active."))
        return
    ctx.mutate("sso.activate", _activation(sso.id))


@GROUP.command("deactivate", usage=USAGE_DEACTIVATE, help="Stop sign-ins with this SSO (asks first)",
               mutating=True)
def deactivate(ctx: Context, args: Args) -> None:
    usage = f"/ona {USAGE_DEACTIVATE}"
    sso = find_sso(ctx.ona, args.one("ID", usage), usage)
    if _state(sso) == "inactive":
        ctx.reply(bk.message([bk.section(f":information_source: *{bk.escape(name_of(sso))}* is already inactive.")],
                             text="Already inactive."))
        return
    _confirm_first(ctx, sso, "Deactivate", _toggle(sso), "until it is activated again.",
                   "sso.deactivate", _deactivation(sso.id))


@GROUP.command("remove", usage=USAGE_REMOVE, help="Delete an SSO configuration (asks first)", mutating=True)
def remove(ctx: Context, args: Args) -> None:
    usage = f"/ona {USAGE_REMOVE}"
    sso = find_sso(ctx.ona, args.one("ID", usage), usage)
    _confirm_first(ctx, sso, "Remove", _remove_button(sso), "any more. This cannot be undone.",
                   "sso.remove", _removal(sso.id))


def _activation(sso_id: str) -> dict[str, Any]:
    return {"sso_configuration_id": sso_id, "state": "active"}


def _deactivation(sso_id: str) -> dict[str, Any]:
    return {"sso_configuration_id": sso_id, "state": "inactive"}


def _removal(sso_id: str) -> dict[str, Any]:
    return {"sso_configuration_id": sso_id, "exists": False}


def _confirm_first(ctx: Context, sso: SSOConfiguration, verb: str, button: bk.ButtonElement, tail: str,
                   operation: str, params: dict[str, Any]) -> None:
    """A dangerous change: say what it does; the button's confirm dialog decides, then it mutates."""
    name = bk.escape(name_of(sso))
    blocks = [
        bk.header(f"{verb} SSO: {name_of(sso)}?"),
        bk.section(f":warning: {LOCKOUT.format(name=name)} {tail}"),
        bk.context(f"Issuer {bk.escape(sso.issuer_url)} · ID `{short(sso.id)}`"),
        bk.actions(button),
    ]
    ctx.ask_first(bk.message(blocks, text=f"{verb} SSO configuration {name_of(sso)}?"), operation, params)


@GROUP.action("sso:activate")
def click_activate(ctx: Context, payload: dict[str, Any]) -> None:
    ctx.mutate("sso.activate", _activation(_clicked_id(payload)))


@GROUP.action("sso:deactivate")
def click_deactivate(ctx: Context, payload: dict[str, Any]) -> None:
    ctx.mutate("sso.deactivate", _deactivation(_clicked_id(payload)))


@GROUP.action("sso:remove")
def click_remove(ctx: Context, payload: dict[str, Any]) -> None:
    ctx.mutate("sso.remove", _removal(_clicked_id(payload)))


# --- operations ---------------------------------------------------------------------------------


def _get(ona: OnaClient, sso_id: str) -> SSOConfiguration:
    sso = ona.get_sso_configuration(sso_configuration_id=sso_id).sso_configuration
    if sso is None:
        raise NotFound(f"SSO configuration {sso_id} not found")
    return sso


def _read_create(ona: OnaClient, params: dict[str, Any]) -> dict[str, Any]:
    return {"exists": False}


def _same_provider(ona: OnaClient, params: dict[str, Any]) -> dict[str, Any]:
    """The configurations for this issuer and client ID already there, to recognise a new one later."""
    return {"same": sorted(c.id for c in ona.iter_sso_configurations()
                           if c.issuer_url == params["issuer_url"] and c.client_id == params["client_id"])}


def _ran_create(ona: OnaClient, params: dict[str, Any], before: dict[str, Any]) -> bool | None:
    """It ran if a configuration for this issuer and client ID exists now that was not there before."""
    seen = (before.get("witness") or {}).get("same")
    if seen is None:
        return None
    return bool(set(_same_provider(ona, params)["same"]) - set(seen))


@GROUP.operation("sso.create", "Add an SSO configuration", read=_read_create, secret_params=("client_secret",),
                 witness=_same_provider, ran=_ran_create)
def create_sso(ona: OnaClient, params: dict[str, Any]) -> Outcome:
    sso = ona.create_sso_configuration(**params).sso_configuration or SSOConfiguration()
    return Outcome(
        text=f"Added SSO configuration *{bk.escape(name_of(sso))}*. It is *{_state(sso)}*: try a sign-in, "
             f"then `/ona sso activate {short(sso.id)}`.",
        details=[("Issuer", bk.escape(sso.issuer_url)), ("Client ID", bk.escape(sso.client_id)),
                 ("Email domains", _domains(sso.email_domains)), ("ID", f"`{short(sso.id)}`")],
    )


def _read_update(ona: OnaClient, params: dict[str, Any]) -> dict[str, Any]:
    sso = _get(ona, params["sso_configuration_id"])
    current = editable(sso)
    # The client secret is not read back: Ona never returns it.
    return {"sso_configuration_id": sso.id, **{k: current[k] for k in params if k in current}}


@GROUP.operation("sso.update", "Change an SSO configuration", read=_read_update, secret_params=("client_secret",))
def update_sso(ona: OnaClient, params: dict[str, Any]) -> Outcome:
    sso = _get(ona, params["sso_configuration_id"])  # first: an unknown ID changes nothing
    fields = {k: v for k, v in params.items() if k != "sso_configuration_id"}
    if "additional_scopes" in fields:  # a wrapper: present with no scopes clears them
        fields["additional_scopes"] = AdditionalScopesUpdate(scopes=fields["additional_scopes"])
    ona.update_sso_configuration(sso_configuration_id=sso.id, **fields)
    labels = {"issuer_url": "Issuer", "client_id": "Client ID", "client_secret": "Client secret",
              "display_name": "Display name", "email_domains": "Email domains", "additional_scopes": "Extra scopes"}
    details = [(labels[k], "replaced" if k == "client_secret" else _shown(params[k])) for k in labels if k in params]
    return Outcome(text=f"Updated SSO configuration *{bk.escape(params.get('display_name') or name_of(sso))}*.",
                   details=details)


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return bk.escape(", ".join(value)) or "(none)"
    return bk.escape(str(value)) or "(none)"


def _read_state(ona: OnaClient, params: dict[str, Any]) -> dict[str, Any]:
    sso = _get(ona, params["sso_configuration_id"])
    return {"sso_configuration_id": sso.id, "state": _state(sso)}


def _set_state(ona: OnaClient, params: dict[str, Any]) -> Outcome:
    sso = _get(ona, params["sso_configuration_id"])
    ona.update_sso_configuration(sso_configuration_id=sso.id, state=STATES[params["state"]])
    tail = "" if params["state"] == "active" else " Members cannot sign in with it until it is activated again."
    return Outcome(text=f"SSO configuration *{bk.escape(name_of(sso))}* is now *{params['state']}*.{tail}",
                   details=[("ID", f"`{short(sso.id)}`")])


GROUP.operation("sso.activate", "Activate an SSO configuration", read=_read_state)(_set_state)
GROUP.operation("sso.deactivate", "Deactivate an SSO configuration", read=_read_state)(_set_state)


@GROUP.operation("sso.remove", "Remove an SSO configuration", read=existence("sso_configuration_id", _get))
def remove_sso(ona: OnaClient, params: dict[str, Any]) -> Outcome:
    sso = _get(ona, params["sso_configuration_id"])
    ona.delete_sso_configuration(sso_configuration_id=sso.id)
    return Outcome(text=f"Removed SSO configuration *{bk.escape(name_of(sso))}*.",
                   details=[("Issuer", bk.escape(sso.issuer_url)), ("ID", f"`{short(sso.id)}`")])
