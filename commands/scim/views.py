"""How SCIM configurations look in Slack: the list, dates in the reader's time zone, and the buttons
whose confirm dialogs say what stops working."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bot import blocks as bk
from bot.ids import short
from bot.ona.models import SCIMConfiguration, SSOConfiguration
from commands._shared import page_of, sso_name

PAGE_SIZE = 10
STOPS_WORKING = "The current token stops working at once: your identity provider cannot provision users until " \
                "you paste the new token into it."


def name_of(scim: SCIMConfiguration) -> str:
    return scim.name or f"SCIM {short(scim.id)}"


def date(value: datetime | None) -> str:
    """Slack shows the date in the reader's time zone; the fallback is the UTC date."""
    if value is None:
        return "—"
    text = f"<!date^{int(value.timestamp())}^{{date_short}}|{value.astimezone(UTC):%Y-%m-%d}>"
    return f":warning: expired {text}" if value <= datetime.now(UTC) else text


def _linked(scim: SCIMConfiguration, ssos: dict[str, SSOConfiguration]) -> str:
    if not scim.sso_configuration_id:
        return "none"
    sso = ssos.get(scim.sso_configuration_id)
    return bk.escape(sso_name(sso)) if sso else f"`{short(scim.sso_configuration_id)}` (missing)"


def toggle(scim: SCIMConfiguration) -> bk.ButtonElement:
    name = bk.escape(name_of(scim))
    if scim.enabled:
        return bk.button("Disable", "scim:disable", {"id": scim.id}, confirm_with=bk.confirm(
            "Disable SCIM?", f"Your identity provider stops provisioning users through *{name}*.", ok="Disable"))
    return bk.button("Enable", "scim:enable", {"id": scim.id}, style="primary", confirm_with=bk.confirm(
        "Enable SCIM?", f"Your identity provider can provision users through *{name}* again.", ok="Enable"))


def regenerate_button(scim: SCIMConfiguration) -> bk.ButtonElement:
    return bk.button("New token", "scim:regenerate", {"id": scim.id}, style="danger", confirm_with=bk.confirm(
        "Regenerate the SCIM token?", STOPS_WORKING, ok="Regenerate"))


def remove_button(scim: SCIMConfiguration) -> bk.ButtonElement:
    return bk.button("Remove", "scim:remove", {"id": scim.id}, style="danger", confirm_with=bk.confirm(
        "Remove SCIM configuration?",
        f"Provisioning through *{bk.escape(name_of(scim))}* stops and its token stops working. This cannot be undone.",
        ok="Remove"))


def list_page(configs: list[SCIMConfiguration], ssos: dict[str, SSOConfiguration], page: int) -> dict[str, Any]:
    shown, page, pages = page_of(configs, page, PAGE_SIZE)
    blocks: list[Any] = [bk.header(f"SCIM configurations ({len(configs)})")]
    if not configs:
        blocks.append(bk.section("No SCIM configuration yet. `/ona scim add [name]` creates one."))
    for scim in shown:
        state = ":large_green_circle: enabled" if scim.enabled else ":white_circle: disabled"
        blocks.append(bk.section(
            f"*{bk.escape(name_of(scim))}* · {state}\nSSO: {_linked(scim, ssos)} · "
            f"token expires {date(scim.token_expires_at)}\nID `{short(scim.id)}`"))
        blocks.append(bk.actions(toggle(scim), regenerate_button(scim)))
    blocks += bk.pager("scim:page", page, pages, {})
    return bk.message(blocks, text=bk.plural(len(configs), "SCIM configuration"))


def expiring(configs: list[SCIMConfiguration], days: int, limit: int = 5) -> list[Any]:
    """The configurations whose token expires within `days` (or has expired), each with New token."""
    soon = datetime.now(UTC) + timedelta(days=days)
    due = sorted((c for c in configs if c.token_expires_at and c.token_expires_at <= soon),
                 key=lambda c: c.token_expires_at or soon)
    if not due:
        return [bk.context(f"No SCIM token expires in the next {days} days.")]
    rows: list[Any] = [bk.section(f"*{bk.escape(name_of(scim))}*\n{_token_line(scim)}",
                                  accessory=regenerate_button(scim)) for scim in due[:limit]]
    if len(due) > limit:
        rows.append(bk.context(f"…and {len(due) - limit} more: `/ona scim` lists them."))
    return rows


def _token_line(scim: SCIMConfiguration) -> str:
    when = date(scim.token_expires_at)
    return f"token {when}" if when.startswith(":warning:") else f"token expires {when}"
