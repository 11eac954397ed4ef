"""Who may request and who may approve each operation: a TOML file, or the built-in default.

    [defaults]                      # applies to every operation not listed below
    approval = "required"           # "none" | "required"
    approvals = 1                   # distinct approvers needed
    requesters = ["ona:admins"]     # Slack user IDs (U…/W…), user group IDs (S…), or "ona:admins"
    approvers = ["ona:admins"]
    ttl = "24h"                     # how long a request stays pending (30m, 8h, 2d …)
    reason = true                   # must the requester give a reason?
    notify = "dm"                   # tell approvers: "dm" (a direct message each, the default),
                                    # a user group ID ("S0ONCALL") to mention in the channel instead,
                                    # or "channel" (the channel message only)
    remind_at = 0.5                 # remind those who have not voted at this fraction of the time to
                                    # expiry (0.5: half-way); 0 or false: no reminder

    [operations."banner.update"]    # any key of [defaults] may be overridden per operation
    approval = "none"

    [reads]                         # who may look things up (and use a group's buttons and forms)
    default = ["ona:admins"]        # every command group not listed below
    banner = ["ona:admins", "S0ONCALL"]   # per group: banner, policies, members, sso, audit …

Reads are admin data (members' emails, SSO settings, the audit trail), so by default only Ona
organization admins may read. Whoever may request a change of a group may also read that group.

The file is validated at start-up; errors name the line. Nobody may approve their own request,
whatever the file says (the flow enforces it, not the file).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bot import durations

ONA_ADMINS = "ona:admins"
_PRINCIPAL = re.compile(r"^(ona:admins|[UW][A-Z0-9]{2,}|S[A-Z0-9]{2,})$")
KEYS = {"approval", "approvals", "requesters", "approvers", "ttl", "reason", "notify", "remind_at"}
DM, CHANNEL = "dm", "channel"  # the `notify` values that are not a user group
_GROUP_ID = re.compile(r"^@?(S[A-Z0-9]{2,})$")

DEFAULT_POLICY = """
[defaults]
approval = "required"
approvals = 1
requesters = ["ona:admins"]
approvers = ["ona:admins"]
ttl = "24h"
reason = true

# Quick, reversible, low-risk: admins do these directly.
[operations."banner.update"]
approval = "none"

[operations."domain.add"]
approval = "none"

[operations."domain.verify"]
approval = "none"

# Locking people out or handing out power: two approvers.
[operations."scim.regenerate_token"]
approvals = 2

[operations."sso.remove"]
approvals = 2

[operations."sso.deactivate"]
approvals = 2

[operations."members.grant_admin"]
approvals = 2
"""


class PolicyError(ValueError):
    """A policy file problem, with the line it is on."""


@dataclass(frozen=True)
class Rule:
    operation: str
    approval: str = "required"
    approvals: int = 1
    requesters: tuple[str, ...] = (ONA_ADMINS,)
    approvers: tuple[str, ...] = (ONA_ADMINS,)
    ttl_seconds: int = 86_400
    reason: bool = True
    notify: str = DM  # DM, CHANNEL, or a user group ID (S…) to mention in the channel message
    remind_at: float = 0.5  # fraction of the time to expiry; 0: no reminder
    source: str = "built-in default"  # "policy.toml line 12", for /ona explain

    @property
    def needs_approval(self) -> bool:
        return self.approval == "required"


@dataclass(frozen=True)
class Readers:
    principals: tuple[str, ...] = (ONA_ADMINS,)
    source: str = "built-in default"


@dataclass(frozen=True)
class Policy:
    defaults: Rule
    operations: dict[str, Rule]
    origin: str
    reads: dict[str, Readers] = field(default_factory=dict)  # group name (or "default") → who may read

    def rule(self, operation: str) -> Rule:
        return self.operations.get(operation) or replace(self.defaults, operation=operation)

    def readers(self, group: str) -> Readers:
        return self.reads.get(group) or self.reads.get("default") or Readers()

    def participants(self) -> set[tuple[str, ...]]:
        """Every set of principals the policy lets ask for or approve a change."""
        rules = [self.defaults, *self.operations.values()]
        return {r.requesters for r in rules} | {r.approvers for r in rules if r.needs_approval}


def load_policy(path: Path | None, known_operations: set[str], known_groups: set[str] | None = None) -> Policy:
    if path is None:  # ours: it may name operations a trimmed-down build does not register
        return parse_policy(DEFAULT_POLICY, "built-in policy", None)
    try:
        text = path.read_text()
    except OSError as exc:
        raise PolicyError(f"{path}: cannot be read ({exc.strerror})") from None
    return parse_policy(text, str(path), known_operations, known_groups)


def parse_policy(text: str, origin: str, known_operations: set[str] | None,
                 known_groups: set[str] | None = None) -> Policy:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{origin}: {exc}") from None
    lines = text.splitlines()
    unknown_tables = set(data) - {"defaults", "operations", "reads"}
    if unknown_tables:
        name = sorted(unknown_tables)[0]
        raise PolicyError(f"{origin} line {_line_of(lines, name)}: unknown table [{name}]")
    defaults = _rule(data.get("defaults", {}), Rule(operation="*"), origin, lines, "defaults")
    operations: dict[str, Rule] = {}
    for name, table in (data.get("operations") or {}).items():
        if known_operations is not None and name not in known_operations:
            raise PolicyError(
                f"{origin} line {_line_of(lines, name)}: unknown operation {name!r} "
                f"(known: {', '.join(sorted(known_operations))})"
            )
        operations[name] = _rule(table, replace(defaults, operation=name), origin, lines, name)
    reads = _reads(data.get("reads", {}), origin, lines, known_groups)
    return Policy(defaults=defaults, operations=operations, origin=origin, reads=reads)


def _reads(table: Any, origin: str, lines: list[str], known_groups: set[str] | None) -> dict[str, Readers]:
    if not isinstance(table, dict):
        raise PolicyError(f"{origin} line {_line_of(lines, 'reads')}: [reads] must be a table")
    reads: dict[str, Readers] = {}
    for group, people in table.items():
        where = f"{origin} line {_line_of(lines, group, after='reads')}"
        if group != "default" and known_groups is not None and group not in known_groups:
            raise PolicyError(f"{where}: unknown command group {group!r} "
                              f"(known: default, {', '.join(sorted(known_groups))})")
        _principals(people, f"{where}: {group}")
        reads[group] = Readers(tuple(people), where)
    return reads


def _principals(people: Any, what: str) -> None:
    if not isinstance(people, list) or not people or not all(isinstance(p, str) for p in people):
        raise PolicyError(f"{what} must be a non-empty list of strings")
    bad = [p for p in people if not _PRINCIPAL.match(p)]
    if bad:
        raise PolicyError(f"{what} has {bad[0]!r}: use Slack user IDs (U…), user group IDs (S…) or \"ona:admins\"")


def _rule(table: Any, base: Rule, origin: str, lines: list[str], section: str) -> Rule:
    where = f"{origin} line {_line_of(lines, section)}"
    if not isinstance(table, dict):
        raise PolicyError(f"{where}: [{section}] must be a table")
    unknown = set(table) - KEYS
    if unknown:
        key = sorted(unknown)[0]
        raise PolicyError(f"{origin} line {_line_of(lines, key, after=section)}: unknown key {key!r} "
                          f"(allowed: {', '.join(sorted(KEYS))})")
    values: dict[str, Any] = {"source": where}

    def fail(key: str, why: str) -> PolicyError:
        return PolicyError(f"{origin} line {_line_of(lines, key, after=section)}: {key} {why}")

    if "approval" in table:
        if table["approval"] not in ("none", "required"):
            raise fail("approval", 'must be "none" or "required"')
        values["approval"] = table["approval"]
    if "approvals" in table:
        n = table["approvals"]
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 10:
            raise fail("approvals", "must be a whole number from 1 to 10")
        values["approvals"] = n
    for key in ("requesters", "approvers"):
        if key in table:
            _principals(table[key], f"{origin} line {_line_of(lines, key, after=section)}: {key}")
            values[key] = tuple(table[key])
    if "ttl" in table:
        try:
            seconds = durations.parse(str(table["ttl"]))
        except durations.DurationError as exc:
            raise fail("ttl", str(exc)) from None
        if not 60 <= seconds <= 30 * 86_400:
            raise fail("ttl", "must be between 1m and 30d")
        values["ttl_seconds"] = seconds
    if "reason" in table:
        if not isinstance(table["reason"], bool):
            raise fail("reason", "must be true or false")
        values["reason"] = table["reason"]
    if "notify" in table:
        values["notify"] = _notify(table["notify"], fail)
    if "remind_at" in table:
        values["remind_at"] = _remind_at(table["remind_at"], fail)
    return replace(base, **values)


def _notify(value: Any, fail: Any) -> str:
    """"dm", "channel", or a user group ID (the "@" people type before it is dropped)."""
    group = _GROUP_ID.match(value) if isinstance(value, str) else None
    if value in (DM, CHANNEL):
        return str(value)
    if group:
        return group.group(1)
    raise fail("notify", 'must be "dm" (a direct message to each approver), "channel" (the approvals channel '
                         'only) or a Slack user group ID such as "S0123ABCD" (mentioned in the channel message)')


def _remind_at(value: Any, fail: Any) -> float:
    """A fraction of the time to expiry; false or 0 turns reminders off, true means half-way."""
    if value is False or value == 0:
        return 0.0
    if value is True:
        return 0.5
    if isinstance(value, int | float) and 0 < value < 1:
        return float(value)
    raise fail("remind_at", "must be a fraction of the time to expiry between 0 and 1 (0.5 reminds half-way), "
                            "or false for no reminder")


def _line_of(lines: list[str], key: str, after: str | None = None) -> int:
    """1-based line of a table header or key (tomllib gives no positions for values)."""
    start = 0
    if after:
        for i, line in enumerate(lines):
            if re.search(rf'^\s*\[(operations\.)?"?{re.escape(after)}"?\]', line):
                start = i
                break
    for i in range(start, len(lines)):
        line = lines[i]
        if re.search(rf'(^\s*"?{re.escape(key)}"?\s*=)|(\[(operations\.)?"?{re.escape(key)}"?\])', line):
            return i + 1
    return start + 1
