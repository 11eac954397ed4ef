"""/ona members — who is in the organization, paged for a phone; /ona role — make a member an admin or not.

Paging is stateless: a page button carries the search and the page number, and the page is found again by
walking Ona's list from the start (100 at a time, so page 10 still costs one call).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from bot import blocks as bk
from bot import replies
from bot.context import Context
from bot.ona.client import OnaClient
from bot.ona.models import (
    CountRequest,
    CountResponseRelation,
    ListMembersRequestFilter,
    ListMembersRequestSort,
    OrganizationMember,
    OrganizationRole,
    PaginationRequest,
    SortField,
    SortOrder,
    UserStatus,
)
from bot.registry import Args, Group, Outcome, UsageError, action_value, restore

GROUP = Group("members", "Members and roles", aliases=("member",))
ROLE_GROUP = Group("role", "Change a member's role")

PAGE_SIZE = 10
FETCH_SIZE = 100  # Ona's maximum page; a multiple of PAGE_SIZE, so a shown page never spans two fetches
SEARCH_MAX = 256  # buf.validate max_len of ListMembersRequest.Filter.search
EMAIL_MAX = 320  # buf.validate max_len of ListMembersRequest.Filter.email
USAGE_MEMBERS = "members [search]"
USAGE_ROLE = "role [<email or @user> admin|member]"

ROLES = {"admin": OrganizationRole.ADMIN, "member": OrganizationRole.MEMBER}
ROLE_WORDS = {OrganizationRole.ADMIN: "admin", OrganizationRole.MEMBER: "member"}
STATUS_WORDS = {UserStatus.ACTIVE: "active", UserStatus.SUSPENDED: "suspended", UserStatus.LEFT: "left"}
# Stable across the separate calls behind each page (Ona's default puts the caller first).
BY_NAME = ListMembersRequestSort(field=SortField.NAME, order=SortOrder.ASC)

_MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
_MAILTO = re.compile(r"^<mailto:([^|>]+)(?:\|[^>]*)?>$")  # Slack's formatting of a typed email
_EMAIL = re.compile(r"^[^@\s<>|]+@[^@\s<>|]+\.[^@\s<>|]+$")


# --- /ona members ---------------------------------------------------------------------------------


@dataclass
class Window:
    members: list[OrganizationMember]
    page: int
    pages: int
    total: int | None
    at_least: bool  # Ona counted only a lower bound


def _list_kwargs(search: str, token: str, with_count: bool) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "pagination": PaginationRequest(page_size=FETCH_SIZE, **({"token": token} if token else {})),
        "sort": BY_NAME,
    }
    if search:
        kwargs["filter"] = ListMembersRequestFilter(search=search)
    if with_count:
        kwargs["count"] = CountRequest(include=True)
    return kwargs


def _window(ona: OnaClient, search: str, page: int) -> Window:
    """The members of page `page` (0-based), re-walking Ona's pages from the start."""
    start, token, offset = page * PAGE_SIZE, "", 0
    total: int | None = None
    at_least = False
    shown: list[OrganizationMember] = []
    more = False
    while True:
        response = ona.list_members(**_list_kwargs(search, token, with_count=offset == 0))
        if offset == 0 and response.count is not None:
            total = response.count.value
            at_least = response.count.relation == CountResponseRelation.GTE
        token = response.pagination.next_token if response.pagination else ""
        end = offset + len(response.members)
        if start < end:
            shown = response.members[start - offset : start - offset + PAGE_SIZE]
            more = bool(token) or start + PAGE_SIZE < end
            break
        if not token or not response.members:  # the page is past the end (members left since)
            break
        offset = end
    known = math.ceil(total / PAGE_SIZE) if total is not None else 0
    pages = max(known, page + 1 + more) if shown else max(known, 1)
    return Window(shown, page, pages, total, at_least)


def _member_line(m: OrganizationMember) -> str:
    role = ROLE_WORDS.get(m.role, "no role")
    status = STATUS_WORDS.get(m.status, "unknown")
    name = bk.escape(m.full_name) or "_(no name)_"
    role_text = f"*{role}*" if m.role == OrganizationRole.ADMIN else role
    status_text = status if m.status == UserStatus.ACTIVE else f":warning: {status}"
    return f"*{name}*\n{bk.escape(m.email) or '—'} · {role_text} · {status_text}"


def _count_line(window: Window, search: str) -> str:
    if window.total is None:
        how_many = "Members"
    else:
        n = f"{'at least ' if window.at_least else ''}{window.total}"
        how_many = f"{n} member{'' if window.total == 1 else 's'}"
    return f"{how_many} matching “{bk.escape(search)}”" if search else how_many


def _role_button(m: OrganizationMember) -> Any:
    """Make admin / Make member, with a confirm: a tap instead of typing `/ona role <email> …`."""
    if m.status == UserStatus.LEFT or m.role not in ROLE_WORDS:
        return None
    to_admin = m.role != OrganizationRole.ADMIN
    who = m.full_name or m.email
    confirm = (bk.confirm("Make them an admin?", f"{bk.escape(who)} will be able to change everything in the "
                          "organization.", ok="Make admin") if to_admin else
               bk.confirm("Make them a member?", f"{bk.escape(who)} will no longer be an admin.", ok="Make member"))
    return bk.button("Make admin" if to_admin else "Make member", "members:role",
                     {"user_id": m.user_id, "role": "admin" if to_admin else "member"},
                     style="primary" if to_admin else None, confirm_with=confirm)


def _render(window: Window, search: str) -> dict[str, Any]:
    blocks: list[Any] = [bk.header("Members"), bk.context(_count_line(window, search))]
    if not window.members:
        empty = f"No member matches “{bk.escape(search)}”." if search else "No members on this page."
        blocks.append(bk.section(empty))
    # "item:" marks one row of a paged list (the phone-screen test allows a page of them)
    blocks += [bk.section(_member_line(m), accessory=_role_button(m), block_id=f"item:{m.user_id}")
               for m in window.members]
    blocks += bk.pager("members:page", window.page, window.pages, {"q": search})
    return bk.message(blocks, text=f"{_count_line(window, search)} (page {window.page + 1} of {window.pages})")


def _show_page(ctx: Context, search: str, page: int, *, replace: bool) -> None:
    window = _window(ctx.ona, search, page)
    if not window.members and page > 0:  # members left since the button was drawn: show the last page
        window = _window(ctx.ona, search, min(page - 1, window.pages - 1))
    ctx.reply(_render(window, search), replace=replace)


@GROUP.command(usage=USAGE_MEMBERS, help="List members (10 a page), optionally searching name or email")
def list_members(ctx: Context, args: Args) -> None:
    search = args.rest.strip()
    if len(search) > SEARCH_MAX:
        raise UsageError(f"The search has {len(search)} characters; Ona allows {SEARCH_MAX}.", f"/ona {USAGE_MEMBERS}")
    _show_page(ctx, search, 0, replace=False)


@GROUP.action("members:page", read_only=True)
def click_page(ctx: Context, payload: dict[str, Any]) -> None:
    value = action_value(payload)
    search = value.get("q") if isinstance(value.get("q"), str) else ""
    page = value.get("page")
    page = page if isinstance(page, int) and not isinstance(page, bool) and page >= 0 else 0
    _show_page(ctx, search[:SEARCH_MAX], page, replace=True)


# --- /ona role -------------------------------------------------------------------------------------


def _parse_role_args(args: Args) -> tuple[str, OrganizationRole]:
    usage = f"/ona {USAGE_ROLE}"
    if len(args.words) != 2:
        raise UsageError("Give the member (email or @mention) and the role: admin or member.", usage)
    first, second = args.words
    if second.lower() in ROLES:
        who, role = first, second
    elif first.lower() in ROLES:  # "role admin bob@example.com" reads just as well
        who, role = second, first
    else:
        raise UsageError(f"`{second[:40]}` is not a role: use admin or member.", usage)
    return who, ROLES[role.lower()]


def _email_of(ctx: Context, who: str) -> str:
    """The email that `who` (an email, or a Slack mention) stands for."""
    usage = f"/ona {USAGE_ROLE}"
    mention = _MENTION.match(who)
    if mention:
        return _slack_email(ctx, mention.group(1))
    if who.startswith("@"):
        raise UsageError(f"I can't tell who `{who[:40]}` is from a typed name: use their email, or pick them "
                         "from Slack's list as you type @ so Slack sends a real mention.", usage)
    mailto = _MAILTO.match(who)
    email = mailto.group(1) if mailto else who
    if not _EMAIL.match(email) or len(email) > EMAIL_MAX:
        raise UsageError(f"`{who[:60]}` is neither an email nor an @mention.", usage)
    return email


def _slack_email(ctx: Context, slack_user: str) -> str:
    """The email of a Slack account the bot vouches for (a full, active member of this workspace with a
    confirmed email): a guest's or a stranger's email could name an Ona member they are not."""
    person = ctx.services.approvals.person(ctx, user_id=slack_user)
    if person.refusal or not person.email:
        raise UsageError("I cannot vouch for the Slack email of the person you named (unknown to Slack, a guest, "
                         "outside this workspace, deactivated or not confirmed): use their Ona email instead.",
                         f"/ona {USAGE_ROLE}")
    return person.email


def find_member(ona: OnaClient, email: str) -> OrganizationMember | None:
    """The member with this email, ignoring case (Ona's email filter may be exact, its search is not)."""
    wanted = email.lower()
    for member_filter in (ListMembersRequestFilter(email=email), ListMembersRequestFilter(search=email[:SEARCH_MAX])):
        found = ona.list_members(filter=member_filter, pagination=PaginationRequest(page_size=FETCH_SIZE)).members
        match = next((m for m in found if m.email.lower() == wanted), None)
        if match:
            return match
    return None


def _other_active_admins(ona: OnaClient, member: OrganizationMember) -> int:
    admins = ona.iter_members(filter=ListMembersRequestFilter(roles=[OrganizationRole.ADMIN],
                                                              statuses=[UserStatus.ACTIVE]))
    return sum(1 for m in admins if m.user_id != member.user_id and m.status == UserStatus.ACTIVE
               and m.role == OrganizationRole.ADMIN)


@ROLE_GROUP.command(usage=USAGE_ROLE, help="Make a member an admin, or an admin a member", mutating=True)
def set_role(ctx: Context, args: Args) -> None:
    if not args.words:  # nothing typed: pick the person from Slack's list instead
        ctx.open_modal(_role_form(ctx.origin()))
        return
    who, role = _parse_role_args(args)
    email = _email_of(ctx, who)
    member = find_member(ctx.ona, email)
    if member is None:
        ctx.reply(replies.info(f":mag: Nobody with the email {bk.escape(email)} is a member of the organization."))
        return
    _change_role(ctx, member, role)


def _role_form(origin: dict[str, Any]) -> dict[str, Any]:
    blocks = [bk.user_select_input("member", "Member", hint="Their Slack account's email must be their Ona email."),
              bk.select_input("role", "Role", [("admin", "Admin"), ("member", "Member")])]
    return bk.modal("Change a role", blocks, callback_id="role_form", submit="Change", private_metadata=origin)


def _validate_role_form(values: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    errors = {}
    if not values.get("member"):
        errors["member"] = "Pick the member whose role changes."
    if values.get("role") not in ROLES:
        errors["role"] = "Pick admin or member."
    return {"errors": errors} if errors else {"params": {"user": values["member"], "role": values["role"]}}


@ROLE_GROUP.view("role_form", validate=_validate_role_form)
def submit_role_form(ctx: Context, params: dict[str, Any], meta: dict[str, Any]) -> None:
    """The picked Slack member, found in Ona by their Slack email, then as `/ona role`."""
    email = _slack_email(ctx, str(params["user"]))
    member = find_member(ctx.ona, email)
    if member is None:
        ctx.reply(replies.info(f":mag: Nobody with the email {bk.escape(email)} is a member of the organization."))
        return
    _change_role(ctx, member, ROLES[params["role"]])


@GROUP.action("members:role")
def click_role(ctx: Context, payload: dict[str, Any]) -> None:
    """The button of `/ona members`: the member is read again (the list may be old), then as `/ona role`."""
    value = action_value(payload)
    user_id, role = value.get("user_id"), ROLES.get(str(value.get("role")))
    if not isinstance(user_id, str) or not user_id or role is None:
        ctx.reply(replies.info(":warning: That button is not valid any more: run `/ona members` again."))
        return
    found = ctx.ona.list_members(filter=ListMembersRequestFilter(user_ids=[user_id])).members
    member = next((m for m in found if m.user_id == user_id), None)
    if member is None:
        ctx.reply(replies.info(":mag: They are not a member of the organization any more. Nothing was changed."))
        return
    _change_role(ctx, member, role)


def _change_role(ctx: Context, member: OrganizationMember, role: OrganizationRole) -> None:
    """The checks and the change behind both `/ona role` and the list's buttons."""
    name = bk.escape(member.full_name or member.email)
    if member.status == UserStatus.LEFT:
        ctx.reply(replies.info(f":information_source: {name} has left the organization: nothing to change."))
        return
    if member.role == role:
        ctx.reply(replies.info(f":information_source: {name} is already {_a(role)}. Nothing was changed."))
        return
    if (member.role == OrganizationRole.ADMIN and member.status == UserStatus.ACTIVE
            and _other_active_admins(ctx.ona, member) == 0):
        ctx.reply(replies.info(f":no_entry: {name} is the only active admin: the organization would have no "
                               "admin. Make someone else an admin first. Nothing was changed."))
        return
    who = f"{member.full_name} ({member.email})" if member.full_name else member.email
    ctx.mutate("members.set_role", {"user_id": member.user_id, "email": member.email, "member": who,
                                    "role": role.value})


def _a(role: OrganizationRole) -> str:
    return "an admin" if role == OrganizationRole.ADMIN else "a member"


def _read_role(ona: OnaClient, params: dict[str, Any]) -> dict[str, Any]:
    found = ona.list_members(filter=ListMembersRequestFilter(user_ids=[params["user_id"]])).members
    member = next((m for m in found if m.user_id == params["user_id"]), None)
    if member is None:  # not (or no longer) a member: there is no current role
        return {"user_id": params["user_id"], "email": params.get("email", ""), "role": ""}
    return {"user_id": member.user_id, "email": member.email, "role": member.role.value}


def _policy_key(params: dict[str, Any]) -> str:
    """Granting admin hands out power: the approval policy rules it separately (two approvers)."""
    return "members.grant_admin" if params.get("role") == OrganizationRole.ADMIN.value else "members.set_role"


def _show_role(key: str, value: Any) -> str:
    """Roles as people say them ("admin"), in approval diffs."""
    if key == "role":
        return {r.value: w for r, w in ROLE_WORDS.items()}.get(value, "no role") if value else "not a member"
    return bk.escape(str(value))


@ROLE_GROUP.operation("members.set_role", "Change a member's role", read=_read_role, policy_key=_policy_key,
                      variants=("members.grant_admin",), show=_show_role,
                      undo=lambda before: restore(before) if before.get("role") else None,
                      check="Check the member's role with `/ona members` before trying again.")
def apply_role(ona: OnaClient, params: dict[str, Any]) -> Outcome:
    role = OrganizationRole(params["role"])
    ona.set_role(user_id=params["user_id"], role=role)
    email = bk.escape(params.get("email", ""))
    return Outcome(text=f"{email} is now *{_a(role)}* of the organization.",
                   details=[("Member", email), ("Role", ROLE_WORDS[role])])
