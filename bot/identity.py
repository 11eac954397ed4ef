"""Slack user → email → Ona organization admin? Keyed on the immutable Slack team and user IDs.

Emails come from users.info (scope users:read.email); the admins are the ACTIVE members with
ORGANIZATION_ROLE_ADMIN in Ona (ListMembers). Both are cached briefly; a vote asks afresh.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

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


class Directory:
    def __init__(self, slack: WebClient, ona: OnaClient, *, ttl: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.slack = slack
        self.ona = ona
        self.ttl = ttl
        self.clock = clock
        self._people: dict[tuple[str, str], tuple[float, Person]] = {}
        self._admins: tuple[float, frozenset[str]] | None = None
        self._groups: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()

    def person(self, team_id: str, user_id: str) -> Person:
        key = (team_id, user_id)
        with self._lock:
            cached = self._people.get(key)
        if cached and self.clock() - cached[0] < self.ttl:
            return cached[1]
        try:
            user = self.slack.users_info(user=user_id)["user"]
        except SlackApiError:
            return Person(team_id, user_id, None, user_id)
        if user.get("team_id") and team_id and user["team_id"] != team_id:
            person = Person(team_id, user_id, None, user_id)  # not a member of this workspace
        else:
            profile = user.get("profile") or {}
            person = Person(team_id, user_id, (profile.get("email") or "").lower() or None,
                            user.get("real_name") or user.get("name") or user_id)
        with self._lock:
            self._people[key] = (self.clock(), person)
        return person

    def ona_admin_emails(self, *, fresh: bool = False) -> frozenset[str]:
        with self._lock:
            cached = self._admins
        if cached and not fresh and self.clock() - cached[0] < self.ttl:
            return cached[1]
        members = self.ona.iter_members(filter=ListMembersRequestFilter(
            roles=[OrganizationRole.ADMIN], statuses=[UserStatus.ACTIVE]))
        emails = frozenset(m.email.lower() for m in members
                           if m.role == OrganizationRole.ADMIN and m.status == UserStatus.ACTIVE and m.email)
        with self._lock:
            self._admins = (self.clock(), emails)
        return emails

    def is_ona_admin(self, team_id: str, user_id: str, *, fresh: bool = False) -> bool:
        email = self.person(team_id, user_id).email
        return bool(email) and email in self.ona_admin_emails(fresh=fresh)

    def usergroup_members(self, group_id: str, *, fresh: bool = False) -> frozenset[str]:
        with self._lock:
            cached = self._groups.get(group_id)
        if cached and not fresh and self.clock() - cached[0] < self.ttl:
            return cached[1]
        try:
            users = frozenset(self.slack.usergroups_users_list(usergroup=group_id).get("users") or [])
        except SlackApiError:
            users = frozenset()
        with self._lock:
            self._groups[group_id] = (self.clock(), users)
        return users

    def matches(self, team_id: str, user_id: str, principals: tuple[str, ...], *, fresh: bool = False) -> str | None:
        """The first principal (rule entry) that admits this user, or None."""
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
