"""How the API authenticates, from the environment (prefix CARETRAIL_).

With nothing configured, signing secrets are random per process: sessions and tokens then last
until a restart, which suits a demo and a first run. Set them to keep sign-ins across restarts and
across workers.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CARETRAIL_", extra="ignore")

    session_secret: SecretStr | None = Field(
        default=None, description="Signs dashboard session cookies; random per process if unset"
    )
    session_cookie_secure: bool = Field(
        default=True,
        description="Send the session cookie over HTTPS only; false only for plain-HTTP trials",
    )
    session_idle_minutes: int = Field(
        default=15, ge=1, description="Automatic logoff after this much inactivity"
    )
    session_max_hours: int = Field(
        default=12, ge=1, description="A session ends after this long even if kept active"
    )
    jwt_issuer: str = Field(default="caretrail", description="`iss` every bearer token carries")
    jwt_audience: str = Field(default="caretrail-api", description="`aud` every token carries")
    jwt_secret: SecretStr | None = Field(
        default=None, description="HS256 key of locally issued tokens; random per process if unset"
    )
    jwt_public_key_file: Path | None = Field(
        default=None, description="PEM public key of a site identity provider (RS256 tokens)"
    )
    jwks_file: Path | None = Field(
        default=None, description="JWKS file of a site identity provider (RS256 tokens, by kid)"
    )
    jwt_username_claim: str = Field(
        default="sub", description="Claim naming the user (e.g. preferred_username for OIDC)"
    )
    jwt_roles_claim: str = Field(
        default="roles", description="Claim listing roles, for users not registered locally"
    )
    access_token_minutes: int = Field(
        default=15, ge=1, le=24 * 60, description="Lifetime of locally issued bearer tokens"
    )
    break_glass_minutes: int = Field(
        default=60, ge=1, le=12 * 60, description="How long emergency access to a case lasts"
    )
