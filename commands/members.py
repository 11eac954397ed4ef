"""/ona members — (being written)."""

from bot.registry import Group

GROUP = Group("members", "Members and roles")
ROLE_GROUP = Group("role", "Change a member's role")
