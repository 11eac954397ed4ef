"""The changes /ona scim makes in Ona, as operations the approval flow runs. A SCIM token is a
secret: it goes only into Outcome.secret, which the requester alone sees, once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bot import blocks as bk
from bot.ids import short
from bot.ona.client import OnaClient
from bot.ona.errors import NotFound
from bot.ona.models import SCIMConfiguration
from bot.registry import Outcome, existence
from commands._shared import new_since, read_create, required
from commands.scim.commands import GROUP, SWITCH, clicked
from commands.scim.views import date, name_of


def _get(ona: OnaClient, scim_id: str) -> SCIMConfiguration:
    return required(ona.get_scim_configuration(scim_configuration_id=scim_id).scim_configuration,
                    "SCIM configuration", scim_id)


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


def _linked_ids(ona: OnaClient, params: dict[str, Any]) -> dict[str, Any]:
    """The SCIM configurations already linked to this SSO (with this name), to recognise a new one later."""
    name = params.get("name")
    return {"linked": sorted(c.id for c in ona.iter_scim_configurations()
                             if c.sso_configuration_id == params["sso_configuration_id"]
                             and (not name or c.name == name))}


def _ran_create(ona: OnaClient, params: dict[str, Any], before: dict[str, Any]) -> bool | None:
    if (before.get("witness") or {}).get("linked") is None:
        return None
    return new_since(before, "linked", _linked_ids(ona, params)["linked"])


@GROUP.operation("scim.create", "Set up SCIM provisioning", read=read_create, secret_result=True,
                 witness=_linked_ids, ran=_ran_create)
def create_scim(ona: OnaClient, params: dict[str, Any]) -> Outcome:
    answer = ona.create_scim_configuration(
        sso_configuration_id=params["sso_configuration_id"],
        token_expires_in=timedelta(seconds=params["token_expires_in"]),
        **({"name": params["name"]} if params.get("name") else {}),
    )
    scim = answer.scim_configuration or SCIMConfiguration()
    return Outcome(
        text=f"Created SCIM configuration *{bk.escape(name_of(scim))}*. Paste the token into your identity provider "
             "now: Ona will not show it again.",
        details=[("Linked SSO", f"`{short(params['sso_configuration_id'])}`"),
                 ("Token expires", date(answer.token_expires_at or scim.token_expires_at)),
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
        text=f"New SCIM token for *{bk.escape(name_of(scim))}*; the previous token no longer works. Paste it into "
             "your identity provider now: Ona will not show it again.",
        details=[("Token expires", date(answer.token_expires_at)), ("ID", f"`{short(scim.id)}`")],
        secret=answer.token, secret_label="SCIM token",
    )


def _apply_enabled(ona: OnaClient, params: dict[str, Any]) -> Outcome:
    # `enabled` is optional in the request: an explicit false is sent (to_wire keeps what was set).
    scim = ona.update_scim_configuration(scim_configuration_id=params["scim_configuration_id"],
                                         enabled=bool(params["enabled"])).scim_configuration
    name = name_of(scim) if scim else short(params["scim_configuration_id"])
    word = "enabled" if params["enabled"] else "disabled"
    return Outcome(text=f"SCIM provisioning through *{bk.escape(name)}* is now *{word}*.",
                   details=[("ID", f"`{short(params['scim_configuration_id'])}`")])


SWITCH.register(("Enable SCIM provisioning", "Disable SCIM provisioning"),
                SWITCH.reader(_get, lambda scim: scim.enabled), _apply_enabled, clicked)


@GROUP.operation("scim.remove", "Remove a SCIM configuration", read=existence("scim_configuration_id", _get))
def remove_scim(ona: OnaClient, params: dict[str, Any]) -> Outcome:
    scim = _get(ona, params["scim_configuration_id"])
    ona.delete_scim_configuration(scim_configuration_id=scim.id)
    return Outcome(text=f"Removed SCIM configuration *{bk.escape(name_of(scim))}*; its token no longer works.",
                   details=[("ID", f"`{short(scim.id)}`")])
