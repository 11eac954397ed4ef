"""/ona banner — show the announcement banner, switch it on or off, or edit it in a modal with a preview;
the shortcuts "Set the banner" (the form) and "Post as banner" (the form with a message's text)."""

from __future__ import annotations

import difflib
import re
from typing import Any

from bot import blocks as bk
from bot import replies
from bot.context import Context
from bot.ona.client import OnaClient
from bot.registry import Args, Group, Outcome, UsageError, restore
from bot.router import unescape
from commands import banner_windows as windows

GROUP = Group("banner", "Announcement banner")
MAX_MESSAGE = 1000  # Ona's limit (buf.validate max_len on UpdateAnnouncementBannerRequest.message)
USAGE_ON = windows.USAGE_ON
SET_SHORTCUT = "banner_set"  # manifest.yml's global shortcut "Set the banner"
POST_SHORTCUT = "banner_from_message"  # manifest.yml's message shortcut "Post as banner"
# A mention picked from Slack's list arrives as <@U…|name>; members read the banner in Ona, where it means @name.
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|([^<>]*))?>")


def _as_typed(message: str) -> str:
    return _MENTION.sub(lambda m: "@" + (m.group(2) or m.group(1)), message)


def _render(enabled: bool, message: str, scheduled: list[Any] | None = None) -> dict[str, Any]:
    blocks = [bk.header("Announcement banner"), *card(enabled, message, scheduled)]
    return bk.message(blocks, text=f"Banner: {'on' if enabled else 'off'}")


def card(enabled: bool, message: str, scheduled: list[Any] | None = None) -> list[Any]:
    """The banner's state and message, with Turn on/off and Edit, and its scheduled windows with Cancel
    (in a reply, and in the App Home)."""
    state = ":large_green_circle: On" if enabled else ":white_circle: Off"
    quoted = "\n".join(f"> {line}" for line in bk.escape(message).splitlines()) if message else "_(no message)_"
    toggle = (
        bk.button("Turn off", "banner:off", style="danger",
                  confirm_with=bk.confirm("Turn the banner off?", "Nobody will see the banner any more."))
        if enabled else
        bk.button("Turn on", "banner:on", style="primary",
                  confirm_with=bk.confirm("Turn the banner on?", "Every member will see this message."))
    )
    return [
        *bk.fields([("State", state), ("Length", f"{len(message)} / {MAX_MESSAGE}")]),
        bk.section(quoted),
        bk.actions(toggle, bk.button("Edit", "banner:edit")),
        *(scheduled or []),
    ]


@GROUP.command(usage="banner", help="Show the announcement banner")
def show(ctx: Context, args: Args) -> None:
    if args.words:  # "banner onn": a slip, not a request to show the banner
        near = difflib.get_close_matches(args.words[0].lower(), [n for n in GROUP.subcommands if n], n=1, cutoff=0.5)
        hint = f" Did you mean `banner {near[0]}`?" if near else ""
        raise UsageError(f"I don't know `banner {args.words[0][:40]}`.{hint}", "\n".join(GROUP.usages))
    banner = ctx.ona.get_announcement_banner().banner
    scheduled = windows.listing(ctx.services.approvals.banner_windows(), windows.tz_of(ctx))
    ctx.reply(_render(banner.enabled if banner else False, banner.message if banner else "", scheduled))


@GROUP.command("on", usage=USAGE_ON, help="Show the banner (optionally with a new message)", mutating=True)
def turn_on(ctx: Context, args: Args) -> None:
    timed = windows.split_on(_as_typed(" ".join(w for w in args.raw if not w.startswith("--"))))
    if timed:  # "… for 2h" / "… until 12:00": a window from now
        windows.window_now(ctx, *timed)
        return
    message = _as_typed(args.rest.strip())
    if len(message) > MAX_MESSAGE:
        raise UsageError(f"The message has {len(message)} characters; Ona allows {MAX_MESSAGE}.", f"/ona {USAGE_ON}")
    if not message:  # write it in the form, with a preview, rather than guess
        edit(ctx, args)
        return
    ctx.mutate("banner.update", {"enabled": True, "message": message})


GROUP.command("at", usage=windows.USAGE_AT, help="Schedule the banner for a maintenance window",
              mutating=True)(windows.schedule_at)
GROUP.action(windows.CANCEL)(windows.click_cancel)
GROUP.operation("banner.schedule", "Schedule the banner for a maintenance window", local=True,
                policy_key=lambda params: "banner.update", show=windows.show)(windows.apply_schedule)
GROUP.operation("banner.cancel_window", "Cancel a banner window", local=True,
                policy_key=lambda params: "banner.update", show=windows.show)(windows.apply_cancel)


@GROUP.command("off", usage="banner off", help="Hide the banner", mutating=True)
def turn_off(ctx: Context, args: Args) -> None:
    banner = ctx.ona.get_announcement_banner().banner
    if banner is None or not banner.enabled:  # say so rather than ask for (or approve) a non-change
        ctx.reply(replies.info(":information_source: The banner is already off. Nothing was changed."))
        return
    ctx.mutate("banner.update", {"enabled": False})


@GROUP.command("set", usage="banner set", help="Edit the message in a form, with a preview", mutating=True)
def edit(ctx: Context, args: Args) -> None:
    view_id = ctx.open_modal(bk.loading_modal("Announcement banner", "banner_edit"))
    banner = ctx.ona.get_announcement_banner().banner
    ctx.update_modal(view_id, _form(banner.message if banner else "", ctx.origin()))


@GROUP.action("banner:on")
def click_on(ctx: Context, payload: dict[str, Any]) -> None:
    """Turn on the message the card showed; with no message yet, the form asks for one."""
    banner = ctx.ona.get_announcement_banner().banner
    if banner and banner.message:
        ctx.mutate("banner.update", {"enabled": True})
    else:
        edit(ctx, Args(words=[], rest=""))


@GROUP.action("banner:off")
def click_off(ctx: Context, payload: dict[str, Any]) -> None:
    turn_off(ctx, Args(words=[], rest=""))


@GROUP.action("banner:edit")
def click_edit(ctx: Context, payload: dict[str, Any]) -> None:
    edit(ctx, Args(words=[], rest=""))


@GROUP.shortcut(SET_SHORTCUT)
def shortcut_set(ctx: Context, payload: dict[str, Any]) -> None:
    edit(ctx, Args(words=[], rest=""))


@GROUP.shortcut(POST_SHORTCUT)
def shortcut_post(ctx: Context, payload: dict[str, Any]) -> None:
    """The message's text, as members would read it, in the form; Preview shows it before it is published.
    The form opens first (the trigger lasts 3 s; naming the message's mentions asks Slack once each)."""
    view_id = ctx.open_modal(bk.loading_modal("Announcement banner", "banner_edit"))
    text = _message_text(ctx, payload.get("message") or {})
    note = None
    if len(text) > MAX_MESSAGE:
        note = f"The message had {len(text)} characters; Ona allows {MAX_MESSAGE}, so it was cut: check the end."
        text = text[:MAX_MESSAGE].rstrip()
    ctx.update_modal(view_id, _form(text, ctx.origin(), note=note))


def _message_text(ctx: Context, message: dict[str, Any]) -> str:
    """Slack's message text as a person reads it: mentions as @name, links and escapes undone."""
    def name(found: re.Match[str]) -> str:
        if found.group(2):
            return "@" + found.group(2)
        try:  # a mention in a message carries no name: ask Slack (users:read), or keep the ID
            user = ctx.slack.users_info(user=found.group(1))["user"]
            return "@" + (user.get("profile", {}).get("display_name") or user.get("real_name") or user["name"])
        except Exception:
            return "@" + found.group(1)

    return unescape(_MENTION.sub(name, str(message.get("text") or ""))).strip()


def _form(message: str, origin: dict[str, str], note: str | None = None) -> dict[str, Any]:
    """"Show the banner now" starts ticked: editing the banner is almost always to show it."""
    blocks: list[Any] = [bk.context(f":warning: {note}")] if note else []
    blocks += [
        bk.text_input("message", "Message", initial=message, multiline=True, max_length=MAX_MESSAGE,
                      hint=f"Up to {MAX_MESSAGE} characters. Every member of the organization sees it."),
        bk.checkboxes_input("enabled", "Visibility", [("on", "Show the banner now")],
                            initial=["on"]),
    ]
    return bk.modal("Announcement banner", blocks, callback_id="banner_edit", submit="Preview",
                    private_metadata=origin)


def _validate_form(values: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    message = (values.get("message") or "").strip()
    if not message:
        return {"errors": {"message": "Write the message members should see."}}
    if len(message) > MAX_MESSAGE:
        return {"errors": {"message": f"{len(message)} characters: Ona allows {MAX_MESSAGE}."}}
    enabled = "on" in (values.get("enabled") or [])
    origin = {k: meta[k] for k in ("channel", "response_url", "surface") if k in meta}
    preview = [
        bk.section("*Preview* — this is what members will see:"),
        bk.section("\n".join(f"> {line}" for line in bk.escape(message).splitlines())),
        bk.context(f"{len(message)} / {MAX_MESSAGE} characters · banner will be "
                   f"{'*on*' if enabled else '*off*'} · Back to edit with ✕"),
    ]
    meta = {**origin, "message": message, "enabled": enabled}
    if len(bk.metadata_json(meta)) > bk.METADATA_MAX:  # the preview carries the message to Publish
        return {"errors": {"message": "This message is too long to preview here: shorten it a little."}}
    return {"view": bk.modal("Announcement banner", preview, callback_id="banner_publish", submit="Publish",
                             private_metadata=meta)}


@GROUP.view("banner_edit", validate=_validate_form)
def _never(ctx: Context, params: dict[str, Any], meta: dict[str, Any]) -> None:  # the form always previews
    raise AssertionError("banner_edit always answers with the preview")


def _validate_publish(values: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    return {"params": {"enabled": bool(meta.get("enabled")), "message": str(meta.get("message", ""))}}


@GROUP.view("banner_publish", validate=_validate_publish)
def publish(ctx: Context, params: dict[str, Any], meta: dict[str, Any]) -> None:
    ctx.mutate("banner.update", params)


def _read(ona: OnaClient, params: dict[str, Any]) -> dict[str, Any]:
    banner = ona.get_announcement_banner().banner
    current = {"enabled": banner.enabled if banner else False, "message": banner.message if banner else ""}
    return {key: current[key] for key in params}


@GROUP.operation("banner.update", "Update the announcement banner", read=_read, undo=restore)
def update_banner(ona: OnaClient, params: dict[str, Any]) -> Outcome:
    banner = ona.update_announcement_banner(**params).banner
    enabled = banner.enabled if banner else params.get("enabled", False)
    return Outcome(
        text=f"The announcement banner is now *{'on' if enabled else 'off'}*.",
        details=[("Message", bk.escape(banner.message) if banner and banner.message else "—")],
    )
