"""/ona sso — (being written)."""

from bot.registry import Group

GROUP = Group("sso", "SSO (OIDC)")
