"""The demo's shell: type `/ona …` as alice, bob or carol; see what each of them would see in Slack.

Every line becomes the request Slack would send (Session), and every Slack call the bot makes in
answer is sorted by who can see it: ephemeral replies and modals go to the person who acted, channel
messages to whoever is in that channel, direct messages to their addressee. What someone cannot see
yet waits for them (shown when the shell switches to them or to that channel).

The sorting is ``audience.py``'s, the modals ``modals.py``'s; this module reads lines and runs them.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable
from typing import TextIO

from bot.demo.audience import Audience
from bot.demo.forms import Form
from bot.demo.modals import Modals
from bot.demo.mrkdwn import Viewer
from bot.demo.render import Button, Renderer, confirm_text
from bot.demo.session import APPROVALS_CHANNEL, ROLES, USERS, Session, channel_id
from bot.demo.shown import Quit, Shown, Source
from bot.demo.terminal import Style, span
from bot.localslack import DEFAULT_USERS

HELP = """\
Type what you would type in Slack, as the current person:
  /ona <command>       e.g. /ona help · /ona policies · /ona banner on Hello
Shell commands:
  :as alice|bob|carol  be someone else (alice, bob: Ona admins; carol: a member)
  :in #channel         go to a channel: #ops, or #approvals (approval requests)
  :click N [y|n]       press button N of the last message(s) shown (or :click
                       Approve, by its label); a confirm dialog asks y/n, and a
                       script answers y unless the line ends in n
  :home                open the bot's App Home tab
  :dns <domain>        publish the DNS TXT record of a pending domain (the
                       stand-in for your DNS provider)
  :who                 who and where you are
  :help                this list
  :quit                leave (so do Ctrl-D and Ctrl-C)
Modals: the shell asks field by field (Enter keeps the value shown; pick
options by number, several with commas; - clears), then asks to submit.
In a script (--script FILE), lines after the command that opened a modal
answer it:
  > Field: value       set a field (its label, the start of it, or its block id)
  > submit             press the modal's submit button
  > cancel             close the modal
Lines starting with # are comments; a script prints them."""

SHELL_COMMANDS = (":as", ":in", ":click", ":home", ":dns", ":who", ":help", ":quit", ":exit")


class Shell(Modals, Audience):
    def __init__(self, session: Session, out: TextIO, *, color: bool = False, width: int = 80,
                 script: bool = False) -> None:
        self.session = session
        self.out = out
        self.style = Style(color)
        self.width = width
        self.script = script
        self.user = "alice"
        self.channel = "C0OPS"
        self.channel_names: dict[str, str] = {"C0OPS": "ops", APPROVALS_CHANNEL: "approvals"}
        self.buttons: list[Button] = []
        self.forms: list[Form] = []
        self.inbox: dict[str, list[Shown]] = {uid: [] for uid in USERS.values()}
        self.versions: dict[tuple[str, str], int] = {}  # channel message -> edits so far
        self.seen: dict[str, dict[tuple[str, str], int]] = {uid: {} for uid in USERS.values()}
        self.click_sources: dict[str, Source] = {}  # a click's response_url path -> what was clicked
        self.errors = 0  # demo-side failures (a bug, not a refusal by the bot)
        self._blank = True  # the last line printed was empty

    # --- who and where --------------------------------------------------------------------------

    @property
    def user_id(self) -> str:
        return USERS[self.user]

    @property
    def prompt(self) -> str:
        return f"{self.user}@#{self.channel_names.get(self.channel, self.channel)}> "

    def renderer(self) -> Renderer:
        users = {uid: info["name"] for uid, info in DEFAULT_USERS.items()}
        users["U0BOT"] = "Ona"
        tz = DEFAULT_USERS[self.user_id].get("tz", "UTC")
        return Renderer(Viewer(users=users, channels=dict(self.channel_names), tz=tz), self.style, self.width)

    def say(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()
        self._blank = text == ""

    def note(self, text: str) -> None:
        """A line from the shell itself (not from the bot), dimmed."""
        self.say(self.renderer().text(span("dim", text)))

    # --- the two ways in ------------------------------------------------------------------------

    def run_script(self, lines: Iterable[str]) -> int:
        """Run lines without a terminal, printing the transcript (each line after its prompt)."""
        try:
            for raw in lines:
                line = raw.rstrip("\n")
                if not line.strip():
                    if not self._blank:
                        self.say()
                    continue
                if line.lstrip().startswith("#"):
                    self.say(self.renderer().text(span("dim", line.strip())))
                    continue
                if line.lstrip().startswith(">"):
                    self.say(self.style.apply(span("bold", ">")) + line.lstrip()[1:])  # a modal's answer
                else:
                    self.say(self.style.apply(span("bold", self.prompt)) + line.strip())
                self.handle(line.strip())
        except Quit:
            pass
        self.close_forms()
        return 1 if self.errors else 0

    def interact(self, stdin: TextIO, *, tty: bool = False) -> int:
        """The interactive loop. Ctrl-D and Ctrl-C leave; input is echoed when it is not a terminal."""
        ask = self._asker(stdin, tty)
        self.welcome()
        try:
            while True:
                try:
                    line = ask(self.prompt, bold=True)
                except EOFError:
                    self.say()
                    break
                if not line.strip():
                    continue
                self.handle(line.strip(), ask=ask)
        except (KeyboardInterrupt, Quit):
            self.say()
        self.close_forms()
        self.note("Bye: the emulator, the fake Slack and the temporary database are gone.")
        return 0

    def _asker(self, stdin: TextIO, tty: bool) -> Callable[..., str]:
        def ask(prompt: str, *, bold: bool = False) -> str:
            shown = self.style.apply(span("bold", prompt)) if bold else prompt
            if tty:
                # readline counts the width of the prompt: mark escapes as invisible.
                return input(re.sub(r"(\x1b\[[0-9;]*m)", "\x01\\1\x02", shown))
            self.out.write(shown)
            self.out.flush()
            line = stdin.readline()
            if not line:
                raise EOFError
            self.out.write(line if line.endswith("\n") else line + "\n")
            return line.rstrip("\n")

        return ask

    def welcome(self) -> None:
        others = ", ".join(f"{n} ({ROLES[n]})" for n in USERS if n != self.user)
        self.say(self.renderer().text(span("bold", "ona-bot demo") + ": the real bot, on a local Ona emulator "
                                      "and a fake Slack. Nothing leaves this machine."))
        self.note(f"You are {self.user} ({ROLES[self.user]}) in #ops. Also here: {others}. Approval "
                  f"requests go to #approvals (policy: {self.session.policy_origin}).")
        self.note("Try /ona help, /ona policies, /ona banner. :help lists the shell's commands; Ctrl-D leaves.")
        self.say()

    # --- one line -------------------------------------------------------------------------------

    def handle(self, line: str, ask: Callable[..., str] | None = None) -> None:
        line = re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", " ", line)
        if line.startswith(">"):
            if self.answer(line):
                self.say()
            return
        if self.forms:
            self.close_forms()
        try:
            if line.startswith(":"):
                self.shell_command(line, ask)
            elif line.startswith("/"):
                self.slash(line)
            else:
                self.note(f"Type /ona {line.split(' ')[0]} … to talk to the bot, or :help for the shell.")
        except (Quit, KeyboardInterrupt):
            raise
        except Exception as exc:  # a demo bug must not end the session; the bot's own errors are replies
            self.errors += 1
            self.say(self.renderer().text(span("bold red", f"demo error: {type(exc).__name__}: {exc}")))
        if ask is not None and self.forms:
            self.fill(ask)
        self.say()

    def slash(self, line: str) -> None:
        command, _, text = line.partition(" ")
        if command != "/ona":
            self.note(f"Only /ona is installed in this workspace (not {command}).")
            return
        self.show(self.session.command(self.user_id, self.channel, text.strip()))

    def shell_command(self, line: str, ask: Callable[..., str] | None) -> None:
        name, _, rest = line.partition(" ")
        name, rest = name.lower(), rest.strip()
        if name in (":quit", ":exit", ":q"):
            raise Quit
        if name == ":help":
            self.say(self.style.apply(HELP))
        elif name == ":as":
            self.switch_user(rest)
        elif name == ":in":
            self.switch_channel(rest)
        elif name == ":click":
            self.click(rest, ask)
        elif name == ":home":
            self.show(self.session.open_home(self.user_id), home=True)
        elif name == ":dns":
            self.dns(rest)
        elif name == ":who":
            self.note(f"You are {self.user} ({ROLES[self.user]}) in #{self.channel_names[self.channel]}.")
        else:
            near = difflib.get_close_matches(name, SHELL_COMMANDS, n=1, cutoff=0.5)
            hint = f" Did you mean {near[0]}?" if near else ""
            self.note(f"Unknown shell command {name}.{hint} :help lists them.")

    # --- :as, :in, :dns -------------------------------------------------------------------------

    def switch_user(self, name: str) -> None:
        name = name.strip().lstrip("@").lower()
        if name not in USERS:
            choices = ", ".join(f"{n} ({ROLES[n]})" for n in USERS)
            self.note(f"There is nobody called {name or '…'} here. Choose one of: {choices}.")
            return
        self.user = name
        self.note(f"You are now {name} ({ROLES[name]}), in #{self.channel_names[self.channel]}.")
        self.catch_up()

    def switch_channel(self, name: str) -> None:
        cid = channel_id(name) if name.strip() else None
        if cid is None:
            self.note("Give a channel, e.g. :in #ops or :in #approvals (approval requests go there).")
            return
        self.channel_names.setdefault(cid, name.strip().lstrip("#").lower())
        self.channel = cid
        note = " Approval requests are posted here." if cid == APPROVALS_CHANNEL else ""
        self.note(f"You are in #{self.channel_names[cid]}.{note}")
        self.catch_up()

    def catch_up(self) -> None:
        """What the current person has not seen yet: their DMs and ephemeral replies, then the
        current channel's new or edited messages."""
        shown = list(self.inbox[self.user_id])
        self.inbox[self.user_id].clear()
        seen = self.seen[self.user_id]
        for key in sorted(k for k in self.versions if k[0] == self.channel):
            if seen.get(key, 0) < self.versions[key]:
                edited = " · edited" if key in seen or self.versions[key] > 1 else ""
                shown.append(self._channel_item(key, edited))
                seen[key] = self.versions[key]
        self.render(shown, [])
        elsewhere = {}
        for key, version in self.versions.items():
            if key[0] != self.channel and seen.get(key, 0) < version:
                name = self.channel_names.get(key[0], key[0])
                elsewhere[name] = elsewhere.get(name, 0) + 1
        if elsewhere:
            self.note("Unread: " + ", ".join(f"#{n} ({c})" for n, c in sorted(elsewhere.items())))

    def dns(self, domain: str) -> None:
        if not domain:
            pending = self.session.pending_domains()
            self.note("Give a domain: :dns example.com." + (
                f" Pending: {', '.join(pending)}." if pending else " No domain is pending: /ona domain add …"))
            return
        published = self.session.publish_dns(domain)
        if published is None:
            pending = self.session.pending_domains()
            self.note(f"No pending verification of {domain}." + (
                f" Pending: {', '.join(pending)}." if pending else " Start one with /ona domain add <domain>."))
            return
        name, token = published
        self.note(f"DNS: published the TXT record of {name}: \"{token}\". Ona can see it now.")

    # --- buttons --------------------------------------------------------------------------------

    def click(self, rest: str, ask: Callable[..., str] | None) -> None:
        words = rest.split()
        answer = None
        if words and words[-1].lower() in ("y", "n", "yes", "no"):
            answer = words.pop()[0].lower()
        if not words:
            self.note("Which button? :click N (the numbers in [brackets]).")
            return
        if not self.buttons:
            self.note("No buttons to press: nothing shown so far had any.")
            return
        wanted = " ".join(words)
        button = self._button(wanted)
        if button is None:
            return
        if button.confirm:
            renderer = self.renderer()
            self.say(renderer.lines([span("dim", "┌ ") + "Confirm", *(
                span("dim", "│") + " " + line for line in confirm_text(button.confirm, renderer.viewer,
                                                                      renderer.inner))]))
            if answer is None:
                if ask is None:
                    answer = "y"  # a script confirms unless it says `:click N n`
                else:
                    try:
                        answer = (ask("y/n? ").strip().lower() or "n")[0]
                    except EOFError:
                        answer = "n"
            if answer != "y":
                self.note("Cancelled: nothing was sent.")
                return
        self.note(f"→ {button.text}" + (" · confirmed" if button.confirm else ""))
        self.press(button)

    def _button(self, wanted: str) -> Button | None:
        if wanted.isascii() and wanted.isdigit():
            number = int(wanted)
            if 1 <= number <= len(self.buttons):
                return self.buttons[number - 1]
            self.note(f"There is no button {number}: the last message(s) showed buttons 1–{len(self.buttons)}.")
            return None
        matches = [b for b in self.buttons if b.text.lower() == wanted.lower()] or [
            b for b in self.buttons if b.text.lower().startswith(wanted.lower())]
        if len(matches) == 1:
            return matches[0]
        labels = ", ".join(f"{b.number} {b.text}" for b in self.buttons)
        self.note(f"{'Several buttons match' if matches else 'No button matches'} “{wanted}”: {labels}.")
        return None

    def press(self, button: Button) -> None:
        source: Source = button.item or Source("ephemeral", channel=self.channel)
        if source.kind == "view":
            result = self.session.click(self.user_id, button.action_id, button.value, view=source.view)
        elif source.kind == "message" and source.channel and source.ts:
            stored = self.session.slack.messages.get((source.channel, source.ts)) or {}
            message = {"type": "message", "user": "U0BOT", "bot_id": "B0BOT", **stored, "ts": source.ts}
            result = self.session.click(self.user_id, button.action_id, button.value, channel=source.channel,
                                        message=message)
        else:
            result = self.session.click(self.user_id, button.action_id, button.value,
                                        channel=source.channel or self.channel)
        if result.response_url:
            self.click_sources[result.response_url.split(self.session.slack.url, 1)[1]] = source
        self.show(result)
