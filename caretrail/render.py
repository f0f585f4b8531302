"""How cases and log entries look on a terminal and as JSON."""

from __future__ import annotations

import json
from datetime import datetime, tzinfo
from typing import Any

from domain.case import Case
from services.application import LoggedEvent


def log_entry(entry: LoggedEvent) -> dict[str, Any]:
    event = entry.event
    return {
        "position": entry.position,
        "event_type": event.TOPIC,
        "aggregate_id": str(event.originator_id),
        "version": event.originator_version,
        "patient_id": str(event.patient_id),
        "occurred_at": event.occurred_at.isoformat(),
        "recorded_at": event.timestamp.isoformat(),
        "actor": event.actor,
        "source": event.source,
    }


def log_line(entry: LoggedEvent, zone: tzinfo) -> str:
    event = entry.event
    return (
        f"{entry.position:>7}  {_local(event.timestamp, zone)}  "
        f"{event.TOPIC.removeprefix('caretrail.'):<34}"
        f" by {event.actor:<16} patient {str(event.patient_id)[:8]}"
        + (f"  from {event.source}" if event.source else "")
    )


def case_summary(case: Case) -> dict[str, Any]:
    plan = case.plan_of_care
    return {
        "case_id": str(case.id),
        "version": case.version,
        "patient_id": str(case.patient_id),
        "status": f"closed ({case.closure})" if case.closure else "open",
        "opened_from": str(case.case_source),
        "reason": case.reason,
        "screening": str(case.screening) if case.screening else None,
        "consent": "active" if case.consent_active else "none",
        "case_manager": case.case_manager,
        "assessments": case.assessments,
        "preferred_language": case.preferred_language,
        "interpreter_needed": case.interpreter_needed,
        "plan_of_care": None
        if plan is None
        else {
            "version": plan.version,
            "reason": plan.reason,
            "goals": [
                {
                    "goal_id": g.goal_id,
                    "priority": g.priority,
                    "description": g.description,
                    "measure": g.measure,
                    "target_date": g.target_date.isoformat(),
                    "outcome": str(case.goal_outcomes[g.goal_id])
                    if g.goal_id in case.goal_outcomes
                    else None,
                }
                for g in sorted(plan.goals, key=lambda goal: goal.priority)
            ],
            "interventions": [
                {
                    "intervention_id": i.intervention_id,
                    "goal_id": i.goal_id,
                    "description": i.description,
                    "owner": i.owner,
                    "due_date": i.due_date.isoformat(),
                }
                for i in plan.interventions
            ],
        },
        "referrals": [
            {
                "referral_id": r.referral_id,
                "service": r.service,
                "provider": r.provider,
                "status": str(r.status),
            }
            for r in case.referrals.values()
        ],
        "barriers": [
            {"barrier_id": b.barrier_id, "description": b.description, "resolution": b.resolution}
            for b in case.barriers.values()
        ],
        "contacts_logged": case.contacts,
    }


def case_text(summary: dict[str, Any]) -> str:
    lines = [
        f"Case {summary['case_id']} (version {summary['version']}): {summary['status']}",
        f"  patient        {summary['patient_id']}",
        f"  opened from    {summary['opened_from']}: {summary['reason']}",
        f"  screening      {summary['screening'] or 'not yet screened'}",
        f"  consent        {summary['consent']}",
        f"  case manager   {summary['case_manager'] or 'unassigned'}",
        f"  assessments    {summary['assessments']}"
        + (f" (language {summary['preferred_language']}"
           f"{', interpreter needed' if summary['interpreter_needed'] else ''})"
           if summary["preferred_language"] else ""),
        f"  contacts       {summary['contacts_logged']}",
    ]  # fmt: skip
    plan = summary["plan_of_care"]
    if plan is None:
        lines.append("  plan of care   none yet")
    else:
        lines.append(f"  plan of care   version {plan['version']}: {plan['reason']}")
        for goal in plan["goals"]:
            outcome = f" [{goal['outcome']}]" if goal["outcome"] else ""
            lines.append(
                f"    P{goal['priority']} {goal['goal_id']}: {goal['description']} "
                f"(measure: {goal['measure']}; target {goal['target_date']}){outcome}"
            )
        for item in plan["interventions"]:
            lines.append(
                f"      - {item['intervention_id']} for {item['goal_id']}: {item['description']}"
                f" (owner {item['owner']}, due {item['due_date']})"
            )
    for referral in summary["referrals"]:
        lines.append(
            f"  referral       {referral['referral_id']}: {referral['service']} at "
            f"{referral['provider']} [{referral['status']}]"
        )
    for barrier in summary["barriers"]:
        state = f"resolved: {barrier['resolution']}" if barrier["resolution"] else "open"
        lines.append(
            f"  barrier        {barrier['barrier_id']}: {barrier['description']} [{state}]"
        )
    return "\n".join(lines)


def as_json(document: dict[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False, sort_keys=False)


def _local(moment: datetime, zone: tzinfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
