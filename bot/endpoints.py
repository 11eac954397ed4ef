"""The operator's endpoints: GET /healthz (alive), /readyz (may take traffic), /metrics (Prometheus text).

`serve` answers them beside Slack's POST /slack/events; `run` (Socket Mode has no HTTP port of its own)
answers them on --metrics-port, from a small threaded server of the standard library.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app

from bot.metrics import Metrics
from bot.readiness import Readiness

log = logging.getLogger("ona.bot")

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
PATHS = ("/healthz", "/readyz", "/metrics")


def _text(start_response: Callable[..., Any], status: str, text: str) -> list[bytes]:
    body = text.encode()
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body))),
                            ("Cache-Control", "no-store")])
    return [body]


def ops_app(metrics: Metrics | None, readiness: Readiness | None) -> WsgiApp:
    """The three endpoints; anything else is 404."""
    exposition = make_wsgi_app(metrics.registry) if metrics is not None else None

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO")
        if path == "/healthz":
            return _text(start_response, "200 OK", "ok")
        if path == "/readyz":
            verdict = readiness.check() if readiness is not None else None
            if verdict is None or verdict.ready:
                return _text(start_response, "200 OK", "ready")
            return _text(start_response, "503 Service Unavailable", verdict.reason)
        if path == "/metrics" and exposition is not None:
            return exposition(environ, start_response)
        return _text(start_response, "404 Not Found", "not found")

    return application


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:  # a scrape every few seconds is not worth a log line
        pass


def serve_ops(app: WsgiApp, host: str, port: int) -> WSGIServer:
    """Serve `app` on host:port from a daemon thread; the server, to stop it with shutdown()."""
    server = make_server(host, port, app, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="ops-http", daemon=True).start()
    log.info("health, readiness and metrics on http://%s:%d (/healthz, /readyz, /metrics)", host,
             server.server_address[1])
    return server
