"""`caretrail alerts ...`, `caretrail scheduler` and `caretrail rules backtest`."""

from __future__ import annotations

import signal
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from uuid import UUID

import click
import orjson

from caretrail.context import CliContext
from caretrail.projection_commands import (
    alert_lines,
    caught_up_store,
    feed_from_log,
    live_store,
    scratch_store,
)
from consumers.embedded import EventStoreFeed
from consumers.pipeline import scheduler_for
from domain.alert import AlertStep
from domain.encounter import EncounterRegistered, TransitionCancelled, TransitionEvent
from domain.events import CaretrailEvent
from projections.alerts import UNASSIGNED, Alerts, attention_by_case_manager, open_alerts
from projections.deadlines import Deadlines, WouldAlert, alert_work, would_alert
from projections.store import ProjectionStore, event_store_engine
from services.alerting import SUPERVISOR, AlertService
from services.application import CareTrail
from services.audit_chain import AuditChain
from services.read_models import read_models
from services.rules_config import load_ruleset


@click.group("alerts")
def alerts_group() -> None:
    """Work the transition alert queue: list, acknowledge, snooze, escalate."""


@alerts_group.command("list")
@click.option("--case-manager", help="Only this case manager's queue ('(unassigned)' too).")
@click.option("--patient", "patient_id", type=click.UUID, help="Only this patient's alerts.")
@click.option("--json", "json_output", is_flag=True, help="One JSON object per line.")
@click.pass_obj
def list_alerts(
    context: CliContext, case_manager: str | None, patient_id: UUID | None, json_output: bool
) -> None:
    """Open alerts, most urgent first (* needs attention, ^ escalated)."""
    now = context.app.clock()
    with caught_up_store(context).engine.connect() as db:
        found = open_alerts(db, now, case_manager=case_manager, patient_id=patient_id)
        waiting = attention_by_case_manager(db, now)
        unraised = sum(work.step is AlertStep.RAISE for work in alert_work(db, now))
    if json_output:
        for alert in found:  # times in ISO 8601 with their offset, like `caretrail log --json`
            click.echo(orjson.dumps(alert).decode())
        return
    click.echo("\n".join(alert_lines(found, context.zone)))
    click.echo("needing attention: " + _counts(waiting))
    if unraised:  # e.g. right after an ingest, before any scheduler ran
        click.echo(
            f"{unraised} more fell due and are not raised yet: the scheduler raises them "
            "(`caretrail scheduler`, `run` or `serve`)"
        )


@alerts_group.command("ack")
@click.argument("alert_id", type=click.UUID)
@click.option("--note", default="", help="What you are doing about it.")
@click.pass_obj
def acknowledge(context: CliContext, alert_id: UUID, note: str) -> None:
    """Acknowledge an alert: you have seen it and own it."""
    AlertService(context.app).acknowledge(alert_id, note, context.provenance(None))
    click.echo(f"alert {alert_id} acknowledged")


@alerts_group.command("snooze")
@click.argument("alert_id", type=click.UUID)
@click.option("--reason", required=True, help="Why it can wait (required).")
@click.option("--until", "until", required=True, help="Until when (ISO 8601; a date: its end).")
@click.pass_obj
def snooze(context: CliContext, alert_id: UUID, reason: str, until: str) -> None:
    """Snooze an alert until a time, with a reason; it is not escalated meanwhile."""
    moment = context.time(until)
    AlertService(context.app).snooze(alert_id, reason, moment, context.provenance(None))
    click.echo(f"alert {alert_id} snoozed until {moment.isoformat()}")


@alerts_group.command("escalate")
@click.argument("alert_id", type=click.UUID)
@click.option("--reason", required=True)
@click.option("--to", "supervisor", default=SUPERVISOR, show_default=True)
@click.pass_obj
def escalate(context: CliContext, alert_id: UUID, reason: str, supervisor: str) -> None:
    """Escalate an alert to the supervisor's queue."""
    AlertService(context.app, supervisor).escalate(alert_id, reason, context.provenance(None))
    click.echo(f"alert {alert_id} escalated to {supervisor}")


@click.command()
@click.option("--once", is_flag=True, help="One tick, then exit.")
@click.option("--interval", type=click.FloatRange(min=0.1), default=60.0, show_default=True)
@click.option("--supervisor", default=SUPERVISOR, show_default=True, help="Escalate to.")
@click.pass_obj
def scheduler(context: CliContext, once: bool, interval: float, supervisor: str) -> None:
    """Turn due and overdue deadlines into alert events (and seal the audit chain) every tick."""
    app = context.app
    store = live_store(context)
    chain = AuditChain.opened(app, event_store_engine(context.settings.database_url))
    # In embedded mode nobody else feeds the read model the scheduler reads.
    embedded = context.settings.kafka_bootstrap is None
    ticking = scheduler_for(app, store, embedded=embedded, supervisor=supervisor, chain=chain)
    if once:
        click.echo(f"tick: {_counts(ticking.tick())}")
        return
    stop = threading.Event()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signal_number, lambda *_: stop.set())
    click.echo(f"scheduler ticking every {interval:g} s; Ctrl-C stops it")
    ticking.run(stop, interval)


@click.group("rules")
def rules_group() -> None:
    """Transition alert rules: try a candidate rule file against history."""


@rules_group.command("backtest")
@click.option(
    "--rules",
    "candidate_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="The candidate rule file (TOML, same format as transition_rules.toml).",
)
@click.option("--from", "start", required=True, help="Start of the period (ISO 8601).")
@click.option("--to", "end", required=True, help="End of the period (a date means its end).")
@click.option(
    "--current",
    "current_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The rule file in force (default: the installed one).",
)
@click.option("--limit", type=click.IntRange(min=0), default=50, show_default=True)
@click.pass_obj
def backtest(
    context: CliContext,
    candidate_file: Path,
    start: str,
    end: str,
    current_file: Path | None,
    limit: int,
) -> None:
    """Replay history under a candidate rule file and show which alerts it would have raised
    differently from the rules in force. Writes nothing."""
    period = (context.time(start), context.time(end))
    if period[0] >= period[1]:
        raise click.BadParameter("--from must be before --to", param_hint="--from")
    current = _simulated_alerts(context, current_file, period)
    candidate = _simulated_alerts(context, candidate_file, period)
    click.echo(_comparison(current, candidate, limit))


@dataclass(frozen=True)
class Simulation:
    """The alerts a rule version would have raised in the period, by condition."""

    version: str
    alerts: dict[str, WouldAlert]


def _simulated_alerts(
    context: CliContext, rule_file: Path | None, period: tuple[datetime, datetime]
) -> Simulation:
    ruleset, calendar = load_ruleset(rule_file)
    projection = Deadlines(ruleset, calendar)
    with scratch_store("memory://") as store:
        feed_from_log(context.app, store, [projection], recorded_until=period[1])
        with store.engine.connect() as db:
            alerted = would_alert(db, *period)
    return Simulation(ruleset.version, {alert.condition_key: alert for alert in alerted})


def _comparison(current: Simulation, candidate: Simulation, limit: int) -> str:
    was, now = current.alerts, candidate.alerts
    only_current = sorted(was.keys() - now.keys())
    only_candidate = sorted(now.keys() - was.keys())
    changed = sorted(
        key
        for key in was.keys() & now.keys()
        if (was[key].severity, was[key].alerted_at) != (now[key].severity, now[key].alerted_at)
    )
    lines = [
        "alerts a scheduler ticking throughout the period would have raised (so not necessarily "
        "those this store holds, which depend on when its scheduler ran):",
        f"rules in force (v{current.version}): {len(was)}; "
        f"candidate (v{candidate.version}): {len(now)}",
        "per rule (in force -> candidate):",
        *_per_rule(was.values(), now.values()),
        f"only in force: {len(only_current)}; only candidate: {len(only_candidate)}; "
        f"raised differently: {len(changed)}",
    ]
    lines += [f"  - {was[key].alerted_at:%Y-%m-%d %H:%M} {key}" for key in only_current[:limit]]
    lines += [f"  + {now[key].alerted_at:%Y-%m-%d %H:%M} {key}" for key in only_candidate[:limit]]
    lines += [_difference(was[key], now[key]) for key in changed[:limit]]
    return "\n".join(lines)


def _per_rule(current: Iterable[WouldAlert], candidate: Iterable[WouldAlert]) -> list[str]:
    was = Counter(alert.rule_id for alert in current)
    now = Counter(alert.rule_id for alert in candidate)
    return [
        f"  {rule:<32} {was[rule]:>6} -> {now[rule]}" for rule in sorted(was.keys() | now.keys())
    ]


def _difference(current: WouldAlert, candidate: WouldAlert) -> str:
    return (
        f"  ~ {current.condition_key}: {current.severity} at {current.alerted_at:%Y-%m-%d %H:%M}"
        f" -> {candidate.severity} at {candidate.alerted_at:%Y-%m-%d %H:%M}"
    )


def is_adt_notification(event: CaretrailEvent) -> bool:
    """What a notify-on-every-ADT service would send: every transition message, cancels too."""
    return isinstance(event, EncounterRegistered | TransitionEvent | TransitionCancelled)


def alert_summary(app: CareTrail, store: ProjectionStore) -> str:
    """One scheduler tick at the clock's now, and how it compares with raw ADT notifications."""
    done = scheduler_for(app, store, embedded=True).tick()
    alerts = [p for p in read_models() if isinstance(p, Alerts)]
    EventStoreFeed(app, store, alerts, section_size=5000).catch_up()
    with store.engine.connect() as db:
        waiting = [alert for alert in open_alerts(db, app.clock()) if alert.needs_attention]
    notifications = sum(1 for entry in app.event_log() if is_adt_notification(entry.event))
    managed = Counter(alert.case_manager for alert in waiting if alert.case_manager != UNASSIGNED)
    unmanaged = {alert.patient_id for alert in waiting if alert.case_manager == UNASSIGNED}
    per_manager = sum(managed.values()) / len(managed) if managed else 0
    return (
        f"  alerts         {done['raise']} raised ({done['escalate']} escalated as overdue) "
        f"where a notify-on-every-ADT service sends {notifications}\n"
        f"  to act on      {_counts(managed)} alerts ({per_manager:.1f} a case manager)\n"
        # Patients without a case manager have no one else to act: their alerts are the queue a
        # supervisor triages into cases.
        f"  unassigned     {len(waiting) - sum(managed.values())} needing action for "
        f"{len(unmanaged)} patients without a case manager (the supervisor's queue)"
    )


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{name} {count}" for name, count in counter.most_common()) or "nothing"
