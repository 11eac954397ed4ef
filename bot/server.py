"""Running the bot: HTTP mode on gunicorn (`ona-bot serve`) or Socket Mode (`ona-bot run`)."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

from bot import logs
from bot.endpoints import PATHS, WsgiApp, ops_app, serve_ops
from bot.services import Services
from bot.settings import Settings

log = logging.getLogger("ona.bot")

EVENTS_PATH = "/slack/events"


def wsgi_app(app: App, ops: WsgiApp | None = None) -> Callable[..., Iterable[bytes]]:
    """POST /slack/events → Bolt (signature checked by Bolt's verifier); GET /healthz, /readyz and
    /metrics → `ops` (bot/endpoints.py; without it, /healthz only)."""
    slack = SlackRequestHandler(app, path=EVENTS_PATH)
    ops = ops or ops_app(None, None)

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") in PATHS and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            return ops(environ, start_response)
        return slack(environ, start_response)

    return application


def services_wsgi_app(services: Services, app: App) -> Callable[..., Iterable[bytes]]:
    return wsgi_app(app, ops_app(services.metrics, services.readiness))


def serve_http(settings: Settings, *, host: str, port: int, workers: int = 1, threads: int = 8) -> int:
    from gunicorn.app.base import BaseApplication
    from gunicorn.glogging import Logger

    from bot.bootstrap import build

    formatter = logs.configure(settings.log_format, settings.secrets())

    class GunicornLogger(Logger):
        """gunicorn's own lines (start, workers, errors) in the bot's format too."""

        def setup(self, cfg: Any) -> None:
            super().setup(cfg)
            for handler in self.error_log.handlers:
                handler.setFormatter(formatter)

    class Server(BaseApplication):
        def load_config(self) -> None:
            # gthread workers: Bolt acks from a listener thread while the request thread answers Slack.
            for key, value in {
                "bind": f"{host}:{port}", "workers": workers, "threads": threads, "worker_class": "gthread",
                "timeout": 30, "graceful_timeout": 10, "keepalive": 5, "accesslog": None,
                # gunicorn ≥ 23 opens one control socket per user by default: two bots on a host would clash.
                "control_socket_disable": True, "logger_class": GunicornLogger,
            }.items():
                if key in self.cfg.settings:
                    self.cfg.set(key, value)

        def load(self) -> Callable[..., Iterable[bytes]]:
            # Hand the interpreter lock over sooner than every 5 ms: an ack waiting behind a work
            # thread is what the p99 (and Slack's 3-second deadline) feels.
            sys.setswitchinterval(0.001)
            # Runs in each worker (no preload): its own clients, database connections and sweeper thread.
            services, app = build(settings)
            start_housekeeping(services, checkpoint_interval=settings.audit_checkpoint_seconds,
                               sweep_interval=settings.sweep_seconds)
            return services_wsgi_app(services, app)

    log.info("serving Slack requests on http://%s:%d%s", host, port, EVENTS_PATH)
    Server().run()
    return 0


def run_socket_mode(settings: Settings, *, metrics_host: str = "0.0.0.0", metrics_port: int | None = None) -> int:
    """`metrics_port`: where to answer /healthz, /readyz and /metrics (Socket Mode has no HTTP port)."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    from bot.bootstrap import build

    logs.configure(settings.log_format, settings.secrets())
    services, app = build(settings)
    if metrics_port is not None:
        serve_ops(ops_app(services.metrics, services.readiness), metrics_host, metrics_port)
    start_housekeeping(services, checkpoint_interval=settings.audit_checkpoint_seconds,
                       sweep_interval=settings.sweep_seconds)
    assert settings.slack_app_token is not None
    with contextlib.suppress(KeyboardInterrupt):
        SocketModeHandler(app, settings.slack_app_token.get_secret_value()).start()
    return 0


def start_housekeeping(services: Services, *, checkpoint_interval: float = 3600,
                       sweep_interval: float = 30.0) -> None:
    """Settle requests a crash left mid-execution, then expire and remind in the background; keep
    the audit trail's head in the log and the approvals channel (now, then at intervals)."""
    from bot.approvals.checkpoint import Checkpoints
    from bot.approvals.sweeper import Sweeper

    try:
        services.approvals.reconcile()
    except Exception:  # Ona or Slack unreachable at start: the next start or sweep retries
        log.exception("reconciling interrupted requests failed")
    Sweeper(services.approvals, interval=sweep_interval, on_run=services.metrics.background_ran).start()
    Checkpoints(services.approvals.store, services.slack, services.approvals.channel,
                interval=checkpoint_interval).start()

