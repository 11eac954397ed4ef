"""Typed client for Ona's OrganizationService (Connect protocol, JSON, unary calls over HTTP POST).

One ``OnaClient`` holds one ``httpx.Client`` (thread safe; Bolt runs listeners on threads). Every
call goes through ``call``, which owns retries, so callers never retry themselves:

=====================================  ===========================  ==========================
failure                                reads (Get*, List*)          mutations (everything else)
=====================================  ===========================  ==========================
connect error (refused, DNS, TLS)      retry                        retry (never reached Ona)
resource_exhausted / HTTP 429          retry, honour Retry-After    retry, honour Retry-After
unavailable (503, 502, 504)            retry                        no: a proxy may answer
                                                                    503 after the write
deadline_exceeded (from Ona)           retry                        no
read/write timeout                     retry                        no: may have been applied
connection dropped mid-request         retry                        no: may have been applied
anything else                          no                           no
=====================================  ===========================  ==========================

Back-off is exponential with full jitter, bounded by ``backoff_max``, at most ``max_retries``
retries. A Retry-After longer than ``retry_after_cap`` is not waited for: the error is raised.
"""

from __future__ import annotations

import json
import logging
import os
import random as _random
import re
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Self, cast

import httpx
from pydantic import SecretStr, ValidationError

from bot.ona.errors import (
    ClearListError,
    DeadlineExceeded,
    Internal,
    OnaConnectError,
    OnaConnectionLost,
    OnaError,
    OnaTimeout,
    OnaTransportError,
    ResourceExhausted,
    Unavailable,
    error_from_response,
)
from bot.ona.methods import OrganizationMethods
from bot.ona.models import (
    METHODS,
    DomainVerification,
    ListDomainVerificationsRequest,
    ListDomainVerificationsResponse,
    ListMembersRequest,
    ListMembersRequestFilter,
    ListMembersRequestSort,
    ListMembersResponse,
    ListSCIMConfigurationsRequest,
    ListSCIMConfigurationsResponse,
    ListSSOConfigurationsRequest,
    ListSSOConfigurationsResponse,
    OrganizationMember,
    PaginationRequest,
    SCIMConfiguration,
    SSOConfiguration,
)
from bot.ona.wire import WireModel

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_TIMEOUT", "OnaClient", "check_no_cleared_lists", "is_read_method"]

log = logging.getLogger("ona.client")

DEFAULT_BASE_URL = "https://app.ona.com/api"
DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=15.0, write=10.0, pool=5.0)
SERVICE = "gitpod.v1.OrganizationService"
MAX_PAGE_SIZE = 100
USER_AGENT = f"ona-bot/0.1 httpx/{httpx.__version__}"

# JoinOrganization's organization_id is one arm of a oneof with invite_id (filling it would send
# both); DeleteOrganization is irreversible, so its target must always be named explicitly.
_NO_DEFAULT_ORGANIZATION = frozenset({"JoinOrganization", "DeleteOrganization"})

# A header value httpx can send: printable ASCII, no whitespace. Checked up front, because httpx's
# own error for a bad header value quotes the value, which would put the key in an exception.
_TOKEN_CHARS = re.compile(r"^[\x21-\x7e]+$")


def is_read_method(method: str) -> bool:
    """Reads are safe to repeat; every other method may change state."""
    return method.startswith(("Get", "List"))


class OnaClient(OrganizationMethods):
    """Client for Ona's OrganizationService. Use as a context manager or call ``close()``."""

    def __init__(
        self,
        api_key: str | SecretStr,
        *,
        base_url: str = DEFAULT_BASE_URL,
        organization_id: str | None = None,
        timeout: httpx.Timeout | float | None = None,
        max_retries: int = 3,
        backoff_base: float = 0.25,
        backoff_max: float = 8.0,
        retry_after_cap: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        user_agent: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
        random: Callable[[], float] = _random.random,
        observe: Callable[[str, str, float], None] | None = None,
    ) -> None:
        key = api_key if isinstance(api_key, SecretStr) else SecretStr(api_key)
        if not key.get_secret_value():
            raise ValueError("the Ona API key is empty")
        if not _TOKEN_CHARS.match(key.get_secret_value()):
            raise ValueError("the Ona API key contains whitespace or non-ASCII characters")
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        self._api_key = key
        self.base_url = base_url.rstrip("/")
        self.organization_id = organization_id or None
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.retry_after_cap = retry_after_cap
        self._sleep = sleep
        self._random = random
        self._observe = observe  # (method, "ok" or the error's code, seconds) per attempt: the caller's metrics
        timeout = DEFAULT_TIMEOUT if timeout is None else timeout
        self.timeout = timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self._http = httpx.Client(
            timeout=timeout,
            transport=transport,
            headers={
                "Content-Type": "application/json",
                "Connect-Protocol-Version": "1",
                "User-Agent": f"{USER_AGENT} {user_agent}" if user_agent else USER_AGENT,
            },
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ, **kwargs: Any) -> Self:
        """ONA_API_KEY (or GITPOD_API_KEY), ONA_BASE_URL, ONA_ORGANIZATION_ID; kwargs override."""
        key = env.get("ONA_API_KEY") or env.get("GITPOD_API_KEY")
        if not key:
            raise ValueError("ONA_API_KEY is not set (GITPOD_API_KEY is accepted too): the bot needs an Ona API key")
        if env.get("ONA_BASE_URL"):
            kwargs.setdefault("base_url", env["ONA_BASE_URL"])
        if env.get("ONA_ORGANIZATION_ID"):
            kwargs.setdefault("organization_id", env["ONA_ORGANIZATION_ID"])
        return cls(key, **kwargs)

    def __repr__(self) -> str:
        return f"OnaClient(base_url={self.base_url!r}, organization_id={self.organization_id!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- calls ------------------------------------------------------------------------------

    def _invoke(self, method: str, request: WireModel | None, fields: dict[str, Any]) -> Any:
        request_cls, _ = _method(method)
        if request is None:
            unknown = sorted(set(fields) - set(request_cls.model_fields))
            if unknown:
                raise TypeError(f"{request_cls.__name__} has no field {unknown[0]!r}")
            request = request_cls(**fields)
        elif fields:
            raise TypeError("pass either a request model or keyword fields, not both")
        return self.call(method, self._with_organization(method, request))

    def _with_organization(self, method: str, request: WireModel) -> WireModel:
        """Fill organization_id from the client's configuration when the caller left it unset."""
        if (
            self.organization_id
            and method not in _NO_DEFAULT_ORGANIZATION
            and "organization_id" in type(request).model_fields
            and "organization_id" not in request.model_fields_set
        ):
            return request.model_copy(update={"organization_id": self.organization_id})
        return request

    def call(self, method: str, request: WireModel) -> Any:
        """POST one request and return the parsed response model, retrying per the module table."""
        request_cls, response_cls = _method(method)
        if not isinstance(request, request_cls):
            raise TypeError(f"{method} takes a {request_cls.__name__}, not {type(request).__name__}")
        check_no_cleared_lists(method, request)
        body = json.dumps(request.to_wire(), separators=(",", ":")).encode()
        url = f"{self.base_url}/{SERVICE}/{method}"
        attempt = 0
        while True:
            attempt += 1
            try:
                data = self._attempt(method, url, body, attempt)
            except OnaError as exc:
                delay = self._retry_delay(method, exc, attempt)
                if delay is None:
                    raise
                log.warning("ona call %s failed with %s; retry %d/%d in %.2fs",
                            method, exc.code, attempt, self.max_retries, delay)
                self._sleep(delay)
                continue
            return self._parse(method, response_cls, data)

    def _attempt(self, method: str, url: str, body: bytes, attempt: int) -> Any:
        """One HTTP exchange: the decoded JSON body on success, an OnaError otherwise."""
        started = time.monotonic()
        try:
            response = self._http.post(url, content=body, headers=self._auth())
        except httpx.HTTPError as exc:
            error = self._transport_error(method, exc)
            self._observed(method, error.code, started)
            log.info("ona call %s status=- code=%s duration_ms=%.0f attempt=%d",
                     method, error.code, _ms(started), attempt)
            raise error from None  # httpx's exception holds the request, headers and key included
        if response.status_code == 200:
            self._observed(method, "ok", started)
            log.debug("ona call %s status=200 duration_ms=%.0f attempt=%d", method, _ms(started), attempt)
            return self._decode(method, response)
        content = response.content.replace(self._api_key.get_secret_value().encode(), b"[redacted]")
        error = error_from_response(response.status_code, response.headers, content, method=method)
        self._observed(method, error.code, started)
        log.info("ona call %s status=%d code=%s duration_ms=%.0f attempt=%d",
                 method, response.status_code, error.code, _ms(started), attempt)
        raise error

    def _observed(self, method: str, code: str, started: float) -> None:
        if self._observe is not None:
            self._observe(method, code, time.monotonic() - started)

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._api_key.get_secret_value()}"}

    def _decode(self, method: str, response: httpx.Response) -> Any:
        try:
            data = json.loads(response.content or b"{}")
        except ValueError:
            raise Internal("Ona answered 200 with a body that is not JSON", method=method) from None
        if not isinstance(data, dict):
            raise Internal("Ona answered 200 with a JSON body that is not an object", method=method)
        return data

    def _parse(self, method: str, response_cls: type[WireModel], data: dict[str, Any]) -> WireModel:
        try:
            return response_cls.model_validate(_drop_nulls(data))
        except ValidationError as exc:
            # Only the locations: the values may be secrets (a SCIM token, an SSO client id).
            where = ", ".join(".".join(str(p) for p in err["loc"]) for err in exc.errors())
            raise Internal(f"Ona's response does not match {response_cls.__name__} at {where}",
                           method=method) from None

    def _transport_error(self, method: str, exc: httpx.HTTPError) -> OnaError:
        mutation = not is_read_method(method)
        text = self._redact(f"{type(exc).__name__}: {exc}")
        # ConnectTimeout and PoolTimeout are timeouts, but the request was never sent.
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
            return OnaConnectError(text, method=method)
        if isinstance(exc, httpx.TimeoutException):
            return OnaTimeout(text, method=method, may_have_applied=mutation)
        if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
            return OnaConnectionLost(text, method=method, may_have_applied=mutation)
        return OnaTransportError(text, method=method, may_have_applied=mutation)

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key.get_secret_value(), "[redacted]")

    # --- retries ----------------------------------------------------------------------------

    def _retry_delay(self, method: str, error: OnaError, attempt: int) -> float | None:
        """Seconds to wait before retrying, or None when this failure must not be retried."""
        if attempt > self.max_retries or not _retryable(method, error):
            return None
        if error.retry_after is not None and isinstance(error, ResourceExhausted | Unavailable):
            if error.retry_after > self.retry_after_cap:
                return None  # the caller is better served by the error than by a long stall
            return error.retry_after
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        return self._random() * ceiling  # full jitter

    # --- pagination -------------------------------------------------------------------------

    # The iterators check page_size when called, not at the first next(); pages are fetched lazily.

    def iter_members(
        self,
        filter: ListMembersRequestFilter | None = None,
        page_size: int = MAX_PAGE_SIZE,
        sort: ListMembersRequestSort | None = None,
    ) -> Iterator[OrganizationMember]:
        """Every member matching ``filter``, in pages of ``page_size`` (at most 100)."""
        extra = {k: v for k, v in (("filter", filter), ("sort", sort)) if v is not None}
        pages = self._pages("ListMembers", ListMembersRequest, page_size, extra)
        return (m for page in pages for m in cast(ListMembersResponse, page).members)

    def iter_domain_verifications(self, page_size: int = MAX_PAGE_SIZE) -> Iterator[DomainVerification]:
        pages = self._pages("ListDomainVerifications", ListDomainVerificationsRequest, page_size)
        return (d for page in pages for d in cast(ListDomainVerificationsResponse, page).domain_verifications)

    def iter_sso_configurations(self, page_size: int = MAX_PAGE_SIZE) -> Iterator[SSOConfiguration]:
        pages = self._pages("ListSSOConfigurations", ListSSOConfigurationsRequest, page_size)
        return (c for page in pages for c in cast(ListSSOConfigurationsResponse, page).sso_configurations)

    def iter_scim_configurations(self, page_size: int = MAX_PAGE_SIZE) -> Iterator[SCIMConfiguration]:
        pages = self._pages("ListSCIMConfigurations", ListSCIMConfigurationsRequest, page_size)
        return (c for page in pages for c in cast(ListSCIMConfigurationsResponse, page).scim_configurations)

    def _pages(
        self,
        method: str,
        request_cls: type[WireModel],
        page_size: int,
        extra: Mapping[str, Any] | None = None,
    ) -> Iterator[Any]:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}, not {page_size}")
        return self._follow(method, request_cls, page_size, dict(extra or {}))

    def _follow(
        self, method: str, request_cls: type[WireModel], page_size: int, extra: dict[str, Any]
    ) -> Iterator[Any]:
        """Each page of a List* method, following pagination.nextToken until it is empty."""
        token = ""
        seen: set[str] = set()
        while True:
            pagination = PaginationRequest(page_size=page_size, **({"token": token} if token else {}))
            page = self._invoke(method, request_cls(pagination=pagination, **extra), {})
            yield page
            token = page.pagination.next_token if page.pagination else ""
            if not token:
                return
            if token in seen:  # a server bug would otherwise loop forever
                raise Internal(f"Ona returned the same page token twice for {method}", method=method)
            seen.add(token)


def _retryable(method: str, error: OnaError) -> bool:
    if isinstance(error, OnaConnectError | ResourceExhausted):
        return True  # Ona did not act on the request: safe even for mutations
    if not is_read_method(method):
        return False
    return isinstance(error, Unavailable | DeadlineExceeded | OnaTimeout | OnaConnectionLost)


def _method(method: str) -> tuple[type[WireModel], type[WireModel]]:
    try:
        return METHODS[method]
    except KeyError:
        raise ValueError(f"unknown OrganizationService method {method!r}") from None


def _ms(started: float) -> float:
    return (time.monotonic() - started) * 1000


def _drop_nulls(value: Any) -> Any:
    """proto3 JSON allows null for "default value"; the models want the field absent instead."""
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


# --- empty lists in partial updates --------------------------------------------------------


def check_no_cleared_lists(method: str, request: WireModel) -> None:
    """Raise ClearListError when an Update* request explicitly sets a repeated or map field empty.

    Only partial-update messages are checked: the Update* request itself and its nested Update*
    messages. Messages replaced as a whole (InviteDomains, AdditionalScopesUpdate, VetoExecPolicy,
    a map's values...) are exempt, because there the wrapper's presence says "set", and an empty
    list inside it really means "clear".
    """
    if not method.startswith("Update"):
        return
    paths = list(_cleared_lists(request, ""))
    if paths:
        raise ClearListError(type(request).__name__, paths)


def _cleared_lists(model: WireModel, prefix: str) -> Iterator[str]:
    if not type(model).__name__.startswith("Update"):
        return
    for name in sorted(model.model_fields_set):
        value = getattr(model, name)
        if name in model._repeated and not value:
            yield prefix + name
        elif isinstance(value, WireModel):
            yield from _cleared_lists(value, f"{prefix}{name}.")
