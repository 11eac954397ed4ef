"""Every reply fits one phone screen: rendered at 40 columns with the demo's renderer, at most 15 lines,
unless it is a form (a modal) or one page of a paginated list (rows marked `item:…`, a pager when there
are more pages)."""

from __future__ import annotations

import pytest

from bot.demo.render import Renderer, Style, Viewer
from tests.harness import BotHarness

COLUMNS = 40
MAX_LINES = 15
PAGE_SIZE = 10

# The replies of every group's main subcommands, answers to slips included.
COMMANDS = [
    "", "help", "help banner", "help policies", "help invite", "help domains", "help members", "help role",
    "help org", "help sso", "help scim", "help custom-domain", "help requests", "help explain", "help audit",
    "banner help", "sso help",
    "policies", "policies set timeout 12h", "policies set timeout 5m", "policies set mcp off", "policies edit",
    "banner", "banner on “Maintenance tonight”", "banner off", "banner onn", "banner on", "banner set",
    "invite show", "invite", "domains", "domains add acme-phone.example.com", "domains verify acme-phone.example.com",
    "members", "members Bob", "role bob@example.com member", "role <@U0BOB|bob> admin", "role bob admin",
    "org", "sso", "scim", "custom-domain", "requests", "explain banner", "explain role", "explain sso",
    # `audit [n]` lists as many entries as asked (10 by default, unpaged): measured at a size that is a screen.
    "audit 6", "frobnicate",
    # maintenance windows: scheduling, a bad time, and the banner's card with more windows than it lists
    "banner at Sat 10:00 for 2h Planned maintenance of the database cluster", "banner at Sat 14:00 for 3h Second",
    "banner at Sun 9:00 until 11:30 Third", "banner on Deploy freeze for 90m", "banner at someday Nope",
    "banner at 25:00 for 2h Nope", "banner ",
]


def lines_of(payload: dict) -> list[str]:
    text = Renderer(Viewer(), Style(False), width=COLUMNS).item("reply", payload, [])
    return text.split("\n")[1:]  # without the renderer's label line


def is_form(payload: dict) -> bool:
    return payload.get("type") == "modal"


def is_list_page(payload: dict) -> bool:
    blocks = payload.get("blocks") or []
    rows = [b for b in blocks if str(b.get("block_id", "")).startswith("item:")]
    return 0 < len(rows) <= PAGE_SIZE


def too_long(payload: dict) -> list[str] | None:
    lines = lines_of(payload)
    if len(lines) <= MAX_LINES or is_form(payload) or is_list_page(payload):
        return None
    return lines


def test_the_measure_knows_a_long_reply_a_list_page_and_a_form() -> None:
    long = {"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "\n".join("x" * 16)}}]}
    assert too_long(long) and len(lines_of(long)) == 16
    rows = [{"type": "section", "block_id": f"item:{i}", "text": {"type": "mrkdwn", "text": "a\nb"}}
            for i in range(10)]
    assert too_long({"blocks": rows}) is None
    assert too_long({"blocks": rows * 2}) is not None  # more than one page of rows is not a page
    assert too_long({"type": "modal", **long}) is None
    assert len(lines_of({"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "y" * 80}}]})) == 3


def test_every_reply_fits_a_phone_screen(bot: BotHarness, emulator) -> None:
    replies: list[tuple[str, dict]] = []
    for text in COMMANDS:
        before = len(bot.slack.calls_to("views.open"))
        sent = bot.command(text)
        if text in ("policies edit", "banner set", "banner on"):  # forms
            bot.slack.wait_for("views.open", count=before + 1)
            continue
        replies.append((text, sent.reply()))
    # the buttons of a list, too
    members = dict(replies)["members"]
    button = next(b["accessory"] for b in members["blocks"] if b.get("accessory", {}).get("text", {}).get("text")
                  == "Make admin")
    replies.append(("tap Make admin", bot.click("members:role", button["value"]).reply()))
    views = [c["view"] for c in bot.slack.calls_to("views.open") + bot.slack.calls_to("views.update")]
    assert views and all(is_form(v) for v in views)
    failures = {text: "\n".join(lines) for text, payload in replies if (lines := too_long(payload))}
    assert not failures, "longer than a phone screen at 40 columns:\n\n" + "\n\n".join(
        f"/ona {text} ({len(body.splitlines())} lines)\n{body}" for text, body in failures.items())


@pytest.mark.parametrize("text", ["help", "policies", "members"])
def test_the_main_replies_are_measured(bot: BotHarness, emulator, text: str) -> None:
    """Guard against a measure that passes by measuring nothing: these replies have real content."""
    assert len(lines_of(bot.command(text).reply())) >= 5
