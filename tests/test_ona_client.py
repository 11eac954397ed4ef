"""OnaClient: wire format, error mapping, retries, pagination and secrecy.

Most tests drive the client over real HTTP against the local emulator (the ``emulator`` and ``ona``
fixtures). An ``httpx.MockTransport`` stub is used only for what the emulator cannot produce: an
unrecognised Connect code, empty and non-JSON error bodies, and exact transport exceptions for the
retry table.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from bot.ona import errors
from bot.ona.client import DEFAULT_TIMEOUT, OnaClient, is_read_method
from bot.ona.emulator import Emulator
from bot.ona.emulator.state import SEED_INVITE_ID, SEED_SCIM_ID, SEED_SSO_ID
from bot.ona.errors import (
    ClearListError,
    OnaConnectError,
    OnaConnectionLost,
    OnaError,
    OnaTimeout,
    error_from_response,
    parse_retry_after,
)
from bot.ona.models import (
    METHODS,
    AdditionalScopesUpdate,
    CustomDomainProvider,
    DomainVerification,
    DomainVerificationState,
    GetOrganizationRequest,
    InviteDomains,
    ListMembersRequestFilter,
    ListMembersRequestSort,
    OrganizationRole,
    PaginationRequest,
    SetRoleRequest,
    SortField,
    SortOrder,
    SSOConfigurationState,
    UpdateOrganizationPoliciesRequest,
    UpdateOrganizationPoliciesRequestUpdateAgentPolicy,
    UserStatus,
)

STUB_KEY = "stub-secret-key-5f3a9c"
STUB_ORG = "0b6f3a1e-2c4d-4e5f-8a9b-0c1d2e3f4a5b"
STUB_BASE = "https://ona.test/api"


# --- a scripted stub transport --------------------------------------------------------------


def connect_error(code: str, message: str = "", status: int | None = None,
                  headers: dict[str, str] | None = None) -> httpx.Response:
    """A Connect unary error response."""
    status = status or errors.ERRORS_BY_CODE[code].default_http_status
    return httpx.Response(status, json={"code": code, "message": message}, headers=headers)


def ok(body: dict[str, Any] | None = None) -> httpx.Response:
    return httpx.Response(200, json=body or {})


@dataclass
class Stub:
    """Answers each request with the next scripted answer (a response or an exception to raise)."""

    answers: list[httpx.Response | Exception]
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


@dataclass
class Sleeps:
    """A recording stand-in for time.sleep, so back-off is asserted, never waited for."""

    calls: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def stub_client(stub: Stub, sleeps: Sleeps | None = None, **kwargs: Any) -> OnaClient:
    return OnaClient(
        STUB_KEY,
        base_url=STUB_BASE,
        organization_id=STUB_ORG,
        transport=httpx.MockTransport(stub),
        sleep=sleeps if sleeps is not None else Sleeps(),
        random=lambda: 1.0,  # the jitter's upper bound, so delays are exact
        **kwargs,
    )


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll until ``predicate`` holds, failing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    event = threading.Event()
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached before the deadline"
        event.wait(0.01)


# --- the request on the wire ----------------------------------------------------------------


def test_request_line_headers_and_body() -> None:
    stub = Stub([ok({"organization": {"id": STUB_ORG, "name": "Acme"}})])
    with stub_client(stub, user_agent="tests/1") as client:
        response = client.get_organization()
    (request,) = stub.requests
    assert request.method == "POST"
    assert str(request.url) == f"{STUB_BASE}/gitpod.v1.OrganizationService/GetOrganization"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["authorization"] == f"Bearer {STUB_KEY}"
    assert request.headers["connect-protocol-version"] == "1"
    assert request.headers["user-agent"].startswith("ona-bot/") and request.headers["user-agent"].endswith(" tests/1")
    assert json.loads(request.content) == {"organizationId": STUB_ORG}
    assert response.organization is not None and response.organization.name == "Acme"


def test_response_parsing_is_lenient() -> None:
    """Unknown fields and enum names (Ona adds both) are ignored; missing and null mean default."""
    body = {"organization": {"id": "o", "tier": "ORGANIZATION_TIER_FROM_THE_FUTURE", "newField": 1,
                             "name": None}}
    with stub_client(Stub([ok(body)])) as client:
        organization = client.get_organization().organization
    assert organization is not None
    assert organization.tier.value == "ORGANIZATION_TIER_UNSPECIFIED"
    assert organization.name == "" and organization.created_at is None


def test_a_response_of_the_wrong_shape_is_internal_and_does_not_echo_values() -> None:
    body = {"token": "scim-secret-token", "tokenExpiresAt": ["scim-secret-token"]}
    with stub_client(Stub([ok(body)])) as client, pytest.raises(errors.Internal) as info:
        client.regenerate_scim_token(scim_configuration_id="s")
    assert "tokenExpiresAt" in str(info.value) and "scim-secret-token" not in str(info.value)


def test_default_timeouts() -> None:
    assert (DEFAULT_TIMEOUT.connect, DEFAULT_TIMEOUT.read, DEFAULT_TIMEOUT.write, DEFAULT_TIMEOUT.pool) == (
        5.0, 15.0, 10.0, 5.0)
    with OnaClient(STUB_KEY, timeout=2.5) as client:
        assert client.timeout.read == 2.5
    with OnaClient(STUB_KEY) as client:
        assert client.timeout == DEFAULT_TIMEOUT and client.base_url == "https://app.ona.com/api"


def test_keyword_fields_and_request_models() -> None:
    stub = Stub([ok()])
    with stub_client(stub) as client:
        client.set_role(user_id="u1", role=OrganizationRole.ADMIN)
        client.set_role(SetRoleRequest(user_id="u2", role=OrganizationRole.MEMBER, organization_id="other"))
        with pytest.raises(TypeError, match="unexpected keyword argument 'user'"):
            client.set_role(user="u3")
        with pytest.raises(TypeError, match="not both"):
            client.set_role(SetRoleRequest(user_id="u4"), role=OrganizationRole.ADMIN)
        with pytest.raises(TypeError, match="takes a SetRoleRequest"):
            client.call("SetRole", GetOrganizationRequest())
        with pytest.raises(ValueError, match="unknown OrganizationService method"):
            client.call("DropDatabase", GetOrganizationRequest())
    bodies = [json.loads(r.content) for r in stub.requests]
    assert bodies == [
        {"userId": "u1", "role": "ORGANIZATION_ROLE_ADMIN", "organizationId": STUB_ORG},
        {"userId": "u2", "role": "ORGANIZATION_ROLE_MEMBER", "organizationId": "other"},
    ]


def test_organization_id_is_not_filled_where_it_would_be_wrong() -> None:
    """JoinOrganization: a oneof with invite_id. DeleteOrganization: must name its target."""
    stub = Stub([ok()])
    with stub_client(stub) as client:
        client.join_organization(invite_id="i1")
        client.delete_organization(organization_id="o2")
        client.list_scim_configurations()  # the request has no organization_id at all
    assert [json.loads(r.content) for r in stub.requests] == [{"inviteId": "i1"}, {"organizationId": "o2"}, {}]


def test_the_caller_request_is_not_mutated() -> None:
    request = GetOrganizationRequest()
    with stub_client(Stub([ok()])) as client:
        client.get_organization(request)
    assert request.model_fields_set == set()


# --- errors from responses ------------------------------------------------------------------


@pytest.mark.parametrize("code", sorted(errors.ERRORS_BY_CODE))
def test_error_from_a_connect_body(code: str) -> None:
    error = error_from_response(400, {}, json.dumps({"code": code, "message": "why"}).encode())
    assert type(error) is errors.ERRORS_BY_CODE[code]
    assert (error.code, error.message, error.http_status) == (code, "why", 400)
    assert isinstance(error, OnaError)


def test_an_unrecognised_connect_code_is_unknown() -> None:
    with stub_client(Stub([connect_error("teapot", status=418)])) as client, pytest.raises(errors.Unknown) as info:
        client.get_organization()
    assert info.value.http_status == 418 and info.value.message == ""


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, errors.Internal),
        (401, errors.Unauthenticated),
        (403, errors.PermissionDenied),
        (404, errors.Unimplemented),
        (429, errors.ResourceExhausted),  # not Connect's "unavailable": see bot/ona/errors.py
        (502, errors.Unavailable),
        (503, errors.Unavailable),
        (504, errors.Unavailable),
        (500, errors.Unknown),
        (418, errors.Unknown),
    ],
)
@pytest.mark.parametrize("body", [b"", b"<html>Bad Gateway</html>", b'{"error": "no code"}', b"[1]"])
def test_error_without_a_connect_body_maps_from_http_status(
    status: int, expected: type[OnaError], body: bytes
) -> None:
    stub = Stub([httpx.Response(status, content=body)])
    with stub_client(stub, max_retries=0) as client, pytest.raises(expected) as info:
        client.update_announcement_banner(message="hello")
    assert info.value.http_status == status
    assert len(stub.requests) == 1


def test_retry_after_forms() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Wed, 01 Jan 2025 12:00:09 GMT", now=now) == 9.0
    assert parse_retry_after("Wed, 01 Jan 2025 11:00:00 GMT", now=now) == 0.0
    error = error_from_response(429, {"Retry-After": "3"}, b"")
    assert isinstance(error, errors.ResourceExhausted) and error.retry_after == 3.0
    assert error.user_message.endswith("Please try again in a few seconds.")  # people's words, no seconds
    for after, words in (("45", "in a minute"), ("600", "in 10 minutes"), ("90000", "in a few hours")):
        assert error_from_response(429, {"Retry-After": after}, b"").user_message.endswith(f"try again {words}.")


def test_user_messages_are_plain_and_bounded() -> None:
    error = error_from_response(400, {}, json.dumps({"code": "invalid_argument", "message": "x" * 5000}))
    assert error.user_message.startswith("Ona rejected the request as invalid.")
    assert len(error.user_message) < 400
    assert errors.Unauthenticated("token abc expired").user_message.count("abc") == 0
    timeout = OnaTimeout("ReadTimeout", method="SetRole", may_have_applied=True)
    assert "may or may not have been applied" in timeout.user_message
    assert not OnaConnectError("refused").may_have_applied


# --- retries (exact transport failures, scripted) --------------------------------------------

FAILURES: dict[str, Callable[[], httpx.Response | Exception]] = {
    "connect refused": lambda: httpx.ConnectError("[Errno 111] Connection refused"),
    "connect timeout": lambda: httpx.ConnectTimeout("timed out"),
    "pool timeout": lambda: httpx.PoolTimeout("no connection free"),
    "read timeout": lambda: httpx.ReadTimeout("timed out"),
    "write timeout": lambda: httpx.WriteTimeout("timed out"),
    "dropped": lambda: httpx.RemoteProtocolError("Server disconnected without sending a response."),
    "reset": lambda: httpx.ReadError("[Errno 104] Connection reset by peer"),
    "unavailable": lambda: connect_error("unavailable"),
    "proxy 502": lambda: httpx.Response(502, text="Bad Gateway"),
    "resource_exhausted": lambda: connect_error("resource_exhausted", headers={"Retry-After": "2"}),
    "429 empty": lambda: httpx.Response(429),
    "deadline_exceeded": lambda: connect_error("deadline_exceeded"),
    "internal": lambda: connect_error("internal"),
    "aborted": lambda: connect_error("aborted"),
    "invalid_argument": lambda: connect_error("invalid_argument"),
}
# failure -> (retried for a read, retried for a mutation)
RETRY_TABLE: dict[str, tuple[bool, bool]] = {
    "connect refused": (True, True),
    "connect timeout": (True, True),
    "pool timeout": (True, True),
    "read timeout": (True, False),
    "write timeout": (True, False),
    "dropped": (True, False),
    "reset": (True, False),
    "unavailable": (True, False),
    "proxy 502": (True, False),
    "resource_exhausted": (True, True),
    "429 empty": (True, True),
    "deadline_exceeded": (True, False),
    "internal": (False, False),
    "aborted": (False, False),
    "invalid_argument": (False, False),
}


@pytest.mark.parametrize("failure", sorted(RETRY_TABLE))
@pytest.mark.parametrize("method", ["GetOrganizationPolicies", "UpdateOrganizationPolicies"])
def test_retry_table(failure: str, method: str) -> None:
    retried = RETRY_TABLE[failure][0 if is_read_method(method) else 1]
    stub = Stub([FAILURES[failure](), ok()])
    request_cls, response_cls = METHODS[method]
    with stub_client(stub) as client:
        if retried:
            assert isinstance(client.call(method, request_cls(organization_id=STUB_ORG)), response_cls)
        else:
            with pytest.raises(OnaError):
                client.call(method, request_cls(organization_id=STUB_ORG))
    assert len(stub.requests) == (2 if retried else 1)


def test_mutation_failures_say_whether_they_may_have_applied() -> None:
    cases = {"read timeout": OnaTimeout, "dropped": OnaConnectionLost, "reset": OnaConnectionLost}
    for failure, expected in cases.items():
        with stub_client(Stub([FAILURES[failure]()])) as client, pytest.raises(expected) as info:
            client.update_announcement_banner(message="hi")
        assert info.value.may_have_applied, failure
    with stub_client(Stub([FAILURES["read timeout"]()]), max_retries=0) as client, pytest.raises(OnaTimeout) as info:
        client.get_announcement_banner()
    assert not info.value.may_have_applied


def test_back_off_is_exponential_bounded_and_jittered() -> None:
    sleeps = Sleeps()
    stub = Stub([connect_error("unavailable")])
    with stub_client(stub, sleeps, max_retries=5, backoff_base=0.25, backoff_max=1.0) as client, \
            pytest.raises(errors.Unavailable):
        client.get_organization()
    assert len(stub.requests) == 6
    assert sleeps.calls == [0.25, 0.5, 1.0, 1.0, 1.0]  # random() == 1.0: the ceiling itself

    jittered = Sleeps()
    client = OnaClient(STUB_KEY, base_url=STUB_BASE, transport=httpx.MockTransport(Stub([connect_error("unavailable")])),
                       sleep=jittered, random=iter([0.5, 0.0, 0.25]).__next__)
    with client, pytest.raises(errors.Unavailable):
        client.get_organization(organization_id="o")
    assert jittered.calls == [0.125, 0.0, 0.25]


def test_max_retries_zero_means_one_attempt() -> None:
    stub = Stub([httpx.ConnectError("refused")])
    with stub_client(stub, max_retries=0) as client, pytest.raises(OnaConnectError):
        client.get_organization()
    assert len(stub.requests) == 1


def test_retry_after_longer_than_the_cap_is_not_waited_for() -> None:
    sleeps = Sleeps()
    stub = Stub([connect_error("resource_exhausted", headers={"Retry-After": "120"})])
    with stub_client(stub, sleeps, retry_after_cap=30.0) as client, pytest.raises(errors.ResourceExhausted) as info:
        client.get_organization()
    assert (len(stub.requests), sleeps.calls, info.value.retry_after) == (1, [], 120.0)


# --- empty lists in partial updates ---------------------------------------------------------


def test_clear_list_error_is_raised_before_sending() -> None:
    stub = Stub([ok()])
    with stub_client(stub) as client:
        with pytest.raises(ClearListError, match="allowed_editor_ids") as info:
            client.update_organization_policies(allowed_editor_ids=[])
        with pytest.raises(ClearListError, match=r"agent_policy\.command_deny_list"):
            client.update_organization_policies(
                agent_policy=UpdateOrganizationPoliciesRequestUpdateAgentPolicy(command_deny_list=[]))
        with pytest.raises(ClearListError, match="editor_version_restrictions"):
            client.update_organization_policies(UpdateOrganizationPoliciesRequest(editor_version_restrictions={}))
        with pytest.raises(ClearListError, match="email_domains"):
            client.update_sso_configuration(sso_configuration_id="s", email_domains=[])
    assert isinstance(info.value, ValueError)
    assert "no change" in str(info.value)
    assert stub.requests == []


def test_empty_lists_that_do_clear_are_sent() -> None:
    stub = Stub([ok()])
    with stub_client(stub) as client:
        client.update_organization(invite_domains=InviteDomains(domains=[]))
        client.update_sso_configuration(sso_configuration_id="s", additional_scopes=AdditionalScopesUpdate(scopes=[]))
        client.update_organization_policies(allowed_editor_ids=["vscode"])  # non-empty: fine
        client.list_members(filter=ListMembersRequestFilter(roles=[]))  # not an update: nothing to clear
    assert [json.loads(r.content) for r in stub.requests] == [
        {"organizationId": STUB_ORG, "inviteDomains": {"domains": []}},
        {"ssoConfigurationId": "s", "additionalScopes": {"scopes": []}},
        {"organizationId": STUB_ORG, "allowedEditorIds": ["vscode"]},
        {"organizationId": STUB_ORG, "filter": {"roles": []}},
    ]


# --- construction, configuration and secrecy -------------------------------------------------


def test_from_env() -> None:
    env = {"ONA_API_KEY": STUB_KEY, "ONA_BASE_URL": "https://ona.example/api/", "ONA_ORGANIZATION_ID": "org-1"}
    with OnaClient.from_env(env) as client:
        assert (client.base_url, client.organization_id) == ("https://ona.example/api", "org-1")
    with OnaClient.from_env({"GITPOD_API_KEY": STUB_KEY}) as client:
        assert (client.base_url, client.organization_id) == ("https://app.ona.com/api", None)
    with pytest.raises(ValueError, match="ONA_API_KEY"):
        OnaClient.from_env({"ONA_BASE_URL": "https://ona.example/api"})


@pytest.mark.parametrize("key", ["", "two words", "line\nbreak", "ключ"])
def test_unusable_keys_are_refused_without_echoing_them(key: str) -> None:
    with pytest.raises(ValueError) as info:
        OnaClient(key)
    if key:
        assert key not in str(info.value)


def test_page_size_is_checked_when_the_iterator_is_made() -> None:
    with stub_client(Stub([ok()])) as client:
        for iterator in (client.iter_members, client.iter_domain_verifications,
                         client.iter_sso_configurations, client.iter_scim_configurations):
            with pytest.raises(ValueError, match="page_size"):
                iterator(page_size=101)
            with pytest.raises(ValueError, match="page_size"):
                iterator(page_size=0)


def test_a_repeated_page_token_stops_the_iteration() -> None:
    page = ok({"members": [{"userId": "u"}], "pagination": {"nextToken": "again"}})
    with stub_client(Stub([page])) as client, pytest.raises(errors.Internal, match="same page token"):
        list(client.iter_members())


def _secret_free(text: str, *secrets: str) -> bool:
    return not any(secret in text for secret in secrets)


def test_the_key_never_leaves_through_repr_errors_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, httpx and httpcore included
    echo = json.dumps({"code": "unauthenticated", "message": f"bad token Bearer {STUB_KEY}"})
    stub = Stub([httpx.Response(401, content=echo.encode()), httpx.ConnectError(f"refused {STUB_KEY}"),
                 httpx.ReadTimeout("slow"), ok()])
    texts: list[str] = []
    with stub_client(stub, max_retries=0) as client:
        texts.append(repr(client))
        for _ in range(3):
            with pytest.raises(OnaError) as info:
                client.update_announcement_banner(message="hi")
            texts += [str(info.value), repr(info.value), info.value.user_message, info.value.message]
        client.get_organization()
    texts.append(caplog.text)
    assert "ona call UpdateAnnouncementBanner" in caplog.text  # logging did happen
    for text in texts:
        assert _secret_free(text, STUB_KEY), text


# === against the emulator, over real HTTP ====================================================


# A read timeout well below the emulator's injected delay: the call is slow, not failed.
SHORT_READ = 0.2
SLOW = 0.6


def member_id(emulator: Emulator, email: str) -> str:
    return next(m.user_id for m in emulator.state.members.values() if m.email == email)


def other_client(emulator: Emulator, key: str, **kwargs: Any) -> OnaClient:
    return OnaClient(key, base_url=emulator.base_url, organization_id=emulator.organization_id,
                     backoff_base=0.01, backoff_max=0.05, **kwargs)


# Each case makes one call of its method (after any set-up calls) and returns the body it expects
# the emulator to have received for that call.
Case = Callable[[OnaClient, Emulator], dict[str, Any]]
ORG_CASES: dict[str, Case] = {}


def case(method: str) -> Callable[[Case], Case]:
    def register(fn: Case) -> Case:
        ORG_CASES[method] = fn
        return fn

    return register


@case("CreateOrganization")
def _(ona: OnaClient, emulator: Emulator) -> dict[str, Any]:
    created = ona.create_organization(name="Acme Labs", join_organization=True)
    assert created.organization is not None and created.organization.name == "Acme Labs"
    assert created.member is not None and created.member.role == OrganizationRole.ADMIN
    return {"name": "Acme Labs", "joinOrganization": True}


@case("DeleteOrganization")
def _(ona: OnaClient, emulator: Emulator) -> dict[str, Any]:
    ona.delete_organization(organization_id=emulator.organization_id)
    assert emulator.state.organization is None
    return {"organizationId": emulator.organization_id}


@case("JoinOrganization")
def _(ona: OnaClient, emulator: Emulator) -> dict[str, Any]:
    alice = member_id(emulator, "alice@example.com")  # the admin key's user: leaves, then rejoins
    ona.leave_organization(user_id=alice)
    joined = ona.join_organization(invite_id=SEED_INVITE_ID)
    assert joined.member is not None and joined.member.user_id == alice
    assert alice in emulator.state.members
    return {"inviteId": SEED_INVITE_ID}


@case("LeaveOrganization")
def _(ona: OnaClient, emulator: Emulator) -> dict[str, Any]:
    dave = member_id(emulator, "dave@example.com")
    ona.leave_organization(user_id=dave)
    assert dave not in emulator.state.members
    return {"userId": dave}


@case("ListMembers")
def _(ona: OnaClient, emulator: Emulator) -> dict[str, Any]:
    page = ona.list_members(pagination=PaginationRequest(page_size=3),
                            filter=ListMembersRequestFilter(statuses=[UserStatus.ACTIVE]))
    assert len(page.members) == 3 and page.pagination is not None and page.pagination.next_token
    return {"organizationId": emulator.organization_id, "pagination": {"pageSize": 3},
            "filter": {"statuses": ["USER_STATUS_ACTIVE"]}}


@case("GetOrganization")
def _(ona: OnaClient, emulator: Emulator) -> dict[str, Any]:
    organization = ona.get_organization().organization
    assert organization is not None and organization.name == "Acme Corp"
    return {"organizationId": emulator.organization_id}


@case("SetRole")
def _(ona: OnaClient, emulator: Emulator) -> dict[str, Any]:
    carol = member_id(emulator, "carol@example.com")
    ona.set_role(user_id=carol, role=OrganizationRole.ADMIN)
    assert emulator.state.members[carol].role == OrganizationRole.ADMIN
    return {"organizationId": emulator.organization_id, "userId": carol, "role": "ORGANIZATION_ROLE_ADMIN"}


@case("UpdateOrganization")
def _(ona: OnaClient, emulator: Emulator) -> dict[str, Any]:
    updated = ona.update_organization(name="Acme Inc", invite_domains=InviteDomains(domains=["acme.com"]))
    assert updated.organization is not None and updated.organization.name == "Acme Inc"
    return {"organizationId": emulator.organization_id, "name": "Acme Inc", "inviteDomains": {"domains": ["acme.com"]}}


@case("GetAnnouncementBanner")
def _(ona: OnaClient, emulator: Emulator) -> dict[str, Any]:
    assert ona.get_announcement_banner().banner is not None
    return {"organizationId": emulator.organization_id}


@case("UpdateAnnouncementBanner")
def _(ona: OnaClient, emulator: Emulator) -> dict[str, Any]:
    banner = ona.update_announcement_banner(message="Maintenance at 18:00 UTC", enabled=True).banner
    assert banner is not None and banner.enabled and banner.message == "Maintenance at 18:00 UTC"
    return {"organizationId": emulator.organization_id, "message": "Maintenance at 18:00 UTC", "enabled": True}


def _make_custom_domain(ona: OnaClient) -> None:
    ona.create_custom_domain(domain_name="ide.acme.com", provider=CustomDomainProvider.AWS,
                             cloud_account_id="123456789012")


@case("CreateCustomDomain")
def _(ona: OnaClient, emulator: Emulator) -> dict[str, Any]:
    _make_custom_domain(ona)
    assert emulator.state.custom_domain is not None
    return {"organizationId": emulator.organization_id, "domainName": "ide.acme.com",
            "provider": "CUSTOM_DOMAIN_PROVIDER_AWS", "cloudAccountId": "123456789012"}


@case("GetCustomDomain")
def _(ona: OnaClient, emulator: Emulator) -> dict[str, Any]:
    _make_custom_domain(ona)
    domain = ona.get_custom_domain().custom_domain
    assert domain is not None and domain.domain_name == "ide.acme.com"
    return {"organizationId": emulator.organization_id}


@case("UpdateCustomDomain")
def _(ona: OnaClient, emulator: Emulator) -> dict[str, Any]:
    _make_custom_domain(ona)
    domain = ona.update_custom_domain(domain_name="dev.acme.com", provider=CustomDomainProvider.GCP,
                                      cloud_account_id="acme-prod").custom_domain
    assert domain is not None and domain.provider == CustomDomainProvider.GCP
    return {"organizationId": emulator.organization_id, "domainName": "dev.acme.com",
            "provider": "CUSTOM_DOMAIN_PROVIDER_GCP", "cloudAccountId": "acme-prod"}


@case("DeleteCustomDomain")
def _(ona: OnaClient, emulator: Emulator) -> dict[str, Any]:
    _make_custom_domain(ona)
    ona.delete_custom_domain()
    assert emulator.state.custom_domain is None
    return {"organizationId": emulator.organization_id}


def _make_verification(ona: OnaClient) -> DomainVerification:
    verification = ona.create_domain_verification(domain="acme.com").domain_verification
    assert verification is not None and verification.verification_token
    return verification


@case("CreateDomainVerification")
def _(ona: OnaClient, emulator: Emulator) -> dict[str, Any]:
    assert _make_verification(ona).state == DomainVerificationState.PENDING
    return {"organizationId": emulator.organization_id, "domain": "acme.com"}


@case("GetDomainVerification")
def _(ona: OnaClient, emulator: Emulator) -> dict[str, Any]:
    made = _make_verification(ona)
    got = ona.get_domain_verification(domain_verification_id=made.id).domain_verification
    assert got is not None and got.domain == "acme.com"
    return {"domainVerificationId": made.id}


@case("ListDomainVerifications")
def _(ona: OnaClient, emulator: Emulator) -> dict[str, Any]:
    made = _make_verification(ona)
    listed = ona.list_domain_verifications(pagination=PaginationRequest(page_size=10))
    assert [v.id for v in listed.domain_verifications] == [made.id]
    return {"organizationId": emulator.organization_id, "pagination": {"pageSize": 10}}


@case("VerifyDomain")
def _(ona: OnaClient, emulator: Emulator) -> dict[str, Any]:
    made = _make_verification(ona)
    emulator.publish_dns("acme.com", made.verification_token)
    verified = ona.verify_domain(domain_verification_id=made.id).domain_verification
    assert verified is not None and verified.state == DomainVerificationState.VERIFIED
    return {"domainVerificationId": made.id}


@case("DeleteDomainVerification")
def _(ona: OnaClient, emulator: Emulator) -> dict[str, Any]:
    made = _make_verification(ona)
    ona.delete_domain_verification(domain_verification_id=made.id)
    assert made.id not in emulator.state.domain_verifications
    return {"domainVerificationId": made.id}


@case("CreateOrganizationInvite")
def _(ona: OnaClient, emulator: Emulator) -> dict[str, Any]:
    invite = ona.create_organization_invite().invite
    assert invite is not None and invite.invite_id and invite.invite_id != SEED_INVITE_ID
    return {"organizationId": emulator.organization_id}


@case("GetOrganizationInvite")
def _(ona: OnaClient, emulator: Emulator) -> dict[str, Any]:
    invite = ona.get_organization_invite().invite
    assert invite is not None and invite.invite_id == SEED_INVITE_ID
    return {"organizationId": emulator.organization_id}


@case("GetOrganizationInviteSummary")
def _(ona: OnaClient, emulator: Emulator) -> dict[str, Any]:
    summary = ona.get_organization_invite_summary(invite_id=SEED_INVITE_ID)
    assert summary.organization_name == "Acme Corp" and summary.organization_member_count == 5
    return {"inviteId": SEED_INVITE_ID}


@case("GetOrganizationPolicies")
def _(ona: OnaClient, emulator: Emulator) -> dict[str, Any]:
    policies = ona.get_organization_policies().policies
    assert policies is not None and policies.maximum_environments_per_user == 20
    assert policies.maximum_environment_timeout == timedelta(hours=8)
    return {"organizationId": emulator.organization_id}


@case("UpdateOrganizationPolicies")
def _(ona: OnaClient, emulator: Emulator) -> dict[str, Any]:
    ona.update_organization_policies(maximum_environment_timeout=timedelta(hours=1),
                                     maximum_environments_per_user=30, members_create_projects=False)
    policies = emulator.state.policies
    assert (policies.maximum_environment_timeout, policies.maximum_environments_per_user,
            policies.members_create_projects) == (timedelta(hours=1), 30, False)
    return {"organizationId": emulator.organization_id, "maximumEnvironmentTimeout": "3600s",
            "maximumEnvironmentsPerUser": "30", "membersCreateProjects": False}


def _make_sso(ona: OnaClient) -> str:
    sso = ona.create_sso_configuration(client_id="acme-okta-client", client_secret="okta-client-secret",
                                       issuer_url="https://acme.okta.com", email_domains=["acme.com"],
                                       display_name="Okta").sso_configuration
    assert sso is not None and sso.display_name == "Okta"
    return sso.id


@case("CreateSSOConfiguration")
def _(ona: OnaClient, emulator: Emulator) -> dict[str, Any]:
    _make_sso(ona)
    return {"organizationId": emulator.organization_id, "clientId": "acme-okta-client",
            "clientSecret": "okta-client-secret", "issuerUrl": "https://acme.okta.com",
            "emailDomains": ["acme.com"], "displayName": "Okta"}


@case("GetSSOConfiguration")
def _(ona: OnaClient, emulator: Emulator) -> dict[str, Any]:
    sso = ona.get_sso_configuration(sso_configuration_id=SEED_SSO_ID).sso_configuration
    assert sso is not None and sso.state == SSOConfigurationState.ACTIVE
    return {"ssoConfigurationId": SEED_SSO_ID}


@case("ListSSOConfigurations")
def _(ona: OnaClient, emulator: Emulator) -> dict[str, Any]:
    listed = ona.list_sso_configurations(pagination=PaginationRequest(page_size=5))
    assert [c.id for c in listed.sso_configurations] == [SEED_SSO_ID]
    return {"organizationId": emulator.organization_id, "pagination": {"pageSize": 5}}


@case("UpdateSSOConfiguration")
def _(ona: OnaClient, emulator: Emulator) -> dict[str, Any]:
    ona.update_sso_configuration(sso_configuration_id=SEED_SSO_ID, display_name="Google",
                                 additional_scopes=AdditionalScopesUpdate(scopes=["groups"]))
    assert emulator.state.sso_configurations[SEED_SSO_ID].additional_scopes == ["groups"]
    return {"ssoConfigurationId": SEED_SSO_ID, "displayName": "Google", "additionalScopes": {"scopes": ["groups"]}}


@case("DeleteSSOConfiguration")
def _(ona: OnaClient, emulator: Emulator) -> dict[str, Any]:
    sso_id = _make_sso(ona)
    ona.delete_sso_configuration(sso_configuration_id=sso_id)
    assert sso_id not in emulator.state.sso_configurations
    return {"ssoConfigurationId": sso_id}


@case("CreateSCIMConfiguration")
def _(ona: OnaClient, emulator: Emulator) -> dict[str, Any]:
    sso_id = _make_sso(ona)
    created = ona.create_scim_configuration(sso_configuration_id=sso_id, name="Okta provisioning",
                                            token_expires_in=timedelta(days=30))
    assert created.token and created.scim_configuration is not None
    return {"organizationId": emulator.organization_id, "ssoConfigurationId": sso_id,
            "name": "Okta provisioning", "tokenExpiresIn": "2592000s"}


@case("GetSCIMConfiguration")
def _(ona: OnaClient, emulator: Emulator) -> dict[str, Any]:
    scim = ona.get_scim_configuration(scim_configuration_id=SEED_SCIM_ID).scim_configuration
    assert scim is not None and scim.sso_configuration_id == SEED_SSO_ID
    return {"scimConfigurationId": SEED_SCIM_ID}


@case("ListSCIMConfigurations")
def _(ona: OnaClient, emulator: Emulator) -> dict[str, Any]:
    listed = ona.list_scim_configurations(pagination=PaginationRequest(page_size=5))
    assert [c.id for c in listed.scim_configurations] == [SEED_SCIM_ID]
    return {"pagination": {"pageSize": 5}}  # the request has no organization_id: the key decides


@case("RegenerateSCIMToken")
def _(ona: OnaClient, emulator: Emulator) -> dict[str, Any]:
    regenerated = ona.regenerate_scim_token(scim_configuration_id=SEED_SCIM_ID, token_expires_in=timedelta(days=90))
    assert regenerated.token and regenerated.token_expires_at is not None
    return {"scimConfigurationId": SEED_SCIM_ID, "tokenExpiresIn": "7776000s"}


@case("UpdateSCIMConfiguration")
def _(ona: OnaClient, emulator: Emulator) -> dict[str, Any]:
    updated = ona.update_scim_configuration(scim_configuration_id=SEED_SCIM_ID, enabled=False).scim_configuration
    assert updated is not None and updated.enabled is False
    return {"scimConfigurationId": SEED_SCIM_ID, "enabled": False}


@case("DeleteSCIMConfiguration")
def _(ona: OnaClient, emulator: Emulator) -> dict[str, Any]:
    ona.delete_scim_configuration(scim_configuration_id=SEED_SCIM_ID)
    assert SEED_SCIM_ID not in emulator.state.scim_configurations
    return {"scimConfigurationId": SEED_SCIM_ID}


def test_every_method_has_a_case() -> None:
    assert sorted(ORG_CASES) == sorted(METHODS)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_through_the_client(method: str, ona: OnaClient, emulator: Emulator) -> None:
    expected = ORG_CASES[method](ona, emulator)
    assert emulator.calls(method)[-1] == expected


# --- errors from the emulator ---------------------------------------------------------------


def test_a_wrong_key_is_unauthenticated(emulator: Emulator, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "ona-wrong-key-7d1e"
    with other_client(emulator, wrong) as client, pytest.raises(errors.Unauthenticated) as info:
        client.get_organization()
    assert info.value.http_status == 401
    assert _secret_free(caplog.text + str(info.value) + info.value.user_message, wrong, emulator.admin_key)
    assert len(emulator.calls("GetOrganization")) == 1  # never retried


def test_the_member_key_may_not_mutate(emulator: Emulator) -> None:
    with other_client(emulator, emulator.member_key) as member:
        assert member.get_announcement_banner().banner is not None  # reads are allowed
        with pytest.raises(errors.PermissionDenied) as info:
            member.update_announcement_banner(message="hi", enabled=True)
    assert info.value.http_status == 403
    assert [r["code"] for r in emulator.requests if r["method"] == "UpdateAnnouncementBanner"] == [
        "permission_denied"]


@pytest.mark.parametrize("code", sorted(errors.ERRORS_BY_CODE))
def test_each_connect_code_from_the_emulator(code: str, emulator: Emulator) -> None:
    emulator.inject_fault("SetRole", code=code)
    with other_client(emulator, emulator.admin_key, max_retries=0) as client, \
            pytest.raises(errors.ERRORS_BY_CODE[code]) as info:
        client.set_role(user_id=member_id(emulator, "carol@example.com"), role=OrganizationRole.ADMIN)
    assert info.value.code == code
    assert info.value.http_status == errors.ERRORS_BY_CODE[code].default_http_status


def test_validation_errors_carry_onas_message(ona: OnaClient, emulator: Emulator) -> None:
    with pytest.raises(errors.InvalidArgument) as info:
        ona.update_organization_policies(maximum_environment_timeout=timedelta(minutes=5))
    assert "maximum_environment_timeout" in info.value.message
    assert "maximum_environment_timeout" in info.value.user_message


# --- retries against the emulator -----------------------------------------------------------


def test_a_read_is_retried_to_success_after_unavailable(ona: OnaClient, emulator: Emulator) -> None:
    emulator.inject_fault("GetOrganizationPolicies", code="unavailable", times=2)
    assert ona.get_organization_policies().policies is not None
    log = [r["code"] for r in emulator.requests if r["method"] == "GetOrganizationPolicies"]
    assert log == ["unavailable", "unavailable", None]  # N faults, N + 1 calls


def test_a_mutation_is_not_retried_after_unavailable(ona: OnaClient, emulator: Emulator) -> None:
    emulator.inject_fault("UpdateAnnouncementBanner", code="unavailable")
    with pytest.raises(errors.Unavailable):
        ona.update_announcement_banner(message="hi", enabled=True)
    assert len(emulator.calls("UpdateAnnouncementBanner")) == 1


def test_resource_exhausted_honours_retry_after(emulator: Emulator) -> None:
    sleeps = Sleeps()
    emulator.inject_fault("UpdateAnnouncementBanner", code="resource_exhausted", retry_after=2)
    with other_client(emulator, emulator.admin_key, sleep=sleeps) as client:
        banner = client.update_announcement_banner(message="after the limit", enabled=True).banner
    assert banner is not None and banner.message == "after the limit"
    assert len(emulator.calls("UpdateAnnouncementBanner")) == 2  # a 429 is safe to retry: nothing applied
    assert sleeps.calls and sleeps.calls[0] >= 2


def test_a_mutation_is_not_retried_after_a_read_timeout(emulator: Emulator) -> None:
    emulator.inject_fault("UpdateAnnouncementBanner", code=None, delay=SLOW)
    timeout = httpx.Timeout(5.0, read=SHORT_READ)
    with other_client(emulator, emulator.admin_key, timeout=timeout) as client, pytest.raises(OnaTimeout) as info:
        client.update_announcement_banner(message="slow", enabled=True)
    assert info.value.may_have_applied
    assert "may or may not have been applied" in info.value.user_message
    # The emulator went on and applied it, which is exactly why the client must not resend.
    wait_for(lambda: emulator.state.banner.message == "slow")
    assert len(emulator.calls("UpdateAnnouncementBanner")) == 1


def test_a_read_is_retried_after_a_read_timeout(emulator: Emulator) -> None:
    emulator.inject_fault("GetAnnouncementBanner", code=None, delay=SLOW)
    timeout = httpx.Timeout(5.0, read=SHORT_READ)
    with other_client(emulator, emulator.admin_key, timeout=timeout) as client:
        assert client.get_announcement_banner().banner is not None
    wait_for(lambda: len(emulator.calls("GetAnnouncementBanner")) >= 2)  # the slow one logs last


def test_a_dropped_connection_on_a_read_is_retried(ona: OnaClient, emulator: Emulator) -> None:
    emulator.inject_fault("ListMembers", drop=True)
    assert len(ona.list_members().members) == 5
    assert len(emulator.calls("ListMembers")) == 2


def test_a_dropped_connection_on_a_mutation_is_not_retried(ona: OnaClient, emulator: Emulator) -> None:
    emulator.inject_fault("UpdateAnnouncementBanner", drop=True)
    with pytest.raises(OnaConnectionLost) as info:
        ona.update_announcement_banner(message="hi", enabled=True)
    assert info.value.may_have_applied
    assert len(emulator.calls("UpdateAnnouncementBanner")) == 1


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_connection_refused_is_a_connect_error_and_retried_for_mutations() -> None:
    sleeps = Sleeps()
    client = OnaClient(STUB_KEY, base_url=f"http://127.0.0.1:{_closed_port()}/api", organization_id=STUB_ORG,
                       sleep=sleeps, max_retries=2)
    with client, pytest.raises(OnaConnectError) as info:
        client.update_announcement_banner(message="hi")
    assert len(sleeps.calls) == 2  # three attempts: the request never reached Ona
    assert not info.value.may_have_applied
    assert _secret_free(str(info.value), STUB_KEY)


class RefuseOnce(httpx.BaseTransport):
    """The real transport, but the first request fails to connect."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.refused = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not self.refused:
            self.refused += 1
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def test_a_mutation_is_retried_after_connection_refused(emulator: Emulator) -> None:
    transport = RefuseOnce()
    with other_client(emulator, emulator.admin_key, transport=transport) as client:
        client.update_announcement_banner(message="second try", enabled=True)
    assert transport.refused == 1
    assert emulator.calls("UpdateAnnouncementBanner") == [
        {"organizationId": emulator.organization_id, "message": "second try", "enabled": True}]


# --- pagination -----------------------------------------------------------------------------


def test_iter_members_follows_pages(ona: OnaClient, emulator: Emulator) -> None:
    for n in range(3):
        emulator.add_member(f"new{n}@example.com", f"New Member {n}")
    members = list(ona.iter_members(page_size=2))
    assert len(members) == 8 and len({m.user_id for m in members}) == 8
    calls = emulator.calls("ListMembers")
    assert len(calls) == 4
    assert all(c["pagination"]["pageSize"] == 2 for c in calls)
    assert "token" not in calls[0]["pagination"] and all(c["pagination"]["token"] for c in calls[1:])


def test_iter_members_passes_filter_and_sort(ona: OnaClient, emulator: Emulator) -> None:
    admins = list(ona.iter_members(filter=ListMembersRequestFilter(roles=[OrganizationRole.ADMIN]),
                                   sort=ListMembersRequestSort(field=SortField.NAME, order=SortOrder.DESC),
                                   page_size=1))
    assert [m.full_name for m in admins] == ["Bob Builder", "Alice Admin"]
    assert emulator.calls("ListMembers")[0]["filter"] == {"roles": ["ORGANIZATION_ROLE_ADMIN"]}
    assert emulator.calls("ListMembers")[0]["sort"] == {"field": "SORT_FIELD_NAME", "order": "SORT_ORDER_DESC"}


def test_the_other_iterators(ona: OnaClient, emulator: Emulator) -> None:
    for n in range(3):
        ona.create_domain_verification(domain=f"team{n}.acme.com")
    assert [v.domain for v in ona.iter_domain_verifications(page_size=2)] == [
        "team0.acme.com", "team1.acme.com", "team2.acme.com"]
    assert len(emulator.calls("ListDomainVerifications")) == 2
    assert [c.id for c in ona.iter_sso_configurations(page_size=1)] == [SEED_SSO_ID]
    assert [c.id for c in ona.iter_scim_configurations(page_size=1)] == [SEED_SCIM_ID]


# --- partial updates: the body is exactly what was set --------------------------------------


def test_update_policies_sends_only_the_field_set(ona: OnaClient, emulator: Emulator) -> None:
    ona.update_organization_policies(port_sharing_disabled=True)
    assert emulator.calls("UpdateOrganizationPolicies")[-1] == {
        "organizationId": emulator.organization_id, "portSharingDisabled": True}


def test_explicit_false_and_zero_are_sent(ona: OnaClient, emulator: Emulator) -> None:
    ona.update_organization_policies(allow_local_runners=False)
    ona.update_organization_policies(maximum_running_environments_per_user=0)
    ona.update_organization_policies(maximum_environment_timeout=timedelta(0))
    org = emulator.organization_id
    assert emulator.calls("UpdateOrganizationPolicies") == [
        {"organizationId": org, "allowLocalRunners": False},
        {"organizationId": org, "maximumRunningEnvironmentsPerUser": "0"},
        {"organizationId": org, "maximumEnvironmentTimeout": "0s"},
    ]
    policies = emulator.state.policies
    assert (policies.allow_local_runners, policies.maximum_running_environments_per_user) == (False, 0)


def test_durations_and_int64_on_the_wire(ona: OnaClient, emulator: Emulator) -> None:
    ona.update_organization_policies(maximum_environment_timeout=timedelta(hours=1),
                                     maximum_environments_per_user=20,
                                     delete_archived_environments_after=timedelta(days=14))
    assert emulator.calls("UpdateOrganizationPolicies")[-1] == {
        "organizationId": emulator.organization_id, "maximumEnvironmentTimeout": "3600s",
        "maximumEnvironmentsPerUser": "20", "deleteArchivedEnvironmentsAfter": "1209600s"}


def test_nested_partial_update(ona: OnaClient, emulator: Emulator) -> None:
    ona.update_organization_policies(agent_policy=UpdateOrganizationPoliciesRequestUpdateAgentPolicy(mcp_disabled=True))
    assert emulator.calls("UpdateOrganizationPolicies")[-1] == {
        "organizationId": emulator.organization_id, "agentPolicy": {"mcpDisabled": True}}
    agent = emulator.state.policies.agent_policy
    assert agent is not None and agent.mcp_disabled and agent.command_deny_list  # the rest kept


def test_clear_list_error_sends_nothing_but_invite_domains_clear(ona: OnaClient, emulator: Emulator) -> None:
    with pytest.raises(ClearListError):
        ona.update_organization_policies(allowed_editor_ids=[])
    assert emulator.calls("UpdateOrganizationPolicies") == []
    assert emulator.state.policies.allowed_editor_ids == ["vscode", "jetbrains", "cursor"]
    ona.update_organization(invite_domains=InviteDomains(domains=["acme.com"]))
    ona.update_organization(invite_domains=InviteDomains(domains=[]))
    assert emulator.calls("UpdateOrganization")[-1] == {
        "organizationId": emulator.organization_id, "inviteDomains": {"domains": []}}
    organization = emulator.state.organization
    assert organization is not None
    assert organization.invite_domains is None or organization.invite_domains.domains == []


# --- concurrency and secrecy against the emulator -------------------------------------------


def test_one_client_shared_by_threads(ona: OnaClient, emulator: Emulator) -> None:
    results: list[str] = []
    failures: list[BaseException] = []

    def work() -> None:
        try:
            organization = ona.get_organization().organization
            results.append(organization.name if organization else "")
        except BaseException as exc:  # surfaced below: a thread's failure must fail the test
            failures.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert not failures and results == ["Acme Corp"] * 8


def test_the_admin_key_never_appears_in_logs_or_errors(emulator: Emulator, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    texts = []
    with other_client(emulator, emulator.admin_key, timeout=httpx.Timeout(5.0, read=SHORT_READ)) as client:
        texts.append(repr(client))
        client.get_organization()
        emulator.inject_fault("SetRole", code="internal")
        emulator.inject_fault("UpdateAnnouncementBanner", code=None, delay=SLOW)
        emulator.inject_fault("LeaveOrganization", drop=True)
        calls: list[Callable[[], object]] = [
            lambda: client.set_role(user_id=member_id(emulator, "carol@example.com"), role=OrganizationRole.ADMIN),
            lambda: client.update_announcement_banner(message="slow"),
            lambda: client.leave_organization(user_id=member_id(emulator, "dave@example.com")),
            lambda: client.get_sso_configuration(sso_configuration_id="0b6f3a1e-2c4d-4e5f-8a9b-0c1d2e3f4a5b"),
        ]
        for call in calls:
            with pytest.raises(OnaError) as info:
                call()
            texts += [str(info.value), repr(info.value), info.value.user_message]
    wait_for(lambda: len(emulator.calls("UpdateAnnouncementBanner")) == 1)  # let the slow call finish here
    texts.append(caplog.text)
    for text in texts:
        assert _secret_free(text, emulator.admin_key), text
