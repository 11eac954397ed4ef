"""The emulator: its state, lock, injected faults and request log, served over real HTTP (Connect
unary), and its command line. The HTTP front is ``httpd.py``, the control endpoints ``control.py``,
the fault queue ``faults.py``.

``Emulator`` owns the state, the lock around it, the injected faults and the request log, and serves
``/gitpod.v1.OrganizationService/<Method>``, at the root and under ``/api`` (the base URL of Ona, of
its SDK and of the bot), from a background ``ThreadingHTTPServer``. ``connect.py`` reads and writes
the wire (binary protobuf or JSON, POST or GET, gzip, timeouts). Control endpoints (no key needed;
also under ``/api``) let another process drive it::

    POST /_emulator/reset                         back to the seed state; clears faults and the log
    POST /_emulator/dns      {"domain","token"}   publish a DNS TXT record (for VerifyDomain)
    POST /_emulator/fault    {"method","code","times","delay","retryAfter","drop","gateway","applied"}
    POST /_emulator/members  {"email","fullName","role","status"}  -> {"userId"}
    GET  /_emulator/requests                      -> {"requests": [...]}
"""

from __future__ import annotations

import argparse
import hmac
import ipaddress
import logging
import signal
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import asdict
from types import TracebackType
from typing import Any

from bot.ona.emulator import faults as fault_queue
from bot.ona.emulator.connect import SCHEMA, Reply, Request, encode_response, read_request
from bot.ona.emulator.control import CONTROL_PREFIX
from bot.ona.emulator.faults import Fault
from bot.ona.emulator.httpd import API_PREFIX, HTTPServer
from bot.ona.emulator.service import SERVICE, ConnectError, dispatch
from bot.ona.emulator.state import (
    DEFAULT_ADMIN_KEY,
    DEFAULT_MEMBER_KEY,
    DEFAULT_ORG_ID,
    DEFAULT_PORT,
    State,
    member_id,
    now,
    seed_state,
)
from bot.ona.models import METHODS, OrganizationMember, OrganizationRole, UserStatus

log = logging.getLogger(__name__)


class Emulator:
    """A local, stateful stand-in for Ona's OrganizationService. Thread safe: one lock."""

    def __init__(
        self,
        organization_id: str = DEFAULT_ORG_ID,
        admin_key: str = DEFAULT_ADMIN_KEY,
        member_key: str = DEFAULT_MEMBER_KEY,
        host: str = "127.0.0.1",
        strict: bool = False,
    ) -> None:
        if str(uuid.UUID(organization_id)) != organization_id.lower():  # fail now, not on every call
            raise ValueError(f"organization ID {organization_id!r} is not a UUID like {DEFAULT_ORG_ID}")
        if not admin_key or not member_key or admin_key == member_key:
            raise ValueError("the admin and member keys must be non-empty and different")
        self.organization_id = organization_id
        self.admin_key = admin_key
        self.member_key = member_key
        self.host = host
        # False: unknown fields and enum names in requests are ignored, as Ona's Go server does.
        # True (``--strict``): they are invalid_argument, so a client author sees their typos.
        self.strict = strict
        self._lock = threading.RLock()
        self._state = seed_state(organization_id)
        self._faults: list[Fault] = []
        self._log: list[dict[str, Any]] = []
        self._server: HTTPServer | None = None
        self._thread: threading.Thread | None = None
        # Bumped by reset(): a call still in an injected delay across a reset is abandoned, so a
        # slow call from one test cannot land in the next test's state or log.
        self._generation = 0

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self, port: int = 0) -> None:
        """Serve in a background thread; port 0 picks a free port (see ``base_url``)."""
        if self._server is not None:
            raise RuntimeError("the emulator is already running")
        self._server = HTTPServer((self.host, port), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="ona-emulator", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        server, thread, self._server, self._thread = self._server, self._thread, None, None
        if server is None:
            return
        server.shutdown()
        server.close_connections()  # idle keep-alive connections would otherwise outlive the server
        server.server_close()
        if thread is not None:
            thread.join()

    def __enter__(self) -> Emulator:
        if self._server is None:
            self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the emulator is not running; call start() first")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """The root; the API is served here and under ``api_url``."""
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        """The base URL as Ona spells it (``…/api``): give it to the official SDK or the bot."""
        return self.base_url + API_PREFIX

    # --- control ------------------------------------------------------------------------------

    @property
    def state(self) -> State:
        """The live state. Tests may read or change it (e.g. a policy changed behind the bot's back)."""
        return self._state

    def reset(self) -> None:
        """Back to the seed state; clears injected faults and the request log."""
        with self._lock:
            self._state.restore(seed_state(self.organization_id))
            self._faults.clear()
            self._log.clear()
            self._generation += 1

    def publish_dns(self, domain: str, token: str) -> None:
        """Stands in for publishing a DNS TXT record: VerifyDomain of ``domain`` then finds ``token``."""
        with self._lock:
            self._state.dns_records.setdefault(domain.strip().rstrip(".").lower(), set()).add(token)

    def inject_fault(
        self,
        method: str,
        code: str | None = "unavailable",
        times: int = 1,
        delay: float = 0.0,
        retry_after: float | None = None,
        drop: bool = False,
        gateway: int | None = None,
        applied: bool = False,
    ) -> None:
        """Make the next ``times`` calls of ``method`` ("*" for any) fail with ``code``.

        ``delay`` seconds pass before the answer; ``code=None`` with a delay answers normally, late.
        ``retry_after`` adds a Retry-After header; ``drop`` closes the connection with no answer.
        ``gateway`` (502, 503 or 504): a load balancer answers that status with an HTML page, not a
        Connect error; with ``applied`` Ona did apply the call first (a 504 after the write).
        """
        fault = Fault(method, code, times, delay, retry_after, drop, gateway, applied)
        fault_queue.check(fault)
        with self._lock:
            self._faults.append(fault)

    def add_member(
        self,
        email: str,
        full_name: str,
        role: str = OrganizationRole.MEMBER.value,
        status: str = UserStatus.ACTIVE.value,
        login_provider: str = "google",
    ) -> str:
        """Add a member (as if they had joined) and return their user ID."""
        member = OrganizationMember(
            user_id=member_id(self.organization_id, email),
            role=OrganizationRole(role),
            member_since=now(),
            full_name=full_name,
            email=email,
            status=UserStatus(status),
            login_provider=login_provider,
        )
        with self._lock:
            if any(m.email.lower() == email.lower() for m in self._state.members.values()):
                raise ValueError(f"{email} is already a member")
            self._state.former_members.pop(member.user_id, None)
            self._state.members[member.user_id] = member
        return member.user_id

    @property
    def faults(self) -> list[dict[str, Any]]:
        """The injected faults not used up yet, oldest first."""
        with self._lock:
            return [asdict(fault) for fault in self._faults]

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every API call so far: method, body (as JSON), role, status, code, arrival time, and how it
        came: verb, path, codec ("json" or "proto") and compression (None or "gzip")."""
        with self._lock:
            return [dict(entry) for entry in self._log]

    def calls(self, method: str) -> list[Any]:
        """The request bodies of ``method``, oldest first."""
        return [entry["body"] for entry in self.requests if entry["method"] == method]

    # --- serving ------------------------------------------------------------------------------

    def handle(self, method: str, headers: Mapping[str, str], raw: bytes = b"", verb: str = "POST",
               path: str = "", query: str = "") -> Reply:
        """Answer one RPC (the HTTP layer's only entry point), and log it. ``headers`` are lower case."""
        arrived = time.time()
        started = time.monotonic()
        request = read_request(method, verb, headers, query, raw, strict=self.strict)
        with self._lock:
            generation = self._generation
            fault = fault_queue.take(self._faults, method)
        deadline = None if request.timeout is None else started + request.timeout
        if fault and fault.delay:
            # The server gives up at the client's deadline (Connect-Timeout-Ms), as connect-go does.
            time.sleep(fault.delay if deadline is None else max(0.0, min(fault.delay, deadline - time.monotonic())))
        role = self._role(headers.get("authorization"))
        if deadline is not None and time.monotonic() >= deadline:
            reply = Reply.error(ConnectError("deadline_exceeded", "the Connect-Timeout-Ms deadline passed"))
        elif fault and fault.gateway:
            if fault.applied:
                self._answer(method, role, request, generation)  # Ona applies it; its answer is lost
            reply = fault_queue.gateway_reply(fault)
        else:
            reply = (fault_queue.reply(fault) if fault else None) or self._answer(method, role, request, generation)
        with self._lock:
            if generation != self._generation:
                return Reply(drop=True)
            self._log.append({
                "method": method,
                "body": request.logged,
                "role": role,
                "status": None if reply.drop else reply.status,
                "code": reply.code,
                "time": arrived,
                "verb": verb,
                "path": path,
                "codec": request.codec.value,
                "compression": request.compression,
            })
        return reply

    def _answer(self, method: str, role: str | None, request: Request, generation: int) -> Reply:
        if request.refusal is not None:
            return Reply.error(request.refusal)
        if method in SCHEMA and method not in METHODS:
            return Reply.error(ConnectError(
                "unimplemented", f"{SERVICE}/{method} is in Ona's schema but not emulated: the emulator "
                                 f"implements the {len(METHODS)} methods listed in its README section"))
        try:
            with self._lock:
                if generation != self._generation:
                    return Reply(drop=True)  # reset while this call was delayed
                payload = dispatch(self._state, method, role, request.body)
            content = encode_response(method, request.codec, payload)
        except ConnectError as exc:
            return Reply.error(exc)
        except Exception:  # a bug in a handler: answer as Ona would, keep serving
            log.exception("emulator handler for %s failed", method)
            return Reply.error(ConnectError("internal", "internal error"))
        return Reply(payload=payload, content=content, content_type=request.codec.content_type)

    def _role(self, authorization: str | None) -> str | None:
        scheme, _, key = (authorization or "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        key = key.strip()
        for role, expected in (("admin", self.admin_key), ("member", self.member_key)):
            if hmac.compare_digest(key.encode(), expected.encode()):
                return role
        return None


# --- command line -----------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"TCP port (default {DEFAULT_PORT}; 0 picks a free port)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1: loopback only, the keys are public)")
    parser.add_argument("--organization-id", default=DEFAULT_ORG_ID,
                        help="UUID of the emulated organization (default: the fixed demo organization)")
    parser.add_argument("--admin-key", default=DEFAULT_ADMIN_KEY, help="API key with the admin role")
    parser.add_argument("--member-key", default=DEFAULT_MEMBER_KEY,
                        help="API key with the member role (reads; joins or leaves only as itself)")
    parser.add_argument("--strict", action="store_true",
                        help="reject unknown fields and enum names in requests (Ona ignores them): "
                             "for client authors who want their typos caught")


def _is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def main(args: argparse.Namespace) -> int:
    """Run the emulator until Ctrl-C (or SIGTERM), printing how to reach it."""
    try:
        emulator = Emulator(args.organization_id, args.admin_key, args.member_key, host=args.host,
                            strict=args.strict)
        emulator.start(port=args.port)
    except ValueError as exc:
        print(f"ona-bot emulator: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"ona-bot emulator: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    stopped = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stopped.set())  # before printing: we are ready
    if not _is_loopback(args.host):
        print(f"ona-bot emulator: warning: listening on {args.host}, beyond loopback", file=sys.stderr)
    print("Ona API emulator is running (OrganizationService over Connect, binary protobuf or JSON).")
    print(f"base URL:        {emulator.api_url}")
    print(f"organization ID: {emulator.organization_id}")
    print(f"admin key:       {emulator.admin_key}")
    print(f"member key:      {emulator.member_key}")
    unknown = "rejected (--strict)" if emulator.strict else "ignored, as Ona does (--strict rejects them)"
    print(f"unknown fields:  {unknown}")
    print("Give the base URL to Ona's SDK (base_url) or to the bot (ONA_BASE_URL); the root works too.")
    print(f"Control: POST {emulator.base_url}{CONTROL_PREFIX}reset, {CONTROL_PREFIX}dns, {CONTROL_PREFIX}fault, "
          f"{CONTROL_PREFIX}members; GET {CONTROL_PREFIX}requests.")
    print("Press Ctrl-C to stop.", flush=True)
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        emulator.stop()
    print("Emulator stopped.")
    return 0
