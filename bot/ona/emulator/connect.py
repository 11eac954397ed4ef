"""Connect unary, as Ona's Go server (connect-go) speaks it, over the schema's own protobuf classes.

The message classes are Ona's published schema (``gitpod.v1.organization_pb2`` in gitpod-sdk) and
protobuf does the encoding: ``ParseFromString``/``SerializeToString`` for ``application/proto``,
``json_format`` for ``application/json``. This module is the Connect layer around them
(connectrpc.com/docs/protocol):

- POST with ``Content-Type: application/proto`` or ``application/json`` (a charset parameter is
  fine); any other type is HTTP 415 with ``Accept-Post``.
- GET for the methods the schema marks ``NO_SIDE_EFFECTS`` (what the SDK's ``use_get=True`` sends:
  ``?connect=v1&encoding=proto&base64=1&compression=gzip&message=...``); GET of any other method
  is HTTP 405 with ``Allow: POST``.
- ``Content-Encoding: gzip`` (or ``identity``) request bodies, ``compression=`` on GET; another
  encoding is ``unimplemented``, as in connect-go.
- ``Connect-Protocol-Version`` (``connect=`` on GET) other than 1 is ``invalid_argument``; a missing
  one is accepted, as connect-go does by default.
- ``Connect-Timeout-Ms`` is parsed here (``invalid_argument`` when malformed) and enforced by the
  emulator, which answers ``deadline_exceeded`` once it has passed.
- Answers in the codec of the request; error bodies are always JSON, as Connect specifies.

JSON is read as connect-go's codec reads it (protojson with ``DiscardUnknown``): enum values by name
or number, int64 as a number or a string, proto field names as well as JSON names; a quoted boolean
is an error; unknown fields and unknown enum names are ignored. ``strict=True`` (``ona-bot emulator
--strict``) rejects them instead, in JSON and in binary, so that client authors see their typos.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qs

from gitpod.v1 import organization_pb2
from google.protobuf import descriptor_pb2, json_format, message_factory
from google.protobuf.message import DecodeError, Message

from bot.ona.emulator.rpc import SERVICE, ConnectError, Undecodable

# A request larger than this once decompressed is refused (a gzip bomb would otherwise fill memory).
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
SUPPORTED_COMPRESSIONS = ("gzip", "identity")


class Codec(StrEnum):
    PROTO = "proto"
    JSON = "json"

    @property
    def content_type(self) -> str:
        return f"application/{self.value}"


ACCEPT_POST = ", ".join(codec.content_type for codec in Codec)


@dataclass(frozen=True)
class MethodSchema:
    request: type[Message]
    response: type[Message]
    no_side_effects: bool  # the schema's idempotency_level: GET is allowed


def _schema() -> dict[str, MethodSchema]:
    service = organization_pb2.DESCRIPTOR.services_by_name[SERVICE.rsplit(".", 1)[1]]
    no_side_effects = descriptor_pb2.MethodOptions.IdempotencyLevel.Value("NO_SIDE_EFFECTS")
    return {
        method.name: MethodSchema(
            request=message_factory.GetMessageClass(method.input_type),
            response=message_factory.GetMessageClass(method.output_type),
            no_side_effects=method.GetOptions().idempotency_level == no_side_effects,
        )
        for method in service.methods
    }


# Every method of the schema's OrganizationService (44 in gitpod-sdk 1.2), emulated or not.
SCHEMA: dict[str, MethodSchema] = _schema()


class Refusal(ConnectError):
    """A call refused by the protocol layer, with the HTTP status and headers Connect prescribes."""

    def __init__(self, code: str, message: str, status: int | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(code, message)
        self.status = status
        self.headers = headers or {}

    @property
    def http_status(self) -> int:
        return self.status or super().http_status


@dataclass
class Request:
    """One call as read off the wire: what the service sees and what the request log shows."""

    codec: Codec = Codec.JSON
    compression: str | None = None
    timeout: float | None = None  # seconds, from Connect-Timeout-Ms
    body: Any = None  # canonical proto3 JSON for the service, or Undecodable
    logged: Any = None  # the JSON the client sent (the canonical JSON of a binary message)
    refusal: Refusal | None = None


def allowed_verbs(method: str) -> str:
    """The Allow header of a 405 for ``method``."""
    schema = SCHEMA.get(method)
    return "GET, POST" if schema and schema.no_side_effects else "POST"


def read_request(method: str, verb: str, headers: Mapping[str, str], query: str, raw: bytes,
                 strict: bool = False) -> Request:
    """Decode one call; ``headers`` has lower-case names. Protocol errors land in ``refusal``."""
    request = Request()
    try:
        _read(request, method, verb, headers, query, raw, strict)
    except Refusal as refusal:
        request.refusal = refusal
        if request.logged is None:
            request.logged = raw.decode("utf-8", "replace")
    return request


def _read(request: Request, method: str, verb: str, headers: Mapping[str, str], query: str, raw: bytes,
          strict: bool) -> None:
    schema = SCHEMA.get(method)
    if verb == "GET":
        if schema is not None and not schema.no_side_effects:
            raise Refusal("unimplemented", f"{method} has side effects: call it with POST", 405,
                          {"Allow": "POST"})
        params = {name: values[-1] for name, values in parse_qs(query, keep_blank_values=True).items()}
        _check_version(params.get("connect", "v1"), "v1", "connect query parameter")
        request.codec = _codec(params.get("encoding", ""), "encoding query parameter")
        request.compression = _compression(params.get("compression"))
        data = _get_message(params)
    else:
        request.codec = _codec(_media_type(headers.get("content-type", "")), "content type")
        _check_version(headers.get("connect-protocol-version", "1"), "1", "Connect-Protocol-Version header")
        request.compression = _compression(headers.get("content-encoding"))
        data = raw
    request.timeout = _timeout(headers.get("connect-timeout-ms"))
    data = _decompress(data, request.compression)
    if schema is None:  # not a method of the schema: the service answers unimplemented
        request.logged = request.body = _loose_json(data) if request.codec is Codec.JSON else None
        return
    message = schema.request()
    if request.codec is Codec.PROTO:
        request.logged, request.body = _from_binary(message, data, strict)
    else:
        request.logged, request.body = _from_json(message, data, strict)


def _media_type(content_type: str) -> str:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type.removeprefix("application/") if media_type.startswith("application/") else media_type


def _compression(name: str | None) -> str | None:
    """None for an uncompressed body ("identity" is what connectrpc sends when it does not compress)."""
    name = (name or "").strip().lower()
    return None if name in ("", "identity") else name


def _codec(name: str, where: str) -> Codec:
    try:
        return Codec(name)
    except ValueError:
        shown = f"application/{name}" if where == "content type" and name else name or "(none)"
        raise Refusal("unimplemented", f"{where} {shown} is not supported; use one of {ACCEPT_POST}", 415,
                      {"Accept-Post": ACCEPT_POST}) from None


def _check_version(value: str, expected: str, where: str) -> None:
    if value.strip() != expected:
        raise Refusal("invalid_argument", f"{where} must be {expected!r}: got {value!r}")


def _timeout(value: str | None) -> float | None:
    if value is None:
        return None
    value = value.strip()
    if not value.isdigit() or not value.isascii() or len(value) > 10:
        raise Refusal("invalid_argument", f"Connect-Timeout-Ms must be 1 to 10 digits: got {value!r}")
    return int(value) / 1000


def _get_message(params: dict[str, str]) -> bytes:
    message = params.get("message", "")
    if params.get("base64") != "1":
        return message.encode()
    try:  # URL-safe base64, padded or not
        return base64.urlsafe_b64decode(message + "=" * (-len(message) % 4))
    except (binascii.Error, ValueError) as exc:
        raise Refusal("invalid_argument", f"the message query parameter is not URL-safe base64: {exc}") from None


def _decompress(data: bytes, compression: str | None) -> bytes:
    if compression is None:
        return data
    if compression != "gzip":
        raise Refusal("unimplemented", f"unknown compression {compression!r}: supported encodings are "
                                       f"{', '.join(SUPPORTED_COMPRESSIONS)}")
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # gzip framing only
    try:
        out = inflater.decompress(data, MAX_MESSAGE_BYTES + 1)
    except zlib.error as exc:
        raise Refusal("invalid_argument", f"the gzip request body does not decompress: {exc}") from None
    if len(out) > MAX_MESSAGE_BYTES or inflater.unconsumed_tail:
        raise Refusal("resource_exhausted", f"the request is larger than {MAX_MESSAGE_BYTES} bytes")
    if not inflater.eof:
        raise Refusal("invalid_argument", "the gzip request body is truncated")
    return out


def _loose_json(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:  # UnicodeDecodeError included
        return data.decode("utf-8", "replace")


def _canonical(message: Message) -> dict[str, Any]:
    """proto3 JSON with the schema's JSON names: what the service and the request log see."""
    return json_format.MessageToDict(message)


def _from_binary(message: Message, data: bytes, strict: bool) -> tuple[Any, Any]:
    name = message.DESCRIPTOR.full_name
    try:
        message.ParseFromString(data)
    except DecodeError as exc:
        shown = base64.b64encode(data[:512]).decode()
        return shown, Undecodable(shown, f"the request body is not a binary {name}: {exc}")
    canonical = _canonical(message)
    if strict and _has_unknown_fields(message):
        return canonical, Undecodable(json.dumps(canonical), f"the binary {name} has fields that the schema "
                                                             "does not know (rejected by --strict)")
    return canonical, canonical


def _has_unknown_fields(message: Message) -> bool:
    """True when the message or any message in it carries fields unknown to the schema."""
    known = type(message)()
    known.CopyFrom(message)
    known.DiscardUnknownFields()  # recursive
    return known.ByteSize() != message.ByteSize()


def _from_json(message: Message, data: bytes, strict: bool) -> tuple[Any, Any]:
    try:
        text = data.decode("utf-8")
        value = json.loads(text)
    except ValueError as exc:  # UnicodeDecodeError included
        shown = data.decode("utf-8", "replace")
        return shown, Undecodable(shown, f"the request body is not valid JSON: {exc}")
    if not isinstance(value, dict):  # protobuf's parser would take [] for an empty message
        return value, Undecodable(text, "the request body must be a JSON object")
    try:
        json_format.Parse(text, message, ignore_unknown_fields=not strict)
    except json_format.ParseError as exc:
        return value, Undecodable(text, f"invalid request: {_first_line(str(exc))}")
    return value, _canonical(message)


def _first_line(text: str) -> str:
    """protobuf appends the list of every field name on a second line; the first says it all."""
    return text.split("\n", 1)[0]


def encode_response(method: str, codec: Codec, payload: dict[str, Any]) -> bytes:
    """The answer (proto3 JSON from the service) in ``codec``.

    JSON goes out as the service wrote it (bot/ona/wire.py's proto3 JSON, checked against the schema
    by the tests): a protobuf round trip would cost ten times as much per answer and change nothing
    a proto3 JSON reader sees. Binary goes through the schema's response class.
    """
    if codec is Codec.PROTO:
        return json_format.ParseDict(payload, SCHEMA[method].response()).SerializeToString()
    return json.dumps(payload).encode()


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

