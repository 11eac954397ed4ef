"""Slack user → email → Ona organization admin? Keyed on the immutable Slack team and user IDs.

An account counts only when Slack vouches for it: a full, active, human member of the workspace (or
Enterprise Grid organization) the bot is installed in, as auth.test says, with a confirmed email.
Guests, deleted accounts, bots, strangers from other companies (Slack Connect) and unconfirmed emails
are refused whatever the policy names. Emails come from users.info (scope users:read.email); the
admins are the ACTIVE members with ORGANIZATION_ROLE_ADMIN in Ona (ListMembers). Both are cached
briefly for reads; changes ask afresh (fresh=True).
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.ona.client import OnaClient
from bot.ona.models import ListMembersRequestFilter, OrganizationRole, UserStatus


@dataclass(frozen=True)
class Person:
    team_id: str
    user_id: str
    email: str | None
    name: str
    refusal: str | None = None  # why Slack does not vouch for this account (then it matches no rule)
    tz: str = "UTC"  # their Slack time zone (users.info `tz`): times they type and read are in it


@dataclass(frozen=True)
class Installation:
    """Where the bot token is installed, from auth.test: the workspace identities are pinned to."""

    team_id: str
    enterprise_id: str | None = None
    bot_user_id: str = ""


def refusal(user: dict[str, Any], home: Installation) -> str | None:
    """Why this users.info account may not act through the bot, in words for the person; None if it may."""
    if user.get("deleted"):
        return "This Slack account is deactivated."
    if user.get("is_bot") or user.get("is_app_user"):
        return "Bots and apps cannot use the Ona bot."
    if user.get("is_stranger") or not _belongs(user, home):
        return "Only members of the workspace the Ona bot is installed in can use it."
    if user.get("is_restricted") or user.get("is_ultra_restricted"):
        return "Guest accounts cannot use the Ona bot."
    if not user.get("is_email_confirmed", False):
        return "Your Slack email address is not confirmed, so the bot cannot tell who you are in Ona."
    return None


def time_zone(user: dict[str, Any]) -> str:
    """users.info's `tz`; without it, its `tz_offset` in whole hours (Etc/GMT signs run backwards)."""
    if user.get("tz"):
        return str(user["tz"])
    offset = user.get("tz_offset")
    if isinstance(offset, int) and offset and offset % 3600 == 0 and abs(offset) <= 14 * 3600:
        return f"Etc/GMT{-offset // 3600:+d}"
    return "UTC"


def _belongs(user: dict[str, Any], home: Installation) -> bool:
    """A member of the installed workspace, or of its Enterprise Grid organization (any home workspace)."""
    if user.get("team_id") == home.team_id:
        return True
    enterprise = (user.get("enterprise_user") or {}).get("enterprise_id") or user.get("enterprise_id")
    return bool(home.enterprise_id) and enterprise == home.enterprise_id


# Fresh answers asked once per decision: one click checks the same people several times (the clicker,
# the votes, the requester again before running); within `Directory.one_decision()` Slack and Ona are
# asked once for each of them, and the next decision asks again.
_DECISION: ContextVar[dict[tuple[str, ...], Any] | None] = ContextVar("ona_decision", default=None)
T = TypeVar("T")


def one_decision(method: Callable[..., T]) -> Callable[..., T]:
    """For a method of an object with a `directory` (the approval flow): one decision, so each person is
    asked about afresh once in it."""
    @functools.wraps(method)
    def decide(self: Any, *args: Any, **kwargs: Any) -> T:
        with self.directory.one_decision():
            return method(self, *args, **kwargs)
    return decide


class Directory:
    def __init__(self, slack: WebClient, ona: OnaClient, *, ttl: float = 60.0,
                 clock: Callable[[], float] = time.monotonic, installation: Installation | None = None) -> None:
        self.slack = slack
        self.ona = ona
        self.ttl = ttl
        self.clock = clock
        self._installation = installation
        self._people: dict[tuple[str, str], tuple[float, Person]] = {}
        self._admins: tuple[float, frozenset[str]] | None = None
        self._groups: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()

    def _max_age(self, fresh: bool) -> float:
        return -1.0 if fresh else self.ttl  # fresh: never the cache (one_decision's memo aside)

    @contextmanager
    def one_decision(self) -> Iterator[None]:
        """Within this block (and what it calls), each fresh answer is asked once."""
        token = _DECISION.set({}) if _DECISION.get() is None else None
        try:
            yield
        finally:
            if token is not None:
                _DECISION.reset(token)

    def _once(self, key: tuple[str, ...], fresh: bool, ask: Callable[[], Any]) -> Any:
        memo = _DECISION.get() if fresh else None
        if memo is None:
            return ask()
        if key not in memo:
            memo[key] = ask()
        return memo[key]

    def installation(self) -> Installation:
        """The workspace (and Grid organization) the bot token belongs to: asked once, then kept."""
        if self._installation is None:
            answer = self.slack.auth_test()
            self._installation = Installation(answer["team_id"], answer.get("enterprise_id") or None,
                                              answer.get("user_id") or "")
        return self._installation

    def person(self, team_id: str, user_id: str, *, fresh: bool = False) -> Person:
        return self._once(("person", team_id, user_id), fresh, lambda: self._person(team_id, user_id, fresh))

    def _person(self, team_id: str, user_id: str, fresh: bool) -> Person:
        key = (team_id, user_id)
        with self._lock:
            cached = self._people.get(key)
        if cached and self.clock() - cached[0] < self._max_age(fresh):
            return cached[1]
        try:
            user = self.slack.users_info(user=user_id)["user"]
        except SlackApiError:
            return Person(team_id, user_id, None, user_id, "Slack does not know this account.")
        profile = user.get("profile") or {}
        why = refusal(user, self.installation())
        person = Person(team_id, user_id, None if why else (profile.get("email") or "").lower() or None,
                        user.get("real_name") or user.get("name") or user_id, why, time_zone(user))
        with self._lock:
            self._people[key] = (self.clock(), person)
        return person

    def ona_admin_emails(self, *, fresh: bool = False) -> frozenset[str]:
        return self._once(("admins",), fresh, lambda: self._admin_emails(fresh))

    def _admin_emails(self, fresh: bool) -> frozenset[str]:
        with self._lock:
            cached = self._admins
        if cached and self.clock() - cached[0] < self._max_age(fresh):
            return cached[1]
        members = self.ona.iter_members(filter=ListMembersRequestFilter(
            roles=[OrganizationRole.ADMIN], statuses=[UserStatus.ACTIVE]))
        emails = frozenset(m.email.lower() for m in members
                           if m.role == OrganizationRole.ADMIN and m.status == UserStatus.ACTIVE and m.email)
        with self._lock:
            self._admins = (self.clock(), emails)
        return emails

    def is_ona_admin(self, team_id: str, user_id: str, *, fresh: bool = False) -> bool:
        email = self.person(team_id, user_id, fresh=fresh).email
        if not email:
            return False
        if fresh:
            return self._once(("admin", email), True, lambda: self._ask_admin(email))
        return email in self.ona_admin_emails()

    def _ask_admin(self, email: str) -> bool:
        """Ona about this email alone: one call, however many admins the organization has. The whole
        list only when that finds nothing (Ona's email filter may match case exactly, Slack's may not)."""
        found = self.ona.list_members(filter=ListMembersRequestFilter(
            email=email, roles=[OrganizationRole.ADMIN], statuses=[UserStatus.ACTIVE])).members
        return any(m.email.lower() == email and m.role == OrganizationRole.ADMIN and m.status == UserStatus.ACTIVE
                   for m in found) or email in self.ona_admin_emails(fresh=True)

    def usergroup_members(self, group_id: str, *, fresh: bool = False) -> frozenset[str]:
        return self._once(("group", group_id), fresh, lambda: self._group_members(group_id, fresh))

    def _group_members(self, group_id: str, fresh: bool) -> frozenset[str]:
        with self._lock:
            cached = self._groups.get(group_id)
        if cached and self.clock() - cached[0] < self._max_age(fresh):
            return cached[1]
        try:
            users = frozenset(self.slack.usergroups_users_list(usergroup=group_id).get("users") or [])
        except SlackApiError:
            users = frozenset()
        with self._lock:
            self._groups[group_id] = (self.clock(), users)
        return users

    def matches(self, team_id: str, user_id: str, principals: tuple[str, ...], *, fresh: bool = False) -> str | None:
        """The first principal (rule entry) that admits this user, or None. An account Slack does not
        vouch for matches nothing, not even its own user ID."""
        if self.person(team_id, user_id, fresh=fresh).refusal:
            return None
        for principal in principals:
            if principal == "ona:admins":
                if self.is_ona_admin(team_id, user_id, fresh=fresh):
                    return principal
            elif principal.startswith("S"):
                if user_id in self.usergroup_members(principal, fresh=fresh):
                    return principal
            elif principal == user_id:
                return principal
        return None

    def possible_approvers(self, principals: tuple[str, ...], requester: Person) -> int:
        """How many people other than the requester these principals could name at most (for "needs 2
        approvers; the organization has 1 other admin"). May count one person twice, never too few."""
        count = 0
        for principal in principals:
            if principal == "ona:admins":
                admins = self.ona_admin_emails()
                count += len(admins) - (1 if requester.email in admins else 0)
            elif principal.startswith("S"):
                count += len(self.usergroup_members(principal) - {requester.user_id})
            elif principal != requester.user_id:
                count += 1
        return count
