"""The floor: a bare Bolt app that only acks `/ona` and the Approve button, served exactly as the bot is.

`python -m bench.floor_app --port P` calls the bot's own ``bot.server.serve_http`` (same gunicorn
config: gthread, workers, threads, keepalive, timeout; same ``wsgi_app`` with /healthz), with the bot's
Bolt app swapped for this one. The App is built as ``bot.app.build_app`` builds the bot's: same client
(the FakeSlack of SLACK_API_URL, one auth.test at start), same signing secret, process_before_response
off, token verification on. What the bot costs on top of it is what the benchmark measures.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from types import SimpleNamespace
from typing import Any

from slack_bolt import Ack, App

import bot.bootstrap
import bot.server
from bot.bootstrap import slack_client
from bot.server import serve_http
from bot.settings import Settings, load_settings


def build_floor_app(settings: Settings) -> App:
    slack = slack_client(settings.slack_bot_token.get_secret_value(),
                         f"{settings.slack_api_url}/" if settings.slack_api_url else None)
    app = App(client=slack, signing_secret=settings.slack_signing_secret.get_secret_value(),
              process_before_response=False, token_verification_enabled=True, logger=logging.getLogger("floor"))

    @app.command("/ona")
    def on_command(ack: Ack) -> None:
        ack()

    @app.action(re.compile(r"^approval:approve(:.*)?$"))
    def on_action(ack: Ack) -> None:
        ack()

    return app


def _build(settings: Settings, **_: Any) -> tuple[Any, App]:
    # No services: /healthz only (no metrics, no readiness), and no housekeeping (see main).
    return SimpleNamespace(approvals=None, metrics=None, readiness=None), build_floor_app(settings)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.floor_app")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args(argv)
    bot.bootstrap.build = _build  # serve_http imports build from bot.bootstrap when it starts
    bot.server.start_housekeeping = lambda *_, **__: None  # nothing to sweep: the floor has no approvals
    return serve_http(load_settings(env_file=None), host=args.host, port=args.port, workers=args.workers,
                      threads=args.threads)


if __name__ == "__main__":
    sys.exit(main())
