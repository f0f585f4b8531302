"""The demo's second half: the dashboard on the demo store, with one demo user per role.

Plain HTTP on the loopback address, so the session cookie is sent without TLS here only; the
scheduler ticks every few seconds so a message posted during the demo shows up at once.
"""

from __future__ import annotations

import click
import uvicorn

from api.main import app_from_settings
from api.settings import ApiSettings
from caretrail.user_commands import create_demo_users
from services.settings import Settings

DEMO_TICK_SECONDS = 5.0


def serve_demo(store: str, host: str, port: int) -> None:
    settings = Settings(database_url=store, scheduler_interval_seconds=DEMO_TICK_SECONDS)
    create_demo_users(settings)
    app = app_from_settings(settings, ApiSettings(session_cookie_secure=False))
    click.echo(
        f"\nDashboard: http://{host}:{port}/  (sign in as cm.rivera to work alerts; "
        "Ctrl-C stops the demo)"
    )
    uvicorn.run(app, host=host, port=port, log_level="warning")
