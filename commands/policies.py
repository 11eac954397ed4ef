"""/ona policies — the organization's policies, grouped for a phone, and an edit modal that sends
only what changed (durations typed as 30m/8h/7d, editors picked from a list, numbers range-checked)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bot import blocks as bk
from bot import durations
from bot.context import Context
from bot.ona.client import OnaClient
from bot.ona.models import OrganizationPolicies
from bot.registry import Args, Group, Outcome

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


def _sections(p: OrganizationPolicies) -> list[tuple[str, list[tuple[str, str]]]]:
    agent = p.agent_policy
    return [
        ("Editors", [
            ("Allowed", bk.escape(", ".join(p.allowed_editor_ids)) or "all"),
            ("Default", bk.escape(p.default_editor_id) or "—"),
        ]),
        ("Environment limits", [
            ("Max timeout", durations.format_delta(p.maximum_environment_timeout).replace("none", "no limit")),
            ("Max lifetime", durations.format_delta(p.maximum_environment_lifetime).replace("none", "no limit")),
            ("Running per user", _limit(p.maximum_running_environments_per_user)),
            ("Total per user", _limit(p.maximum_environments_per_user)),
            ("Delete archived after", durations.format_delta(p.delete_archived_environments_after)
             .replace("none", "never")),
            ("Local runners", "allowed" if p.allow_local_runners else "not allowed"),
        ]),
        ("Projects", [
            ("Members create projects", _yes(p.members_create_projects)),
            ("Projects required", _yes(p.members_require_projects)),
        ]),
        ("Agents", [
            ("MCP", "disabled" if agent and agent.mcp_disabled else "enabled"),
            ("SCM tools", "disabled" if agent and agent.scm_tools_disabled else "enabled"),
            ("Max sub-agents", str(agent.max_subagents_per_environment) if agent and
             agent.max_subagents_per_environment else "default (5)"),
            ("Denied commands", str(len(agent.command_deny_list)) if agent else "0"),
        ]),
        ("Security", [
            ("Port sharing", "disabled" if p.port_sharing_disabled else "enabled"),
            ("Accounts", "SCIM only" if p.restrict_account_creation_to_scim else "any invited"),
            ("Custom domain required", _yes(p.require_custom_domain_access)),
        ]),
    ]


@GROUP.command(usage="policies", help="Show the organization's policies")
def show(ctx: Context, args: Args) -> None:
    policies = ctx.ona.get_organization_policies().policies or OrganizationPolicies()
    blocks: list[Any] = [bk.header("Organization policies")]
    for title, pairs in _sections(policies):
        blocks += [bk.section(f"*{title}*"), *bk.fields(pairs)]
    blocks.append(bk.actions(bk.button("Edit policies", "policies:edit", style="primary")))
    ctx.reply(bk.message(blocks, text="Organization policies"))


@GROUP.command("edit", usage="policies edit", help="Change policies in a form", mutating=True)
def edit(ctx: Context, args: Args) -> None:
    view_id = ctx.open_modal(bk.loading_modal("Edit policies", "policies_edit"))
    policies = ctx.ona.get_organization_policies().policies or OrganizationPolicies()
    ctx.update_modal(view_id, _form(_editable(policies), ctx.origin()))


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


@GROUP.operation("policies.update", "Change organization policies", read=_read, show=lambda k, v: _show(k, v))
def update_policies(ona: OnaClient, params: dict[str, Any]) -> Outcome:
    ona.update_organization_policies(**_request_fields(params))
    labels = dict(TOGGLES)
    details = [(labels.get(k, k.removeprefix("agent.").replace("_", " ")), _show(k, v)) for k, v in params.items()]
    return Outcome(text=f"Updated {len(params)} polic{'y' if len(params) == 1 else 'ies'}.", details=details[:10])


def _show(name: str, value: Any) -> str:
    if name in DURATIONS:
        return durations.format_seconds(value)
    if isinstance(value, bool):
        return _yes(value)
    if isinstance(value, list):
        return bk.escape(", ".join(value))
    return bk.escape(str(value))
