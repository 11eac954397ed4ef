"""Ona's official Python SDK (gitpod-sdk), unmodified, against the emulator over HTTP; and the bot's client.

Every emulated method's scenario (tests/emulator_scenarios.py: the same ones test_emulator.py runs
with raw JSON) runs through each client below, at the base URL as Ona spells it (``…/api``). The
emulator's request log shows what came over the wire, so every call is also checked to have
arrived as that client sends it: verb, path, codec, compression, and the request itself.

=================  ===========================================================================
``sdk``            ``ona_sdk.create_client(...).services.organization``, as shipped: binary, POST
``sdk-get``        the same, with ``use_get=True`` where the schema allows GET
``proto-gzip-get`` the SDK's generated client with connectrpc's defaults (binary, gzip), and GET
``json``           the generated client with the JSON codec, uncompressed
``json-gzip-get``  the generated client with the JSON codec, gzip, and GET
``bot``            the bot's own client (bot/ona/client.py): JSON over POST
=================  ===========================================================================
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import ona_sdk
import pytest
from connectrpc.code import Code
from connectrpc.compat import google_protobuf_json_codec
from connectrpc.errors import ConnectError
from gitpod.v1 import organization_pb2
from gitpod.v1.organization_connect import OrganizationServiceClientSync
from google.protobuf import json_format

from bot.ona.client import OnaClient
from bot.ona.emulator import DEFAULT_ADMIN_KEY, DEFAULT_MEMBER_KEY, Emulator
from bot.ona.emulator.connect import SCHEMA
from bot.ona.errors import OnaError
from bot.ona.models import METHODS
from tests.emulator_scenarios import CAROL, HAPPY, ORG, OTHER_UUID
from tests.harness import wait_until

RPC_PATH = "/api/gitpod.v1.OrganizationService/"
# Method name -> the generated client's method ("RegenerateSCIMToken" -> "regenerate_scim_token").
SNAKE = {name.replace("_", ""): name for name in dir(OrganizationServiceClientSync) if not name.startswith("_")}


@dataclass(frozen=True)
class Variant:
    name: str
    codec: str  # "proto" or "json"
    gzip: bool
    get: bool  # GET for the methods without side effects
    shipped: bool  # ona_sdk.create_client rather than the generated client


VARIANTS = [
    Variant("sdk", "proto", gzip=False, get=False, shipped=True),
    Variant("sdk-get", "proto", gzip=False, get=True, shipped=True),
    Variant("proto-gzip-get", "proto", gzip=True, get=True, shipped=False),
    Variant("json", "json", gzip=False, get=False, shipped=False),
    Variant("json-gzip-get", "json", gzip=True, get=True, shipped=False),
]


class SdkCaller:
    """A scenario ``Caller`` over the SDK: proto3 JSON in and out, protobuf messages on the wire."""

    def __init__(self, emu: Emulator, variant: Variant) -> None:
        self.emu = emu
        self.variant = variant
        self._clients: dict[str | None, OrganizationServiceClientSync] = {}

    def client(self, key: str | None) -> tuple[OrganizationServiceClientSync, dict[str, str]]:
        if key not in self._clients:
            if self.variant.shipped:
                self._clients[key] = ona_sdk.create_client(api_key=key, base_url=self.emu.api_url).services.organization
            else:
                # The generated client's defaults: binary protobuf, gzip request bodies.
                options: dict[str, Any] = {} if self.variant.gzip else {"send_compression": None}
                if self.variant.codec == "json":
                    options["codec"] = google_protobuf_json_codec()
                self._clients[key] = OrganizationServiceClientSync(self.emu.api_url, **options)
        # The shipped SDK sends its key itself; the generated client takes it as a header.
        headers = {"Authorization": f"Bearer {key}"} if key and not self.variant.shipped else {}
        return self._clients[key], headers

    def invoke(self, method: str, body: dict[str, Any], key: str | None) -> Any:
        request = json_format.ParseDict(body, SCHEMA[method].request())
        client, headers = self.client(key)
        use_get = self.variant.get and SCHEMA[method].no_side_effects
        kwargs: dict[str, Any] = {"use_get": True} if use_get else {}
        if headers:
            kwargs["headers"] = headers
        before = len(self.emu.requests)
        try:
            response = getattr(client, SNAKE[method.lower()])(request, **kwargs)
        except ConnectError:
            self._arrived(before, method, request, use_get)
            raise
        self._arrived(before, method, request, use_get)
        return response

    def _arrived(self, before: int, method: str, request: Any, use_get: bool) -> None:
        """The call reached the emulator once, as this client sends it, and decoded to what it meant."""
        (entry,) = self.emu.requests[before:]
        assert (entry["method"], entry["verb"], entry["path"], entry["codec"], entry["compression"]) == (
            method, "GET" if use_get else "POST", RPC_PATH + method, self.variant.codec,
            "gzip" if self.variant.gzip else None)
        assert entry["body"] == json_format.MessageToDict(request)

    def ok(self, method: str, body: dict[str, Any], key: str = DEFAULT_ADMIN_KEY) -> dict[str, Any]:
        response = self.invoke(method, body, key)
        assert isinstance(response, SCHEMA[method].response)
        return json_format.MessageToDict(response)

    def fails(self, method: str, body: Any, code: str, key: str | None = DEFAULT_ADMIN_KEY) -> str:
        with pytest.raises(ConnectError) as info:
            self.invoke(method, body, key)
        assert info.value.code == Code(code), info.value
        return info.value.message


class BotCaller:
    """A scenario ``Caller`` over the bot's own client, at the same ``…/api`` base URL."""

    variant = Variant("bot", "json", gzip=False, get=False, shipped=False)

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self._clients: dict[str, OnaClient] = {}

    def invoke(self, method: str, body: dict[str, Any], key: str | None) -> Any:
        key = key or "not-a-key"  # the bot's client cannot call without a key; a wrong one is as good
        if key not in self._clients:
            self._clients[key] = OnaClient(key, base_url=self.emu.api_url, max_retries=0)
        request = METHODS[method][0].model_validate(body)
        before = len(self.emu.requests)
        try:
            response = self._clients[key].call(method, request)
        except OnaError:
            self._arrived(before, method, request)
            raise
        self._arrived(before, method, request)
        return response

    def _arrived(self, before: int, method: str, request: Any) -> None:
        (entry,) = self.emu.requests[before:]
        assert (entry["verb"], entry["path"], entry["codec"], entry["compression"], entry["body"]) == (
            "POST", RPC_PATH + method, "json", None, request.to_wire())

    def ok(self, method: str, body: dict[str, Any], key: str = DEFAULT_ADMIN_KEY) -> dict[str, Any]:
        return self.invoke(method, body, key).to_proto_json()

    def fails(self, method: str, body: Any, code: str, key: str | None = DEFAULT_ADMIN_KEY) -> str:
        with pytest.raises(OnaError) as info:
            self.invoke(method, body, key)
        assert info.value.code == code, info.value
        return info.value.message

    def close(self) -> None:
        for client in self._clients.values():
            client.close()


@pytest.fixture(params=[*VARIANTS, BotCaller.variant], ids=lambda v: v.name)
def caller(request: pytest.FixtureRequest, emulator: Emulator) -> Iterator[SdkCaller | BotCaller]:
    variant: Variant = request.param
    if variant.name == "bot":
        bot = BotCaller(emulator)
        yield bot
        bot.close()
    else:
        yield SdkCaller(emulator, variant)


@pytest.fixture(params=VARIANTS, ids=lambda v: v.name)
def sdk(request: pytest.FixtureRequest, emulator: Emulator) -> SdkCaller:
    return SdkCaller(emulator, request.param)


def test_every_emulated_method_has_a_scenario() -> None:
    assert sorted(HAPPY) == sorted(METHODS) and len(METHODS) == 35


@pytest.mark.parametrize("method", sorted(HAPPY))
def test_every_method(caller: SdkCaller | BotCaller, method: str) -> None:
    HAPPY[method](caller)
    assert any(r["method"] == method and r["status"] == 200 for r in caller.emu.requests)


# (method, body, key, code, a fragment of the message); key None sends none (the bot sends a wrong one)
ERRORS = [
    ("GetSSOConfiguration", {"ssoConfigurationId": OTHER_UUID}, DEFAULT_ADMIN_KEY, "not_found", OTHER_UUID),
    ("DeleteCustomDomain", {"organizationId": ORG}, DEFAULT_ADMIN_KEY, "not_found", "no custom domain"),
    ("GetOrganization", {"organizationId": "acme"}, DEFAULT_ADMIN_KEY, "invalid_argument",
     "organization_id: value must be a valid UUID"),
    ("UpdateAnnouncementBanner", {"organizationId": ORG, "message": "x" * 1001}, DEFAULT_ADMIN_KEY,
     "invalid_argument", "message: value length must be at most 1000 characters"),
    ("SetRole", {"organizationId": ORG, "userId": CAROL, "role": "ORGANIZATION_ROLE_ADMIN"}, DEFAULT_MEMBER_KEY,
     "permission_denied", "admin role"),
    ("ListMembers", {"organizationId": ORG}, None, "unauthenticated", "API key"),
    ("UpdateOrganization", {"organizationId": ORG, "name": "Hijacked"}, "wrong-key", "unauthenticated", "API key"),
]


@pytest.mark.parametrize("method, body, key, code, fragment", ERRORS, ids=[f"{e[0]}-{e[3]}" for e in ERRORS])
def test_errors(caller: SdkCaller | BotCaller, method: str, body: dict[str, Any], key: str | None, code: str,
                fragment: str) -> None:
    before = repr(caller.emu.state)
    assert fragment in caller.fails(method, body, code, key=key)
    assert repr(caller.emu.state) == before
    assert caller.emu.requests[-1]["code"] == code


@pytest.mark.parametrize("method", sorted(set(SCHEMA) - set(METHODS)))
def test_the_methods_not_emulated_say_so(sdk: SdkCaller, method: str) -> None:
    message = sdk.fails(method, {"organizationId": ORG}, "unimplemented")
    assert f"{method} is in Ona's schema but not emulated" in message


def test_the_sdk_deadline_is_the_emulators(emulator: Emulator) -> None:
    """The SDK's timeout travels as Connect-Timeout-Ms: the emulator gives up then, applying nothing."""
    emulator.inject_fault("UpdateAnnouncementBanner", code=None, delay=10)
    client = ona_sdk.create_client(api_key=emulator.admin_key, base_url=emulator.api_url, timeout=0.3)
    request = organization_pb2.UpdateAnnouncementBannerRequest(organization_id=ORG, message="late", enabled=True)
    with pytest.raises(ConnectError) as info:
        client.services.organization.update_announcement_banner(request)
    assert info.value.code == Code.DEADLINE_EXCEEDED
    (entry,) = wait_until(lambda: emulator.requests, timeout=5, what="the emulator to give up")
    assert (entry["code"], entry["status"]) == ("deadline_exceeded", 504)
    assert emulator.state.banner.message == "" and not emulator.state.banner.enabled
