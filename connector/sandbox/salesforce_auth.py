"""Salesforce login for the emulator: the OAuth 2.0 token endpoint, SOAP ``login`` and JWT keys.

The token endpoint takes the password, client_credentials and JWT bearer grants with the real
error bodies (``{"error": "invalid_grant", "error_description": "authentication failure"}``,
HTTP 400). JWT assertions are really verified (RS256) against the certificate the sandbox
reports, so a connector's JWT code is exercised end to end.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.etree import ElementTree
from xml.sax.saxutils import escape

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from connector.sandbox.server import write_private

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
LOGIN_AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")


@dataclass(frozen=True)
class JWTKeyPair:
    """PEM files of the connected app's RSA key (for clients) and certificate (for the org)."""

    key_file: Path
    cert_file: Path


def make_jwt_keypair(directory: Path) -> JWTKeyPair:
    """Write a new RSA key and a self-signed X.509 certificate for it into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "leadscore sandbox connected app")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=365))
            .sign(key, hashes.SHA256()))
    pair = JWTKeyPair(directory / "jwt-private-key.pem", directory / "jwt-cert.pem")
    write_private(pair.key_file, key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    pair.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return pair


class OAuthError(Exception):
    """A refused token request: the OAuth ``error`` code and ``error_description``."""

    def __init__(self, error: str, description: str, status: int = 400):
        super().__init__(description)
        self.error, self.description, self.status = error, description, status

    def body(self) -> dict:
        """The JSON body Salesforce answers with."""
        return {"error": self.error, "error_description": self.description}


def _basic_credentials(authorization: str | None) -> tuple[str | None, str | None]:
    if not authorization or not authorization.lower().startswith("basic "):
        return None, None
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise OAuthError("invalid_client", "invalid client credentials") from None
    key, _, secret = decoded.partition(":")
    return key, secret


def _check_client(org, client_id: str | None, client_secret: str | None) -> None:
    if client_id != org.consumer_key:
        raise OAuthError("invalid_client_id", "client identifier invalid")
    if client_secret != org.consumer_secret:
        raise OAuthError("invalid_client", "invalid client credentials")


def _verify_assertion(org, assertion: str | None) -> None:
    if not assertion:
        raise OAuthError("invalid_request", "assertion is required for this grant type")
    try:
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise OAuthError("invalid_grant", "invalid assertion") from None
    if claims.get("iss") != org.consumer_key:
        raise OAuthError("invalid_client_id", "client identifier invalid")
    audiences = [*LOGIN_AUDIENCES, org.instance_url]
    certificate = x509.load_pem_x509_certificate(org.jwt_cert_file.read_bytes())
    try:
        jwt.decode(assertion, certificate.public_key(), algorithms=["RS256"], audience=audiences,
                   options={"require": ["exp", "iss", "sub", "aud"]})
    except jwt.InvalidAudienceError:
        raise OAuthError("invalid_grant", "audience is invalid") from None
    except jwt.ExpiredSignatureError:
        raise OAuthError("invalid_grant", "expired authorization code") from None
    except jwt.PyJWTError:
        raise OAuthError("invalid_grant", "invalid assertion") from None
    if claims.get("sub") != org.username:
        raise OAuthError("invalid_grant", "user hasn't approved this consumer")


def token_response(org, form: dict[str, str], authorization: str | None) -> dict:
    """Answer one ``POST /services/oauth2/token``; raises :class:`OAuthError` when refused."""
    grant = form.get("grant_type")
    if grant == "password":
        _check_client(org, form.get("client_id"), form.get("client_secret"))
        if (form.get("username") != org.username
                or form.get("password") != org.password + org.security_token):
            raise OAuthError("invalid_grant", "authentication failure")
    elif grant == "client_credentials":
        key, secret = _basic_credentials(authorization)
        if key is None:
            key, secret = form.get("client_id"), form.get("client_secret")
        _check_client(org, key, secret)
    elif grant == JWT_GRANT:
        _verify_assertion(org, form.get("assertion"))
    else:
        raise OAuthError("unsupported_grant_type", "grant type not supported")
    issued_at = str(int(org.clock() * 1000))
    identity = f"https://login.salesforce.com/id/{org.org_id}/{org.user_id}"
    body = {"access_token": org.open_session(), "instance_url": org.instance_url, "id": identity,
            "token_type": "Bearer"}
    if grant == JWT_GRANT:
        body["scope"] = "api"
        return body
    digest = hmac.new(org.consumer_secret.encode(), (identity + issued_at).encode(), hashlib.sha256)
    body.update(issued_at=issued_at, signature=base64.b64encode(digest.digest()).decode())
    if grant == "client_credentials":
        body["scope"] = "api"
    return body


# -- SOAP login -------------------------------------------------------------------------------

_SOAP_FAULT = """<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope \
xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:sf="urn:fault.partner.soap.sforce.com" \
xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><soapenv:Fault>\
<faultcode>sf:{code}</faultcode><faultstring>{code}: {message}</faultstring><detail>\
<sf:LoginFault xsi:type="sf:LoginFault"><sf:exceptionCode>{code}</sf:exceptionCode>\
<sf:exceptionMessage>{message}</sf:exceptionMessage></sf:LoginFault></detail></soapenv:Fault>\
</soapenv:Body></soapenv:Envelope>"""

_SOAP_OK = """<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope \
xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns="urn:partner.soap.sforce.com" \
xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><loginResponse><result>\
<metadataServerUrl>{base}/services/Soap/m/{version}/{org}</metadataServerUrl>\
<passwordExpired>false</passwordExpired><sandbox>true</sandbox>\
<serverUrl>{base}/services/Soap/u/{version}/{org}</serverUrl><sessionId>{session}</sessionId>\
<userId>{user}</userId><userInfo><organizationId>{org}</organizationId>\
<organizationName>leadscore sandbox</organizationName><userEmail>{username}</userEmail>\
<userFullName>Sandbox Admin</userFullName><userId>{user}</userId><userName>{username}</userName>\
<userTimeZone>GMT</userTimeZone></userInfo></result></loginResponse></soapenv:Body></soapenv:Envelope>"""


def soap_login(org, body: bytes, version: str) -> tuple[int, str]:
    """Answer ``POST /services/Soap/u/{version}`` (``login``): (HTTP status, XML text)."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return 500, _SOAP_FAULT.format(code="INVALID_SOAP_XML", message="The request is not valid XML")
    values = {element.tag.rpartition("}")[2]: (element.text or "") for element in root.iter()}
    if values.get("username") != org.username or values.get("password") != org.password + org.security_token:
        message = "Invalid username, password, security token; or user locked out."
        return 500, _SOAP_FAULT.format(code="INVALID_LOGIN", message=message)
    return 200, _SOAP_OK.format(base=org.instance_url, version=version, org=org.org_id,
                                session=escape(org.open_session()), user=org.user_id,
                                username=escape(org.username))
