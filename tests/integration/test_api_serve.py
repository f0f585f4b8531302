"""`caretrail serve` answers on its port: a real process, as an operator starts it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_caretrail_serve_answers_on_its_port(tmp_path: Path) -> None:
    port = free_port()
    env = os.environ | {"CARETRAIL_DATABASE_URL": f"sqlite:///{tmp_path}/caretrail.db"}
    server = subprocess.Popen(
        [sys.executable, "-m", "caretrail", "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        health = _wait_for(f"http://127.0.0.1:{port}/api/v1/health")
        assert health.json() == {"status": "ok"}
        unauthenticated = httpx.get(f"http://127.0.0.1:{port}/api/v1/auth/me")
        assert unauthenticated.status_code == 401
        assert (tmp_path / "caretrail.users.db").exists()
    finally:
        server.send_signal(signal.SIGINT)
        output, _ = server.communicate(timeout=20)
    assert f"http://127.0.0.1:{port}/api/v1/docs" in output


def _wait_for(url: str) -> httpx.Response:
    deadline = time.monotonic() + 30
    while True:
        try:
            return httpx.get(url)
        except httpx.TransportError:
            assert time.monotonic() < deadline, f"nothing answered at {url}"
            time.sleep(0.1)
