"""The composition root: settings in, a ready Bolt app out. The one place that builds clients."""

from __future__ import annotations

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from bot.app import build_app
from bot.context import Services
from bot.mutations import DirectMutator, operations_of
from bot.ona.client import OnaClient
from bot.settings import Settings
from commands import GROUPS


def slack_client(token: str, base_url: str | None = None) -> WebClient:
    """slack-sdk's client, with its own retry handlers for connection errors and 429 Retry-After."""
    handlers = [ConnectionErrorRetryHandler(max_retry_count=2), RateLimitErrorRetryHandler(max_retry_count=3)]
    kwargs = {"base_url": base_url} if base_url else {}
    return WebClient(token=token, retry_handlers=handlers, timeout=10, **kwargs)


def build_services(settings: Settings, *, ona: OnaClient | None = None, slack: WebClient | None = None) -> Services:
    groups = list(GROUPS)
    ona = ona or OnaClient(
        settings.ona_api_key.get_secret_value(),
        base_url=settings.ona_base_url,
        organization_id=settings.ona_organization_id,
    )
    slack = slack or slack_client(
        settings.slack_bot_token.get_secret_value(),
        f"{settings.slack_api_url}/" if settings.slack_api_url else None,
    )
    return Services(
        ona=ona, slack=slack, mutator=DirectMutator(operations_of(groups)), groups=groups,
        approvals_channel=settings.approvals_channel,
    )


def build(settings: Settings, **overrides) -> tuple[Services, App]:
    services = build_services(settings, **overrides)
    app = build_app(services, signing_secret=settings.slack_signing_secret.get_secret_value())
    return services, app
