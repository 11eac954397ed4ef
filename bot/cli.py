"""`ona-bot` command line: parse arguments, build the parts, start. No logic of its own."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ona-bot", description="Slack chat-ops for Ona organization admins.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("run", help="run the bot over Socket Mode (needs SLACK_APP_TOKEN)")

    serve = sub.add_parser("serve", help="serve Slack's HTTP requests at POST /slack/events (gunicorn)")
    serve.add_argument("--host", default="0.0.0.0")
    serve.add_argument("--port", type=int, default=3000)
    serve.add_argument("--workers", type=int, default=1, help="gunicorn worker processes (default 1)")
    serve.add_argument("--threads", type=int, default=8, help="threads per worker (default 8)")

    emulator = sub.add_parser("emulator", help="run the local Ona API emulator on loopback")
    from bot.ona.emulator.server import add_arguments

    add_arguments(emulator)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "emulator":
        from bot.ona.emulator.server import main as emulator_main

        return emulator_main(args)
    from bot.settings import SettingsError, load_settings

    try:
        settings = load_settings(need_app_token=args.command == "run")
    except SettingsError as exc:
        print(f"ona-bot: {exc}", file=sys.stderr)
        return 2
    if args.command == "run":
        from bot.server import run_socket_mode

        return run_socket_mode(settings)
    if args.command == "serve":
        from bot.server import serve_http

        return serve_http(settings, host=args.host, port=args.port, workers=args.workers, threads=args.threads)
    return 2  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":
    sys.exit(main())
