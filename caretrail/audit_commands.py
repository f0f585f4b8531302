"""`caretrail audit seal|verify|export`: tamper evidence and audit evidence for the event log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO
from uuid import UUID

import click

from caretrail.context import CliContext
from caretrail.projection_commands import live_store
from projections.audit_trail import AuditTrailIndex
from projections.store import event_store_engine
from services.audit_chain import (
    AuditChain,
    ChainHead,
    NotAnAnchor,
    fhir_bundle,
    history,
    write_csv,
)


def _chain(context: CliContext) -> AuditChain:
    return AuditChain.opened(context.app, event_store_engine(context.settings.database_url))


@click.group("audit")
def audit_group() -> None:
    """Prove the event log was not altered; export a history as audit evidence."""


@audit_group.command("seal")
@click.option(
    "--anchor",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Append the new head to this file (keep it outside the database, write-once).",
)
@click.pass_obj
def seal(context: CliContext, anchor: Path | None) -> None:
    """Extend the hash chain over events stored since the last seal; print the head."""
    head = _chain(context).seal()
    if head is None:
        click.echo("nothing to seal: the event log is empty")
        return
    if anchor is not None:
        with anchor.open("a", encoding="utf-8") as anchors:
            anchors.write(head.as_json() + "\n")
    click.echo(f"sealed up to position {head.position}: {head.link}")


@audit_group.command("verify")
@click.option(
    "--anchor",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Also check the heads recorded in this anchor file.",
)
@click.pass_obj
def verify(context: CliContext, anchor: Path | None) -> None:
    """Recompute the hash chain from the stored events; name the first bad position."""
    anchors = [] if anchor is None else _anchors(anchor)
    verdict = _chain(context).verify(anchors)
    if not verdict.intact:
        raise click.ClickException(
            f"the event log was altered at position {verdict.first_bad_position}: {verdict.problem}"
        )
    if verdict.unproven:
        raise click.ClickException(
            f"no seal covers the {verdict.unsealed} stored events, so nothing is proven: if they "
            "were sealed before, the seal has been removed; `caretrail audit seal` starts one"
        )
    if verdict.head is None:
        click.echo("nothing to verify: the event log is empty")
        return
    click.echo(
        f"intact: {verdict.checked} sealed events up to position {verdict.head.position} "
        f"(head {verdict.head.link}); {verdict.unsealed} not sealed yet"
    )


def _anchors(path: Path) -> list[ChainHead]:
    heads = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if line.strip():
            try:
                heads.append(ChainHead.from_json(line))
            except NotAnAnchor as refused:
                raise NotAnAnchor(f"{path} line {number}: {refused}") from None
    return heads


@audit_group.command("export")
@click.option("--patient", "patient_id", type=click.UUID, help="Every record of this patient.")
@click.option("--case", "case_id", type=click.UUID, help="This case's history.")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["fhir", "csv"]),
    default="fhir",
    show_default=True,
    help="fhir: an R4 Bundle of AuditEvent and Provenance; csv: one row per event.",
)
@click.option("--output", type=click.File("w", encoding="utf-8"), default="-")
@click.pass_obj
def export(
    context: CliContext,
    patient_id: UUID | None,
    case_id: UUID | None,
    output_format: str,
    output: IO[str],
) -> None:
    """Export a patient's or a case's history, with each event's chain link."""
    if (patient_id is None) == (case_id is None):
        raise click.UsageError("give exactly one of --patient or --case")
    if case_id is not None:
        context.app.case(case_id)  # refuses an id that is not a case's
    # The audit trail read model finds the events; what it has not followed yet is read from
    # the log, so an export never waits for the read models to catch up.
    index = AuditTrailIndex(live_store(context))
    records = history(
        context.app, _chain(context), index, patient_id=patient_id, aggregate_id=case_id
    )
    if output_format == "csv":
        write_csv(records, output)
    else:
        output.write(json.dumps(fhir_bundle(records, context.app.clock()), indent=2) + "\n")
