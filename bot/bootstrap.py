"""The composition root: settings in, a ready Bolt app out. The one place that builds clients."""

from __future__ import annotations

from typing import Any, cast

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.app import build_app
from bot.approvals.backends import open_sealer, open_store
from bot.approvals.flow import ApprovalFlow
from bot.approvals.policy import DEFAULT_POLICY, Policy, PolicyError, load_policy
from bot.approvals.policy_check import PolicyText, static_problems
from bot.approvals.service import ApprovalService
from bot.approvals.store import RequestStore, StoreUnavailable
from bot.identity import Directory, Installation
from bot.metrics import CountingStore, Metrics
from bot.mutations import operations_of
from bot.ona.client import OnaClient
from bot.ona.models import METHODS
from bot.readiness import Readiness
from bot.registry import Group, Operation
from bot.services import Services
from bot.settings import Settings
from bot.startup import StartupError, check_ona_admin, check_policy_groups, check_slack_token
from bot.work import WorkPool
from commands import GROUPS, home

READY_TIMEOUT = 2.0  # seconds /readyz waits for Ona


def slack_client(token: str, base_url: str | None = None) -> WebClient:
    """slack-sdk's client, with its own retry handlers for connection errors and 429 Retry-After."""
    handlers = [ConnectionErrorRetryHandler(max_retry_count=2), RateLimitErrorRetryHandler(max_retry_count=3)]
    kwargs = {"base_url": base_url} if base_url else {}
    return WebClient(token=token, retry_handlers=handlers, timeout=10, **kwargs)


def secret_client(slack: WebClient) -> WebClient:
    """The client for the DM that carries a one-time secret: also retries Slack's 500/503 answers (a
    second copy of that DM is better than none; other messages are not retried on 5xx, as a retried
    post could appear twice in a channel)."""
    handlers = [*slack.retry_handlers, ServerErrorRetryHandler(max_retry_count=2)]
    return WebClient(token=slack.token, base_url=slack.base_url, timeout=slack.timeout, retry_handlers=handlers)


def policy_names(operations: dict[str, Operation]) -> set[str]:
    return set(operations) | {v for op in operations.values() for v in op.variants}


def load_settings_policy(settings: Settings, groups: list[Group] | None = None) -> Policy:
    """Validated at start-up: a bad file, or one that can never be satisfied, stops the bot with the
    line at fault (PolicyError)."""
    groups = groups or GROUPS
    known = policy_names(operations_of(groups))
    policy = load_policy(settings.policy_file, known, {g.name for g in groups})
    problems = static_problems(policy, settings_policy_text(settings), known)
    if problems:
        more = f" ({len(problems) - 1} more after it)" if len(problems) > 1 else ""
        raise PolicyError(problems[0] + more)
    return policy


def settings_policy_text(settings: Settings) -> PolicyText:
    if settings.policy_file is None:
        return PolicyText(DEFAULT_POLICY, "built-in policy")
    return PolicyText(settings.policy_file.read_text(), str(settings.policy_file))


def ona_client(settings: Settings, **kwargs: Any) -> OnaClient:
    return OnaClient(settings.ona_api_key.get_secret_value(), base_url=settings.ona_base_url,
                     organization_id=settings.ona_organization_id, **kwargs)


def new_metrics(groups: list[Group] | None = None) -> Metrics:
    """A fresh registry, whose labels may name these groups and Ona's methods (anything else is "unknown")."""
    return Metrics(groups=[g.name for g in groups or GROUPS], ona_methods=METHODS)


def readiness_probe(settings: Settings, metrics: Metrics) -> OnaClient:
    """The client /readyz asks Ona with: a short timeout and no retries, so a check never hangs."""
    return ona_client(settings, timeout=READY_TIMEOUT, max_retries=0, observe=metrics.ona_call)


def settings_slack_client(settings: Settings) -> WebClient:
    return slack_client(settings.slack_bot_token.get_secret_value(),
                        f"{settings.slack_api_url}/" if settings.slack_api_url else None)


def preflight(settings: Settings) -> Installation:
    """Before serving: the Slack token is accepted, the policy's user groups are readable, the Ona key
    is an organization admin's. Raises StartupError (one line) otherwise."""
    slack = settings_slack_client(settings)
    installation = check_slack_token(slack)
    check_policy_groups(settings_policy_text(settings), slack)
    with ona_client(settings) as ona:
        check_ona_admin(ona)
    check_database(settings)
    return installation


def check_database(settings: Settings) -> None:
    """The database answers, and its migrations are applied now, once, before any worker starts."""
    audit_key = settings.audit_key.get_secret_value() if settings.audit_key else None
    try:
        open_store(settings.db_path, audit_key=audit_key).close()
    except StoreUnavailable as exc:  # its message names the database without its password
        raise StartupError(f"the database could not be opened: {exc}", 1) from None


def build_services(settings: Settings, *, ona: OnaClient | None = None, slack: WebClient | None = None,
                   policy: Policy | None = None, directory_ttl: float = 60.0,
                   metrics: Metrics | None = None) -> Services:
    """`metrics`: pass one to count the calls of an `ona` client built with `observe=metrics.ona_call`."""
    groups = list(GROUPS)
    operations = operations_of(groups)
    metrics = metrics or new_metrics(groups)
    ona = ona or ona_client(settings, observe=metrics.ona_call)
    slack = slack or settings_slack_client(settings)
    audit_key = settings.audit_key.get_secret_value() if settings.audit_key else None
    sealer = open_sealer(settings.db_path, key=settings.seal_key.get_secret_value() if settings.seal_key else None,
                         old_keys=settings.old_seal_keys(), legacy=settings.slack_signing_secret.get_secret_value())
    store = CountingStore(open_store(settings.db_path, audit_key=audit_key), metrics)
    metrics.watch_approvals(store)
    probe = readiness_probe(settings, metrics)
    flow = ApprovalFlow(
        cast(RequestStore, store),
        policy or load_settings_policy(settings, groups),
        Directory(slack, ona, ttl=directory_ttl),
        operations,
        ona,
        sealer,
    )
    approvals = ApprovalService(flow, slack, settings.approvals_channel, secret_slack=secret_client(slack))
    return Services(ona=ona, slack=slack, approvals=approvals, groups=groups, metrics=metrics,
                    readiness=Readiness(store, probe.get_organization), redraw=home.redraw)


def build(settings: Settings, **overrides) -> tuple[Services, App]:
    services = build_services(settings, **overrides)
    app = build_app(services, signing_secret=settings.slack_signing_secret.get_secret_value(),
                    work=WorkPool(rate=settings.work_rate))
    return services, app
