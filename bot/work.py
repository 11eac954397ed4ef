"""Where the work of a request runs once it has been acknowledged.

Bolt's own listener pool is small (5 threads) and every listener acks from it: if slow Ona calls
held those threads, the next request's ack would queue behind them and miss Slack's 3 seconds. So a
listener only acks, then hands the work to this bounded pool. When the pool and its backlog are full,
the request is answered "busy" in the ack itself (no extra work) instead of waiting.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger("ona.bot")


class WorkPool:
    def __init__(self, threads: int = 4, backlog: int = 64, *, inline: bool = False) -> None:
        self.inline = inline  # process_before_response (FaaS, demo): run in the listener, in order
        self.limit = threads + backlog
        self._pending = 0
        self._lock = threading.Lock()
        self._executor = None if inline else ThreadPoolExecutor(threads, thread_name_prefix="ona-work")

    def reserve(self) -> bool:
        """Claim a place before acking, so a full pool can say "busy" in the ack itself."""
        with self._lock:
            if self._pending >= self.limit:
                return False
            self._pending += 1
            return True

    def start(self, work: Callable[[], None]) -> None:
        """Run reserved work (guarded by its caller: it never raises into the pool)."""
        if self._executor is None:
            self._run(work)
        else:
            self._executor.submit(self._run, work)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False)

    def _run(self, work: Callable[[], None]) -> None:
        try:
            work()
        except Exception:  # guarded() answers users; this only keeps the pool's count right
            log.exception("work failed")
        finally:
            with self._lock:
                self._pending -= 1
