"""buf.validate, as Ona runs it before every handler: driven by the generated ``RULES`` table.

``RULES`` (bot/ona/rules.py) holds the schema's field rules keyed by message class name and JSON
field name. This module walks a parsed request, applies each rule with protovalidate's semantics
and reports violations in protovalidate's format, with proto (snake_case) field paths::

    validation error:
     - maximum_environment_timeout: value must be 0s (no limit) or at least 1800s (30 minutes) [maximum_environment_timeout]

Semantics kept from protovalidate: a field with presence (``None`` when absent) is checked only when
set; any other field is always checked unless the rule says ``ignore_if_default``; ``required``
means "set" for fields with presence and "not the zero value" otherwise; nested messages, repeated
items and map values are validated recursively. CEL rules are not interpreted: each known CEL rule ID
has a Python equivalent in ``CEL_CHECKS``.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from bot.ona.rules import RULES
from bot.ona.wire import WireEnum, WireModel, format_duration

HOSTNAME_PATTERN: str = RULES["InviteDomains"]["domains"]["items"]["pattern"]

# Checks Ona makes that the schema does not declare: every domain the API takes is a hostname.
EXTRA_RULES: dict[str, dict[str, dict[str, Any]]] = {
    "CreateDomainVerificationRequest": {"domain": {"pattern": HOSTNAME_PATTERN}},
    "CreateCustomDomainRequest": {"domainName": {"pattern": HOSTNAME_PATTERN}},
    "UpdateCustomDomainRequest": {"domainName": {"pattern": HOSTNAME_PATTERN}},
}

# Every rule key this module implements; a test checks RULES uses no other, so a regenerated
# schema with a new kind of rule fails loudly instead of being silently unenforced.
SUPPORTED_RULES = frozenset({
    "required", "ignore_if_default", "cel", "min_len", "max_len", "pattern", "uuid", "uri",
    "gte", "gt", "lte", "lt", "min_items", "max_items", "unique", "items", "defined_only",
})

_DAY = timedelta(days=1)

# CEL rule ID -> the expression's Python equivalent (the value is never None here).
CEL_CHECKS: dict[str, Callable[[Any], bool]] = {
    # this == duration('0s') || this >= duration('1800s')
    "maximum_environment_timeout": lambda d: d == timedelta(0) or d >= timedelta(seconds=1800),
    # int(this) % int(duration('86400s')) == 0
    "archive_environments_after_whole_days": lambda d: d % _DAY == timedelta(0),
}

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*$")
_BOUNDS: dict[str, tuple[Callable[[Any, Any], bool], str]] = {
    "gte": (operator.ge, "greater than or equal to"),
    "gt": (operator.gt, "greater than"),
    "lte": (operator.le, "less than or equal to"),
    "lt": (operator.lt, "less than"),
}


@dataclass(frozen=True)
class Violation:
    path: str
    rule_id: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message} [{self.rule_id}]"


class RequestInvalid(ValueError):
    """A request broke its buf.validate rules; Ona answers ``invalid_argument`` with this text."""

    def __init__(self, violations: list[Violation]) -> None:
        self.violations = violations
        super().__init__("validation error:\n" + "\n".join(f" - {v}" for v in violations))


def _merged_rules() -> dict[str, dict[str, dict[str, Any]]]:
    merged = {message: {name: dict(rule) for name, rule in fields.items()} for message, fields in RULES.items()}
    for message, extra in EXTRA_RULES.items():
        for name, rule in extra.items():
            merged.setdefault(message, {}).setdefault(name, {}).update(rule)
    return merged


EFFECTIVE_RULES = _merged_rules()


def validate(message: WireModel) -> None:
    """Raise RequestInvalid listing every violation in ``message`` (a parsed request)."""
    found = violations(message)
    if found:
        raise RequestInvalid(found)


def violations(message: WireModel, prefix: str = "") -> list[Violation]:
    rules = EFFECTIVE_RULES.get(type(message).__name__, {})
    found: list[Violation] = []
    for name, info in type(message).model_fields.items():
        path = prefix + name
        value = getattr(message, name)
        rule = rules.get(info.alias or name)
        if rule:
            found += _check_field(path, value, info.get_default(call_default_factory=True), rule)
        found += _nested(path, value)
    found += _check_oneofs(message, prefix, rules.get("__oneof__", {}))
    return found


def _check_field(path: str, value: Any, default: Any, rule: dict[str, Any]) -> list[Violation]:
    unset = value is None or value == default
    if rule.get("required") and unset:
        return [Violation(path, "required", "value is required")]
    if value is None or (unset and rule.get("ignore_if_default")):
        return []
    return list(_check_value(path, value, rule))


def _check_value(path: str, value: Any, rule: dict[str, Any]) -> Iterator[Violation]:
    for cel in rule.get("cel", ()):
        if not CEL_CHECKS[cel["id"]](value):
            yield Violation(path, cel["id"], cel["message"])
    if isinstance(value, list):
        yield from _check_repeated(path, value, rule)
    elif isinstance(value, WireEnum):
        if rule.get("defined_only") and value not in type(value):
            yield Violation(path, "enum.defined_only", "value must be one of the defined enum values")
    elif isinstance(value, str):
        yield from _check_string(path, value, rule)
    elif isinstance(value, timedelta):
        yield from _check_bounds(path, "duration", value, rule, lambda s: timedelta(seconds=s), format_duration)
    elif isinstance(value, int) and not isinstance(value, bool):
        yield from _check_bounds(path, "int32", value, rule, int, str)


def _check_string(path: str, value: str, rule: dict[str, Any]) -> Iterator[Violation]:
    if "min_len" in rule and len(value) < rule["min_len"]:
        yield Violation(path, "string.min_len", f"value length must be at least {rule['min_len']} characters")
    if "max_len" in rule and len(value) > rule["max_len"]:
        yield Violation(path, "string.max_len", f"value length must be at most {rule['max_len']} characters")
    if "pattern" in rule and not re.search(rule["pattern"], value):
        yield Violation(path, "string.pattern", f"value does not match regex pattern `{rule['pattern']}`")
    if rule.get("uuid") and not _UUID.match(value):
        yield Violation(path, "string.uuid", "value must be a valid UUID")
    if rule.get("uri") and not _is_uri(value):
        yield Violation(path, "string.uri", "value must be a valid URI")


def _is_uri(value: str) -> bool:
    """An absolute RFC 3986 URI: a scheme, then a non-empty rest; ``//`` must introduce a host."""
    if any(ch.isspace() for ch in value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:  # e.g. an unbalanced IPv6 bracket
        return False
    rest = value[len(parts.scheme) + 1 :]
    if not _SCHEME.match(parts.scheme) or not rest:
        return False
    return bool(parts.netloc) if rest.startswith("//") else True


def _check_bounds(
    path: str,
    kind: str,
    value: Any,
    rule: dict[str, Any],
    convert: Callable[[Any], Any],
    show: Callable[[Any], str],
) -> Iterator[Violation]:
    for name, (holds, words) in _BOUNDS.items():
        if name in rule and not holds(value, convert(rule[name])):
            yield Violation(path, f"{kind}.{name}", f"value must be {words} {show(convert(rule[name]))}")


def _check_repeated(path: str, value: list[Any], rule: dict[str, Any]) -> Iterator[Violation]:
    if "min_items" in rule and len(value) < rule["min_items"]:
        yield Violation(path, "repeated.min_items", f"value must contain at least {rule['min_items']} item(s)")
    if "max_items" in rule and len(value) > rule["max_items"]:
        yield Violation(path, "repeated.max_items", f"value must contain no more than {rule['max_items']} item(s)")
    if rule.get("unique") and any(item in value[:index] for index, item in enumerate(value)):
        yield Violation(path, "repeated.unique", "repeated value must contain unique items")
    if "items" in rule:
        for index, item in enumerate(value):
            yield from _check_value(f"{path}[{index}]", item, rule["items"])


def _nested(path: str, value: Any) -> list[Violation]:
    if isinstance(value, WireModel):
        return violations(value, path + ".")
    items: Any = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    found: list[Violation] = []
    for key, item in items:
        if isinstance(item, WireModel):
            found += violations(item, f"{path}[{key}].")
    return found


def _check_oneofs(message: WireModel, prefix: str, oneofs: dict[str, list[str]]) -> list[Violation]:
    by_alias = {info.alias or name: name for name, info in type(message).model_fields.items()}
    found = []
    for group, members in oneofs.items():
        set_fields = [by_alias[m] for m in members if getattr(message, by_alias[m]) is not None]
        if len(set_fields) > 1:
            names = ", ".join(set_fields)
            found.append(Violation(prefix + group, "oneof", f"only one of {names} can be set"))
    return found
