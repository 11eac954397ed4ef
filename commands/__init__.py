"""One module per group of `/ona` commands. Adding a command = a module here + one line below."""

from bot.registry import Group
from commands import banner, help, invites, policies

GROUPS: list[Group] = [
    help.GROUP,
    policies.GROUP,
    banner.GROUP,
    invites.GROUP,
]
