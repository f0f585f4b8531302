"""`caretrail case ...`: the case management steps a case manager records from a terminal."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import click

from caretrail.context import CliContext
from caretrail.plan_file import EXAMPLE, read_plan
from caretrail.render import as_json, case_summary, case_text
from domain.case import (
    AssessedNeed,
    AssessmentDomain,
    CaseSource,
    ClosureReason,
    ContactMode,
    ContactOutcome,
    FollowUpFocus,
    GoalOutcome,
    ReceivedInformation,
    ScreeningResult,
)
from services.application import CareTrail, Provenance


def _choice(values: type[Any]) -> click.Choice[str]:
    return click.Choice([str(member) for member in values])


@dataclass(frozen=True)
class CaseCall:
    """One case command: which case, on whose behalf, against which version."""

    app: CareTrail
    case_id: UUID
    by: Provenance
    expected_version: int | None

    def done(self, what: str) -> None:
        click.echo(
            f"{what}; case {self.case_id} is now at version {self.app.case(self.case_id).version}"
        )


def case_command(name: str) -> Callable[[Callable[..., None]], click.Command]:
    """Declare a `case NAME CASE_ID` command with the options every case change shares."""

    def declare(step: Callable[..., None]) -> click.Command:
        @click.argument("case_id", type=click.UUID)
        @click.option(
            "--occurred-at", help="When it happened, if not now (ISO 8601, local time zone)."
        )
        @click.option(
            "--expected-version",
            type=click.IntRange(min=1),
            help="Refuse if the case changed since you read this version.",
        )
        @click.pass_obj
        def run(
            context: CliContext,
            /,
            case_id: UUID,
            occurred_at: str | None,
            expected_version: int | None,
            **options: Any,
        ) -> None:
            call = CaseCall(context.app, case_id, context.provenance(occurred_at), expected_version)
            step(call, **options)

        command = case.command(name, help=step.__doc__)(run)
        # The step's own options were declared on `step`; click keeps them in reverse order.
        command.params.extend(reversed(getattr(step, "__click_params__", [])))
        return command

    return declare


@click.group()
def case() -> None:
    """Open, work and close cases (screening, consent, assessment, plan, referrals...)."""


@case.command("open")
@click.option("--patient", "patient_id", type=click.UUID, required=True)
@click.option("--source", type=_choice(CaseSource), required=True, help="What triggered the case.")
@click.option("--reason", required=True)
@click.pass_obj
def open_case(context: CliContext, patient_id: UUID, source: str, reason: str) -> None:
    """Open a case for a patient; prints the new case id."""
    case_id = context.app.open_case(
        patient_id, CaseSource(source), reason, context.provenance(None)
    )
    click.echo(str(case_id))


@case.command("show")
@click.argument("case_id", type=click.UUID)
@click.option("--as-of", help="Show the case as it stood at this time (a date means its end).")
@click.option("--version", type=click.IntRange(min=1), help="Show this version of the case.")
@click.option("--json", "json_output", is_flag=True, help="Print JSON.")
@click.pass_obj
def show_case(
    context: CliContext, case_id: UUID, as_of: str | None, version: int | None, json_output: bool
) -> None:
    """Show a case: consent, case manager, plan of care, referrals, barriers."""
    if as_of and version:
        raise click.UsageError("give --as-of or --version, not both")
    app = context.app
    record = app.case_as_of(case_id, context.time(as_of)) if as_of else app.case(case_id, version)
    summary = case_summary(record)
    click.echo(as_json(summary) if json_output else case_text(summary))


@case_command("screen")
@click.option("--result", type=_choice(ScreeningResult), required=True)
@click.option("--notes", default="")
def screen(call: CaseCall, result: str, notes: str) -> None:
    """Record the screening result."""
    call.app.screen(call.case_id, ScreeningResult(result), notes, call.by, call.expected_version)
    call.done(f"screened: {result}")


@case_command("consent")
@click.option("--given-by", default="client", show_default=True, help="Client or representative.")
@click.option("--method", type=click.Choice(["verbal", "written", "electronic"]), required=True)
def consent(call: CaseCall, given_by: str, method: str) -> None:
    """Record the client's informed consent to case management."""
    call.app.give_consent(call.case_id, given_by, method, call.by, call.expected_version)
    call.done("consent recorded")


@case_command("withdraw-consent")
@click.option("--reason", required=True)
def withdraw_consent(call: CaseCall, reason: str) -> None:
    """Record that the client withdrew consent; services stop."""
    call.app.withdraw_consent(call.case_id, reason, call.by, call.expected_version)
    call.done("consent withdrawn")


@case_command("assign")
@click.option("--to", "case_manager", required=True, help="User id of the case manager.")
@click.option("--reason", default="")
def assign(call: CaseCall, case_manager: str, reason: str) -> None:
    """Assign or reassign the case manager."""
    call.app.assign_case_manager(call.case_id, case_manager, reason, call.by, call.expected_version)
    call.done(f"assigned to {case_manager}")


@case_command("assess")
@click.option(
    "--need",
    "needs",
    multiple=True,
    metavar="DOMAIN:DESCRIPTION",
    help=f"Repeatable. Domains: {', '.join(str(d) for d in AssessmentDomain)}.",
)
@click.option("--language", required=True, help="Preferred language.")
@click.option("--interpreter/--no-interpreter", default=False, help="Interpreter needed.")
@click.option("--summary", default="")
def assess(
    call: CaseCall, needs: tuple[str, ...], language: str, interpreter: bool, summary: str
) -> None:
    """Record an assessment of needs across domains."""
    assessed = [_need(text) for text in needs]
    call.app.record_assessment(
        call.case_id, assessed, language, interpreter, summary, call.by, call.expected_version
    )
    call.done(f"assessment recorded ({len(assessed)} needs)")


@case_command("plan")
@click.option(
    "--file",
    "plan_file",
    type=click.Path(path_type=Path, allow_dash=True),
    required=True,
    help=f"JSON plan of care ('-' for stdin), e.g. {EXAMPLE}",
)
@click.option("--reason", default="", help="Why the plan changes (required for a revision).")
def plan(call: CaseCall, plan_file: Path, reason: str) -> None:
    """Draft or revise the plan of care (each revision is a new version)."""
    goals, interventions = read_plan(plan_file)
    call.app.revise_plan(call.case_id, goals, interventions, reason, call.by, call.expected_version)
    call.done("plan of care saved")


@case_command("refer")
@click.option("--referral-id", required=True)
@click.option("--service", required=True, help="e.g. home health, meals, transport.")
@click.option("--provider", required=True)
@click.option("--reason", default="")
def refer(call: CaseCall, referral_id: str, service: str, provider: str, reason: str) -> None:
    """Send a referral to a service or provider."""
    call.app.refer(
        call.case_id, referral_id, service, provider, reason, call.by, call.expected_version
    )
    call.done(f"referral {referral_id} sent")


@case_command("referral")
@click.option("--referral-id", required=True)
@click.option("--answer", type=click.Choice(["accept", "decline", "complete"]), required=True)
@click.option("--note", default="")
def referral(call: CaseCall, referral_id: str, answer: str, note: str) -> None:
    """Record a provider's answer: accept, decline or complete."""
    call.app.answer_referral(
        call.case_id, referral_id, answer, note, call.by, call.expected_version
    )
    call.done(f"referral {referral_id}: {answer}")


@case_command("contact")
@click.option("--mode", type=_choice(ContactMode), required=True)
@click.option("--outcome", type=_choice(ContactOutcome), required=True)
@click.option("--with", "contacted", default="client", show_default=True)
@click.option("--notes", default="")
def contact(call: CaseCall, mode: str, outcome: str, contacted: str, notes: str) -> None:
    """Log a contact attempt with the client or care team."""
    call.app.log_contact(
        call.case_id,
        ContactMode(mode),
        ContactOutcome(outcome),
        contacted,
        notes,
        call.by,
        call.expected_version,
    )
    call.done(f"{outcome} {mode} contact logged")


@case_command("medrec")
@click.option("--discrepancies", type=click.IntRange(min=0), required=True)
@click.option("--notes", default="")
def medrec(call: CaseCall, discrepancies: int, notes: str) -> None:
    """Record a medication reconciliation."""
    call.app.record_medication_reconciliation(
        call.case_id, discrepancies, notes, call.by, call.expected_version
    )
    call.done("medication reconciliation recorded")


@case_command("visit")
@click.option("--mode", type=_choice(ContactMode), default="face_to_face", show_default=True)
@click.option("--provider", required=True)
@click.option(
    "--focus",
    type=_choice(FollowUpFocus),
    default="general",
    show_default=True,
    help="What it was for: HEDIS FUH/FUM count mental_health visits, FUA substance_use ones.",
)
@click.option("--notes", default="")
def visit(call: CaseCall, mode: str, provider: str, focus: str, notes: str) -> None:
    """Record a follow-up visit after discharge."""
    call.app.record_follow_up_visit(
        call.case_id,
        ContactMode(mode),
        provider,
        notes,
        call.by,
        call.expected_version,
        focus=FollowUpFocus(focus),
    )
    call.done(f"{focus} follow-up visit recorded")


@case_command("received")
@click.option("--information", type=_choice(ReceivedInformation), required=True)
@click.option("--from", "received_from", required=True, help="Who sent it, e.g. the hospital unit.")
@click.option("--notes", default="")
def received(call: CaseCall, information: str, received_from: str, notes: str) -> None:
    """Record the receipt of an admission notification or of discharge information (HEDIS TRC)."""
    call.app.record_information_received(
        call.case_id,
        ReceivedInformation(information),
        received_from,
        notes,
        call.by,
        call.expected_version,
    )
    call.done(f"{information} received from {received_from}")


@case_command("barrier")
@click.option("--barrier-id", required=True)
@click.option("--description", help="Note a new barrier.")
@click.option("--resolution", help="Resolve an existing barrier.")
def barrier(
    call: CaseCall, barrier_id: str, description: str | None, resolution: str | None
) -> None:
    """Note a barrier (--description) or resolve one (--resolution)."""
    if (description is None) == (resolution is None):
        raise click.UsageError("give exactly one of --description or --resolution")
    if description is not None:
        call.app.note_barrier(call.case_id, barrier_id, description, call.by, call.expected_version)
        call.done(f"barrier {barrier_id} noted")
    else:
        call.app.resolve_barrier(
            call.case_id, barrier_id, resolution or "", call.by, call.expected_version
        )
        call.done(f"barrier {barrier_id} resolved")


@case_command("evaluate")
@click.option("--goal-id", required=True)
@click.option("--outcome", type=_choice(GoalOutcome), required=True)
@click.option("--evidence", required=True)
def evaluate(call: CaseCall, goal_id: str, outcome: str, evidence: str) -> None:
    """Record the outcome of a goal, with evidence."""
    call.app.evaluate_goal(
        call.case_id, goal_id, GoalOutcome(outcome), evidence, call.by, call.expected_version
    )
    call.done(f"goal {goal_id}: {outcome}")


@case_command("close")
@click.option("--reason", type=_choice(ClosureReason), required=True)
@click.option(
    "--direction", required=True, help="What the client was told to do if conditions change."
)
def close(call: CaseCall, reason: str, direction: str) -> None:
    """Close the case (it can be reopened; history stays)."""
    call.app.close_case(
        call.case_id, ClosureReason(reason), direction, call.by, call.expected_version
    )
    call.done(f"case closed: {reason}")


@case_command("reopen")
@click.option("--reason", required=True)
def reopen(call: CaseCall, reason: str) -> None:
    """Reopen a closed case."""
    call.app.reopen_case(call.case_id, reason, call.by, call.expected_version)
    call.done("case reopened")


def _need(text: str) -> AssessedNeed:
    domain, _, description = text.partition(":")
    try:
        return AssessedNeed(AssessmentDomain(domain.strip()), description.strip())
    except ValueError:
        raise click.BadParameter(
            f"'{domain}' is not an assessment domain; use one of "
            + ", ".join(str(d) for d in AssessmentDomain),
            param_hint="--need",
        ) from None
