"""The demo shell's modals: a script's `> Field: value` lines, or field-by-field questions, then
submitting the way Slack does (its own checks first, then the bot's)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bot.demo.forms import Form, FormError
from bot.demo.render import Renderer
from bot.demo.session import Result, Session
from bot.demo.shown import Quit, Shown
from bot.demo.terminal import span


class Modals:
    """The modal half of ``Shell`` (a mixin: it uses the shell's output and its view of the bot)."""

    session: Session
    forms: list[Form]

    if TYPE_CHECKING:
        @property
        def user_id(self) -> str: ...
        def renderer(self) -> Renderer: ...
        def say(self, text: str = "") -> None: ...
        def note(self, text: str) -> None: ...
        def render(self, items: list[Shown], notices: list[str]) -> None: ...
        def show(self, result: Result, *, submitted: Form | None = None, home: bool = False) -> dict[str, str]: ...
        def _form_item(self, form: Form, *, errors: dict[str, str] | None = None, only: set[str] | None = None,
                       note: str = "") -> Shown: ...


    @property
    def form(self) -> Form | None:
        return self.forms[-1] if self.forms else None

    def answer(self, line: str) -> bool:
        """A script's `> Field: value`, `> submit` or `> cancel` for the open modal. True when
        the modal was submitted or closed (the end of a step)."""
        form = self.form
        body = line[1:].strip()
        if form is None:
            self.note("No modal is open: `>` lines answer the modal the line before them opened.")
            return False
        if body.lower() in ("submit", ""):
            if not form.submit_label:
                self.note("This modal has no submit button: > cancel closes it.")
                return False
            self.submit_form()
            return True
        if body.lower() in ("cancel", "close"):
            self.close_forms()
            return True
        name, sep, value = body.partition(":")
        if not sep:
            self.note("Write > Field: value, > submit or > cancel.")
            return False
        try:
            f = form.find(name)
            form.set(f, value)
        except FormError as exc:
            self.note(str(exc))
        return False

    def close_forms(self) -> None:
        if self.forms:
            self.note(f"(closed “{self.forms[-1].title}” without submitting)")
        self.forms.clear()

    def submit_form(self) -> dict[str, str]:
        """Submit the open modal as Slack would: its own checks first, then the bot's (errors shown
        inline); the bot may answer with the next view. Returns the errors, if any."""
        form = self.form
        assert form is not None
        errors = form.client_errors()
        if errors:
            self.render([self._form_item(form, errors=errors, only=set(errors), note=" · not sent")], [])
            return errors
        result = self.session.submit(self.user_id, form.submission_view(), form.state_values())
        return self.show(result, submitted=form)

    def fill(self, ask: Callable[..., str]) -> None:
        """Interactive: ask for every field, submit, ask again for the fields at fault; until the
        modal closes. "n" at the submit question closes it (like its ✕); Ctrl-C and Ctrl-D leave."""
        todo: set[str] | None = None
        self.note("Fill in the form: Enter keeps the value in [brackets], - clears it.")
        try:
            while self.form is not None:
                form = self.form
                for f in form.fields:
                    if todo is None or f.block_id in todo:
                        self.ask_field(form, f, ask)
                label = form.submit_label
                if not label:
                    ask("(Enter closes it) ")
                    self.forms.pop()
                    continue
                if ask(f"Submit “{label}”? [Y/n] ").strip().lower() in ("n", "no"):
                    self.close_forms()
                    return
                errors = self.submit_form()
                todo = set(errors) if errors and self.form is form else None
        except (KeyboardInterrupt, EOFError):
            self.say()
            self.close_forms()
            raise Quit from None

    def ask_field(self, form: Form, f: Any, ask: Callable[..., str]) -> None:
        renderer = self.renderer()
        if f.options:  # numbered choices; a no-break space keeps each number with its label
            cells = [f"{span('bold', str(i))}\u00a0{label.replace(' ', chr(0xA0))}"
                     for i, (_, label) in enumerate(f.options, 1)]
            self.say(renderer.text("   ".join(cells), indent="  "))
        while True:
            how = f" ({f.describe()})" if f.kind not in ("text", "other") else ""
            raw = ask(f"{f.label} [{form.shown(f)}]{how}: ")
            if raw == "":
                return
            try:
                form.set(f, raw)
                return
            except FormError as exc:
                self.note(str(exc))
