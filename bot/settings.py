"""All configuration, read once at start-up from the environment or a `.env` file."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_ONA_BASE_URL = "https://app.ona.com/api"


class SettingsError(Exception):
    """One line naming the variable that is missing or malformed."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    slack_bot_token: SecretStr = Field(validation_alias="SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr = Field(validation_alias="SLACK_SIGNING_SECRET")
    slack_app_token: SecretStr | None = Field(default=None, validation_alias="SLACK_APP_TOKEN")
    slack_api_url: str | None = Field(default=None, validation_alias="SLACK_API_URL")
    ona_api_key: SecretStr = Field(validation_alias=AliasChoices("ONA_API_KEY", "GITPOD_API_KEY"))
    ona_base_url: str = Field(default=DEFAULT_ONA_BASE_URL, validation_alias="ONA_BASE_URL")
    ona_organization_id: str = Field(validation_alias="ONA_ORGANIZATION_ID")
    db_path: Path = Field(default=Path("ona-bot.db"), validation_alias="ONA_BOT_DB")
    approvals_channel: str | None = Field(default=None, validation_alias="ONA_BOT_APPROVALS_CHANNEL")
    policy_file: Path | None = Field(default=None, validation_alias="ONA_BOT_POLICY_FILE")
    work_rate: float = Field(default=30.0, gt=0, validation_alias="ONA_BOT_WORK_RATE")
    # The audit trail's HMAC key; unset, a key file beside the database (mode 0600) is made and used.
    audit_key: SecretStr | None = Field(default=None, validation_alias="ONA_BOT_AUDIT_KEY")
    # How often the audit trail's head is posted to the approvals channel ("0": the log only).
    audit_checkpoint_seconds: int = Field(default=3600, validation_alias="ONA_BOT_AUDIT_CHECKPOINT")


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

    @field_validator("audit_key")
    @classmethod
    def _audit_key(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and len(v.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters (e.g. the output of: openssl rand -hex 32)")
        return v

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


_NAMES = {
    name: (field.validation_alias if isinstance(field.validation_alias, str) else "ONA_API_KEY")
    for name, field in Settings.model_fields.items()
}


def load_settings(*, need_app_token: bool = False, env_file: str | None = ".env") -> Settings:
    """Validate the configuration, or raise SettingsError with one line naming the variable."""
    try:
        settings = Settings(_env_file=env_file)  # type: ignore[call-arg]
    except ValidationError as exc:
        error = exc.errors()[0]
        name = _NAMES.get(str(error["loc"][0]), str(error["loc"][0])) if error["loc"] else "configuration"
        reason = "is not set" if error["type"] == "missing" else error["msg"].removeprefix("Value error, ")
        raise SettingsError(f"{name} {reason}") from None
    if need_app_token and settings.slack_app_token is None:
        raise SettingsError("SLACK_APP_TOKEN is not set (Socket Mode needs an app-level token, xapp-…)")
    return settings
