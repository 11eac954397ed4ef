"""/ona sso: the commands and buttons (list, show, add and edit in a modal, activate, deactivate and
remove, the last two after a confirmation)."""

from __future__ import annotations

from typing import Any

from bot import blocks as bk
from bot import replies
from bot.context import Context
from bot.ids import short
from bot.ona.errors import OnaError
from bot.ona.models import SSOConfiguration
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
from commands.sso import forms, views

GROUP = Group("sso", "SSO (OIDC)")
SWITCH = Switch(GROUP, "sso_configuration_id", "state", on=("activate", "active"), off=("deactivate", "inactive"))

USAGE_LIST = "sso"
USAGE_SHOW = "sso show <id>"
USAGE_ADD = "sso add"
USAGE_EDIT = "sso edit <id>"
USAGE_ACTIVATE = "sso activate <id>"
USAGE_DEACTIVATE = "sso deactivate <id>"
USAGE_REMOVE = "sso remove <id>"


def clicked(payload: dict[str, Any]) -> str:
    return clicked_id(payload, "SSO configuration", "sso")


# --- read commands ------------------------------------------------------------------------------


@GROUP.command(usage=USAGE_LIST, help="List the SSO configurations")
def list_configs(ctx: Context, args: Args) -> None:
    if args.words:
        raise UsageError(f"I don't know `sso {bk.clip(args.words[0], 40)}`.", "\n".join(GROUP.usages))
    ctx.reply(views.list_page(list(ctx.ona.iter_sso_configurations()), 0))


@GROUP.action("sso:page", read_only=True)
def click_page(ctx: Context, payload: dict[str, Any]) -> None:
    ctx.reply(views.list_page(list(ctx.ona.iter_sso_configurations()), clicked_page(payload)), replace=True)


@GROUP.command("show", usage=USAGE_SHOW, help="Details of one SSO configuration")
def show(ctx: Context, args: Args) -> None:
    ctx.reply(views.detail(find_sso(ctx.ona, args.one("ID", f"/ona {USAGE_SHOW}"), f"/ona {USAGE_SHOW}")))


@GROUP.action("sso:show", read_only=True)
def click_show(ctx: Context, payload: dict[str, Any]) -> None:
    ctx.reply(views.detail(find_sso(ctx.ona, clicked(payload), f"/ona {USAGE_SHOW}")))


# --- the add and edit modals --------------------------------------------------------------------


@GROUP.command("add", usage=USAGE_ADD, help="Add an SSO configuration in a form", mutating=True)
def add(ctx: Context, args: Args) -> None:
    ctx.open_modal(forms.add_form(ctx.origin()))  # nothing to load: the form opens directly


@GROUP.action("sso:add")
def click_add(ctx: Context, payload: dict[str, Any]) -> None:
    add(ctx, Args(words=[], rest=""))


@GROUP.view("sso_add", validate=forms.validate_add)
def submit_add(ctx: Context, params: dict[str, Any], meta: dict[str, Any]) -> None:
    ctx.mutate("sso.create", params)


@GROUP.command("edit", usage=USAGE_EDIT, help="Change an SSO configuration in a form", mutating=True)
def edit(ctx: Context, args: Args) -> None:
    usage = f"/ona {USAGE_EDIT}"
    _open_edit(ctx, args.one("ID", usage), usage)


@GROUP.action("sso:edit")
def click_edit(ctx: Context, payload: dict[str, Any]) -> None:
    _open_edit(ctx, clicked(payload), f"/ona {USAGE_EDIT}")


def _open_edit(ctx: Context, raw_id: str, usage: str) -> None:
    view_id = ctx.open_modal(bk.loading_modal("Edit SSO", "sso_edit"))
    try:
        sso = find_sso(ctx.ona, raw_id, usage)
        sso = ctx.ona.get_sso_configuration(sso_configuration_id=sso.id).sso_configuration or sso
    except UsageError as exc:  # the modal is open already: answer in it rather than leave it loading
        ctx.update_modal(view_id, forms.notice(f":warning: {bk.escape(str(exc))}"))
        return
    except OnaError as exc:
        ctx.update_modal(view_id, forms.notice(replies.ona_error(exc, mutating=False)["text"]))
        return
    except Exception:
        ctx.update_modal(view_id, forms.notice(":x: The form could not be loaded. Nothing was changed."))
        raise  # the router logs it and answers with a reference
    ctx.update_modal(view_id, forms.edit_form(sso, ctx.origin()))


@GROUP.view("sso_edit", validate=forms.validate_edit)
def submit_edit(ctx: Context, params: dict[str, Any], meta: dict[str, Any]) -> None:
    if set(params) == {"sso_configuration_id"}:
        ctx.reply(bk.message([bk.section("Nothing changed in the SSO configuration.")], text="Nothing changed."))
        return
    ctx.mutate("sso.update", params)


# --- activate, deactivate, remove (their buttons are registered with the operations) -------------


@GROUP.command("activate", usage=USAGE_ACTIVATE, help="Let members sign in with this SSO", mutating=True)
def activate(ctx: Context, args: Args) -> None:
    usage = f"/ona {USAGE_ACTIVATE}"
    sso = find_sso(ctx.ona, args.one("ID", usage), usage)
    if views.state_of(sso) == "active":
        already(ctx, sso_name(sso), "active")
        return
    ctx.mutate(SWITCH.operation(True), SWITCH.params(sso.id, True))


@GROUP.command("deactivate", usage=USAGE_DEACTIVATE, help="Stop sign-ins with this SSO (asks first)",
               mutating=True)
def deactivate(ctx: Context, args: Args) -> None:
    usage = f"/ona {USAGE_DEACTIVATE}"
    sso = find_sso(ctx.ona, args.one("ID", usage), usage)
    if views.state_of(sso) == "inactive":
        already(ctx, sso_name(sso), "inactive")
        return
    _confirm(ctx, sso, "Deactivate", views.toggle(sso), "until it is activated again.",
             SWITCH.operation(False), SWITCH.params(sso.id, False))


@GROUP.command("remove", usage=USAGE_REMOVE, help="Delete an SSO configuration (asks first)", mutating=True)
def remove(ctx: Context, args: Args) -> None:
    usage = f"/ona {USAGE_REMOVE}"
    sso = find_sso(ctx.ona, args.one("ID", usage), usage)
    _confirm(ctx, sso, "Remove", views.remove_button(sso), "any more. This cannot be undone.",
             "sso.remove", removal("sso_configuration_id", sso.id))


def _confirm(ctx: Context, sso: SSOConfiguration, verb: str, button: bk.ButtonElement, tail: str, operation: str,
             params: dict[str, Any]) -> None:
    name = sso_name(sso)
    confirm_first(ctx, title=f"{verb} SSO: {name}?",
                  warning=f"{views.LOCKOUT.format(name=bk.escape(name))} {tail}",
                  facts=f"Issuer {bk.escape(sso.issuer_url)} · ID `{short(sso.id)}`", button=button,
                  text=f"{verb} SSO configuration {name}?", operation=operation, params=params)


@GROUP.action("sso:remove")
def click_remove(ctx: Context, payload: dict[str, Any]) -> None:
    ctx.mutate("sso.remove", removal("sso_configuration_id", clicked(payload)))
