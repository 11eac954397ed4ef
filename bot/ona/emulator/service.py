"""The OrganizationService itself, independent of HTTP: one handler per method over ``State``.

``dispatch`` runs a call the way Ona does: authentication, parsing (the request arrives as canonical
proto3 JSON, decoded from either codec by ``connect.py``), buf.validate rules, the organization
check, authorization (a member key may only read, and join or leave as itself), then the handler.
Every failure is a ``ConnectError`` carrying a Connect code. Callers hold the state lock.

Handlers share shapes: the ID-keyed collections (domain verifications, SSO and SCIM configurations)
get their Get/Delete/List handlers from one factory each, and every Update* goes through
``apply_update``, which implements proto3 partial-update semantics once.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar, get_args

import pydantic

from bot.ona.emulator.state import DEFAULT_SCIM_TOKEN_LIFETIME, State, new_id, now, token_digest
from bot.ona.emulator.validate import RequestInvalid, validate
from bot.ona.models import (
    METHODS,
    CountResponse,
    CountResponseRelation,
    CreateCustomDomainRequest,
    CreateCustomDomainResponse,
    CreateDomainVerificationRequest,
    CreateDomainVerificationResponse,
    CreateOrganizationInviteRequest,
    CreateOrganizationInviteResponse,
    CreateOrganizationRequest,
    CreateOrganizationResponse,
    CreateSCIMConfigurationRequest,
    CreateSCIMConfigurationResponse,
    CreateSSOConfigurationRequest,
    CreateSSOConfigurationResponse,
    CustomDomain,
    DeleteCustomDomainRequest,
    DeleteCustomDomainResponse,
    DeleteOrganizationRequest,
    DeleteOrganizationResponse,
    DomainVerification,
    DomainVerificationState,
    GetAnnouncementBannerRequest,
    GetAnnouncementBannerResponse,
    GetCustomDomainRequest,
    GetCustomDomainResponse,
    GetOrganizationInviteRequest,
    GetOrganizationInviteResponse,
    GetOrganizationInviteSummaryRequest,
    GetOrganizationInviteSummaryResponse,
    GetOrganizationPoliciesRequest,
    GetOrganizationPoliciesResponse,
    GetOrganizationRequest,
    GetOrganizationResponse,
    InviteDomains,
    JoinOrganizationRequest,
    JoinOrganizationResponse,
    LeaveOrganizationRequest,
    LeaveOrganizationResponse,
    ListMembersRequest,
    ListMembersRequestFilter,
    ListMembersRequestSort,
    ListMembersResponse,
    LoginProviderKind,
    Organization,
    OrganizationInvite,
    OrganizationMember,
    OrganizationRole,
    OrganizationTier,
    PaginationRequest,
    PaginationResponse,
    ProviderType,
    RegenerateSCIMTokenRequest,
    RegenerateSCIMTokenResponse,
    SCIMConfiguration,
    SetRoleRequest,
    SetRoleResponse,
    SortField,
    SortOrder,
    SSOConfiguration,
    SSOConfigurationState,
    UpdateAnnouncementBannerRequest,
    UpdateAnnouncementBannerResponse,
    UpdateCustomDomainRequest,
    UpdateCustomDomainResponse,
    UpdateOrganizationPoliciesRequest,
    UpdateOrganizationPoliciesResponse,
    UpdateOrganizationRequest,
    UpdateOrganizationResponse,
    UpdateSCIMConfigurationRequest,
    UpdateSCIMConfigurationResponse,
    UpdateSSOConfigurationRequest,
    UpdateSSOConfigurationResponse,
    UserStatus,
    VerifyDomainRequest,
    VerifyDomainResponse,
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


def _member(state: State, user_id: str) -> OrganizationMember:
    member = state.members.get(user_id)
    if member is None:
        raise ConnectError("not_found", f"user {user_id} is not a member of the organization")
    return member


def _keep_an_admin(state: State, member: OrganizationMember) -> None:
    """Refuse to demote or remove the last active admin: nobody could manage the organization."""
    others = [
        m for m in state.members.values()
        if m.user_id != member.user_id and m.role == OrganizationRole.ADMIN and m.status == UserStatus.ACTIVE
    ]
    if member.role == OrganizationRole.ADMIN and not others:
        raise ConnectError("failed_precondition", "the organization must keep at least one active admin")


# --- organization and members -----------------------------------------------------------------


@rpc("CreateOrganization")
def _create_organization(call: Call, req: CreateOrganizationRequest) -> CreateOrganizationResponse:
    org = Organization(
        id=new_id(), name=req.name, created_at=call.now, updated_at=call.now, tier=OrganizationTier.FREE_ONA
    )
    me = call.caller()
    if req.invite_accounts_with_matching_domain and me:
        org.invite_domains = InviteDomains(domains=[me.email.rsplit("@", 1)[1]])
    call.state.created_organizations[org.id] = org
    member = None
    if req.join_organization and me:
        member = me.model_copy(update={"role": OrganizationRole.ADMIN, "member_since": call.now})
    return CreateOrganizationResponse(organization=org, member=member)


@rpc("GetOrganization")
def _get_organization(call: Call, req: GetOrganizationRequest) -> GetOrganizationResponse:
    return GetOrganizationResponse(organization=call.state.organization)


@rpc("UpdateOrganization")
def _update_organization(call: Call, req: UpdateOrganizationRequest) -> UpdateOrganizationResponse:
    org = call.state.organization
    assert org is not None  # _check_organization
    apply_update(org, req, skip=frozenset({"organization_id"}))
    org.updated_at = call.now
    return UpdateOrganizationResponse(organization=org)


@rpc("DeleteOrganization")
def _delete_organization(call: Call, req: DeleteOrganizationRequest) -> DeleteOrganizationResponse:
    call.state.organization = None
    return DeleteOrganizationResponse()


@rpc("JoinOrganization")
def _join_organization(call: Call, req: JoinOrganizationRequest) -> JoinOrganizationResponse:
    state = call.state
    if req.invite_id is None and req.organization_id is None:
        raise ConnectError("invalid_argument", "one of organization_id or invite_id is required")
    if req.invite_id is not None and req.invite_id != state.invite_id:
        raise ConnectError("not_found", f"invite {req.invite_id} not found")
    me = call.caller()
    if me is None:
        raise ConnectError("not_found", "the caller has no user account")
    if me.user_id in state.members:  # joining again is a no-op
        return JoinOrganizationResponse(member=me)
    domains = state.organization.invite_domains if state.organization else None
    if req.invite_id is None and me.email.rsplit("@", 1)[1] not in (domains.domains if domains else []):
        raise ConnectError("permission_denied", "joining by organization ID needs an invite domain match")
    member = me.model_copy(
        update={"role": OrganizationRole.MEMBER, "status": UserStatus.ACTIVE, "member_since": call.now}
    )
    state.former_members.pop(member.user_id, None)
    state.members[member.user_id] = member
    return JoinOrganizationResponse(member=member)


@rpc("LeaveOrganization")
def _leave_organization(call: Call, req: LeaveOrganizationRequest) -> LeaveOrganizationResponse:
    member = _member(call.state, req.user_id)
    _keep_an_admin(call.state, member)
    call.state.former_members[member.user_id] = call.state.members.pop(member.user_id)
    return LeaveOrganizationResponse()


@rpc("SetRole")
def _set_role(call: Call, req: SetRoleRequest) -> SetRoleResponse:
    member = _member(call.state, req.user_id)
    if req.role == OrganizationRole.UNSPECIFIED:
        raise ConnectError("invalid_argument", "role must be ORGANIZATION_ROLE_ADMIN or ORGANIZATION_ROLE_MEMBER")
    if req.role != OrganizationRole.ADMIN:
        _keep_an_admin(call.state, member)
    member.role = req.role
    return SetRoleResponse()


def _matches(member: OrganizationMember, f: ListMembersRequestFilter | None) -> bool:
    if f is None:
        return True
    search = f.search.lower()
    return all((
        not search or search in member.full_name.lower() or search in member.email.lower(),
        not f.statuses or member.status in f.statuses,
        not f.roles or member.role in f.roles,
        not f.user_ids or member.user_id in f.user_ids,
        not f.email or member.email.lower() == f.email.lower(),
        f.login_provider == LoginProviderKind.UNSPECIFIED or member.login_provider.upper() == f.login_provider.name,
    ))


def _sorted(members: list[OrganizationMember], sort: ListMembersRequestSort | None, caller_id: str | None
            ) -> list[OrganizationMember]:
    """Ona's default order: the caller first, then by name. An explicit sort has no special case."""
    if sort is None:
        return sorted(members, key=lambda m: (m.user_id != caller_id, m.full_name.lower(), m.user_id))
    if sort.field == SortField.DATE_JOINED:
        return sorted(members, key=lambda m: (m.member_since, m.user_id), reverse=sort.order == SortOrder.DESC)
    return sorted(members, key=lambda m: (m.full_name.lower(), m.user_id), reverse=sort.order == SortOrder.DESC)


@rpc("ListMembers")
def _list_members(call: Call, req: ListMembersRequest) -> ListMembersResponse:
    matching = [m for m in call.state.members.values() if _matches(m, req.filter)]
    page, pagination = paginate(_sorted(matching, req.sort, call.caller_id), req.pagination)
    count = None
    if req.count and req.count.include:
        count = CountResponse(value=len(matching), relation=CountResponseRelation.EQ)
    return ListMembersResponse(pagination=pagination, members=page, count=count)


# --- announcement banner and policies ---------------------------------------------------------


@rpc("GetAnnouncementBanner")
def _get_banner(call: Call, req: GetAnnouncementBannerRequest) -> GetAnnouncementBannerResponse:
    return GetAnnouncementBannerResponse(banner=call.state.banner)


@rpc("UpdateAnnouncementBanner")
def _update_banner(call: Call, req: UpdateAnnouncementBannerRequest) -> UpdateAnnouncementBannerResponse:
    org = call.state.organization
    if org is None or org.tier != OrganizationTier.ENTERPRISE:
        raise ConnectError("failed_precondition", "the announcement banner requires the Enterprise tier")
    apply_update(call.state.banner, req, skip=frozenset({"organization_id"}))
    return UpdateAnnouncementBannerResponse(banner=call.state.banner)


@rpc("GetOrganizationPolicies")
def _get_policies(call: Call, req: GetOrganizationPoliciesRequest) -> GetOrganizationPoliciesResponse:
    return GetOrganizationPoliciesResponse(policies=call.state.policies)


@rpc("UpdateOrganizationPolicies")
def _update_policies(call: Call, req: UpdateOrganizationPoliciesRequest) -> UpdateOrganizationPoliciesResponse:
    apply_update(call.state.policies, req, skip=frozenset({"organization_id"}))
    return UpdateOrganizationPoliciesResponse()


# --- invites ----------------------------------------------------------------------------------


@rpc("CreateOrganizationInvite")
def _create_invite(call: Call, req: CreateOrganizationInviteRequest) -> CreateOrganizationInviteResponse:
    call.state.invite_id = new_id()  # the previous invite stops working
    return CreateOrganizationInviteResponse(invite=OrganizationInvite(invite_id=call.state.invite_id))


@rpc("GetOrganizationInvite")
def _get_invite(call: Call, req: GetOrganizationInviteRequest) -> GetOrganizationInviteResponse:
    return GetOrganizationInviteResponse(invite=OrganizationInvite(invite_id=call.state.invite_id))


@rpc("GetOrganizationInviteSummary")
def _get_invite_summary(call: Call, req: GetOrganizationInviteSummaryRequest
                        ) -> GetOrganizationInviteSummaryResponse:
    state = call.state
    if req.invite_id != state.invite_id or state.organization is None:
        raise ConnectError("not_found", f"invite {req.invite_id} not found")
    return GetOrganizationInviteSummaryResponse(
        organization_id=state.organization_id,
        organization_name=state.organization.name,
        organization_member_count=len(state.members),
    )


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
