"""Where the work of a request runs once it has been acknowledged.

Bolt's own listener pool is small (5 threads) and every listener acks from it: if slow Ona calls
held those threads, the next request's ack would queue behind them and miss Slack's 3 seconds. So a
listener only acks, then hands the work to this bounded pool. When the pool and its backlog are full,
the request is answered "busy" in the ack itself (no extra work) instead of waiting.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger("ona.bot")

# Requests whose work starts per second, per bot process. An on-call team sends a few a minute, and
# Slack's own rate limits (about one message a second per channel) cap what the bot could answer.
DEFAULT_RATE = 30.0
# One person: a burst of 10 (a few quick taps and pages), then one a second.
PERSON_RATE = 1.0
PERSON_BURST = 10


class TokenBucket:
    """At most `rate` a second, in bursts of up to `burst`."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self._tokens = float(burst)
        self._refilled = clock()

    def take(self) -> bool:
        """Not thread safe on its own: callers hold their lock."""
        now = self.clock()
        self._tokens = min(self.burst, self._tokens + (now - self._refilled) * self.rate)
        self._refilled = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


class WorkPool:
    def __init__(self, threads: int = 4, backlog: int = 64, *, rate: float | None = DEFAULT_RATE,
                 burst: int = 30, per_person_rate: float = PERSON_RATE, per_person_burst: int = PERSON_BURST,
                 inline: bool = False, clock: Callable[[], float] = time.monotonic) -> None:
        self.inline = inline  # process_before_response (FaaS, demo): run in the listener, in order
        self.limit = threads + backlog
        # Admission: at most `rate` requests' work a second (bursts of `burst`). Beyond what Slack's own
        # rate limits let the bot answer anyway, work would only take the CPU the acks need; and the
        # "busy" notices that cost a Slack call are themselves bounded.
        unlimited = rate is None or inline  # inline (demo, FaaS) runs one request at a time anyway
        self._admit = None if unlimited else TokenBucket(rate, burst, clock)
        self._notices = None if unlimited else TokenBucket(rate / 3, burst // 3 or 1, clock)
        # Each person has a budget of their own, taken first: one member flooding `/ona members`
        # spends theirs, not the process's, so an admin's `banner off` is still admitted.
        self._person_rate, self._person_burst, self._clock = per_person_rate, per_person_burst, clock
        self._people: dict[str, TokenBucket] = {}
        self._pending = 0
        self._lock = threading.Lock()
        self._executor = None if inline else ThreadPoolExecutor(threads, thread_name_prefix="ona-work")

    def reserve(self, person: str | None = None) -> bool:
        """Claim a place before acking, so a full pool can say "busy" in the ack itself."""
        with self._lock:
            if self._pending >= self.limit or not self._person_may(person):
                return False
            if self._admit is not None and not self._admit.take():
                return False
            self._pending += 1
            return True

    def _person_may(self, person: str | None) -> bool:
        if person is None or self._admit is None:
            return True
        bucket = self._people.get(person)
        if bucket is None:
            if len(self._people) >= 10_000:  # forget idle people rather than grow without bound
                self._people.clear()
            bucket = self._people[person] = TokenBucket(self._person_rate, self._person_burst, self._clock)
        return bucket.take()

    def may_notify(self) -> bool:
        """Whether a turned-away request that needs a Slack call to say "busy" may make one now."""
        with self._lock:
            return self._notices is None or self._notices.take()

    def start(self, work: Callable[[], None]) -> None:
        """Run reserved work (guarded by its caller: it never raises into the pool)."""
        if self._executor is None:
            self._run(work)
        else:
            self._executor.submit(self._run, work)

    def close(self, wait: bool = False) -> None:
        """Take no more work; with `wait`, also return only once the work already started has finished."""
        if self._executor is not None:
            self._executor.shutdown(wait=wait)

    def _run(self, work: Callable[[], None]) -> None:
        try:
            work()
        except Exception:  # guarded() answers users; this only keeps the pool's count right
            log.exception("work failed")
        finally:
            with self._lock:
                self._pending -= 1
