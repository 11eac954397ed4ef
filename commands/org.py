"""/ona org — (being written)."""

from bot.registry import Group

GROUP = Group("org", "Organization")
