"""One module per group of `/ona` commands. Adding a command = a module here + one line below."""

from bot.approvals import listeners
from bot.registry import Group
from commands import (
    audit,
    banner,
    custom_domain,
    domains,
    explain,
    help,
    invites,
    members,
    org,
    policies,
    requests,
    scim,
    sso,
)

GROUPS: list[Group] = [
    help.GROUP,
    policies.GROUP,
    banner.GROUP,
    invites.GROUP,
    domains.GROUP,
    members.GROUP,
    members.ROLE_GROUP,
    org.GROUP,
    sso.GROUP,
    scim.GROUP,
    custom_domain.GROUP,
    requests.GROUP,
    explain.GROUP,
    audit.GROUP,
    listeners.GROUP,  # Approve, Deny, Cancel: buttons, no subcommand
]
