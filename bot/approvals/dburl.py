"""What ONA_BOT_DB names: a SQLite file, or a PostgreSQL server by URL (whose password no log shows)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
KEYS_ON_POSTGRES = ("ONA_BOT_DB is a PostgreSQL URL, so ONA_BOT_AUDIT_KEY and ONA_BOT_SEAL_KEY must be set "
                    "(each at least 32 characters, e.g. the output of: openssl rand -hex 32): there is no file "
                    "beside the database to keep them in, and every replica needs the same ones")


def is_postgres_url(location: object) -> bool:
    return str(location).startswith(POSTGRES_SCHEMES)


# libpq also takes a password in the query string (?password=…): masked like the one before the host.
SECRET_PARAMS = ("password", "sslpassword")


def mask_url(url: str) -> str:
    """The URL with its passwords replaced by ***: what logs and errors may show."""
    try:
        parts = urlsplit(url)
        password = parts.password
        query = parse_qsl(parts.query, keep_blank_values=True)
    except ValueError:  # a malformed URL (a bad port): show nothing of what follows the scheme
        return url.split("://", 1)[0] + "://***"
    if any(k in SECRET_PARAMS for k, _ in query):
        parts = parts._replace(query=urlencode([(k, "***" if k in SECRET_PARAMS else v) for k, v in query], safe="*"))
    if password is not None:
        host = parts.netloc.rsplit("@", 1)[1]
        parts = parts._replace(netloc=f"{parts.username or ''}:***@{host}")
    return urlunsplit(parts)


def password_of(url: str) -> str:
    try:
        parts = urlsplit(url)
        return parts.password or dict(parse_qsl(parts.query)).get("password", "")
    except ValueError:
        return ""
