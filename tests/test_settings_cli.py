"""Configuration errors: one clear line naming the variable, exit code 2, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bot.settings import SettingsError, load_settings

GOOD = {
    "SLACK_BOT_TOKEN": "xoxb-1",
    "SLACK_SIGNING_SECRET": "s",
    "ONA_API_KEY": "k",
    "ONA_ORGANIZATION_ID": "7f1d8c2e-0a4b-4a8e-9d43-2f6c1b9e5a10",
}


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "ONA_", "GITPOD_"))}
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args], env={**clean, **env}, capture_output=True, text=True,
        timeout=60, cwd="/",  # no .env file there
    )


@pytest.mark.parametrize(
    ("missing", "expected"),
    [("SLACK_BOT_TOKEN", "SLACK_BOT_TOKEN is not set"), ("ONA_API_KEY", "ONA_API_KEY is not set"),
     ("ONA_ORGANIZATION_ID", "ONA_ORGANIZATION_ID is not set")],
)
def test_missing_setting_names_the_variable_and_exits_2(missing: str, expected: str) -> None:
    env = {k: v for k, v in GOOD.items() if k != missing}
    result = _run(env, "serve", "--port", "0")
    assert result.returncode == 2
    assert result.stderr.strip() == f"ona-bot: {expected}"
    assert "Traceback" not in result.stderr + result.stdout


def test_malformed_setting_names_the_variable() -> None:
    result = _run({**GOOD, "ONA_ORGANIZATION_ID": "acme"}, "serve")
    assert result.returncode == 2
    assert result.stderr.startswith("ona-bot: ONA_ORGANIZATION_ID ") and "UUID" in result.stderr
    result = _run({**GOOD, "SLACK_BOT_TOKEN": "xoxp-user-token"}, "serve")
    assert result.returncode == 2 and "SLACK_BOT_TOKEN" in result.stderr and "xoxb-" in result.stderr


def test_socket_mode_needs_the_app_token() -> None:
    result = _run(GOOD, "run")
    assert result.returncode == 2 and "SLACK_APP_TOKEN" in result.stderr


def test_legacy_gitpod_api_key_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ONA_API_KEY", "GITPOD_API_KEY", "ONA_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    for key, value in {**GOOD, "GITPOD_API_KEY": "legacy"}.items():
        if key != "ONA_API_KEY":
            monkeypatch.setenv(key, value)
    settings = load_settings(env_file=None)
    assert settings.ona_api_key.get_secret_value() == "legacy"
    assert settings.ona_base_url == "https://app.ona.com/api"
    assert "legacy" not in repr(settings)


def test_settings_error_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in (*GOOD, "GITPOD_API_KEY"):
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(SettingsError) as exc:
        load_settings(env_file=None)
    assert "\n" not in str(exc.value)


def test_a_dotenv_file_is_read(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in (*GOOD, "GITPOD_API_KEY", "ONA_BOT_DB"):
        monkeypatch.delenv(key, raising=False)
    env_file = tmp_path / ".env"
    env_file.write_text("\n".join(f"{k}={v}" for k, v in GOOD.items()) + "\nONA_BOT_DB=/tmp/from-dotenv.db\n")
    settings = load_settings(env_file=str(env_file))
    assert str(settings.db_path) == "/tmp/from-dotenv.db" and settings.ona_api_key.get_secret_value() == "k"


def test_the_log_format_is_text_or_json() -> None:
    result = _run({**GOOD, "ONA_BOT_LOG_FORMAT": "yaml"}, "serve")
    assert result.returncode == 2
    assert result.stderr.strip() == "ona-bot: ONA_BOT_LOG_FORMAT must be text or json"


def test_the_log_format_reads_json_in_any_case(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {**GOOD, "ONA_BOT_LOG_FORMAT": " JSON "}.items():
        monkeypatch.setenv(key, value)
    assert load_settings(env_file=None).log_format == "json"
