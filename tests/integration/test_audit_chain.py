"""The hash chain over the stored event log, tampered with directly in SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import sqlite3
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit
from uuid import UUID, uuid4

import psycopg
import pytest

from consumers.embedded import EventStoreFeed
from domain.case import CaseSource, ClosureReason
from domain.patient import Demographics, Identifier
from projections.audit_trail import AuditTrail, AuditTrailIndex
from projections.store import ProjectionStore, event_store_engine, projection_url
from services.application import CareTrail, Provenance
from services.audit_chain import AuditChain, ChainHead, fhir_bundle, history, write_csv
from services.errors import VersionConflict
from tests.clock import ManualClock

NURSE = Provenance("cm.chen", source="test")


class StoredLog(Protocol):
    """The event store's own table, reached around caretrail, as an attacker with DB access."""

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]: ...

    @property
    def table(self) -> str: ...

    @property
    def position(self) -> str: ...

    @property
    def mark(self) -> str: ...


class SqliteLog:
    table, position, mark = "stored_events", "rowid", "?"

    def __init__(self, url: str) -> None:
        self.path = url.removeprefix("sqlite:///")

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.path) as db:
            return db.execute(sql, params).fetchall()


class PostgresLog:
    table, position, mark = "caretrail_events", "notification_id", "%s"

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.schema = parse_qs(parts.query)["schema"][0]
        self.dsn = parts._replace(query="").geturl()

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.dsn, autocommit=True) as db:
            db.execute(f'SET search_path TO "{self.schema}"')
            cursor = db.execute(sql.encode(), params)
            return cursor.fetchall() if cursor.description else []


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/caretrail.db"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def log(store_url: str) -> StoredLog:
    return SqliteLog(store_url) if store_url.startswith("sqlite") else PostgresLog(store_url)


@pytest.fixture
def chain(app: CareTrail, store_url: str, clock: ManualClock) -> Iterator[AuditChain]:
    chain = AuditChain(app, event_store_engine(store_url), clock, section_size=4)
    chain.create_table()
    yield chain
    chain.engine.dispose()


def populate(app: CareTrail, patients: int = 3) -> list[UUID]:
    ids = []
    for n in range(patients):
        patient = app.register_patient(
            [Identifier(f"M{n}", "GENHOSP")], Demographics("Lee", "Grace", date(1960, 1, 1)), NURSE
        )
        case = app.open_case(patient, CaseSource.REFERRAL, "PCP", NURSE)
        app.assign_case_manager(case, "cm.chen", "caseload", NURSE)
        ids.append(patient)
    return ids


def positions(log: StoredLog) -> list[int]:
    return [row[0] for row in log.query(f"SELECT {log.position} FROM {log.table} ORDER BY 1")]


def test_an_untouched_log_verifies_and_new_events_show_as_unsealed(
    app: CareTrail, chain: AuditChain
) -> None:
    populate(app)
    head = chain.seal()
    assert head is not None
    assert head.position == 9
    populate(app, 1)
    verdict = chain.verify([head])
    assert verdict.intact
    assert (verdict.checked, verdict.unsealed) == (9, 3)
    assert chain.seal() == chain.head()
    assert chain.verify([head]).unsealed == 0


def test_a_changed_payload_byte_is_found_at_its_position(
    app: CareTrail, chain: AuditChain, log: StoredLog
) -> None:
    populate(app)
    chain.seal()
    state = log.query(f"SELECT state FROM {log.table} WHERE {log.position} = 5")[0][0]
    forged = bytes(state).replace(b"cm.chen", b"cm.chan")
    assert forged != bytes(state)
    log.query(f"UPDATE {log.table} SET state = {log.mark} WHERE {log.position} = 5", forged)
    verdict = chain.verify()
    assert verdict.first_bad_position == 5
    assert verdict.problem is not None
    assert "changed" in verdict.problem


def test_a_deleted_event_is_found_at_its_position(
    app: CareTrail, chain: AuditChain, log: StoredLog
) -> None:
    populate(app)
    chain.seal()
    log.query(f"DELETE FROM {log.table} WHERE {log.position} = 4")
    verdict = chain.verify()
    assert verdict.first_bad_position == 4
    assert verdict.problem is not None
    assert "missing" in verdict.problem


def test_an_event_inserted_into_the_sealed_log_is_found_at_its_position(
    app: CareTrail, chain: AuditChain, log: StoredLog
) -> None:
    """The forger makes room at position 6 by renumbering the later events, then inserts a copy
    of a real event with a made-up version."""
    populate(app)
    chain.seal()
    shift = f"UPDATE {log.table} SET {log.position} = -{log.position} WHERE {log.position} >= 6"
    log.query(shift)
    log.query(
        f"UPDATE {log.table} SET {log.position} = 1 - {log.position} WHERE {log.position} < 0"
    )
    columns = "originator_id, originator_version, topic, state"
    log.query(
        f"INSERT INTO {log.table} ({log.position}, {columns}) "
        f"SELECT 6, originator_id, 99, topic, state FROM {log.table} WHERE {log.position} = 3"
    )
    assert positions(log) == list(range(1, 11))
    assert chain.verify().first_bad_position == 6


@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
def test_an_event_forged_into_a_gap_of_postgres_ids_is_not_in_the_seal(
    app: CareTrail,
    open_app: Callable[[str], CareTrail],
    store_url: str,
    chain: AuditChain,
    log: StoredLog,
) -> None:
    patient = populate(app, 1)[0]
    case = app.open_case(patient, CaseSource.REFERRAL, "second case", NURSE)
    # A lost race leaves a gap in the notification ids: the sequence moved, the insert failed.
    stale = open_app(store_url).case(case)
    app.assign_case_manager(case, "cm.okafor", "caseload", NURSE)
    stale.assign("cm.novak", "caseload", app._action(NURSE))
    with pytest.raises(VersionConflict):
        app._save(stale)
    app.close_case(case, ClosureReason.MOVED, "call us if you come back", NURSE)
    chain.seal()
    gap = next(n for n in range(1, 8) if n not in positions(log))
    log.query(
        f"INSERT INTO {log.table} ({log.position}, originator_id, originator_version, topic,"
        f" state) SELECT {gap}, originator_id, 99, topic, state FROM {log.table}"
        f" WHERE {log.position} = 2"
    )
    verdict = chain.verify()
    assert verdict.first_bad_position == gap
    assert verdict.problem is not None
    assert "not in the seal" in verdict.problem


def test_rewriting_events_and_chain_together_is_caught_by_the_anchor(
    app: CareTrail, chain: AuditChain, log: StoredLog
) -> None:
    populate(app)
    anchor = chain.seal()
    assert anchor is not None
    log.query(f"DELETE FROM {log.table} WHERE {log.position} = 9")
    with chain.engine.begin() as db:
        db.exec_driver_sql("DELETE FROM audit_chain")
    chain.seal()
    assert chain.verify().intact  # the rewritten chain agrees with the rewritten log...
    verdict = chain.verify([anchor])
    assert verdict.first_bad_position == 9  # ...but not with the head kept outside
    assert verdict.problem is not None
    assert "anchored" in verdict.problem


def test_an_anchor_survives_its_text_form() -> None:
    head = ChainHead(42, "ab" * 32)
    assert ChainHead.from_json(head.as_json()) == head


@pytest.fixture
def index(store_url: str) -> Iterator[AuditTrailIndex]:
    store = ProjectionStore.open(store_url)
    store.create_tables()
    yield AuditTrailIndex(store)
    store.close()


def follow(app: CareTrail, index: AuditTrailIndex) -> None:
    """The audit trail read model catches up with the log, as `caretrail run` keeps it."""
    EventStoreFeed(app, index.store, [AuditTrail()]).catch_up()


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_patient_history_exports_as_fhir_audit_events_and_provenance_and_csv(
    app: CareTrail, chain: AuditChain, clock: ManualClock, index: AuditTrailIndex
) -> None:
    patient = populate(app, 2)[1]
    chain.seal()
    follow(app, index)
    records = history(app, chain, index, patient_id=patient)
    assert [r.event.TOPIC for r in records] == [
        "caretrail.PatientRegistered", "caretrail.CaseOpened", "caretrail.CaseManagerAssigned",
    ]  # fmt: skip
    bundle = fhir_bundle(records, clock())
    resources = [entry["resource"] for entry in bundle["entry"]]
    assert [r["resourceType"] for r in resources] == ["AuditEvent", "Provenance"] * 3
    audit_event = resources[4]
    assert audit_event["action"] == "U"
    assert audit_event["agent"][0]["who"]["identifier"]["value"] == "cm.chen"
    assert audit_event["entity"][0]["what"]["identifier"]["value"] == str(patient)
    details = {d["type"]: d["valueString"] for d in audit_event["entity"][1]["detail"]}
    assert details["chain-link"] == chain.links([records[2].position])[records[2].position]
    assert resources[5]["target"][0]["identifier"]["value"].endswith("/_history/2")
    out = io.StringIO()
    write_csv(records, out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [row["event_type"] for row in rows][-1] == "caretrail.CaseManagerAssigned"
    assert rows[0]["patient_id"] == str(patient)
    assert all(row["chain_link"] for row in rows)


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_case_history_holds_only_that_case(
    app: CareTrail, chain: AuditChain, index: AuditTrailIndex
) -> None:
    patient = populate(app, 1)[0]
    case = app.open_case(patient, CaseSource.REFERRAL, "second", NURSE)
    follow(app, index)
    app.assign_case_manager(case, "cm.okafor", "caseload", NURSE)  # after the index caught up
    records = history(app, chain, index, aggregate_id=case)
    assert [(r.event.originator_id, r.event.originator_version) for r in records] == [
        (case, 1), (case, 2),
    ]  # fmt: skip
    assert records[0].chain_link is None  # not sealed yet
    assert history(app, chain, index, aggregate_id=uuid4()) == []


def test_a_patient_history_is_found_through_the_index_not_by_reading_the_whole_log(
    app: CareTrail, chain: AuditChain, index: AuditTrailIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Compliance asks for one patient in a log of millions: the audit trail read model says
    where their events are, and only those and the events it has not followed yet are read."""
    patient = populate(app, 3)[1]
    follow(app, index)
    app.open_case(patient, CaseSource.REFERRAL, "readmitted", NURSE)  # not followed yet
    every_event = [logged for logged in app.event_log() if logged.event.patient_id == patient]
    read_from: list[int | None] = []
    reading = app.recorder.select_notifications

    def select_notifications(start: int | None, limit: int, *args: Any, **options: Any) -> Any:
        read_from.append(start)
        return reading(start, limit, *args, **options)

    monkeypatch.setattr(app.recorder, "select_notifications", select_notifications)
    records = history(app, chain, index, patient_id=patient)
    assert [r.position for r in records] == [logged.position for logged in every_event]
    assert [r.event.TOPIC for r in records][-1] == "caretrail.CaseOpened"
    assert sorted(read_from) == [4, 10]  # the patient's run of three, then the unfollowed tail


def test_a_patient_history_holds_the_records_merged_into_theirs(
    app: CareTrail, chain: AuditChain, index: AuditTrailIndex
) -> None:
    survivor, duplicate, other = populate(app, 3)
    app.merge_patients(duplicate, survivor, NURSE)
    follow(app, index)
    records = history(app, chain, index, patient_id=survivor)
    filed_under = {record.event.patient_id for record in records}
    assert filed_under == {survivor, duplicate}
    assert other not in filed_under
    assert len(records) == 3 + 3 + 2  # each record's story, and the merge on both
    assert [r.position for r in records] == sorted(r.position for r in records)


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_the_seal_stays_with_the_events_when_the_read_models_are_thrown_away(
    app: CareTrail, chain: AuditChain, store_url: str, log: StoredLog
) -> None:
    """Read models may be deleted and rebuilt at will; the seal must not go with them, or a
    forger would delete them, change an event and seal again."""
    populate(app)
    read_models = ProjectionStore.open(store_url)
    read_models.create_tables()
    follow(app, AuditTrailIndex(read_models))
    chain.seal()
    read_models.close()
    Path(projection_url(store_url).removeprefix("sqlite:///")).unlink()
    log.query(f"UPDATE {log.table} SET state = replace(state, 'Grace', 'Grete') WHERE "
              f"{log.position} = 4")  # fmt: skip
    assert chain.verify().first_bad_position == 4


def test_a_log_no_seal_covers_is_not_called_intact(app: CareTrail, chain: AuditChain) -> None:
    assert not chain.verify().unproven  # an empty log: nothing to prove
    populate(app, 1)
    verdict = chain.verify()
    assert verdict.intact  # nothing found altered...
    assert verdict.unproven  # ...because nothing was sealed
    chain.seal()
    assert not chain.verify().unproven
