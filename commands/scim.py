"""/ona scim — (being written)."""

from bot.registry import Group

GROUP = Group("scim", "SCIM provisioning")
