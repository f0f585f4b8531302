"""Every read model caretrail keeps, listed once: `caretrail run` and `caretrail consume` feed
each of them, from the notification log in embedded mode or from Kafka. A new projection is
added here."""

from __future__ import annotations

from domain.alert_rules import RuleSet
from domain.calendar import BusinessCalendar
from projections.alerts import Alerts
from projections.audit_trail import AuditTrail
from projections.deadlines import Deadlines
from projections.plan_views import PlanViews
from projections.store import Projection
from projections.timeline import Timeline


def all_projections(ruleset: RuleSet, calendar: BusinessCalendar) -> list[Projection]:
    """The deadline projection runs under the rule file in force: every feed of it must be given
    the same one, which is why the composition root loads it (services.read_models)."""
    return [AuditTrail(), PlanViews(), Timeline(), Alerts(), Deadlines(ruleset, calendar)]
