"""`caretrail projections rebuild` and `caretrail replay`: read models rebuilt from the event log.

Also the wiring the other read-model commands share: the live projection store beside the event
store, caught up in embedded mode, and feeding a fresh store from the log.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, tzinfo
from pathlib import Path
from typing import NoReturn
from uuid import UUID, uuid4

import click
from sqlalchemy import text
from tqdm import tqdm

from caretrail.context import CliContext
from caretrail.params import STORE_URL
from consumers.embedded import EventStoreFeed, log_batch
from domain.calendar import utc_instant
from projections.alerts import OpenAlert, open_alerts
from projections.plan_views import PlanView, plan_view
from projections.store import Projection, ProjectionStore
from services.application import CareTrail
from services.read_models import read_models

Progress = Callable[[int], object]


def live_store(context: CliContext) -> ProjectionStore:
    store = ProjectionStore.open(context.settings.database_url)
    store.create_tables()
    return store


def caught_up_store(context: CliContext) -> ProjectionStore:
    """The live read models; in embedded mode first brought up to the end of the event log (with
    a broker, the consumers keep them current, and a second feed would interleave differently)."""
    store = live_store(context)
    if context.settings.kafka_bootstrap is None:
        EventStoreFeed(context.app, store, read_models(), section_size=5000).catch_up()
    return store


def feed_from_log(
    app: CareTrail,
    store: ProjectionStore,
    projections: Sequence[Projection],
    *,
    recorded_until: datetime | None = None,
    stop: int | None = None,
    progress: Progress | None = None,
) -> int:
    """Apply the log from its start to fresh projections, reading each section once for all of
    them; only events recorded up to `recorded_until` (and at positions up to `stop`)."""
    until = None if recorded_until is None else utc_instant(recorded_until)
    applied = 0
    for section in app.event_log_sections(1, section_size=5000):
        batch = log_batch(
            [
                entry
                for entry in section
                if (stop is None or entry.position <= stop)
                and (until is None or utc_instant(entry.event.timestamp) <= until)
            ]
        )
        for projection in projections:
            store.apply(projection, batch)
        applied += len(batch)
        if progress is not None:
            progress(len(section))
        if stop is not None and section[-1].position >= stop:
            break
    return applied


@contextmanager
def scratch_store(database_url: str) -> Iterator[ProjectionStore]:
    """A fresh, empty projection store of the live one's kind (checksums compare within a kind),
    dropped afterwards."""
    if database_url.startswith(("postgresql://", "postgres://")):
        with _scratch_schema(database_url) as url, _closing(_opened(url)) as store:
            yield store
        return
    with (
        tempfile.TemporaryDirectory(prefix="caretrail-rebuild-") as directory,
        _closing(_opened(f"sqlite:///{Path(directory) / 'scratch.db'}")) as store,
    ):
        yield store


@contextmanager
def _closing(store: ProjectionStore) -> Iterator[ProjectionStore]:
    try:
        yield store
    finally:
        store.close()


@contextmanager
def _scratch_schema(database_url: str) -> Iterator[str]:
    schema = f"caretrail_scratch_{uuid4().hex[:12]}"
    admin = ProjectionStore.open(database_url.split("?", 1)[0])
    with admin.engine.begin() as db:
        db.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{database_url.split('?', 1)[0]}?schema={schema}"
    finally:
        with admin.engine.begin() as db:
            db.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.close()


def _opened(database_url: str) -> ProjectionStore:
    store = ProjectionStore.open(database_url)
    store.create_tables()
    return store


def _progress_bar(app: CareTrail, description: str) -> tqdm[NoReturn]:
    # Drawn on a terminal only: in logs and pipes a bar is noise (disable=None does that).
    total = app.recorder.max_notification_id() or 0
    return tqdm(total=total, desc=description, unit="ev", disable=None)


@click.group("projections")
def projections_group() -> None:
    """Rebuild and check the read models (plan views, alerts, timelines, audit trail)."""


@projections_group.command("rebuild")
@click.option(
    "--projection",
    "names",
    multiple=True,
    help="Only this projection (repeatable); default: all.",
)
@click.option(
    "--verify",
    is_flag=True,
    help="Rebuild into a scratch store and compare with the live one instead of replacing it.",
)
@click.pass_obj
def rebuild(context: CliContext, names: tuple[str, ...], verify: bool) -> None:
    """Rebuild read models from the first event, with a progress bar."""
    selected = _selected(names)
    if verify:
        _verify(context, selected)
        return
    store = live_store(context)
    for projection in selected:
        store.reset(projection)
    with _progress_bar(context.app, "rebuild") as bar:
        applied = feed_from_log(context.app, store, selected, progress=bar.update)
    click.echo(f"rebuilt {', '.join(p.name for p in selected)} from {applied} events")


def _verify(context: CliContext, selected: Sequence[Projection]) -> None:
    live = caught_up_store(context)
    end = max((live.position(p.name) or 0) for p in selected)
    with scratch_store(context.settings.database_url) as scratch:
        with _progress_bar(context.app, "rebuild") as bar:
            feed_from_log(context.app, scratch, selected, stop=end, progress=bar.update)
        differing = [p.name for p in selected if scratch.checksum(p) != live.checksum(p)]
    live.close()
    if differing:
        raise click.ClickException(
            f"rebuilt from zero, these differ from the live store: {', '.join(differing)}"
        )
    click.echo(f"verified: {', '.join(p.name for p in selected)} equal a rebuild from zero")


def _selected(names: tuple[str, ...]) -> list[Projection]:
    available = {projection.name: projection for projection in read_models()}
    unknown = sorted(set(names) - set(available))
    if unknown:
        raise click.BadParameter(
            f"no projection {', '.join(unknown)}; known: {', '.join(sorted(available))}",
            param_hint="--projection",
        )
    return [available[name] for name in names] if names else list(available.values())


@click.command()
@click.option("--as-of", "as_of", required=True, help="A time (ISO 8601; a date means its end).")
@click.option("--case", "case_id", type=click.UUID, help="Show this case's plan of care.")
@click.option("--patient", "patient_id", type=click.UUID, help="Show this patient's alerts.")
@click.option(
    "--into",
    type=STORE_URL,
    help="Keep the rebuilt read models in this store URL (default: a throwaway one).",
)
@click.pass_obj
def replay(
    context: CliContext,
    as_of: str,
    case_id: UUID | None,
    patient_id: UUID | None,
    into: str | None,
) -> None:
    """Rebuild plan views and alerts as they stood at a past time (events recorded by then)."""
    moment = context.time(as_of)
    if case_id is not None and patient_id is None:  # the case's alerts are its patient's
        patient_id = context.app.case(case_id).patient_id
    projections = [p for p in read_models() if p.name in ("plan_views", "alerts", "deadlines")]
    with _replay_store(into) as store:
        replayed = feed_from_log(context.app, store, projections, recorded_until=moment)
        click.echo(f"As of {moment.isoformat()}: {replayed} events replayed")
        with store.engine.connect() as db:
            if case_id is not None:
                view = plan_view(db, case_id)
                click.echo(plan_text(view) if view else f"case {case_id} was not known then")
            alerts = open_alerts(db, moment, patient_id=patient_id)
        click.echo("\n".join(alert_lines(alerts, context.zone)))


@contextmanager
def _replay_store(into: str | None) -> Iterator[ProjectionStore]:
    if into is None:
        with scratch_store("memory://") as store:
            yield store
        return
    store = _opened(into)
    if any(store.position(p.name) for p in read_models()):
        raise click.BadParameter(f"{into} already holds read models", param_hint="--into")
    yield store


def plan_text(view: PlanView) -> str:
    lines = [
        f"Case {view.case_id}: {view.status}, consent {view.consent}, "
        f"case manager {view.case_manager or 'unassigned'}",
        f"  plan of care version {view.plan_version}"
        + (f": {view.plan_reason}" if view.plan_reason else " (none yet)"),
    ]
    lines += [
        f"    P{g.priority} {g.goal_id}: {g.description} (target {g.target_date})"
        + (f" [{g.outcome}]" if g.outcome else "")
        for g in view.goals
    ]
    lines += [
        f"      - {i.intervention_id}: {i.description} (owner {i.owner}, due {i.due_date})"
        for i in view.interventions
    ]
    lines += [
        f"  referral {r.referral_id}: {r.service} at {r.provider} [{r.status}]"
        for r in view.referrals
    ]
    lines += [
        f"  barrier {b.barrier_id}: {b.description} [{b.resolution or 'open'}]"
        for b in view.barriers
    ]
    return "\n".join(lines)


def alert_lines(alerts: Sequence[OpenAlert], zone: tzinfo) -> list[str]:
    if not alerts:
        return ["no open alerts"]
    return [_alert_line(alert, zone) for alert in alerts]


def _alert_line(alert: OpenAlert, zone: tzinfo) -> str:
    due = "" if alert.due_at is None else f" due {alert.due_at.astimezone(zone):%Y-%m-%d %H:%M}"
    marks = "".join(
        [
            "*" if alert.needs_attention else " ",
            "^" if alert.escalated_to else " ",
        ]
    )
    return (
        f"{marks} {alert.alert_id}  {alert.severity:<6} {alert.state:<12} {alert.case_manager:<14}"
        f" {alert.rule_id}{due}: {alert.reason}"
    )
