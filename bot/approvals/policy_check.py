"""Policies that can never be satisfied, found at start-up rather than after the votes.

Static (the parsed Policy and its text): more approvals than the rule's approvers could ever give,
and `approval = "none"` next to `approvals = 2` (or next to `notify` or `remind_at`). Against Slack: every user group (S…) the file names
must exist and be readable by the bot. What depends on Ona's current admins is not checked here:
admins come and go, so the request and /ona explain say it instead.

Each problem is one line naming the file and the line.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.approvals.policy import Policy, Rule

_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")
_GROUP = re.compile(r"^S[A-Z0-9]{2,}$")
_HEADER = re.compile(r'^\s*\[\s*(?:operations\s*\.\s*)?"?([^"\]]+?)"?\s*\]\s*(?:#.*)?$')
_KEY = re.compile(r'^\s*"?([A-Za-z_][A-Za-z0-9_.-]*)"?\s*=')


class PolicyText:
    """The file's text: which table sets which key, and on which line (tomllib gives no positions)."""

    def __init__(self, text: str, origin: str) -> None:
        self.origin = origin
        self.data = tomllib.loads(text)
        self._lines: dict[tuple[str, str | None], int] = {}
        table = ""
        for number, line in enumerate(text.splitlines(), start=1):
            header = _HEADER.match(line)
            if header:
                table = header.group(1).strip()
                self._lines.setdefault((table, None), number)
                continue
            key = _KEY.match(line)
            if key and table:
                self._lines.setdefault((table, key.group(1)), number)

    def table(self, name: str) -> dict:
        if name == "defaults":
            return self.data.get("defaults") or {}
        return (self.data.get("operations") or {}).get(name) or {}

    def where(self, table: str, key: str | None = None) -> str:
        line = self._lines.get((table, key)) or self._lines.get((table, None))
        return f"{self.origin} line {line}" if line else self.origin


def static_problems(policy: Policy, text: PolicyText, known_operations: set[str] | None) -> list[str]:
    problems: list[str] = []
    listed = set(policy.operations)
    defaults_apply = known_operations is None or bool(known_operations - listed)
    tables: list[tuple[str, Rule]] = [("defaults", policy.defaults)] if defaults_apply else []
    tables += sorted(policy.operations.items())
    any_required = any(rule.needs_approval for rule in policy.operations.values())
    for name, rule in tables:
        own = text.table(name)
        count = own.get("approvals")
        contradicts = own.get("approval") == "none" and isinstance(count, int) and count > 1
        # In [defaults] it is the count for operations that turn approval on: a contradiction only if none does.
        if contradicts and (name != "defaults" or not any_required):
            problems.append(f'{text.where(name, "approvals")}: approvals = {count} can never apply: '
                            f'approval = "none" runs the change without any approver')
            continue
        told = next((key for key in ("notify", "remind_at") if key in own), None)
        if own.get("approval") == "none" and told and (name != "defaults" or not any_required):
            problems.append(f'{text.where(name, told)}: {told} can never apply: approval = "none" runs the '
                            f'change at once, with no approver to tell or remind')
            continue
        if rule.needs_approval:
            problem = _too_few_approvers(name, rule, text)
            if problem:
                problems.append(problem)
    return problems


def _too_few_approvers(name: str, rule: Rule, text: PolicyText) -> str | None:
    """Only when every approver is a named person can we count them; groups and Ona admins change."""
    approvers = set(rule.approvers)
    if not approvers or not all(_USER.match(p) for p in approvers):
        return None
    available = len(approvers)
    why = f"only {available} approver{'s' if available != 1 else ''} can ever approve"
    requesters = set(rule.requesters)
    if requesters and all(_USER.match(p) for p in requesters) and requesters <= approvers:
        available -= 1  # whoever asks is among them, and nobody approves their own request
        why = (f"every requester is also one of the {len(approvers)} approvers and nobody approves their own "
               f"request, so at most {available} can approve")
    if rule.approvals <= available:
        return None
    own = text.table(name)
    key = "approvals" if "approvals" in own else "approvers" if "approvers" in own else None
    table = name
    if key is None:  # both inherited from [defaults]
        table, key = "defaults", ("approvals" if "approvals" in text.table("defaults") else "approvers")
    subject = "" if name == "defaults" else f" for {name}"
    return f"{text.where(table, key)}: {rule.approvals} approvals needed{subject} can never be reached: {why}"


def group_principals(text: PolicyText) -> Iterator[tuple[str, str, str]]:
    """(table, key, group ID) for every S… named anywhere in the file: requesters, approvers, the group
    `notify` mentions, and any list a later version of the file adds (who may read), wherever its table is."""

    def walk(node: dict, path: list[str]) -> Iterator[tuple[str, str, str]]:
        table = ".".join(path).removeprefix("operations.")
        for key, value in node.items():
            if isinstance(value, dict):
                yield from walk(value, [*path, key])
            elif isinstance(value, list):
                yield from ((table, key, v) for v in value if isinstance(v, str) and _GROUP.match(v))
            elif key == "notify" and isinstance(value, str) and _GROUP.match(value.removeprefix("@")):
                yield table, key, value.removeprefix("@")  # the group mentioned instead of direct messages

    yield from walk(text.data, [])


def group_problems(text: PolicyText, slack: WebClient) -> list[str]:
    """Ask Slack once per group: it must exist and the bot must be able to read its members."""
    problems: list[str] = []
    verdicts: dict[str, str | None] = {}
    for table, key, group in group_principals(text):
        if group not in verdicts:
            verdicts[group] = _group_problem(slack, group)
        if verdicts[group]:
            problems.append(f"{text.where(table, key)}: user group {group} {verdicts[group]}")
    return problems


def _group_problem(slack: WebClient, group: str) -> str | None:
    try:
        slack.usergroups_users_list(usergroup=group)
    except SlackApiError as exc:
        error = exc.response.get("error")
        if error == "no_such_subteam":
            return "does not exist in this workspace"
        if error == "missing_scope":
            return "cannot be read: the Slack app lacks the usergroups:read scope (add it and reinstall the app)"
        if error == "subteam_disabled" or error == "usergroup_disabled":
            return "is disabled"
        return f"cannot be read (Slack answered {error})"
    return None
