"""/ona sso — the organization's OIDC single sign-on: list, show, add and edit in a modal, activate,
deactivate and remove (the last two after a confirmation).

``commands`` holds the commands and buttons, ``views`` the messages, ``forms`` the modals, and
``operations`` the changes in Ona. The client secret travels only from the modal's input to Ona,
inside the operation's params (declared secret): it is never put in a view, in private_metadata, in a
message or in a log line, and Ona never returns it.
"""

from commands.sso import operations
from commands.sso.commands import GROUP

__all__ = ["GROUP", "operations"]
