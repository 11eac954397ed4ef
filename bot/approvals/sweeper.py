"""The background work of one process: every `interval` seconds, the service's sweep (expiry,
reminders, settling crashes, repairing stale messages), in a daemon thread."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from bot.approvals.service import ApprovalService

log = logging.getLogger("ona.approvals")


class Sweeper:
    """Runs `sweep` every `interval` seconds in a daemon thread until stopped."""

    def __init__(self, service: ApprovalService, interval: float = 30.0,
                 on_run: Callable[[bool], None] | None = None) -> None:
        self.service = service
        self.interval = interval
        self.on_run = on_run or (lambda ok: None)  # told after each sweep whether it went through (metrics)
        self._stop = threading.Event()

    def start(self) -> Sweeper:
        threading.Thread(target=self._run, name="approval-sweeper", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.service.sweep()
            except Exception:  # keep sweeping: one bad request must not stop expiry for all
                log.exception("sweep failed")
                self.on_run(False)
            else:
                self.on_run(True)
