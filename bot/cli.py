"""`ona-bot` command line: parse arguments, build the parts, start. No logic of its own."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ona-bot", description="Slack chat-ops for Ona organization admins.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the bot over Socket Mode (needs SLACK_APP_TOKEN)")
    run.add_argument("--metrics-port", type=int, metavar="PORT",
                     help="answer GET /healthz, /readyz and /metrics on this port (default: none)")
    run.add_argument("--metrics-host", default="0.0.0.0", help="the address for --metrics-port (default 0.0.0.0)")

    serve = sub.add_parser("serve", help="serve Slack's HTTP requests at POST /slack/events (gunicorn)")
    serve.add_argument("--host", default="0.0.0.0")
    serve.add_argument("--port", type=int, default=3000)
    serve.add_argument("--workers", type=int, default=1, help="gunicorn worker processes (default 1)")
    serve.add_argument("--threads", type=int, default=8, help="threads per worker (default 8)")

    demo = sub.add_parser("demo", help="try the bot without Slack or Ona: a shell on the embedded emulator")
    demo.add_argument("--script", help="run these lines without a terminal and print the transcript")

    audit = sub.add_parser("audit", help="verify or export the audit trail (ONA_BOT_DB)")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    db = argparse.ArgumentParser(add_help=False)
    db.add_argument("--db", help="SQLite file or postgresql:// URL (default: ONA_BOT_DB or ona-bot.db)")
    verify = audit_sub.add_parser("verify", parents=[db], help="recompute the hash chain; name the first altered or "
                                  "removed row (keyed rows need ONA_BOT_AUDIT_KEY or the key file beside the database)")
    verify.add_argument("--head", metavar="COUNT:HASH",
                        help="the head recorded outside the database (the approvals channel or the log): "
                             "rows removed from the end are noticed too")
    audit_sub.add_parser("head", parents=[db], help="print the current head (COUNT:HASH) to keep elsewhere")
    export = audit_sub.add_parser("export", parents=[db], help="write every audit row to stdout")
    export.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")

    emulator = sub.add_parser("emulator", help="run the local Ona API emulator on loopback")
    from bot.ona.emulator.server import add_arguments

    add_arguments(emulator)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "emulator":
        from bot.ona.emulator.server import main as emulator_main

        return emulator_main(args)
    if args.command == "audit":
        return _audit(args)
    if args.command == "demo":
        from bot.demo import main as demo_main

        return demo_main(args)
    from bot.approvals.policy import PolicyError
    from bot.settings import SettingsError, load_settings
    from bot.startup import StartupError

    try:
        settings = load_settings(need_app_token=args.command == "run")
        from bot.bootstrap import load_settings_policy, preflight

        load_settings_policy(settings)  # fail fast, naming the line
        preflight(settings)  # the tokens, the Ona key's role, the policy's user groups
    except (SettingsError, PolicyError) as exc:
        print(f"ona-bot: {exc}", file=sys.stderr)
        return 2
    except StartupError as exc:
        print(f"ona-bot: {exc}", file=sys.stderr)
        return exc.exit_code
    if args.command == "run":
        from bot.server import run_socket_mode

        return run_socket_mode(settings, metrics_host=args.metrics_host, metrics_port=args.metrics_port)
    if args.command == "serve":
        from bot.server import serve_http

        return serve_http(settings, host=args.host, port=args.port, workers=args.workers, threads=args.threads)
    return 2  # pragma: no cover - argparse rejects unknown commands


def _audit(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    from bot.approvals import audit_trail
    from bot.approvals.audit_chain import OK, TAMPERED, Head
    from bot.approvals.backends import open_store
    from bot.approvals.dburl import is_postgres_url
    from bot.approvals.store import StoreUnavailable

    location = args.db or os.environ.get("ONA_BOT_DB", "ona-bot.db")
    if not is_postgres_url(location) and not Path(location).exists():
        print(f"ona-bot: no database at {location} (set ONA_BOT_DB or --db)", file=sys.stderr)
        return 2
    head = None
    if getattr(args, "head", None):
        try:
            head = Head.parse(args.head.strip("`'\" "))
        except ValueError as exc:
            print(f"ona-bot: --head: {exc}", file=sys.stderr)
            return 2
    try:
        store = open_store(location, audit_key=os.environ.get("ONA_BOT_AUDIT_KEY") or None)
    except StoreUnavailable as exc:  # its message names the database without its password
        print(f"ona-bot: {exc}", file=sys.stderr)
        return 1
    if args.audit_command == "head":
        print(store.audit_head() or "0:" + "0" * 64)
        return 0
    if args.audit_command == "verify":
        verdict = audit_trail.verdict(store, head)
        label = {OK: "OK", TAMPERED: "TAMPERED"}.get(verdict.status, "CANNOT VERIFY")
        print(f"{label}: {verdict.message}")
        return {OK: 0, TAMPERED: 1}.get(verdict.status, 2)
    sys.stdout.write(audit_trail.export(store, args.format))
    return 0


if __name__ == "__main__":
    sys.exit(main())
