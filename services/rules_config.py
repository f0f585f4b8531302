"""Loads the versioned transition rule file (``transition_rules.toml``) into domain rules.

The only module of the rule engine that does I/O: it reads one TOML file, validates it with
pydantic and returns immutable domain objects. Every problem surfaces as a ``RuleConfigError`` that
names the file, the rule and the field, because a rule file that loads with a silently dropped or
mistyped rule would quietly stop safety alerts.
"""

from __future__ import annotations

import tomllib
from abc import abstractmethod
from collections import Counter
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Final, Self, TypedDict, TypeVar
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)
from pydantic_core import ErrorDetails

from domain.alert_rules import (
    FOLLOW_UP_OBLIGATIONS,
    IMMEDIATE_TRIGGERS,
    AlertRule,
    DeadlineRule,
    HighUtilizerRule,
    ImmediateRule,
    ReadmissionRule,
    RuleSet,
    Severity,
    StaleEncounterRule,
    Window,
    WindowUnit,
)
from domain.calendar import BusinessCalendar
from domain.diagnoses import CodeRange, DiagnosisValueSets
from services.errors import MalformedInput

DEFAULT_RULES_PATH: Final = Path(__file__).with_name("transition_rules.toml")


class RuleConfigError(MalformedInput):
    """The rule file cannot be used as it is; the message says where and why."""


_NonNegative = Annotated[StrictInt, Field(ge=0)]
_Positive = Annotated[StrictInt, Field(gt=0)]
_Text = Annotated[StrictStr, Field(min_length=1)]


class _Strict(BaseModel):
    # A misspelt key must fail loudly rather than leave a default in force.
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Organization(_Strict):
    holiday_country: _Text = "US"
    holiday_subdivision: _Text | None = None
    extra_holidays: tuple[date, ...] = ()
    removed_holidays: tuple[date, ...] = ()
    timezone: ZoneInfo

    def calendar(self) -> BusinessCalendar:
        return BusinessCalendar(
            timezone=self.timezone,
            country=self.holiday_country,
            subdivision=self.holiday_subdivision,
            extra_holidays=frozenset(self.extra_holidays),
            removed_holidays=frozenset(self.removed_holidays),
        )


_CodeRange = Annotated[StrictStr, Field(pattern=r"^[A-Z][0-9]{2}-[A-Z][0-9]{2}$")]


class _ValueSets(_Strict):
    mental_illness: tuple[_CodeRange, ...]
    substance_use_disorder: tuple[_CodeRange, ...]

    def value_sets(self) -> DiagnosisValueSets:
        return DiagnosisValueSets(
            mental_illness=_code_ranges(self.mental_illness),
            substance_use_disorder=_code_ranges(self.substance_use_disorder),
        )


def _code_ranges(texts: tuple[str, ...]) -> tuple[CodeRange, ...]:
    return tuple(CodeRange(*text.split("-")) for text in texts)


class _RuleFile(_Strict):
    version: _Text
    organization: _Organization
    value_sets: _ValueSets
    # Validated one by one, so that an error can name its rule.
    rules: list[dict[str, Any]]


class _RuleEntry(_Strict):
    id: _Text
    source: _Text
    severity: Severity
    enabled: StrictBool
    parameters: dict[str, Any] = Field(default_factory=dict)


class _Common(TypedDict):
    rule_id: str
    source: str
    severity: Severity
    enabled: bool


class _Parameters(_Strict):
    @abstractmethod
    def to_rule(self, common: _Common) -> AlertRule: ...


class _DeadlineParameters(_Parameters):
    window: _NonNegative
    unit: WindowUnit
    high_complexity_window: _NonNegative | None = None

    def to_rule(self, common: _Common) -> DeadlineRule:
        high = self.high_complexity_window
        return DeadlineRule(
            **common,
            obligation=FOLLOW_UP_OBLIGATIONS[common["rule_id"]],
            window=Window(self.window, self.unit),
            high_complexity_window=None if high is None else Window(high, self.unit),
        )


class _ReadmissionParameters(_Parameters):
    window_days: _Positive
    direct_transfer_days: _NonNegative

    @model_validator(mode="after")
    def _transfer_shorter_than_window(self) -> Self:
        if self.direct_transfer_days >= self.window_days:
            raise ValueError("direct_transfer_days must be smaller than window_days")
        return self

    def to_rule(self, common: _Common) -> ReadmissionRule:
        return ReadmissionRule(
            **common, window_days=self.window_days, direct_transfer_days=self.direct_transfer_days
        )


class _HighUtilizerParameters(_Parameters):
    visits: _Positive
    window_days: _Positive

    def to_rule(self, common: _Common) -> HighUtilizerRule:
        return HighUtilizerRule(**common, visits=self.visits, window_days=self.window_days)


class _StaleEncounterParameters(_Parameters):
    max_open_hours: _Positive

    def to_rule(self, common: _Common) -> StaleEncounterRule:
        return StaleEncounterRule(**common, max_open_hours=self.max_open_hours)


class _ImmediateParameters(_Parameters):
    def to_rule(self, common: _Common) -> ImmediateRule:
        return ImmediateRule(**common, trigger=IMMEDIATE_TRIGGERS[common["rule_id"]])


_PARAMETERS_BY_RULE: Final[Mapping[str, type[_Parameters]]] = MappingProxyType(
    {
        **dict.fromkeys(FOLLOW_UP_OBLIGATIONS, _DeadlineParameters),
        "readmission-30": _ReadmissionParameters,
        "high-utilizer": _HighUtilizerParameters,
        "stale-ed-encounter": _StaleEncounterParameters,
        **dict.fromkeys(IMMEDIATE_TRIGGERS, _ImmediateParameters),
    }
)

_Model = TypeVar("_Model", bound=BaseModel)


def load_ruleset(path: Path | None = None) -> tuple[RuleSet, BusinessCalendar]:
    """The rule set and business calendar of a rule file (default: ``transition_rules.toml``)."""
    source = DEFAULT_RULES_PATH if path is None else path
    document = _validated(_RuleFile, _read_toml(source), source, "rule file")
    rules = tuple(
        _rule(entry, position, source) for position, entry in enumerate(document.rules, start=1)
    )
    _require_each_rule_once(rules, source)
    ruleset = RuleSet(
        version=document.version, rules=rules, value_sets=_value_sets(document.value_sets, source)
    )
    return ruleset, _calendar(document.organization, source)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except OSError as error:
        raise RuleConfigError(f"{path}: cannot read the rule file: {error.strerror}") from error
    except tomllib.TOMLDecodeError as error:
        raise RuleConfigError(f"{path}: not valid TOML: {error}") from error


def _rule(entry: dict[str, Any], position: int, path: Path) -> AlertRule:
    rule_id = entry.get("id")
    where = f"rule {rule_id!r}" if isinstance(rule_id, str) else f"rule #{position}"
    if isinstance(rule_id, str) and rule_id not in _PARAMETERS_BY_RULE:
        known = ", ".join(sorted(_PARAMETERS_BY_RULE))
        raise RuleConfigError(f"{path}: {where}: unknown rule id; known ids: {known}")
    header = _validated(_RuleEntry, entry, path, where)
    common = _Common(
        rule_id=header.id, source=header.source, severity=header.severity, enabled=header.enabled
    )
    parameters_model = _PARAMETERS_BY_RULE[header.id]
    parameters = _validated(parameters_model, header.parameters, path, where, "parameters")
    return parameters.to_rule(common)


def _require_each_rule_once(rules: tuple[AlertRule, ...], path: Path) -> None:
    counts = Counter(rule.rule_id for rule in rules)
    twice = sorted(rule_id for rule_id, count in counts.items() if count > 1)
    if twice:
        raise RuleConfigError(f"{path}: rule {twice[0]!r}: defined more than once")
    missing = sorted(set(_PARAMETERS_BY_RULE) - set(counts))
    if missing:
        raise RuleConfigError(
            f"{path}: rules missing: {', '.join(missing)} (set enabled = false to turn one off)"
        )


def _value_sets(value_sets: _ValueSets, path: Path) -> DiagnosisValueSets:
    try:
        return value_sets.value_sets()
    except ValueError as error:
        raise RuleConfigError(f"{path}: value_sets: {error}") from error


def _calendar(organization: _Organization, path: Path) -> BusinessCalendar:
    try:
        return organization.calendar()
    except ValueError as error:
        raise RuleConfigError(f"{path}: organization: {error}") from error


def _validated(
    model: type[_Model], data: object, path: Path, where: str, prefix: str = ""
) -> _Model:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(_problem(detail, prefix) for detail in error.errors())
        raise RuleConfigError(f"{path}: {where}: {problems}") from error


def _problem(detail: ErrorDetails, prefix: str) -> str:
    field = ".".join(str(part) for part in (prefix, *detail["loc"]) if part != "")
    location = f"field '{field}': " if field else ""
    got = "" if detail["type"] == "missing" else f" (got {detail['input']!r})"
    return f"{location}{detail['msg']}{got}"
