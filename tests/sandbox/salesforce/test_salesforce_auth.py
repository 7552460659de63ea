"""Login: the OAuth token endpoint's three grants, SOAP login, and session validation."""

import base64
import time
from pathlib import Path

import jwt
import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceAuthenticationFailed, SalesforceExpiredSession
from simple_salesforce.login import soap_login

INVALID_SESSION = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


def assertion(info, *, key_file=None, **claims) -> str:
    payload = {"iss": info["consumer_key"], "sub": info["username"],
               "aud": "https://login.salesforce.com", "exp": int(time.time()) + 180, **claims}
    key = Path(key_file or info["jwt_private_key_file"]).read_bytes()
    return jwt.encode(payload, key, algorithm="RS256")


def test_password_grant_answers_the_real_shape(new_token, info):
    token = new_token()
    assert set(token) == {"access_token", "instance_url", "id", "token_type", "issued_at", "signature"}
    assert token["instance_url"] == info["instance_url"] and token["token_type"] == "Bearer"
    assert token["access_token"].startswith("00D") and "!" in token["access_token"]


@pytest.mark.parametrize("change, error", [
    ({"password": "sandbox-password"}, ("invalid_grant", "authentication failure")),  # no security token
    ({"username": "someone@else.dev"}, ("invalid_grant", "authentication failure")),
    ({"client_secret": "wrong"}, ("invalid_client", "invalid client credentials")),
    ({"client_id": "wrong"}, ("invalid_client_id", "client identifier invalid")),
    ({"grant_type": "authorization_code"}, ("unsupported_grant_type", "grant type not supported")),
])
def test_refused_password_grants(http, info, change, error):
    form = {"grant_type": "password", "client_id": info["consumer_key"],
            "client_secret": info["consumer_secret"], "username": info["username"],
            "password": info["password"] + info["security_token"], **change}
    response = http.post(info["token_url"], data=form)
    assert response.status_code == 400
    assert response.json() == {"error": error[0], "error_description": error[1]}


def test_client_credentials_with_basic_auth_or_body(http, info):
    basic = base64.b64encode(f"{info['consumer_key']}:{info['consumer_secret']}".encode()).decode()
    response = http.post(info["token_url"], data={"grant_type": "client_credentials"},
                         headers={"Authorization": f"Basic {basic}"})
    assert response.status_code == 200 and response.json()["scope"] == "api"
    response = http.post(info["token_url"], data={
        "grant_type": "client_credentials", "client_id": info["consumer_key"], "client_secret": "x"})
    assert response.status_code == 400 and response.json()["error"] == "invalid_client"


@pytest.mark.parametrize("audience", ["https://login.salesforce.com", "https://test.salesforce.com", None])
def test_jwt_bearer_grant_verifies_the_signature(http, info, audience):
    token = http.post(info["token_url"], data={
        "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "assertion": assertion(info, aud=audience or info["instance_url"])})
    assert token.status_code == 200, token.text
    body = token.json()
    assert set(body) == {"access_token", "scope", "instance_url", "id", "token_type"}
    sf = Salesforce(instance_url=body["instance_url"], session_id=body["access_token"], session=http)
    assert sf.limits()["DailyApiRequests"]["Max"] > 0


def test_jwt_refusals(http, info, tmp_path):
    from connector.sandbox.salesforce_auth import make_jwt_keypair
    stranger = make_jwt_keypair(tmp_path)
    cases = [
        (assertion(info, key_file=stranger.key_file), ("invalid_grant", "invalid assertion")),
        (assertion(info, aud="https://evil.example"), ("invalid_grant", "audience is invalid")),
        (assertion(info, exp=int(time.time()) - 600), ("invalid_grant", "expired authorization code")),
        (assertion(info, iss="other-app"), ("invalid_client_id", "client identifier invalid")),
        (assertion(info, sub="nobody@x.dev"), ("invalid_grant", "user hasn't approved this consumer")),
        ("not-a-jwt", ("invalid_grant", "invalid assertion")),
    ]
    for token, (error, description) in cases:
        response = http.post(info["token_url"], data={
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": token})
        assert response.status_code == 400
        assert response.json() == {"error": error, "error_description": description}


def test_soap_login_through_the_sdk_helper(http, info):
    body = f"""<?xml version="1.0" encoding="utf-8" ?>
<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/" xmlns:n1="urn:partner.soap.sforce.com">
<env:Body><n1:login><n1:username>{info['username']}</n1:username>
<n1:password>{info['password']}{info['security_token']}</n1:password></n1:login></env:Body></env:Envelope>"""
    url = f"{info['instance_url']}/services/Soap/u/59.0"
    headers = {"content-type": "text/xml", "charset": "UTF-8", "SOAPAction": "login"}
    session_id, instance = soap_login(url, body, headers, None, http)
    assert instance == info["instance_url"].removeprefix("https://")
    sf = Salesforce(instance=instance, session_id=session_id, session=http)
    assert sf.query("SELECT COUNT() FROM Lead")["totalSize"] > 0
    with pytest.raises(SalesforceAuthenticationFailed, match="INVALID_LOGIN"):
        soap_login(url, body.replace(info["security_token"], ""), headers, None, http)


def test_missing_or_unknown_token_is_the_real_401_list(http, info):
    for headers in ({}, {"Authorization": "Bearer 00Dbogus!AR.nothing"}):
        response = http.get(f"{info['instance_url']}/services/data/v59.0/limits", headers=headers)
        assert response.status_code == 401
        assert response.json() == INVALID_SESSION
        assert response.headers["Sforce-Limit-Info"].startswith("api-usage=")


def test_sessions_expire_after_their_lifetime(org, sf):
    sf.limits()
    lifetime = org.session_lifetime_s
    org.session_lifetime_s = 0.2
    try:
        time.sleep(0.3)
        with pytest.raises(SalesforceExpiredSession) as caught:
            sf.limits()
        assert caught.value.content == INVALID_SESSION
    finally:
        org.session_lifetime_s = lifetime


@pytest.fixture
def shifted_clock(org):
    """Move the org's clock forward by hand: ``shift(seconds)``. Restored afterwards."""
    offset = [0.0]
    real = org.clock
    org.clock = lambda: real() + offset[0]
    yield lambda seconds: offset.__setitem__(0, offset[0] + seconds)
    org.clock = real


def test_activity_keeps_a_session_alive_past_its_timeout(org, sf, make_client, shifted_clock):
    """Salesforce's timeout counts from the last activity; activity is recorded once at least
    half the timeout has passed, so calls in the first half do not extend it."""
    timeout = org.session_lifetime_s
    idle = make_client()
    shifted_clock(timeout * 0.6)
    sf.limits()  # past half the timeout: recorded, the session now lasts until 1.6 x timeout
    shifted_clock(timeout * 0.6)  # 1.2 x timeout since issue, 0.6 x since the last activity
    assert sf.limits()["DailyApiRequests"]
    with pytest.raises(SalesforceExpiredSession) as caught:  # never used since its issue
        idle.limits()
    assert caught.value.content == INVALID_SESSION
    early = make_client()
    shifted_clock(timeout * 0.3)
    early.limits()  # in the first half: not recorded
    shifted_clock(timeout * 0.75)  # 1.05 x timeout since issue, the last recorded activity
    with pytest.raises(SalesforceExpiredSession):
        early.limits()


def test_expire_fault_ends_sessions_every_n_calls(sandbox, make_client):
    sandbox.set_faults("expire:3")
    sf = make_client()
    for _ in range(3):
        sf.limits()
    with pytest.raises(SalesforceExpiredSession):
        sf.limits()
    with pytest.raises(SalesforceExpiredSession):  # the session stays dead
        sf.limits()
    fresh = make_client()  # re-authenticating gives another N calls
    assert fresh.limits()["DailyApiRequests"]


def test_route_scoped_expire_fault_with_a_jwt_session(sandbox, info, http):
    """``salesforce.limits:expire:1`` counts only that route's calls against the session."""
    sandbox.set_faults("salesforce.limits:expire:1")
    token = http.post(info["token_url"], data={
        "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion(info)}).json()
    sf = Salesforce(instance_url=token["instance_url"], session_id=token["access_token"], session=http)
    sf.limits()
    with pytest.raises(SalesforceExpiredSession) as caught:
        sf.limits()
    assert caught.value.content == INVALID_SESSION


def test_expire_sessions_ends_every_open_session(org, make_client):
    first, second = make_client(), make_client()
    org.expire_sessions()
    for sf in (first, second):
        with pytest.raises(SalesforceExpiredSession):
            sf.limits()
