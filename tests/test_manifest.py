"""manifest.yml: a complete Slack app manifest that asks for exactly the bot scopes the code uses."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
# Web API method (as slack-sdk names it) → the bot scopes it needs. Methods not listed need none.
SCOPES = {
    "chat_postMessage": {"chat:write"}, "chat_update": {"chat:write"}, "chat_postEphemeral": {"chat:write"},
    "conversations_open": {"im:write"}, "users_info": {"users:read", "users:read.email"},
    "users_lookupByEmail": {"users:read.email"},  # an Ona admin's Slack account, to message them
    "usergroups_users_list": {"usergroups:read"}, "views_open": set(), "views_update": set(),
    "views_publish": set(), "views_push": set(), "chat_getPermalink": set(),
}
CALL = re.compile(r"\.(chat_\w+|users_\w+|conversations_\w+|usergroups_\w+|views_\w+)\(")


def manifest() -> dict:
    return yaml.safe_load((ROOT / "manifest.yml").read_text())


def used_methods() -> set[str]:
    methods: set[str] = set()
    for path in [*ROOT.glob("bot/**/*.py"), *ROOT.glob("commands/*.py")]:
        if "localslack" in path.name or "/demo/" in str(path):
            continue  # the stand-ins for Slack, not the bot
        methods |= set(CALL.findall(path.read_text()))
    return methods


def test_scopes_are_exactly_those_the_code_uses() -> None:
    methods = used_methods()
    unknown = methods - set(SCOPES)
    assert not unknown, f"add the scopes of {unknown} to SCOPES and manifest.yml"
    needed = {"commands"} | set().union(*(SCOPES[m] for m in methods))
    assert set(manifest()["oauth_config"]["scopes"]["bot"]) == needed
    assert "users:read.email" in needed


def test_manifest_declares_everything_the_bot_needs() -> None:
    m = manifest()
    assert 1 <= len(m["display_information"]["name"]) <= 35
    assert 1 <= len(m["features"]["bot_user"]["display_name"]) <= 80
    [command] = m["features"]["slash_commands"]
    assert command["command"] == "/ona"
    assert 0 < len(command["description"]) <= 2000 and 0 < len(command["usage_hint"]) <= 1000
    assert command["should_escape"] is True  # mentions arrive as <@U…|name>, so `role @someone` works
    assert m["features"]["app_home"]["home_tab_enabled"] is True
    assert m["settings"]["interactivity"]["is_enabled"] is True
    assert m["settings"]["socket_mode_enabled"] is True
    assert "app_home_opened" in m["settings"]["event_subscriptions"]["bot_events"]


def test_every_shortcut_is_declared_and_handled() -> None:
    """Slack's schema: name ≤ 24, description ≤ 150, type global or message; each callback_id has a handler."""
    from commands import GROUPS

    shortcuts = manifest()["features"]["shortcuts"]
    for shortcut in shortcuts:
        assert set(shortcut) == {"name", "type", "callback_id", "description"}
        assert 1 <= len(shortcut["name"]) <= 24 and 1 <= len(shortcut["description"]) <= 150
        assert shortcut["type"] in ("global", "message")
    declared = {(s["name"], s["type"], s["callback_id"]) for s in shortcuts}
    assert {(name, kind) for name, kind, _ in declared} == {
        ("Set the banner", "global"), ("Ona approvals", "global"), ("Post as banner", "message")}
    handled = {callback_id for group in GROUPS for callback_id in group.shortcuts}
    assert {callback_id for _, _, callback_id in declared} == handled
