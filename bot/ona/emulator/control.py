"""The emulator's control endpoints (no key needed): reset, publish DNS, inject faults, add members and
read the request log, for another process that drives it (see ``server.py``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bot.ona.emulator.connect import Reply
from bot.ona.emulator.service import ConnectError, decode_body
from bot.ona.models import OrganizationRole, UserStatus

if TYPE_CHECKING:
    from bot.ona.emulator.server import Emulator

CONTROL_PREFIX = "/_emulator/"



def _control_reset(emulator: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    emulator.reset()
    return {}


def _control_dns(emulator: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    emulator.publish_dns(str(body["domain"]), str(body["token"]))
    return {}


def _control_fault(emulator: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    retry_after = body.get("retryAfter")
    emulator.inject_fault(
        str(body["method"]),
        code=body.get("code", "unavailable"),
        times=int(body.get("times", 1)),
        delay=float(body.get("delay", 0.0)),
        retry_after=None if retry_after is None else float(retry_after),
        drop=bool(body.get("drop", False)),
        gateway=None if body.get("gateway") is None else int(body["gateway"]),
        applied=bool(body.get("applied", False)),
    )
    return {}


def _control_members(emulator: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    user_id = emulator.add_member(
        str(body["email"]),
        str(body["fullName"]),
        role=body.get("role", OrganizationRole.MEMBER.value),
        status=body.get("status", UserStatus.ACTIVE.value),
    )
    return {"userId": user_id}


def _control_requests(emulator: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    return {"requests": emulator.requests}


CONTROL: dict[tuple[str, str], Callable[[Emulator, dict[str, Any]], dict[str, Any]]] = {
    ("POST", "reset"): _control_reset,
    ("POST", "dns"): _control_dns,
    ("POST", "fault"): _control_fault,
    ("POST", "members"): _control_members,
    ("GET", "requests"): _control_requests,
}


def control(emulator: Emulator, verb: str, name: str, raw: bytes) -> Reply:
    handler = CONTROL.get((verb, name))
    if handler is None:
        other_verb = any(route == name for _, route in CONTROL)
        missing = ConnectError("not_found", f"no control endpoint {verb} {CONTROL_PREFIX}{name}")
        return Reply.error(missing, status=405 if other_verb else None)
    body = decode_body(raw) if raw.strip() else {}
    if not isinstance(body, dict):
        return Reply.error(ConnectError("invalid_argument", "the body must be a JSON object"))
    try:
        return Reply(payload=handler(emulator, body))
    except (KeyError, TypeError, ValueError) as exc:
        return Reply.error(ConnectError("invalid_argument", f"bad control request: {exc!r}"))

