"""A local Ona API emulator: the OrganizationService over real HTTP, with state.

It speaks Connect unary as Ona does: binary protobuf and JSON, POST and GET, gzip request bodies,
Connect-Timeout-Ms, at the root and under ``/api`` (``connect.py``); buf.validate rules and Connect
error codes (``service.py``). 35 of the schema's 44 methods are emulated; the others answer
``unimplemented`` saying so. The bot, its tests, the demo, the benchmark and anyone using Ona's
official SDK can run without an Ona account. Start it in-process::

    from bot.ona.emulator import Emulator

    emu = Emulator()
    emu.start()  # a free loopback port
    client = OnaClient(emu.admin_key, base_url=emu.api_url, organization_id=emu.organization_id)
    sdk = ona_sdk.create_client(api_key=emu.admin_key, base_url=emu.api_url)
    ...
    emu.stop()

or as a process: ``ona-bot emulator`` (see ``server.add_arguments`` for the options).
``Emulator(strict=True)`` (``--strict``) rejects unknown fields and enum names that Ona ignores.

Constants (the defaults of ``Emulator`` and of ``ona-bot emulator``):

``DEFAULT_ORG_ID``
    UUID of the emulated organization, "Acme Corp" (seed data in ``state.py``).
``DEFAULT_ADMIN_KEY``
    ``"ona-emulator-admin-key"``: API key with the organization admin role (may call everything).
``DEFAULT_MEMBER_KEY``
    ``"ona-emulator-member-key"``: API key with the member role: Get*/List*, plus JoinOrganization
    and LeaveOrganization of itself (they act on the caller); other mutations are
    ``permission_denied``.
``DEFAULT_PORT``
    8090, the port of ``ona-bot emulator``; ``Emulator.start()`` defaults to a free port instead.

These keys are public: the emulator listens on loopback unless told otherwise.
"""

from bot.ona.emulator.server import Emulator
from bot.ona.emulator.state import DEFAULT_ADMIN_KEY, DEFAULT_MEMBER_KEY, DEFAULT_ORG_ID, DEFAULT_PORT

__all__ = ["DEFAULT_ADMIN_KEY", "DEFAULT_MEMBER_KEY", "DEFAULT_ORG_ID", "DEFAULT_PORT", "Emulator"]
