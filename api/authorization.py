"""Who may do what: roles, and what one user is to one case (minimum necessary).

- adt_feed: posts ADT messages, nothing else.
- case_manager: registers patients and opens cases (intake); reads cases assigned to them, cases
  nobody is assigned to yet (the intake queue, to claim one) and cases they were once assigned
  to (read-only after a reassignment); changes only cases assigned to them.
- supervisor: reads every case and reassigns; changes no care record except under break-glass.
- compliance: reads and replays everything, changes nothing.
- security_admin: users and roles only, no clinical data.
- break-glass: a case manager or supervisor may claim time-limited emergency access to a case
  outside their rights, with a reason; it lets them read and change that case until it expires.

Each permission also names the purpose of use that the read audit records.
"""

from __future__ import annotations

from dataclasses import dataclass

from api.auth.principal import Principal
from domain.access import PurposeOfUse
from domain.users import Role

# May attempt a case change; the case then decides (own caseload, reassignment, break-glass).
CASE_WORKERS = (Role.CASE_MANAGER, Role.SUPERVISOR)
INTAKE = (Role.CASE_MANAGER, Role.SUPERVISOR)
USER_ADMINS = (Role.SECURITY_ADMIN,)
ANY_ROLE = tuple(Role)

# The roles that read patient data, each for its own purpose; the first one held applies.
READ_PURPOSES = {
    Role.CASE_MANAGER: PurposeOfUse.TREATMENT,
    Role.SUPERVISOR: PurposeOfUse.OPERATIONS,
    Role.COMPLIANCE: PurposeOfUse.COMPLIANCE,
}
CLINICAL_READERS = tuple(READ_PURPOSES)


@dataclass(frozen=True)
class CaseStanding:
    """What one signed-in user is to one case right now."""

    principal: Principal
    case_manager: str | None
    formerly_assigned: bool
    emergency_access: bool

    @property
    def assigned(self) -> bool:
        return self.case_manager == self.principal.username

    def read_purpose(self) -> PurposeOfUse | None:
        """Why this user may read the case, or None if they may not."""
        own = self.assigned or self.formerly_assigned or self.case_manager is None
        if self.principal.has_any(Role.CASE_MANAGER) and own:
            return PurposeOfUse.TREATMENT
        if self.principal.has_any(Role.SUPERVISOR):
            return PurposeOfUse.OPERATIONS
        if self.principal.has_any(Role.COMPLIANCE):
            return PurposeOfUse.COMPLIANCE
        return self._emergency_purpose()

    def work_purpose(self) -> PurposeOfUse | None:
        """Why this user may change the case, or None if they may not."""
        if self.principal.has_any(Role.CASE_MANAGER) and self.assigned:
            return PurposeOfUse.TREATMENT
        return self._emergency_purpose()

    def may_assign(self, case_manager: str) -> bool:
        """Supervisors (re)assign; a case manager may claim a case nobody has yet."""
        if self.principal.has_any(Role.SUPERVISOR):
            return True
        return (
            self.principal.has_any(Role.CASE_MANAGER)
            and self.case_manager is None
            and case_manager == self.principal.username
        )

    def _emergency_purpose(self) -> PurposeOfUse | None:
        if self.emergency_access and self.principal.has_any(*CASE_WORKERS):
            return PurposeOfUse.EMERGENCY_TREATMENT
        return None


def patient_read_purpose(principal: Principal) -> PurposeOfUse:
    """Why a clinical reader (past the CLINICAL_READERS gate) reads a patient's record."""
    return next(purpose for role, purpose in READ_PURPOSES.items() if principal.has_any(role))
