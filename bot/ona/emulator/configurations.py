"""Emulated OrganizationService handlers for what an organization configures: its custom domain,
domain verifications, SSO and SCIM configurations. The ID-keyed collections get their Get, Delete and
List handlers from one factory each."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.ona.emulator.rpc import HANDLERS, Call, ConnectError, apply_update, paginate, rpc
from bot.ona.emulator.state import DEFAULT_SCIM_TOKEN_LIFETIME, State, new_id, token_digest
from bot.ona.models import (
    METHODS,
    CreateCustomDomainRequest,
    CreateCustomDomainResponse,
    CreateDomainVerificationRequest,
    CreateDomainVerificationResponse,
    CreateSCIMConfigurationRequest,
    CreateSCIMConfigurationResponse,
    CreateSSOConfigurationRequest,
    CreateSSOConfigurationResponse,
    CustomDomain,
    DeleteCustomDomainRequest,
    DeleteCustomDomainResponse,
    DomainVerification,
    DomainVerificationState,
    GetCustomDomainRequest,
    GetCustomDomainResponse,
    ProviderType,
    RegenerateSCIMTokenRequest,
    RegenerateSCIMTokenResponse,
    SCIMConfiguration,
    SSOConfiguration,
    SSOConfigurationState,
    UpdateCustomDomainRequest,
    UpdateCustomDomainResponse,
    UpdateSCIMConfigurationRequest,
    UpdateSCIMConfigurationResponse,
    UpdateSSOConfigurationRequest,
    UpdateSSOConfigurationResponse,
    VerifyDomainRequest,
    VerifyDomainResponse,
)
from bot.ona.wire import WireModel

# --- custom domain (at most one per organization) ---------------------------------------------


def _custom_domain(state: State) -> CustomDomain:
    if state.custom_domain is None:
        raise ConnectError("not_found", "the organization has no custom domain")
    return state.custom_domain


@rpc("CreateCustomDomain")
def _create_custom_domain(call: Call, req: CreateCustomDomainRequest) -> CreateCustomDomainResponse:
    if call.state.custom_domain is not None:
        raise ConnectError("already_exists", f"the organization already has custom domain "
                                             f"{call.state.custom_domain.domain_name}")
    call.state.custom_domain = CustomDomain(
        id=new_id(),
        organization_id=call.state.organization_id,
        domain_name=req.domain_name,
        provider=req.provider,
        aws_account_id=req.aws_account_id or "",
        cloud_account_id=req.cloud_account_id or "",
        created_at=call.now,
        updated_at=call.now,
    )
    return CreateCustomDomainResponse(custom_domain=call.state.custom_domain)


@rpc("GetCustomDomain")
def _get_custom_domain(call: Call, req: GetCustomDomainRequest) -> GetCustomDomainResponse:
    return GetCustomDomainResponse(custom_domain=_custom_domain(call.state))


@rpc("UpdateCustomDomain")
def _update_custom_domain(call: Call, req: UpdateCustomDomainRequest) -> UpdateCustomDomainResponse:
    domain = _custom_domain(call.state)
    apply_update(domain, req, skip=frozenset({"organization_id"}))
    domain.updated_at = call.now
    return UpdateCustomDomainResponse(custom_domain=domain)


@rpc("DeleteCustomDomain")
def _delete_custom_domain(call: Call, req: DeleteCustomDomainRequest) -> DeleteCustomDomainResponse:
    _custom_domain(call.state)
    call.state.custom_domain = None
    return DeleteCustomDomainResponse()


# --- ID-keyed collections: generic Get, Delete and List ---------------------------------------


@dataclass(frozen=True)
class Collection:
    attr: str  # the State attribute: {id: model}
    id_field: str  # the request field naming one item
    label: str  # for error messages


DOMAIN_VERIFICATIONS = Collection("domain_verifications", "domain_verification_id", "domain verification")
SSO_CONFIGURATIONS = Collection("sso_configurations", "sso_configuration_id", "SSO configuration")
SCIM_CONFIGURATIONS = Collection("scim_configurations", "scim_configuration_id", "SCIM configuration")


def _lookup(state: State, collection: Collection, item_id: str) -> Any:
    item = getattr(state, collection.attr).get(item_id)
    if item is None:
        raise ConnectError("not_found", f"{collection.label} {item_id} not found")
    return item


def _register_get(method: str, collection: Collection) -> None:
    response_cls = METHODS[method][1]
    (field,) = response_cls.model_fields

    def handle(call: Call, req: Any) -> WireModel:
        return response_cls(**{field: _lookup(call.state, collection, getattr(req, collection.id_field))})

    HANDLERS[method] = handle


def _register_delete(method: str, collection: Collection, guard: Callable[[State, Any], None] | None = None
                     ) -> None:
    def handle(call: Call, req: Any) -> WireModel:
        item = _lookup(call.state, collection, getattr(req, collection.id_field))
        if guard:
            guard(call.state, item)
        del getattr(call.state, collection.attr)[item.id]
        call.state.secrets.pop(item.id, None)
        call.state.scim_token_lifetimes.pop(item.id, None)
        return METHODS[method][1]()

    HANDLERS[method] = handle


def _register_list(method: str, collection: Collection) -> None:
    response_cls = METHODS[method][1]
    field = next(name for name in response_cls.model_fields if name != "pagination")

    def handle(call: Call, req: Any) -> WireModel:
        page, pagination = paginate(list(getattr(call.state, collection.attr).values()), req.pagination)
        return response_cls(pagination=pagination, **{field: page})

    HANDLERS[method] = handle


def _sso_unused(state: State, sso: SSOConfiguration) -> None:
    if any(scim.sso_configuration_id == sso.id for scim in state.scim_configurations.values()):
        raise ConnectError("failed_precondition", f"SSO configuration {sso.id} is linked to a SCIM configuration")


for _collection, _methods, _guard in (
    (DOMAIN_VERIFICATIONS, ("GetDomainVerification", "DeleteDomainVerification", "ListDomainVerifications"), None),
    (SSO_CONFIGURATIONS, ("GetSSOConfiguration", "DeleteSSOConfiguration", "ListSSOConfigurations"), _sso_unused),
    (SCIM_CONFIGURATIONS, ("GetSCIMConfiguration", "DeleteSCIMConfiguration", "ListSCIMConfigurations"), None),
):
    _register_get(_methods[0], _collection)
    _register_delete(_methods[1], _collection, _guard)
    _register_list(_methods[2], _collection)


# --- domain verification ----------------------------------------------------------------------


@rpc("CreateDomainVerification")
def _create_domain_verification(call: Call, req: CreateDomainVerificationRequest
                                ) -> CreateDomainVerificationResponse:
    state = call.state
    if any(dv.domain.lower() == req.domain.lower() for dv in state.domain_verifications.values()):
        raise ConnectError("already_exists", f"domain {req.domain} already has a verification")
    verification = DomainVerification(
        id=new_id(),
        organization_id=state.organization_id,
        domain=req.domain,
        state=DomainVerificationState.PENDING,
        verification_token=f"ona-domain-verification={secrets.token_hex(16)}",
        created_at=call.now,
    )
    state.domain_verifications[verification.id] = verification
    return CreateDomainVerificationResponse(domain_verification=verification)


@rpc("VerifyDomain")
def _verify_domain(call: Call, req: VerifyDomainRequest) -> VerifyDomainResponse:
    verification: DomainVerification = _lookup(call.state, DOMAIN_VERIFICATIONS, req.domain_verification_id)
    if verification.state != DomainVerificationState.VERIFIED:
        published = call.state.dns_records.get(verification.domain.lower(), set())
        if verification.verification_token not in published:
            raise ConnectError(
                "failed_precondition",
                f"no DNS TXT record for {verification.domain} holds the verification token yet",
            )
        verification.state = DomainVerificationState.VERIFIED
        verification.verified_at = call.now
    return VerifyDomainResponse(domain_verification=verification)


# --- SSO --------------------------------------------------------------------------------------

_BUILTIN_ISSUERS = ("https://accounts.google.com", "https://login.microsoftonline.com")


@rpc("CreateSSOConfiguration")
def _create_sso(call: Call, req: CreateSSOConfigurationRequest) -> CreateSSOConfigurationResponse:
    sso = SSOConfiguration(
        id=new_id(),
        organization_id=call.state.organization_id,
        client_id=req.client_id,
        issuer_url=req.issuer_url,
        state=SSOConfigurationState.INACTIVE,  # an admin activates it after a test login
        email_domain=req.email_domain or "",
        provider_type=ProviderType.BUILTIN if req.issuer_url.startswith(_BUILTIN_ISSUERS) else ProviderType.CUSTOM,
        email_domains=req.email_domains,
        display_name=req.display_name,
        additional_scopes=req.additional_scopes,
        claims_expression=req.claims_expression or "",
    )
    call.state.sso_configurations[sso.id] = sso
    call.state.secrets[sso.id] = req.client_secret  # kept, never returned
    return CreateSSOConfigurationResponse(sso_configuration=sso)


@rpc("UpdateSSOConfiguration")
def _update_sso(call: Call, req: UpdateSSOConfigurationRequest) -> UpdateSSOConfigurationResponse:
    sso: SSOConfiguration = _lookup(call.state, SSO_CONFIGURATIONS, req.sso_configuration_id)
    apply_update(sso, req, skip=frozenset({"sso_configuration_id", "client_secret", "additional_scopes"}))
    if req.additional_scopes is not None:  # a wrapper: present with no scopes clears them
        sso.additional_scopes = list(req.additional_scopes.scopes)
    if req.client_secret is not None:
        call.state.secrets[sso.id] = req.client_secret
    return UpdateSSOConfigurationResponse()


# --- SCIM -------------------------------------------------------------------------------------


def _issue_scim_token(state: State, scim_id: str, lifetime: timedelta, at: datetime) -> tuple[str, datetime]:
    """A fresh bearer token; state keeps only its SHA-256 digest."""
    token = "scim_" + secrets.token_urlsafe(32)
    state.secrets[scim_id] = token_digest(token)
    state.scim_token_lifetimes[scim_id] = lifetime
    return token, at + lifetime


@rpc("CreateSCIMConfiguration")
def _create_scim(call: Call, req: CreateSCIMConfigurationRequest) -> CreateSCIMConfigurationResponse:
    _lookup(call.state, SSO_CONFIGURATIONS, req.sso_configuration_id)
    scim_id = new_id()
    token, expires = _issue_scim_token(call.state, scim_id, req.token_expires_in or DEFAULT_SCIM_TOKEN_LIFETIME,
                                       call.now)
    scim = SCIMConfiguration(
        id=scim_id,
        organization_id=call.state.organization_id,
        name=req.name or "",
        enabled=True,
        sso_configuration_id=req.sso_configuration_id,
        created_at=call.now,
        updated_at=call.now,
        token_expires_at=expires,
        allow_unverified_email_account_linking=bool(req.allow_unverified_email_account_linking),
    )
    call.state.scim_configurations[scim_id] = scim
    return CreateSCIMConfigurationResponse(scim_configuration=scim, token=token, token_expires_at=expires)


@rpc("RegenerateSCIMToken")
def _regenerate_scim_token(call: Call, req: RegenerateSCIMTokenRequest) -> RegenerateSCIMTokenResponse:
    scim: SCIMConfiguration = _lookup(call.state, SCIM_CONFIGURATIONS, req.scim_configuration_id)
    lifetime = req.token_expires_in or call.state.scim_token_lifetimes.get(scim.id, DEFAULT_SCIM_TOKEN_LIFETIME)
    token, expires = _issue_scim_token(call.state, scim.id, lifetime, call.now)
    scim.token_expires_at = expires
    scim.updated_at = call.now
    return RegenerateSCIMTokenResponse(token=token, token_expires_at=expires)


@rpc("UpdateSCIMConfiguration")
def _update_scim(call: Call, req: UpdateSCIMConfigurationRequest) -> UpdateSCIMConfigurationResponse:
    scim: SCIMConfiguration = _lookup(call.state, SCIM_CONFIGURATIONS, req.scim_configuration_id)
    if req.sso_configuration_id is not None:
        _lookup(call.state, SSO_CONFIGURATIONS, req.sso_configuration_id)
    apply_update(scim, req, skip=frozenset({"scim_configuration_id"}))
    scim.updated_at = call.now
    return UpdateSCIMConfigurationResponse(scim_configuration=scim)
