"""Runs last (by name): after the whole suite, no API key, SCIM token, SSO client secret or invite ID
is in any SQLite file the bot wrote, any log line, or anything sent to Slack outside the requester's
own ephemeral replies and DMs. It first makes sure there is something to find, through approvals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bot.localslack import FakeSlack, text_input
from bot.ona.models import OrganizationRole
from tests.harness import BotHarness, make_harness, message_text
from tests.secretscan import ARCHIVE, SCIM_TOKEN, leaks
from tests.test_approvals import CHANNEL, buttons

CLIENT_SECRET = "sso-client-secret-for-the-final-scan"


def _approve_request(bot: BotHarness, number: int, approvers: list[str]) -> None:
    """Approve the `number`-th request posted to the approvals channel."""
    posted = bot.slack.wait_for("chat.postMessage", lambda a: a.get("channel") == CHANNEL, count=number)
    value = buttons(posted[number - 1])["approval:approve"]["value"]
    for user in approvers:
        bot.click("approval:approve", value, user=user).reply()


def _give_reason(bot: BotHarness, number: int) -> None:
    modals = bot.slack.wait_for("views.open", lambda a: a["view"]["callback_id"] == "approval_reason",
                                count=number)
    bot.submit({**modals[number - 1]["view"], "id": f"V{number}"}, {"reason": text_input("rotation")})


def _dms(slack: FakeSlack) -> str:
    return "\n".join(message_text(c.args) for c in slack.calls
                     if c.method == "chat.postMessage" and str(c.args.get("channel", "")).startswith("D"))


def test_no_secret_leaks_anywhere(emulator: Any, slack: FakeSlack) -> None:
    emulator.add_member("dan@example.com", "Dan Admin", role=OrganizationRole.ADMIN.value)
    slack.users["U0DAN"] = {"name": "dan", "real_name": "Dan Admin", "email": "dan@example.com"}
    bot = make_harness(emulator, slack, policy=None)  # the built-in policy: approvals everywhere
    try:
        # An SSO configuration with a client secret, through the approval flow (sealed, then erased).
        bot.command("sso add reason: new IdP")
        bot.submit(bot.opened_view("sso_add"), {
            "issuer_url": text_input("https://id.example.com"), "client_id": text_input("scan"),
            "client_secret": text_input(CLIENT_SECRET), "display_name": text_input("Scan"),
            "email_domains": text_input(""), "additional_scopes": text_input("")})
        _approve_request(bot, 1, ["U0BOB"])
        # A new SCIM token (two approvers) and a new invite link: each only for the requester.
        scim = next(bot.services.ona.iter_scim_configurations())
        bot.click("scim:regenerate", json.dumps({"id": scim.id}))
        _give_reason(bot, 1)
        _approve_request(bot, 2, ["U0BOB", "U0DAN"])
        bot.click("invite:create")
        _give_reason(bot, 2)
        _approve_request(bot, 3, ["U0BOB"])
        dms = _dms(slack)
    finally:
        bot.close()
    tokens = SCIM_TOKEN.findall(dms)
    assert tokens, "the requester must get the SCIM token"
    assert emulator.state.invite_id in dms, "the requester must get the invite link"
    assert emulator.state.secrets.get(next(s.id for s in emulator.state.sso_configurations.values()
                                           if s.client_id == "scan")) == CLIENT_SECRET
    ARCHIVE.harvest_emulator(emulator)
    secrets = ARCHIVE.secrets | {"xoxb-test-token", "test-signing-secret", CLIENT_SECRET, *tokens}
    # Every audit key the suite made beside a database: never in a database, a log line or a message.
    secrets |= {key.read_text().strip() for key in (Path(f"{db}.{kind}-key") for db in ARCHIVE.db_paths
                                                     for kind in ("audit", "seal")) if key.exists()}
    assert ARCHIVE.db_paths and ARCHIVE.logs
    # (the slack fixture archives this test's public calls when it ends: scan them too, now)
    ARCHIVE.archive_slack(list(slack.calls))
    found = leaks(secrets)
    assert not found, "secrets leaked:\n" + "\n".join(sorted(set(found))[:20])
