"""Bearer tokens (JWT) for systems and feeds.

caretrail issues HS256 tokens to its local users; a site's OIDC provider can issue RS256 tokens
instead (or as well), verified against its public key or JWKS file. Every token must carry the
configured issuer and audience. Expiry is checked against the application's clock, the one every
other time in caretrail comes from.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import uuid4

import jwt

from api.settings import ApiSettings
from domain.users import Role, User
from services.application import Clock

LOCAL_ALGORITHM = "HS256"
PROVIDER_ALGORITHM = "RS256"
CLOCK_SKEW = timedelta(seconds=30)


class TokenRejected(Exception):
    """The token is malformed, forged, expired, or not meant for caretrail."""


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_in: int


@dataclass(frozen=True)
class TokenClaims:
    username: str
    roles: frozenset[Role]
    issued_at: float


class BearerTokens:
    def __init__(self, settings: ApiSettings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self._secret = (
            settings.jwt_secret.get_secret_value()
            if settings.jwt_secret
            else secrets.token_urlsafe(32)
        )
        self._provider_keys = _provider_keys(settings)

    def issue(self, user: User) -> IssuedToken:
        now = self.clock()
        lifetime = timedelta(minutes=self.settings.access_token_minutes)
        claims = {
            "iss": self.settings.jwt_issuer,
            "aud": self.settings.jwt_audience,
            "sub": user.username,
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "exp": int((now + lifetime).timestamp()),
            "jti": uuid4().hex,
            self.settings.jwt_roles_claim: sorted(user.roles),
        }
        token = jwt.encode(claims, self._secret, algorithm=LOCAL_ALGORITHM)
        return IssuedToken(token, int(lifetime.total_seconds()))

    def verify(self, token: str) -> TokenClaims:
        claims = self._decode(token)
        now = self.clock().timestamp()
        skew = CLOCK_SKEW.total_seconds()
        if claims["exp"] <= now - skew:
            raise TokenRejected("the token has expired")
        if claims.get("nbf", 0) > now + skew:
            raise TokenRejected("the token is not valid yet")
        username = claims.get(self.settings.jwt_username_claim)
        if not isinstance(username, str) or not username:
            raise TokenRejected(f"the token names no user in '{self.settings.jwt_username_claim}'")
        return TokenClaims(
            username, _roles(claims.get(self.settings.jwt_roles_claim)), _iat(claims)
        )

    def _decode(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
            key = self._key_for(header)
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[header["alg"]],
                audience=self.settings.jwt_audience,
                issuer=self.settings.jwt_issuer,
                # Times are checked in verify(), against the application clock.
                options={
                    "require": ["exp", "iss", "aud"],
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except (jwt.PyJWTError, KeyError, ValueError, TypeError) as error:
            raise TokenRejected(f"the token was refused: {error}") from None
        if not isinstance(claims.get("exp"), int | float):
            raise TokenRejected("the token's expiry is not a time")
        return claims

    def _key_for(self, header: dict[str, Any]) -> Any:
        # The algorithm picks the key, and each key serves exactly one algorithm, so a public
        # key can never be misused as an HMAC secret.
        algorithm = header.get("alg")
        if algorithm == LOCAL_ALGORITHM:
            return self._secret
        if algorithm == PROVIDER_ALGORITHM and self._provider_keys:
            kid = header.get("kid")
            if kid in self._provider_keys:
                return self._provider_keys[kid]
            if None in self._provider_keys:
                return self._provider_keys[None]
            raise TokenRejected(f"no key of the identity provider has kid '{kid}'")
        raise TokenRejected(f"tokens signed with '{algorithm}' are not accepted")


def _provider_keys(settings: ApiSettings) -> dict[str | None, Any]:
    """The identity provider's public keys by kid (None: the single PEM key)."""
    keys: dict[str | None, Any] = {}
    if settings.jwt_public_key_file is not None:
        keys[None] = settings.jwt_public_key_file.read_text(encoding="utf-8")
    if settings.jwks_file is not None:
        jwks = jwt.PyJWKSet.from_dict(json.loads(settings.jwks_file.read_text(encoding="utf-8")))
        keys.update({key.key_id: key for key in jwks.keys if key.key_id})
    return keys


def _roles(claimed: object) -> frozenset[Role]:
    known = {str(role) for role in Role}
    if not isinstance(claimed, list):
        return frozenset()
    return frozenset(Role(name) for name in claimed if isinstance(name, str) and name in known)


def _iat(claims: dict[str, Any]) -> float:
    issued_at = claims.get("iat")
    return float(issued_at) if isinstance(issued_at, int | float) else 0.0
