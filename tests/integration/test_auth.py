"""Signing in over real HTTP: the app runs under uvicorn on a loopback port, httpx talks to it.

Bearer tokens (local HS256, or a site identity provider's RS256), dashboard session cookies with
automatic logoff, and every way a credential stops working.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from domain.users import Role
from tests.api_client import (
    JWT_SECRET,
    PASSWORD,
    Api,
    Caller,
    assert_every_read_audited,
    live_server,
    open_api,
)

PROBLEM_JSON = "application/problem+json"
SESSION = "caretrail_session"
ME = "/api/v1/auth/me"


@pytest.fixture
def api() -> Iterator[Api]:
    api = open_api("memory://")
    api.add_user("cm.rivera", Role.CASE_MANAGER)
    yield api
    api.close()


@pytest.fixture
def http(api: Api) -> Iterator[httpx.Client]:
    with live_server(api.app) as url, httpx.Client(base_url=url, timeout=10) as client:
        yield client


def token_for(http: httpx.Client, username: str, password: str = PASSWORD) -> httpx.Response:
    return http.post("/api/v1/auth/token", data={"username": username, "password": password})


def with_token(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def sign_in(http: httpx.Client, username: str = "cm.rivera", password: str = PASSWORD) -> str:
    """Signs in to the dashboard; returns the session cookie's value."""
    response = http.post("/api/v1/auth/session", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return session_cookie(response)[SESSION].value


def session_cookie(response: httpx.Response) -> SimpleCookie:
    cookie = SimpleCookie()
    cookie.load(response.headers["set-cookie"])
    return cookie


def me_with(http: httpx.Client, cookie: str) -> httpx.Response:
    # Sent by hand: the cookie is Secure, so a client's jar would keep it off plain HTTP.
    return http.get(ME, headers={"Cookie": f"{SESSION}={cookie}"})


def assert_unauthenticated(response: httpx.Response, detail: str = "") -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert detail in response.json()["detail"]


# --- bearer tokens ------------------------------------------------------------------------------


def test_a_local_user_gets_a_bearer_token_for_the_right_password(
    api: Api, http: httpx.Client
) -> None:
    issued = token_for(http, "cm.rivera")

    assert issued.status_code == 200, issued.text
    body = issued.json()
    assert (body["token_type"], body["expires_in"]) == ("bearer", 15 * 60)
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert (claims["iss"], claims["aud"], claims["sub"]) == (
        "caretrail",
        "caretrail-api",
        "cm.rivera",
    )
    assert claims["exp"] - claims["iat"] == 15 * 60
    me = http.get(ME, headers=with_token(body["access_token"])).json()
    assert me == {"username": "cm.rivera", "roles": ["case_manager"], "signed_in_with": "bearer"}


def test_sign_in_answers_alike_for_a_wrong_password_an_unknown_user_and_a_disabled_one(
    api: Api, http: httpx.Client
) -> None:
    api.add_user("cm.gone", Role.CASE_MANAGER)
    api.services.users.disable("cm.gone", "left the organization", "sec.admin")

    refusals = [
        token_for(http, "cm.rivera", "wrong password, long"),
        token_for(http, "cm.nobody"),
        token_for(http, "cm.gone"),
        http.post("/api/v1/auth/session", json={"username": "cm.gone", "password": PASSWORD}),
    ]

    for refused in refusals:
        assert_unauthenticated(refused)
        assert refused.json()["type"] == "urn:caretrail:problem:sign-in-failed"
    assert len({refused.json()["detail"] for refused in refusals}) == 1


def test_an_expired_token_is_refused(api: Api, http: httpx.Client) -> None:
    token = token_for(http, "cm.rivera").json()["access_token"]
    api.clock.advance(minutes=14)
    assert http.get(ME, headers=with_token(token)).status_code == 200

    api.clock.advance(minutes=2)

    assert_unauthenticated(http.get(ME, headers=with_token(token)), "expired")


def forged(**changes: Any) -> dict[str, Any]:
    claims = {"iss": "caretrail", "aud": "caretrail-api", "sub": "cm.rivera", "exp": 1_900_000_000}
    return {name: value for name, value in (claims | changes).items() if value is not None}


@pytest.mark.parametrize(
    ("token", "detail"),
    [
        (jwt.encode(forged(iss="https://evil.example"), JWT_SECRET), "issuer"),
        (jwt.encode(forged(aud="another-api"), JWT_SECRET), "Audience"),
        (jwt.encode(forged(), "a different secret of enough length"), "Signature"),
        (jwt.encode(forged(exp=None), JWT_SECRET), "exp"),
        (jwt.encode(forged(), None, algorithm="none"), "'none' are not accepted"),
        ("not.a.token", "refused"),
    ],
    ids=["wrong issuer", "wrong audience", "wrong key", "no expiry", "unsigned", "garbage"],
)
def test_a_token_not_made_for_caretrail_is_refused(
    api: Api, http: httpx.Client, token: str, detail: str
) -> None:
    assert_unauthenticated(http.get(ME, headers=with_token(token)), detail)


def test_disabling_an_account_ends_its_tokens_and_sessions_at_once(
    api: Api, http: httpx.Client
) -> None:
    token = token_for(http, "cm.rivera").json()["access_token"]
    cookie = sign_in(http)

    api.services.users.disable("cm.rivera", "on leave", "sec.admin")

    assert_unauthenticated(http.get(ME, headers=with_token(token)), "disabled")
    assert_unauthenticated(me_with(http, cookie), "disabled")


def test_revoking_a_role_takes_effect_on_tokens_already_issued(
    api: Api, http: httpx.Client
) -> None:
    api.services.users.grant_roles("cm.rivera", {Role.COMPLIANCE}, "sec.admin")
    token = token_for(http, "cm.rivera").json()["access_token"]

    api.services.users.revoke_roles("cm.rivera", {Role.COMPLIANCE}, "sec.admin")

    assert http.get(ME, headers=with_token(token)).json()["roles"] == ["case_manager"]


# --- a site identity provider -------------------------------------------------------------------


@pytest.fixture(scope="module")
def provider_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def provider_token(key: rsa.RSAPrivateKey, kid: str | None, **claims: Any) -> str:
    body = {
        "iss": "https://idp.example.org",
        "aud": "caretrail-api",
        "preferred_username": "sup.lee",
        "sub": "00u1a2b3c4",
        "roles": ["supervisor", "unknown-role"],
        "exp": 1_900_000_000,
    } | claims
    headers = {"kid": kid} if kid else None
    return jwt.encode(body, key, algorithm="RS256", headers=headers)


@pytest.mark.parametrize("key_source", ["jwks", "pem"])
def test_a_site_identity_provider_can_replace_local_tokens(
    tmp_path: Path, provider_key: rsa.RSAPrivateKey, key_source: str
) -> None:
    if key_source == "jwks":
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(provider_key.public_key()))
        key_file = tmp_path / "jwks.json"
        key_file.write_text(json.dumps({"keys": [jwk | {"kid": "key-2026", "use": "sig"}]}))
        keys: dict[str, Any] = {"jwks_file": key_file}
    else:
        key_file = tmp_path / "idp.pem"
        key_file.write_text(public_pem(provider_key))
        keys = {"jwt_public_key_file": key_file}
    api = open_api(
        "memory://",
        jwt_issuer="https://idp.example.org",
        jwt_username_claim="preferred_username",
        **keys,
    )
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with live_server(api.app) as url, httpx.Client(base_url=url) as http:
        me = http.get(ME, headers=with_token(provider_token(provider_key, "key-2026")))
        assert me.json() == {
            "username": "sup.lee",
            "roles": ["supervisor"],
            "signed_in_with": "bearer",
        }
        assert_unauthenticated(
            http.get(ME, headers=with_token(provider_token(other_key, "key-2026"))), "Signature"
        )
        # A public key is public: used as an HMAC secret it must not sign anything.
        confused = jwt.encode(forged(iss="https://idp.example.org"), "x" * 32, algorithm="HS256")
        assert_unauthenticated(http.get(ME, headers=with_token(confused)))
    api.close()


# --- dashboard sessions -------------------------------------------------------------------------


@pytest.mark.parametrize("secure", [True, False], ids=["https only", "plain http trial"])
def test_the_session_cookie_is_httponly_samesite_lax_and_secure_as_configured(
    secure: bool,
) -> None:
    api = open_api("memory://", session_cookie_secure=secure)
    api.add_user("cm.rivera", Role.CASE_MANAGER)
    with live_server(api.app) as url, httpx.Client(base_url=url) as http:
        signed_in = http.post(
            "/api/v1/auth/session", json={"username": "cm.rivera", "password": PASSWORD}
        )
    api.close()

    morsel = session_cookie(signed_in)[SESSION]
    assert signed_in.json()["signed_in_with"] == "session"
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "lax"
    assert bool(morsel["secure"]) is secure
    assert (morsel["path"], morsel["max-age"]) == ("/", "900")


def test_inactivity_signs_the_user_out_after_15_minutes(api: Api, http: httpx.Client) -> None:
    cookie = sign_in(http)
    for _ in range(3):  # activity every 14 minutes keeps the session going for 42
        api.clock.advance(minutes=14)
        kept = me_with(http, cookie)
        assert kept.status_code == 200, kept.text
        cookie = session_cookie(kept)[SESSION].value

    api.clock.advance(minutes=15, seconds=1)

    assert_unauthenticated(me_with(http, cookie), "inactivity")


def test_a_session_ends_after_its_longest_life_however_active() -> None:
    api = open_api("memory://", session_max_hours=1)
    api.add_user("cm.rivera", Role.CASE_MANAGER)
    with live_server(api.app) as url, httpx.Client(base_url=url) as http:
        cookie = sign_in(http)
        for _ in range(6):
            api.clock.advance(minutes=10)
            cookie = session_cookie(me_with(http, cookie))[SESSION].value
        api.clock.advance(minutes=1)
        assert_unauthenticated(me_with(http, cookie), "at most 1 hours")
    api.close()


def test_signing_out_clears_the_cookie_and_a_tampered_cookie_is_refused(
    api: Api, http: httpx.Client
) -> None:
    cookie = sign_in(http)
    username, signature = cookie.rsplit(".", 1)

    signed_out = http.delete("/api/v1/auth/session")

    assert signed_out.status_code == 204
    assert session_cookie(signed_out)[SESSION]["max-age"] == "0"
    assert_unauthenticated(me_with(http, f"{username}.{signature[::-1]}"), "not valid")


def test_a_new_password_ends_every_other_session_and_token(api: Api, http: httpx.Client) -> None:
    here, elsewhere = sign_in(http), sign_in(http)
    token = token_for(http, "cm.rivera").json()["access_token"]
    api.clock.advance(seconds=2)
    change = {"current_password": PASSWORD, "new_password": "a brand new passphrase"}

    changed = http.post(
        "/api/v1/auth/password", json=change, headers={"Cookie": f"{SESSION}={here}"}
    )

    assert changed.status_code == 200, changed.text
    renewed = session_cookie(changed)[SESSION].value
    assert me_with(http, renewed).status_code == 200
    assert_unauthenticated(me_with(http, elsewhere), "password changed")
    assert_unauthenticated(http.get(ME, headers=with_token(token)), "password changed")
    assert token_for(http, "cm.rivera", "a brand new passphrase").status_code == 200
    stale = http.post(
        "/api/v1/auth/password", json=change, headers={"Cookie": f"{SESSION}={renewed}"}
    )
    assert stale.status_code == 403
    assert stale.json()["detail"] == "the current password is wrong"


# --- the read audit over real HTTP --------------------------------------------------------------


def test_a_read_over_http_is_audited_with_the_client_address(api: Api, http: httpx.Client) -> None:
    case_id = api.case_of("cm.rivera")
    token = token_for(http, "cm.rivera").json()["access_token"]
    rivera = Caller(http, "cm.rivera", with_token(token) | {"User-Agent": "dashboard-probe/2"})

    assert rivera.get(f"/api/v1/cases/{case_id}").status_code == 200
    assert rivera.get(f"/api/v1/cases/{case_id}/history").status_code == 200

    assert_every_read_audited(api, rivera)
    assert {(read.network_address, read.user_agent) for read in api.read_audit()} == {
        ("127.0.0.1", "dashboard-probe/2")
    }
    api.clock.advance(minutes=16)
    assert rivera.get(f"/api/v1/cases/{case_id}").status_code == 401
    assert len(api.read_audit()) == 2
