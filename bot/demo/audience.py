"""Who sees what the bot sent: every Slack call one request caused, sorted by who can see it.
Ephemeral replies and modals go to the person who acted, channel messages to whoever is in that
channel, direct messages to their addressee; what someone cannot see yet waits in their inbox."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.demo.forms import Form
from bot.demo.render import Button, Renderer
from bot.demo.session import Exchange, Result, Session
from bot.demo.shown import Shown, Source, message_of
from bot.demo.terminal import span


class Audience:
    """The delivering half of ``Shell`` (a mixin: it uses the shell's state and output)."""

    session: Session
    channel: str
    channel_names: dict[str, str]
    buttons: list[Button]
    forms: list[Form]
    inbox: dict[str, list[Shown]]
    versions: dict[tuple[str, str], int]
    seen: dict[str, dict[tuple[str, str], int]]
    click_sources: dict[str, Source]

    if TYPE_CHECKING:
        @property
        def user_id(self) -> str: ...
        @property
        def form(self) -> Form | None: ...
        def renderer(self) -> Renderer: ...
        def say(self, text: str = "") -> None: ...
        def note(self, text: str) -> None: ...


    def show(self, result: Result, *, submitted: Form | None = None, home: bool = False) -> dict[str, str]:
        """Sort what one request caused by who sees it; show what the current person sees."""
        items: list[Shown] = []
        notices: list[str] = []
        errors: dict[str, str] = {}
        modal_changed = False
        if result.status >= 400:
            notices.append(f"Slack got HTTP {result.status} from the bot: nothing handled this.")
        if submitted is not None and result.status < 400:
            action = result.ack.get("response_action")
            if action == "errors":
                errors = {k: str(v) for k, v in (result.ack.get("errors") or {}).items()}
                items.append(self._form_item(submitted, errors=errors, only=set(errors), note=" · not saved"))
            elif action in ("update", "push") and isinstance(result.ack.get("view"), dict):
                view_id = submitted.view_id if action == "update" else f"{submitted.view_id}+"
                new = Form(view_id, result.ack["view"])
                if action == "update":
                    self.forms[-1] = new
                else:
                    self.forms.append(new)
                modal_changed = True
            elif action == "clear":
                self.forms.clear()
            elif self.forms:
                self.forms.pop()
        for exchange in result.calls:
            changed = self._observe(exchange, items, notices, home=home)
            modal_changed = modal_changed or changed
        if modal_changed and self.form is not None:
            items.append(self._form_item(self.form))
        if submitted is not None and not items and not notices and self.form is None:
            notices.append(f"(“{submitted.title}” closed)")
        self.render(items, notices)
        return errors

    def _observe(self, exchange: Exchange, items: list[Shown], notices: list[str], *, home: bool) -> bool:
        """One Slack call: shown now, kept for its addressee, or noted. True when a modal changed."""
        method, args, answer = exchange.method, exchange.args, exchange.answer
        me = self.user_id
        if method == "response_url":
            path = args.get("_url", "")
            owner = self.session.url_owner.get(path, me)
            replaced = str(args.get("replace_original")).lower() == "true"
            if str(args.get("delete_original")).lower() == "true":
                self._deliver(owner, Shown("Ona · the message was removed", {"text": "(removed)"}), items)
                return False
            source = self.click_sources.get(path) if replaced else None
            label = "Ona · only visible to you" + (" · replaces the message you clicked" if replaced else "")
            channel = source.channel if source else self.channel
            self._deliver(owner, Shown(label, message_of(args), Source("ephemeral", channel=channel)), items)
        elif method == "chat.postEphemeral":
            shown = Shown("Ona · only visible to you", message_of(args), Source("ephemeral", channel=args.get("channel")))
            self._deliver(args.get("user", me), shown, items)
        elif method in ("chat.postMessage", "chat.update") and answer.get("ok"):
            channel = str(answer.get("channel") or args.get("channel") or "")
            ts = str(answer.get("ts") or args.get("ts") or "")
            if channel.startswith("D"):
                owner = "U" + channel[1:]
                label = "Direct message from Ona" + (" · edited" if method == "chat.update" else "")
                self._deliver(owner, Shown(label, message_of(args), Source("message", channel, ts)), items)
                return False
            key = (channel, ts)
            self.versions[key] = self.versions.get(key, 0) + 1
            name = self.channel_names.setdefault(channel, channel)
            if channel == self.channel:
                edited = " · edited" if method == "chat.update" else ""
                items.append(self._channel_item(key, edited, thread=bool(args.get("thread_ts"))))
                self.seen[me][key] = self.versions[key]
            elif method == "chat.postMessage":
                notices.append(f"Ona posted in #{name} (:in #{name} to see it).")
            else:
                notices.append(f"Ona edited its message in #{name} (:in #{name} to see it).")
        elif method in ("views.open", "views.push"):
            view_id = str((answer.get("view") or {}).get("id") or f"V{len(self.forms)}")
            form = Form(view_id, args.get("view") or {})
            if method == "views.open":
                self.forms = [form]
            else:
                self.forms.append(form)
            return True
        elif method == "views.update":
            for i, form in enumerate(self.forms):
                if form.view_id == args.get("view_id"):
                    self.forms[i] = Form(form.view_id, args.get("view") or {})
                    return i == len(self.forms) - 1
        elif method == "views.publish" and home and args.get("user_id") == me:
            view = {**(args.get("view") or {}), "id": "VHOME"}
            items.append(Shown("App Home · Ona", view, Source("view", view=view)))
        return False

    def _deliver(self, owner: str, shown: Shown, items: list[Shown]) -> None:
        if owner == self.user_id:
            items.append(shown)
        elif owner in self.inbox:
            self.inbox[owner].append(shown)

    def _channel_item(self, key: tuple[str, str], edited: str, *, thread: bool = False) -> Shown:
        stored = self.session.slack.messages.get(key) or {}
        name = self.channel_names.get(key[0], key[0])
        label = f"#{name} · Ona" + (" · in a thread" if thread else "") + edited
        return Shown(label, {"text": stored.get("text"), "blocks": stored.get("blocks")},
                     Source("message", key[0], key[1]))

    def _form_item(self, form: Form, *, errors: dict[str, str] | None = None, only: set[str] | None = None,
                   note: str = "") -> Shown:
        view = form.submission_view()
        return Shown(f"Modal · {form.title}{note}", view, Source("view", view=view), form=form,
                     errors=errors or {}, only=only)

    def render(self, items: list[Shown], notices: list[str]) -> None:
        """Print items with buttons numbered from 1; they become what :click presses."""
        renderer = self.renderer()
        buttons: list[Button] = []
        for shown in items:
            self.say(renderer.item(span("bold", shown.label), shown.payload, buttons, source=shown.source,
                                   form=shown.form, errors=shown.errors, only=shown.only))
        for text in notices:
            self.note(text)
        if buttons:
            self.buttons = buttons
