"""Every OrganizationService method's happy path, written once and run by several clients.

Each scenario drives a ``Caller``: raw JSON over httpx (tests/test_emulator.py), Ona's official SDK
in both codecs with GET and gzip, and the bot's own client (tests/test_sdk_against_emulator.py).
A caller's ``ok`` returns the answer as proto3 JSON; ``fails`` asserts a Connect code and returns the
message.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from bot.ona.emulator import DEFAULT_ADMIN_KEY, DEFAULT_MEMBER_KEY, DEFAULT_ORG_ID, Emulator
from bot.ona.emulator.state import (
    SEED_INVITE_ID,
    SEED_SCIM_ID,
    SEED_SCIM_TOKEN,
    SEED_SSO_ID,
    member_id,
    token_digest,
)

ORG = DEFAULT_ORG_ID
OTHER_UUID = "0b6f3a1e-2c4d-4e5f-8a9b-0c1d2e3f4a5b"
ALICE, BOB, CAROL, DAVE, ERIN = (
    member_id(ORG, f"{name}@example.com") for name in ("alice", "bob", "carol", "dave", "erin")
)


class Caller(Protocol):
    emu: Emulator

    def ok(self, method: str, body: dict[str, Any], key: str = DEFAULT_ADMIN_KEY) -> dict[str, Any]: ...

    def fails(self, method: str, body: Any, code: str, key: str | None = DEFAULT_ADMIN_KEY) -> str: ...


HAPPY: dict[str, Callable[[Caller], None]] = {}


def happy(method: str) -> Callable[[Callable[[Caller], None]], Callable[[Caller], None]]:
    def register(fn: Callable[[Caller], None]) -> Callable[[Caller], None]:
        HAPPY[method] = fn
        return fn

    return register

@happy("CreateOrganization")
def _(api: Caller) -> None:
    out = api.ok("CreateOrganization", {"name": "Acme Labs", "joinOrganization": True,
                                        "inviteAccountsWithMatchingDomain": True})
    assert out["organization"]["name"] == "Acme Labs" and out["organization"]["id"] != ORG
    assert out["organization"]["inviteDomains"] == {"domains": ["example.com"]}
    assert out["member"]["userId"] == ALICE and out["member"]["role"] == "ORGANIZATION_ROLE_ADMIN"
    assert out["organization"]["id"] in api.emu.state.created_organizations


@happy("DeleteOrganization")
def _(api: Caller) -> None:
    assert api.ok("DeleteOrganization", {"organizationId": ORG}) == {}
    assert api.emu.state.organization is None
    api.fails("GetOrganization", {"organizationId": ORG}, "not_found")
    api.fails("GetSSOConfiguration", {"ssoConfigurationId": SEED_SSO_ID}, "not_found")


@happy("JoinOrganization")
def _(api: Caller) -> None:
    assert api.ok("JoinOrganization", {"inviteId": SEED_INVITE_ID})["member"]["userId"] == ALICE  # already in
    api.ok("LeaveOrganization", {"userId": CAROL}, key=DEFAULT_MEMBER_KEY)  # members may leave themselves
    member = api.ok("JoinOrganization", {"inviteId": SEED_INVITE_ID}, key=DEFAULT_MEMBER_KEY)["member"]
    assert (member["userId"], member["role"], member["status"]) == (
        CAROL, "ORGANIZATION_ROLE_MEMBER", "USER_STATUS_ACTIVE")
    assert CAROL in api.emu.state.members


@happy("LeaveOrganization")
def _(api: Caller) -> None:
    assert api.ok("LeaveOrganization", {"userId": DAVE}) == {}
    assert DAVE not in api.emu.state.members
    assert len(api.ok("ListMembers", {"organizationId": ORG})["members"]) == 4


@happy("ListMembers")
def _(api: Caller) -> None:
    out = api.ok("ListMembers", {"organizationId": ORG})
    assert [m["fullName"] for m in out["members"]] == [
        "Alice Admin", "Bob Builder", "Carol Member", "Dave Suspended", "Erin Engineer"]
    assert out["pagination"] == {}  # present, with no next token
    dave = next(m for m in out["members"] if m["userId"] == DAVE)
    assert dave == {"userId": DAVE, "role": "ORGANIZATION_ROLE_MEMBER", "memberSince": "2024-01-08T16:45:00Z",
                    "avatarUrl": "https://avatars.example.com/dave.png", "fullName": "Dave Suspended",
                    "email": "dave@example.com", "status": "USER_STATUS_SUSPENDED", "loginProvider": "github"}


@happy("GetOrganization")
def _(api: Caller) -> None:
    assert api.ok("GetOrganization", {"organizationId": ORG}) == {"organization": {
        "id": ORG, "name": "Acme Corp", "createdAt": "2023-03-14T09:26:53Z", "updatedAt": "2024-11-02T10:12:07Z",
        "tier": "ORGANIZATION_TIER_ENTERPRISE"}}


@happy("SetRole")
def _(api: Caller) -> None:
    assert api.ok("SetRole", {"organizationId": ORG, "userId": CAROL, "role": "ORGANIZATION_ROLE_ADMIN"}) == {}
    assert api.emu.state.members[CAROL].role == "ORGANIZATION_ROLE_ADMIN"


@happy("UpdateOrganization")
def _(api: Caller) -> None:
    before = datetime.now(UTC)
    org = api.ok("UpdateOrganization", {"organizationId": ORG, "name": "Acme Inc",
                                        "inviteDomains": {"domains": ["acme.com", "example.com"]}})["organization"]
    assert org["name"] == "Acme Inc" and org["inviteDomains"] == {"domains": ["acme.com", "example.com"]}
    assert datetime.fromisoformat(org["updatedAt"]) >= before.replace(microsecond=0)
    assert org["createdAt"] == "2023-03-14T09:26:53Z"


@happy("GetAnnouncementBanner")
def _(api: Caller) -> None:
    assert api.ok("GetAnnouncementBanner", {"organizationId": ORG}) == {"banner": {"organizationId": ORG}}


@happy("UpdateAnnouncementBanner")
def _(api: Caller) -> None:
    out = api.ok("UpdateAnnouncementBanner", {"organizationId": ORG, "message": "Maintenance tonight",
                                              "enabled": True})
    assert out == {"banner": {"organizationId": ORG, "message": "Maintenance tonight", "enabled": True}}
    out = api.ok("UpdateAnnouncementBanner", {"organizationId": ORG, "enabled": False})  # message kept
    assert out == {"banner": {"organizationId": ORG, "message": "Maintenance tonight"}}


def make_custom_domain(api: Caller) -> dict[str, Any]:
    return api.ok("CreateCustomDomain", {"organizationId": ORG, "domainName": "ide.acme.com",
                                         "provider": "CUSTOM_DOMAIN_PROVIDER_AWS",
                                         "awsAccountId": "123456789012"})["customDomain"]


@happy("CreateCustomDomain")
def _(api: Caller) -> None:
    domain = make_custom_domain(api)
    assert (domain["domainName"], domain["provider"], domain["awsAccountId"], domain["organizationId"]) == (
        "ide.acme.com", "CUSTOM_DOMAIN_PROVIDER_AWS", "123456789012", ORG)
    assert domain["createdAt"] == domain["updatedAt"]


@happy("GetCustomDomain")
def _(api: Caller) -> None:
    made = make_custom_domain(api)
    assert api.ok("GetCustomDomain", {"organizationId": ORG}) == {"customDomain": made}


@happy("UpdateCustomDomain")
def _(api: Caller) -> None:
    made = make_custom_domain(api)
    domain = api.ok("UpdateCustomDomain", {"organizationId": ORG, "domainName": "dev.acme.com",
                                           "provider": "CUSTOM_DOMAIN_PROVIDER_GCP",
                                           "cloudAccountId": "acme-prod"})["customDomain"]
    assert (domain["domainName"], domain["provider"], domain["cloudAccountId"]) == (
        "dev.acme.com", "CUSTOM_DOMAIN_PROVIDER_GCP", "acme-prod")
    assert domain["awsAccountId"] == "123456789012"  # not sent: kept
    assert domain["id"] == made["id"] and domain["updatedAt"] >= made["updatedAt"]


@happy("DeleteCustomDomain")
def _(api: Caller) -> None:
    make_custom_domain(api)
    assert api.ok("DeleteCustomDomain", {"organizationId": ORG}) == {}
    assert api.emu.state.custom_domain is None


def make_verification(api: Caller, domain: str = "acme.com") -> dict[str, Any]:
    return api.ok("CreateDomainVerification", {"organizationId": ORG, "domain": domain})["domainVerification"]


@happy("CreateDomainVerification")
def _(api: Caller) -> None:
    made = make_verification(api)
    assert (made["domain"], made["state"], made["organizationId"]) == (
        "acme.com", "DOMAIN_VERIFICATION_STATE_PENDING", ORG)
    assert made["verificationToken"] and made["createdAt"] and "verifiedAt" not in made


@happy("GetDomainVerification")
def _(api: Caller) -> None:
    made = make_verification(api)
    assert api.ok("GetDomainVerification", {"domainVerificationId": made["id"]}) == {"domainVerification": made}


@happy("ListDomainVerifications")
def _(api: Caller) -> None:
    assert api.ok("ListDomainVerifications", {"organizationId": ORG}) == {"pagination": {}}
    made = make_verification(api)
    assert api.ok("ListDomainVerifications", {"organizationId": ORG})["domainVerifications"] == [made]


@happy("VerifyDomain")
def _(api: Caller) -> None:
    made = make_verification(api)
    api.emu.publish_dns("acme.com", made["verificationToken"])
    verified = api.ok("VerifyDomain", {"domainVerificationId": made["id"]})["domainVerification"]
    assert verified["state"] == "DOMAIN_VERIFICATION_STATE_VERIFIED" and verified["verifiedAt"]


@happy("DeleteDomainVerification")
def _(api: Caller) -> None:
    made = make_verification(api)
    assert api.ok("DeleteDomainVerification", {"domainVerificationId": made["id"]}) == {}
    assert made["id"] not in api.emu.state.domain_verifications


@happy("CreateOrganizationInvite")
def _(api: Caller) -> None:
    invite = api.ok("CreateOrganizationInvite", {"organizationId": ORG})["invite"]
    assert invite["inviteId"] not in ("", SEED_INVITE_ID)
    assert api.ok("GetOrganizationInvite", {"organizationId": ORG}) == {"invite": invite}


@happy("GetOrganizationInvite")
def _(api: Caller) -> None:
    assert api.ok("GetOrganizationInvite", {"organizationId": ORG}) == {"invite": {"inviteId": SEED_INVITE_ID}}


@happy("GetOrganizationInviteSummary")
def _(api: Caller) -> None:
    assert api.ok("GetOrganizationInviteSummary", {"inviteId": SEED_INVITE_ID}) == {
        "organizationId": ORG, "organizationName": "Acme Corp", "organizationMemberCount": 5}


@happy("GetOrganizationPolicies")
def _(api: Caller) -> None:
    policies = api.ok("GetOrganizationPolicies", {"organizationId": ORG})["policies"]
    assert {k: policies[k] for k in (
        "organizationId", "maximumEnvironmentTimeout", "allowedEditorIds", "defaultEditorId",
        "maximumRunningEnvironmentsPerUser", "maximumEnvironmentsPerUser", "membersCreateProjects",
        "deleteArchivedEnvironmentsAfter", "maximumEnvironmentLifetime")} == {
        "organizationId": ORG, "maximumEnvironmentTimeout": "28800s",
        "allowedEditorIds": ["vscode", "jetbrains", "cursor"], "defaultEditorId": "vscode",
        "maximumRunningEnvironmentsPerUser": "5", "maximumEnvironmentsPerUser": "20", "membersCreateProjects": True,
        "deleteArchivedEnvironmentsAfter": "604800s", "maximumEnvironmentLifetime": "2592000s"}
    assert policies["agentPolicy"]["maxSubagentsPerEnvironment"] == 5
    assert policies["agentPolicy"]["commandDenyList"]


@happy("UpdateOrganizationPolicies")
def _(api: Caller) -> None:
    assert api.ok("UpdateOrganizationPolicies", {"organizationId": ORG, "maximumEnvironmentTimeout": "3600s",
                                                 "maximumEnvironmentsPerUser": "30"}) == {}
    policies = api.ok("GetOrganizationPolicies", {"organizationId": ORG})["policies"]
    assert (policies["maximumEnvironmentTimeout"], policies["maximumEnvironmentsPerUser"]) == ("3600s", "30")
    assert policies["maximumRunningEnvironmentsPerUser"] == "5"  # not sent: kept


def make_sso(api: Caller, secret: str = "okta-client-secret") -> dict[str, Any]:
    return api.ok("CreateSSOConfiguration", {
        "organizationId": ORG, "clientId": "acme-okta", "clientSecret": secret,
        "issuerUrl": "https://acme.okta.com", "emailDomains": ["acme.com"], "displayName": "Okta",
        "additionalScopes": ["groups"]})["ssoConfiguration"]


@happy("CreateSSOConfiguration")
def _(api: Caller) -> None:
    sso = make_sso(api)
    assert sso == {"id": sso["id"], "organizationId": ORG, "clientId": "acme-okta",
                   "issuerUrl": "https://acme.okta.com", "state": "SSO_CONFIGURATION_STATE_INACTIVE",
                   "providerType": "PROVIDER_TYPE_CUSTOM", "emailDomains": ["acme.com"], "displayName": "Okta",
                   "additionalScopes": ["groups"]}
    assert api.emu.state.secrets[sso["id"]] == "okta-client-secret"


@happy("GetSSOConfiguration")
def _(api: Caller) -> None:
    sso = api.ok("GetSSOConfiguration", {"ssoConfigurationId": SEED_SSO_ID})["ssoConfiguration"]
    assert (sso["state"], sso["issuerUrl"], sso["clientId"]) == (
        "SSO_CONFIGURATION_STATE_ACTIVE", "https://accounts.google.com", "123456789012-acme.apps.googleusercontent.com")


@happy("ListSSOConfigurations")
def _(api: Caller) -> None:
    out = api.ok("ListSSOConfigurations", {"organizationId": ORG})
    assert [c["id"] for c in out["ssoConfigurations"]] == [SEED_SSO_ID] and out["pagination"] == {}


@happy("UpdateSSOConfiguration")
def _(api: Caller) -> None:
    assert api.ok("UpdateSSOConfiguration", {"ssoConfigurationId": SEED_SSO_ID, "displayName": "Google",
                                             "clientSecret": "rotated", "state": "SSO_CONFIGURATION_STATE_INACTIVE",
                                             "additionalScopes": {"scopes": ["groups"]}}) == {}
    sso = api.ok("GetSSOConfiguration", {"ssoConfigurationId": SEED_SSO_ID})["ssoConfiguration"]
    assert (sso["displayName"], sso["state"], sso["additionalScopes"]) == (
        "Google", "SSO_CONFIGURATION_STATE_INACTIVE", ["groups"])
    assert sso["issuerUrl"] == "https://accounts.google.com"  # not sent: kept
    assert api.emu.state.secrets[SEED_SSO_ID] == "rotated"


@happy("DeleteSSOConfiguration")
def _(api: Caller) -> None:
    sso = make_sso(api)
    assert api.ok("DeleteSSOConfiguration", {"ssoConfigurationId": sso["id"]}) == {}
    assert sso["id"] not in api.emu.state.sso_configurations and sso["id"] not in api.emu.state.secrets


@happy("CreateSCIMConfiguration")
def _(api: Caller) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    out = api.ok("CreateSCIMConfiguration", {"organizationId": ORG, "ssoConfigurationId": SEED_SSO_ID,
                                             "name": "Okta provisioning", "tokenExpiresIn": "2592000s"})
    scim = out["scimConfiguration"]
    assert (scim["name"], scim["enabled"], scim["ssoConfigurationId"]) == ("Okta provisioning", True, SEED_SSO_ID)
    expires = datetime.fromisoformat(out["tokenExpiresAt"])
    assert scim["tokenExpiresAt"] == out["tokenExpiresAt"]
    assert before + timedelta(days=30) <= expires <= datetime.now(UTC) + timedelta(days=30)
    assert api.emu.state.secrets[scim["id"]] == token_digest(out["token"])  # only the digest is kept
    assert out["token"] not in repr(api.emu.state)


@happy("GetSCIMConfiguration")
def _(api: Caller) -> None:
    scim = api.ok("GetSCIMConfiguration", {"scimConfigurationId": SEED_SCIM_ID})["scimConfiguration"]
    assert (scim["ssoConfigurationId"], scim["enabled"]) == (SEED_SSO_ID, True)


@happy("ListSCIMConfigurations")
def _(api: Caller) -> None:
    out = api.ok("ListSCIMConfigurations", {})
    assert [c["id"] for c in out["scimConfigurations"]] == [SEED_SCIM_ID]


@happy("RegenerateSCIMToken")
def _(api: Caller) -> None:
    assert api.emu.state.secrets[SEED_SCIM_ID] == token_digest(SEED_SCIM_TOKEN)
    first = api.ok("RegenerateSCIMToken", {"scimConfigurationId": SEED_SCIM_ID, "tokenExpiresIn": "7776000s"})
    second = api.ok("RegenerateSCIMToken", {"scimConfigurationId": SEED_SCIM_ID})  # same lifetime again
    assert first["token"] != second["token"]
    assert api.emu.state.secrets[SEED_SCIM_ID] == token_digest(second["token"])
    lifetime = datetime.fromisoformat(second["tokenExpiresAt"]) - datetime.now(UTC)
    assert timedelta(days=89) < lifetime <= timedelta(days=90)
    scim = api.ok("GetSCIMConfiguration", {"scimConfigurationId": SEED_SCIM_ID})["scimConfiguration"]
    assert scim["tokenExpiresAt"] == second["tokenExpiresAt"]


@happy("UpdateSCIMConfiguration")
def _(api: Caller) -> None:
    scim = api.ok("UpdateSCIMConfiguration", {"scimConfigurationId": SEED_SCIM_ID, "enabled": False})
    assert "enabled" not in scim["scimConfiguration"]  # false: omitted in proto3 JSON
    assert scim["scimConfiguration"]["name"] == "Google Workspace provisioning"
    assert scim["scimConfiguration"]["updatedAt"] > scim["scimConfiguration"]["createdAt"]


@happy("DeleteSCIMConfiguration")
def _(api: Caller) -> None:
    assert api.ok("DeleteSCIMConfiguration", {"scimConfigurationId": SEED_SCIM_ID}) == {}
    assert SEED_SCIM_ID not in api.emu.state.scim_configurations and SEED_SCIM_ID not in api.emu.state.secrets
