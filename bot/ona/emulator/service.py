"""The OrganizationService itself, independent of HTTP: one handler per method over ``State``.

The machinery (``dispatch``, ``@rpc``, ``ConnectError``, partial updates, pagination) is in ``rpc.py``;
the handlers are in ``organization.py`` (organization, members, banner, policies, invites) and
``configurations.py`` (custom domain, domain verification, SSO, SCIM). Importing this module
registers them all.
"""

from __future__ import annotations

from bot.ona.emulator import configurations, organization
from bot.ona.emulator.rpc import (
           HANDLERS,
           HTTP_STATUS,
           SERVICE,
           ConnectError,
           Undecodable,
           decode_body,
           dispatch,
)

__all__ = ["HANDLERS", "HTTP_STATUS", "SERVICE", "ConnectError", "Undecodable", "configurations", "decode_body",
           "dispatch", "organization"]
