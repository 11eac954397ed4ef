"""The emulator's state: one organization, stored as the generated wire models, and its seed.

State holds the same models the API returns, so a handler answers by copying a stored model into
its response. Secrets (the SSO client secrets, SHA-256 digests of SCIM tokens) live beside them in
``secrets``, because the wire models have no field for them and must never carry them out.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta

from bot.ona.models import (
    AgentPolicy,
    AnnouncementBanner,
    ConversationSharingPolicy,
    CustomDomain,
    DomainVerification,
    Organization,
    OrganizationMember,
    OrganizationPolicies,
    OrganizationRole,
    OrganizationTier,
    ProviderType,
    SCIMConfiguration,
    SSOConfiguration,
    SSOConfigurationState,
    UserStatus,
)

DEFAULT_ORG_ID = "3f6c2a9e-8b1d-4e57-a0c4-9d2e7b5f1a63"
DEFAULT_ADMIN_KEY = "ona-emulator-admin-key"
DEFAULT_MEMBER_KEY = "ona-emulator-member-key"
DEFAULT_PORT = 8090

SEED_INVITE_ID = "6b0d4f2a-1c3e-4a5b-9d7f-8e2c1a4b6d90"
SEED_SSO_ID = "9a1e5c7b-3d2f-4b6a-8c0e-1f4d7a2b5c83"
SEED_SCIM_ID = "c4e8a2d6-5b1f-4c3a-9e7d-2a6b8f0c4e15"
SEED_SSO_CLIENT_SECRET = "GOCSPX-emulator-seed-client-secret"
SEED_SCIM_TOKEN = "scim-emulator-seed-token"

DEFAULT_SCIM_TOKEN_LIFETIME = timedelta(days=365)

# (email, full name, role, status, login provider, member since)
SEED_MEMBERS: tuple[tuple[str, str, OrganizationRole, UserStatus, str, datetime], ...] = (
    ("alice@example.com", "Alice Admin", OrganizationRole.ADMIN, UserStatus.ACTIVE, "google",
     datetime(2023, 3, 14, 9, 30, tzinfo=UTC)),
    ("bob@example.com", "Bob Builder", OrganizationRole.ADMIN, UserStatus.ACTIVE, "github",
     datetime(2023, 5, 2, 14, 5, tzinfo=UTC)),
    ("carol@example.com", "Carol Member", OrganizationRole.MEMBER, UserStatus.ACTIVE, "google",
     datetime(2023, 9, 21, 11, 0, tzinfo=UTC)),
    ("dave@example.com", "Dave Suspended", OrganizationRole.MEMBER, UserStatus.SUSPENDED, "github",
     datetime(2024, 1, 8, 16, 45, tzinfo=UTC)),
    ("erin@example.com", "Erin Engineer", OrganizationRole.MEMBER, UserStatus.ACTIVE, "sso",
     datetime(2024, 6, 3, 8, 15, tzinfo=UTC)),
)
# Who each API key authenticates as: ListMembers puts the caller first, JoinOrganization adds them.
KEY_USERS = {"admin": "alice@example.com", "member": "carol@example.com"}

_CREATED = datetime(2023, 3, 14, 9, 26, 53, tzinfo=UTC)
_UPDATED = datetime(2024, 11, 2, 10, 12, 7, tzinfo=UTC)


def now() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


def member_id(organization_id: str, email: str) -> str:
    """Stable per organization and email, so demos and tests can name seed members by ID."""
    return str(uuid.uuid5(uuid.UUID(organization_id), email.lower()))


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class State:
    """Everything one emulated organization holds. Mutate only under the emulator's lock."""

    organization_id: str
    organization: Organization | None  # None once DeleteOrganization removed it
    members: dict[str, OrganizationMember]
    policies: OrganizationPolicies
    banner: AnnouncementBanner
    invite_id: str
    sso_configurations: dict[str, SSOConfiguration]
    scim_configurations: dict[str, SCIMConfiguration]
    custom_domain: CustomDomain | None = None
    domain_verifications: dict[str, DomainVerification] = field(default_factory=dict)
    # resource ID -> SSO client secret, or SHA-256 hex digest of the current SCIM token
    secrets: dict[str, str] = field(default_factory=dict)
    scim_token_lifetimes: dict[str, timedelta] = field(default_factory=dict)
    # domain (lower case) -> TXT record values published with Emulator.publish_dns
    dns_records: dict[str, set[str]] = field(default_factory=dict)
    # members removed by LeaveOrganization, kept so that the same user can join again
    former_members: dict[str, OrganizationMember] = field(default_factory=dict)
    # CreateOrganization answers with a new organization; the emulator serves only its own
    created_organizations: dict[str, Organization] = field(default_factory=dict)

    def user_id_for(self, role: str | None) -> str | None:
        """The user an API key stands for (see KEY_USERS)."""
        email = KEY_USERS.get(role or "")
        return member_id(self.organization_id, email) if email else None

    def restore(self, other: State) -> None:
        """Become ``other`` in place, so references to this object held by tests stay live."""
        for f in fields(self):
            setattr(self, f.name, getattr(other, f.name))


def _seed_members(organization_id: str) -> dict[str, OrganizationMember]:
    members = {}
    for email, name, role, status, provider, since in SEED_MEMBERS:
        user_id = member_id(organization_id, email)
        members[user_id] = OrganizationMember(
            user_id=user_id,
            role=role,
            member_since=since,
            avatar_url=f"https://avatars.example.com/{email.split('@')[0]}.png",
            full_name=name,
            email=email,
            status=status,
            login_provider=provider,
        )
    return members


def _seed_policies(organization_id: str) -> OrganizationPolicies:
    return OrganizationPolicies(
        organization_id=organization_id,
        maximum_environment_timeout=timedelta(hours=8),
        members_create_projects=True,
        allowed_editor_ids=["vscode", "jetbrains", "cursor"],
        default_editor_id="vscode",
        allow_local_runners=True,
        maximum_running_environments_per_user=5,
        maximum_environments_per_user=20,
        default_environment_image="mcr.microsoft.com/devcontainers/base:ubuntu-24.04",
        delete_archived_environments_after=timedelta(days=7),
        agent_policy=AgentPolicy(
            command_deny_list=["rm -rf /", "git push --force", "curl * | sh"],
            conversation_sharing_policy=ConversationSharingPolicy.ORGANIZATION,
            max_subagents_per_environment=5,
        ),
        maximum_environment_lifetime=timedelta(days=30),
        archive_environments_after=timedelta(days=7),
    )


def _seed_sso(organization_id: str) -> SSOConfiguration:
    return SSOConfiguration(
        id=SEED_SSO_ID,
        organization_id=organization_id,
        client_id="123456789012-acme.apps.googleusercontent.com",
        issuer_url="https://accounts.google.com",
        state=SSOConfigurationState.ACTIVE,
        email_domain="example.com",
        provider_type=ProviderType.BUILTIN,
        email_domains=["example.com"],
        display_name="Google Workspace",
    )


def _seed_scim(organization_id: str) -> SCIMConfiguration:
    created = datetime(2024, 2, 1, 12, 0, tzinfo=UTC)
    return SCIMConfiguration(
        id=SEED_SCIM_ID,
        organization_id=organization_id,
        name="Google Workspace provisioning",
        enabled=True,
        sso_configuration_id=SEED_SSO_ID,
        created_at=created,
        updated_at=created,
        # relative to now, so the seed token never shows up as already expired
        token_expires_at=now().replace(microsecond=0) + DEFAULT_SCIM_TOKEN_LIFETIME,
    )


def seed_state(organization_id: str = DEFAULT_ORG_ID) -> State:
    """Acme Corp: five members (two admins, one suspended), realistic policies, Google SSO + SCIM."""
    return State(
        organization_id=organization_id,
        organization=Organization(
            id=organization_id,
            name="Acme Corp",
            created_at=_CREATED,
            updated_at=_UPDATED,
            tier=OrganizationTier.ENTERPRISE,
        ),
        members=_seed_members(organization_id),
        policies=_seed_policies(organization_id),
        banner=AnnouncementBanner(organization_id=organization_id),
        invite_id=SEED_INVITE_ID,
        sso_configurations={SEED_SSO_ID: _seed_sso(organization_id)},
        scim_configurations={SEED_SCIM_ID: _seed_scim(organization_id)},
        secrets={SEED_SSO_ID: SEED_SSO_CLIENT_SECRET, SEED_SCIM_ID: token_digest(SEED_SCIM_TOKEN)},
        scim_token_lifetimes={SEED_SCIM_ID: DEFAULT_SCIM_TOKEN_LIFETIME},
    )
