"""`caretrail ingest` for backfills and `caretrail quarantine list|show|retry`, on an SQLite file
(the embedded default, whose identity key is created beside it)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from caretrail.cli import cli, main
from ingest.mllp import frame
from services.bootstrap import bootstrap
from services.settings import Settings
from tests.adt_support import fixture_bytes


@pytest.fixture
def caretrail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("CARETRAIL_DATABASE_URL", f"sqlite:///{tmp_path}/caretrail.db")
    monkeypatch.setenv("CARETRAIL_TIMEZONE", "UTC")
    monkeypatch.delenv("CARETRAIL_IDENTITY_KEY", raising=False)
    return CliRunner()


def run(caretrail: CliRunner, *args: str) -> Result:
    return caretrail.invoke(cli, list(args), catch_exceptions=False)


def test_a_backfill_is_counted_by_outcome_and_its_rejects_quarantined(
    caretrail: CliRunner, tmp_path: Path
) -> None:
    plain = tmp_path / "admissions.hl7"
    plain.write_bytes(  # LF-separated, one message after another
        (fixture_bytes("epic_a01_admit_inpatient") + fixture_bytes("a02_transfer_to_icu")).replace(
            b"\r", b"\n"
        )
    )
    framed = tmp_path / "later.mllp"
    framed.write_bytes(
        frame(fixture_bytes("a13_cancel_discharge"))  # before the discharge it cancels
        + frame(b"garbage")
        + frame(fixture_bytes("epic_a01_admit_inpatient"))  # a resend
    )

    done = run(caretrail, "ingest", str(plain), str(framed))

    assert done.exit_code == 1
    assert "5 messages: applied 2, duplicate 1, refused 1, rejected 1" in done.output
    assert "2 quarantined; see: caretrail quarantine list" in done.output

    listed = run(caretrail, "quarantine", "list").output.splitlines()
    assert len(listed) == 2
    refused_id = int(listed[0].split()[0])
    assert "EPIC@UMCMAIN  EPC000186577  A13  AE" in listed[0]
    assert "AR  not an HL7 v2 message" in listed[1]

    shown = run(caretrail, "quarantine", "show", str(refused_id)).output
    assert re.search(r"outcome\s+refused \(AE\)", shown)
    assert "  EVN|A13|" in shown

    (tmp_path / "discharge.hl7").write_bytes(fixture_bytes("a03_discharge_home"))
    assert run(caretrail, "ingest", str(tmp_path / "discharge.hl7")).exit_code == 0
    retried = run(caretrail, "quarantine", "retry", str(refused_id))
    assert retried.exit_code == 0
    assert f"{refused_id:>8}  AA  applied" in retried.output

    still = run(caretrail, "quarantine", "retry", "--all")
    assert still.exit_code == 1
    assert "AR  rejected" in still.output
    assert len(run(caretrail, "quarantine", "list").output.splitlines()) == 1


def test_quarantine_commands_explain_what_they_cannot_do(caretrail: CliRunner) -> None:
    bootstrap(Settings()).close()  # an empty store: one that is not there is refused as such
    assert run(caretrail, "quarantine", "list").output.strip() == "the quarantine is empty"
    missing = run(caretrail, "quarantine", "show", "999")
    assert missing.exit_code == 1
    assert "no archived message 999" in missing.output
    assert run(caretrail, "quarantine", "retry").exit_code == 2


def test_a_byte_order_mark_and_blank_lines_around_a_message_are_not_messages(
    caretrail: CliRunner, tmp_path: Path
) -> None:
    exported = tmp_path / "bom.hl7"
    exported.write_bytes(fixture_bytes("a01_bom_and_blank_lines"))

    done = run(caretrail, "ingest", str(exported))

    assert done.exit_code == 0
    assert "1 messages: applied 1" in done.output
    assert run(caretrail, "quarantine", "list").output.strip() == "the quarantine is empty"


def test_a_message_whose_frame_the_file_ends_inside_is_quarantined_not_lost(
    caretrail: CliRunner, tmp_path: Path
) -> None:
    cut = tmp_path / "cut.mllp"
    cut.write_bytes(b"\x0b" + fixture_bytes("a03_discharge_home"))  # no end block

    done = run(caretrail, "ingest", str(cut))

    assert done.exit_code == 1
    assert "1 messages: rejected 1" in done.output
    (held,) = run(caretrail, "quarantine", "list").output.splitlines()
    assert "AR  MLLP frame cut short: the file ends before its end block" in held
    shown = run(caretrail, "quarantine", "show", held.split()[0]).output
    assert "  PV1|1|I|" in shown


def test_a_message_outside_the_frames_of_a_framed_file_is_quarantined_and_can_be_retried(
    caretrail: CliRunner, tmp_path: Path
) -> None:
    mixed = tmp_path / "mixed.mllp"
    mixed.write_bytes(fixture_bytes("a01_missing_evn") + frame(fixture_bytes("a03_discharge_home")))

    done = run(caretrail, "ingest", str(mixed))

    assert done.exit_code == 1
    assert "2 messages: applied 1, rejected 1" in done.output
    (held,) = run(caretrail, "quarantine", "list").output.splitlines()
    assert "Q2301122205T0001  A01  AR  outside any MLLP frame, in a file of MLLP frames" in held
    retried = run(caretrail, "quarantine", "retry", held.split()[0])
    assert retried.exit_code == 0
    assert "AA  applied" in retried.output


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"", "it is empty"),
        (b"\r\n\r\n", "no MSH segment in its 4 bytes"),
        (b"\x7fELF" + bytes(range(256)) * 4, "no MSH segment in its 1028 bytes"),
    ],
    ids=["empty", "blank", "binary"],
)
def test_a_file_holding_no_hl7_message_is_refused_and_nothing_is_stored(
    caretrail: CliRunner,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: bytes,
    why: str,
) -> None:
    good, named_by_mistake = tmp_path / "discharge.hl7", tmp_path / "not-hl7"
    good.write_bytes(fixture_bytes("a03_discharge_home"))
    named_by_mistake.write_bytes(content)

    with pytest.raises(SystemExit) as refused:
        main(["ingest", str(good), str(named_by_mistake)])

    assert refused.value.code == 2
    assert capsys.readouterr().err == f"caretrail: {named_by_mistake} holds no HL7 message: {why}\n"
    assert not (tmp_path / "caretrail.db").exists()  # not even the store was created
