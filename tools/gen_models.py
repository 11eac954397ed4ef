"""Generate bot/ona/models.py and bot/ona/rules.py from Ona's published schema.

The schema is the protobuf that Ona ships in the PyPI package ``gitpod-sdk``
(``gitpod.v1.organization_pb2``). Generating the wire models from it, rather than typing them from
the docs, is what keeps field names, int64/Duration types and enum names exactly right. The
conformance tests (tests/test_conformance.py) check the result against the same schema.

Run with ``make models``; the output is committed (gitpod-sdk is also the emulator's codec).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from buf.validate import validate_pb2 as bv
from gitpod.v1 import organization_pb2
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor

ROOT = Path(__file__).resolve().parents[1]

# The 35 OrganizationService methods documented in shared/ona-api (the schema has a few more:
# OIDC config, terms of service and billing, which the bot does not use).
METHODS = [
    "CreateOrganization", "DeleteOrganization", "JoinOrganization", "LeaveOrganization", "ListMembers",
    "GetOrganization", "SetRole", "UpdateOrganization",
    "GetAnnouncementBanner", "UpdateAnnouncementBanner",
    "CreateCustomDomain", "DeleteCustomDomain", "GetCustomDomain", "UpdateCustomDomain",
    "CreateDomainVerification", "DeleteDomainVerification", "GetDomainVerification",
    "ListDomainVerifications", "VerifyDomain",
    "CreateOrganizationInvite", "GetOrganizationInvite", "GetOrganizationInviteSummary",
    "GetOrganizationPolicies", "UpdateOrganizationPolicies",
    "CreateSCIMConfiguration", "DeleteSCIMConfiguration", "GetSCIMConfiguration",
    "ListSCIMConfigurations", "RegenerateSCIMToken", "UpdateSCIMConfiguration",
    "CreateSSOConfiguration", "DeleteSSOConfiguration", "GetSSOConfiguration",
    "ListSSOConfigurations", "UpdateSSOConfiguration",
]

SCALARS = {
    FieldDescriptor.TYPE_STRING: ("str", '""'),
    FieldDescriptor.TYPE_BOOL: ("bool", "False"),
    FieldDescriptor.TYPE_INT32: ("int", "0"),
    FieldDescriptor.TYPE_SINT32: ("int", "0"),
    FieldDescriptor.TYPE_UINT32: ("int", "0"),
    FieldDescriptor.TYPE_INT64: ("Int64", "0"),
    FieldDescriptor.TYPE_SINT64: ("Int64", "0"),
    FieldDescriptor.TYPE_UINT64: ("Int64", "0"),
    FieldDescriptor.TYPE_DOUBLE: ("float", "0.0"),
    FieldDescriptor.TYPE_FLOAT: ("float", "0.0"),
    FieldDescriptor.TYPE_BYTES: ("str", '""'),
}
WELL_KNOWN = {"google.protobuf.Duration": "Duration", "google.protobuf.Timestamp": "Timestamp"}


def class_name(full_name: str) -> str:
    """gitpod.v1.ListMembersRequest.Filter -> ListMembersRequestFilter."""
    return "".join(full_name.split(".")[2:])


def snake_to_camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def member_name(enum: EnumDescriptor, value: str) -> str:
    prefix = re.sub(r"(?<!^)(?=[A-Z][a-z])|(?<=[a-z0-9])(?=[A-Z])", "_", enum.name).upper() + "_"
    short = value[len(prefix):] if value.startswith(prefix) else value
    return short if short and not short[0].isdigit() else "V_" + short


class Generator:
    def __init__(self) -> None:
        self.messages: dict[str, Descriptor] = {}
        self.order: list[Descriptor] = []
        self.enums: dict[str, EnumDescriptor] = {}

    def walk(self, message: Descriptor) -> None:
        if message.full_name in self.messages or message.full_name in WELL_KNOWN:
            return
        self.messages[message.full_name] = message
        for field in message.fields:
            if field.enum_type is not None:
                self.enums[field.enum_type.full_name] = field.enum_type
            if field.message_type is not None:
                if field.message_type.GetOptions().map_entry:
                    value = field.message_type.fields_by_name["value"]
                    if value.message_type is not None:
                        self.walk(value.message_type)
                    if value.enum_type is not None:
                        self.enums[value.enum_type.full_name] = value.enum_type
                else:
                    self.walk(field.message_type)
        self.order.append(message)  # dependencies first

    def annotation(self, field: FieldDescriptor) -> tuple[str, str]:
        """(type annotation, default expression) of one field."""
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            key_t, _ = self.annotation(field.message_type.fields_by_name["key"])
            val_t, _ = self.annotation(field.message_type.fields_by_name["value"])
            return f"dict[{key_t}, {val_t.removesuffix(' | None')}]", "Field(default_factory=dict)"
        if field.message_type is not None:
            name = WELL_KNOWN.get(field.message_type.full_name) or class_name(field.message_type.full_name)
            base, default = name, "None"
            base = f"{base} | None"
        elif field.enum_type is not None:
            enum = field.enum_type
            base = f"_{enum.name}"
            default = f"{enum.name}.{member_name(enum, enum.values[0].name)}"
        else:
            base, default = SCALARS[field.type]
        if field.label == FieldDescriptor.LABEL_REPEATED:
            return f"list[{base.removesuffix(' | None')}]", "Field(default_factory=list)"
        if field.has_presence and field.message_type is None:  # proto3 `optional`, or a oneof member
            return f"{base} | None", "None"
        return base, default

    def render_models(self) -> str:
        out = [
            '"""Ona OrganizationService wire models: GENERATED by tools/gen_models.py from gitpod-sdk',
            f"({organization_pb2.DESCRIPTOR.name}). Do not edit by hand; run `make models`.",
            "",
            "Every message is a WireModel (bot/ona/wire.py): snake_case attributes, proto3 JSON on the wire.",
            '"""',
            "",
            "from __future__ import annotations",
            "",
            "from typing import ClassVar",
            "",
            "from pydantic import Field",
            "",
            "from bot.ona.wire import Duration, Int64, Timestamp, WireEnum, WireModel, open_enum",
            "",
        ]
        for enum in sorted(self.enums.values(), key=lambda e: e.name):
            out += ["", f"class {enum.name}(WireEnum):"]
            for value in enum.values:
                out.append(f'    {member_name(enum, value.name)} = "{value.name}"')
            out += ["", f"_{enum.name} = open_enum({enum.name})", ""]
        for message in self.order:
            name = class_name(message.full_name)
            out += ["", f"class {name}(WireModel):", f'    """{message.full_name}"""', ""]
            repeated = sorted(f.name for f in message.fields if f.label == FieldDescriptor.LABEL_REPEATED)
            listed = ", ".join(repr(name) for name in repeated)  # sorted: the output must not vary per run
            out.append(f"    _repeated: ClassVar[frozenset[str]] = frozenset({{{listed}}})" if repeated
                       else "    _repeated: ClassVar[frozenset[str]] = frozenset()")
            for field in message.fields:
                annotation, default = self.annotation(field)
                alias = ""
                if snake_to_camel(field.name) != field.json_name:
                    alias = f'Field(alias="{field.json_name}", default={default})'
                value = alias or default
                out.append(f"    {field.name}: {annotation} = {value}")
            out.append("")
        out += ["", "# method name -> (request model, response model)", "METHODS: dict[str, tuple[type[WireModel], type[WireModel]]] = {"]
        service = organization_pb2.DESCRIPTOR.services_by_name["OrganizationService"]
        for method in METHODS:
            m = service.methods_by_name[method]
            out.append(f'    "{method}": ({class_name(m.input_type.full_name)}, {class_name(m.output_type.full_name)}),')
        out += ["}", ""]
        text = "\n".join(out)
        return re.sub(r"\n{3,}", "\n\n\n", text)

    def render_rules(self) -> str:
        rules: dict[str, dict[str, dict]] = {}
        for message in self.order:
            fields = {}
            for field in message.fields:
                opts = field.GetOptions()
                if not opts.HasExtension(bv.field):
                    continue
                fields[field.json_name] = field_rule(opts.Extensions[bv.field])
            oneofs = [o for o in message.oneofs if not o.name.startswith("_")]
            for oneof in oneofs:
                fields.setdefault("__oneof__", {})[oneof.name] = [f.json_name for f in oneof.fields]
            if fields:
                rules[class_name(message.full_name)] = fields
        lines = [
            '"""buf.validate rules of the OrganizationService requests: GENERATED by tools/gen_models.py',
            'from gitpod-sdk. Do not edit by hand. The local emulator enforces them as Ona does."""',
            "",
            "from typing import Any",
            "",
            "RULES: dict[str, dict[str, Any]] = {",
        ]
        for msg, fields in rules.items():
            lines.append(f"    {msg!r}: {{")
            for fname, rule in fields.items():
                lines.append(f"        {fname!r}: {rule!r},")
            lines.append("    },")
        lines += ["}", ""]
        return "\n".join(lines)


def field_rule(rule) -> dict:
    out: dict = {}
    if rule.required:
        out["required"] = True
    if rule.ignore:
        out["ignore_if_default"] = True
    for cel in rule.cel:
        out.setdefault("cel", []).append({"id": cel.id, "message": cel.message})
    kind = rule.WhichOneof("type")
    if kind is None:
        return out
    sub = getattr(rule, kind)
    if kind == "repeated":
        if sub.HasField("min_items"):
            out["min_items"] = sub.min_items
        if sub.HasField("max_items"):
            out["max_items"] = sub.max_items
        if sub.unique:
            out["unique"] = True
        if sub.HasField("items"):
            out["items"] = field_rule(sub.items)
        return out
    if kind == "duration":
        for bound in ("gte", "lte", "gt", "lt"):
            if sub.HasField(bound):
                d = getattr(sub, bound)
                out[bound] = d.seconds + d.nanos / 1e9
        return out
    for desc, value in sub.ListFields():
        if desc.name in ("well_known",):
            continue
        out[desc.name] = value if not isinstance(value, bytes) else value.decode()
    return out


def method_name(method: str) -> str:
    """RegenerateSCIMToken -> regenerate_scim_token."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", method).lower()


def render_methods(gen: Generator) -> str:
    """Keyword-only, typed parameters per method (as Stainless SDKs have): a misspelt field is a
    TypeError at the call, and tests/test_architecture.py checks every call site's keywords."""
    service = organization_pb2.DESCRIPTOR.services_by_name["OrganizationService"]
    names = {class_name(service.methods_by_name[m].input_type.full_name) for m in METHODS} | {
        class_name(service.methods_by_name[m].output_type.full_name) for m in METHODS}
    methods: list[str] = []
    for m in METHODS:
        d = service.methods_by_name[m]
        req, resp = class_name(d.input_type.full_name), class_name(d.output_type.full_name)
        params, given = [], []
        for field in d.input_type.fields:
            annotation, _ = gen.annotation(field)
            annotation = re.sub(r"\b_([A-Z]\w*)", r"\1", annotation)  # the enum itself, not its lenient alias
            names |= set(re.findall(r"\b([A-Z]\w*)\b", annotation)) - {"None"}
            params.append(f"{field.name}: {annotation} = UNSET")
            given.append(f"{field.name}={field.name}")
        keywords = (", *, " + ", ".join(params)) if params else ""
        methods += [
            "",
            f"    def {method_name(m)}(self, request: {req} | None = None, /{keywords}) -> {resp}:",
            f'        return self._invoke("{m}", request, _given({", ".join(given)}))',
        ]
    wire = sorted(names & {"Duration", "Int64", "Timestamp"})
    models = sorted(names - set(wire))
    out = [
        '"""One typed method per OrganizationService method: GENERATED by tools/gen_models.py.',
        "",
        "Each takes either a request model or its fields as typed keyword arguments (snake_case); a field",
        "left out is not sent. The client fills ``organization_id`` from its configuration when the",
        "request has one and it is not given.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "from typing import Any",
        "",
        "from bot.ona.models import (",
        *[f"    {n}," for n in models],
        ")",
        f"from bot.ona.wire import {', '.join([*wire, 'WireModel'])}",
        "",
        "",
        "class _Unset:",
        '    """A field the caller did not give (None is a value: proto3 JSON null)."""',
        "",
        "    def __repr__(self) -> str:",
        '        return "UNSET"',
        "",
        "",
        "UNSET: Any = _Unset()",
        "",
        "",
        "def _given(**fields: Any) -> dict[str, Any]:",
        "    return {name: value for name, value in fields.items() if value is not UNSET}",
        "",
        "",
        "class OrganizationMethods:",
        '    """Mixin: the transport (OnaClient) provides ``_invoke``."""',
        "",
        "    def _invoke(self, method: str, request: WireModel | None, fields: dict[str, Any]) -> Any:",
        "        raise NotImplementedError",
        *methods,
    ]
    return "\n".join(out) + "\n"


def main() -> int:
    gen = Generator()
    service = organization_pb2.DESCRIPTOR.services_by_name["OrganizationService"]
    for method in METHODS:
        m = service.methods_by_name[method]
        gen.walk(m.input_type)
        gen.walk(m.output_type)
    (ROOT / "bot/ona/models.py").write_text(gen.render_models())
    (ROOT / "bot/ona/rules.py").write_text(gen.render_rules())
    (ROOT / "bot/ona/methods.py").write_text(render_methods(gen))
    print(f"{len(METHODS)} methods, {len(gen.messages)} messages, {len(gen.enums)} enums")
    return 0


if __name__ == "__main__":
    sys.exit(main())
