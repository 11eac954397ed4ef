"""The add and edit modals of SSO: their inputs, checked with Ona's own rules, and of an edit only
the fields that changed (compared by fingerprint, so private_metadata stays small).

The client secret travels only from the modal's input to Ona, inside the operation's params (declared
secret): it is never put in a view or in private_metadata.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any
from urllib.parse import urlparse

from bot import blocks as bk
from bot.ona.models import SSOConfiguration
from bot.ona.rules import RULES

# Ona's limits (buf.validate on CreateSSOConfigurationRequest; UpdateSSOConfigurationRequest has the same).
_CREATE_RULES = RULES["CreateSSOConfigurationRequest"]
_DOMAIN_RULE = _CREATE_RULES["emailDomains"]["items"]
DOMAIN = re.compile(_DOMAIN_RULE["pattern"])
DOMAIN_MIN, DOMAIN_MAX = _DOMAIN_RULE["min_len"], _DOMAIN_RULE["max_len"]
DISPLAY_NAME_MAX = _CREATE_RULES["displayName"]["max_len"]
SCOPES_MAX = _CREATE_RULES["additionalScopes"]["max_items"]
SCOPE_MAX = _CREATE_RULES["additionalScopes"]["items"]["max_len"]

SECRET_HINT = "leave empty to keep the current secret"
_SPLIT = re.compile(r"[\s,;]+")

def inputs(current: dict[str, Any] | None) -> list[Any]:
    now = current or {}
    had_domains = bool(now.get("email_domains"))
    return [
        bk.text_input("issuer_url", "Issuer URL", initial=now.get("issuer_url"),
                      placeholder="https://accounts.google.com", hint="The https:// URL of your OIDC provider."),
        bk.text_input("client_id", "Client ID", initial=now.get("client_id")),
        bk.text_input("client_secret", "Client secret", optional=current is not None,
                      hint=SECRET_HINT if current is not None else "Sent to Ona only; never shown again."),
        bk.text_input("display_name", "Display name", initial=now.get("display_name"), optional=True,
                      max_length=DISPLAY_NAME_MAX, placeholder="Okta"),
        bk.text_input("email_domains", "Email domains", initial=" ".join(now.get("email_domains") or []),
                      optional=True, placeholder="example.com, example.org",
                      hint=("Separate with commas or spaces. Ona cannot clear this list: keep at least one domain."
                            if had_domains else "Members with these email domains sign in with this SSO. "
                            "Separate with commas or spaces.")),
        bk.text_input("additional_scopes", "Additional scopes", initial=" ".join(now.get("additional_scopes") or []),
                      optional=True, placeholder="groups offline_access",
                      hint="Besides openid, email and profile. Separate with spaces"
                           + ("; leave empty to remove them all." if current is not None else ".")),
    ]


def add_form(origin: dict[str, str]) -> dict[str, Any]:
    return bk.modal("Add SSO", inputs(None), callback_id="sso_add", submit="Add", private_metadata=origin)


def _split(raw: str | None) -> list[str]:
    """Unique words of a comma/space separated input, in the order typed."""
    return list(dict.fromkeys(w for w in _SPLIT.split(raw or "") if w))


def parse_form(values: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    """The form's values, checked with Ona's rules; problems go into `errors` by block id."""
    fields: dict[str, Any] = {
        "issuer_url": (values.get("issuer_url") or "").strip(),
        "client_id": (values.get("client_id") or "").strip(),
        "client_secret": (values.get("client_secret") or "").strip(),
        "display_name": (values.get("display_name") or "").strip(),
        "email_domains": list(dict.fromkeys(d.lower().rstrip(".") for d in _split(values.get("email_domains")))),
        "additional_scopes": _split(values.get("additional_scopes")),
    }
    issuer = urlparse(fields["issuer_url"])
    if issuer.scheme != "https" or not issuer.hostname or " " in fields["issuer_url"]:
        errors["issuer_url"] = "Enter the issuer as an https:// URL, e.g. https://accounts.google.com."
    if not fields["client_id"]:
        errors["client_id"] = "Enter the client ID your identity provider gave you."
    if len(fields["display_name"]) > DISPLAY_NAME_MAX:
        errors["display_name"] = f"At most {DISPLAY_NAME_MAX} characters."
    bad = [d for d in fields["email_domains"] if not (DOMAIN_MIN <= len(d) <= DOMAIN_MAX and DOMAIN.fullmatch(d))]
    if bad:
        errors["email_domains"] = f"Not a domain name (like example.com): {', '.join(bad)[:200]}"
    scopes = fields["additional_scopes"]
    if len(scopes) > SCOPES_MAX:
        errors["additional_scopes"] = f"At most {SCOPES_MAX} scopes."
    elif any(len(s) > SCOPE_MAX for s in scopes):
        errors["additional_scopes"] = f"Each scope has at most {SCOPE_MAX} characters."
    return fields


def validate_add(values: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, str] = {}
    fields = parse_form(values, errors)
    if not fields["client_secret"]:
        errors["client_secret"] = "Enter the client secret."
    if errors:
        return {"errors": errors}
    return {"params": {k: v for k, v in fields.items() if v}}  # empty optional fields are not sent


def notice(text: str) -> dict[str, Any]:
    return bk.modal("Edit SSO", [bk.section(text)], callback_id="sso_edit", close="Close")


def editable(sso: SSOConfiguration) -> dict[str, Any]:
    """The fields the edit form changes, JSON-able (the secret is not among them: Ona never returns it)."""
    return {"issuer_url": sso.issuer_url, "client_id": sso.client_id, "display_name": sso.display_name,
            "email_domains": list(sso.email_domains), "additional_scopes": list(sso.additional_scopes)}


def fingerprint(name: str, value: Any) -> str:
    """A short digest of a field's value, so private_metadata stays small however long the lists are."""
    if name == "email_domains":
        value = sorted({d.lower().rstrip(".") for d in value})
    elif name == "additional_scopes":
        value = sorted(set(value))
    return hashlib.sha256(json.dumps(value).encode()).hexdigest()[:16]


def edit_form(sso: SSOConfiguration, origin: dict[str, str]) -> dict[str, Any]:
    current = editable(sso)
    meta = {**origin, "id": sso.id, "had_domains": bool(sso.email_domains),
            "fp": {k: fingerprint(k, v) for k, v in current.items()}}
    return bk.modal("Edit SSO", inputs(current), callback_id="sso_edit", submit="Save", private_metadata=meta)


def validate_edit(values: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    """Inline errors for what Ona would reject; otherwise the ID and only the fields that changed."""
    errors: dict[str, str] = {}
    fields = parse_form(values, errors)
    if meta.get("had_domains") and not fields["email_domains"]:
        errors["email_domains"] = "Ona cannot clear the email domains: keep at least one."
    if errors:
        return {"errors": errors}
    before: dict[str, str] = meta.get("fp") or {}
    params: dict[str, Any] = {"sso_configuration_id": str(meta.get("id", ""))}
    for name, value in fields.items():
        if name == "client_secret":
            if value:  # empty keeps the current secret
                params[name] = value
        elif name == "email_domains" and not value:
            continue  # no domains before and none now: nothing to send (Ona cannot clear them anyway)
        elif fingerprint(name, value) != before.get(name):
            params[name] = value
    return {"params": params}
