"""`ona-bot demo`: the walk-through end to end (transcript and Ona's request log), the renderer, the
shell's own commands, colour rules, and leaving cleanly."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import bot.demo as demo
from bot.demo.mrkdwn import Viewer
from bot.demo.render import Renderer
from bot.demo.session import Session
from bot.demo.shell import Shell
from bot.demo.terminal import Style, width_of
from tests.blockkit import check_call

ROOT = Path(__file__).resolve().parents[1]
WALKTHROUGH = ROOT / "demo" / "walkthrough.txt"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture
def session() -> Iterator[Session]:
    with Session() as s:
        yield s


def run_script(session: Session, text: str) -> str:
    out = io.StringIO()
    Shell(session, out, script=True).run_script(text.splitlines())
    return out.getvalue()


def interact(session: Session, text: str) -> tuple[int, str]:
    out = io.StringIO()
    code = Shell(session, out).interact(io.StringIO(text))
    return code, out.getvalue()


def assert_fits(transcript: str, width: int = 80) -> None:
    long = [line for line in transcript.splitlines() if width_of(line) > width]
    assert not long, f"lines wider than {width} columns: {long[:3]}"


# --- the walk-through ---------------------------------------------------------------------------


def test_walkthrough_transcript_and_ona_request_log(session: Session) -> None:
    transcript = run_script(session, WALKTHROUGH.read_text())
    emulator = session.emulator
    org = emulator.organization_id

    # Each line is echoed after its prompt; the modal's answers as they are.
    assert "alice@#ops> /ona policies\n" in transcript
    assert "\n> Max inactivity timeout: 12h\n" in transcript
    assert "bob@#approvals> :click 1\n" in transcript
    # The banner on, then off through its confirm dialog.
    assert "The announcement banner is now on." in transcript
    assert "Turn the banner off?" in transcript and "The announcement banner is now off." in transcript
    assert emulator.calls("UpdateAnnouncementBanner") == [
        {"organizationId": org, "enabled": True, "message": "Planned maintenance Saturday 10:00-12:00 UTC"},
        {"organizationId": org, "enabled": False},
    ]
    # A maintenance window, in alice's time zone, listed with its Cancel button; Ona untouched until then.
    assert "The banner will be on Sat 10:00–12:00 (2 hours)" in transcript and "[3 Cancel Sat 10:00]" in transcript
    # The domain: refused before the DNS record, verified after it (the emulator is the DNS).
    assert "verified" in transcript.split(":dns acme.dev", 1)[1]
    verifies = [r for r in emulator.requests if r["method"] == "VerifyDomain"]
    assert [r["code"] for r in verifies] == ["failed_precondition", None]
    verification = next(iter(emulator.state.domain_verifications.values()))
    assert all(r["body"] == {"domainVerificationId": verification.id} for r in verifies)
    # The policy edit: Ona's limit shown in the form, then the reason modal, then the request.
    assert "✘ Ona needs at least 30m (or 0 for no limit)." in transcript
    assert "Modal · Request approval" in transcript and "is waiting for" in transcript
    # Self-approval and a member's approval refused; bob's approval runs the change exactly once.
    assert "You cannot approve your own request: another approver must." in transcript
    assert "You are not an approver of this request" in transcript
    assert "Approved and done — by @bob" in transcript and "Done: Updated 1 policy." in transcript
    assert emulator.calls("UpdateOrganizationPolicies") == [
        {"organizationId": org, "maximumEnvironmentTimeout": "43200s"}]
    # bob was asked by direct message (alice, who asked, was not), and his copy shows the outcome too.
    bobs = transcript.split("carol@#approvals> :as bob", 1)[1].split("bob@#approvals> :as alice", 1)[0]
    assert bobs.index("Direct message from Ona\n│ Your approval is needed") < bobs.index("#approvals · Ona")
    assert "Direct message from Ona · edited\n│ Approval request" in bobs
    assert "Your approval is needed" not in transcript.split("carol@#approvals> :as bob", 1)[0]
    # alice finds the outcome in a direct message, and the audit trail has every step.
    after_switch = transcript.split("bob@#approvals> :as alice", 1)[1]
    assert "Direct message from Ona" in after_switch and "Approved and done" in after_switch
    audit = transcript.rsplit("alice@#approvals> /ona audit", 1)[1]
    for entry in ("Change organization policies — ran after approval: done",
                  "Change organization policies — approved by @bob", "Change organization policies — refused to @carol",
                  "Change organization policies — asked for by @alice", "Verify a domain — done, by @alice",
                  "Start verifying a domain — done", "Update the announcement banner — done, by @alice"):
        assert entry in audit, entry
    assert "policies.update" not in audit and "succeeded" not in audit and "just now" in audit
    # alice's App Home at the end: the control panel, with the banner, its window and her request.
    home = transcript.rsplit("alice@#approvals> :home", 1)[1]
    for part in ("App Home · Ona", "Announcement banner", "[1 Turn on]", "Maintenance windows", "Cancel Sat 10:00",
                 "Your requests", "Change organization policies", "Last changes"):
        assert part in home, part
    assert "demo error" not in transcript and "Traceback" not in transcript
    assert "\x1b[" not in transcript
    assert_fits(transcript)
    # Everything the bot sent was valid Block Kit within Slack's limits.
    for call in session.slack.calls:
        check_call(call.method, call.args)


def test_cli_runs_the_walkthrough_script_without_a_terminal() -> None:
    env = {**os.environ, "NO_COLOR": ""}  # not a terminal: no colour even without NO_COLOR
    done = subprocess.run([sys.executable, "-m", "bot.cli", "demo", "--script", str(WALKTHROUGH)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert "You cannot approve your own request" in done.stdout and "Approved and done — by @bob" in done.stdout
    assert "\x1b[" not in done.stdout


def test_missing_script_file_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main

    assert main(["demo", "--script", "/nonexistent/walk.txt"]) == 2
    assert capsys.readouterr().err.strip() == "ona-bot demo: cannot read /nonexistent/walk.txt: No such file or directory"


# --- the renderer -------------------------------------------------------------------------------

MESSAGE = {
    "text": "fallback",
    "blocks": [
        {"type": "header", "text": {"type": "plain_text", "text": "Approval needed: Change policies"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": (
            "<@U0ALICE> asks to *change policies* because the nightly builds of the monorepo take far longer "
            "than eight hours &amp; keep timing out. Expires <!date^1700000000^{date_num} {time}|fallback>.")}},
        {"type": "section", "fields": [
            {"type": "mrkdwn", "text": "*State*\n:large_green_circle: On"},
            {"type": "mrkdwn", "text": "*Length*\n44 / 1000"},
            {"type": "mrkdwn", "text": "*Max timeout*\n8h"},
        ]},
        {"type": "divider"},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "approvers: <!subteam^S0ADMINS|admins>"}]},
        {"type": "actions", "elements": [
            {"type": "button", "action_id": "approval:approve", "value": "{\"id\":\"R1\"}", "style": "primary",
             "text": {"type": "plain_text", "text": "Approve"},
             "confirm": {"title": {"type": "plain_text", "text": "Sure?"},
                         "text": {"type": "mrkdwn", "text": "It runs at once."},
                         "confirm": {"type": "plain_text", "text": "Approve"},
                         "deny": {"type": "plain_text", "text": "Cancel"}}},
            {"type": "button", "action_id": "approval:deny", "text": {"type": "plain_text", "text": "Deny"}},
        ]},
    ],
}


def test_renderer_wraps_to_80_columns_numbers_buttons_and_lays_out_fields() -> None:
    buttons: list = []
    viewer = Viewer(users={"U0ALICE": "alice"}, tz="UTC")
    text = Renderer(viewer, Style(False)).item("Ona · only visible to you", MESSAGE, buttons, source="src")
    lines = text.splitlines()
    assert lines[0] == "┌ Ona · only visible to you"
    assert all(line.startswith("│") for line in lines[1:])
    assert_fits(text)
    assert "│ Approval needed: Change policies" in lines
    assert "@alice asks to change policies because" in text  # mention resolved, bold marks gone
    assert "&amp;" not in text and " & keep" in text
    assert "Expires 2023-11-14 22:13." in text.replace("\n│ ", " ")  # <!date> in the viewer's zone
    # Fields: "Label: value", two to a row.
    assert any(re.fullmatch(r"│ +State: ● On +Length: 44 / 1000", line) for line in lines)
    assert any(re.fullmatch(r"│ +Max timeout: 8h", line) for line in lines)
    assert "│ approvers: @admins" in lines
    assert "│ [1 Approve]  [2 Deny]" in lines
    assert [(b.number, b.text, b.action_id, b.item) for b in buttons] == [
        (1, "Approve", "approval:approve", "src"), (2, "Deny", "approval:deny", "src")]
    assert buttons[0].confirm["title"]["text"] == "Sure?"


def test_renderer_numbers_on_from_earlier_buttons_and_breaks_long_words() -> None:
    buttons: list = []
    renderer = Renderer(Viewer(), Style(False), width=40)
    renderer.item("one", {"blocks": [MESSAGE["blocks"][-1]]}, buttons)
    token = "ona-domain-verification=" + "a" * 60
    text = renderer.item("two", {"blocks": [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"Publish `{token}`"},
         "accessory": {"type": "button", "action_id": "domain:verify", "text": {"type": "plain_text",
                                                                                 "text": "Verify"}}}]}, buttons)
    assert_fits(text, 40)
    assert "[3 Verify]" in text
    assert "".join(line.removeprefix("│ ") for line in text.splitlines()[1:]).count("a") >= 60


def test_colour_only_on_a_terminal_and_never_with_no_color() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert demo.use_color(Tty(), {}) is True
    assert demo.use_color(Tty(), {"NO_COLOR": "1"}) is False
    assert demo.use_color(Tty(), {"TERM": "dumb"}) is False
    assert demo.use_color(io.StringIO(), {}) is False
    coloured = Renderer(Viewer(), Style(True)).item("label", MESSAGE, [])
    plain = Renderer(Viewer(), Style(False)).item("label", MESSAGE, [])
    assert "\x1b[1m" in coloured and "\x1b[" not in plain
    assert ANSI.sub("", coloured) == plain  # the same text, only styled


def test_no_color_is_honoured_by_the_entry_point(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setenv("NO_COLOR", "1")
    out = Tty()
    args = type("Args", (), {"script": None})()
    assert demo.main(args, stdin=io.StringIO("/ona banner\n"), stdout=out) == 0
    assert "Announcement banner" in out.getvalue() and "\x1b[" not in out.getvalue()


# --- the shell ----------------------------------------------------------------------------------


def test_unknown_person_and_unknown_shell_command_get_friendly_answers(session: Session) -> None:
    transcript = run_script(session, ":as dave\n:clik 1\n:frobnicate\npolicies\n/other thing\n:who\n")
    assert "There is nobody called dave here. Choose one of: alice (Ona admin), bob (Ona admin), carol" in (
        transcript.replace("\n", " "))
    assert "Unknown shell command :clik. Did you mean :click? :help lists them." in transcript
    assert "Unknown shell command :frobnicate. :help lists them." in transcript
    assert "Type /ona policies … to talk to the bot" in transcript
    assert "Only /ona is installed in this workspace (not /other)." in transcript
    assert "You are alice (Ona admin) in #ops." in transcript  # still alice
    assert session.emulator.requests == []


def test_help_lists_every_shell_command_within_80_columns(session: Session) -> None:
    transcript = run_script(session, ":help\n")
    for command in (":as", ":in", ":click", ":home", ":dns", ":help", ":quit", "> Field: value", "> submit"):
        assert command in transcript
    assert_fits(transcript)


def test_eof_ends_the_interactive_loop_cleanly(session: Session) -> None:
    code, out = interact(session, "/ona banner\n")
    assert code == 0
    assert "alice@#ops> /ona banner" in out and "Announcement banner" in out
    assert out.rstrip().endswith("the temporary database are gone.")


def test_ctrl_c_leaves_cleanly(session: Session) -> None:
    class CtrlC(io.StringIO):
        def readline(self, *args: object) -> str:
            raise KeyboardInterrupt

    out = io.StringIO()
    assert Shell(session, out).interact(CtrlC()) == 0
    assert "gone." in out.getvalue() and "Traceback" not in out.getvalue()


def test_ctrl_c_in_a_modal_closes_it_and_leaves(session: Session) -> None:
    class CtrlCInForm(io.StringIO):
        def readline(self, *args: object) -> str:
            line = super().readline()
            if not line:
                raise KeyboardInterrupt
            return line

    out = io.StringIO()
    assert Shell(session, out).interact(CtrlCInForm("/ona banner set\nHello\n")) == 0
    assert "(closed “Announcement banner” without submitting)" in out.getvalue()
    assert "gone." in out.getvalue() and session.emulator.calls("UpdateAnnouncementBanner") == []


def test_interactive_modal_asks_field_by_field_and_again_after_an_error(session: Session) -> None:
    # Nine fields: keep all but the timeout; 10m is refused by the bot, so only the timeout is asked
    # again; then the reason modal (empty first: Slack's own "required" check), then the request.
    answers = "\n\n10m\n\n\n\n\n\n\ny\n" + "12h\ny\n" + "\ny\n" + "Builds take 9h\ny\n"
    code, out = interact(session, "/ona policies edit\n" + answers)
    assert code == 0
    assert "Max inactivity timeout [8h]: 10m" in out
    assert "✘ Ona needs at least 30m (or 0 for no limit)." in out
    assert "Max inactivity timeout [10m]: 12h" in out
    assert out.count("Allowed editors [") == 1  # asked once: the error named only the timeout
    assert "Please complete this required field." in out
    assert "is waiting for" in out
    store = session.services.approvals.store
    [request] = store.in_states("pending")
    assert request.params == {"maximum_environment_timeout": 43200} and request.reason == "Builds take 9h"
    assert session.emulator.calls("UpdateOrganizationPolicies") == []  # it waits for an approver


def test_confirm_dialog_answered_no_sends_nothing(session: Session) -> None:
    session.emulator.state.banner.enabled = True
    session.emulator.state.banner.message = "Hello"
    code, out = interact(session, "/ona banner\n:click 1\nn\n:click 9\n")
    assert code == 0
    assert "Turn the banner off?" in out and "Cancelled: nothing was sent." in out
    assert "There is no button 9: the last message(s) showed buttons 1–2." in out
    assert session.emulator.calls("UpdateAnnouncementBanner") == []


def test_script_modal_answers_banner_preview_then_publish(session: Session) -> None:
    transcript = run_script(session, "/ona banner set\n> Message: Deploy freeze\n> Visibility: 1\n"
                                     "> Nonsense: x\n> submit\n> submit\n> submit\n")
    assert "“Nonsense” is not a field of this form. Fields: Message, Visibility." in transcript
    assert "Modal · Announcement banner" in transcript and "▎ Deploy freeze" in transcript  # the preview
    assert "The announcement banner is now on." in transcript
    assert "No modal is open" in transcript  # the third submit had nothing to answer
    assert session.emulator.calls("UpdateAnnouncementBanner") == [
        {"organizationId": session.emulator.organization_id, "enabled": True, "message": "Deploy freeze"}]


def test_modal_left_open_in_a_script_is_closed_without_submitting(session: Session) -> None:
    transcript = run_script(session, "/ona banner set\n> Message: never sent\n/ona banner\n")
    assert "(closed “Announcement banner” without submitting)" in transcript
    assert session.emulator.calls("UpdateAnnouncementBanner") == []


def test_home_dns_and_unread_messages_follow_the_person(session: Session) -> None:
    transcript = run_script(session, "\n".join([
        ":dns nowhere.example",
        "/ona banner off reason: quiet week",  # banner.update runs directly: nothing to approve
        "/ona policies edit",
        "> Max inactivity timeout: 9h",
        "> submit",
        "> Reason: longer",
        "> submit",
        ":as bob",
        ":home",
        ":click 1",
    ]))
    assert "No pending verification of nowhere.example. Start one with /ona domain add" in transcript
    assert "Ona posted in #approvals (:in #approvals to see it)." in transcript
    assert "Unread: #approvals (1)" in transcript  # bob is in #ops: the request waits in #approvals
    home = transcript.split("bob@#ops> :home", 1)[1]
    assert "App Home · Ona" in home and "Waiting for your approval" in home and "[1 Approve]" in home
    # Approving from the Home tab: no response_url there, so the answer comes as a direct message.
    assert "Direct message from Ona" in transcript.split("bob@#ops> :click 1", 1)[1]
    assert session.emulator.calls("UpdateOrganizationPolicies") == [
        {"organizationId": session.emulator.organization_id, "maximumEnvironmentTimeout": "32400s"}]


def test_readme_starts_with_make_demo_and_shows_the_walkthroughs_output() -> None:
    readme = (ROOT / "README.md").read_text()
    first_command = re.search(r"```\n(\S.*)\n", readme)
    assert first_command and first_command.group(1).startswith("make demo")
    assert "make test" in readme
    section = readme.split("## Try it without Slack", 1)[1].split("\n## ", 1)[0]
    for line in WALKTHROUGH.read_text().splitlines():  # the transcript pasted in is this script's
        if line.strip() and not line.startswith("#"):
            assert line in section, line
    assert "You cannot approve your own request" in section and "Approved and done — by @bob" in section
