"""Readiness: may this process take Slack's traffic now? Only when its database answers and Ona does.

/healthz says the process is alive (restart it if not); /readyz says whether to send it work. Ona's
answer is kept for a few seconds, so that however often load balancers and scrapers ask, Ona gets
at most one probe per `ona_ttl` from each process.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.ona.errors import OnaError, OnaTransportError

log = logging.getLogger("ona.bot")

PROBE_ID = "readiness-probe"  # a request ID no request has: the lookup finds nothing, cheaply
ONA_TTL = 5.0


@dataclass(frozen=True)
class Verdict:
    ready: bool
    reason: str  # short and plain: what a person reading a load balancer's log needs


class Readiness:
    def __init__(self, store: Any, ona_probe: Callable[[], object], *, ona_ttl: float = ONA_TTL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """`ona_probe`: one cheap Ona call with a short timeout and no retries; raises when Ona is out of reach."""
        self.store, self.ona_probe, self.ona_ttl, self.clock = store, ona_probe, ona_ttl, clock
        self._ona: tuple[float, str | None] | None = None  # (when, problem or None)
        self._lock = threading.Lock()

    def check(self) -> Verdict:
        problem = self._database() or self._ona_problem()
        return Verdict(False, problem) if problem else Verdict(True, "ready")

    def _database(self) -> str | None:
        try:
            self.store.get(PROBE_ID)
        except Exception as exc:
            log.warning("readiness: the database did not answer (%s)", type(exc).__name__)
            return "database unavailable"
        return None

    def _ona_problem(self) -> str | None:
        # One probe at a time: the scrapes that arrive meanwhile wait for its answer and share it.
        with self._lock:
            if self._ona is not None and self.clock() - self._ona[0] < self.ona_ttl:
                return self._ona[1]
            problem = self._probe_ona()
            self._ona = (self.clock(), problem)
            return problem

    def _probe_ona(self) -> str | None:
        try:
            self.ona_probe()
        except OnaTransportError as exc:
            log.warning("readiness: Ona is out of reach (%s)", exc.code)
            return "Ona unreachable"
        except OnaError as exc:
            log.warning("readiness: Ona refused the probe (%s)", exc.code)
            return f"Ona answered {exc.code.replace('_', ' ')}"
        except Exception as exc:
            log.warning("readiness: the Ona probe failed (%s)", type(exc).__name__)
            return "Ona probe failed"
        return None
