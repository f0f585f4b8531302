"""Every read model caretrail keeps, listed once: `caretrail run` and `caretrail consume` feed
each of them, from the notification log in embedded mode or from Kafka. A new projection is
added here."""

from __future__ import annotations

from projections.alerts import Alerts
from projections.audit_trail import AuditTrail
from projections.deadlines import Deadlines
from projections.plan_views import PlanViews
from projections.store import Projection
from projections.timeline import Timeline
from services.rules_config import load_ruleset


def all_projections() -> list[Projection]:
    # The registry composes projections, so it may read configuration: the deadline projection
    # runs under the rule file in force (every feed of it must use the same one).
    ruleset, calendar = load_ruleset()
    return [AuditTrail(), PlanViews(), Timeline(), Alerts(), Deadlines(ruleset, calendar)]
