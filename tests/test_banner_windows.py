"""Banner maintenance windows end to end: `/ona banner on … for 2h | until 12:00` and `/ona banner at …`,
through signed Slack requests; the background work (the sweep) is called directly with its clock moved on."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.localslack import FakeSlack
from tests.harness import (
    APPROVAL_POLICY,
    APPROVALS_CHANNEL,
    BotHarness,
    buttons,
    make_harness,
    message_text,
    set_clock,
)

BERLIN = ZoneInfo("Europe/Berlin")  # U0ALICE's Slack time zone in the fake Slack
NEW_YORK = ZoneInfo("America/New_York")  # U0BOB's


def next_saturday_10(tz: ZoneInfo) -> datetime:
    now = datetime.now(tz)
    day = now.date() + timedelta(days=(5 - now.weekday()) % 7)
    start = datetime(day.year, day.month, day.day, 10, 0, tzinfo=tz)
    return start if start.timestamp() > now.timestamp() else start + timedelta(days=7)


def cancel_buttons(payload: dict) -> list[dict]:
    return [b for key, b in buttons(payload).items() if key.startswith("banner:cancel_window")]


def windows(bot: BotHarness, *states: str):
    return bot.services.approvals.store.banner_windows(*(states or ("scheduled", "on", "done", "cancelled")))


def at(bot: BotHarness, epoch: float) -> None:
    """The background work runs at `epoch` (its clock moved, not slept)."""
    set_clock(bot.services, lambda: epoch)
    bot.services.approvals.sweep()


def notes(bot: BotHarness, channel: str = "C0OPS") -> list[str]:
    return [message_text(c) for c in bot.slack.calls_to("chat.postMessage") if c.get("channel") == channel]


def note_on(bot: BotHarness, channel: str) -> dict:
    return bot.slack.wait_for("chat.postMessage", lambda a: a.get("channel") == channel
                              and "The banner is on for the maintenance window" in message_text(a))[-1]


def banner_updates(emulator) -> list[dict]:
    return [{k: v for k, v in c.items() if k != "organizationId"} for c in emulator.calls("UpdateAnnouncementBanner")]


def test_on_for_two_hours_goes_on_now_and_off_when_the_sweep_finds_it_over(bot: BotHarness, emulator) -> None:
    text = bot.command("banner on Maintenance for 2h").reply_text()
    assert "now until" in text and "(2 hours)" in text
    assert "7200" not in text
    note_on(bot, "C0OPS")  # it goes on just after the answer
    assert banner_updates(emulator) == [{"enabled": True, "message": "Maintenance"}]
    [window] = windows(bot)
    assert window.state == "on" and window.message == "Maintenance" and window.ends_at - window.starts_at == 7200

    at(bot, time.time() + 3600)  # still inside the window: nothing happens
    assert len(banner_updates(emulator)) == 1
    at(bot, time.time() + 2 * 3600 + 60)
    assert banner_updates(emulator)[1:] == [{"enabled": False}]
    assert emulator.state.banner.enabled is False
    assert windows(bot, "done") and any("the banner is off" in n for n in notes(bot))
    at(bot, time.time() + 3 * 3600)  # a later sweep does nothing more
    assert len(banner_updates(emulator)) == 2


def test_until_is_read_in_the_persons_own_time_zone(bot: BotHarness, emulator) -> None:
    bot.command("banner on Deploy freeze until 12:00", user="U0BOB").reply()
    [window] = windows(bot)
    end = datetime.fromtimestamp(window.ends_at, NEW_YORK)
    assert (end.hour, end.minute) == (12, 0)
    assert 0 < window.ends_at - time.time() <= 86_400
    assert window.message == "Deploy freeze"


def test_scheduled_window_is_stored_listed_with_cancel_and_run_by_the_sweep(bot: BotHarness, emulator) -> None:
    start = next_saturday_10(BERLIN)
    text = bot.command("banner at Sat 10:00 for 2h Planned maintenance").reply_text()
    assert "Sat 10:00–12:00" in text and "(2 hours)" in text
    assert banner_updates(emulator) == []  # nothing shows before its time
    [window] = windows(bot)
    assert (window.starts_at, window.ends_at) == (start.timestamp(), start.timestamp() + 7200)

    status = bot.command("banner").reply()
    assert "Sat 10:00–12:00" in message_text(status) and "Planned maintenance" in message_text(status)
    assert [b["text"]["text"] for b in cancel_buttons(status)] == ["Cancel Sat 10:00"]

    at(bot, start.timestamp() - 60)
    assert banner_updates(emulator) == []
    at(bot, start.timestamp() + 60)
    assert banner_updates(emulator) == [{"enabled": True, "message": "Planned maintenance"}]
    at(bot, start.timestamp() + 7200)
    assert banner_updates(emulator)[1:] == [{"enabled": False}]
    said = notes(bot)
    assert len(said) == 2 and "The banner is on" in said[0] and "the banner is off" in said[1]


def test_cancel_button_drops_a_window_to_come(bot: BotHarness, emulator) -> None:
    bot.command("banner at Sat 10:00 for 2h Planned maintenance").reply()
    status = bot.command("banner").reply()
    [cancel] = cancel_buttons(status)
    assert cancel["confirm"]
    assert "cancelled" in bot.click(cancel["action_id"], cancel["value"], channel_id="C0OPS").reply_text()
    assert windows(bot, "cancelled") and not windows(bot, "scheduled")
    assert cancel_buttons(bot.command("banner").reply()) == []
    at(bot, next_saturday_10(BERLIN).timestamp() + 60)
    assert banner_updates(emulator) == []
    again = bot.click(cancel["action_id"], cancel["value"], channel_id="C0OPS").reply_text()
    assert "already ended or was cancelled" in again


def test_cancel_of_the_window_on_now_turns_the_banner_off(bot: BotHarness, emulator) -> None:
    bot.command("banner on Maintenance for 2h").reply()
    note_on(bot, "C0OPS")
    [cancel] = cancel_buttons(bot.command("banner").reply())
    assert cancel["text"]["text"] == "End it now"
    bot.click(cancel["action_id"], cancel["value"], channel_id="C0OPS").reply()
    bot.slack.wait_for("chat.postMessage", lambda a: "the banner is off" in message_text(a))
    assert banner_updates(emulator)[-1] == {"enabled": False}
    assert windows(bot, "done")


def test_notes_go_to_the_person_by_dm_when_asked_in_a_dm(bot: BotHarness, emulator) -> None:
    bot.command("banner on Maintenance for 30m", channel="D0ALICE").reply()
    assert [w.notes_to for w in windows(bot)] == ["U0ALICE"]
    note_on(bot, "D0ALICE")  # the fake Slack's DM channel with U0ALICE
    assert any(c.get("users") == "U0ALICE" for c in bot.slack.calls_to("conversations.open"))


@pytest.mark.parametrize(("text", "words"), [
    (f"banner at {(datetime.now(BERLIN) - timedelta(days=1)):%Y-%m-%d} 10:00 for 2h Old", "has already passed"),
    ("banner at Sat 10:00 for 9d Long", "at most 7 days"),
    ("banner on Long for 8d", "at most 7 days"),
    ("banner at Sat 10:00 for 2h", "Write the message"),
    ("banner at someday Maintenance", "Say when it starts"),
    ("banner at 25:00 for 2h Maintenance", "not a time of day"),
    ("banner at Sat 10:00 until 10:00 Maintenance", "Sun 10:00"),  # until the next 10:00 after the start
    ("banner at 0001-01-01 00:00 for 1h Maintenance", "within the next few months"),
    ("banner at 2026-02-30 10:00 for 1h Maintenance", "is not a date"),
    ("banner on Maintenance for 99999999999w", "at most 7 days"),
    ("banner at 9999-12-31 23:00 for 1h Maintenance", "within the next few months"),
    (f"banner at {datetime.now(BERLIN).year + 1}-12-31 23:00 for 1h Maintenance", "90 days ahead"),
])
def test_bad_windows_get_words_and_the_usage_line(bot: BotHarness, emulator, text: str, words: str) -> None:
    reply = bot.command(text).reply()
    shown = message_text(reply)
    assert reply["response_type"] == "ephemeral" and words in shown
    if words != "Sun 10:00":
        assert "/ona banner" in shown and "Traceback" not in shown
        assert windows(bot) == [] and banner_updates(emulator) == []


@pytest.fixture
def abot(emulator, slack: FakeSlack) -> Iterator[BotHarness]:
    harness = make_harness(emulator, slack, policy=APPROVAL_POLICY)
    yield harness
    harness.close()


def test_a_window_that_needs_approval_is_a_request_then_runs_without_asking_again(abot: BotHarness,
                                                                                   emulator) -> None:
    start = next_saturday_10(BERLIN)
    abot.command("banner at Sat 10:00 for 2h Planned maintenance reason: database upgrade").reply()
    posted = abot.slack.wait_for("chat.postMessage", lambda a: a.get("channel") == APPROVALS_CHANNEL)[-1]
    shown = message_text(posted)
    assert "Schedule the banner for a maintenance window" in shown and "database upgrade" in shown
    assert f"<!date^{int(start.timestamp())}^" in shown  # each approver reads it in their own zone
    assert windows(abot) == []  # not stored before it is approved
    approve = buttons(posted)["approval:approve"]
    assert "runs at its time" in approve["confirm"]["text"]["text"]
    abot.click("approval:approve", approve["value"], user="U0BOB", channel_id=APPROVALS_CHANNEL).reply()
    [window] = windows(abot)
    assert window.state == "scheduled"
    at(abot, start.timestamp() + 60)
    assert banner_updates(emulator) == [{"enabled": True, "message": "Planned maintenance"}]
    at(abot, start.timestamp() + 7200)
    assert banner_updates(emulator)[1:] == [{"enabled": False}]
    requests = abot.services.approvals.store.in_states("pending", "succeeded", "draft")
    assert len(requests) == 1  # the approval covered the window: no second request


def test_on_for_without_a_message_keeps_the_current_one(bot: BotHarness, emulator) -> None:
    emulator.state.banner.message = "Planned maintenance"
    bot.command("banner on for 45m").reply()
    [window] = windows(bot)
    assert window.message == "Planned maintenance" and window.ends_at - window.starts_at == 45 * 60


def test_a_window_more_than_a_week_ahead_is_shown_with_its_date(bot: BotHarness, emulator) -> None:
    start = datetime.now(BERLIN) + timedelta(days=20)
    typed = start.strftime("%Y-%m-%d") + " 09:00"
    text = bot.command(f"banner at {typed} for 90m Datacenter move").reply_text()
    day = datetime(start.year, start.month, start.day, 9, 0, tzinfo=BERLIN)
    assert f"{day.strftime('%a')} {day.day} {day.strftime('%b')} 09:00–10:30" in text and "(1 hour 30 minutes)" in text


def test_the_banner_card_lists_a_few_windows_and_says_how_many_more(bot: BotHarness, emulator) -> None:
    for hour in (8, 10, 12, 14, 16):
        bot.command(f"banner at Sat {hour}:00 for 1h Window {hour}").reply()
    status = bot.command("banner").reply()
    assert len(cancel_buttons(status)) == 3 and "…and 2 more later." in message_text(status)


def test_a_banner_changed_during_the_window_is_left_as_it_is(bot: BotHarness, emulator) -> None:
    bot.command("banner on Maintenance for 1h").reply()
    note_on(bot, "C0OPS")
    emulator.state.banner.message = "Something else now"
    at(bot, time.time() + 3600 + 60)
    assert emulator.state.banner.enabled is True and len(banner_updates(emulator)) == 1
    assert any("left it as it is" in n for n in notes(bot))


def test_a_window_from_now_that_needed_approval_goes_on_when_approved(abot: BotHarness, emulator) -> None:
    abot.command("banner on Maintenance for 2h reason: incident").reply()
    posted = abot.slack.wait_for("chat.postMessage", lambda a: a.get("channel") == APPROVALS_CHANNEL)[-1]
    assert banner_updates(emulator) == []
    approve = buttons(posted)["approval:approve"]
    abot.click("approval:approve", approve["value"], user="U0BOB", channel_id=APPROVALS_CHANNEL).reply()
    note_on(abot, "C0OPS")  # no sweep needed
    assert banner_updates(emulator) == [{"enabled": True, "message": "Maintenance"}]


# --- times as people type them (bot/when.py) -----------------------------------------------------

def test_times_are_the_next_occurrence_in_the_given_zone() -> None:
    from bot import when
    now = datetime(2026, 12, 3, 14, 0, tzinfo=BERLIN).timestamp()  # a Thursday afternoon in Berlin
    def local(text: str) -> str:
        return datetime.fromtimestamp(when.parse(text, now, "Europe/Berlin"), BERLIN).strftime("%a %d %H:%M")
    assert local("12:00") == "Fri 04 12:00"  # passed today: tomorrow
    assert local("16:30") == "Thu 03 16:30"
    assert local("9pm") == "Thu 03 21:00"
    assert local("Sat 10:00") == "Sat 05 10:00"
    assert local("thursday 10:00") == "Thu 10 10:00"  # this one passed: next week's
    assert local("tomorrow 9:30") == "Fri 04 09:30"
    assert when.words(now, now + 7200, "Europe/Berlin", now) == "now until 16:00"
    sat = when.parse("Sat 22:00", now, "Europe/Berlin")
    assert when.words(sat, sat + 4 * 3600, "Europe/Berlin", now) == "Sat 22:00–Sun 02:00"
    assert when.words(sat, sat + 3600, "America/New_York", now) == "Sat 16:00–17:00"


def test_without_a_tz_name_the_offset_is_used(bot: BotHarness, emulator) -> None:
    # An account whose users.info has no `tz` name, only `tz_offset` (UTC+3); an Ona admin by its email.
    bot.slack.users["U0DAVE"] = {**bot.slack.users["U0ALICE"], "name": "dave", "tz": None, "tz_offset": 3 * 3600}
    bot.command("banner on Maintenance until 12:00", user="U0DAVE").reply()
    [window] = windows(bot)
    end = datetime.fromtimestamp(window.ends_at, ZoneInfo("Etc/GMT-3"))
    assert (end.hour, end.minute) == (12, 0)


def test_a_window_cancelled_then_asked_for_again_is_scheduled_again(bot: BotHarness, emulator) -> None:
    bot.command("banner at Sat 10:00 for 2h Planned maintenance").reply()
    [cancel] = cancel_buttons(bot.command("banner").reply())
    bot.click(cancel["action_id"], cancel["value"], channel_id="C0OPS").reply()
    again = bot.command("banner at Sat 10:00 for 2h Planned maintenance").reply_text()
    assert "already scheduled" not in again and "Sat 10:00–12:00" in again
    assert [w.state for w in windows(bot)] == ["scheduled"]


def test_a_window_approved_after_its_end_stores_nothing_and_says_so(bot: BotHarness, emulator) -> None:
    # The operation an approval runs, on the bot's real store: its window ended while it waited.
    from commands.banner_windows import apply_schedule

    now = time.time()
    outcome = apply_schedule(bot.services.approvals.store, {
        "message": "Quick fix", "starts": now - 3600, "ends": now - 1800, "notes_to": "C0OPS", "time_zone": "UTC"})
    assert "already ended" in outcome.text and "nothing was changed" in outcome.text
    assert windows(bot) == [] and banner_updates(emulator) == []
