"""The `caretrail` command run in-process, as `main` runs it: refusals are one line on stderr."""

from __future__ import annotations

import pytest

from caretrail.cli import main


class Terminal:
    def __init__(self, store: str, capsys: pytest.CaptureFixture[str]) -> None:
        self.store = store
        self.capsys = capsys

    def run(self, *args: str) -> tuple[int, str, str]:
        try:
            main(["--database", self.store, *args])
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else 1
        captured = self.capsys.readouterr()
        return code, captured.out, captured.err

    def ok(self, *args: str) -> str:
        code, out, err = self.run(*args)
        assert code == 0, err
        return out

    def refused(self, *args: str) -> str:
        """The one line a refused command prints; the exit code is not 0."""
        code, out, err = self.run(*args)
        assert code != 0, out
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert lines[0].startswith("caretrail: ")
        return lines[0]


@pytest.fixture
def terminal(
    store_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Terminal:
    monkeypatch.setenv("CARETRAIL_USER", "cm.chen")
    monkeypatch.setenv("CARETRAIL_TIMEZONE", "America/New_York")
    return Terminal(store_url, capsys)
