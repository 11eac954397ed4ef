"""`/ona <text>` → one subcommand: normalise phone typography, parse, dispatch, and turn every
failure into a friendly ephemeral answer (usage line, Ona's error in words, or a reference)."""

from __future__ import annotations

import difflib
import logging
import re
import uuid
from collections.abc import Callable, Sequence

from bot import blocks as bk
from bot import replies, usertext
from bot.approvals.store import StoreUnavailable
from bot.context import Context
from bot.logs import bind
from bot.ona.errors import ClearListError, OnaError
from bot.registry import Args, Group, Refused, Subcommand, UsageError

log = logging.getLogger("ona.bot")

# What phones and macOS substitute while typing: smart quotes, dashes, non-breaking spaces.
_TYPOGRAPHY = str.maketrans({"‘": "'", "’": "'", "‚": "'", "“": '"', "”": '"', "„": '"', "\u00a0": " ",
                             "\u2009": " ", "\u202f": " "})
_DASH_FLAG = re.compile(r"(^|\s)[—–](?=\w)")  # "—dry-run" is what "--dry-run" became
_REASON = re.compile(r"(?:^|\s)reason:\s*(.*)$", re.IGNORECASE | re.DOTALL)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
MAX_TEXT = 4000
# Slack's escaped forms (the command has should_escape on): <@U…|name>, <#C…|name>, <!here>,
# <!subteam^S…|@team>, <mailto:a@b.c|a@b.c>, <https://…|…>. Everything else came as &amp; &lt; &gt;.
_ESCAPED = re.compile(r"<([^<>|]*)(?:\|([^<>]*))?>")
_QUOTES = ('"', "'")


def _unescape_entities(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _plain_form(match: re.Match[str]) -> str:
    """One escaped form as the person typed it; a user mention stays `<@U…|name>` so commands can look it up."""
    target, label = match.group(1), match.group(2)
    if target.startswith("@"):
        return match.group(0)
    if target.startswith("#"):
        return f"#{label or target[1:]}"
    if target.startswith("!"):  # <!here>, <!subteam^S1|@oncall>, <!date^…|fallback>
        return label or "@" + target[1:].split("^")[0]
    address = target.removeprefix("mailto:")
    if not label or label in (target, address) or target.split("://", 1)[-1] == label:
        return _unescape_entities(label or address)
    return f"{_unescape_entities(label)} ({_unescape_entities(target)})"


def unescape(text: str) -> str:
    """Slack's escaped command text back to what the person typed."""
    out: list[str] = []
    last = 0
    for match in _ESCAPED.finditer(text):
        out += [_unescape_entities(text[last:match.start()]), _plain_form(match)]
        last = match.end()
    out.append(_unescape_entities(text[last:]))
    return "".join(out)


def unquote(text: str) -> str:
    """`"Maintenance"` → `Maintenance`: quotes around a whole argument are not part of it."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in _QUOTES:
        return text[1:-1].strip()
    return text


def normalise(text: str) -> str:
    text = unescape(text[:MAX_TEXT])
    text = usertext.clean(_CONTROL.sub(" ", text)).translate(_TYPOGRAPHY)
    text = _DASH_FLAG.sub(r"\1--", text)
    return re.sub(r"[ \t]{2,}", " ", text).strip()


def split_flags(words: list[str]) -> tuple[list[str], set[str]]:
    """Plain words, and the option names (`--sso=x` → "sso"); values stay reachable via Args.option."""
    flags = {w[2:].partition("=")[0].lower() for w in words if w.startswith("--") and len(w) > 2}
    return [w for w in words if not (w.startswith("--") and len(w) > 2)], flags


class Router:
    def __init__(self, groups: Sequence[Group]) -> None:
        self.groups = list(groups)
        self._by_name: dict[str, Group] = {}
        self._verbs: dict[str, Group] = {}  # subcommands typed without their group's name
        for group in self.groups:
            if not group.subcommands:  # buttons only (approval decisions): nothing to type
                continue
            for name in (group.name, *group.aliases):
                self._by_name[name] = group
            for verb in group.top_level:
                self._verbs[verb] = group
        for verb, group in self._verbs.items():
            self._by_name.setdefault(verb, group)

    def resolve(self, text: str) -> tuple[Group, Subcommand, Args]:
        """Raise UsageError (with the nearest command's usage) when the text names no command."""
        text = normalise(text)
        reason = None
        found = _REASON.search(text)
        if found:
            reason, text = unquote(found.group(1).strip()) or None, text[: found.start()].strip()
        words = text.split(" ") if text else []
        head = words[0].lower() if words else "help"
        group = self._by_name.get(head)
        if group is None:
            near = difflib.get_close_matches(head, list(self._by_name), n=1, cutoff=0.5)
            usage = self._by_name[near[0]].usages if near else ["/ona help"]
            hint = f" Did you mean `{near[0]}`?" if near else " Try `/ona help`."
            raise UsageError(f"I don't know `{head[:40]}`.{hint}", "\n".join(usage))
        rest_words = words[1:]
        if self._verbs.get(head) is group and head not in (group.name, *group.aliases):
            rest_words = words  # `/ona cancel R…`: the verb is the subcommand
        if rest_words and rest_words[0].lower() in ("help", "?") and rest_words[0].lower() not in group.subcommands:
            return self._group_help(group)
        name = rest_words[0].lower() if rest_words and rest_words[0].lower() in group.subcommands else ""
        if name:
            rest_words = rest_words[1:]
        sub = group.subcommands.get(name)
        if sub is None:
            near = difflib.get_close_matches(rest_words[0].lower() if rest_words else "", list(group.subcommands), n=1)
            hint = f" Did you mean `{group.name} {near[0]}`?" if near and near[0] else ""
            raise UsageError(f"`{group.name}` needs a subcommand.{hint}", "\n".join(group.usages))
        plain, flags = split_flags(rest_words)
        rest = unquote(" ".join(w for w in rest_words if not (w.startswith("--") and len(w) > 2)))
        return group, sub, Args(words=[unquote(w) for w in plain], rest=rest, flags=flags, reason=reason,
                                raw=rest_words)

    def _group_help(self, group: Group) -> tuple[Group, Subcommand, Args]:
        """`/ona <group> help` is `/ona help <group>`."""
        help_group = self._by_name["help"]
        return help_group, help_group.subcommands[""], Args(words=[group.name], rest=group.name)

    def group_of(self, text: str) -> str:
        """The name of the group a command's text names, or "" (for metrics: never the text itself)."""
        words = normalise(text).split(" ", 1)
        group = self._by_name.get(words[0].lower() if words[0] else "help")
        return group.name if group else ""

    def dispatch(self, ctx: Context, text: str) -> tuple[str, str]:
        """Answer one command; (the group's name or "", the result: ok, usage, refused or error)."""
        try:
            group, sub, args = self.resolve(text)
        except UsageError as exc:
            ctx.reply(replies.usage(str(exc), (exc.usage or "/ona help").split("\n")))
            return self.group_of(text), "usage"
        bind(operation=f"{group.name} {sub.name}".strip())
        ctx.dry_run = "dry-run" in args.flags
        ctx.reason = args.reason

        def run() -> None:
            if not sub.self_checked:
                ctx.check_access(group)
            sub.handler(ctx, args)

        # What to check when a change's outcome is unknown: the group's operations say (one per group).
        check = next((op.check for op in group.operations.values()), "")
        return group.name, guarded(ctx, run, usage=[f"/ona {sub.usage}"], mutating=sub.mutating, check=check)


def guarded(ctx: Context, work: Callable[[], None], *, usage: list[str], mutating: bool, check: str = "") -> str:
    """Run a handler; whatever goes wrong, the user gets an answer and the log gets the detail. Returns
    how it went, for the metrics: ok, usage, refused or error."""
    try:
        work()
    except UsageError as exc:
        _tell(ctx, replies.usage(str(exc), exc.usage.split("\n") if exc.usage else usage))
        return "usage"
    except Refused as exc:
        _tell(ctx, replies.refused(exc))
        return "refused"
    except ClearListError as exc:
        _tell(ctx, replies.info(f":warning: {exc}"))
        return "usage"
    except OnaError as exc:
        log.warning("ona error for %s: %s", ctx.user_id, exc.code)
        _tell(ctx, replies.ona_error(exc, mutating=mutating, check=check))
        return "error"
    except StoreUnavailable as exc:  # the database went away mid-way (a restart, a failover)
        log.warning("database unavailable for %s: %s", ctx.user_id, exc)
        _tell(ctx, replies.store_unavailable(full=exc.full))
        return "error"
    except Exception:
        reference = uuid.uuid4().hex[:8]
        log.exception("handler failed (reference %s)", reference)
        _tell(ctx, replies.internal_error(reference))
        return "error"
    return "ok"


def _tell(ctx: Context, payload: dict) -> None:
    """The answer goes where the person is looking: a modal this request opened (instead of its
    "Loading…"), otherwise an ephemeral reply."""
    try:
        if ctx.view_id:
            ctx.update_modal(ctx.view_id, bk.modal("Ona", bk.blocks_of(payload), callback_id="error"))
        else:
            ctx.reply(payload)
    except Exception:  # Slack itself is failing: the log is all we can do
        log.exception("could not tell %s about a failure", ctx.user_id)
