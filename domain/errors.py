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


class InvalidValue(DomainRuleViolation):
    """A value that is never acceptable, whatever the state: blank where something must be said,
    outside its range, or an identifier as no feed would send it.

    Value objects check the rules they did not always have in `require_valid`, which aggregates
    call on what a command enters, not on construction: values stored before a rule existed must
    still read back from the event store."""


def require_stated(text: str, refusal: str) -> None:
    """Refuse blank text where a step must say something; `refusal` says what is missing."""
    if not text.strip():
        raise InvalidValue(refusal)


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
