"""Errors of the Ona API client, one class per Connect code plus the transport failures.

Every error carries ``user_message``: a sentence safe to post in Slack. It is built only from the
Connect code and Ona's own error message, never from request headers, bodies or a stack, so it can
never contain the API key (the client also redacts the key from Ona's message, just in case).

HTTP status -> code, for error responses without a Connect JSON body (a proxy's 502 page, an empty
body): Connect's documented table (400 internal, 401 unauthenticated, 403 permission_denied,
404 unimplemented, 502/503/504 unavailable, anything else unknown) with one deliberate exception:
429 maps to ``resource_exhausted`` rather than Connect's ``unavailable``. A 429 is a rate limit, it
means the request was refused before Ona acted on it, and it may carry Retry-After; mapping it to
resource_exhausted lets the client honour Retry-After and retry mutations safely, which it must
never do for ``unavailable``.

Whether a failed change may have been applied (``may_have_applied``): only an answer that proves Ona
did not act says "nothing was changed" (invalid_argument, not_found, already_exists, permission_denied,
failed_precondition, aborted, out_of_range, unimplemented, unauthenticated, resource_exhausted, and a
connection that was never made). ``unavailable``, ``deadline_exceeded``, ``internal``, ``unknown``,
``data_loss`` and ``canceled`` answers to a mutation, and a timeout or a dropped connection, may come
after Ona applied it: their outcome is unknown.

A gateway's 502/503/504 (a body that is not a Connect error: ``gateway`` is true) and Ona's own Connect
``unavailable`` JSON error can be told apart, and are told apart in words, but deliberately not in what
they mean: Connect (like gRPC) says ``unavailable`` is "most likely transient" and not always safe to
retry for a non-idempotent call, and Ona's own front may itself speak Connect, so neither proves that
nothing happened. Both are "outcome unknown", as the client's retry table already treats them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar

# Longest piece of Ona's error message quoted back to a Slack user.
_MAX_QUOTED = 300


class OnaError(Exception):
    """An Ona API call failed. ``code`` is the Connect code string (e.g. ``"not_found"``)."""

    code: str = "unknown"
    default_http_status: ClassVar[int] = 500
    # True for codes that do not prove the call was not acted on (see the module docstring).
    uncertain: ClassVar[bool] = False
    # What a Slack user is told; ``{detail}`` becomes Ona's message when there is one.
    summary: ClassVar[str] = "Ona returned an unexpected error."

    def __init__(
        self,
        message: str = "",
        *,
        http_status: int | None = None,
        method: str | None = None,
        retry_after: float | None = None,
        gateway: bool = False,
    ) -> None:
        self.message = message
        self.http_status = self.default_http_status if http_status is None else http_status
        self.method = method
        self.retry_after = retry_after
        self.gateway = gateway  # answered by something in front of Ona (no Connect error body)
        # A read never changes anything; without a method name, assume it may have been a change.
        self.may_have_applied = self.uncertain and not (method or "").startswith(("Get", "List"))
        super().__init__(self._text())

    def _text(self) -> str:
        where = f"{self.method}: " if self.method else ""
        detail = f": {self.message}" if self.message else ""
        return f"{where}[{self.code}]{detail}"

    @property
    def user_message(self) -> str:
        detail = _quote(self.message)
        return f"{self.summary} (Ona said: {detail})" if detail else self.summary


def _when(retry_after: float | None) -> str:
    """Ona's Retry-After as people say it: no seconds."""
    if retry_after is None or 10 < retry_after <= 60:
        return "in a minute"
    if retry_after <= 10:
        return "in a few seconds"
    minutes = -(-int(retry_after) // 60)
    return f"in {minutes} minutes" if minutes < 120 else "in a few hours"


def _quote(message: str) -> str:
    text = " ".join(message.split())
    return text if len(text) <= _MAX_QUOTED else text[: _MAX_QUOTED - 1] + "…"


class Canceled(OnaError):
    uncertain = True
    code = "canceled"
    default_http_status = 499
    summary = "The request to Ona was canceled."


class Unknown(OnaError):
    uncertain = True
    code = "unknown"
    default_http_status = 500
    summary = "Ona returned an unexpected error."


class InvalidArgument(OnaError):
    code = "invalid_argument"
    default_http_status = 400
    summary = "Ona rejected the request as invalid."


class DeadlineExceeded(OnaError):
    uncertain = True
    code = "deadline_exceeded"
    default_http_status = 504
    summary = "Ona did not finish the request in time."


class NotFound(OnaError):
    code = "not_found"
    default_http_status = 404
    summary = "Ona could not find that."


class AlreadyExists(OnaError):
    code = "already_exists"
    default_http_status = 409
    summary = "That already exists in Ona."


class PermissionDenied(OnaError):
    code = "permission_denied"
    default_http_status = 403
    summary = "The bot's Ona account is not allowed to do that."


class ResourceExhausted(OnaError):
    code = "resource_exhausted"
    default_http_status = 429
    summary = "Ona is rate-limiting the bot."

    @property
    def user_message(self) -> str:
        return f"{self.summary} Please try again {_when(self.retry_after)}."


class FailedPrecondition(OnaError):
    code = "failed_precondition"
    default_http_status = 400
    summary = "Ona refused the request in the organization's current state."


class Aborted(OnaError):
    code = "aborted"
    default_http_status = 409
    summary = "Ona aborted the request because of a conflicting change; try again."


class OutOfRange(OnaError):
    code = "out_of_range"
    default_http_status = 400
    summary = "Ona rejected a value as out of range."


class Unimplemented(OnaError):
    code = "unimplemented"
    default_http_status = 501
    summary = "Ona does not support that operation."


class Internal(OnaError):
    uncertain = True
    code = "internal"
    default_http_status = 500
    summary = "Ona hit an internal error."


class Unavailable(OnaError):
    uncertain = True
    code = "unavailable"
    default_http_status = 503
    summary = "Ona is unavailable right now; please try again shortly."


class DataLoss(OnaError):
    uncertain = True
    code = "data_loss"
    default_http_status = 500
    summary = "Ona reported data loss."


class Unauthenticated(OnaError):
    code = "unauthenticated"
    default_http_status = 401
    summary = "Ona rejected the bot's API key; an admin needs to check the bot's Ona credentials."

    @property
    def user_message(self) -> str:
        return self.summary  # Ona's detail is about the credential itself: not for the channel


ERRORS_BY_CODE: dict[str, type[OnaError]] = {
    cls.code: cls
    for cls in (
        Canceled, Unknown, InvalidArgument, DeadlineExceeded, NotFound, AlreadyExists, PermissionDenied,
        ResourceExhausted, FailedPrecondition, Aborted, OutOfRange, Unimplemented, Internal, Unavailable,
        DataLoss, Unauthenticated,
    )
}

# Connect's "HTTP to Connect code" table, except 429 (see the module docstring).
_CODE_BY_HTTP_STATUS: dict[int, str] = {
    400: "internal",
    401: "unauthenticated",
    403: "permission_denied",
    404: "unimplemented",
    429: "resource_exhausted",
    502: "unavailable",
    503: "unavailable",
    504: "unavailable",
}


class OnaTransportError(OnaError):
    """No complete HTTP response arrived. ``may_have_applied`` says whether Ona may have acted."""

    code = "unavailable"
    default_http_status = 0
    summary = "The bot could not talk to Ona."
    may_have_applied: bool = False

    def __init__(self, message: str = "", *, method: str | None = None, may_have_applied: bool = False) -> None:
        super().__init__(message, http_status=0, method=method)
        self.may_have_applied = may_have_applied

    @property
    def user_message(self) -> str:
        if self.may_have_applied:
            return (f"{self.summary} The change may or may not have been applied: "
                    "check its current state before trying again.")
        return f"{self.summary} Please try again shortly."


class OnaConnectError(OnaTransportError):
    """The connection could not be made (refused, DNS, TLS): the request never reached Ona."""

    summary = "The bot could not reach Ona."

    def __init__(self, message: str = "", *, method: str | None = None) -> None:
        super().__init__(message, method=method, may_have_applied=False)


class OnaTimeout(OnaTransportError):
    """Ona did not answer in time after the request was sent: a mutation may have been applied."""

    code = "deadline_exceeded"
    summary = "Ona did not answer in time."


class OnaConnectionLost(OnaTransportError):
    """The connection dropped after the request was (possibly) sent: a mutation may have been applied."""

    summary = "The connection to Ona dropped before it answered."


class ClearListError(ValueError):
    """An Update* request explicitly sets a repeated or map field to empty.

    In proto3 JSON an empty list and an absent field are the same thing, so Ona reads the empty
    value as "no change" and the caller's intent to clear would silently do nothing. Raised before
    anything is sent.
    """

    def __init__(self, message_name: str, paths: list[str]) -> None:
        self.message_name = message_name
        self.paths = paths
        fields = ", ".join(paths)
        super().__init__(
            f"{message_name}: {fields} set to an empty list or map. proto3 cannot tell an empty list "
            "from an absent one, so Ona would treat this as 'no change' and keep the current value. "
            "To change the field, send the complete new non-empty value; Ona's API cannot clear it "
            "through this field. (Fields wrapped in a message whose presence is the signal, such as "
            "UpdateOrganizationRequest.invite_domains=InviteDomains(domains=[]) or "
            "UpdateSSOConfigurationRequest.additional_scopes=AdditionalScopesUpdate(scopes=[]), "
            "can be cleared with an empty list.)"
        )


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP date. None when absent or invalid."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0.0, seconds) if seconds == seconds else None  # NaN is not a delay


def _connect_body(body: bytes | str | None) -> dict[str, Any] | None:
    """The Connect error object {"code", "message", ...}, or None when the body is not one."""
    if not body:
        return None
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if isinstance(data, dict) and isinstance(data.get("code"), str):
        return data
    return None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def error_from_response(
    status: int, headers: Mapping[str, str], body: bytes | str | None, *, method: str | None = None
) -> OnaError:
    """Map an HTTP error response (Connect unary protocol) to the matching OnaError subclass."""
    retry_after = parse_retry_after(_header(headers, "retry-after"))
    data = _connect_body(body)
    if data is not None:
        # Connect: an unrecognised code string is treated as unknown.
        cls = ERRORS_BY_CODE.get(data["code"], Unknown)
        message = data.get("message")
        message = message if isinstance(message, str) else ""
    else:
        cls = ERRORS_BY_CODE[_CODE_BY_HTTP_STATUS.get(status, "unknown")]
        message = f"HTTP {status} without a Connect error body"
    return cls(message, http_status=status, method=method, retry_after=retry_after, gateway=data is None)


def unknown_outcome(exc: OnaError, check: str = "") -> str:
    """What a person is told when a change's answer does not prove that it failed (may_have_applied):
    what happened, that it may or may not have been applied, and what to check."""
    if isinstance(exc, OnaTimeout | DeadlineExceeded):
        what = "Ona did not answer in time."
    elif isinstance(exc, OnaTransportError):
        what = "The connection to Ona broke before it answered."
    elif exc.gateway:
        what = "A gateway in front of Ona answered with an error instead of Ona."
    elif isinstance(exc, Unavailable):
        what = "Ona answered that it is unavailable."
    else:
        what = "Ona answered with an unexpected error."
    return (f"{what} The change may or may not have been applied. "
            f"{check or 'Check the current state before trying again.'}")
