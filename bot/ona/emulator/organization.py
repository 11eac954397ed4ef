"""Emulated OrganizationService handlers: the organization, its members, the announcement banner,
the policies and the invites."""

from __future__ import annotations

from bot.ona.emulator.rpc import Call, ConnectError, apply_update, paginate, rpc
from bot.ona.emulator.state import State, new_id
from bot.ona.models import (
    CountResponse,
    CountResponseRelation,
    CreateOrganizationInviteRequest,
    CreateOrganizationInviteResponse,
    CreateOrganizationRequest,
    CreateOrganizationResponse,
    DeleteOrganizationRequest,
    DeleteOrganizationResponse,
    GetAnnouncementBannerRequest,
    GetAnnouncementBannerResponse,
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
    SetRoleRequest,
    SetRoleResponse,
    SortField,
    SortOrder,
    UpdateAnnouncementBannerRequest,
    UpdateAnnouncementBannerResponse,
    UpdateOrganizationPoliciesRequest,
    UpdateOrganizationPoliciesResponse,
    UpdateOrganizationRequest,
    UpdateOrganizationResponse,
    UserStatus,
)


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
