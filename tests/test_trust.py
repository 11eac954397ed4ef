"""Trust, tried as an attacker inside the workspace would: who may read, whose Slack identity counts,
and revocation taking effect at once. Signed requests in; the fake Slack and the emulator observed."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from bot.app import BUSY, build_app
from bot.localslack import FakeSlack, text_input
from bot.ona.models import OrganizationRole
from bot.server import wsgi_app
from bot.work import WorkPool
from tests.harness import (
    APPROVAL_POLICY,
    APPROVALS_CHANNEL,
    DIRECT_POLICY,
    SIGNING_SECRET,
    BotHarness,
    buttons,
    forget_installation,
    make_harness,
    message_text,
    mrkdwn_texts,
    wait_until,
)

# Carol is an active Ona member (not an admin) with a confirmed Slack account in the workspace.
READS = [
    ("members", "bob@example.com"),
    ("sso", "example.com"),
    ("scim", "SCIM"),
    ("audit", "Audit"),
    ("requests", "Pending"),
    ("org", "Acme"),
    ("explain banner.update <@U0ALICE>", "Requesters"),
    ("policies", "Organization policies"),
    ("banner", "Banner"),
    ("domains", "example.com"),
    ("custom-domain", "Custom domain"),
]


@pytest.mark.parametrize(("command", "secret"), READS, ids=[c.split()[0] for c, _ in READS])
def test_a_member_who_is_not_an_admin_reads_nothing(bot: BotHarness, emulator, command: str, secret: str) -> None:
    text = bot.command(command, user="U0CAROL").reply_text()
    assert "Only Ona organization admins may use" in text and "Ask one of them" in text
    assert secret not in text
    refused = [r for r in bot.services.approvals.store.audit_rows() if r["action"] == "refused"]
    assert refused and refused[-1]["user_id"] == "U0CAROL"


def test_an_admin_still_reads(bot: BotHarness) -> None:
    assert "bob@example.com" in bot.command("members", user="U0ALICE").reply_text()


def test_a_forged_pager_click_shows_no_members(bot: BotHarness) -> None:
    text = bot.click("members:page:next", '{"page": 0, "q": "example"}', user="U0CAROL").reply_text()
    assert "Only Ona organization admins may use" in text and "@example.com" not in text


def test_a_forged_form_submission_changes_nothing(bot: BotHarness, emulator) -> None:
    bot.command("banner set").reply  # noqa: B018 - Alice opens the form; Carol forges its submission
    form = bot.filled_view("banner_edit")
    preview = bot.submit(form, {"message": {"type": "plain_text_input", "value": "pwned"},
                                "enabled": {"type": "checkboxes", "selected_options": [{"value": "on"}]}},
                         user="U0CAROL").json()["view"]
    bot.submit({**preview, "id": form["id"]}, {}, user="U0CAROL")
    wait_until(lambda: [r for r in bot.services.approvals.store.audit_rows()
                        if r["action"] == "refused" and r["user_id"] == "U0CAROL"], what="the refusal")
    assert emulator.calls("UpdateAnnouncementBanner") == []


def test_reads_can_be_opened_per_group_to_a_user_group(emulator, slack: FakeSlack) -> None:
    slack.usergroups["S0ONCALL"] = ["U0CAROL"]
    emulator.state.banner.enabled = True
    policy = DIRECT_POLICY + '\n[reads]\nbanner = ["ona:admins", "S0ONCALL"]\n'
    harness = make_harness(emulator, slack, policy=policy)
    try:
        assert "Banner" in harness.command("banner", user="U0CAROL").reply_text()
        assert "Only Ona organization admins may use" in harness.command("members", user="U0CAROL").reply_text()
        help_text = harness.command("help", user="U0CAROL").reply_text()
        assert "/ona banner" in help_text  # reads only: no change
        banner_help = harness.command("help banner", user="U0CAROL").reply_text()
        assert "`banner`" in banner_help and "banner on" not in banner_help
        assert "/ona members" not in help_text and "/ona sso" not in help_text
        # Reading is not changing: the on-call member still may not turn the banner off.
        assert "may not request" in harness.command("banner off", user="U0CAROL").reply_text()
        assert emulator.calls("UpdateAnnouncementBanner") == []
    finally:
        harness.close()


def test_help_lists_only_what_the_caller_may_do(bot: BotHarness) -> None:
    admin = bot.command("help", user="U0ALICE").reply_text()
    assert "/ona members" in admin and "banner on" in bot.command("help banner", user="U0ALICE").reply_text()
    member = bot.command("help", user="U0CAROL").reply_text()
    assert "/ona members" not in member and "/ona banner" not in member and "/ona audit" not in member
    assert "admins" in member


@pytest.fixture
def budgeted(emulator, slack: FakeSlack) -> Iterator[BotHarness]:
    """A bot with the production admission (30 a second per process), not the tests' unlimited one."""
    harness = make_harness(emulator, slack)
    harness.work.close()
    harness.work = WorkPool()
    harness._server.set_app(wsgi_app(build_app(harness.services, signing_secret=SIGNING_SECRET, work=harness.work)))
    yield harness
    harness.close()


def test_one_member_flooding_does_not_make_an_admin_busy(budgeted: BotHarness, emulator) -> None:
    emulator.state.banner.enabled = True
    flood = [budgeted.command("members", user="U0CAROL").response for _ in range(40)]
    assert sum(BUSY in r.text for r in flood) >= 25  # the flooder is turned away ...
    admin = budgeted.command("banner off", user="U0ALICE")
    assert BUSY not in admin.response.text  # ... but not the admin
    assert "now *off*" in admin.reply_text()


# --- whose Slack identity counts -------------------------------------------------------------------

IMPOSTORS = {
    "unconfirmed email": ({"is_email_confirmed": False}, "not confirmed"),
    "guest": ({"is_restricted": True}, "Guest accounts"),
    "single-channel guest": ({"is_ultra_restricted": True}, "Guest accounts"),
    "deleted": ({"deleted": True}, "deactivated"),
    "bot": ({"is_bot": True}, "Bots"),
    "Slack Connect stranger": ({"team_id": "T0OTHERCO", "is_stranger": True}, "Only members of the workspace"),
    "other workspace": ({"team_id": "T0OTHERCO"}, "Only members of the workspace"),
}


def impostor(slack: FakeSlack, user_id: str, email: str, **fields) -> None:
    slack.users[user_id] = {"name": "mallory", "real_name": "Mallory", "email": email, **fields}


@pytest.mark.parametrize("kind", list(IMPOSTORS))
def test_an_account_slack_does_not_vouch_for_is_not_an_admin(bot: BotHarness, emulator, kind: str) -> None:
    fields, words = IMPOSTORS[kind]
    impostor(bot.slack, "U0MALLORY", "alice@example.com", **fields)  # an admin's email
    emulator.state.banner.enabled = True
    text = bot.command("banner off", user="U0MALLORY").reply_text()
    assert words in text
    assert emulator.calls("UpdateAnnouncementBanner") == []
    assert "bob@example.com" not in bot.command("members", user="U0MALLORY").reply_text()


def test_two_external_accounts_with_admins_emails_cannot_request_and_approve(emulator, slack: FakeSlack) -> None:
    harness = make_harness(emulator, slack, policy=APPROVAL_POLICY)
    try:
        impostor(slack, "U0EXT1", "alice@example.com", team_id="T0OTHERCO", is_stranger=True)
        impostor(slack, "U0EXT2", "bob@example.com", team_id="T0OTHERCO", is_stranger=True)
        emulator.state.banner.enabled = True
        assert "Only members of the workspace" in harness.command(
            "banner off reason: x", user="U0EXT1").reply_text()
        assert not slack.calls_to("chat.postMessage")
        # A real request, and a stranger carrying an approver's email tries to approve it.
        harness.command("banner off reason: maintenance", user="U0ALICE").reply()
        posted = slack.wait_for("chat.postMessage", lambda a: a.get("channel") == APPROVALS_CHANNEL)[-1]
        value = buttons(posted)["approval:approve"]["value"]
        text = harness.click("approval:approve", value, user="U0EXT2", channel_id=APPROVALS_CHANNEL).reply_text()
        assert "Only members of the workspace" in text
        assert emulator.calls("UpdateAnnouncementBanner") == []
    finally:
        harness.close()


def test_an_enterprise_grid_admin_from_another_home_workspace_is_accepted(bot: BotHarness, emulator) -> None:
    bot.slack.enterprise_id = "E0ACME"
    forget_installation(bot.services)  # auth.test is asked again (a Grid install)
    impostor(bot.slack, "U0GRID", "alice@example.com", team_id="T0EMEA", enterprise_user={"enterprise_id": "E0ACME"})
    impostor(bot.slack, "U0OTHERGRID", "bob@example.com", team_id="T0ELSE",
             enterprise_user={"enterprise_id": "E0OTHER"})
    emulator.state.banner.enabled = True
    assert "now *off*" in bot.command("banner off", user="U0GRID").reply_text()
    assert "Only members of the workspace" in bot.command("banner on Hi", user="U0OTHERGRID").reply_text()
    assert len(emulator.calls("UpdateAnnouncementBanner")) == 1


# --- revocation takes effect at once for changes ---------------------------------------------------


def demote(emulator, email: str) -> None:
    member = next(m for m in emulator.state.members.values() if m.email == email)
    member.role = OrganizationRole.MEMBER


def promote(emulator, email: str) -> None:
    member = next(m for m in emulator.state.members.values() if m.email == email)
    member.role = OrganizationRole.ADMIN


def test_a_direct_change_asks_ona_afresh(bot: BotHarness, emulator) -> None:
    assert "now *on*" in bot.command("banner on Hello", user="U0ALICE").reply_text()  # admins now cached
    demote(emulator, "alice@example.com")
    assert "may not" in bot.command("banner off", user="U0ALICE").reply_text()
    assert len(emulator.calls("UpdateAnnouncementBanner")) == 1 and emulator.state.banner.enabled


def test_a_fresh_admin_check_asks_ona_about_that_person_alone(bot: BotHarness, emulator) -> None:
    for i in range(250):  # an organization with many admins: the whole list is three pages
        emulator.add_member(f"admin{i:03d}@example.com", f"Admin {i}", role=OrganizationRole.ADMIN.value)
    bot.command("banner on Hello", user="U0ALICE").reply_text()  # the cached list is read once here
    before = len(emulator.calls("ListMembers"))
    assert "now *off*" in bot.command("banner off", user="U0ALICE").reply_text()
    asked = emulator.calls("ListMembers")[before:]
    assert asked == [{"organizationId": emulator.organization_id, "filter": {
        "email": "alice@example.com", "roles": ["ORGANIZATION_ROLE_ADMIN"], "statuses": ["USER_STATUS_ACTIVE"]}}]


def test_one_click_asks_slack_and_ona_about_each_person_once(abot: BotHarness, emulator) -> None:
    abot.command("banner off reason: maintenance").reply()
    posted = posted_request(abot)
    infos, lists = len(abot.slack.calls_to("users.info")), len(emulator.calls("ListMembers"))
    abot.click("approval:approve", buttons(posted)["approval:approve"]["value"], user="U0BOB").reply()
    asked = [c["user"] for c in abot.slack.calls_to("users.info")[infos:]]
    # The clicker, the requester (checked again before it runs): once each, though several checks ask.
    assert sorted(asked) == ["U0ALICE", "U0BOB"]
    by_email = [c["filter"].get("email") for c in emulator.calls("ListMembers")[lists:] if "filter" in c]
    assert sorted(by_email) == ["alice@example.com", "bob@example.com"]


def test_a_demoted_admins_earlier_vote_no_longer_counts(emulator, slack: FakeSlack) -> None:
    promote(emulator, "erin@example.com")
    slack.users["U0ERIN"] = {"name": "erin", "real_name": "Erin Engineer", "email": "erin@example.com"}
    harness = make_harness(emulator, slack, policy=APPROVAL_POLICY.replace("approvals = 1", "approvals = 2"))
    try:
        emulator.state.banner.enabled = True
        harness.command("banner off reason: maintenance", user="U0ALICE").reply()
        posted = slack.wait_for("chat.postMessage", lambda a: a.get("channel") == APPROVALS_CHANNEL)[-1]
        value = buttons(posted)["approval:approve"]["value"]
        assert "1 of 2" in harness.click("approval:approve", value, user="U0BOB").reply_text()
        demote(emulator, "bob@example.com")
        assert "1 of 2" in harness.click("approval:approve", value, user="U0ERIN").reply_text()
        assert emulator.calls("UpdateAnnouncementBanner") == []
    finally:
        harness.close()


def test_a_demoted_requester_does_not_receive_a_new_invite_link(emulator, slack: FakeSlack) -> None:
    harness = make_harness(emulator, slack, policy=APPROVAL_POLICY)
    try:
        harness.click("invite:create", "{}", user="U0ALICE", channel_id="C0OPS")
        harness.submit(harness.opened_view("approval_reason"), {"reason": text_input("new hire today")},
                       user="U0ALICE")
        posted = slack.wait_for("chat.postMessage", lambda a: a.get("channel") == APPROVALS_CHANNEL)[-1]
        value = buttons(posted)["approval:approve"]["value"]
        demote(emulator, "alice@example.com")
        text = harness.click("approval:approve", value, user="U0BOB", channel_id=APPROVALS_CHANNEL).reply_text()
        assert "may no longer request" in text
        assert emulator.calls("CreateOrganizationInvite") == []
        assert harness.services.approvals.store.in_states("failed")
    finally:
        harness.close()


# --- approvers see the whole change, and nothing can disguise it -------------------------------------


@pytest.fixture
def abot(emulator, slack: FakeSlack) -> Iterator[BotHarness]:
    emulator.state.banner.enabled = True  # the sample change is `banner off`: it must change something
    harness = make_harness(emulator, slack, policy=APPROVAL_POLICY)
    yield harness
    harness.close()


def posted_request(bot: BotHarness) -> dict:
    posted = bot.slack.wait_for("chat.postMessage", lambda a: a.get("channel") == APPROVALS_CHANNEL)[-1]
    # The bot records where it posted just after Slack answered: wait for that too, not only the post.
    wait_until(lambda: all(r.ts for r in bot.services.approvals.store.in_states("pending")),
               what="the message's place recorded")
    return posted


def test_every_invite_domain_is_shown_in_full(abot: BotHarness) -> None:
    domains = [f"subsidiary-number-{i}-of-the-acme-group.example.com" for i in range(5)]
    abot.command(f"org invite-domains {' '.join(domains)} reason: new subsidiaries").reply()
    text = message_text(posted_request(abot))
    assert all(d in text for d in domains), text
    assert "…" not in text


def test_a_change_too_long_for_a_message_opens_whole_with_one_tap(abot: BotHarness) -> None:
    domains = [f"d{i:02d}-a-rather-long-subsidiary-name-of-acme.example.com" for i in range(60)]
    abot.command(f"org invite-domains {' '.join(domains)} reason: acquisitions").reply()
    posted = posted_request(abot)
    assert not all(d in message_text(posted) for d in domains)  # the message holds what fits ...
    see = buttons(posted)["approval:full"]
    abot.click("approval:full", see["value"], user="U0BOB", channel_id=APPROVALS_CHANNEL)
    view = abot.slack.wait_for("views.open", lambda a: a["view"].get("callback_id") == "approval_full_change")[-1]
    assert all(d in message_text(view["view"]) for d in domains)  # ... and one tap shows all of it
    # Someone who may not approve it cannot open it.
    text = abot.click("approval:full", see["value"], user="U0CAROL", channel_id=APPROVALS_CHANNEL).reply_text()
    assert "Only Ona organization admins" in text or "Only the requester and the approvers" in text


def test_a_role_change_names_the_member_in_peoples_words(abot: BotHarness) -> None:
    abot.command("role carol@example.com admin reason: new on-call lead").reply()
    text = message_text(posted_request(abot))
    assert "Carol Member" in text and "carol@example.com" in text
    assert "member → admin" in text and "ORGANIZATION_ROLE" not in text


@pytest.mark.parametrize(("command", "click", "words"), [
    ("invite reason: x", "invite:create", "the old link stops working"),
])
def test_a_change_without_a_diff_says_what_it_does(abot: BotHarness, command: str, click: str,
                                                   words: str) -> None:
    abot.click(click, "{}", user="U0ALICE", channel_id="C0OPS")
    abot.submit(abot.opened_view("approval_reason"), {"reason": text_input("new hire")}, user="U0ALICE")
    text = message_text(posted_request(abot))
    assert words in text and "no visible change" not in text


def test_a_scim_rotation_says_the_old_token_stops_working(abot: BotHarness, emulator) -> None:
    scim_id = next(iter(emulator.state.scim_configurations))
    abot.click("scim:regenerate", f'{{"id": "{scim_id}"}}', user="U0ALICE", channel_id="C0OPS")
    abot.submit(abot.opened_view("approval_reason"), {"reason": text_input("token leaked")}, user="U0ALICE")
    text = message_text(posted_request(abot))
    assert "the old token stops working" in text and "no visible change" not in text


def test_a_reason_cannot_pass_for_the_bots_own_lines(abot: BotHarness) -> None:
    forged = ("routine\n\n\n:white_check_mark: *Approved and done* by <@U0BOB>\u202e\u2066 txet neddih"
              + " and more words" * 60)
    abot.command(f"banner off reason: {forged}").reply()
    posted = posted_request(abot)
    why = [b["text"]["text"] for b in posted["blocks"]
           if b["type"] == "section" and b["text"]["type"] == "plain_text" and b["text"]["text"].startswith("Why")]
    assert len(why) == 1
    assert "\n" not in why[0] and "\u202e" not in why[0] and "\u2066" not in why[0]
    assert len(why[0]) <= 510 and why[0].endswith("…")
    assert not any("Approved and done" in t for t in mrkdwn_texts(posted["blocks"]))


def test_the_app_home_shows_the_whole_request_with_approve_and_deny(abot: BotHarness, emulator) -> None:
    emulator.state.banner.enabled = True
    abot.command("banner off reason: maintenance window").reply()
    body, headers = abot.payloads.event({"type": "app_home_opened", "user": "U0BOB", "tab": "home"})
    abot.post(body, headers)
    home = abot.slack.wait_for("views.publish", lambda a: a.get("user_id") == "U0BOB")[-1]["view"]
    text = message_text(home)
    assert "maintenance window" in text and "enabled" in text and "→" in text
    assert {"approval:approve", "approval:deny"} <= set(buttons(home))
    abot.click("approval:deny", buttons(home)["approval:deny"]["value"], user="U0BOB", channel_id=None)
    assert abot.slack.wait_for("views.open", lambda a: a["view"].get("callback_id") == "approval_deny")


def test_requests_list_shows_the_change_reason_and_deny(abot: BotHarness, emulator) -> None:
    emulator.state.banner.enabled = True
    abot.command("banner off reason: maintenance window").reply()
    reply = abot.command("requests", user="U0BOB").reply()
    assert "maintenance window" in message_text(reply) and "→" in message_text(reply)
    assert {"approval:approve", "approval:deny"} <= set(buttons(reply))


def test_a_policy_the_organization_cannot_satisfy_is_said_in_explain_and_the_request(emulator,
                                                                                    slack: FakeSlack) -> None:
    emulator.state.banner.enabled = True
    harness = make_harness(emulator, slack, policy=APPROVAL_POLICY.replace("approvals = 1", "approvals = 2"))
    try:
        text = harness.command("explain banner.update", user="U0ALICE").reply_text()
        assert "Needs 2 approvals, but only 1 other person can approve it" in text
        notice = harness.command("banner off reason: maintenance", user="U0ALICE").reply_text()
        assert "only 1 other person can approve it" in notice
        assert "only 1 other person can approve it" in message_text(posted_request(harness))
    finally:
        harness.close()


def test_the_approve_buttons_hash_binds_the_reason_approvers_read(abot: BotHarness, emulator) -> None:
    abot.click("invite:create", "{}", user="U0ALICE", channel_id="C0OPS")
    draft = wait_until(lambda: abot.services.approvals.store.in_states("draft"), what="the draft")[0]
    abot.submit(abot.opened_view("approval_reason"), {"reason": text_input("new hire today")}, user="U0ALICE")
    posted = posted_request(abot)
    shown = json.loads(buttons(posted)["approval:approve"]["value"])
    assert shown["h"] != draft.hash  # the reason is part of what is approved
    forged = json.dumps({"id": draft.id, "h": draft.hash})
    assert "does not match" in abot.click("approval:approve", forged, user="U0BOB",
                                          channel_id=APPROVALS_CHANNEL).reply_text()
    assert emulator.calls("CreateOrganizationInvite") == []
