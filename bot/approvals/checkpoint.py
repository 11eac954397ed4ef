"""Keep the audit trail's head where the database cannot rewrite it: the log and the approvals channel.

Rows removed from the end leave a valid chain behind; the last head written elsewhere shows they
were there (`ona-bot audit verify --head COUNT:HASH`). The head is logged whenever it moved, and
posted to the approvals channel at start and at most once per interval after it moved. Several
processes sharing the database post a given head once (a claim in the database).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import replies
from bot.approvals.audit_chain import Head
from bot.approvals.store import RequestStore, StoreUnavailable

log = logging.getLogger("ona.audit")

WAKE_EVERY = 30.0  # seconds between looks at the head


def checkpoint_text(head: Head) -> str:
    return (f":lock: Audit checkpoint: {head.count} entries so far. To check later that none was changed or "
            f"removed, an operator runs `ona-bot audit verify --head {head}`")


class Checkpoints:
    def __init__(self, store: RequestStore, slack: WebClient | None, channel: str | None, *, interval: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.slack = slack
        self.channel = channel
        self.interval = interval  # 0: the log only
        self.clock = clock
        self._logged: Head | None = None
        self._posted: Head | None = None
        self._posted_at: float | None = None
        self._stop = threading.Event()

    def tick(self, *, starting: bool = False) -> Head | None:
        """Log the head when it moved; post it when due. Returns the head."""
        head = self.store.audit_head()
        if head is None:
            return None
        if head != self._logged or starting:
            log.info("audit trail head %s (check with: ona-bot audit verify --head %s)", head, head)
            self._logged = head
        due = starting or self._posted_at is None or self.clock() - self._posted_at >= self.interval
        if self.channel and self.slack and self.interval and head != self._posted and due:
            self._post(head)
        return head

    def _post(self, head: Head) -> None:
        if not self.store.claim_delivery(f"audit-head:{head}"):
            self._posted = head  # another process posted this very head
            return
        try:
            self.slack.chat_postMessage(channel=self.channel, **replies.info(checkpoint_text(head)))
        except SlackApiError as exc:
            log.warning("could not post the audit checkpoint: %s", exc.response.get("error"))
            return
        self._posted, self._posted_at = head, self.clock()

    def start(self) -> Checkpoints:
        """At start-up, then in a daemon thread until stopped."""
        self._safe_tick(starting=True)
        threading.Thread(target=self._run, name="audit-checkpoints", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        wait = min(WAKE_EVERY, self.interval) if self.interval else WAKE_EVERY
        while not self._stop.wait(wait):
            self._safe_tick()

    def _safe_tick(self, *, starting: bool = False) -> None:
        try:
            self.tick(starting=starting)
        except StoreUnavailable as exc:  # the database away (a restart): the next tick tries again
            log.warning("audit checkpoint skipped: %s", exc)
        except Exception:  # Slack away, or worse: the next tick tries again
            log.exception("audit checkpoint failed")
