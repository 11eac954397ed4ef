"""The composition root: settings in, a ready Bolt app out. The one place that builds clients."""

from __future__ import annotations

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from bot.app import build_app
from bot.approvals.flow import ApprovalFlow
from bot.approvals.policy import Policy, load_policy
from bot.approvals.service import ApprovalService
from bot.approvals.store import Sealer, Store
from bot.context import Services
from bot.identity import Directory
from bot.mutations import operations_of
from bot.ona.client import OnaClient
from bot.registry import Group, Operation
from bot.settings import Settings
from bot.work import WorkPool
from commands import GROUPS


def slack_client(token: str, base_url: str | None = None) -> WebClient:
    """slack-sdk's client, with its own retry handlers for connection errors and 429 Retry-After."""
    handlers = [ConnectionErrorRetryHandler(max_retry_count=2), RateLimitErrorRetryHandler(max_retry_count=3)]
    kwargs = {"base_url": base_url} if base_url else {}
    return WebClient(token=token, retry_handlers=handlers, timeout=10, **kwargs)


def policy_names(operations: dict[str, Operation]) -> set[str]:
    return set(operations) | {v for op in operations.values() for v in op.variants}


def load_settings_policy(settings: Settings, groups: list[Group] | None = None) -> Policy:
    """Validated at start-up: a bad file stops the bot with the line at fault (PolicyError)."""
    return load_policy(settings.policy_file, policy_names(operations_of(groups or GROUPS)))


def build_services(settings: Settings, *, ona: OnaClient | None = None, slack: WebClient | None = None,
                   policy: Policy | None = None, directory_ttl: float = 60.0) -> Services:
    groups = list(GROUPS)
    operations = operations_of(groups)
    ona = ona or OnaClient(
        settings.ona_api_key.get_secret_value(),
        base_url=settings.ona_base_url,
        organization_id=settings.ona_organization_id,
    )
    slack = slack or slack_client(
        settings.slack_bot_token.get_secret_value(),
        f"{settings.slack_api_url}/" if settings.slack_api_url else None,
    )
    audit_key = settings.audit_key.get_secret_value() if settings.audit_key else None
    flow = ApprovalFlow(
        Store(settings.db_path, audit_key=audit_key),
        policy or load_settings_policy(settings, groups),
        Directory(slack, ona, ttl=directory_ttl),
        operations,
        ona,
        Sealer(settings.slack_signing_secret.get_secret_value()),
    )
    approvals = ApprovalService(flow, slack, settings.approvals_channel)
    return Services(ona=ona, slack=slack, mutator=approvals, groups=groups,
                    approvals_channel=settings.approvals_channel, approvals=approvals)


def build(settings: Settings, **overrides) -> tuple[Services, App]:
    services = build_services(settings, **overrides)
    app = build_app(services, signing_secret=settings.slack_signing_secret.get_secret_value(),
                    work=WorkPool(rate=settings.work_rate))
    return services, app
