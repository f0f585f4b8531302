"""The `caretrail` command line."""

from __future__ import annotations

import importlib
import sys
from datetime import datetime
from typing import NoReturn
from uuid import UUID

import click
from eventsourcing.persistence import PersistenceError

from caretrail.case_commands import case
from caretrail.context import CliContext
from caretrail.render import as_json, log_entry, log_line
from domain.errors import DomainRuleViolation
from domain.patient import Demographics, Identifier
from services.errors import MalformedInput, NotFound, StoreUnavailable, VersionConflict
from services.settings import load_settings

# Refusals a user can act on: one line on stderr, exit 1, nothing stored.
REFUSALS = (DomainRuleViolation, NotFound, VersionConflict, ValueError)


# Loaded only when used: a case command should not pay for importing the API, Kafka clients
# and the projections (that import alone takes over a second).
LAZY_COMMANDS = {
    "adt-inbound": "caretrail.ingest_commands:adt_inbound",
    "alerts": "caretrail.alert_commands:alerts_group",
    "audit": "caretrail.audit_commands:audit_group",
    "consume": "caretrail.pipeline_commands:consume",
    "demo": "caretrail.demo:demo",
    "ingest": "caretrail.ingest_commands:ingest",
    "mllp": "caretrail.ingest_commands:mllp",
    "projections": "caretrail.projection_commands:projections_group",
    "quarantine": "caretrail.ingest_commands:quarantine",
    "relay": "caretrail.pipeline_commands:relay",
    "replay": "caretrail.projection_commands:replay",
    "rules": "caretrail.alert_commands:rules_group",
    "run": "caretrail.pipeline_commands:run",
    "scheduler": "caretrail.alert_commands:scheduler",
    "serve": "caretrail.serve_commands:serve",
    "users": "caretrail.user_commands:users",
}


class LazyGroup(click.Group):
    """A group whose subcommands named in LAZY_COMMANDS are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *LAZY_COMMANDS])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in LAZY_COMMANDS:
            return super().get_command(ctx, cmd_name)
        module, _, name = LAZY_COMMANDS[cmd_name].partition(":")
        command = getattr(importlib.import_module(module), name)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--database",
    envvar="CARETRAIL_DATABASE_URL",
    default=None,
    help="Event store URL (default: the embedded SQLite file .caretrail/caretrail.db).",
)
@click.pass_context
def cli(ctx: click.Context, database: str | None) -> None:
    """caretrail: care transitions and case management, every action an immutable event."""
    ctx.obj = CliContext(load_settings(database))


@cli.command()
@click.option("--json", "as_json_lines", is_flag=True, help="One JSON object per line.")
@click.option("--patient", type=click.UUID, help="Only events about this patient.")
@click.option("--since", help="Only events recorded at or after this time (ISO 8601).")
@click.option("--limit", type=click.IntRange(min=1), help="Stop after this many events.")
@click.pass_obj
def log(
    context: CliContext,
    as_json_lines: bool,
    patient: UUID | None,
    since: str | None,
    limit: int | None,
) -> None:
    """Print the stored event log in order: who did what, when, from where."""
    since_time = context.time(since) if since else None
    shown = 0
    for entry in context.app.event_log():
        if patient is not None and entry.event.patient_id != patient:
            continue
        if since_time is not None and entry.event.timestamp < since_time:
            continue
        click.echo(as_json(log_entry(entry)) if as_json_lines else log_line(entry, context.zone))
        shown += 1
        if limit is not None and shown >= limit:
            break


@cli.group()
def patient() -> None:
    """Register and look up patients."""


@patient.command("register")
@click.option("--mrn", required=True, help="Medical record number (or other identifier value).")
@click.option("--authority", required=True, help="Who assigned the identifier, e.g. HOSP.")
@click.option("--family", required=True, help="Family name.")
@click.option("--given", required=True, help="Given name.")
@click.option("--birth-date", type=click.DateTime(["%Y-%m-%d"]), help="YYYY-MM-DD.")
@click.option("--sex", type=click.Choice(["F", "M", "O", "U"]))
@click.pass_obj
def register_patient(
    context: CliContext,
    mrn: str,
    authority: str,
    family: str,
    given: str,
    birth_date: datetime | None,
    sex: str | None,
) -> None:
    """Register a patient; prints the new internal patient id. The MRN is claimed as the ADT
    feed's would be, so the feed's messages find this patient."""
    from ingest.receiver import receiver_for  # the ingestion path loads only when used

    born = birth_date.date() if birth_date is not None else None
    receiver = receiver_for(context.app, context.zone)
    try:
        patient_id = receiver.service.register_patient(
            [Identifier(mrn, authority)],
            Demographics(family, given, born, sex),
            context.provenance(None),
        )
    finally:
        receiver.close()
    click.echo(str(patient_id))


@patient.command("show")
@click.argument("patient_id", type=click.UUID)
@click.option("--as-of", help="Show the patient as caretrail knew them at this time.")
@click.pass_obj
def show_patient(context: CliContext, patient_id: UUID, as_of: str | None) -> None:
    """Show a patient's identifiers, demographics and merges."""
    app = context.app
    record = (
        app.patient_as_of(patient_id, context.time(as_of)) if as_of else app.patient(patient_id)
    )
    demographics = record.demographics
    click.echo(f"Patient {record.id} (version {record.version})")
    click.echo(f"  name        {demographics.family_name}, {demographics.given_name}")
    click.echo(f"  born        {demographics.birth_date or 'unknown'}")
    for identifier in record.identifiers:
        click.echo(f"  identifier  {identifier.value} ({identifier.assigning_authority})")
    if record.merged_into:
        click.echo(f"  merged into {record.merged_into}")
    if as_of is None:  # flags are read models of now; `caretrail replay` shows a past moment's
        _show_flags(context, app.records_of(record.id))


def _show_flags(context: CliContext, identities: list[UUID]) -> None:
    from caretrail.projection_commands import caught_up_store  # read models load when used
    from projections.deadlines import flags_of

    store = caught_up_store(context)
    try:
        with store.engine.connect() as db:
            flags = flags_of(db, identities)
    finally:
        store.close()
    for flag in flags:
        since = flag.since.astimezone(context.zone)
        click.echo(f"  flag        {flag.label} since {since:%Y-%m-%d %H:%M}: {flag.reason}")


cli.add_command(case)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; every refusal is one line on stderr and a non-zero exit."""
    try:
        outcome = cli.main(args=argv, prog_name="caretrail", standalone_mode=False)
    except click.exceptions.Abort:
        _refuse("aborted", 130)
    except click.ClickException as error:
        _refuse(error.format_message(), error.exit_code)
    except MalformedInput as malformed:
        _refuse(str(malformed), 2)
    except StoreUnavailable as unavailable:
        _refuse(str(unavailable), 3)
    except PersistenceError as error:
        _refuse(f"the event store could not be used: {error}", 3)
    except REFUSALS as refusal:
        _refuse(str(refusal), 1)
    sys.exit(outcome if isinstance(outcome, int) else 0)


def _refuse(reason: str, exit_code: int) -> NoReturn:
    # One line whatever the reason holds (click lists a choice's values on lines of their own),
    # so that scripts and logs can take a refusal as one record.
    click.echo(f"caretrail: {' '.join(reason.split())}", err=True)
    sys.exit(exit_code)
