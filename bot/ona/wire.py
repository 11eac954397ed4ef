"""proto3 JSON building blocks shared by every Ona wire model.

Ona speaks Connect with the proto3 JSON mapping: camelCase names, int64 as strings, Durations as
``"3600s"``, Timestamps as RFC 3339 UTC, enums by name, zero values omitted. These types and the
``WireModel`` base class encode those rules once; ``models.py`` (generated) only declares fields.

Parsing has two modes. Lenient (the default, for responses): unknown fields are ignored and unknown
enum names become the enum's zero value, because Ona adds both over time. Strict (``parse_strict``,
used by the local emulator for requests): unknown fields and unknown enum names are errors, as Ona
rejects them with ``invalid_argument``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    ValidationInfo,
    model_validator,
)
from pydantic.alias_generators import to_camel

STRICT = {"strict_wire": True}

_DURATION = re.compile(r"^-?\d+(\.\d{1,9})?s$")


def _is_strict(info: ValidationInfo | None) -> bool:
    return bool(info and info.context and info.context.get("strict_wire"))


def parse_duration(value: Any) -> timedelta:
    """Accept only the proto3 JSON form ``"<seconds>[.<frac>]s"`` (Ona rejects ``"1h"`` and ``3600``)."""
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str) or not _DURATION.match(value):
        raise ValueError(f'a Duration must be a string of seconds such as "3600s", not {value!r}')
    try:
        seconds = Decimal(value[:-1])
    except InvalidOperation as exc:  # pragma: no cover - the regex already guards this
        raise ValueError(f"invalid Duration {value!r}") from exc
    return timedelta(seconds=float(seconds))


def format_duration(value: timedelta) -> str:
    micros = (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
    whole, frac = divmod(abs(micros), 1_000_000)
    sign = "-" if micros < 0 else ""
    return f"{sign}{whole}.{frac:06d}s" if frac else f"{sign}{whole}s"


def parse_timestamp(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str):
        raise ValueError(f"a Timestamp must be an RFC 3339 string, not {value!r}")
    text = value.replace("Z", "+00:00").replace("z", "+00:00")
    # Python < 3.12 accepts at most 6 fractional digits; proto3 may send 9.
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"invalid Timestamp {value!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_timestamp(value: datetime) -> str:
    value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}".rstrip("0")
    return text + "Z"


def _parse_int64(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("an int64 must be a number or a decimal string")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise ValueError(f"an int64 must be a decimal string such as \"20\", not {value!r}")


Int64 = Annotated[int, BeforeValidator(_parse_int64), PlainSerializer(str, return_type=str, when_used="json")]
Duration = Annotated[
    timedelta, BeforeValidator(parse_duration), PlainSerializer(format_duration, return_type=str, when_used="json")
]
Timestamp = Annotated[
    datetime, BeforeValidator(parse_timestamp), PlainSerializer(format_timestamp, return_type=str, when_used="json")
]


class WireEnum(StrEnum):
    """A proto enum: its JSON form is the value's name. The first member is the zero value."""

    @classmethod
    def zero(cls) -> Self:
        return next(iter(cls))


def open_enum(enum_cls: type[WireEnum]) -> Any:
    """Annotated enum type: lenient parsing maps unknown names to the zero value, strict rejects them."""

    def check(value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, enum_cls):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            members = list(enum_cls)
            if 0 <= value < len(members) and not _is_strict(info):
                return members[value]
        if isinstance(value, str) and value in enum_cls._value2member_map_:
            return enum_cls(value)
        if _is_strict(info):
            raise ValueError(f"invalid value for enum {enum_cls.__name__}: {value!r}")
        return enum_cls.zero()

    return Annotated[enum_cls, BeforeValidator(check)]


class WireModel(BaseModel):
    """Base of every Ona message. snake_case in Python, the proto JSON name on the wire."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", use_attribute_docstrings=False
    )

    # Names of the repeated and map fields, filled in by the generator; see ``empty_lists``.
    _repeated: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="before")
    @classmethod
    def _reject_unknown_fields(cls, data: Any, info: ValidationInfo) -> Any:
        if _is_strict(info) and isinstance(data, dict):
            known = set(cls.model_fields) | {f.alias for f in cls.model_fields.values() if f.alias}
            unknown = sorted(k for k in data if k not in known)
            if unknown:
                raise ValueError(f"unknown field {unknown[0]!r} in {cls.__name__}")
        return data

    @classmethod
    def parse_strict(cls, data: Any) -> Self:
        """Parse as Ona parses a request: unknown fields and enum names are errors."""
        return cls.model_validate(data, context=STRICT)

    def to_wire(self) -> dict[str, Any]:
        """The JSON body for a request: only the fields the caller set (explicit false/0 included)."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)

    def to_proto_json(self) -> dict[str, Any]:
        """proto3 JSON as Ona emits it in a response: zero values omitted."""
        return self.model_dump(mode="json", by_alias=True, exclude_defaults=True)
