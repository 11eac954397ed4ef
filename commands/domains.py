"""/ona domain — (being written)."""

from bot.registry import Group

GROUP = Group("domain", "Domain verification")
