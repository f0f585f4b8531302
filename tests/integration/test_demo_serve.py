"""`caretrail demo` without --no-serve: the dashboard app on the demo store, demo users printed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from services.users import DEMO_USERS


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def served_demo(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The demo serving on a free port; yields its base URL and what it printed until then."""
    port = free_port()
    demo = subprocess.Popen(
        [sys.executable, "-m", "caretrail", "demo", "--patients", "30", "--port", str(port)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env=os.environ | {"PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    assert demo.stdout is not None
    printed = []
    deadline = time.monotonic() + 120
    for line in demo.stdout:
        printed.append(line)
        if line.startswith("Dashboard:") or time.monotonic() > deadline:
            break
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_answering(base)
        yield base, "".join(printed)
    finally:
        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=30) == 0


def test_the_demo_serves_the_dashboard_with_a_user_per_role(served_demo: tuple[str, str]) -> None:
    base, printed = served_demo
    assert f"Dashboard: {base}/" in printed
    for user in DEMO_USERS:
        assert f"{user.username:<16} {user.role:<16} password: {user.password}" in printed
        with httpx.Client(base_url=base) as browser:
            signed_in = browser.post(
                "/api/v1/auth/session",
                json={"username": user.username, "password": user.password},
            )
            assert signed_in.status_code == 200, signed_in.text
            assert browser.get("/api/v1/auth/me").json()["roles"] == [user.role]


def _wait_until_answering(base: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/api/v1/health").status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the demo's server did not answer"
        time.sleep(0.2)
