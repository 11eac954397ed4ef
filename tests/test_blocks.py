"""Block Kit helpers: escaping, clipping, limits, and the payload checker the suite relies on."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackObjectFormationError

from bot import blocks as bk
from tests.blockkit import check_message, check_view


def test_escape_makes_mentions_and_links_inert() -> None:
    assert bk.escape("<!channel> <@U1> <http://x|y> a&b") == "&lt;!channel&gt; &lt;@U1&gt; &lt;http://x|y&gt; a&amp;b"


def test_long_text_is_clipped_to_slacks_limits() -> None:
    payload = bk.message([bk.header("h" * 500), bk.section("s" * 5000), *bk.fields([("k", "v" * 3000)])], text="t")
    check_message(payload)
    assert len(payload["blocks"][0]["text"]["text"]) == 150
    assert len(payload["blocks"][1]["text"]["text"]) == 3000


def test_message_over_50_blocks_is_refused() -> None:
    with pytest.raises(bk.BlockLimitError):
        bk.message([bk.divider()] * 51, text="x")


def test_modal_title_and_metadata_limits() -> None:
    view = bk.modal("A very long modal title that Slack would reject", [bk.section("x")], callback_id="c",
                    submit="Submit")
    check_view(view)
    assert len(view["title"]["text"]) <= 24
    with pytest.raises(bk.BlockLimitError):
        bk.modal("t", [bk.section("x")], callback_id="c", private_metadata="m" * 3001)


def test_button_value_limit() -> None:
    with pytest.raises(bk.BlockLimitError):
        bk.button("x", "a", "v" * 2001)


def test_pager_only_when_needed() -> None:
    assert bk.pager("members:page", 0, 1, {}) == []
    first = bk.pager("members:page", 0, 3, {"q": "a"})
    ids = [e.action_id for e in first[1].elements]
    assert ids == ["members:page:next"]
    middle = bk.pager("members:page", 1, 3, {})
    assert [e.action_id for e in middle[1].elements] == ["members:page:prev", "members:page:next"]


def test_checker_catches_invalid_payloads() -> None:
    with pytest.raises((SlackObjectFormationError, AssertionError)):
        check_message({"text": "x", "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}]})
    with pytest.raises((SlackObjectFormationError, AssertionError)):
        check_message({"text": "x", "blocks": [{"type": "divider"}] * 51})
    with pytest.raises((SlackObjectFormationError, AssertionError)):
        check_view({"type": "modal", "title": {"type": "plain_text", "text": "t" * 25}, "blocks": []})


def test_submitted_values_flattens_every_input_kind() -> None:
    view = {"state": {"values": {
        "a": {"value": {"type": "plain_text_input", "value": "x"}},
        "b": {"value": {"type": "static_select", "selected_option": {"value": "s"}}},
        "c": {"value": {"type": "multi_static_select", "selected_options": [{"value": "1"}, {"value": "2"}]}},
        "d": {"value": {"type": "checkboxes", "selected_options": []}},
        "e": {"value": {"type": "number_input", "value": "3"}},
        "f": {"value": {"type": "static_select", "selected_option": None}},
    }}}
    assert bk.submitted_values(view) == {"a": "x", "b": "s", "c": ["1", "2"], "d": [], "e": "3", "f": None}


def test_checker_demands_a_confirm_on_buttons_that_change_something() -> None:
    unconfirmed = bk.message([bk.actions(bk.button("Turn off", "banner:off"))], text="x")
    with pytest.raises(AssertionError, match="confirm"):
        check_message(unconfirmed)
    check_message(bk.message([bk.actions(bk.button("Edit", "banner:edit"))], text="x"))


def test_plurals_are_right() -> None:
    assert [bk.plural(n, "approval") for n in (0, 1, 2)] == ["0 approvals", "1 approval", "2 approvals"]
    assert bk.plural(1, "policy", "policies") == "1 policy" and bk.plural(3, "policy", "policies") == "3 policies"


def test_unformat_keeps_the_words_of_mrkdwn() -> None:
    assert bk.unformat("*Bold* and _it_ at <https://x.example|the page>: a &lt;b&gt; &amp; c_d") == \
        "Bold and it at the page: a <b> & c_d"
