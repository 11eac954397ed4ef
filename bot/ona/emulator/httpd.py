"""The emulator's HTTP front: routes ``/gitpod.v1.OrganizationService/<Method>`` (at the root and under
``/api``) to ``Emulator.handle`` and ``/_emulator/…`` to the control endpoints, on a threading server
that can close its idle keep-alive connections when stopped."""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from bot.ona.emulator.connect import Reply, allowed_verbs
from bot.ona.emulator.control import CONTROL_PREFIX, control
from bot.ona.emulator.service import SERVICE, ConnectError

if TYPE_CHECKING:
    from bot.ona.emulator.server import Emulator

RPC_PREFIX = f"/{SERVICE}/"
API_PREFIX = "/api"  # Ona's public base URL is https://app.ona.com/api



class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: clients reuse connections
    server_version = "OnaEmulator/1.0"
    timeout = 60  # seconds an idle keep-alive connection may hold a thread
    # Headers and body are two writes; with Nagle's algorithm and delayed ACKs each answer on a
    # keep-alive connection would wait ~40 ms.
    disable_nagle_algorithm = True
    server: HTTPServer

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


class HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog of 5 overflows under a burst of concurrent clients.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], emulator: Emulator) -> None:
        self.emulator = emulator
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, Handler)

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

