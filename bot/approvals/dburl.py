"""What ONA_BOT_DB names: a SQLite file, or a PostgreSQL server by URL (whose password no log shows)."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
KEYS_ON_POSTGRES = ("ONA_BOT_DB is a PostgreSQL URL, so ONA_BOT_AUDIT_KEY and ONA_BOT_SEAL_KEY must be set "
                    "(each at least 32 characters, e.g. the output of: openssl rand -hex 32): there is no file "
                    "beside the database to keep them in, and every replica needs the same ones")


def is_postgres_url(location: object) -> bool:
    return str(location).startswith(POSTGRES_SCHEMES)


def mask_url(url: str) -> str:
    """The URL with its password replaced by ***: what logs and errors may show."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:  # a malformed URL (a bad port): show nothing of what follows the scheme
        return url.split("://", 1)[0] + "://***"
    if password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def password_of(url: str) -> str:
    try:
        return urlsplit(url).password or ""
    except ValueError:
        return ""
