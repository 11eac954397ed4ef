"""The changes /ona sso makes in Ona, as operations the approval flow runs: each with the read that
shows its current state and, for a create, the witness that tells afterwards whether it ran."""

from __future__ import annotations

from typing import Any

from bot import blocks as bk
from bot.ids import short
from bot.ona.client import OnaClient
from bot.ona.models import AdditionalScopesUpdate, SSOConfiguration, SSOConfigurationState
from bot.registry import Outcome, existence
from commands._shared import new_since, read_create, required, sso_name
from commands.sso.commands import GROUP, SWITCH, clicked
from commands.sso.forms import editable
from commands.sso.views import domains, state_of

STATES = {"active": SSOConfigurationState.ACTIVE, "inactive": SSOConfigurationState.INACTIVE}


def _get(ona: OnaClient, sso_id: str) -> SSOConfiguration:
    return required(ona.get_sso_configuration(sso_configuration_id=sso_id).sso_configuration,
                    "SSO configuration", sso_id)


def _same_provider(ona: OnaClient, params: dict[str, Any]) -> dict[str, Any]:
    """The configurations for this issuer and client ID already there, to recognise a new one later."""
    return {"same": sorted(c.id for c in ona.iter_sso_configurations()
                           if c.issuer_url == params["issuer_url"] and c.client_id == params["client_id"])}


def _ran_create(ona: OnaClient, params: dict[str, Any], before: dict[str, Any]) -> bool | None:
    """It ran if a configuration for this issuer and client ID exists now that was not there before."""
    if (before.get("witness") or {}).get("same") is None:
        return None
    return new_since(before, "same", _same_provider(ona, params)["same"])


@GROUP.operation("sso.create", "Add an SSO configuration", read=read_create, secret_params=("client_secret",),
                 witness=_same_provider, ran=_ran_create)
def create_sso(ona: OnaClient, params: dict[str, Any]) -> Outcome:
    sso = ona.create_sso_configuration(**params).sso_configuration or SSOConfiguration()
    return Outcome(
        text=f"Added SSO configuration *{bk.escape(sso_name(sso))}*. It is *{state_of(sso)}*: try a sign-in, "
             f"then `/ona sso activate {short(sso.id)}`.",
        details=[("Issuer", bk.escape(sso.issuer_url)), ("Client ID", bk.escape(sso.client_id)),
                 ("Email domains", domains(sso.email_domains)), ("ID", f"`{short(sso.id)}`")],
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
    return Outcome(text=f"Updated SSO configuration *{bk.escape(params.get('display_name') or sso_name(sso))}*.",
                   details=details)


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return bk.escape(", ".join(value)) or "(none)"
    return bk.escape(str(value)) or "(none)"


def _set_state(ona: OnaClient, params: dict[str, Any]) -> Outcome:
    sso = _get(ona, params["sso_configuration_id"])
    ona.update_sso_configuration(sso_configuration_id=sso.id, state=STATES[params["state"]])
    tail = "" if params["state"] == "active" else " Members cannot sign in with it until it is activated again."
    return Outcome(text=f"SSO configuration *{bk.escape(sso_name(sso))}* is now *{params['state']}*.{tail}",
                   details=[("ID", f"`{short(sso.id)}`")])


SWITCH.register(("Activate an SSO configuration", "Deactivate an SSO configuration"),
                SWITCH.reader(_get, state_of), _set_state, clicked)


@GROUP.operation("sso.remove", "Remove an SSO configuration", read=existence("sso_configuration_id", _get))
def remove_sso(ona: OnaClient, params: dict[str, Any]) -> Outcome:
    sso = _get(ona, params["sso_configuration_id"])
    ona.delete_sso_configuration(sso_configuration_id=sso.id)
    return Outcome(text=f"Removed SSO configuration *{bk.escape(sso_name(sso))}*.",
                   details=[("Issuer", bk.escape(sso.issuer_url)), ("ID", f"`{short(sso.id)}`")])
