"""Slack wiring: build the Bolt app and register `/ona`, every button, modal and shortcut of every group,
and the App Home (drawn when opened, and again after a click in it).

Each listener acks first (Slack's 3-second deadline) and hands the work to a bounded WorkPool
(bot/work.py), so that no slow Ona call can delay another request's ack.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, BoltRequest, BoltResponse
from slack_bolt.context.respond import Respond

from bot import blocks as bk
from bot import replies, usertext
from bot.approvals.store import StoreUnavailable
from bot.approvals.views import REQUESTS_MODAL
from bot.blocks import submitted_values
from bot.context import ActionHandler, Context
from bot.logs import in_own_context
from bot.metrics import Metrics, kind_of
from bot.registry import Group, Refused, ViewSpec, action_value
from bot.router import Router, guarded
from bot.services import Services
from bot.work import WorkPool

log = logging.getLogger("ona.bot")


BUSY = ":hourglass: The bot is busy right now: please try again in a few seconds. Nothing was done."


def build_app(
    services: Services, *, signing_secret: str, process_before_response: bool = False,
    token_verification: bool = True, work: WorkPool | None = None,
) -> App:
    app = App(
        client=services.slack,
        signing_secret=signing_secret,
        process_before_response=process_before_response,
        token_verification_enabled=token_verification,
        logger=logging.getLogger("ona.bolt"),
    )
    router = Router(services.groups)
    deliveries = services.approvals.store
    pool = work or WorkPool(inline=process_before_response)
    metrics = services.metrics

    @app.middleware
    def timed_ack(request: BoltRequest, next: Callable[[], BoltResponse]) -> BoltResponse | None:
        """Ack latency: from Bolt having the (verified) request to the ack, which `next()` returns with
        (Bolt waits for the listener's ack() before answering). Registered first, so the duplicate check's
        database write is inside it."""
        started = time.monotonic()
        response = next()
        metrics.acked(kind_of(request.body), time.monotonic() - started)
        return response

    @app.middleware
    def once_per_delivery(request: BoltRequest, next: Callable[[], BoltResponse]) -> BoltResponse | None:
        """Slack retries and duplicate deliveries are acknowledged, never acted on twice: the delivery's
        trigger_id / event_id is claimed once, by whichever process on the database sees it first. A
        retry whose first delivery never arrived is acted on. Runs after Bolt's signature check."""
        key = delivery_key(request.body)
        if key is None or deliveries is None:
            # Nothing to deduplicate by: drop what Slack says is a retry. Socket Mode marks every
            # event with a retry number, 0 on the first delivery, so only a number above 0 is one.
            return BoltResponse(status=200, body="") if retry_number(request) > 0 else next()
        try:
            claimed = deliveries.claim_delivery(key)
        except StoreUnavailable as exc:
            if exc.full and retry_number(request) == 0:
                # Reads answer without the duplicate check (a repeated read is harmless); a change stops
                # at its first write with a clear message (service.DB_TROUBLE).
                log.error("configuration error: the database's disk is full; serving without the duplicate check")
                return next()
            log.warning("database busy past the ack's budget (%s): answered busy, nothing done", exc)
            metrics.turned_away(kind_of(request.body))
            metrics.handled(kind_of(request.body), "", "busy")
            return busy_response(request.body, pool)
        if not claimed:
            return BoltResponse(status=200, body="")
        return next()

    @app.command("/ona")
    def on_command(ack: Ack, body: dict[str, Any], respond: Any) -> None:
        if not pool.reserve(body.get("user_id")):
            ack(text=BUSY)
            busy(metrics, "command", router.group_of(body.get("text", "")))
            return
        ack()
        ctx = Context(
            services, user_id=body["user_id"], team_id=body.get("team_id", ""), channel_id=body.get("channel_id"),
            trigger_id=body.get("trigger_id"), response_url=body.get("response_url"), respond=respond,
        )
        pool.start(in_own_context(lambda: finished(metrics, "command", *router.dispatch(ctx, body.get("text", ""))),
                                  user=ctx.user_id, team=ctx.team_id))

    @app.event("app_home_opened")
    def on_home(event: dict[str, Any], body: dict[str, Any]) -> None:
        if event.get("tab", "home") == "home" and pool.reserve(event.get("user")):
            ctx = Context(services, user_id=event["user"], team_id=body.get("team_id", ""), surface="home")
            pool.start(in_own_context(lambda: redraw(services, ctx), user=event.get("user"), team=body.get("team_id"),
                                      operation="app home"))

    for group in services.groups:
        _register_group(app, services, group, pool, metrics)
    return app


def finished(metrics: Metrics, kind: str, group: str, result: str) -> None:
    """Count a request's work, and log one line for it (with its user, team and operation bound)."""
    metrics.handled(kind, group, result)
    log.info("%s for %s: %s", kind, group or "an unknown command", result)


def busy(metrics: Metrics, kind: str, group: str) -> None:
    metrics.turned_away(kind)
    metrics.handled(kind, group, "busy")


def busy_response(body: dict[str, Any], pool: WorkPool) -> BoltResponse:
    """The ack for a delivery the bot cannot take now: "busy, nothing was done", where the person looks."""
    if body.get("command"):  # a slash command's ack body is shown to the person who typed it
        return _json_ack({"response_type": "ephemeral", "text": BUSY})
    if body.get("type") == "view_submission":  # keep the form open, with the notice on its first field
        blocks = (body.get("view") or {}).get("blocks") or []
        field = next((b.get("block_id") for b in blocks if b.get("type") == "input" and b.get("block_id")), None)
        if field:
            return _json_ack({"response_action": "errors", "errors": {field: BUSY[:150]}})
        return _json_ack({"response_action": "update", "view": {
            "type": "modal", "title": {"type": "plain_text", "text": "Ona"},
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": BUSY}}]}})
    url = body.get("response_url")
    if url and pool.may_notify():  # a click's ack carries no message: answer it off the ack's path
        threading.Thread(target=_tell_busy, args=(url,), daemon=True).start()
    return BoltResponse(status=200, body="")


def _json_ack(payload: dict[str, Any]) -> BoltResponse:
    return BoltResponse(status=200, body=json.dumps(payload), headers={"content-type": "application/json"})


def _tell_busy(response_url: str) -> None:
    try:
        Respond(response_url=response_url)(text=BUSY, response_type="ephemeral", replace_original=False)
    except Exception:  # best effort: the person can click again
        log.warning("could not tell a clicker that the bot is busy")


def retry_number(request: BoltRequest) -> int:
    """Slack's retry count for this delivery (X-Slack-Retry-Num; Socket Mode's retry_attempt)."""
    values = request.headers.get("x-slack-retry-num") or ["0"]  # Bolt keeps header values as lists
    try:
        return int(values[0])
    except ValueError:
        return 1  # present but unreadable: treat it as a retry


def delivery_key(body: dict[str, Any]) -> str | None:
    """What makes one delivery from Slack unique: its trigger_id (commands, clicks, modals) or event_id."""
    if body.get("trigger_id"):
        return f"t:{body['trigger_id']}"
    if body.get("event_id"):
        return f"e:{body['event_id']}"
    return None


def context_from_payload(services: Services, body: dict[str, Any], respond: Any = None) -> Context:
    """A Context for a button click or a modal submission."""
    user = body.get("user") or {}
    origin: dict[str, Any] = {}
    view = body.get("view") or {}
    if view.get("private_metadata"):
        try:
            origin = json.loads(view["private_metadata"])
        except ValueError:
            origin = {}
    response_url = body.get("response_url") or origin.get("response_url")
    surface = origin.get("surface") if isinstance(origin.get("surface"), str) else None
    from_modal = False
    if body.get("type") == "block_actions" and view:  # a click in the Home or in a modal
        from_modal = view.get("type") == "modal"
        if view.get("type") == "home":
            surface = "home"
        elif view.get("callback_id") == REQUESTS_MODAL:
            surface = view.get("id")
    return Context(
        services,
        user_id=user.get("id", ""),
        team_id=user.get("team_id") or (body.get("team") or {}).get("id", ""),
        channel_id=(body.get("channel") or {}).get("id") or origin.get("channel"),
        trigger_id=body.get("trigger_id"),
        response_url=response_url,
        # A modal submission has no response_url of its own: answer where the command was typed.
        respond=(respond or Respond(response_url=response_url)) if response_url else None,
        dry_run=bool(origin.get("dry_run")),
        reason=_reason(origin.get("reason") or action_value(body).get("reason")),
        surface=surface,
        from_modal=from_modal,
    )


def _reason(value: Any) -> str | None:
    """A reason a modal's metadata or a button's value carries back: untrusted text (nothing signs a
    button's value), so cleaned of control and direction marks and cut to the reason's length."""
    return usertext.one_paragraph(value) or None if isinstance(value, str) else None


def redraw(services: Services, ctx: Context) -> None:
    """Draw the surface a click came from again (the App Home, a modal listing requests), so it shows
    the new state; never fails the click itself."""
    if not ctx.surface or services.redraw is None or ctx.view_id:
        return  # (a click that opened a form changed nothing yet: the form's submission draws it again)
    try:
        services.redraw(ctx)
    except Exception:
        log.exception("could not draw %s again for %s", ctx.surface, ctx.user_id)


def _register_group(app: App, services: Services, group: Group, pool: WorkPool, metrics: Metrics) -> None:
    # Listeners are built by factories: Bolt injects arguments by name, so no default-arg binding.
    for action_id, handler in group.actions.items():
        # Pagination buttons add ":next"/":prev" to the id; one listener serves all of them.
        listener = _action_listener(services, group, action_id, handler, pool, metrics,
                                    mutating=action_id not in group.read_only_actions)
        app.action(re.compile(rf"^{re.escape(action_id)}(:.*)?$"))(listener)
    for callback_id, spec in group.views.items():
        app.view(callback_id)(_view_listener(services, group, spec, pool, metrics))
    for callback_id, shortcut in group.shortcuts.items():
        app.shortcut(callback_id)(_shortcut_listener(services, group, callback_id, shortcut, pool))


def _shortcut_listener(services: Services, group: Group, callback_id: str, handler: ActionHandler,
                       pool: WorkPool) -> Callable[..., None]:
    """A shortcut has no channel to answer in (a global one) but a trigger_id: what it opens, or a
    refusal or "busy", is a modal."""
    def on_shortcut(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        ctx = context_from_payload(services, body)

        def tell(payload: dict[str, Any]) -> None:
            ctx.open_modal(bk.modal("Ona", bk.blocks_of(payload), callback_id="shortcut_answer", close="Close"))

        def run() -> None:
            try:
                ctx.check_access(group)
            except Refused as exc:
                tell(replies.refused(exc))
                return
            handler(ctx, body)

        if pool.reserve((body.get("user") or {}).get("id")):
            pool.start(in_own_context(lambda: guarded(ctx, run, usage=group.usages, mutating=False),
                                      user=ctx.user_id, team=ctx.team_id, operation=callback_id))
        else:
            guarded(ctx, lambda: tell(replies.info(BUSY)), usage=group.usages, mutating=False)

    return on_shortcut


def _action_listener(services: Services, group: Group, action_id: str, handler: ActionHandler, pool: WorkPool,
                     metrics: Metrics, *, mutating: bool) -> Callable[..., None]:
    def on_action(ack: Ack, body: dict[str, Any], respond: Any) -> None:
        if not pool.reserve((body.get("user") or {}).get("id")):
            ack()
            busy(metrics, "click", group.name)
            if respond is not None and pool.may_notify():  # a click's ack carries no message
                respond(text=BUSY, response_type="ephemeral", replace_original=False)
            return
        ack()
        ctx = context_from_payload(services, body, respond)

        def run() -> None:
            ctx.check_access(group, action_id)  # a forged click gets no more than the command would
            handler(ctx, body)

        def run_and_redraw() -> None:
            finished(metrics, "click", group.name, guarded(ctx, run, usage=group.usages, mutating=mutating))
            redraw(services, ctx)

        pool.start(in_own_context(run_and_redraw, user=ctx.user_id, team=ctx.team_id, operation=action_id))

    return on_action


def _view_listener(services: Services, group: Group, spec: ViewSpec, pool: WorkPool,
                   metrics: Metrics) -> Callable[..., None]:
    def on_view(ack: Ack, body: dict[str, Any]) -> None:
        view = body["view"]
        meta = _metadata(view)
        try:
            verdict = spec.validate(submitted_values(view), meta)
        except Exception:
            log.exception("validation of %s failed", spec.callback_id)
            ack()
            guarded(context_from_payload(services, body), _raise_internal, usage=group.usages, mutating=False)
            metrics.handled("submission", group.name, "error")
            return
        if verdict.get("errors"):
            ack(response_action="errors", errors=verdict["errors"])
            metrics.handled("submission", group.name, "usage")
            return
        if verdict.get("view"):  # a next step (e.g. a preview) replaces the modal
            ack(response_action="update", view=verdict["view"])
            metrics.handled("submission", group.name, "ok")
            return
        ack()
        ctx = context_from_payload(services, body)

        def run() -> None:
            ctx.check_access(group, spec.callback_id)
            spec.submit(ctx, verdict.get("params", {}), meta)

        def submit_and_redraw() -> None:
            finished(metrics, "submission", group.name, guarded(ctx, run, usage=group.usages, mutating=True))
            redraw(services, ctx)

        submit = in_own_context(submit_and_redraw, user=ctx.user_id, team=ctx.team_id, operation=spec.callback_id)
        if pool.reserve((body.get("user") or {}).get("id")):
            pool.start(submit)
        else:  # a submitted form is never dropped: run it here, in Bolt's listener thread
            submit()

    return on_view


def _raise_internal() -> None:
    raise RuntimeError("modal validation failed")


def _metadata(view: dict[str, Any]) -> dict[str, Any]:
    try:
        meta = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return {}
    return meta if isinstance(meta, dict) else {}
