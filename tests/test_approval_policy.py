"""The approval policy: the built-in default, a TOML file validated with line numbers, /ona explain,
and the audit CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.approvals.policy import DEFAULT_POLICY, PolicyError, load_policy, parse_policy
from bot.bootstrap import policy_names
from bot.mutations import operations_of
from commands import GROUPS
from tests.harness import BotHarness, make_harness

KNOWN = policy_names(operations_of(GROUPS))


def test_builtin_default_matches_the_rules() -> None:
    policy = load_policy(None, KNOWN)
    assert not policy.rule("banner.update").needs_approval
    assert not policy.rule("domain.add").needs_approval and not policy.rule("domain.verify").needs_approval
    assert policy.rule("policies.update").needs_approval and policy.rule("policies.update").approvals == 1
    for two in ("scim.regenerate_token", "sso.remove", "sso.deactivate", "members.grant_admin"):
        assert policy.rule(two).approvals == 2, two
    assert policy.rule("invite.create").approvers == ("ona:admins",)


def test_notify_and_remind_at_are_read_per_operation() -> None:
    text = ('[defaults]\nremind_at = false\n\n[operations."sso.remove"]\nnotify = "@S0ONCALL"\nremind_at = 0.25\n'
            '\n[operations."invite.create"]\nnotify = "channel"\nremind_at = true\n')
    policy = parse_policy(text, "policy.toml", KNOWN)
    assert (policy.rule("sso.remove").notify, policy.rule("sso.remove").remind_at) == ("S0ONCALL", 0.25)
    assert (policy.rule("invite.create").notify, policy.rule("invite.create").remind_at) == ("channel", 0.5)
    assert (policy.rule("banner.update").notify, policy.rule("banner.update").remind_at) == ("dm", 0.0)
    assert (load_policy(None, KNOWN).rule("sso.remove").notify, load_policy(None, KNOWN).rule("x").remind_at) == (
        "dm", 0.5)


def test_notify_next_to_approval_none_is_refused_at_start() -> None:
    from bot.approvals.policy_check import PolicyText, static_problems

    text = '[defaults]\nremind_at = 0.25\n\n[operations."banner.update"]\napproval = "none"\nnotify = "channel"\n'
    problems = static_problems(parse_policy(text, "policy.toml", KNOWN), PolicyText(text, "policy.toml"), KNOWN)
    assert problems == ['policy.toml line 6: notify can never apply: approval = "none" runs the change at once, '
                        'with no approver to tell or remind']


def test_every_operation_named_by_the_default_exists() -> None:
    parse_policy(DEFAULT_POLICY, "built-in", KNOWN)  # raises on an unknown operation


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ('[defaults]\napproval = "maybe"\n', 2, 'approval must be "none" or "required"'),
        ('[defaults]\napprovals = 0\n', 2, "approvals must be a whole number"),
        ('[defaults]\nttl = "3600s"\n', 2, "ttl"),
        ('[defaults]\nreason = true\n\n[operations."banner.update"]\napprovers = ["bob"]\n', 5, "'bob'"),
        ('[defaults]\n\n[operations."nope.nothing"]\napproval = "none"\n', 3, "unknown operation 'nope.nothing'"),
        ('[defaults]\ncolour = "red"\n', 2, "unknown key 'colour'"),
        ('[defaults\n', 1, "line 1"),
        ('[defaults]\nreason = true\nnotify = "everyone"\n', 3, 'notify must be "dm"'),
        ('[defaults]\n\n[operations."banner.update"]\nnotify = "#oncall"\n', 4, "Slack user group ID"),
        ('[defaults]\nremind_at = 1.5\n', 2, "remind_at must be a fraction of the time to expiry"),
        ('[defaults]\nremind_at = "half"\n', 2, "or false for no reminder"),
    ],
)
def test_errors_name_the_line(text: str, line: int, fragment: str) -> None:
    with pytest.raises(PolicyError) as exc:
        parse_policy(text, "policy.toml", KNOWN)
    assert f"line {line}" in str(exc.value) and fragment in str(exc.value)


def test_a_bad_policy_file_stops_the_bot_with_the_line(tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text('[defaults]\napproval = "required"\napprovals = "two"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "ONA_", "GITPOD_"))}
    env.update({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "ONA_API_KEY": "k",
                "ONA_ORGANIZATION_ID": "3f6c2a9e-8b1d-4e57-a0c4-9d2e7b5f1a63", "ONA_BOT_POLICY_FILE": str(policy)})
    result = subprocess.run([sys.executable, "-m", "bot.cli", "serve"], env=env, capture_output=True, text=True,
                            timeout=60, cwd=tmp_path)
    assert result.returncode == 2
    assert f"{policy} line 3: approvals must be a whole number" in result.stderr
    assert "Traceback" not in result.stderr


def test_explain_says_who_and_by_which_rule(emulator, slack) -> None:
    bot: BotHarness = make_harness(emulator, slack, policy=None)  # the built-in policy
    try:
        text = bot.command("explain policies.update").reply_text()
        assert "1 approver from Ona organization admins" in text
        assert bot.command("explain policies").reply_text() == text  # the words people use
        assert "Who may change organization policies?" in text and "policies.update" not in text
        assert "built-in policy line" in text
        assert "*Approvers are told:* by direct message; reminded halfway to expiry, if they have not voted" in text
        text = bot.command("explain banner.update <@U0CAROL|carol>").reply_text()
        assert "none, runs at once" in text and "<@U0CAROL> may not request it" in text
        assert "Approvers are told" not in text  # nobody to tell when it runs at once
        text = bot.command("explain members.grant_admin <@U0BOB>").reply_text()
        assert "2 different approvers" in text and "<@U0BOB> may request it" in text
        assert bot.command("explain admin <@U0BOB|bob>").reply_text() == text
        assert "2 different approvers" not in bot.command("explain role").reply_text()
        assert "Who may update the announcement banner" in bot.command("explain banner").reply_text()
        assert "Who may create a new invite link" in bot.command("explain invite").reply_text()
        unknown = bot.command("explain frobnicate").reply_text()
        assert "I don't know the change `frobnicate`" in unknown and "`banner`" in unknown
        assert "`sso remove`" in bot.command("explain sso").reply_text()  # which one of the group's
    finally:
        bot.close()


def test_audit_cli_verify_and_export(tmp_path: Path) -> None:
    from bot.approvals.sqlite_store import SqliteStore as Store

    db = tmp_path / "bot.db"
    store = Store(db)
    store.audit(action="direct", user_id="U0ALICE", operation="banner.update", params={"enabled": False},
                outcome="succeeded")
    store.audit(action="direct", user_id="U0BOB", operation="org.rename", params={"name": "X"}, outcome="succeeded")

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "bot.cli", "audit", *args, "--db", str(db)],
                              capture_output=True, text=True, timeout=60)

    assert cli("verify").stdout.startswith("OK: 2 rows")
    jsonl = cli("export", "--format", "jsonl").stdout.splitlines()
    assert len(jsonl) == 2 and '"operation":"org.rename"' in jsonl[1]
    csv_text = cli("export", "--format", "csv").stdout
    assert csv_text.splitlines()[0].startswith("seq,at,team_id") and "banner.update" in csv_text
    import sqlite3

    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE audit SET user_id = 'U0MALLORY' WHERE seq = 1")
    result = cli("verify")
    assert result.returncode == 1 and "row 1 was altered" in result.stdout
