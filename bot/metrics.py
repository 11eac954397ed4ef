"""What the bot counts for Prometheus, in one registry per app (built by bot/bootstrap.py and passed in,
never prometheus_client's global one): two apps in one process, as in the tests, keep apart.

Labels only ever take values from fixed sets (kinds, group names, results, Ona method names, error
codes, approval states): never a person, a team, a typed text or a secret.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.approvals.model import APPROVED, DRAFT, EXECUTING, PENDING, RequestState

log = logging.getLogger("ona.bot")

KINDS = ("command", "click", "submission", "event", "other")
RESULTS = ("ok", "usage", "refused", "error", "busy")
UNKNOWN_GROUP = "unknown"  # a command that named no group: what was typed is never a label
OPEN_STATES = (DRAFT, PENDING, APPROVED, EXECUTING)
# Slack's deadline is 3 s: the buckets are dense below it.
ACK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)
ONA_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# The scrape reads at most this many open requests of a state (a backlog beyond it is alarm enough).
SCRAPE_LIMIT = 10_000


def kind_of(body: dict[str, Any]) -> str:
    """What a Slack delivery is, from its payload: one of KINDS."""
    if body.get("command"):
        return "command"
    kind = body.get("type")
    if kind in ("block_actions", "interactive_message"):
        return "click"
    if kind in ("view_submission", "view_closed"):
        return "submission"
    if kind == "event_callback" or body.get("event"):
        return "event"
    return "other"


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None, *, groups: Iterable[str] = (),
                 ona_methods: Iterable[str] = ()) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self._groups = frozenset(groups)
        self._methods = frozenset(ona_methods)
        reg = self.registry
        self.ack_seconds = Histogram("ona_bot_ack_seconds", "Time from a Slack delivery's arrival to its ack",
                                     ["kind"], buckets=ACK_BUCKETS, registry=reg)
        self.requests = Counter("ona_bot_requests", "Slash commands, clicks and form submissions handled, by "
                                "group and result", ["kind", "group", "result"], registry=reg)
        self.busy = Counter("ona_bot_busy_answers", "Deliveries answered 'busy, nothing was done'", ["kind"],
                            registry=reg)
        self.ona_calls = Counter("ona_bot_ona_calls", "HTTP calls to Ona by method and code (ok or the "
                                 "Connect error code); each retry counts", ["method", "code"], registry=reg)
        self.ona_seconds = Histogram("ona_bot_ona_call_seconds", "Latency of HTTP calls to Ona", ["method"],
                                     buckets=ONA_BUCKETS, registry=reg)
        self.transitions = Counter("ona_bot_approval_transitions", "Approval requests created or moved into a "
                                   "state by this process", ["state"], registry=reg)
        self.background_runs = Counter("ona_bot_background_runs", "Background sweeps (expiry, reminders, "
                                       "repairs) by result", ["result"], registry=reg)
        self.background_last = Gauge("ona_bot_background_last_run_timestamp_seconds",
                                     "When this process last finished a background sweep (Unix time)",
                                     registry=reg)

    # --- what the bot reports ---------------------------------------------------------------------

    def acked(self, kind: str, seconds: float) -> None:
        self.ack_seconds.labels(kind if kind in KINDS else "other").observe(seconds)

    def handled(self, kind: str, group: str, result: str) -> None:
        group = group if group and (not self._groups or group in self._groups) else UNKNOWN_GROUP
        self.requests.labels(kind if kind in KINDS else "other", group, result if result in RESULTS else "error").inc()

    def turned_away(self, kind: str) -> None:
        self.busy.labels(kind if kind in KINDS else "other").inc()

    def ona_call(self, method: str, code: str, seconds: float) -> None:
        """OnaClient's `observe` hook. Method names are checked by the client before any call."""
        method = method if not self._methods or method in self._methods else "other"
        self.ona_calls.labels(method, code).inc()
        self.ona_seconds.labels(method).observe(seconds)

    def moved(self, state: RequestState | str) -> None:
        self.transitions.labels(str(state)).inc()

    def background_ran(self, ok: bool) -> None:
        self.background_runs.labels("ok" if ok else "error").inc()
        if ok:
            self.background_last.set_to_current_time()

    def watch_approvals(self, store: Any, clock: Callable[[], float] = time.time) -> None:
        """Open requests by state, and the oldest pending one's age, read from the store at each scrape."""
        self.registry.register(ApprovalsCollector(store, clock))


class ApprovalsCollector(Collector):
    """Gauges computed from the database when Prometheus scrapes: every replica sees the same numbers."""

    def __init__(self, store: Any, clock: Callable[[], float]) -> None:
        self.store, self.clock = store, clock

    def describe(self) -> Iterable[Metric]:
        return []  # nothing to read at registration time

    def collect(self) -> Iterator[Metric]:
        try:
            found = {state: self.store.in_states(state, limit=SCRAPE_LIMIT) for state in OPEN_STATES}
        except Exception as exc:  # the scrape still answers, without these; /readyz says why
            log.warning("metrics: approval requests could not be read (%s)", type(exc).__name__)
            return
        by_state = GaugeMetricFamily("ona_bot_approval_requests", "Open approval requests by state",
                                     labels=["state"])
        for state, requests in found.items():
            by_state.add_metric([str(state)], len(requests))
        yield by_state
        pending = found[PENDING]
        yield GaugeMetricFamily("ona_bot_pending_requests", "Approval requests waiting for a decision",
                                value=len(pending))
        oldest = min((r.created_at for r in pending), default=None)
        yield GaugeMetricFamily("ona_bot_oldest_pending_request_age_seconds",
                                "Age of the oldest request waiting for a decision (0 when none)",
                                value=max(0.0, self.clock() - oldest) if oldest is not None else 0.0)


class CountingStore:
    """A RequestStore that tells Metrics of each request created and each state change that happened;
    everything else goes straight to the store it wraps."""

    def __init__(self, store: Any, metrics: Metrics) -> None:
        self._store, self._metrics = store, metrics

    def create(self, request: Any) -> None:
        self._store.create(request)
        self._metrics.moved(request.state)

    def transition(self, request_id: str, from_states: Any, to_state: RequestState | str, **fields: Any) -> Any:
        moved = self._store.transition(request_id, from_states, to_state, **fields)
        if moved is not None:
            self._metrics.moved(to_state)
        return moved

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)
