"""Log lines: plain text (the default) or one JSON object per line (ONA_BOT_LOG_FORMAT=json), each
with who and what it is about when known, and never a secret.

Who and what (Slack user, team, operation, approval request ID) travel in a context variable: the
listener binds them for the work it starts (bot/app.py runs each piece of work in its own copy of
the context), the router and the approval flow add what they learn, and every line logged during that
work carries them. A secret the configuration holds, or anything shaped like a Slack or SCIM token,
is replaced before a line is written, whatever the format.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

FIELDS = ("user", "team", "operation", "request_id")
_BOUND: contextvars.ContextVar[dict[str, str]] = contextvars.ContextVar("ona_bot_log_fields")
# Slack tokens (xoxb-, xoxp-, xapp-…), SCIM tokens, and whatever follows "Bearer ".
TOKEN_SHAPES = re.compile(r"\b(?:xox[a-z]-|xapp-)[A-Za-z0-9-]+|\bscim_[A-Za-z0-9_\-]{8,}|(?<=Bearer )\S+")
REDACTED = "[redacted]"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def bind(**fields: str | None) -> None:
    """Add to what the current work's log lines say (None or "" leaves a field as it was). Outside work
    started by `in_own_context` (a background thread, Bolt's own threads) nothing is bound: a value
    would otherwise stay with that long-lived thread and mislabel its later lines."""
    current = _BOUND.get(None)
    if current is None:
        return
    new = {k: str(v) for k, v in fields.items() if k in FIELDS and v}
    if new and any(current.get(k) != v for k, v in new.items()):
        _BOUND.set({**current, **new})


def bound() -> dict[str, str]:
    return dict(_BOUND.get({}))


def in_own_context(work: Callable[[], Any], **fields: str | None) -> Callable[[], None]:
    """`work`, to run in a fresh copy of the current context with `fields` bound: what it binds stays
    with it, whichever thread runs it next."""
    def run() -> None:
        def bound_work() -> None:
            _BOUND.set({})
            bind(**fields)
            work()
        contextvars.copy_context().run(bound_work)
    return run


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first: a secret that contains another is replaced whole.
        self.secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return TOKEN_SHAPES.sub(REDACTED, text)


class TextFormatter(logging.Formatter):
    def __init__(self, redact: Redactor) -> None:
        super().__init__(TEXT_FORMAT)
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """time, level, logger, message, then user/team/operation/request_id when known (bound, or passed
    with `extra=`), and the exception's traceback as `exception`."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": self.redact(record.getMessage()),
        }
        line.update(_BOUND.get({}))
        line.update({k: str(getattr(record, k)) for k in FIELDS if getattr(record, k, None)})
        if record.exc_info:
            line["exception"] = self.redact(self.formatException(record.exc_info))
        elif record.exc_text:
            line["exception"] = self.redact(record.exc_text)
        return json.dumps(line, ensure_ascii=False)


def formatter(kind: str, secrets: Iterable[str] = ()) -> logging.Formatter:
    redact = Redactor(secrets)
    return JsonFormatter(redact) if kind == "json" else TextFormatter(redact)


def configure(kind: str = "text", secrets: Iterable[str] = ()) -> logging.Formatter:
    """The root logger writes to stderr in `kind` ("text" or "json"); returns the formatter, for the
    servers' own loggers (gunicorn's) to use too."""
    chosen = formatter(kind, secrets)
    handler = logging.StreamHandler()
    handler.setFormatter(chosen)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    # At DEBUG slack-sdk logs request and reply bodies, which may hold a one-time secret for the
    # requester: never below INFO, whatever the root level.
    for name in ("slack_sdk", "slack_bolt", "ona.bolt"):
        logging.getLogger(name).setLevel(logging.INFO)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per HTTP call: ona.client logs what matters
    return chosen
