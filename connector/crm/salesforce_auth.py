"""Salesforce OAuth 2.0: one token request per flow, against a configurable token endpoint.

All three flows post a form to ``{login host}/services/oauth2/token`` (or the configured
``token_url``) and get back ``{access_token, instance_url, ...}``; the adapter then builds the
SDK client in direct mode (``session_id`` + ``instance_url``). Doing the request ourselves, not
through simple-salesforce's login helpers, keeps the host configurable (those hard-code
``https://{domain}.salesforce.com``) and sends it through our session (CA bundle, timeouts,
retries).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import jwt
import requests

from connector.config import ConnectionConfig, Credentials
from connector.errors import CredentialsError, CRMRequestError

JWT_LIFETIME_S = 180  # Salesforce accepts assertions valid for at most 3 minutes


@dataclass(frozen=True)
class Token:
    """A session: the bearer token, the instance URL every REST call goes to, and the user's id
    (the last part of the answer's identity URL, ``.../id/00D.../005...``; empty if absent)."""

    access_token: str
    instance_url: str
    user_id: str = ""


def _user_id(identity: object) -> str:
    last = identity.rsplit("/", 1)[-1] if isinstance(identity, str) else ""
    return last if last.startswith("005") and last.isalnum() and len(last) in (15, 18) else ""


def _form(connection: ConnectionConfig, creds: Credentials) -> tuple[dict, tuple | None]:
    """The form body (and HTTP basic auth, if any) of ``creds.flow``."""
    key, secret = creds.secret("consumer_key"), creds.secret("consumer_secret")
    if creds.flow == "password":
        return {"grant_type": "password", "client_id": key, "client_secret": secret,
                "username": creds.secret("username"),
                "password": creds.secret("password") + creds.secret("security_token")}, None
    if creds.flow == "client_credentials":
        return {"grant_type": "client_credentials"}, (key, secret)
    try:
        private_key = Path(creds.secret("private_key_file")).read_text(encoding="utf-8")
        assertion = jwt.encode(
            {"iss": key, "sub": creds.secret("username"),
             "aud": connection.resolved_jwt_audience, "exp": int(time.time()) + JWT_LIFETIME_S},
            private_key, algorithm="RS256")
    except (OSError, ValueError, jwt.PyJWTError) as exc:
        raise CredentialsError(
            f"connection {connection.name!r} (salesforce jwt flow): cannot sign with the key in "
            f"{creds.env_names['private_key_file']}: {exc}",
            hint="Point it at the PEM private key whose certificate the connected app holds."
        ) from None
    return {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "assertion": assertion}, None


def fetch_token(session: requests.Session, connection: ConnectionConfig, creds: Credentials
                ) -> Token:
    """Run ``creds.flow`` against the connection's token endpoint and return the session.

    Raises :class:`CredentialsError` (naming the flow and its variables) when Salesforce refuses;
    transport failures come from the session's retry policy.
    """
    form, basic = _form(connection, creds)
    response = session.post(connection.resolved_token_url, data=form, auth=basic,
                            headers={"Accept": "application/json"})
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code == 200 and body.get("access_token") and body.get("instance_url"):
        return Token(body["access_token"], body["instance_url"], _user_id(body.get("id")))
    if response.status_code in (400, 401, 403):
        reason = f"{body.get('error', response.status_code)}: {body.get('error_description', '')}"
        raise CredentialsError(
            f"connection {connection.name!r}: Salesforce refused the {creds.flow} flow "
            f"credentials ({reason.strip(': ')}); check {creds.variables()}",
            hint="Fix the values of those variables (or the connected app's settings).")
    raise CRMRequestError(f"salesforce token endpoint {connection.resolved_token_url} answered "
                          f"{response.status_code} without a token: {response.text[:200]}")
