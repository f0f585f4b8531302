"""Why a domain command was refused: one exception class per broken rule."""


class DomainRuleViolation(Exception):
    """A command broke a rule of the case management process; nothing was recorded."""


class ConsentRequired(DomainRuleViolation):
    """Services (plan, referrals, interventions) need the client's active, informed consent."""


class CaseIsClosed(DomainRuleViolation):
    """A closed case accepts nothing but a reopen."""


class InvalidTransition(DomainRuleViolation):
    """The encounter or case is not in a state that allows this step."""


class UnknownTransition(DomainRuleViolation):
    """A cancel named a transition the encounter does not have."""


class TransitionAlreadyCancelled(DomainRuleViolation):
    """A cancel named a transition that an earlier cancel already voided."""


class ImplausibleDate(DomainRuleViolation):
    """A date or time contradicts another one (discharge before admission, a past target)."""


class UnknownReference(DomainRuleViolation):
    """A command referred to a goal, referral or barrier the case does not have."""


class MergeRefused(DomainRuleViolation):
    """A merge or unmerge of patient identities that would lose or confuse records."""


class PatientAlreadyRegistered(DomainRuleViolation):
    """One patient per identifier: a registration named an identifier another patient holds."""

    def __init__(self, patient_id: object) -> None:
        super().__init__(
            f"an identifier given is already registered to patient {patient_id}; use that "
            "record (or merge the two, if they are one person)"
        )
        self.patient_id = patient_id
