"""Secret parameters sealed at rest (Fernet), with a key of their own beside the database or in a setting."""

from __future__ import annotations

import base64
import json
import secrets
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bot.approvals import audit_chain
from bot.approvals.model import canonical

SEAL_KEY_SETTING = "ONA_BOT_SEAL_KEY"


class SealKeyMissing(ValueError):
    """A sealed value none of the seal keys at hand can open (the key was rotated without keeping it)."""


def seal_key_file(db_path: str | Path) -> Path:
    return Path(f"{db_path}.seal-key")


class Sealer:
    """Encrypts secret parameters at rest with a key of their own: ONA_BOT_SEAL_KEY, else a key file
    beside the database (`<db>.seal-key`, mode 0600, made on first use). Older keys still open what
    they sealed (MultiFernet): ONA_BOT_SEAL_OLD_KEYS, the key file when a setting replaced it, and the
    key once derived from SLACK_SIGNING_SECRET, so rotating the signing secret loses nothing."""

    def __init__(self, secret: str, *old: str) -> None:
        self._fernet = MultiFernet([_fernet(s) for s in dict.fromkeys((secret, *old)) if s])

    @classmethod
    def for_database(cls, db_path: str | Path, *, key: str | None = None, old_keys: tuple[str, ...] = (),
                     legacy: str | None = None) -> Sealer:
        """`legacy`: the signing secret, whose derived key sealed requests before the seal key existed."""
        if str(db_path) == ":memory:":
            return cls(key or secrets.token_hex(32), *old_keys, *([legacy] if legacy else []))
        from_file = audit_chain.key_from_file(seal_key_file(db_path), create=not key)
        keys = [k.decode() if isinstance(k, bytes) else k for k in (key, from_file) if k]
        return cls(*keys, *old_keys, *([legacy] if legacy else []))

    def seal(self, values: dict[str, Any]) -> str:
        return self._fernet.encrypt(canonical(values).encode()).decode()

    def unseal(self, token: str) -> dict[str, Any]:
        try:
            return json.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken:
            raise SealKeyMissing("sealed parameters cannot be opened with any seal key at hand") from None


def _fernet(secret: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"ona-bot/sealed-params", info=b"v1").derive(
        secret.encode())
    return Fernet(base64.urlsafe_b64encode(key))
