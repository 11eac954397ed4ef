"""An operator's mistakes stop `ona-bot serve`/`run` at start with one line, before anyone votes:
every missing variable at once, a rejected Slack token, an Ona key that is not an admin's, and a
policy that can never be satisfied (naming the file and the line). Driven as an operator starts the
bot (a subprocess), against the fake Slack and the Ona emulator."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bot.bootstrap import preflight
from bot.localslack import FakeSlack
from tests.harness import make_settings


def _run(env: dict[str, str], *args: str, cwd: Path | str = "/") -> subprocess.CompletedProcess[str]:
    """The real command; a check that does not stop it leaves it serving, which the timeout turns into a failure."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "ONA_", "GITPOD_"))}
    try:
        return subprocess.run([sys.executable, "-m", "bot.cli", *args], env={**clean, **env}, capture_output=True,
                              text=True, timeout=30, cwd=cwd)
    except subprocess.TimeoutExpired:
        pytest.fail(f"ona-bot {' '.join(args)} did not stop at start")


def _env(emulator, slack: FakeSlack, tmp_path: Path, **overrides: str) -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": "xoxb-start", "SLACK_SIGNING_SECRET": "s", "SLACK_API_URL": slack.url + "/api",
        "ONA_API_KEY": emulator.admin_key, "ONA_BASE_URL": emulator.base_url,
        "ONA_ORGANIZATION_ID": emulator.organization_id, "ONA_BOT_DB": str(tmp_path / "bot.db"), **overrides,
    }


def _serve(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return _run(env, "serve", "--host", "127.0.0.1", "--port", "0", cwd=tmp_path)


def _one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if needle in line)


# --- settings -----------------------------------------------------------------------------------


def test_every_missing_variable_is_named_at_once() -> None:
    result = _run({}, "serve")
    assert result.returncode == 2
    assert _one_line(result) == ("ona-bot: SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, ONA_API_KEY and ONA_ORGANIZATION_ID "
                                 "are not set")
    result = _run({"SLACK_SIGNING_SECRET": "s", "ONA_ORGANIZATION_ID": "acme"}, "run")
    assert result.returncode == 2
    line = _one_line(result)
    assert line.startswith("ona-bot: SLACK_BOT_TOKEN, SLACK_APP_TOKEN and ONA_API_KEY are not set")
    assert "ONA_ORGANIZATION_ID must be the organization's UUID" in line


# --- Slack and Ona credentials ------------------------------------------------------------------


def test_a_rejected_slack_token_is_one_line_naming_slack_bot_token(emulator, slack: FakeSlack, tmp_path) -> None:
    slack.rejected_tokens.add("xoxb-revoked")
    result = _serve(_env(emulator, slack, tmp_path, SLACK_BOT_TOKEN="xoxb-revoked"), tmp_path)
    assert result.returncode == 2
    line = _one_line(result)
    assert line.startswith("ona-bot: SLACK_BOT_TOKEN was rejected by Slack")
    assert "invalid_auth" not in line
    assert slack.calls_to("auth.test")


def test_slack_out_of_reach_is_one_line(emulator, slack: FakeSlack, tmp_path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]  # nothing listens once the socket is closed
    result = _serve(_env(emulator, slack, tmp_path, SLACK_API_URL=f"http://127.0.0.1:{closed}/api"), tmp_path)
    assert result.returncode == 1
    assert _one_line(result).startswith(f"ona-bot: Slack could not be reached at http://127.0.0.1:{closed}/api/")


def test_an_ona_key_that_is_not_an_admins_stops_start_up(emulator, slack: FakeSlack, tmp_path) -> None:
    result = _serve(_env(emulator, slack, tmp_path, ONA_API_KEY=emulator.member_key), tmp_path)
    assert result.returncode == 2
    assert _one_line(result) == ("ona-bot: ONA_API_KEY belongs to carol@example.com, who is not an admin in the "
                                 "organization: the bot needs an organization admin's API key")
    assert emulator.calls("ListMembers")  # Ona was asked, with the key under test


def test_an_unknown_ona_key_is_named(emulator, slack: FakeSlack, tmp_path) -> None:
    result = _serve(_env(emulator, slack, tmp_path, ONA_API_KEY="not-a-key"), tmp_path)
    assert result.returncode == 2
    assert _one_line(result).startswith("ona-bot: ONA_API_KEY was rejected by Ona")


def test_a_good_configuration_passes_the_checks(emulator, slack: FakeSlack, tmp_path) -> None:
    """What cli.main runs before serving: auth.test (the installed workspace), the groups, Ona's answer."""
    policy = tmp_path / "policy.toml"
    policy.write_text('[defaults]\napprovers = ["S0ONCALL", "ona:admins"]\n')
    slack.usergroups["S0ONCALL"] = ["U0BOB"]
    installation = preflight(make_settings(emulator, slack, ONA_BOT_POLICY_FILE=str(policy),
                                           ONA_BOT_DB=str(tmp_path / "bot.db")))
    assert installation.team_id == slack.team_id and installation.bot_user_id == "U0BOT"
    assert slack.calls_to("usergroups.users.list") == [{"usergroup": "S0ONCALL"}]


# --- policies that can never be satisfied -------------------------------------------------------


def _policy_result(emulator, slack, tmp_path, text: str) -> tuple[str, Path]:
    policy = tmp_path / "policy.toml"
    policy.write_text(text)
    result = _serve(_env(emulator, slack, tmp_path, ONA_BOT_POLICY_FILE=str(policy)), tmp_path)
    assert result.returncode == 2, result.stderr
    return _one_line(result), policy


def test_more_approvals_than_named_approvers_names_the_line(emulator, slack, tmp_path) -> None:
    text = ('[defaults]\napproval = "required"\n\n[operations."members.grant_admin"]\n'
            'approvers = ["U0ALICE", "U0BOB"]\napprovals = 3\n')
    line, policy = _policy_result(emulator, slack, tmp_path, text)
    assert line == (f"ona-bot: {policy} line {_line_of(text, 'approvals = 3')}: 3 approvals needed for "
                    "members.grant_admin can never be reached: only 2 approvers can ever approve")


def test_requesters_who_are_the_only_approvers_cannot_approve_themselves(emulator, slack, tmp_path) -> None:
    text = ('[defaults]\nrequesters = ["U0ALICE", "U0BOB"]\napprovers = ["U0ALICE", "U0BOB"]\n'
            'approvals = 2\n')
    line, policy = _policy_result(emulator, slack, tmp_path, text)
    assert line.startswith(f"ona-bot: {policy} line {_line_of(text, 'approvals = 2')}: 2 approvals needed can never "
                           "be reached: every requester is also one of the 2 approvers")


def test_approval_none_with_two_approvals_names_the_line(emulator, slack, tmp_path) -> None:
    text = '[defaults]\napproval = "required"\n\n[operations."banner.update"]\napproval = "none"\napprovals = 2\n'
    line, policy = _policy_result(emulator, slack, tmp_path, text)
    assert line == (f'ona-bot: {policy} line {_line_of(text, "approvals = 2")}: approvals = 2 can never apply: '
                    'approval = "none" runs the change without any approver')


def test_a_user_group_that_does_not_exist_names_the_line(emulator, slack, tmp_path) -> None:
    slack.usergroups["S0ONCALL"] = ["U0BOB"]
    text = '[defaults]\napprovers = ["ona:admins"]\n\n[operations."sso.remove"]\napprovers = ["S0ONCALL", "S0GONE"]\n'
    line, policy = _policy_result(emulator, slack, tmp_path, text)
    assert line == (f"ona-bot: {policy} line {_line_of(text, 'S0GONE')}: user group S0GONE does not exist in this "
                    "workspace")


def test_a_user_group_to_notify_that_does_not_exist_names_the_line(emulator, slack, tmp_path) -> None:
    text = '[defaults]\napprovers = ["ona:admins"]\n\n[operations."sso.remove"]\nnotify = "@S0GONE"\n'
    line, policy = _policy_result(emulator, slack, tmp_path, text)
    assert line == (f"ona-bot: {policy} line {_line_of(text, 'S0GONE')}: user group S0GONE does not exist in this "
                    "workspace")


def test_a_user_group_the_bot_cannot_read_names_the_scope(emulator, slack, tmp_path) -> None:
    slack.usergroups["S0ONCALL"] = ["U0BOB"]
    slack.missing_scopes.add("usergroups:read")
    text = '[defaults]\nrequesters = ["S0ONCALL"]\n'
    line, policy = _policy_result(emulator, slack, tmp_path, text)
    assert line.startswith(f"ona-bot: {policy} line 2: user group S0ONCALL cannot be read")
    assert "usergroups:read" in line


def test_needs_that_depend_on_onas_admins_do_not_stop_start_up(emulator, slack, tmp_path) -> None:
    """Admins come and go: ten approvals from admins is for the request and /ona explain to say."""
    from bot.bootstrap import load_settings_policy

    policy = tmp_path / "policy.toml"
    policy.write_text('[defaults]\napprovals = 10\napprovers = ["ona:admins", "U0CAROL"]\n')
    settings = make_settings(emulator, slack, ONA_BOT_POLICY_FILE=str(policy), ONA_BOT_DB=str(tmp_path / "bot.db"))
    assert load_settings_policy(settings).defaults.approvals == 10
    preflight(settings)
