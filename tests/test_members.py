"""/ona members (paged list, search) and /ona role (by email or Slack mention, last-admin guard), end to end."""

from __future__ import annotations

import json

import pytest

from bot.localslack import select, user_select
from bot.ona.models import OrganizationRole, UserStatus
from commands.members import ROLE_GROUP
from tests.harness import BotHarness, member_listings, message_text, wait_until

SEED_EMAILS = {"alice@example.com", "bob@example.com", "carol@example.com", "dave@example.com", "erin@example.com"}


def _buttons(reply: dict) -> dict[str, dict]:
    return {e["action_id"]: e for b in reply["blocks"] if b["type"] == "actions" for e in b["elements"]}


def _emails(reply: dict) -> list[str]:
    """The emails listed on a page (one section per member: name, then email · role · status)."""
    lines = [b["text"]["text"] for b in reply["blocks"] if b["type"] == "section"]
    return [line.split("\n")[1].split(" · ")[0] for line in lines if "\n" in line]


def _member(emulator, email: str):
    return next(m for m in emulator.state.members.values() if m.email == email)


def _add_members(emulator, count: int, prefix: str = "user") -> list[str]:
    emails = [f"{prefix}{i:02d}@example.com" for i in range(count)]
    for i, email in enumerate(emails):
        emulator.add_member(email, f"{prefix.title()} {i:02d}")
    return emails


# --- /ona members ---------------------------------------------------------------------------------


def test_members_lists_name_email_role_status_and_total(bot: BotHarness, emulator) -> None:
    reply = bot.command("members").reply()
    assert reply["response_type"] == "ephemeral"
    text = message_text(reply)
    assert "5 members" in text
    assert "*Alice Admin*\nalice@example.com · *admin* · active" in text
    assert "*Dave Suspended*\ndave@example.com · member · :warning: suspended" in text
    assert set(_emails(reply)) == SEED_EMAILS
    assert not _buttons(reply)  # one page: no pager
    body = member_listings(emulator)[0]
    assert body["count"] == {"include": True} and body["pagination"] == {"pageSize": 100}
    assert "filter" not in body


def test_members_pages_across_three_pages_and_back(bot: BotHarness, emulator) -> None:
    added = _add_members(emulator, 22)  # 27 members: 10 + 10 + 7
    first = bot.command("members").reply()
    assert "27 members" in message_text(first) and "Page 1 of 3" in message_text(first)
    assert len(_emails(first)) == 10 and set(_buttons(first)) == {"members:page:next"}

    nxt = _buttons(first)["members:page:next"]
    second = bot.click(nxt["action_id"], nxt["value"]).reply()
    assert second["replace_original"] is True and second["response_type"] == "ephemeral"
    assert "Page 2 of 3" in message_text(second)
    assert set(_buttons(second)) == {"members:page:prev", "members:page:next"}

    nxt = _buttons(second)["members:page:next"]
    third = bot.click(nxt["action_id"], nxt["value"]).reply()
    assert "Page 3 of 3" in message_text(third) and len(_emails(third)) == 7
    assert set(_buttons(third)) == {"members:page:prev"}

    pages = _emails(first) + _emails(second) + _emails(third)
    assert len(pages) == 27 and set(pages) == SEED_EMAILS | set(added)

    prev = _buttons(third)["members:page:prev"]
    back = bot.click(prev["action_id"], prev["value"]).reply()
    assert _emails(back) == _emails(second)
    # Stateless: the page was found again from the start of Ona's list, not from a remembered cursor.
    assert json.loads(prev["value"]) == {"q": "", "page": 1}


def test_search_is_sent_to_ona_and_rides_in_the_page_buttons(bot: BotHarness, emulator) -> None:
    contractors = _add_members(emulator, 12, prefix="contractor")
    reply = bot.command("members Contractor").reply()
    assert member_listings(emulator)[0]["filter"] == {"search": "Contractor"}
    text = message_text(reply)
    assert "12 members matching “Contractor”" in text and "Page 1 of 2" in text
    nxt = _buttons(reply)["members:page:next"]
    assert json.loads(nxt["value"]) == {"q": "Contractor", "page": 1}
    second = bot.click(nxt["action_id"], nxt["value"]).reply()
    assert member_listings(emulator)[-1]["filter"] == {"search": "Contractor"}
    assert set(_emails(reply) + _emails(second)) == set(contractors)


def test_search_without_match_says_so(bot: BotHarness, emulator) -> None:
    text = bot.command("members zebra").reply_text()
    assert "No member matches “zebra”" in text and "0 members" in text


def test_too_long_search_gets_usage_and_asks_nothing(bot: BotHarness, emulator) -> None:
    text = bot.command("members " + "x" * 257).reply_text()
    assert "257 characters" in text and "/ona members [search]" in text
    assert member_listings(emulator) == []


def test_member_names_are_escaped(bot: BotHarness, emulator) -> None:
    emulator.add_member("mallory@example.com", "<!channel> Mallory <http://evil.example|x>")
    reply = bot.command("members mallory").reply()
    rendered = json.dumps(reply["blocks"])
    assert "<!channel>" not in rendered and "<http://evil" not in rendered
    assert "&lt;!channel&gt; Mallory" in rendered


def test_stale_or_forged_page_buttons_still_answer(bot: BotHarness, emulator) -> None:
    stale = bot.click("members:page:next", json.dumps({"q": "", "page": 7})).reply()
    assert set(_emails(stale)) == SEED_EMAILS and stale["replace_original"] is True
    forged = bot.click("members:page:next", "not json").reply()
    assert set(_emails(forged)) == SEED_EMAILS


def test_members_ona_unavailable_is_friendly(bot: BotHarness, emulator) -> None:
    emulator.inject_fault("ListMembers", code="unavailable", times=10)
    text = bot.command("members").reply_text()
    assert "Ona did not answer" in text and "Traceback" not in text


def test_members_permission_denied_is_friendly(bot: BotHarness, emulator) -> None:
    emulator.inject_fault("ListMembers", code="permission_denied")
    assert "not an admin of this organization" in bot.command("member").reply_text()


# --- /ona role --------------------------------------------------------------------------------------


def test_role_by_email_ignores_case_and_sends_set_role(bot: BotHarness, emulator) -> None:
    carol = _member(emulator, "carol@example.com")
    reply = bot.command("role CAROL@Example.com admin").reply()
    assert reply["response_type"] == "ephemeral"
    assert "carol@example.com is now *an admin*" in message_text(reply)
    assert emulator.calls("SetRole") == [
        {"organizationId": emulator.organization_id, "userId": carol.user_id, "role": "ORGANIZATION_ROLE_ADMIN"}
    ]
    assert carol.role == OrganizationRole.ADMIN


@pytest.mark.parametrize("mention", ["<@U0BOB>", "<@U0BOB|bob>"])
def test_role_by_slack_mention_resolves_the_email(bot: BotHarness, emulator, slack, mention: str) -> None:
    bob = _member(emulator, "bob@example.com")
    text = bot.command(f"role {mention} member").reply_text()
    assert "bob@example.com is now *a member*" in text
    assert "U0BOB" in [c.get("user") for c in slack.calls_to("users.info")]  # the mention was looked up
    assert emulator.calls("SetRole") == [
        {"organizationId": emulator.organization_id, "userId": bob.user_id, "role": "ORGANIZATION_ROLE_MEMBER"}
    ]


def test_role_without_arguments_opens_a_form_with_a_member_picker(bot: BotHarness, emulator, slack) -> None:
    carol = _member(emulator, "carol@example.com")
    bot.command("role")
    form = {**bot.opened_view("role_form"), "id": "V0ROLE"}
    kinds = {b["block_id"]: b["element"]["type"] for b in form["blocks"] if b["type"] == "input"}
    assert kinds == {"member": "users_select", "role": "static_select"}  # tapped, never typed
    empty = bot.submit(form, {"member": user_select(None), "role": select(None)}).json()
    assert empty["response_action"] == "errors" and set(empty["errors"]) == {"member", "role"}
    assert bot.submit(form, {"member": user_select("U0CAROL"), "role": select("admin")}).status_code == 200
    wait_until(lambda: emulator.calls("SetRole"), what="the role change")
    assert emulator.calls("SetRole") == [
        {"organizationId": emulator.organization_id, "userId": carol.user_id, "role": "ORGANIZATION_ROLE_ADMIN"}]
    assert "U0CAROL" in [c.get("user") for c in slack.calls_to("users.info")]  # found by their Slack email
    said = slack.wait_for("response_url", lambda a: "carol@example.com is now" in json.dumps(a))
    assert "*an admin*" in message_text(said[-1])


def test_role_with_slack_formatted_email(bot: BotHarness, emulator) -> None:
    text = bot.command("role <mailto:erin@example.com|erin@example.com> admin").reply_text()
    assert "erin@example.com is now *an admin*" in text


def test_typed_handle_is_refused_with_a_hint(bot: BotHarness, emulator) -> None:
    text = bot.command("role @bob admin").reply_text()
    assert "use their email" in text and "Slack sends a real mention" in text
    assert emulator.calls("SetRole") == [] and member_listings(emulator) == []


def test_unknown_slack_user_is_friendly(bot: BotHarness, emulator) -> None:
    text = bot.command("role <@U0NOBODY> admin").reply_text()
    assert "I cannot vouch for the Slack email of the person you named" in text and "use their Ona email" in text
    assert emulator.calls("SetRole") == []


@pytest.mark.parametrize("account", [{"is_restricted": True}, {"is_email_confirmed": False},
                                     {"is_stranger": True, "team_id": "T0OTHER"}])
def test_a_picked_account_the_bot_cannot_vouch_for_names_nobody_in_ona(bot: BotHarness, emulator, slack,
                                                                       account: dict) -> None:
    # Someone outside the trust (a guest, an unconfirmed email, Slack Connect) whose Slack email is bob's.
    slack.users["U0MALLORY"] = {"name": "mallory", "real_name": "Mallory", "email": "bob@example.com", **account}
    bot.command("role")
    form = {**bot.opened_view("role_form"), "id": "V0ROLE"}
    assert bot.submit(form, {"member": user_select("U0MALLORY"), "role": select("admin")}).status_code == 200
    said = slack.wait_for("response_url", lambda a: "cannot vouch" in json.dumps(a))
    assert "use their Ona email" in message_text(said[-1])
    assert emulator.calls("SetRole") == [] and member_listings(emulator) == []


def test_unknown_member_is_friendly(bot: BotHarness, emulator) -> None:
    text = bot.command("role zed@example.com admin").reply_text()
    assert "Nobody with the email zed@example.com is a member" in text
    assert emulator.calls("SetRole") == []


def test_same_role_says_so_and_sends_nothing(bot: BotHarness, emulator) -> None:
    text = bot.command("role bob@example.com admin").reply_text()
    assert "Bob Builder is already an admin" in text
    assert emulator.calls("SetRole") == []


def test_last_active_admin_cannot_be_demoted(bot: BotHarness, emulator) -> None:
    _member(emulator, "bob@example.com").status = UserStatus.SUSPENDED  # a suspended admin does not count
    text = bot.command("role alice@example.com member").reply_text()
    assert "the organization would have no admin" in text
    assert emulator.calls("SetRole") == []
    assert _member(emulator, "alice@example.com").role == OrganizationRole.ADMIN


def test_demoting_one_of_two_admins_is_allowed(bot: BotHarness, emulator) -> None:
    text = bot.command("role alice@example.com member").reply_text()
    assert "now *a member*" in text
    assert _member(emulator, "alice@example.com").role == OrganizationRole.MEMBER


@pytest.mark.parametrize("line, expected", [
    ("role bob@example.com", "Give the member"),
    ("role bob@example.com owner", "`owner` is not a role"),
    ("role bob admin", "neither an email nor an @mention"),
])
def test_bad_role_input_gets_usage(bot: BotHarness, emulator, line: str, expected: str) -> None:
    text = bot.command(line).reply_text()
    assert expected in text and "Usage" in text and "/ona role" in text
    assert emulator.calls("SetRole") == []


def test_role_word_first_is_understood(bot: BotHarness, emulator) -> None:
    assert "now *an admin*" in bot.command("role admin carol@example.com").reply_text()


def test_role_permission_denied_is_friendly(bot: BotHarness, emulator) -> None:
    emulator.inject_fault("SetRole", code="permission_denied")
    text = bot.command("role carol@example.com admin").reply_text()
    assert "not an admin of this organization" in text and "Nothing was changed" in text
    assert _member(emulator, "carol@example.com").role == OrganizationRole.MEMBER


def test_role_refused_by_ona_shows_its_reason(bot: BotHarness, emulator) -> None:
    emulator.inject_fault("SetRole", code="failed_precondition")
    assert "Ona cannot do that yet" in bot.command("role bob@example.com member").reply_text()


def test_set_role_operation_reads_the_current_role(ona, emulator) -> None:
    op = ROLE_GROUP.operations["members.set_role"]
    carol = _member(emulator, "carol@example.com")
    params = {"user_id": carol.user_id, "email": carol.email, "role": "ORGANIZATION_ROLE_ADMIN"}
    assert op.read(ona, params) == {**params, "role": "ORGANIZATION_ROLE_MEMBER"}
    gone = {**params, "user_id": "00000000-0000-4000-8000-000000000000"}
    assert op.read(ona, gone)["role"] == ""


# --- taps: Make admin / Make member on the list ------------------------------------------------------


def _row_button(reply: dict, email: str) -> dict:
    return next(b["accessory"] for b in reply["blocks"] if email in (b.get("text") or {}).get("text", ""))


def test_each_member_has_a_role_button_with_a_confirm(bot: BotHarness, emulator) -> None:
    reply = bot.command("members").reply()
    carol, alice = _row_button(reply, "carol@example.com"), _row_button(reply, "alice@example.com")
    assert carol["text"]["text"] == "Make admin" and carol["confirm"]["confirm"]["text"] == "Make admin"
    assert alice["text"]["text"] == "Make member" and alice["confirm"]["title"]["text"]
    assert json.loads(carol["value"]) == {"user_id": _member(emulator, "carol@example.com").user_id, "role": "admin"}


def test_make_admin_tap_changes_the_role_as_role_does(bot: BotHarness, emulator) -> None:
    carol = _member(emulator, "carol@example.com")
    button = _row_button(bot.command("members").reply(), "carol@example.com")
    text = bot.click(button["action_id"], button["value"]).reply_text()
    assert "carol@example.com is now *an admin*" in text
    assert emulator.calls("SetRole") == [
        {"organizationId": emulator.organization_id, "userId": carol.user_id, "role": "ORGANIZATION_ROLE_ADMIN"}
    ]


def test_a_stale_tap_rechecks_the_member(bot: BotHarness, emulator) -> None:
    button = _row_button(bot.command("members").reply(), "carol@example.com")
    _member(emulator, "carol@example.com").role = OrganizationRole.ADMIN  # someone else was quicker
    assert "already an admin" in bot.click(button["action_id"], button["value"]).reply_text()
    _member(emulator, "bob@example.com").status = UserStatus.SUSPENDED
    demote = _row_button(bot.command("members").reply(), "alice@example.com")
    _member(emulator, "carol@example.com").role = OrganizationRole.MEMBER
    assert "only active admin" in bot.click(demote["action_id"], demote["value"]).reply_text()
    forged = bot.click("members:role", json.dumps({"user_id": "nobody", "role": "owner"})).reply_text()
    assert "not valid any more" in forged
    assert emulator.calls("SetRole") == []


def test_escaped_mention_and_email_as_slack_sends_them(bot: BotHarness, emulator, slack) -> None:
    # should_escape is on: a picked person arrives as <@U…|name>, a typed email as <mailto:…|…>.
    assert "bob@example.com is now *a member*" in bot.command("role <@U0BOB|bob> member").reply_text()
    assert "erin@example.com is now *an admin*" in bot.command(
        "role admin <mailto:erin@example.com|erin@example.com>").reply_text()
