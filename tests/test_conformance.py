"""Schema conformance: our generated wire models against Ona's published protobuf (gitpod-sdk).

For every one of the 35 OrganizationService methods:

* a request with every field populated, serialised by our model, must be accepted by protobuf's
  own proto3-JSON parser (unknown fields rejected) and re-serialise to the same JSON;
* a response with every field populated by protobuf must survive our model's parse and
  re-serialisation unchanged, so a misspelled or missing field fails.

Protobuf classes are matched to ours by name: gitpod.v1.X.Y <-> XY.
"""

from __future__ import annotations

import json
import re
import types
import typing
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any

import pytest
from gitpod.v1 import organization_pb2  # gitpod-sdk: a dev dependency, the published schema
from google.protobuf import json_format, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from pydantic import Field, create_model

from bot.ona import models
from bot.ona.models import METHODS
from bot.ona.wire import WireEnum, WireModel

SERVICE = organization_pb2.DESCRIPTOR.services_by_name["OrganizationService"]
WELL_KNOWN = {"google.protobuf.Duration", "google.protobuf.Timestamp"}


def class_name(full_name: str) -> str:
    """gitpod.v1.ListMembersRequest.Filter -> ListMembersRequestFilter (as tools/gen_models.py)."""
    return "".join(full_name.split(".")[2:])


def _closure() -> dict[str, Descriptor]:
    """Every message reachable from the 35 methods, by our class name."""
    found: dict[str, Descriptor] = {}

    def walk(desc: Descriptor) -> None:
        if desc.full_name in WELL_KNOWN or class_name(desc.full_name) in found:
            return
        if desc.GetOptions().map_entry:
            value = desc.fields_by_name["value"]
            if value.message_type is not None:
                walk(value.message_type)
            return
        found[class_name(desc.full_name)] = desc
        for field in desc.fields:
            if field.message_type is not None:
                walk(field.message_type)

    for method in METHODS:
        walk(SERVICE.methods_by_name[method].input_type)
        walk(SERVICE.methods_by_name[method].output_type)
    return found


DESCRIPTORS = _closure()


def pb_class(desc: Descriptor) -> type[Message]:
    return message_factory.GetMessageClass(desc)


def real_oneofs(desc: Descriptor) -> list[list[str]]:
    """The field names of each true oneof (not the synthetic ones behind proto3 `optional`)."""
    return [
        [f.name for f in oneof.fields]
        for oneof in desc.oneofs
        if len(oneof.fields) > 1 or not oneof.name.startswith("_")
    ]


def excluded_by_variant(desc: Descriptor, variant: int) -> set[str]:
    """Variant k sets the k-th member of every oneof; the other members are left out."""
    out: set[str] = set()
    for group in real_oneofs(desc):
        chosen = group[variant % len(group)]
        out.update(name for name in group if name != chosen)
    return out


def variant_count(root: Descriptor) -> int:
    seen: set[str] = set()
    most = 1

    def walk(desc: Descriptor) -> None:
        nonlocal most
        if desc.full_name in seen or desc.full_name in WELL_KNOWN:
            return
        seen.add(desc.full_name)
        for group in real_oneofs(desc):
            most = max(most, len(group))
        for field in desc.fields:
            if field.message_type is not None:
                walk(field.message_type)

    walk(root)
    return most


CASES = [
    pytest.param(method, variant, id=f"{method}-{variant}" if variant else method)
    for method in METHODS
    for variant in range(
        max(variant_count(SERVICE.methods_by_name[method].input_type),
            variant_count(SERVICE.methods_by_name[method].output_type))
    )
]


# --- normalisation --------------------------------------------------------------------------

_DURATION = re.compile(r"^-?\d+(\.\d+)?s$")
_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def normalise(value: Any) -> Any:
    """Make equal proto3 JSON values compare equal: "1.500s" == "1.5s", ".117Z" == ".117000Z"."""
    if isinstance(value, dict):
        return {k: normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if isinstance(value, str) and _DURATION.match(value):
        return ("duration", Decimal(value[:-1]).normalize())
    if isinstance(value, str) and _TIMESTAMP.match(value):
        return ("timestamp", datetime.fromisoformat(value.replace("Z", "+00:00")))
    return value


# --- (a) requests: populate our pydantic model ---------------------------------------------

STAMP = datetime(2019, 12, 27, 18, 11, 19, 117000, tzinfo=UTC)


def _unwrap(tp: Any) -> Any:
    """Strip Optional[...] and Annotated[...] down to the payload type."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            tp = next(a for a in typing.get_args(tp) if a is not type(None))
        else:
            return tp


def sample_value(tp: Any, name: str, variant: int) -> Any:
    tp = _unwrap(tp)
    origin = typing.get_origin(tp)
    if origin is list:
        return [sample_value(typing.get_args(tp)[0], name, variant)]
    if origin is dict:
        return {f"{name}-key": sample_value(typing.get_args(tp)[1], name, variant)}
    if isinstance(tp, type) and issubclass(tp, WireModel):
        return populate_model(tp, variant)
    if isinstance(tp, type) and issubclass(tp, WireEnum):
        return list(tp)[-1]  # a non-zero member: the zero value would be omitted
    scalars: dict[Any, Any] = {
        str: f"{name}-value",
        bool: True,
        int: 7,
        float: 1.5,
        timedelta: timedelta(seconds=3600, milliseconds=500),
        datetime: STAMP,
    }
    if tp in scalars:
        return scalars[tp]
    raise TypeError(f"no sample for {tp!r} ({name})")


def populate_model(cls: type[WireModel], variant: int = 0) -> WireModel:
    """Every field set, except the oneof members this variant leaves out."""
    desc = DESCRIPTORS.get(cls.__name__)
    skip = excluded_by_variant(desc, variant) if desc is not None else set()
    values = {
        name: sample_value(info.annotation, name, variant)
        for name, info in cls.model_fields.items()
        if name not in skip
    }
    return cls(**values)


def assert_request_conforms(model_cls: type[WireModel], pb_cls: type[Message], variant: int = 0) -> None:
    wire = populate_model(model_cls, variant).to_wire()
    text = json.dumps(wire)
    try:
        message = json_format.Parse(text, pb_cls())  # unknown fields are errors by default
    except json_format.ParseError as exc:
        raise AssertionError(f"protobuf rejects our {model_cls.__name__}: {exc}") from exc
    back = json.loads(json_format.MessageToJson(message))
    assert normalise(back) == normalise(wire), f"{model_cls.__name__} changed in protobuf's round trip"


# --- (b) responses: populate the protobuf message --------------------------------------------

INT64 = (FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_SINT64, FieldDescriptor.TYPE_SFIXED64,
         FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED64)
INT32 = (FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SFIXED32,
         FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_FIXED32)


def pb_scalar(field: FieldDescriptor) -> Any:
    if field.enum_type is not None:
        return field.enum_type.values[-1].number
    if field.type == FieldDescriptor.TYPE_STRING:
        return f"{field.name}-value"
    if field.type == FieldDescriptor.TYPE_BOOL:
        return True
    if field.type in INT64:
        return 9_007_199_254_740_993  # above 2**53: survives only as a string
    if field.type in INT32:
        return 7
    if field.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return 1.5
    if field.type == FieldDescriptor.TYPE_BYTES:
        return b"bytes"
    raise TypeError(f"no sample for {field.full_name}")


def fill_pb(message: Message, variant: int = 0) -> Message:
    """Set every field of a protobuf message, recursively (maps, repeated, enums, WKTs)."""
    desc = message.DESCRIPTOR
    if desc.full_name == "google.protobuf.Duration":
        message.seconds, message.nanos = 3600, 500_000_000
        return message
    if desc.full_name == "google.protobuf.Timestamp":
        message.seconds, message.nanos = 1_577_470_279, 117_000_000
        return message
    skip = excluded_by_variant(desc, variant)
    for field in desc.fields:
        if field.name not in skip:
            _fill_field(message, field, variant)
    return message


def _fill_field(message: Message, field: FieldDescriptor, variant: int) -> None:
    target = getattr(message, field.name)
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        value_field = field.message_type.fields_by_name["value"]
        key = f"{field.name}-key"
        if value_field.message_type is not None:
            fill_pb(target[key], variant)
        else:
            target[key] = pb_scalar(value_field)
    elif field.label == FieldDescriptor.LABEL_REPEATED:
        if field.message_type is not None:
            fill_pb(target.add(), variant)
        else:
            target.append(pb_scalar(field))
    elif field.message_type is not None:
        fill_pb(target, variant)
        target.SetInParent()  # an empty message type still counts as set
    else:
        setattr(message, field.name, pb_scalar(field))


def assert_response_conforms(model_cls: type[WireModel], pb_cls: type[Message], variant: int = 0) -> None:
    message = fill_pb(pb_cls(), variant)
    proto_json = json.loads(json_format.MessageToJson(message))
    parsed = model_cls.model_validate(proto_json)
    ours = parsed.to_proto_json()
    assert normalise(ours) == normalise(proto_json), (
        f"{model_cls.__name__} lost or renamed fields: "
        f"missing {sorted(set(proto_json) - set(ours))}, extra {sorted(set(ours) - set(proto_json))}"
    )


# --- the tests ------------------------------------------------------------------------------


def _pair(method: str, side: int) -> tuple[type[WireModel], type[Message]]:
    ours = METHODS[method][side]
    desc = SERVICE.methods_by_name[method].input_type if side == 0 else SERVICE.methods_by_name[method].output_type
    assert ours.__name__ == class_name(desc.full_name)
    return ours, pb_class(desc)


def test_the_35_documented_methods() -> None:
    assert len(METHODS) == 35
    assert set(METHODS) <= set(SERVICE.methods_by_name)


@pytest.mark.parametrize(("method", "variant"), CASES)
def test_request_accepted_by_protobuf(method: str, variant: int) -> None:
    assert_request_conforms(*_pair(method, 0), variant)


@pytest.mark.parametrize(("method", "variant"), CASES)
def test_response_parsed_without_loss(method: str, variant: int) -> None:
    assert_response_conforms(*_pair(method, 1), variant)


@pytest.mark.parametrize("name", sorted(DESCRIPTORS))
def test_every_message_has_exactly_the_schema_fields(name: str) -> None:
    """Field names and JSON names, message by message (the round trips only see populated ones)."""
    ours: type[WireModel] = getattr(models, name)
    desc = DESCRIPTORS[name]
    expected = {f.name: f.json_name for f in desc.fields}
    actual = {n: (info.alias or n) for n, info in ours.model_fields.items()}
    assert actual == expected
    repeated = {f.name for f in desc.fields if f.label == FieldDescriptor.LABEL_REPEATED}
    assert ours._repeated == repeated


def test_populators_leave_no_field_unset() -> None:
    """Guard the guards: the samples really set every field, so the round trips cover them all."""
    wire = populate_model(models.UpdateOrganizationPoliciesRequest).to_wire()
    assert set(wire) == {f.json_name for f in DESCRIPTORS["UpdateOrganizationPoliciesRequest"].fields}
    filled = json.loads(json_format.MessageToJson(fill_pb(pb_class(DESCRIPTORS["OrganizationPolicies"])())))
    assert set(filled) == {f.json_name for f in DESCRIPTORS["OrganizationPolicies"].fields}
    assert filled["maximumEnvironmentsPerUser"] == "9007199254740993"
    assert filled["maximumEnvironmentTimeout"] == "3600.500s"


def test_oneof_variants_cover_both_join_ids() -> None:
    sent = [set(populate_model(models.JoinOrganizationRequest, v).to_wire()) for v in range(2)]
    assert sent == [{"organizationId"}, {"inviteId"}]


# --- meta: the checks can fail --------------------------------------------------------------


def _copy(cls: type[WireModel], rename: dict[str, str], retype: dict[str, Any]) -> type[WireModel]:
    """A copy of ``cls`` with fields renamed or retyped: what a generator bug would produce."""
    fields: dict[str, Any] = {}
    for name, info in cls.model_fields.items():
        default = Field(default_factory=info.default_factory) if info.default_factory else info.default
        fields[rename.get(name, name)] = (retype.get(name, info.annotation), default)
    copy: type[WireModel] = create_model(cls.__name__, __base__=WireModel, **fields)
    copy._repeated = cls._repeated
    return copy


def test_meta_a_renamed_response_field_fails() -> None:
    broken = _copy(models.OrganizationMember, {"full_name": "fullname"}, {})
    pb = pb_class(DESCRIPTORS["OrganizationMember"])
    assert_response_conforms(models.OrganizationMember, pb)  # the original passes...
    with pytest.raises(AssertionError, match="fullName"):
        assert_response_conforms(broken, pb)  # ...the typo does not


def test_meta_a_renamed_request_field_fails() -> None:
    broken = _copy(models.SetRoleRequest, {"user_id": "userid"}, {})
    pb = pb_class(DESCRIPTORS["SetRoleRequest"])
    assert_request_conforms(models.SetRoleRequest, pb)
    with pytest.raises(AssertionError, match="userid"):
        assert_request_conforms(broken, pb)


def test_meta_an_int64_sent_as_a_number_fails() -> None:
    """protobuf accepts 20 for an int64, but emits "20": the round trip catches a plain-int model."""
    ok = models.UpdateOrganizationPoliciesRequest
    broken = _copy(ok, {}, {"maximum_environments_per_user": int | None})
    pb = pb_class(DESCRIPTORS["UpdateOrganizationPoliciesRequest"])
    assert_request_conforms(ok, pb)
    with pytest.raises(AssertionError, match="round trip"):
        assert_request_conforms(broken, pb)


def test_enum_classes_match_the_schema() -> None:
    seen: dict[str, list[str]] = {}
    for desc in DESCRIPTORS.values():
        for field in desc.fields:
            enum = field.enum_type
            if field.message_type is not None and field.message_type.GetOptions().map_entry:
                enum = field.message_type.fields_by_name["value"].enum_type
            if enum is not None:
                seen[enum.name] = [v.name for v in enum.values]
    for name, values in seen.items():
        ours: type[Enum] = getattr(models, name)
        assert [m.value for m in ours] == values, name
