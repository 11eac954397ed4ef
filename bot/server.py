"""Running the bot: HTTP mode on gunicorn (`ona-bot serve`) or Socket Mode (`ona-bot run`)."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

from bot.services import Services
from bot.settings import Settings

log = logging.getLogger("ona.bot")

EVENTS_PATH = "/slack/events"


def wsgi_app(app: App) -> Callable[..., Iterable[bytes]]:
    """POST /slack/events → Bolt (signature checked by Bolt's verifier); GET /healthz → 200."""
    slack = SlackRequestHandler(app, path=EVENTS_PATH)

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/healthz":
            start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
            return [b"ok"]
        return slack(environ, start_response)

    return application


def serve_http(settings: Settings, *, host: str, port: int, workers: int = 1, threads: int = 8) -> int:
    from gunicorn.app.base import BaseApplication

    from bot.bootstrap import build

    _configure_logging()

    class Server(BaseApplication):
        def load_config(self) -> None:
            # gthread workers: Bolt acks from a listener thread while the request thread answers Slack.
            for key, value in {
                "bind": f"{host}:{port}", "workers": workers, "threads": threads, "worker_class": "gthread",
                "timeout": 30, "graceful_timeout": 10, "keepalive": 5, "accesslog": None,
                # gunicorn ≥ 23 opens one control socket per user by default: two bots on a host would clash.
                "control_socket_disable": True,
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
            return wsgi_app(app)

    log.info("serving Slack requests on http://%s:%d%s", host, port, EVENTS_PATH)
    Server().run()
    return 0


def run_socket_mode(settings: Settings) -> int:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    from bot.bootstrap import build

    _configure_logging()
    services, app = build(settings)
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
    Sweeper(services.approvals, interval=sweep_interval).start()
    Checkpoints(services.approvals.audit_store, services.slack, services.approvals.channel,
                interval=checkpoint_interval).start()


def _configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # At DEBUG slack-sdk logs request and reply bodies, which may hold a one-time secret for the
    # requester: never below INFO, whatever the root level.
    for name in ("slack_sdk", "slack_bolt", "ona.bolt"):
        logging.getLogger(name).setLevel(logging.INFO)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per HTTP call: ona.client logs what matters
