"""The machinery of the emulated OrganizationService, independent of HTTP and of any one method.

``dispatch`` runs a call the way Ona does: authentication, parsing (the request arrives as canonical
proto3 JSON, decoded from either codec by ``connect.py``), buf.validate rules, the organization
check, authorization (a member key may only read, and join or leave as itself), then the handler
registered with ``@rpc``. Every failure is a ``ConnectError`` carrying a Connect code. Callers hold
the state lock. ``apply_update`` implements proto3 partial-update semantics once for every Update*.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, get_args

import pydantic

from bot.ona.emulator.state import State, now
from bot.ona.emulator.validate import RequestInvalid, validate
from bot.ona.models import (
    METHODS,
    OrganizationMember,
    PaginationRequest,
    PaginationResponse,
)
from bot.ona.wire import WireModel

SERVICE = "gitpod.v1.OrganizationService"
DEFAULT_PAGE_SIZE = 25

# Connect code -> HTTP status (connectrpc.com/docs/protocol#error-codes).
HTTP_STATUS: dict[str, int] = {
    "canceled": 499,
    "unknown": 500,
    "invalid_argument": 400,
    "deadline_exceeded": 504,
    "not_found": 404,
    "already_exists": 409,
    "permission_denied": 403,
    "resource_exhausted": 429,
    "failed_precondition": 400,
    "aborted": 409,
    "out_of_range": 400,
    "unimplemented": 501,
    "internal": 500,
    "unavailable": 503,
    "data_loss": 500,
    "unauthenticated": 401,
}


class ConnectError(Exception):
    """An error answer: its Connect code, HTTP status and message."""

    def __init__(self, code: str, message: str) -> None:
        if code not in HTTP_STATUS:
            raise ValueError(f"unknown Connect code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        return HTTP_STATUS[self.code]

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True)
class Undecodable:
    """A request body that does not decode: logged as text, answered with invalid_argument."""

    text: str
    error: str


def decode_body(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return Undecodable(raw.decode("utf-8", "replace"), str(exc))


def is_read(method: str) -> bool:
    return method.startswith(("Get", "List"))


# Mutations a member key may make, because they act on the caller themselves.
SELF_SERVICE: dict[str, Callable[[Any, str | None], bool]] = {
    "JoinOrganization": lambda request, caller_id: True,
    "LeaveOrganization": lambda request, caller_id: request.user_id == caller_id,
}


def _allowed(method: str, role: str, request: WireModel, caller_id: str | None) -> bool:
    if role == "admin" or is_read(method):
        return True
    self_service = SELF_SERVICE.get(method)
    return bool(self_service and self_service(request, caller_id))


@dataclass
class Call:
    """What a handler sees: the state, who is calling and the time of the call."""

    state: State
    caller_id: str | None
    now: datetime

    def caller(self) -> OrganizationMember | None:
        """The caller's profile, also after they left the organization."""
        key = self.caller_id or ""
        return self.state.members.get(key) or self.state.former_members.get(key)


Handler = Callable[[Call, Any], WireModel]
HANDLERS: dict[str, Handler] = {}
M = TypeVar("M", bound=WireModel)


def rpc(method: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        HANDLERS[method] = handler
        return handler

    return register


def dispatch(state: State, method: str, role: str | None, body: Any) -> dict[str, Any]:
    """Answer one call with the proto3 JSON response, or raise ConnectError."""
    if method not in METHODS:
        raise ConnectError("unimplemented", f"{SERVICE}/{method} is not implemented")
    if role is None:
        raise ConnectError("unauthenticated", "missing or invalid API key")
    request = _parse(METHODS[method][0], body)
    try:
        validate(request)
    except RequestInvalid as exc:
        raise ConnectError("invalid_argument", str(exc)) from None
    _check_organization(state, method, request)
    caller_id = state.user_id_for(role)
    if not _allowed(method, role, request, caller_id):
        raise ConnectError("permission_denied", f"{method} requires the organization admin role")
    response = HANDLERS[method](Call(state, caller_id, now()), request)
    return response.to_proto_json()


def _parse(request_cls: type[M], body: Any) -> M:
    if isinstance(body, Undecodable):
        raise ConnectError("invalid_argument", body.error)
    if not isinstance(body, dict):
        raise ConnectError("invalid_argument", "request body must be a JSON object")
    try:
        return request_cls.parse_strict(body)
    except pydantic.ValidationError as exc:
        problems = (
            f"{'.'.join(str(p) for p in err['loc']) or 'request'}: {err['msg'].removeprefix('Value error, ')}"
            for err in exc.errors()
        )
        raise ConnectError("invalid_argument", "invalid request: " + "; ".join(problems)) from None


def _check_organization(state: State, method: str, request: WireModel) -> None:
    """Every call but CreateOrganization addresses the emulated organization, which must exist."""
    if method == "CreateOrganization":
        return
    requested = getattr(request, "organization_id", None)
    if state.organization is None or (requested and requested != state.organization_id):
        raise ConnectError("not_found", f"organization {requested or state.organization_id} not found")


# --- shared helpers ---------------------------------------------------------------------------


def apply_update(target: WireModel, update: WireModel, skip: frozenset[str] = frozenset()) -> None:
    """Copy onto ``target`` the fields the request carried: proto3 partial-update semantics.

    An empty repeated or map field means "no change" (proto3 JSON cannot tell it from an absent
    one); a nested Update* message is applied partially in turn; any other message (a wrapper such
    as InviteDomains included) replaces the stored one, so a wrapper with an empty list clears it.
    """
    for name in update.model_fields_set - skip:
        value = getattr(update, name)
        if value is None or name not in type(target).model_fields:
            continue
        if name in type(update)._repeated and not value:
            continue
        stored_cls = _message_class(type(target), name)
        if isinstance(value, WireModel) and stored_cls and not isinstance(value, stored_cls):
            nested = getattr(target, name) or stored_cls()
            apply_update(nested, value)
            value = nested
        setattr(target, name, value)


def _message_class(model: type[WireModel], name: str) -> type[WireModel] | None:
    annotation = model.model_fields[name].annotation
    candidates = (annotation, *get_args(annotation))
    return next((c for c in candidates if isinstance(c, type) and issubclass(c, WireModel)), None)


def paginate(items: list[M], pagination: PaginationRequest | None) -> tuple[list[M], PaginationResponse]:
    """One page and the token of the next; the token is an opaque, encoded offset."""
    size = pagination.page_size if pagination and pagination.page_size else DEFAULT_PAGE_SIZE
    start = _decode_token(pagination.token) if pagination and pagination.token else 0
    end = start + size
    next_token = base64.urlsafe_b64encode(json.dumps({"offset": end}).encode()).decode() if end < len(items) else ""
    return items[start:end], PaginationResponse(next_token=next_token)


def _decode_token(token: str) -> int:
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
    except (binascii.Error, ValueError, TypeError, KeyError):
        offset = None
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise ConnectError("invalid_argument", "invalid pagination token")
    return offset
