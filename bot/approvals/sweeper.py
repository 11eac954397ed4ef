"""The background work: every `interval` seconds, the service's sweep (expiry, reminders, settling
crashes, repairing stale messages), in a daemon thread, by one replica at a time: the one holding the
store's lease. When that replica dies its lease goes (its session ends, or its row lapses), and another
replica takes it on its next tick."""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable

from bot.approvals.service import ApprovalService
from bot.approvals.store import StoreUnavailable

log = logging.getLogger("ona.approvals")

LEASE = "sweeper"


class Sweeper:
    """Runs `sweep` every `interval` seconds in a daemon thread until stopped, while it holds the lease."""

    def __init__(self, service: ApprovalService, interval: float = 30.0,
                 on_run: Callable[[bool], None] | None = None) -> None:
        self.service = service
        self.interval = interval
        self.on_run = on_run or (lambda ok: None)  # told after each sweep whether it went through (metrics)
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._stop = threading.Event()

    def start(self) -> Sweeper:
        threading.Thread(target=self._run, name="approval-sweeper", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def tick(self) -> bool:
        """Sweep if this replica holds the lease (three intervals long, renewed at each tick); whether it swept."""
        try:
            if not self.service.store.lease(LEASE, self.holder, ttl=3 * self.interval):
                return False
        except StoreUnavailable as exc:
            log.warning("the sweeper could not take its lease: %s", exc)
            raise  # the database is away: a failed run for the metrics, not another replica's turn
        self.service.sweep()
        return True

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                if self.tick():  # (another replica holds the lease: its own metrics tell of its sweeps)
                    self.on_run(True)
            except StoreUnavailable as exc:  # the database is away (a restart): the next tick tries again
                log.warning("sweep stopped short: %s", exc)
                self.on_run(False)
            except Exception:  # keep sweeping: one bad request must not stop expiry for all
                log.exception("sweep failed")
                self.on_run(False)
