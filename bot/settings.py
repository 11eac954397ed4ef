"""All configuration, read once at start-up from the environment or a `.env` file."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_ONA_BASE_URL = "https://app.ona.com/api"


class SettingsError(Exception):
    """One line naming every variable that is missing or malformed."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    slack_bot_token: SecretStr = Field(validation_alias="SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr = Field(validation_alias="SLACK_SIGNING_SECRET")
    slack_app_token: SecretStr | None = Field(default=None, validation_alias="SLACK_APP_TOKEN")
    slack_api_url: str | None = Field(default=None, validation_alias="SLACK_API_URL")
    ona_api_key: SecretStr = Field(validation_alias=AliasChoices("ONA_API_KEY", "GITPOD_API_KEY"))
    ona_base_url: str = Field(default=DEFAULT_ONA_BASE_URL, validation_alias="ONA_BASE_URL")
    ona_organization_id: str = Field(validation_alias="ONA_ORGANIZATION_ID")
    # A SQLite file, or a postgresql:// URL for several replicas on one database.
    db_path: str = Field(default="ona-bot.db", validation_alias="ONA_BOT_DB")
    approvals_channel: str | None = Field(default=None, validation_alias="ONA_BOT_APPROVALS_CHANNEL")
    policy_file: Path | None = Field(default=None, validation_alias="ONA_BOT_POLICY_FILE")
    work_rate: float = Field(default=30.0, gt=0, validation_alias="ONA_BOT_WORK_RATE")
    # Seconds between background sweeps (expiry, reminders, settling what a dead replica left).
    sweep_seconds: float = Field(default=30.0, gt=0, le=3600, validation_alias="ONA_BOT_SWEEP_SECONDS")
    # The audit trail's HMAC key; unset, a key file beside the database (mode 0600) is made and used.
    audit_key: SecretStr | None = Field(default=None, validation_alias="ONA_BOT_AUDIT_KEY")
    # The key that seals secrets waiting in the database (an SSO client secret until approval, an
    # undelivered invite link); unset, a key file beside the database (mode 0600) is made and used.
    seal_key: SecretStr | None = Field(default=None, validation_alias="ONA_BOT_SEAL_KEY")
    # Keys sealed with before a rotation, comma-separated: what they sealed still opens.
    seal_old_keys: SecretStr | None = Field(default=None, validation_alias="ONA_BOT_SEAL_OLD_KEYS")
    # How often the audit trail's head is posted to the approvals channel ("0": the log only).
    audit_checkpoint_seconds: int = Field(default=3600, validation_alias="ONA_BOT_AUDIT_CHECKPOINT")
    # "json": one JSON object per log line (for a log pipeline); "text" (the default): for people.
    log_format: Literal["text", "json"] = Field(default="text", validation_alias="ONA_BOT_LOG_FORMAT")

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token(cls, v: SecretStr) -> SecretStr:
        if not v.get_secret_value().startswith("xoxb-"):
            raise ValueError("must be a bot token starting with xoxb-")
        return v

    @field_validator("slack_app_token")
    @classmethod
    def _app_token(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and not v.get_secret_value().startswith("xapp-"):
            raise ValueError("must be an app-level token starting with xapp-")
        return v

    @field_validator("audit_key", "seal_key")
    @classmethod
    def _audit_key(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and len(v.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters (e.g. the output of: openssl rand -hex 32)")
        return v

    def secrets(self) -> tuple[str, ...]:
        """Every secret the configuration holds: the log writes none of them (bot/logs.py)."""
        held = (self.slack_bot_token, self.slack_signing_secret, self.slack_app_token, self.ona_api_key,
                self.audit_key, self.seal_key)
        return tuple(s.get_secret_value() for s in held if s is not None) + self.old_seal_keys()

    @field_validator("log_format", mode="before")
    @classmethod
    def _log_format(cls, v: object) -> object:
        if isinstance(v, str) and v.strip().lower() in ("text", "json"):
            return v.strip().lower()
        raise ValueError("must be text or json")

    def old_seal_keys(self) -> tuple[str, ...]:
        text = self.seal_old_keys.get_secret_value() if self.seal_old_keys else ""
        return tuple(k.strip() for k in text.split(",") if k.strip())

    @field_validator("audit_checkpoint_seconds", mode="before")
    @classmethod
    def _checkpoint(cls, v: object) -> int:
        if isinstance(v, int):
            return v
        from bot import durations

        try:
            seconds = durations.parse(str(v))
        except durations.DurationError:
            raise ValueError("must be a duration such as 30m, 1h or 1d (0 for the log only)") from None
        if 0 < seconds < 60:
            raise ValueError("must be at least 1m, or 0 for the log only")
        return seconds

    @model_validator(mode="after")
    def _keys_on_postgres(self) -> Settings:
        from bot.approvals.dburl import KEYS_ON_POSTGRES, is_postgres_url

        if is_postgres_url(self.db_path) and not (self.audit_key and self.seal_key):
            raise ValueError(KEYS_ON_POSTGRES)
        return self

    @field_validator("ona_base_url", "slack_api_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return v.rstrip("/") if v else v

    @field_validator("ona_organization_id")
    @classmethod
    def _uuid(cls, v: str) -> str:
        import uuid

        try:
            uuid.UUID(v)
        except ValueError:
            raise ValueError("must be the organization's UUID") from None
        return v


class SocketModeSettings(Settings):
    """`ona-bot run`: the app-level token is required too, so that it is named with the others."""

    slack_app_token: SecretStr = Field(validation_alias="SLACK_APP_TOKEN")  # type: ignore[assignment]


_NAMES = {
    name: (field.validation_alias if isinstance(field.validation_alias, str) else "ONA_API_KEY")
    for name, field in SocketModeSettings.model_fields.items()
}
_HINTS = {"SLACK_APP_TOKEN": "Socket Mode needs an app-level token, xapp-…"}


def load_settings(*, need_app_token: bool = False, env_file: str | None = ".env") -> Settings:
    """Validate the configuration, or raise SettingsError: one line naming every variable at fault."""
    model = SocketModeSettings if need_app_token else Settings
    try:
        return model(_env_file=env_file)  # type: ignore[call-arg]
    except ValidationError as exc:
        raise SettingsError(_describe(exc.errors())) from None


def _describe(errors: list) -> str:
    """'A, B and C are not set (hint); D must be …': the missing ones first, then the malformed."""
    missing: list[str] = []
    malformed: list[str] = []
    for error in errors:
        if not error["loc"]:  # a rule across variables: its message names them
            malformed.append(error["msg"].removeprefix("Value error, "))
            continue
        loc = str(error["loc"][0])
        name = _NAMES.get(loc, loc)
        if error["type"] == "missing":
            missing.append(name)
        else:
            malformed.append(f"{name} {error['msg'].removeprefix('Value error, ')}")
    parts = []
    if missing:
        names = missing[0] if len(missing) == 1 else f"{', '.join(missing[:-1])} and {missing[-1]}"
        hints = "; ".join(_HINTS[n] for n in missing if n in _HINTS)
        parts.append(f"{names} {'is' if len(missing) == 1 else 'are'} not set" + (f" ({hints})" if hints else ""))
    return "; ".join(parts + malformed)
