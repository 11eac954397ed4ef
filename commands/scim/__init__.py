"""/ona scim — SCIM provisioning: list the configurations, add one, regenerate its token, enable,
disable or remove it.

``commands`` holds the commands and buttons, ``views`` the messages, ``operations`` the changes in
Ona. A SCIM token is a secret: it goes only into Outcome.secret, which the requester alone sees, once.
"""

from commands.scim import operations
from commands.scim.commands import GROUP

__all__ = ["GROUP", "operations"]
