"""The emulator over real HTTP (Connect unary), its control endpoints and its command line.

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
import contextlib
import hmac
import ipaddress
import json
import logging
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from bot.ona.emulator.connect import SCHEMA, Request, allowed_verbs, encode_response, read_request
from bot.ona.emulator.service import HTTP_STATUS, SERVICE, ConnectError, decode_body, dispatch
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

RPC_PREFIX = f"/{SERVICE}/"
API_PREFIX = "/api"  # Ona's public base URL is https://app.ona.com/api
CONTROL_PREFIX = "/_emulator/"
ANY_METHOD = "*"


@dataclass
class Fault:
    """The next ``remaining`` calls of ``method`` misbehave like this."""

    method: str
    code: str | None
    remaining: int
    delay: float = 0.0
    retry_after: float | None = None
    drop: bool = False
    gateway: int | None = None  # a gateway in front of Ona answers this HTTP status with an HTML page
    applied: bool = False  # …after Ona applied the call (the answer was lost on the way back)


GATEWAY_PAGES = {502: "502 Bad Gateway", 503: "503 Service Unavailable", 504: "504 Gateway Time-out"}


@dataclass
class Reply:
    """A transport-neutral answer; ``drop`` means close the connection without one."""

    status: int = 200
    payload: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    # An RPC answer already encoded in the codec of the request; otherwise ``payload`` as JSON.
    content: bytes | None = None
    content_type: str = "application/json"

    @classmethod
    def error(cls, exc: ConnectError, status: int | None = None, headers: dict[str, str] | None = None) -> Reply:
        """An error body (JSON whatever the codec, as Connect specifies); ``status`` overrides the code's
        HTTP status for HTTP-level refusals."""
        return cls(status or exc.http_status, exc.to_json(), headers or dict(getattr(exc, "headers", {})))

    @property
    def code(self) -> str | None:
        return None if self.status == 200 or self.drop else self.payload.get("code")


def _seconds(value: float) -> str:
    """Retry-After in whole seconds when possible; fractions keep fast tests fast."""
    return str(int(value)) if float(value).is_integer() else str(value)


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
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        # Bumped by reset(): a call still in an injected delay across a reset is abandoned, so a
        # slow call from one test cannot land in the next test's state or log.
        self._generation = 0

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self, port: int = 0) -> None:
        """Serve in a background thread; port 0 picks a free port (see ``base_url``)."""
        if self._server is not None:
            raise RuntimeError("the emulator is already running")
        self._server = _Server((self.host, port), self)
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
        if method != ANY_METHOD and method not in METHODS:
            raise ValueError(f"unknown method {method!r}")
        if gateway is not None and gateway not in GATEWAY_PAGES:
            raise ValueError(f"a gateway answers 502, 503 or 504, not {gateway!r}")
        if code is not None and code not in HTTP_STATUS:
            raise ValueError(f"unknown Connect code {code!r}")
        if times < 1 or delay < 0 or (retry_after is not None and retry_after < 0):
            raise ValueError("times must be >= 1; delay and retry_after must be >= 0")
        with self._lock:
            self._faults.append(Fault(method, code, times, delay, retry_after, drop, gateway, applied))

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
            fault = self._take_fault(method)
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
            page = f"<html><body><h1>{GATEWAY_PAGES[fault.gateway]}</h1></body></html>".encode()
            reply = Reply(status=fault.gateway, content=page, content_type="text/html")
        else:
            reply = (self._fault_reply(fault) if fault else None) or self._answer(method, role, request, generation)
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

    def _take_fault(self, method: str) -> Fault | None:
        """The first fault for ``method``, used up once; the caller holds the lock."""
        for fault in self._faults:
            if fault.method in (method, ANY_METHOD):
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._faults.remove(fault)
                return fault
        return None

    @staticmethod
    def _fault_reply(fault: Fault) -> Reply | None:
        if fault.drop:
            return Reply(drop=True)
        if fault.code is None:
            return None  # a delay only
        headers = {"Retry-After": _seconds(fault.retry_after)} if fault.retry_after is not None else {}
        return Reply.error(ConnectError(fault.code, f"injected fault: {fault.code}"), headers=headers)

    def _role(self, authorization: str | None) -> str | None:
        scheme, _, key = (authorization or "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        key = key.strip()
        for role, expected in (("admin", self.admin_key), ("member", self.member_key)):
            if hmac.compare_digest(key.encode(), expected.encode()):
                return role
        return None


# --- control endpoints ------------------------------------------------------------------------


def _control_reset(emulator: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    emulator.reset()
    return {}


def _control_dns(emulator: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    emulator.publish_dns(str(body["domain"]), str(body["token"]))
    return {}


def _control_fault(emulator: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    retry_after = body.get("retryAfter")
    emulator.inject_fault(
        str(body["method"]),
        code=body.get("code", "unavailable"),
        times=int(body.get("times", 1)),
        delay=float(body.get("delay", 0.0)),
        retry_after=None if retry_after is None else float(retry_after),
        drop=bool(body.get("drop", False)),
        gateway=None if body.get("gateway") is None else int(body["gateway"]),
        applied=bool(body.get("applied", False)),
    )
    return {}


def _control_members(emulator: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    user_id = emulator.add_member(
        str(body["email"]),
        str(body["fullName"]),
        role=body.get("role", OrganizationRole.MEMBER.value),
        status=body.get("status", UserStatus.ACTIVE.value),
    )
    return {"userId": user_id}


def _control_requests(emulator: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    return {"requests": emulator.requests}


CONTROL: dict[tuple[str, str], Callable[[Emulator, dict[str, Any]], dict[str, Any]]] = {
    ("POST", "reset"): _control_reset,
    ("POST", "dns"): _control_dns,
    ("POST", "fault"): _control_fault,
    ("POST", "members"): _control_members,
    ("GET", "requests"): _control_requests,
}


def control(emulator: Emulator, verb: str, name: str, raw: bytes) -> Reply:
    handler = CONTROL.get((verb, name))
    if handler is None:
        other_verb = any(route == name for _, route in CONTROL)
        missing = ConnectError("not_found", f"no control endpoint {verb} {CONTROL_PREFIX}{name}")
        return Reply.error(missing, status=405 if other_verb else None)
    body = decode_body(raw) if raw.strip() else {}
    if not isinstance(body, dict):
        return Reply.error(ConnectError("invalid_argument", "the body must be a JSON object"))
    try:
        return Reply(payload=handler(emulator, body))
    except (KeyError, TypeError, ValueError) as exc:
        return Reply.error(ConnectError("invalid_argument", f"bad control request: {exc!r}"))


# --- HTTP -------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: clients reuse connections
    server_version = "OnaEmulator/1.0"
    timeout = 60  # seconds an idle keep-alive connection may hold a thread
    # Headers and body are two writes; with Nagle's algorithm and delayed ACKs each answer on a
    # keep-alive connection would wait ~40 ms.
    disable_nagle_algorithm = True
    server: _Server

    def do_POST(self) -> None:
        self._route("POST")

    def do_GET(self) -> None:
        self._route("GET")

    def do_PUT(self) -> None:
        self._read_body()
        method = self._rpc_method(self._local_path(urlsplit(self.path).path))
        refusal = ConnectError("unimplemented", "Connect unary calls use POST (or GET when free of side effects)")
        self._send(Reply.error(refusal, status=405, headers={"Allow": allowed_verbs(method)}))

    do_DELETE = do_PATCH = do_PUT

    def _route(self, verb: str) -> None:
        url = urlsplit(self.path)
        raw = self._read_body()
        local = self._local_path(url.path)
        emulator = self.server.emulator
        if local.startswith(CONTROL_PREFIX):
            self._send(control(emulator, verb, local.removeprefix(CONTROL_PREFIX), raw))
            return
        headers = {name.lower(): value for name, value in self.headers.items()}
        self._send(emulator.handle(self._rpc_method(local), headers, raw, verb=verb, path=url.path, query=url.query))

    @staticmethod
    def _local_path(path: str) -> str:
        """The path without the ``/api`` prefix: both spellings of the base URL work."""
        return path.removeprefix(API_PREFIX) if path.startswith(API_PREFIX + "/") else path

    @staticmethod
    def _rpc_method(path: str) -> str:
        return path.removeprefix(RPC_PREFIX) if path.startswith(RPC_PREFIX) else path.lstrip("/")

    def _read_body(self) -> bytes:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, reply: Reply) -> None:
        if reply.drop:
            self.close_connection = True  # nothing written: the client sees the connection close
            return
        data = reply.content if reply.content is not None else json.dumps(reply.payload).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the Emulator keeps its own request log."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog of 5 overflows under a burst of concurrent clients.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], emulator: Emulator) -> None:
        self.emulator = emulator
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (e.g. after its read timeout) is routine, not worth a traceback."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the client
                connection.shutdown(socket.SHUT_RDWR)


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
