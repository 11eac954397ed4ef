"""The standard answers: usage help, friendly errors, and the result of a change."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import PlainTextObject, SectionBlock

from bot import blocks as bk
from bot.ona import errors
from bot.ona.errors import OnaError, unknown_outcome
from bot.registry import Operation, Outcome, Refused


def usage(message: str, usage_lines: list[str]) -> dict[str, Any]:
    lines = "\n".join(f"`{bk.escape(line)}`" for line in usage_lines)
    return bk.message(
        [bk.section(f":warning: {bk.escape(message)}"), bk.context(f"Usage:\n{lines}")],
        text=f"{bk.escape(message)} Usage: {bk.escape(usage_lines[0]) if usage_lines else '/ona help'}",
    )


# What a person is told for each kind of Ona's error, by exception class (the one place for these words):
# {detail} is Ona's message, {nothing_changed} is said of a change only.
_WORDING: dict[type[OnaError], str] = {
    errors.PermissionDenied: ":no_entry: The bot's Ona API key is not an admin of this organization.{nothing_changed}",
    errors.Unauthenticated: ":no_entry: Ona rejected the bot's API key (expired or revoked?).{nothing_changed}",
    errors.InvalidArgument: ":warning: Ona rejected the change: {detail}",
    errors.NotFound: ":mag: Ona has no such thing: {detail}",
    errors.AlreadyExists: ":information_source: It already exists: {detail}",
    errors.FailedPrecondition: ":warning: Ona cannot do that yet: {detail}",
}
# Ona did not answer, or refused before acting (a transport failure, unavailable, too slow, rate-limited).
_NOT_ANSWERED = (errors.OnaTransportError, errors.Unavailable, errors.DeadlineExceeded, errors.ResourceExhausted)


def ona_error(exc: OnaError, *, mutating: bool, check: str = "") -> dict[str, Any]:
    """Ona's error in words an on-call admin can act on. Never a traceback, never a secret.

    A change whose answer does not prove that it failed (a timeout, a dropped connection, a gateway's
    502/503/504, `unavailable`, `deadline_exceeded`: `may_have_applied`) is reported as unknown, with
    what to check (`check`); only an answer that proves Ona did not act says "nothing was changed"."""
    if mutating and exc.may_have_applied:
        text = f":hourglass: {unknown_outcome(exc, check)}"
    elif isinstance(exc, _NOT_ANSWERED):
        # A read, or a change that provably did not reach Ona (never connected, rate-limited).
        text = f":satellite: Ona did not answer{'; nothing was changed' if mutating else ''}. Try again in a minute."
    else:
        wording = next((w for cls, w in _WORDING.items() if isinstance(exc, cls)), None)
        if wording is None:
            text = f":x: Ona answered with an error ({bk.escape(exc.code)}): {bk.escape(exc.user_message)}"
        else:
            text = wording.format(detail=bk.escape(exc.message), nothing_changed=" Nothing was changed." if mutating
                                  else "")
    return bk.message([bk.section(text)], text=text)


def internal_error(reference: str) -> dict[str, Any]:
    text = f":x: Something went wrong on the bot's side (reference `{reference}`). Nothing more was done."
    return bk.message([bk.section(text)], text=text)


def store_unavailable(*, full: bool = False) -> dict[str, Any]:
    """The database stopped answering mid-way: a change already under way is settled by the bot and
    shown in the approvals channel; nothing runs twice, so trying again is safe."""
    text = (":warning: The bot cannot write to its database (its disk is full). Tell whoever runs the bot."
            if full else ":hourglass: The bot lost its database for a moment: please try again in a minute.")
    return bk.message([bk.section(text)], text=text)


def outcome(op: Operation, result: Outcome) -> dict[str, Any]:
    blocks: list[Any] = [bk.section(f":white_check_mark: {result.text}")]
    if result.details:
        blocks += bk.fields(result.details)
    if result.secret:
        blocks.append(bk.section(f"*{bk.escape(result.secret_label or 'Secret')}* (shown once, only to you):"))
        # Alone in its own block, as plain text: a long-press copies the secret and nothing else.
        blocks.append(SectionBlock(block_id="secret", text=PlainTextObject(text=result.secret, emoji=False)))
    return bk.message(blocks, text=result.text)


def info(text: str) -> dict[str, Any]:
    return bk.message([bk.section(text)], text=text)


def refused(exc: Refused) -> dict[str, Any]:
    """Why the person may not, with who may named as Slack shows them."""
    return info(f":no_entry: {exc.render(bk.principals)}")
