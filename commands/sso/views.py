"""How SSO configurations look in Slack: the list, the detail card, and the buttons whose confirm
dialogs say who would be locked out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot import blocks as bk
from bot.ids import short
from bot.ona.models import SSOConfiguration, SSOConfigurationState
from commands._shared import page_of, sso_name

PAGE_SIZE = 10
LOCKOUT = "Members who sign in with SSO will not be able to sign in with *{name}*"


def state_of(sso: SSOConfiguration) -> str:
    return {SSOConfigurationState.ACTIVE: "active", SSOConfigurationState.INACTIVE: "inactive"}.get(
        sso.state, "unknown")


def _badge(sso: SSOConfiguration) -> str:
    return {"active": ":large_green_circle: active", "inactive": ":white_circle: inactive"}.get(
        state_of(sso), ":grey_question: unknown")


def domains(values: Sequence[str]) -> str:
    return bk.escape(", ".join(values)) if values else "—"


def toggle(sso: SSOConfiguration) -> bk.ButtonElement:
    name = bk.escape(sso_name(sso))
    if state_of(sso) == "active":
        return bk.button("Deactivate", "sso:deactivate", {"id": sso.id}, style="danger", confirm_with=bk.confirm(
            "Deactivate SSO?", LOCKOUT.format(name=name) + " until it is activated again.", ok="Deactivate"))
    return bk.button("Activate", "sso:activate", {"id": sso.id}, style="primary", confirm_with=bk.confirm(
        "Activate SSO?", f"Members will be able to sign in with *{name}*.", ok="Activate"))


def remove_button(sso: SSOConfiguration) -> bk.ButtonElement:
    return bk.button("Remove", "sso:remove", {"id": sso.id}, style="danger", confirm_with=bk.confirm(
        "Remove SSO configuration?",
        LOCKOUT.format(name=bk.escape(sso_name(sso))) + " any more. This cannot be undone.", ok="Remove"))


def list_page(configs: list[SSOConfiguration], page: int) -> dict[str, Any]:
    shown, page, pages = page_of(configs, page, PAGE_SIZE)
    blocks: list[Any] = [bk.header(f"SSO configurations ({len(configs)})")]
    if not configs:
        blocks.append(bk.section("No SSO configuration yet."))
    for sso in shown:
        blocks.append(bk.section(
            f"*{bk.escape(sso_name(sso))}* · {_badge(sso)}\n{bk.escape(sso.issuer_url)}\n"
            f"Domains: {domains(sso.email_domains)} · ID `{short(sso.id)}`"))
        blocks.append(bk.actions(bk.button("Show", "sso:show", {"id": sso.id}), toggle(sso)))
    blocks += bk.pager("sso:page", page, pages, {})
    blocks.append(bk.actions(bk.button("Add SSO configuration", "sso:add")))
    return bk.message(blocks, text=bk.plural(len(configs), "SSO configuration"))


def detail(sso: SSOConfiguration) -> dict[str, Any]:
    provider = sso.provider_type.value.removeprefix("PROVIDER_TYPE_").lower()
    blocks = [
        bk.header(f"SSO: {sso_name(sso)}"),
        *bk.fields([
            ("State", _badge(sso)),
            ("Provider", provider if provider != "unspecified" else "—"),
            ("Issuer", bk.escape(sso.issuer_url)),
            ("Client ID", bk.escape(sso.client_id)),
            ("Email domains", domains(sso.email_domains)),
            ("Extra scopes", bk.escape(" ".join(sso.additional_scopes)) or "—"),
            ("Client secret", "set (Ona never shows it)"),
            ("ID", f"`{sso.id}`"),
        ]),
        bk.actions(bk.button("Edit", "sso:edit", {"id": sso.id}), toggle(sso), remove_button(sso)),
    ]
    return bk.message(blocks, text=f"SSO configuration {sso_name(sso)}: {state_of(sso)}")
