"""Start-up checks against Slack and Ona: an operator's mistake stops the bot with one line naming the
variable (or the policy line) to fix, before anyone requests or votes. The clients are passed in."""

from __future__ import annotations

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.approvals.policy_check import PolicyText, group_problems
from bot.identity import Installation
from bot.ona.client import OnaClient
from bot.ona.errors import NotFound, OnaError, OnaTransportError, PermissionDenied, Unauthenticated
from bot.ona.models import OrganizationRole, PaginationRequest, UserStatus

# auth.test answers these for a token Slack no longer accepts.
REJECTED_TOKEN = {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"}


class StartupError(Exception):
    """One line for the operator; exit code 2 for a setting to fix, 1 for a service out of reach."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def check_slack_token(slack: WebClient) -> Installation:
    try:
        data = slack.auth_test()
    except SlackApiError as exc:
        error = exc.response.get("error")
        if error in REJECTED_TOKEN:
            raise StartupError("SLACK_BOT_TOKEN was rejected by Slack: the token is not valid or was revoked "
                               "(copy the Bot User OAuth Token from the app's OAuth & Permissions page)") from None
        raise StartupError(f"SLACK_BOT_TOKEN could not be checked: Slack answered {error}", 1) from None
    except OSError as exc:  # urllib's URLError and socket errors: nothing answered
        raise StartupError(f"Slack could not be reached at {slack.base_url} ({_reason(exc)})", 1) from None
    return Installation(team_id=data.get("team_id") or "", enterprise_id=data.get("enterprise_id") or None,
                        bot_user_id=data.get("user_id") or "")


def check_ona_admin(ona: OnaClient) -> None:
    """Ona lists the authenticated user first when no sort is asked for: one member tells whose key it is."""
    try:
        page = ona.list_members(pagination=PaginationRequest(page_size=1))
    except Unauthenticated:
        raise StartupError("ONA_API_KEY was rejected by Ona: it is not a valid API key, or it expired") from None
    except PermissionDenied:
        raise StartupError("ONA_API_KEY may not read the organization: the bot needs an organization admin's "
                           "API key") from None
    except NotFound:
        raise StartupError("ONA_ORGANIZATION_ID names no organization this API key can see") from None
    except OnaTransportError as exc:
        raise StartupError(f"Ona could not be reached at {ona.base_url} (ONA_BASE_URL): {exc.summary}", 1) from None
    except OnaError as exc:
        raise StartupError(f"Ona refused the start-up check: {exc.user_message}", 1) from None
    me = page.members[0] if page.members else None
    if me is None:
        raise StartupError("ONA_API_KEY belongs to no member of the organization: the bot needs an organization "
                           "admin's API key")
    if me.role != OrganizationRole.ADMIN or me.status != UserStatus.ACTIVE:
        who = me.email or me.full_name or "its owner"
        what = "not an admin" if me.role != OrganizationRole.ADMIN else "not active"
        raise StartupError(f"ONA_API_KEY belongs to {who}, who is {what} in the organization: the bot needs an "
                           "organization admin's API key")


def check_policy_groups(text: PolicyText, slack: WebClient) -> None:
    problems = group_problems(text, slack)
    if problems:
        more = f" ({len(problems) - 1} more after it)" if len(problems) > 1 else ""
        raise StartupError(problems[0] + more)


def _reason(exc: OSError) -> str:
    reason = getattr(exc, "reason", None) or exc.strerror or exc
    return str(reason)
