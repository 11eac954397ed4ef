"""Injected faults: what the next calls of a method do instead of answering normally (a Connect error,
a delay, a dropped connection, a gateway's HTML page), and the answers they make."""

from __future__ import annotations

from dataclasses import dataclass

from bot.ona.emulator.connect import Reply
from bot.ona.emulator.rpc import HTTP_STATUS, ConnectError
from bot.ona.models import METHODS

ANY_METHOD = "*"


@dataclass
class Fault:
    """The next ``remaining`` calls of ``method`` misbehave like this."""

    method: str
    code: str | None
    remaining: int
    delay: float = 0.0
    retry_after: float | None = None
    drop: bool = False
    gateway: int | None = None  # a gateway in front of Ona answers this HTTP status with an HTML page
    applied: bool = False  # …after Ona applied the call (the answer was lost on the way back)


GATEWAY_PAGES = {502: "502 Bad Gateway", 503: "503 Service Unavailable", 504: "504 Gateway Time-out"}


def check(fault: Fault) -> None:
    """Refuse a fault that could never happen, before it is queued."""
    if fault.method != ANY_METHOD and fault.method not in METHODS:
        raise ValueError(f"unknown method {fault.method!r}")
    if fault.gateway is not None and fault.gateway not in GATEWAY_PAGES:
        raise ValueError(f"a gateway answers 502, 503 or 504, not {fault.gateway!r}")
    if fault.code is not None and fault.code not in HTTP_STATUS:
        raise ValueError(f"unknown Connect code {fault.code!r}")
    if fault.remaining < 1 or fault.delay < 0 or (fault.retry_after is not None and fault.retry_after < 0):
        raise ValueError("times must be >= 1; delay and retry_after must be >= 0")


def take(faults: list[Fault], method: str) -> Fault | None:
    """The first fault for ``method``, used up once; the caller holds the lock."""
    for fault in faults:
        if fault.method in (method, ANY_METHOD):
            fault.remaining -= 1
            if fault.remaining == 0:
                faults.remove(fault)
            return fault
    return None


def gateway_reply(fault: Fault) -> Reply:
    """A load balancer's HTML error page instead of Ona's answer."""
    assert fault.gateway is not None
    page = f"<html><body><h1>{GATEWAY_PAGES[fault.gateway]}</h1></body></html>".encode()
    return Reply(status=fault.gateway, content=page, content_type="text/html")


def reply(fault: Fault) -> Reply | None:
    """The fault's own answer, or None when it only delays the real one."""
    if fault.drop:
        return Reply(drop=True)
    if fault.code is None:
        return None  # a delay only
    headers = {"Retry-After": _seconds(fault.retry_after)} if fault.retry_after is not None else {}
    return Reply.error(ConnectError(fault.code, f"injected fault: {fault.code}"), headers=headers)


def _seconds(value: float) -> str:
    """Retry-After in whole seconds when possible; fractions keep fast tests fast."""
    return str(int(value)) if float(value).is_integer() else str(value)
