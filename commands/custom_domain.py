"""/ona custom-domain — (being written)."""

from bot.registry import Group

GROUP = Group("custom-domain", "Custom domain")
