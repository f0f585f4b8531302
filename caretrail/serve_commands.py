"""`caretrail serve`: the API (and the dashboard, once it has pages) under uvicorn."""

from __future__ import annotations

import click
import uvicorn

from api.main import app_from_settings
from caretrail.context import CliContext


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--forwarded-allow-ips",
    default="127.0.0.1",
    show_default=True,
    help="Proxies whose X-Forwarded-For is trusted: the client address the read audit records.",
)
@click.pass_obj
def serve(context: CliContext, host: str, port: int, forwarded_allow_ips: str) -> None:
    """Serve the caretrail API over HTTP (put TLS in front of it for real use)."""
    app = app_from_settings(context.settings)
    click.echo(f"caretrail API at http://{host}:{port}/api/v1/docs")
    uvicorn.run(app, host=host, port=port, forwarded_allow_ips=forwarded_allow_ips)
