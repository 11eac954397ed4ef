"""/ona policies — the organization's policies, grouped for a phone, and an edit modal that sends
only what changed (durations typed as 30m/8h/7d, editors picked from a list, numbers range-checked)."""

from __future__ import annotations

import difflib
from datetime import timedelta
from typing import Any

from bot import blocks as bk
from bot import durations
from bot.context import Context
from bot.ona.client import OnaClient
from bot.ona.models import OrganizationPolicies
from bot.registry import Args, Group, Outcome, UsageError, restore

GROUP = Group("policies", "Organization policies", aliases=("policy",))

# Editors Ona offers; the current allowed list is always added, so nothing set elsewhere is lost.
KNOWN_EDITORS = ["vscode", "vscode-insiders", "cursor", "windsurf", "zed", "intellij", "goland", "pycharm",
                 "webstorm", "phpstorm", "rubymine", "clion", "rider", "rustrover", "terminal"]

# Ona's limits (buf.validate on UpdateOrganizationPoliciesRequest), in seconds.
TIMEOUT_MIN = 1_800
LIFETIME_MAX = 180 * 86_400
DELETE_ARCHIVED_MAX = 28 * 86_400
DURATION_MAX = 315_576_000_000  # google.protobuf.Duration's own limit
MAX_PER_USER = 1_000
SUBAGENTS_MAX = 10

DURATIONS = ("maximum_environment_timeout", "maximum_environment_lifetime", "delete_archived_environments_after")
TOGGLES: list[tuple[str, str]] = [  # (field, label); agent fields are nested in agent_policy
    ("members_create_projects", "Members can create projects"),
    ("members_require_projects", "Members must start from a project"),
    ("allow_local_runners", "Allow local runners"),
    ("port_sharing_disabled", "Disable port sharing"),
    ("restrict_account_creation_to_scim", "Only SCIM-provisioned accounts"),
    ("require_custom_domain_access", "Require the custom domain"),
    ("agent.mcp_disabled", "Disable MCP for agents"),
    ("agent.scm_tools_disabled", "Disable SCM tools for agents"),
]


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def _limit(n: int) -> str:
    return str(n) if n else "no limit"


def _editable(p: OrganizationPolicies) -> dict[str, Any]:
    """The fields the modal edits, JSON-able: durations in seconds, agent fields as `agent.<name>`."""
    agent = p.agent_policy
    values: dict[str, Any] = {
        "allowed_editor_ids": list(p.allowed_editor_ids),
        "default_editor_id": p.default_editor_id,
        "maximum_running_environments_per_user": p.maximum_running_environments_per_user,
        "maximum_environments_per_user": p.maximum_environments_per_user,
        "agent.max_subagents_per_environment": agent.max_subagents_per_environment if agent else 0,
    }
    for name in DURATIONS:
        value: timedelta | None = getattr(p, name)
        values[name] = int(value.total_seconds()) if value else 0
    for name, _ in TOGGLES:
        values[name] = bool(getattr(agent, name[6:], False)) if name.startswith("agent.") else getattr(p, name)
    return values


def _no_limit(value: timedelta | None, none: str = "no limit") -> str:
    return durations.format_delta(value).replace("none", none)


def _lines(p: OrganizationPolicies) -> list[str]:
    """One short paragraph per topic, so the whole set fits one phone screen."""
    agent = p.agent_policy
    subagents = agent.max_subagents_per_environment if agent and agent.max_subagents_per_environment else 5
    denied = len(agent.command_deny_list) if agent else 0
    return [
        f"*Editors:* {bk.escape(', '.join(p.allowed_editor_ids)) or 'all'} · "
        f"default {bk.escape(p.default_editor_id) or 'none'}",
        f"*Environment limits:* timeout {_no_limit(p.maximum_environment_timeout)} · "
        f"lifetime {_no_limit(p.maximum_environment_lifetime)} · per user "
        f"{_limit(p.maximum_running_environments_per_user)} running, {_limit(p.maximum_environments_per_user)} "
        f"in all · archived deleted after {_no_limit(p.delete_archived_environments_after, 'never')} · "
        f"local runners {'allowed' if p.allow_local_runners else 'not allowed'}",
        f"*Projects:* members {'may' if p.members_create_projects else 'may not'} create them · "
        f"{'required' if p.members_require_projects else 'not required'}",
        f"*Agents:* MCP {'off' if agent and agent.mcp_disabled else 'on'} · SCM tools "
        f"{'off' if agent and agent.scm_tools_disabled else 'on'} · {subagents} sub-agents · "
        f"{denied} denied command{'' if denied == 1 else 's'}",
        f"*Security:* port sharing {'off' if p.port_sharing_disabled else 'on'} · "
        f"{'SCIM-only' if p.restrict_account_creation_to_scim else 'any invited'} accounts · custom domain "
        f"{'required' if p.require_custom_domain_access else 'not required'}",
    ]


@GROUP.command(usage="policies", help="Show the organization's policies")
def show(ctx: Context, args: Args) -> None:
    policies = ctx.ona.get_organization_policies().policies or OrganizationPolicies()
    blocks: list[Any] = [bk.section("*Organization policies*\n" + "\n".join(_lines(policies))),
                         bk.actions(bk.button("Edit policies", "policies:edit", style="primary"))]
    ctx.reply(bk.message(blocks, text="Organization policies"))


@GROUP.command("edit", usage="policies edit", help="Change policies in a form", mutating=True)
def edit(ctx: Context, args: Args) -> None:
    view_id = ctx.open_modal(bk.loading_modal("Edit policies", "policies_edit"))
    policies = ctx.ona.get_organization_policies().policies or OrganizationPolicies()
    ctx.update_modal(view_id, _form(_editable(policies), ctx.origin()))


FIELD_LABELS = {
    "allowed_editor_ids": "Allowed editors", "default_editor_id": "Default editor",
    "maximum_environment_timeout": "Max inactivity timeout", "maximum_environment_lifetime": "Max lifetime",
    "delete_archived_environments_after": "Delete archived environments after",
    "maximum_running_environments_per_user": "Running environments per user",
    "maximum_environments_per_user": "Environments per user", "agent.max_subagents_per_environment":
    "Max sub-agents per environment",
}
# `/ona policies set <name> <value>`: readable names for the form's fields.
SET_NAMES = {
    "timeout": "maximum_environment_timeout", "max-timeout": "maximum_environment_timeout",
    "inactivity-timeout": "maximum_environment_timeout",
    "lifetime": "maximum_environment_lifetime", "max-lifetime": "maximum_environment_lifetime",
    "delete-archived-after": "delete_archived_environments_after",
    "delete-archived": "delete_archived_environments_after", "archived": "delete_archived_environments_after",
    "running": "maximum_running_environments_per_user", "running-per-user": "maximum_running_environments_per_user",
    "environments": "maximum_environments_per_user", "total-per-user": "maximum_environments_per_user",
    "subagents": "agent.max_subagents_per_environment", "sub-agents": "agent.max_subagents_per_environment",
    "default-editor": "default_editor_id", "editors": "allowed_editor_ids",
}
# Switches by name, and whether "on" means the field is false (port sharing on = not disabled).
SET_TOGGLES = {
    "create-projects": ("members_create_projects", False), "require-projects": ("members_require_projects", False),
    "local-runners": ("allow_local_runners", False), "port-sharing": ("port_sharing_disabled", True),
    "scim-only": ("restrict_account_creation_to_scim", False),
    "custom-domain-required": ("require_custom_domain_access", False),
    "mcp": ("agent.mcp_disabled", True), "scm-tools": ("agent.scm_tools_disabled", True),
}
ON_WORDS = {"on", "yes", "true", "enabled", "enable", "allowed", "allow"}
OFF_WORDS = {"off", "no", "false", "disabled", "disable", "not-allowed"}
USAGE_SET = "policies set <name> <value>"
SET_HELP = ("Policies: timeout, lifetime, delete-archived-after, running, environments, subagents, "
            "default-editor, editors; on/off: " + ", ".join(SET_TOGGLES) + ".")


def _set_values(current: dict[str, Any], name: str, value: str) -> dict[str, Any]:
    """What the form would send with only this field changed, so the form's validation decides."""
    values: dict[str, Any] = {"allowed_editor_ids": list(current["allowed_editor_ids"]),
                              "default_editor_id": current["default_editor_id"] or None,
                              "toggles": [n for n, _ in TOGGLES if current[n]]}
    usage = f"/ona {USAGE_SET}"
    if name in SET_TOGGLES:
        field, inverted = SET_TOGGLES[name]
        word = value.lower()
        if word not in ON_WORDS | OFF_WORDS:
            raise UsageError(f"Say on or off for {name}.", usage)
        if (word in ON_WORDS) != inverted:
            values["toggles"] = sorted(set(values["toggles"]) | {field})
        else:
            values["toggles"] = [t for t in values["toggles"] if t != field]
        return values
    field = SET_NAMES[name]
    if field in ("allowed_editor_ids", "default_editor_id"):
        known = set(KNOWN_EDITORS) | set(current["allowed_editor_ids"])
        editors = [e for e in value.replace(",", " ").split() if e]
        unknown = [e for e in editors if e not in known]
        if unknown or not editors:
            raise UsageError(f"I don't know the editor `{(unknown or [''])[0][:40]}`. "
                             f"Editors: {', '.join(sorted(known))}.", usage)
        if field == "default_editor_id" and len(editors) > 1:
            raise UsageError("Name one default editor.", usage)
        values[field] = editors if field == "allowed_editor_ids" else editors[0]
    else:
        values[field] = value
    return values


@GROUP.command("set", usage=USAGE_SET, help="Change one policy, e.g. `policies set timeout 12h`", mutating=True)
def set_one(ctx: Context, args: Args) -> None:
    usage = f"/ona {USAGE_SET}"
    if len(args.words) < 2:
        raise UsageError(f"Name the policy and its new value. {SET_HELP}", usage)
    name = args.words[0].lower().replace("_", "-")
    if name not in SET_NAMES and name not in SET_TOGGLES:
        near = difflib.get_close_matches(name, [*SET_NAMES, *SET_TOGGLES], n=1, cutoff=0.6)
        hint = f"Did you mean `{near[0]}`?" if near else SET_HELP
        raise UsageError(f"There is no policy called `{args.words[0][:40]}`. {hint}", usage)
    value = " ".join(args.words[1:])
    current = _editable(ctx.ona.get_organization_policies().policies or OrganizationPolicies())
    result = validate_form(_set_values(current, name, value), {"current": current})
    if "errors" in result:
        raise UsageError(f"{name} {value[:40]}: {next(iter(result['errors'].values()))}", usage)
    if not result["params"]:
        ctx.reply(bk.message([bk.section(f"{name} is already {bk.escape(value[:40])}. Nothing was changed.")],
                             text="No policy changed."))
        return
    ctx.mutate("policies.update", result["params"])


@GROUP.action("policies:edit")
def click_edit(ctx: Context, payload: dict[str, Any]) -> None:
    edit(ctx, Args(words=[], rest=""))


def _form(current: dict[str, Any], origin: dict[str, str]) -> dict[str, Any]:
    editors = sorted(set(KNOWN_EDITORS) | set(current["allowed_editor_ids"]) | {current["default_editor_id"]} - {""})
    choices = [(e, e) for e in editors]
    blocks = [
        bk.multi_select_input(
            "allowed_editor_ids", "Allowed editors", choices, initial=current["allowed_editor_ids"],
            hint="Ona cannot clear this list from the API: keep at least one editor once some are chosen.",
        ),
        bk.select_input("default_editor_id", "Default editor", choices, initial=current["default_editor_id"],
                        optional=True),
        bk.text_input("maximum_environment_timeout", "Max inactivity timeout", optional=True,
                      initial=durations.format_seconds(current["maximum_environment_timeout"]).replace(" ", ""),
                      hint="e.g. 30m, 8h, 1d — at least 30m, or 0 for no limit"),
        bk.text_input("maximum_environment_lifetime", "Max environment lifetime", optional=True,
                      initial=durations.format_seconds(current["maximum_environment_lifetime"]).replace(" ", ""),
                      hint="e.g. 7d — at most 180d, 0 for no limit"),
        bk.text_input("delete_archived_environments_after", "Delete archived environments after", optional=True,
                      initial=durations.format_seconds(current["delete_archived_environments_after"]).replace(" ", ""),
                      hint="e.g. 7d — at most 4w (28d), 0 to keep them"),
        bk.number_input("maximum_running_environments_per_user", "Running environments per user",
                        initial=current["maximum_running_environments_per_user"], minimum=0, maximum=MAX_PER_USER,
                        hint="0 for no limit"),
        bk.number_input("maximum_environments_per_user", "Environments per user (running or stopped)",
                        initial=current["maximum_environments_per_user"], minimum=0, maximum=MAX_PER_USER,
                        hint="0 for no limit"),
        bk.number_input("agent.max_subagents_per_environment", "Max sub-agents per environment",
                        initial=current["agent.max_subagents_per_environment"], minimum=0, maximum=SUBAGENTS_MAX,
                        hint="0 to 10; 0 means Ona's default (5)"),
        bk.checkboxes_input("toggles", "Switches", TOGGLES, initial=[n for n, _ in TOGGLES if current[n]]),
    ]
    return bk.modal("Edit policies", blocks, callback_id="policies_edit", submit="Save",
                    private_metadata={**origin, "current": current})


def _parse_duration(raw: str | None, name: str, errors: dict[str, str]) -> int | None:
    if raw is None or not raw.strip():
        return None
    try:
        seconds = durations.parse(raw)
    except durations.DurationError as exc:
        errors[name] = str(exc)
        return None
    if seconds > DURATION_MAX:
        errors[name] = "That is longer than Ona can store (10,000 years)."
    elif name == "maximum_environment_timeout" and 0 < seconds < TIMEOUT_MIN:
        errors[name] = "Ona needs at least 30m (or 0 for no limit)."
    elif name == "maximum_environment_lifetime" and seconds > LIFETIME_MAX:
        errors[name] = "Ona allows at most 180 days."
    elif name == "delete_archived_environments_after" and seconds > DELETE_ARCHIVED_MAX:
        errors[name] = "Ona allows at most 4 weeks (28d)."
    return seconds


def _parse_number(raw: str | None, name: str, maximum: int, errors: dict[str, str]) -> int | None:
    if raw is None or str(raw).strip() == "":
        return None
    try:
        value = int(str(raw).strip())
    except ValueError:
        errors[name] = "Enter a whole number."
        return None
    if not 0 <= value <= maximum:
        errors[name] = f"Enter a number from 0 to {maximum}."
    return value


def validate_form(values: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    """Inline errors for what Ona would reject; otherwise only the fields that changed."""
    current: dict[str, Any] = meta.get("current") or {}
    errors: dict[str, str] = {}
    new: dict[str, Any] = {
        "allowed_editor_ids": sorted(values.get("allowed_editor_ids") or []),
        "default_editor_id": values.get("default_editor_id") or "",
    }
    for name in DURATIONS:
        new[name] = _parse_duration(values.get(name), name, errors)
    for name, maximum in (("maximum_running_environments_per_user", MAX_PER_USER),
                          ("maximum_environments_per_user", MAX_PER_USER),
                          ("agent.max_subagents_per_environment", SUBAGENTS_MAX)):
        new[name] = _parse_number(values.get(name), name, maximum, errors)
    toggled = set(values.get("toggles") or [])
    for name, _ in TOGGLES:
        new[name] = name in toggled
    if current.get("allowed_editor_ids") and not new["allowed_editor_ids"]:
        errors["allowed_editor_ids"] = "Ona cannot clear this list: keep at least one editor."
    allowed = new["allowed_editor_ids"]
    if new["default_editor_id"] and allowed and new["default_editor_id"] not in allowed:
        errors["default_editor_id"] = "Pick one of the allowed editors."
    if errors:
        return {"errors": errors}
    changed = {k: v for k, v in new.items() if v is not None and v != _normal(current.get(k), k)}
    if not new["default_editor_id"]:
        changed.pop("default_editor_id", None)  # an unset select means "leave it", not "clear it"
    return {"params": changed}


def _normal(value: Any, name: str) -> Any:
    return sorted(value) if name == "allowed_editor_ids" and value is not None else value


@GROUP.view("policies_edit", validate=validate_form)
def save(ctx: Context, params: dict[str, Any], meta: dict[str, Any]) -> None:
    if not params:
        ctx.reply(bk.message([bk.section("No policy changed.")], text="No policy changed."))
        return
    ctx.mutate("policies.update", params)


def _request_fields(params: dict[str, Any]) -> dict[str, Any]:
    """Our flat params → UpdateOrganizationPoliciesRequest fields (agent.* nested, durations typed)."""
    fields: dict[str, Any] = {}
    agent: dict[str, Any] = {}
    for name, value in params.items():
        if name.startswith("agent."):
            agent[name[6:]] = value
        elif name in DURATIONS:
            fields[name] = timedelta(seconds=value)
        else:
            fields[name] = value
    if agent:
        fields["agent_policy"] = agent
    return fields


def _read(ona: OnaClient, params: dict[str, Any]) -> dict[str, Any]:
    current = _editable(ona.get_organization_policies().policies or OrganizationPolicies())
    return {name: current.get(name) for name in params}


@GROUP.operation("policies.update", "Change organization policies", read=_read, show=lambda k, v: _show(k, v),
                 undo=lambda before: restore(before) if None not in before.values() else None)
def update_policies(ona: OnaClient, params: dict[str, Any]) -> Outcome:
    ona.update_organization_policies(**_request_fields(params))
    labels = {**dict(TOGGLES), **FIELD_LABELS}
    details = [(labels.get(k, k.removeprefix("agent.").replace("_", " ")), _show(k, v)) for k, v in params.items()]
    return Outcome(text=f"Updated {bk.plural(len(params), 'policy', 'policies')}.", details=details[:10])


def _show(name: str, value: Any) -> str:
    if name in DURATIONS:
        return durations.format_seconds(value)
    if isinstance(value, bool):
        return _yes(value)
    if isinstance(value, list):
        return bk.escape(", ".join(value))
    return bk.escape(str(value))
