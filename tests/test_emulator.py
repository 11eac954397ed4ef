"""The local Ona emulator, tested over real HTTP with raw requests (not through a client library).

Mostly JSON; the wire-format section also sends binary protobuf, GET queries, gzip bodies and the
Connect headers by hand. Every successful answer is also parsed by protobuf's own parser against
Ona's published schema (gitpod-sdk), unknown fields rejected: the emulator must never emit what Ona
could not. Ona's official SDK against the emulator is tests/test_sdk_against_emulator.py.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import ona_sdk  # gitpod-sdk: Ona's official SDK
import pytest
from gitpod.v1 import organization_pb2  # gitpod-sdk: a dev dependency, the published schema
from google.protobuf import json_format, message_factory

from bot.ona.emulator import DEFAULT_ADMIN_KEY, DEFAULT_MEMBER_KEY, DEFAULT_ORG_ID, DEFAULT_PORT, Emulator
from bot.ona.emulator import connect as emulator_connect
from bot.ona.emulator import server as emulator_server
from bot.ona.emulator.connect import SCHEMA
from bot.ona.emulator.service import HANDLERS, HTTP_STATUS
from bot.ona.emulator.state import (
    SEED_INVITE_ID,
    SEED_SCIM_ID,
    SEED_SSO_CLIENT_SECRET,
    SEED_SSO_ID,
)
from bot.ona.emulator.validate import CEL_CHECKS, SUPPORTED_RULES
from bot.ona.models import METHODS, OrganizationTier
from bot.ona.rules import RULES
from bot.ona.wire import parse_duration
from tests.emulator_scenarios import (
    ALICE,
    BOB,
    CAROL,
    DAVE,
    HAPPY,
    ORG,
    OTHER_UUID,
    make_custom_domain,
    make_sso,
    make_verification,
)

ROOT = Path(__file__).resolve().parents[1]
SERVICE = organization_pb2.DESCRIPTOR.services_by_name["OrganizationService"]


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met before the deadline"
        threading.Event().wait(0.005)


class Api:
    """Raw Connect calls; each 200 body is checked against the protobuf schema."""

    def __init__(self, emu: Emulator, http: httpx.Client) -> None:
        self.emu = emu
        self.http = http

    def call(self, method: str, body: Any = None, key: str | None = DEFAULT_ADMIN_KEY,
             content: bytes | None = None, content_type: str = "application/json",
             headers: dict[str, str] | None = None) -> httpx.Response:
        headers = {"Content-Type": content_type, **(headers or {})}
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        response = self.http.post(f"/gitpod.v1.OrganizationService/{method}", headers=headers,
                                  json=None if content is not None else body, content=content)
        if response.status_code == 200 and method in METHODS and content_type.startswith("application/json"):
            conforms(method, response.text)
        return response

    def ok(self, method: str, body: dict[str, Any], key: str = DEFAULT_ADMIN_KEY) -> dict[str, Any]:
        response = self.call(method, body, key=key)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json"
        return response.json()

    def fails(self, method: str, body: Any, code: str, key: str | None = DEFAULT_ADMIN_KEY) -> str:
        """Assert a Connect error with ``code``; return its message."""
        response = self.call(method, body, key=key)
        assert response.status_code == HTTP_STATUS[code], response.text
        assert response.headers["content-type"] == "application/json"
        error = response.json()
        assert set(error) == {"code", "message"} and error["code"] == code, error
        return error["message"]

    def control(self, verb: str, name: str, body: Any = None) -> httpx.Response:
        return self.http.request(verb, f"/_emulator/{name}", json=body)


def conforms(method: str, text: str) -> None:
    """protobuf parses the answer as the method's response message, unknown fields rejected."""
    message = message_factory.GetMessageClass(SERVICE.methods_by_name[method].output_type)()
    json_format.Parse(text, message)


@pytest.fixture(scope="module")
def _server() -> Iterator[Emulator]:
    with Emulator() as emu:
        yield emu


@pytest.fixture
def emu(_server: Emulator) -> Emulator:
    _server.reset()
    return _server


@pytest.fixture
def api(emu: Emulator) -> Iterator[Api]:
    with httpx.Client(base_url=emu.base_url, timeout=10) as http:
        yield Api(emu, http)


# === every method, happy path (the scenarios are in tests/emulator_scenarios.py) ===============


def test_the_conformance_check_has_teeth() -> None:
    conforms("GetOrganization", '{"organization": {"id": "x", "tier": "ORGANIZATION_TIER_ENTERPRISE"}}')
    for wrong in ('{"organization": {"nickname": "x"}}', '{"organization": {"tier": "ORGANIZATION_TIER_GOLD"}}',
                  '{"organization": {"createdAt": "yesterday"}}'):
        with pytest.raises(json_format.ParseError):
            conforms("GetOrganization", wrong)


def test_every_method_has_a_handler_and_a_happy_path() -> None:
    assert sorted(HANDLERS) == sorted(METHODS) == sorted(HAPPY)
    assert len(METHODS) == 35


@pytest.mark.parametrize("method", sorted(HAPPY))
def test_happy_path(method: str, api: Api) -> None:
    HAPPY[method](api)
    assert any(r["method"] == method and r["status"] == 200 for r in api.emu.requests)


# === authentication and authorization ========================================================


@pytest.mark.parametrize("key", [None, "wrong-key", DEFAULT_ADMIN_KEY + "x", DEFAULT_ADMIN_KEY[:-1]])
def test_a_missing_or_wrong_key_is_unauthenticated(api: Api, key: str | None) -> None:
    api.fails("GetOrganization", {"organizationId": ORG}, "unauthenticated", key=key)
    assert api.emu.requests[-1]["role"] is None


def test_the_key_needs_the_bearer_scheme(api: Api) -> None:
    response = api.http.post("/gitpod.v1.OrganizationService/GetOrganization", json={"organizationId": ORG},
                             headers={"Authorization": DEFAULT_ADMIN_KEY})
    assert response.status_code == 401 and response.json()["code"] == "unauthenticated"


def test_the_member_key_reads(api: Api) -> None:
    assert api.ok("GetOrganizationPolicies", {"organizationId": ORG}, key=DEFAULT_MEMBER_KEY)["policies"]
    members = api.ok("ListMembers", {"organizationId": ORG}, key=DEFAULT_MEMBER_KEY)["members"]
    assert members[0]["userId"] == CAROL  # Ona lists the caller first
    assert api.emu.requests[-1]["role"] == "member"


@pytest.mark.parametrize("method, body", [
    ("UpdateAnnouncementBanner", {"organizationId": ORG, "enabled": True}),
    ("SetRole", {"organizationId": ORG, "userId": CAROL, "role": "ORGANIZATION_ROLE_ADMIN"}),
    ("UpdateOrganizationPolicies", {"organizationId": ORG, "portSharingDisabled": True}),
    ("CreateOrganizationInvite", {"organizationId": ORG}),
    ("LeaveOrganization", {"userId": DAVE}),  # a member may remove only themselves
    ("DeleteOrganization", {"organizationId": ORG}),
    ("RegenerateSCIMToken", {"scimConfigurationId": SEED_SCIM_ID}),
])
def test_the_member_key_may_not_mutate(api: Api, method: str, body: dict[str, Any]) -> None:
    before = repr(api.emu.state)
    api.fails(method, body, "permission_denied", key=DEFAULT_MEMBER_KEY)
    assert repr(api.emu.state) == before
    last = api.emu.requests[-1]
    assert (last["method"], last["role"], last["status"], last["code"]) == (method, "member", 403, "permission_denied")


def test_a_custom_organization_and_keys() -> None:
    org = "11111111-2222-4333-8444-555555555555"
    with Emulator(organization_id=org, admin_key="a", member_key="m") as emu, \
            httpx.Client(base_url=emu.base_url) as http:
        api = Api(emu, http)
        assert (emu.organization_id, emu.admin_key, emu.member_key) == (org, "a", "m")
        assert api.ok("GetOrganization", {"organizationId": org}, key="a")["organization"]["id"] == org
        api.fails("GetOrganization", {"organizationId": DEFAULT_ORG_ID}, "not_found", key="a")
        api.fails("GetOrganization", {"organizationId": org}, "unauthenticated", key=DEFAULT_ADMIN_KEY)
    with pytest.raises(ValueError, match="UUID"):
        Emulator(organization_id="acme")
    with pytest.raises(ValueError, match="different"):
        Emulator(admin_key="same", member_key="same")


# === the wire format ==========================================================================


def pb_class(method: str, output: bool = False) -> Any:
    """The schema's request (or response) message class of ``method``."""
    rpc = SERVICE.methods_by_name[method]
    return message_factory.GetMessageClass(rpc.output_type if output else rpc.input_type)


def encode(codec: str, method: str, body: dict[str, Any]) -> bytes:
    """A request body in ``codec``: JSON as given, or the binary protobuf of the same message."""
    if codec == "json":
        return json.dumps(body).encode()
    return json_format.ParseDict(body, pb_class(method)()).SerializeToString()


def decode(codec: str, method: str, response: httpx.Response) -> dict[str, Any]:
    """A 200 answer as proto3 JSON, checked to be in ``codec`` and to be the method's response message."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == f"application/{codec}"
    message = pb_class(method, output=True)()
    if codec == "json":
        json_format.Parse(response.text, message)
    else:
        message.ParseFromString(response.content)
    return json_format.MessageToDict(message)


def connect_error(response: httpx.Response, code: str) -> str:
    """Assert a Connect error (JSON whatever the codec of the request); return its message."""
    assert response.status_code == HTTP_STATUS[code], response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()
    assert set(error) == {"code", "message"} and error["code"] == code, error
    return error["message"]


AUTH = {"Authorization": f"Bearer {DEFAULT_ADMIN_KEY}"}
RPC = "/gitpod.v1.OrganizationService"


def test_unknown_method_is_unimplemented(api: Api) -> None:
    assert "GetOrganizationBilling" in api.fails("GetOrganizationBilling", {}, "unimplemented")
    response = api.http.post("/gitpod.v1.EnvironmentService/ListEnvironments", json={},
                             headers={"Authorization": f"Bearer {DEFAULT_ADMIN_KEY}"})
    assert response.status_code == 501 and response.json()["code"] == "unimplemented"


NOT_EMULATED = sorted(set(SCHEMA) - set(METHODS))


def test_the_schema_has_44_methods_and_35_are_emulated() -> None:
    assert sorted(SCHEMA) == sorted(m.name for m in SERVICE.methods) and len(SCHEMA) == 44
    assert set(METHODS) < set(SCHEMA) and len(NOT_EMULATED) == 9
    assert {"GetOIDCConfig", "GetTermsOfService", "SetStripeCustomerID"} < set(NOT_EMULATED)


@pytest.mark.parametrize("method", NOT_EMULATED)
def test_a_method_of_the_schema_not_emulated_says_so(api: Api, method: str) -> None:
    message = api.fails(method, {"organizationId": ORG}, "unimplemented")
    assert f"{RPC[1:]}/{method} is in Ona's schema but not emulated" in message


def test_post_or_get_and_nothing_else(api: Api) -> None:
    response = api.http.put(f"{RPC}/GetOrganization", headers=AUTH)
    assert response.status_code == 405 and response.headers["allow"] == "GET, POST"
    response = api.http.delete(f"{RPC}/SetRole", headers=AUTH)
    assert response.status_code == 405 and response.headers["allow"] == "POST"
    # GET only for the methods the schema marks free of side effects (GetOrganizationInvite is not)
    for method in ("SetRole", "GetOrganizationInvite"):
        response = api.http.get(f"{RPC}/{method}", params={"encoding": "json", "message": "{}"}, headers=AUTH)
        assert response.status_code == 405 and response.headers["allow"] == "POST"
        assert response.json()["code"] == "unimplemented"
    assert api.emu.state.invite_id == SEED_INVITE_ID


def test_content_types(api: Api) -> None:
    body = b'{"organizationId": "%s"}' % ORG.encode()
    for content_type in ("text/plain", "application/connect+json", "application/grpc", ""):
        response = api.call("GetOrganization", content=body, content_type=content_type)
        assert response.status_code == 415, content_type
        assert response.headers["accept-post"] == "application/proto, application/json"
    response = api.call("GetOrganization", content=body, content_type="application/json; charset=utf-8")
    assert response.status_code == 200


def test_binary_protobuf(api: Api) -> None:
    body = {"organizationId": ORG, "pagination": {"pageSize": 2}}
    response = api.call("ListMembers", content=encode("proto", "ListMembers", body), content_type="application/proto")
    answer = decode("proto", "ListMembers", response)
    assert [m["fullName"] for m in answer["members"]] == ["Alice Admin", "Bob Builder"]
    assert answer["pagination"]["nextToken"]
    entry = api.emu.requests[-1]
    assert (entry["body"], entry["codec"], entry["verb"]) == (body, "proto", "POST")
    # a mutation with a field that has presence, sent as false
    update = {"scimConfigurationId": SEED_SCIM_ID, "enabled": False}
    response = api.call("UpdateSCIMConfiguration", content=encode("proto", "UpdateSCIMConfiguration", update),
                        content_type="application/proto")
    assert "enabled" not in decode("proto", "UpdateSCIMConfiguration", response)["scimConfiguration"]
    assert api.emu.state.scim_configurations[SEED_SCIM_ID].enabled is False
    # errors are JSON whatever the codec, as Connect specifies
    response = api.call("GetOrganization", content=b"\xff\xff\xff", content_type="application/proto")
    assert "not a binary gitpod.v1.GetOrganizationRequest" in connect_error(response, "invalid_argument")
    response = api.call("GetSSOConfiguration", content=encode("proto", "GetSSOConfiguration",
                                                              {"ssoConfigurationId": OTHER_UUID}),
                        content_type="application/proto")
    assert OTHER_UUID in connect_error(response, "not_found")


@pytest.mark.parametrize("codec", ["json", "proto"])
def test_gzip_request_bodies(api: Api, codec: str) -> None:
    body = encode(codec, "UpdateAnnouncementBanner", {"organizationId": ORG, "message": "zipped", "enabled": True})
    response = api.call("UpdateAnnouncementBanner", content=gzip.compress(body), content_type=f"application/{codec}",
                        headers={"Content-Encoding": "gzip"})
    assert decode(codec, "UpdateAnnouncementBanner", response)["banner"]["message"] == "zipped"
    assert (api.emu.state.banner.message, api.emu.requests[-1]["compression"]) == ("zipped", "gzip")
    response = api.call("UpdateAnnouncementBanner", content=body, content_type=f"application/{codec}",
                        headers={"Content-Encoding": "gzip"})  # not gzip after all
    assert "gzip" in connect_error(response, "invalid_argument")
    response = api.call("UpdateAnnouncementBanner", content=gzip.compress(body)[:-4],
                        content_type=f"application/{codec}", headers={"Content-Encoding": "gzip"})
    connect_error(response, "invalid_argument")  # truncated
    response = api.call("UpdateAnnouncementBanner", content=body, content_type=f"application/{codec}",
                        headers={"Content-Encoding": "br"})
    assert "unknown compression 'br'" in connect_error(response, "unimplemented")
    response = api.call("GetOrganization", content=encode(codec, "GetOrganization", {"organizationId": ORG}),
                        content_type=f"application/{codec}", headers={"Content-Encoding": "identity"})
    decode(codec, "GetOrganization", response)


def test_a_gzip_bomb_is_refused(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(emulator_connect, "MAX_MESSAGE_BYTES", 1000)
    body = json.dumps({"organizationId": ORG, "message": "x" * 2000}).encode()
    response = api.call("UpdateAnnouncementBanner", content=gzip.compress(body), headers={"Content-Encoding": "gzip"})
    connect_error(response, "resource_exhausted")
    assert api.emu.state.banner.message == ""


def get_params(codec: str, data: bytes, **extra: str) -> dict[str, str]:
    """A Connect GET query, as connectrpc builds it (gzip, unpadded URL-safe base64)."""
    message = base64.urlsafe_b64encode(gzip.compress(data)).decode().rstrip("=")
    return {"connect": "v1", "base64": "1", "compression": "gzip", "encoding": codec, "message": message, **extra}


@pytest.mark.parametrize("codec", ["json", "proto"])
def test_get_for_methods_without_side_effects(api: Api, codec: str) -> None:
    data = encode(codec, "GetSSOConfiguration", {"ssoConfigurationId": SEED_SSO_ID})
    for prefix in ("", "/api"):
        response = api.http.get(f"{prefix}{RPC}/GetSSOConfiguration", params=get_params(codec, data), headers=AUTH)
        assert decode(codec, "GetSSOConfiguration", response)["ssoConfiguration"]["id"] == SEED_SSO_ID
        entry = api.emu.requests[-1]
        assert (entry["verb"], entry["codec"], entry["compression"], entry["path"]) == (
            "GET", codec, "gzip", f"{prefix}{RPC}/GetSSOConfiguration")
        assert entry["body"] == {"ssoConfigurationId": SEED_SSO_ID}
    response = api.http.get(f"{RPC}/GetSSOConfiguration", params=get_params(codec, data), headers={})
    connect_error(response, "unauthenticated")


def test_get_query_forms(api: Api) -> None:
    # JSON may travel unencoded, without compression or the connect parameter
    response = api.http.get(f"{RPC}/GetOrganization", headers=AUTH,
                            params={"encoding": "json", "message": json.dumps({"organizationId": ORG})})
    assert decode("json", "GetOrganization", response)["organization"]["name"] == "Acme Corp"
    data = encode("proto", "GetOrganization", {"organizationId": ORG})
    for params, code, status in [
        ({"encoding": "xml"}, "unimplemented", 415),
        ({"encoding": ""}, "unimplemented", 415),
        ({"connect": "v2"}, "invalid_argument", 400),
        ({"message": "%%%not base64"}, "invalid_argument", 400),
        ({"compression": "zstd"}, "unimplemented", 501),
    ]:
        response = api.http.get(f"{RPC}/GetOrganization", params=get_params("proto", data, **params), headers=AUTH)
        assert (response.status_code, response.json()["code"]) == (status, code), params
    response = api.http.get(f"{RPC}/GetOrganization", params={"message": "{}"}, headers=AUTH)  # no encoding
    assert response.status_code == 415


@pytest.mark.parametrize("version, status", [("1", 200), ("2", 400), ("0", 400), ("", 400)])
def test_connect_protocol_version(api: Api, version: str, status: int) -> None:
    response = api.call("GetOrganization", {"organizationId": ORG}, headers={"Connect-Protocol-Version": version})
    assert response.status_code == status
    if status != 200:
        assert "must be '1'" in connect_error(response, "invalid_argument")


def test_connect_timeout(api: Api, emu: Emulator) -> None:
    body = {"organizationId": ORG, "message": "late"}
    emu.inject_fault("UpdateAnnouncementBanner", code=None, delay=5)
    started = time.monotonic()
    response = api.call("UpdateAnnouncementBanner", body, headers={"Connect-Timeout-Ms": "150"})
    assert "deadline" in connect_error(response, "deadline_exceeded")
    assert 0.15 <= time.monotonic() - started < 4  # answered at the deadline, not after the delay
    assert emu.state.banner.message == ""  # given up on: not applied
    emu.inject_fault("UpdateAnnouncementBanner", code=None, delay=0.05)
    response = api.call("UpdateAnnouncementBanner", body, headers={"Connect-Timeout-Ms": "5000"})
    assert response.status_code == 200 and emu.state.banner.message == "late"
    response = api.call("UpdateAnnouncementBanner", {**body, "message": "never"}, headers={"Connect-Timeout-Ms": "0"})
    connect_error(response, "deadline_exceeded")
    assert emu.state.banner.message == "late"
    for bad in ("soon", "-1", "+5", "1.5", "12345678901"):
        response = api.call("GetOrganization", {"organizationId": ORG}, headers={"Connect-Timeout-Ms": bad})
        assert "Connect-Timeout-Ms" in connect_error(response, "invalid_argument"), bad
    assert [e["code"] for e in emu.requests[:3]] == ["deadline_exceeded", None, "deadline_exceeded"]


def test_the_api_prefix(api: Api) -> None:
    response = api.http.post(f"/api{RPC}/GetOrganization", json={"organizationId": ORG}, headers=AUTH)
    assert response.status_code == 200 and response.json()["organization"]["id"] == ORG
    assert api.emu.requests[-1]["path"] == f"/api{RPC}/GetOrganization"
    assert api.emu.api_url == api.emu.base_url + "/api"
    response = api.http.get("/api/_emulator/requests")  # the control endpoints too
    assert [entry["method"] for entry in response.json()["requests"]] == ["GetOrganization"]
    response = api.http.post(f"/apiary{RPC}/GetOrganization", json={"organizationId": ORG}, headers=AUTH)
    assert response.status_code == 501  # only /api is a prefix


@pytest.mark.parametrize("content", [b"", b"{", b"not json", b"\xff\xfe", b"[]", b"null", b'"x"'])
def test_a_body_that_is_not_a_json_object_is_invalid(api: Api, content: bytes) -> None:
    response = api.call("GetOrganization", content=content)
    assert response.status_code == 400 and response.json()["code"] == "invalid_argument"


# Requests that proto3 JSON parsing rejects, in Ona as in protobuf's own parser.
PARSE_REJECTED = [
    ("UpdateAnnouncementBanner", {"organizationId": ORG, "enabled": "false"}, "without quotes"),  # quoted bool
    ("UpdateAnnouncementBanner", {"organizationId": ORG, "enabled": 0}, "without quotes"),
    ("UpdateOrganizationPolicies", {"organizationId": ORG, "maximumEnvironmentTimeout": "1h"}, "Duration"),
    ("UpdateOrganizationPolicies", {"organizationId": ORG, "maximumEnvironmentTimeout": 3600}, "Duration"),
    ("UpdateOrganizationPolicies", {"organizationId": ORG, "maximumEnvironmentsPerUser": "twenty"},
     "maximumEnvironmentsPerUser"),
    ("ListMembers", {"organizationId": ORG, "filter": {"roles": "ORGANIZATION_ROLE_ADMIN"}}, "repeated field roles"),
    ("UpdateOrganization", {"organizationId": ORG, "name": 5}, "name"),
]


@pytest.mark.parametrize("method, body, fragment", PARSE_REJECTED)
def test_parsing(api: Api, method: str, body: dict[str, Any], fragment: str) -> None:
    before = repr(api.emu.state)
    assert fragment in api.fails(method, body, "invalid_argument")
    assert repr(api.emu.state) == before
    with pytest.raises(json_format.ParseError):
        json_format.ParseDict(body, pb_class(method)(), ignore_unknown_fields=True)


# Names the schema does not know: Ona (connect-go's JSON codec) ignores them; --strict rejects them.
UNKNOWN_NAMES = [
    ("GetOrganization", {"organizationId": ORG, "orgId": ORG}, 'no field named "orgId"'),
    ("UpdateOrganizationPolicies", {"organizationId": ORG, "agentPolicy": {"maxSubAgents": 2}},
     'no field named "maxSubAgents"'),
    ("UpdateOrganizationPolicies", {"organizationId": ORG, "agentPolicy": {"conversationSharingPolicy": "PUBLIC"}},
     "Invalid enum value PUBLIC"),
]


@pytest.fixture
def strict(emu: Emulator) -> Iterator[Emulator]:
    emu.strict = True
    yield emu
    emu.strict = False


@pytest.mark.parametrize("method, body, fragment", UNKNOWN_NAMES)
def test_unknown_names_are_ignored_as_ona_does(api: Api, method: str, body: dict[str, Any], fragment: str) -> None:
    before = repr(api.emu.state.policies)
    api.ok(method, body)
    assert repr(api.emu.state.policies) == before
    assert api.emu.requests[-1]["body"] == body  # logged as sent


@pytest.mark.parametrize("method, body, fragment", UNKNOWN_NAMES)
def test_strict_rejects_unknown_names(api: Api, strict: Emulator, method: str, body: dict[str, Any],
                                      fragment: str) -> None:
    assert fragment in api.fails(method, body, "invalid_argument")
    with pytest.raises(json_format.ParseError):
        json_format.ParseDict(body, pb_class(method)())


def test_unknown_binary_fields(api: Api, emu: Emulator) -> None:
    data = encode("proto", "GetOrganization", {"organizationId": ORG}) + bytes([0x98, 0x06, 0x01])  # field 99 = 1
    response = api.call("GetOrganization", content=data, content_type="application/proto")
    assert decode("proto", "GetOrganization", response)["organization"]["id"] == ORG
    emu.strict = True
    try:
        response = api.call("GetOrganization", content=data, content_type="application/proto")
    finally:
        emu.strict = False
    assert "does not know" in connect_error(response, "invalid_argument")


def test_proto3_json_forms_that_are_accepted(api: Api) -> None:
    # int64 as a string or a number, fractional Durations, proto field names as well as JSON names
    api.ok("UpdateOrganizationPolicies", {"organization_id": ORG, "maximumEnvironmentsPerUser": 25,
                                          "maximumRunningEnvironmentsPerUser": "3",
                                          "maximumEnvironmentTimeout": "1800.5s"})
    policies = api.emu.state.policies
    assert (policies.maximum_environments_per_user, policies.maximum_running_environments_per_user) == (25, 3)
    assert policies.maximum_environment_timeout == timedelta(seconds=1800.5)
    served = api.ok("GetOrganizationPolicies", {"organizationId": ORG})["policies"]["maximumEnvironmentTimeout"]
    assert parse_duration(served) == timedelta(seconds=1800.5)
    # enums by number, as Ona's Go server reads them
    api.ok("SetRole", {"organizationId": ORG, "userId": CAROL, "role": 1})
    api.ok("ListMembers", {"organizationId": ORG, "filter": {"roles": [2]}})
    assert api.emu.state.members[CAROL].role == "ORGANIZATION_ROLE_ADMIN"
    assert api.emu.requests[-2]["body"]["role"] == 1  # logged as sent


# === validation rules =========================================================================

DOMAIN_254 = ("a" * 62 + ".") * 4 + "io"  # 254 characters
DOMAIN_253 = DOMAIN_254[1:]

# (method, body, accepted?) -- each rule with an accepted and a rejected value at its edge.
RULE_CASES: list[tuple[str, str, dict[str, Any], bool]] = [
    ("banner 1000 chars", "UpdateAnnouncementBanner", {"organizationId": ORG, "message": "x" * 1000}, True),
    ("banner 1001 chars", "UpdateAnnouncementBanner", {"organizationId": ORG, "message": "x" * 1001}, False),
    ("timeout 0s", "UpdateOrganizationPolicies", {"organizationId": ORG, "maximumEnvironmentTimeout": "0s"}, True),
    ("timeout 1799s", "UpdateOrganizationPolicies", {"organizationId": ORG, "maximumEnvironmentTimeout": "1799s"},
     False),
    ("timeout 1800s", "UpdateOrganizationPolicies", {"organizationId": ORG, "maximumEnvironmentTimeout": "1800s"},
     True),
    ("lifetime 180d", "UpdateOrganizationPolicies",
     {"organizationId": ORG, "maximumEnvironmentLifetime": "15552000s"}, True),
    ("lifetime 181d", "UpdateOrganizationPolicies",
     {"organizationId": ORG, "maximumEnvironmentLifetime": "15638400s"}, False),
    ("delete archived 4w", "UpdateOrganizationPolicies",
     {"organizationId": ORG, "deleteArchivedEnvironmentsAfter": "2419200s"}, True),
    ("delete archived 4w+1s", "UpdateOrganizationPolicies",
     {"organizationId": ORG, "deleteArchivedEnvironmentsAfter": "2419201s"}, False),
    ("archive after 2d", "UpdateOrganizationPolicies",
     {"organizationId": ORG, "archiveEnvironmentsAfter": "172800s"}, True),
    ("archive after 1.5d", "UpdateOrganizationPolicies",
     {"organizationId": ORG, "archiveEnvironmentsAfter": "129600s"}, False),
    ("archive after 31d", "UpdateOrganizationPolicies",
     {"organizationId": ORG, "archiveEnvironmentsAfter": "2678400s"}, False),
    ("subagents 0", "UpdateOrganizationPolicies",
     {"organizationId": ORG, "agentPolicy": {"maxSubagentsPerEnvironment": 0}}, True),
    ("subagents 10", "UpdateOrganizationPolicies",
     {"organizationId": ORG, "agentPolicy": {"maxSubagentsPerEnvironment": 10}}, True),
    ("subagents 11", "UpdateOrganizationPolicies",
     {"organizationId": ORG, "agentPolicy": {"maxSubagentsPerEnvironment": 11}}, False),
    ("subagents -1", "UpdateOrganizationPolicies",
     {"organizationId": ORG, "agentPolicy": {"maxSubagentsPerEnvironment": -1}}, False),
    ("security policy id not a UUID", "UpdateOrganizationPolicies",
     {"organizationId": ORG, "securityPolicyId": "policy-1"}, False),
    ("security policy id set but empty (only an unset one is ignored)", "UpdateOrganizationPolicies",
     {"organizationId": ORG, "securityPolicyId": ""}, False),
    ("security policy id a UUID", "UpdateOrganizationPolicies", {"organizationId": ORG, "securityPolicyId": OTHER_UUID},
     True),
    ("crowdstrike secret id not a UUID", "UpdateOrganizationPolicies",
     {"organizationId": ORG, "securityAgentPolicy": {"crowdstrike": {"cidSecretId": "nope"}}}, False),
    ("invite domain 4 chars", "UpdateOrganization", {"organizationId": ORG, "inviteDomains": {"domains": ["a.io"]}},
     True),
    ("invite domain 3 chars", "UpdateOrganization", {"organizationId": ORG, "inviteDomains": {"domains": ["a.b"]}},
     False),
    ("invite domain 253 chars", "UpdateOrganization",
     {"organizationId": ORG, "inviteDomains": {"domains": [DOMAIN_253]}}, True),
    ("invite domain 254 chars", "UpdateOrganization",
     {"organizationId": ORG, "inviteDomains": {"domains": [DOMAIN_254]}}, False),
    ("invite domain not a hostname", "UpdateOrganization",
     {"organizationId": ORG, "inviteDomains": {"domains": ["acme_corp.com"]}}, False),
    ("invite domains repeated", "UpdateOrganization",
     {"organizationId": ORG, "inviteDomains": {"domains": ["acme.com", "acme.com"]}}, False),
    ("verification domain not a hostname", "CreateDomainVerification",
     {"organizationId": ORG, "domain": "not a domain"}, False),
    ("verification domain too short", "CreateDomainVerification", {"organizationId": ORG, "domain": "a.b"}, False),
    ("verification domain 253 chars", "CreateDomainVerification", {"organizationId": ORG, "domain": DOMAIN_253},
     True),
    ("verification domain 254 chars", "CreateDomainVerification", {"organizationId": ORG, "domain": DOMAIN_254},
     False),
    ("custom domain without TLD", "CreateCustomDomain", {"organizationId": ORG, "domainName": "localhost"}, False),
    ("custom domain with a scheme", "CreateCustomDomain",
     {"organizationId": ORG, "domainName": "https://ide.acme.com"}, False),
    ("custom domain update not a hostname", "UpdateCustomDomain",
     {"organizationId": ORG, "domainName": "ide acme.com"}, False),
    ("page size 100", "ListMembers", {"organizationId": ORG, "pagination": {"pageSize": 100}}, True),
    ("page size 101", "ListMembers", {"organizationId": ORG, "pagination": {"pageSize": 101}}, False),
    ("page size -1", "ListDomainVerifications", {"organizationId": ORG, "pagination": {"pageSize": -1}}, False),
    ("search 257 chars", "ListMembers", {"organizationId": ORG, "filter": {"search": "x" * 257}}, False),
    ("user ID filter not a UUID", "ListMembers", {"organizationId": ORG, "filter": {"userIds": ["carol"]}}, False),
    ("organization ID missing", "GetOrganization", {}, False),
    ("organization ID not a UUID", "GetOrganization", {"organizationId": "acme"}, False),
    ("user ID not a UUID", "SetRole", {"organizationId": ORG, "userId": "carol", "role": "ORGANIZATION_ROLE_ADMIN"},
     False),
    ("verification ID not a UUID", "VerifyDomain", {"domainVerificationId": "123"}, False),
    ("join with both IDs", "JoinOrganization", {"organizationId": ORG, "inviteId": SEED_INVITE_ID}, False),
    ("join with neither ID", "JoinOrganization", {}, False),
    ("organization name too short", "CreateOrganization", {"name": "AB"}, False),
    ("SSO issuer not a URI", "CreateSSOConfiguration",
     {"organizationId": ORG, "clientId": "c", "clientSecret": "s", "issuerUrl": "accounts.google.com"}, False),
    ("SSO client secret missing", "CreateSSOConfiguration",
     {"organizationId": ORG, "clientId": "c", "issuerUrl": "https://accounts.google.com"}, False),
    ("SSO email domains repeated", "UpdateSSOConfiguration",
     {"ssoConfigurationId": SEED_SSO_ID, "emailDomains": ["acme.com", "acme.com"]}, False),
    ("SSO 101 scopes", "UpdateSSOConfiguration",
     {"ssoConfigurationId": SEED_SSO_ID, "additionalScopes": {"scopes": [f"s{n}" for n in range(101)]}}, False),
    ("SCIM token lifetime 1 day", "RegenerateSCIMToken",
     {"scimConfigurationId": SEED_SCIM_ID, "tokenExpiresIn": "86400s"}, True),
    ("SCIM token lifetime under 1 day", "RegenerateSCIMToken",
     {"scimConfigurationId": SEED_SCIM_ID, "tokenExpiresIn": "86399s"}, False),
    ("SCIM token lifetime over 2 years", "CreateSCIMConfiguration",
     {"organizationId": ORG, "ssoConfigurationId": SEED_SSO_ID, "tokenExpiresIn": "63072001s"}, False),
    ("SCIM name 129 chars", "UpdateSCIMConfiguration", {"scimConfigurationId": SEED_SCIM_ID, "name": "n" * 129},
     False),
]


@pytest.mark.parametrize("method, body, accepted", [pytest.param(*c[1:], id=c[0]) for c in RULE_CASES])
def test_validation_rules(api: Api, method: str, body: dict[str, Any], accepted: bool) -> None:
    if method == "UpdateCustomDomain":
        make_custom_domain(api)
    if accepted:
        api.ok(method, body)
    else:
        assert api.fails(method, body, "invalid_argument")


def test_a_validation_error_names_every_violation_like_protovalidate(api: Api) -> None:
    message = api.fails("UpdateOrganizationPolicies", {
        "organizationId": ORG, "maximumEnvironmentTimeout": "60s", "agentPolicy": {"maxSubagentsPerEnvironment": 11}},
        "invalid_argument")
    assert message == (
        "validation error:\n"
        " - maximum_environment_timeout: value must be 0s (no limit) or at least 1800s (30 minutes)"
        " [maximum_environment_timeout]\n"
        " - agent_policy.max_subagents_per_environment: value must be less than or equal to 10 [int32.lte]")
    assert api.emu.state.policies.maximum_environment_timeout == timedelta(hours=8)  # nothing applied


def test_rules_table_is_fully_supported() -> None:
    """A regenerated schema with a new kind of rule or CEL expression must fail here, not be ignored."""
    def keys(rule: dict[str, Any]) -> Iterator[str]:
        for key, value in rule.items():
            yield key
            if key == "items":
                yield from keys(value)

    used = {key for fields in RULES.values() for name, rule in fields.items() if name != "__oneof__"
            for key in keys(rule)}
    assert used <= SUPPORTED_RULES
    cel_ids = {cel["id"] for fields in RULES.values() for name, rule in fields.items() if name != "__oneof__"
               for cel in rule.get("cel", ())}
    assert cel_ids == set(CEL_CHECKS)


@pytest.mark.parametrize("method, body", [
    ("GetOrganization", {"organizationId": OTHER_UUID}),
    ("ListMembers", {"organizationId": OTHER_UUID}),
    ("UpdateAnnouncementBanner", {"organizationId": OTHER_UUID, "enabled": True}),
    ("JoinOrganization", {"organizationId": OTHER_UUID}),
    ("GetDomainVerification", {"domainVerificationId": OTHER_UUID}),
    ("DeleteDomainVerification", {"domainVerificationId": OTHER_UUID}),
    ("VerifyDomain", {"domainVerificationId": OTHER_UUID}),
    ("GetSSOConfiguration", {"ssoConfigurationId": OTHER_UUID}),
    ("UpdateSSOConfiguration", {"ssoConfigurationId": OTHER_UUID, "displayName": "x"}),
    ("DeleteSSOConfiguration", {"ssoConfigurationId": OTHER_UUID}),
    ("GetSCIMConfiguration", {"scimConfigurationId": OTHER_UUID}),
    ("UpdateSCIMConfiguration", {"scimConfigurationId": OTHER_UUID, "enabled": True}),
    ("DeleteSCIMConfiguration", {"scimConfigurationId": OTHER_UUID}),
    ("RegenerateSCIMToken", {"scimConfigurationId": OTHER_UUID}),
    ("CreateSCIMConfiguration", {"organizationId": ORG, "ssoConfigurationId": OTHER_UUID}),
    ("UpdateSCIMConfiguration", {"scimConfigurationId": SEED_SCIM_ID, "ssoConfigurationId": OTHER_UUID}),
    ("GetCustomDomain", {"organizationId": ORG}),
    ("UpdateCustomDomain", {"organizationId": ORG, "domainName": "ide.acme.com"}),
    ("DeleteCustomDomain", {"organizationId": ORG}),
    ("SetRole", {"organizationId": ORG, "userId": OTHER_UUID, "role": "ORGANIZATION_ROLE_ADMIN"}),
    ("LeaveOrganization", {"userId": OTHER_UUID}),
    ("GetOrganizationInviteSummary", {"inviteId": OTHER_UUID}),
])
def test_missing_things_are_not_found(api: Api, method: str, body: dict[str, Any]) -> None:
    api.fails(method, body, "not_found")


# === behaviour ================================================================================


def test_a_new_invite_invalidates_the_old_one(api: Api) -> None:
    new = api.ok("CreateOrganizationInvite", {"organizationId": ORG})["invite"]["inviteId"]
    assert "not found" in api.fails("GetOrganizationInviteSummary", {"inviteId": SEED_INVITE_ID}, "not_found")
    api.fails("JoinOrganization", {"inviteId": SEED_INVITE_ID}, "not_found")
    assert api.ok("GetOrganizationInviteSummary", {"inviteId": new})["organizationName"] == "Acme Corp"
    newer = api.ok("CreateOrganizationInvite", {"organizationId": ORG})["invite"]["inviteId"]
    api.fails("GetOrganizationInviteSummary", {"inviteId": new}, "not_found")
    assert api.ok("GetOrganizationInvite", {"organizationId": ORG}) == {"invite": {"inviteId": newer}}


def test_domain_verification_needs_the_published_token(api: Api) -> None:
    made = make_verification(api, "Acme.com")
    verify = {"domainVerificationId": made["id"]}
    assert "TXT" in api.fails("VerifyDomain", verify, "failed_precondition")
    api.emu.publish_dns("acme.com", "some-other-token")
    api.emu.publish_dns("other.com", made["verificationToken"])
    api.fails("VerifyDomain", verify, "failed_precondition")
    pending = api.ok("GetDomainVerification", verify)["domainVerification"]
    assert pending["state"] == "DOMAIN_VERIFICATION_STATE_PENDING" and "verifiedAt" not in pending
    api.emu.publish_dns("ACME.com.", made["verificationToken"])  # DNS names are case-insensitive
    verified = api.ok("VerifyDomain", verify)["domainVerification"]
    assert verified["state"] == "DOMAIN_VERIFICATION_STATE_VERIFIED"
    assert datetime.fromisoformat(verified["verifiedAt"]) >= datetime.fromisoformat(made["createdAt"])
    assert api.ok("VerifyDomain", verify)["domainVerification"] == verified  # verifying again changes nothing
    assert api.ok("GetDomainVerification", verify)["domainVerification"] == verified


def test_one_verification_per_domain(api: Api) -> None:
    make_verification(api, "acme.com")
    assert "ACME.com" in api.fails("CreateDomainVerification", {"organizationId": ORG, "domain": "ACME.com"},
                                   "already_exists")
    make_verification(api, "eu.acme.com")


def test_one_custom_domain(api: Api) -> None:
    make_custom_domain(api)
    api.fails("CreateCustomDomain", {"organizationId": ORG, "domainName": "other.acme.com"}, "already_exists")
    api.ok("DeleteCustomDomain", {"organizationId": ORG})
    api.fails("DeleteCustomDomain", {"organizationId": ORG}, "not_found")
    make_custom_domain(api)


def test_the_last_active_admin_stays(api: Api) -> None:
    demote = {"organizationId": ORG, "role": "ORGANIZATION_ROLE_MEMBER"}
    api.ok("SetRole", {**demote, "userId": ALICE})
    assert "admin" in api.fails("SetRole", {**demote, "userId": BOB}, "failed_precondition")
    api.fails("LeaveOrganization", {"userId": BOB}, "failed_precondition")
    api.ok("SetRole", {**demote, "userId": BOB, "role": "ORGANIZATION_ROLE_ADMIN"})  # promoting is fine
    api.fails("SetRole", {**demote, "userId": CAROL, "role": "ORGANIZATION_ROLE_UNSPECIFIED"}, "invalid_argument")


def test_joining_by_organization_id_needs_a_matching_invite_domain(api: Api) -> None:
    api.ok("LeaveOrganization", {"userId": CAROL})
    api.fails("JoinOrganization", {"organizationId": ORG}, "permission_denied", key=DEFAULT_MEMBER_KEY)
    api.ok("UpdateOrganization", {"organizationId": ORG, "inviteDomains": {"domains": ["example.com"]}})
    assert api.ok("JoinOrganization", {"organizationId": ORG}, key=DEFAULT_MEMBER_KEY)["member"]["userId"] == CAROL


def test_the_banner_needs_the_enterprise_tier(api: Api, emu: Emulator) -> None:
    organization = emu.state.organization
    assert organization is not None
    organization.tier = OrganizationTier.FREE
    api.fails("UpdateAnnouncementBanner", {"organizationId": ORG, "enabled": True}, "failed_precondition")


def test_an_sso_configuration_linked_to_scim_is_kept(api: Api) -> None:
    api.fails("DeleteSSOConfiguration", {"ssoConfigurationId": SEED_SSO_ID}, "failed_precondition")
    api.ok("DeleteSCIMConfiguration", {"scimConfigurationId": SEED_SCIM_ID})
    api.ok("DeleteSSOConfiguration", {"ssoConfigurationId": SEED_SSO_ID})


def test_sso_client_secrets_never_leave(api: Api, emu: Emulator) -> None:
    sso = make_sso(api, secret="very-secret-okta-value")
    api.ok("UpdateSSOConfiguration", {"ssoConfigurationId": SEED_SSO_ID, "clientSecret": "rotated-google-secret"})
    bodies = [api.call("GetSSOConfiguration", {"ssoConfigurationId": sso["id"]}).text,
              api.call("GetSSOConfiguration", {"ssoConfigurationId": SEED_SSO_ID}).text,
              api.call("ListSSOConfigurations", {"organizationId": ORG}).text]
    for secret in ("very-secret-okta-value", "rotated-google-secret", SEED_SSO_CLIENT_SECRET):
        assert all(secret not in body for body in bodies)
    assert emu.state.secrets[sso["id"]] == "very-secret-okta-value"
    assert emu.state.secrets[SEED_SSO_ID] == "rotated-google-secret"


# === partial updates ==========================================================================


def test_policies_change_only_where_sent(api: Api, emu: Emulator) -> None:
    before = emu.state.policies.model_copy(deep=True)
    api.ok("UpdateOrganizationPolicies", {"organizationId": ORG, "allowedEditorIds": [],
                                          "editorVersionRestrictions": {}, "portSharingDisabled": True})
    after = emu.state.policies
    assert after.port_sharing_disabled is True
    assert after.model_copy(update={"port_sharing_disabled": False}) == before  # empty repeated: no change
    api.ok("UpdateOrganizationPolicies", {"organizationId": ORG, "allowedEditorIds": ["vscode"],
                                          "membersCreateProjects": False, "maximumRunningEnvironmentsPerUser": "0"})
    assert (after.allowed_editor_ids, after.members_create_projects, after.maximum_running_environments_per_user) \
        == (["vscode"], False, 0)
    assert after.maximum_environments_per_user == 20


def test_nested_policies_update_partially(api: Api, emu: Emulator) -> None:
    deny_list = list(emu.state.policies.agent_policy.command_deny_list)  # type: ignore[union-attr]
    api.ok("UpdateOrganizationPolicies", {"organizationId": ORG, "agentPolicy": {"mcpDisabled": True}})
    agent = emu.state.policies.agent_policy
    assert agent is not None
    assert (agent.mcp_disabled, agent.command_deny_list, agent.max_subagents_per_environment) == (True, deny_list, 5)
    api.ok("UpdateOrganizationPolicies", {"organizationId": ORG, "agentPolicy": {"commandDenyList": ["sudo"]}})
    assert (agent.command_deny_list, agent.mcp_disabled) == (["sudo"], True)
    api.ok("UpdateOrganizationPolicies", {"organizationId": ORG, "securityAgentPolicy": {
        "crowdstrike": {"enabled": True, "image": "crowdstrike/falcon:7"}}})
    api.ok("UpdateOrganizationPolicies", {"organizationId": ORG, "securityAgentPolicy": {
        "crowdstrike": {"tags": "prod"}}})
    crowdstrike = emu.state.policies.security_agent_policy.crowdstrike  # type: ignore[union-attr]
    assert (crowdstrike.enabled, crowdstrike.image, crowdstrike.tags) == (True, "crowdstrike/falcon:7", "prod")
    api.ok("UpdateOrganizationPolicies", {"organizationId": ORG,
                                          "vetoExecPolicy": {"enabled": True, "executables": ["nc"]}})
    api.ok("UpdateOrganizationPolicies", {"organizationId": ORG, "vetoExecPolicy": {"executables": ["nmap"]}})
    veto = emu.state.policies.veto_exec_policy
    assert veto is not None and (veto.enabled, veto.executables) == (False, ["nmap"])  # a plain message: replaced


def test_wrapper_lists_present_and_empty_clear(api: Api, emu: Emulator) -> None:
    api.ok("UpdateOrganization", {"organizationId": ORG, "inviteDomains": {"domains": ["acme.com"]}})
    api.ok("UpdateOrganization", {"organizationId": ORG, "name": "Acme Inc"})  # absent: kept
    organization = api.ok("GetOrganization", {"organizationId": ORG})["organization"]
    assert (organization["name"], organization["inviteDomains"]) == ("Acme Inc", {"domains": ["acme.com"]})
    organization = api.ok("UpdateOrganization", {"organizationId": ORG, "inviteDomains": {"domains": []}})
    assert organization["organization"]["inviteDomains"] == {}
    assert emu.state.organization.invite_domains.domains == []  # type: ignore[union-attr]

    api.ok("UpdateSSOConfiguration", {"ssoConfigurationId": SEED_SSO_ID, "additionalScopes": {"scopes": ["groups"]}})
    api.ok("UpdateSSOConfiguration", {"ssoConfigurationId": SEED_SSO_ID, "emailDomains": []})  # repeated: no change
    sso = emu.state.sso_configurations[SEED_SSO_ID]
    assert (sso.additional_scopes, sso.email_domains) == (["groups"], ["example.com"])
    api.ok("UpdateSSOConfiguration", {"ssoConfigurationId": SEED_SSO_ID, "additionalScopes": {}})
    assert sso.additional_scopes == []


def test_changes_behind_the_bots_back_are_served(api: Api, emu: Emulator) -> None:
    emu.state.policies.maximum_environment_timeout = timedelta(hours=2)
    emu.state.banner.message = "set elsewhere"
    assert api.ok("GetOrganizationPolicies", {"organizationId": ORG})["policies"]["maximumEnvironmentTimeout"] == \
        "7200s"
    assert api.ok("GetAnnouncementBanner", {"organizationId": ORG})["banner"]["message"] == "set elsewhere"


# === listing ==================================================================================


def names(out: dict[str, Any]) -> list[str]:
    return [m["fullName"] for m in out.get("members", [])]


@pytest.mark.parametrize("filter_, expected", [
    ({"search": "ADMIN"}, ["Alice Admin"]),
    ({"search": "example.com"}, ["Alice Admin", "Bob Builder", "Carol Member", "Dave Suspended", "Erin Engineer"]),
    ({"search": "bob@"}, ["Bob Builder"]),
    ({"roles": ["ORGANIZATION_ROLE_ADMIN"]}, ["Alice Admin", "Bob Builder"]),
    ({"statuses": ["USER_STATUS_SUSPENDED"]}, ["Dave Suspended"]),
    ({"statuses": ["USER_STATUS_ACTIVE"], "roles": ["ORGANIZATION_ROLE_MEMBER"]}, ["Carol Member", "Erin Engineer"]),
    ({"email": "Erin@Example.com"}, ["Erin Engineer"]),
    ({"userIds": [BOB, DAVE]}, ["Bob Builder", "Dave Suspended"]),
    ({"loginProvider": "LOGIN_PROVIDER_KIND_GITHUB"}, ["Bob Builder", "Dave Suspended"]),
    ({"search": "nobody"}, []),
])
def test_list_members_filters(api: Api, filter_: dict[str, Any], expected: list[str]) -> None:
    assert names(api.ok("ListMembers", {"organizationId": ORG, "filter": filter_})) == expected


def test_list_members_order_and_count(api: Api) -> None:
    body = {"organizationId": ORG, "sort": {"field": "SORT_FIELD_DATE_JOINED", "order": "SORT_ORDER_DESC"},
            "count": {"include": True}, "filter": {"statuses": ["USER_STATUS_ACTIVE"]}}
    out = api.ok("ListMembers", body, key=DEFAULT_MEMBER_KEY)
    assert names(out) == ["Erin Engineer", "Carol Member", "Bob Builder", "Alice Admin"]
    assert out["count"] == {"value": 4, "relation": "COUNT_RESPONSE_RELATION_EQ"}
    body["sort"] = {"field": "SORT_FIELD_NAME"}
    assert names(api.ok("ListMembers", body, key=DEFAULT_MEMBER_KEY))[0] == "Alice Admin"  # no caller-first


def page_through(api: Api, method: str, body: dict[str, Any], field: str, page_size: int) -> list[list[Any]]:
    pages: list[list[Any]] = []
    token = ""
    while True:
        pagination = {"pageSize": page_size, **({"token": token} if token else {})}
        out = api.ok(method, {**body, "pagination": pagination})
        pages.append(out.get(field, []))
        token = out["pagination"].get("nextToken", "")
        if not token:
            return pages


def test_list_members_pages(api: Api, emu: Emulator) -> None:
    added = [emu.add_member(f"user{n:02}@example.com", f"User {n:02}") for n in range(9)]
    pages = page_through(api, "ListMembers", {"organizationId": ORG}, "members", 5)
    assert [len(p) for p in pages] == [5, 5, 4]
    ids = [m["userId"] for page in pages for m in page]
    assert len(set(ids)) == 14 and set(added) <= set(ids)
    default = api.ok("ListMembers", {"organizationId": ORG})
    assert len(default["members"]) == 14 and default["pagination"] == {}


def test_default_and_maximum_page_size(api: Api, emu: Emulator) -> None:
    for n in range(101):
        emu.add_member(f"bulk{n:03}@example.com", f"Bulk {n:03}")
    first = api.ok("ListMembers", {"organizationId": ORG})
    assert len(first["members"]) == 25 and first["pagination"]["nextToken"]
    assert [len(p) for p in page_through(api, "ListMembers", {"organizationId": ORG}, "members", 100)] == [100, 6]


@pytest.mark.parametrize("method, field, body", [
    ("ListDomainVerifications", "domainVerifications", {"organizationId": ORG}),
    ("ListSSOConfigurations", "ssoConfigurations", {"organizationId": ORG}),
    ("ListSCIMConfigurations", "scimConfigurations", {}),
])
def test_other_lists_page(api: Api, method: str, field: str, body: dict[str, Any]) -> None:
    for n in range(6):
        make_verification(api, f"team{n}.acme.com")
        sso = make_sso(api)
        api.ok("CreateSCIMConfiguration", {"organizationId": ORG, "ssoConfigurationId": sso["id"]})
    pages = page_through(api, method, body, field, 2)
    assert len(pages) >= 3 and all(len(p) == 2 for p in pages[:-1])
    items = [item["id"] for page in pages for item in page]
    assert len(items) == len(set(items)) == (6 if method == "ListDomainVerifications" else 7)


@pytest.mark.parametrize("token", ["garbage", "eyJvZmZzZXQiOiAtMX0=", "bnVsbA=="])
def test_a_bad_page_token_is_invalid(api: Api, token: str) -> None:
    assert "token" in api.fails("ListMembers", {"organizationId": ORG, "pagination": {"token": token}},
                                "invalid_argument")


# === faults ===================================================================================


def test_unavailable_n_times_then_success(api: Api, emu: Emulator) -> None:
    emu.inject_fault("GetOrganization", code="unavailable", times=2)
    body = {"organizationId": ORG}
    assert api.fails("GetOrganization", body, "unavailable") == "injected fault: unavailable"
    api.fails("GetOrganization", body, "unavailable")
    api.ok("GetOrganization", body)
    api.ok("GetAnnouncementBanner", body)  # other methods were never affected
    assert [(r["method"], r["code"]) for r in emu.requests] == [
        ("GetOrganization", "unavailable"), ("GetOrganization", "unavailable"), ("GetOrganization", None),
        ("GetAnnouncementBanner", None)]
    assert emu.faults == []


def test_a_faulted_mutation_changes_nothing(api: Api, emu: Emulator) -> None:
    emu.inject_fault("UpdateAnnouncementBanner", code="internal")
    api.fails("UpdateAnnouncementBanner", {"organizationId": ORG, "enabled": True}, "internal")
    assert emu.state.banner.enabled is False


def test_resource_exhausted_with_retry_after(api: Api, emu: Emulator) -> None:
    emu.inject_fault("ListMembers", code="resource_exhausted", retry_after=2)
    emu.inject_fault("ListMembers", code="resource_exhausted", retry_after=0.25)
    emu.inject_fault("ListMembers", code="resource_exhausted")
    responses = [api.call("ListMembers", {"organizationId": ORG}) for _ in range(3)]
    assert [r.status_code for r in responses] == [429, 429, 429]
    assert [r.headers.get("retry-after") for r in responses] == ["2", "0.25", None]
    assert responses[0].json() == {"code": "resource_exhausted", "message": "injected fault: resource_exhausted"}


@pytest.mark.parametrize("code", sorted(HTTP_STATUS))
def test_every_connect_code_can_be_injected(api: Api, emu: Emulator, code: str) -> None:
    emu.inject_fault("SetRole", code=code)
    api.fails("SetRole", {"organizationId": ORG, "userId": CAROL, "role": "ORGANIZATION_ROLE_ADMIN"}, code)


def test_a_delay_answers_late(api: Api, emu: Emulator) -> None:
    emu.inject_fault("GetOrganization", code=None, delay=0.3)
    started = time.monotonic()
    api.ok("GetOrganization", {"organizationId": ORG})
    assert time.monotonic() - started >= 0.3
    emu.inject_fault("GetOrganization", code="unavailable", delay=0.2)
    started = time.monotonic()
    api.fails("GetOrganization", {"organizationId": ORG}, "unavailable")
    assert time.monotonic() - started >= 0.2
    started = time.monotonic()
    api.ok("GetOrganization", {"organizationId": ORG})
    assert time.monotonic() - started < 0.2


def test_a_delay_beyond_the_clients_timeout(emu: Emulator) -> None:
    emu.inject_fault("UpdateAnnouncementBanner", code=None, delay=0.5)
    with httpx.Client(base_url=emu.base_url, timeout=httpx.Timeout(5.0, read=0.1)) as http, \
            pytest.raises(httpx.ReadTimeout):
        Api(emu, http).call("UpdateAnnouncementBanner", {"organizationId": ORG, "message": "late"})
    wait_for(lambda: emu.state.banner.message == "late")  # the server went on and applied it
    wait_for(lambda: len(emu.calls("UpdateAnnouncementBanner")) == 1)


def test_a_delayed_call_does_not_outlive_a_reset(emu: Emulator) -> None:
    emu.inject_fault("UpdateAnnouncementBanner", code=None, delay=0.3)
    outcome: list[BaseException] = []

    def call() -> None:
        with httpx.Client(base_url=emu.base_url, timeout=10) as http:
            try:
                Api(emu, http).call("UpdateAnnouncementBanner", {"organizationId": ORG, "message": "stale"})
            except httpx.HTTPError as exc:
                outcome.append(exc)

    thread = threading.Thread(target=call)
    thread.start()
    wait_for(lambda: emu.faults == [])  # the call is in its delay
    emu.reset()
    thread.join(timeout=10)
    assert isinstance(outcome[0], httpx.RemoteProtocolError)  # abandoned: no answer
    assert emu.state.banner.message == "" and emu.requests == []


def test_drop_closes_the_connection(api: Api, emu: Emulator) -> None:
    emu.inject_fault("SetRole", drop=True)
    body = {"organizationId": ORG, "userId": CAROL, "role": "ORGANIZATION_ROLE_ADMIN"}
    with pytest.raises(httpx.RemoteProtocolError):
        api.call("SetRole", body)
    assert emu.state.members[CAROL].role == "ORGANIZATION_ROLE_MEMBER"  # dropped before applying
    api.ok("SetRole", body)
    assert [(r["status"], r["code"]) for r in emu.requests] == [(None, None), (200, None)]


def test_a_fault_for_any_method(api: Api, emu: Emulator) -> None:
    emu.inject_fault("*", code="unavailable", times=2)
    api.fails("GetOrganization", {"organizationId": ORG}, "unavailable")
    api.fails("ListMembers", {"organizationId": ORG}, "unavailable")
    api.ok("GetOrganization", {"organizationId": ORG})


@pytest.mark.parametrize("kwargs", [
    {"method": "GetOrganisation"}, {"method": "GetOrganization", "code": "teapot"},
    {"method": "GetOrganization", "times": 0}, {"method": "GetOrganization", "delay": -1},
])
def test_bad_faults_are_refused(emu: Emulator, kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        emu.inject_fault(**kwargs)


# === request log, control, reset ==============================================================


def test_the_request_log(api: Api, emu: Emulator) -> None:
    started = time.time()
    api.ok("GetOrganization", {"organizationId": ORG}, key=DEFAULT_MEMBER_KEY)
    api.call("SetRole", content=b"{oops")
    api.fails("GetOrganization", {"organizationId": ORG}, "unauthenticated", key="nope")
    api.ok("UpdateAnnouncementBanner", {"organizationId": ORG, "enabled": True})
    api.http.get(f"/api{RPC}/GetOrganization", headers=AUTH,
                 params=get_params("proto", encode("proto", "GetOrganization", {"organizationId": ORG})))
    log = emu.requests
    post = {"verb": "POST", "path": f"{RPC}/", "codec": "json", "compression": None}
    assert [{k: v for k, v in entry.items() if k != "time"} for entry in log] == [
        {"method": "GetOrganization", "body": {"organizationId": ORG}, "role": "member", "status": 200, "code": None,
         **post, "path": f"{RPC}/GetOrganization"},
        {"method": "SetRole", "body": "{oops", "role": "admin", "status": 400, "code": "invalid_argument",
         **post, "path": f"{RPC}/SetRole"},
        {"method": "GetOrganization", "body": {"organizationId": ORG}, "role": None, "status": 401,
         "code": "unauthenticated", **post, "path": f"{RPC}/GetOrganization"},
        {"method": "UpdateAnnouncementBanner", "body": {"organizationId": ORG, "enabled": True}, "role": "admin",
         "status": 200, "code": None, **post, "path": f"{RPC}/UpdateAnnouncementBanner"},
        {"method": "GetOrganization", "body": {"organizationId": ORG}, "role": "admin", "status": 200, "code": None,
         "verb": "GET", "path": f"/api{RPC}/GetOrganization", "codec": "proto", "compression": "gzip"},
    ]
    times = [entry["time"] for entry in log]
    assert times == sorted(times) and started <= times[0] <= time.time()
    assert emu.calls("GetOrganization") == [{"organizationId": ORG}] * 3
    assert emu.calls("ListMembers") == []
    emu.requests.clear()  # a copy: the log itself is untouched
    assert len(emu.requests) == 5


def test_reset_restores_the_seed(api: Api, emu: Emulator) -> None:
    state = emu.state
    api.ok("UpdateOrganization", {"organizationId": ORG, "name": "Changed"})
    api.ok("LeaveOrganization", {"userId": DAVE})
    make_verification(api)
    emu.publish_dns("acme.com", "token")
    emu.inject_fault("GetOrganization", times=5)
    emu.reset()
    assert emu.state is state  # the same object, back to its seed
    assert emu.requests == [] and emu.faults == []
    assert state.organization is not None and state.organization.name == "Acme Corp"
    assert DAVE in state.members and state.domain_verifications == {} and state.dns_records == {}
    assert state.invite_id == SEED_INVITE_ID and state.custom_domain is None
    api.ok("GetOrganization", {"organizationId": ORG})


def test_add_member(api: Api, emu: Emulator) -> None:
    user_id = emu.add_member("frank@example.com", "Frank Admin", role="ORGANIZATION_ROLE_ADMIN",
                             status="USER_STATUS_SUSPENDED")
    out = api.ok("ListMembers", {"organizationId": ORG, "filter": {"userIds": [user_id]}})["members"]
    assert [(m["fullName"], m["role"], m["status"]) for m in out] == [
        ("Frank Admin", "ORGANIZATION_ROLE_ADMIN", "USER_STATUS_SUSPENDED")]
    with pytest.raises(ValueError, match="already"):
        emu.add_member("FRANK@example.com", "Frank Again")
    with pytest.raises(ValueError):
        emu.add_member("gina@example.com", "Gina", role="ORGANIZATION_ROLE_OWNER")


def test_control_endpoints_over_http(api: Api, emu: Emulator) -> None:
    made = make_verification(api)
    assert api.control("POST", "dns", {"domain": "acme.com", "token": made["verificationToken"]}).json() == {}
    api.ok("VerifyDomain", {"domainVerificationId": made["id"]})

    response = api.control("POST", "fault", {"method": "ListMembers", "code": "resource_exhausted", "times": 1,
                                             "delay": 0, "retryAfter": 3, "drop": False})
    assert response.status_code == 200
    response = api.call("ListMembers", {"organizationId": ORG})
    assert (response.status_code, response.headers["retry-after"]) == (429, "3")
    api.control("POST", "fault", {"method": "GetOrganization", "drop": True})
    with pytest.raises(httpx.RemoteProtocolError):
        api.call("GetOrganization", {"organizationId": ORG})

    user_id = api.control("POST", "members", {"email": "hank@example.com", "fullName": "Hank Hill",
                                              "role": "ORGANIZATION_ROLE_ADMIN"}).json()["userId"]
    assert emu.state.members[user_id].role == "ORGANIZATION_ROLE_ADMIN"

    log = api.control("GET", "requests").json()["requests"]
    assert [entry["method"] for entry in log] == [
        "CreateDomainVerification", "VerifyDomain", "ListMembers", "GetOrganization"]
    assert log[2]["code"] == "resource_exhausted" and isinstance(log[2]["time"], float)

    assert api.control("POST", "reset").json() == {}
    assert emu.requests == [] and user_id not in emu.state.members


@pytest.mark.parametrize("verb, name, body, status", [
    ("POST", "nothing", {}, 404),
    ("GET", "reset", None, 405),
    ("POST", "dns", {"domain": "acme.com"}, 400),
    ("POST", "fault", {"method": "Nope"}, 400),
    ("POST", "fault", {"method": "GetOrganization", "times": "many"}, 400),
    ("POST", "members", {"email": "x@example.com", "fullName": "X", "role": "KING"}, 400),
    ("POST", "members", ["not", "an", "object"], 400),
])
def test_bad_control_requests(api: Api, verb: str, name: str, body: Any, status: int) -> None:
    response = api.control(verb, name, body)
    assert response.status_code == status and response.json()["code"]


def test_concurrent_calls(emu: Emulator) -> None:
    failures: list[BaseException] = []

    def work(n: int) -> None:
        try:
            with httpx.Client(base_url=emu.base_url, timeout=10) as http:
                api = Api(emu, http)
                for i in range(5):
                    api.ok("UpdateAnnouncementBanner", {"organizationId": ORG, "message": f"{n}-{i}"})
                    api.ok("ListMembers", {"organizationId": ORG})
        except BaseException as exc:  # surfaced below
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not failures
    assert len(emu.requests) == 80 and {r["status"] for r in emu.requests} == {200}


# === lifecycle and command line ===============================================================


def test_start_and_stop() -> None:
    emu = Emulator()
    with pytest.raises(RuntimeError):
        _ = emu.base_url
    emu.start()
    try:
        assert emu.base_url == f"http://127.0.0.1:{emu.port}" and emu.port > 0
        with pytest.raises(RuntimeError):
            emu.start()
        with httpx.Client(base_url=emu.base_url) as http:  # a keep-alive connection, open at stop()
            Api(emu, http).ok("GetOrganization", {"organizationId": ORG})
            port = emu.port
            emu.stop()
            with pytest.raises(httpx.TransportError):
                Api(emu, http).call("GetOrganization", {"organizationId": ORG})
        with pytest.raises(httpx.ConnectError):
            httpx.post(f"http://127.0.0.1:{port}/_emulator/reset")
    finally:
        emu.stop()
    emu.stop()  # idempotent


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    emulator_server.add_arguments(parser)
    return parser


def test_cli_defaults() -> None:
    args = _parser().parse_args([])
    assert (args.port, args.host, args.organization_id, args.admin_key, args.member_key) == (
        8090, "127.0.0.1", DEFAULT_ORG_ID, "ona-emulator-admin-key", "ona-emulator-member-key")
    assert (args.port, args.admin_key, args.member_key) == (DEFAULT_PORT, DEFAULT_ADMIN_KEY, DEFAULT_MEMBER_KEY)
    assert args.strict is False and _parser().parse_args(["--strict"]).strict is True


def test_cli_reports_a_busy_port(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert emulator_server.main(_parser().parse_args(["--port", str(port)])) == 1
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err
    assert emulator_server.main(_parser().parse_args(["--organization-id", "acme"])) == 2


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Cli:
    """``python -m bot.cli emulator ...`` in a subprocess, its stdout read line by line."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "emulator", *args], cwd=ROOT,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def banner(self, timeout: float = 20) -> dict[str, str]:
        """The "label: value" lines printed before the emulator waits for Ctrl-C."""
        printed: dict[str, str] = {}
        deadline = time.monotonic() + timeout
        while "unknown fields" not in printed:
            label, sep, value = self.lines.get(timeout=max(0.01, deadline - time.monotonic())).partition(":")
            if sep and value.strip():
                printed[label.strip()] = value.strip()
        return printed

    def stop(self, sig: int) -> tuple[int, str]:
        """Send ``sig``; the exit code and stderr."""
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=20)
        assert self.proc.stderr is not None
        return code, self.proc.stderr.read()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=20)
        self.reader.join(timeout=20)  # EOF once the process is gone
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream:
                stream.close()


@pytest.fixture
def cli() -> Iterator[Callable[..., Cli]]:
    started: list[Cli] = []

    def start(*args: str) -> Cli:
        started.append(Cli(*args))
        return started[-1]

    yield start
    for process in started:
        process.close()


def test_ona_bot_emulator_command(cli: Callable[..., Cli]) -> None:
    port = _free_port()
    org = "22222222-3333-4444-8555-666666666666"
    process = cli("--port", str(port), "--organization-id", org, "--member-key", "reader")
    printed = process.banner()
    assert printed == {"base URL": f"http://127.0.0.1:{port}/api", "organization ID": org,
                       "admin key": DEFAULT_ADMIN_KEY, "member key": "reader",
                       "unknown fields": "ignored, as Ona does (--strict rejects them)"}
    for base_url in (printed["base URL"], f"http://127.0.0.1:{port}"):
        with httpx.Client(base_url=base_url) as http:
            response = http.post("/gitpod.v1.OrganizationService/GetOrganization",
                                 headers={"Authorization": "Bearer reader"},
                                 json={"organizationId": org, "unknownField": 1})
            assert response.status_code == 200 and response.json()["organization"]["id"] == org
    # Ona's official SDK, as shipped, with the printed base URL (binary protobuf)
    sdk = ona_sdk.create_client(api_key="reader", base_url=printed["base URL"])
    answer = sdk.services.organization.get_organization(organization_pb2.GetOrganizationRequest(organization_id=org))
    assert answer.organization.id == org
    code, stderr = process.stop(signal.SIGINT)  # Ctrl-C
    assert code == 0 and "Traceback" not in stderr


def test_the_command_stops_cleanly_on_sigterm(cli: Callable[..., Cli]) -> None:
    process = cli("--port", "0")
    assert process.banner()["base URL"].startswith("http://127.0.0.1:")
    assert process.stop(signal.SIGTERM) == (0, "")


def test_the_command_with_strict(cli: Callable[..., Cli]) -> None:
    process = cli("--port", "0", "--strict")
    printed = process.banner()
    assert printed["unknown fields"] == "rejected (--strict)"
    with httpx.Client(base_url=printed["base URL"]) as http:
        response = http.post("/gitpod.v1.OrganizationService/GetOrganization", headers=AUTH,
                             json={"organizationId": DEFAULT_ORG_ID, "unknownField": 1})
    assert 'no field named "unknownField"' in connect_error(response, "invalid_argument")
    assert process.stop(signal.SIGTERM) == (0, "")
