"""Dashboard sessions: a signed cookie naming the user, when they signed in and were last active.

The cookie is signed rather than looked up server-side so that any worker, and a restarted
process with the same secret, can check it without shared storage. What a signature cannot do,
revoke, is covered by checking the account on every request: a disabled account or a changed
password ends every session at once. Inactivity (automatic logoff, HIPAA 164.312(a)(2)(iii)) and
an absolute lifetime are checked against the application clock.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fastapi import Response
from itsdangerous import BadSignature, URLSafeSerializer

from api.settings import ApiSettings
from services.application import Clock

SESSION_COOKIE = "caretrail_session"


class SessionEnded(Exception):
    """The cookie is forged, or the session ended by inactivity or old age: sign in again."""


@dataclass(frozen=True)
class Session:
    username: str
    signed_in_at: datetime


class SessionCookies:
    def __init__(self, settings: ApiSettings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        secret = (
            settings.session_secret.get_secret_value()
            if settings.session_secret
            else secrets.token_urlsafe(32)
        )
        self._serializer = URLSafeSerializer(secret, salt="caretrail.session")
        self._csrf = URLSafeSerializer(secret, salt="caretrail.csrf")
        self._idle = timedelta(minutes=settings.session_idle_minutes)
        self._lifetime = timedelta(hours=settings.session_max_hours)

    def csrf_token(self, username: str) -> str:
        """The token a dashboard form carries: a page of another site cannot know it."""
        return self._csrf.dumps(username)

    def csrf_token_is_valid(self, token: str, username: str) -> bool:
        try:
            return bool(self._csrf.loads(token) == username)
        except BadSignature:
            return False

    def start(self, response: Response, username: str) -> Session:
        session = Session(username, self.clock())
        self._send(response, session)
        return session

    def resume(self, cookie: str) -> Session:
        try:
            username, signed_in_at, last_seen = self._serializer.loads(cookie)
            session = Session(str(username), _moment(signed_in_at))
            last_active = _moment(last_seen)
        except (BadSignature, TypeError, ValueError, OverflowError):
            raise SessionEnded("the session cookie is not valid; sign in again") from None
        now = self.clock()
        if now - last_active > self._idle:
            raise SessionEnded(
                f"signed out after {self.settings.session_idle_minutes} minutes of inactivity"
            )
        if now - session.signed_in_at > self._lifetime:
            raise SessionEnded(
                f"sessions last at most {self.settings.session_max_hours} hours; sign in again"
            )
        return session

    def keep_alive(self, response: Response, session: Session) -> None:
        """Re-sends the cookie with this request as the latest activity."""
        self._send(response, session)

    def end(self, response: Response) -> None:
        response.delete_cookie(
            SESSION_COOKIE,
            path="/",
            secure=self.settings.session_cookie_secure,
            httponly=True,
            samesite="lax",
        )

    def _send(self, response: Response, session: Session) -> None:
        # One response may renew the old session and then start a new one (a password change):
        # only the last is sent, so no client keeps the first.
        name = f"{SESSION_COOKIE}=".encode()
        response.raw_headers[:] = [
            (key, header)
            for key, header in response.raw_headers
            if not (key == b"set-cookie" and header.startswith(name))
        ]
        value = self._serializer.dumps(
            [session.username, session.signed_in_at.timestamp(), self.clock().timestamp()]
        )
        response.set_cookie(
            SESSION_COOKIE,
            value,
            max_age=int(self._idle.total_seconds()),
            path="/",
            secure=self.settings.session_cookie_secure,
            httponly=True,
            samesite="lax",
        )


def _moment(timestamp: object) -> datetime:
    if not isinstance(timestamp, int | float):
        raise TypeError("not a timestamp")
    return datetime.fromtimestamp(timestamp, UTC)
