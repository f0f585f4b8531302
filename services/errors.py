"""Why a service call was refused, beyond the domain's own rule violations."""


class NotFound(LookupError):
    """No patient, encounter or case with that id."""


class VersionConflict(Exception):
    """The caller's expected version is stale: someone else changed the record first."""

    def __init__(self, kind: str, aggregate_id: object, expected: int, current: int) -> None:
        super().__init__(
            f"{kind} {aggregate_id} is at version {current}, not {expected}: "
            "it was changed by someone else; reload and try again"
        )
        self.expected = expected
        self.current = current


class MalformedInput(ValueError):
    """What was given (a setting, a URL, a file) cannot be read as what it should be; the message
    says where and why."""


class StoreUnavailable(Exception):
    """The store cannot be used as configured; the message says why and what would work."""
