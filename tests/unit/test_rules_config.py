"""The versioned rule file: the default loads, and every kind of mistake is named precisely."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from domain.alert_rules import (
    DeadlineRule,
    HighUtilizerRule,
    ReadmissionRule,
    Severity,
    StaleEncounterRule,
    Window,
    WindowUnit,
)
from domain.diagnoses import CodeRange
from services.rules_config import DEFAULT_RULES_PATH, RuleConfigError, load_ruleset

DEFAULT_TEXT = DEFAULT_RULES_PATH.read_text(encoding="utf-8")
ALL_RULE_IDS = {
    "tcm-interactive-contact",
    "tcm-face-to-face",
    "trc-medication-reconciliation",
    "trc-admission-notification",
    "trc-discharge-information",
    "trc-patient-engagement",
    "fuh-7",
    "fuh-30",
    "fum-7",
    "fum-30",
    "fua-7",
    "fua-30",
    "readmission-30",
    "high-utilizer",
    "stale-ed-encounter",
    "discharge-ama",
    "discharge-home-no-follow-up",
    "admission-open-case",
}


def edit_rule(rule_id: str, old: str, new: str) -> str:
    """The default file with ``old`` replaced by ``new`` inside the table of one rule."""
    start = DEFAULT_TEXT.index(f'id = "{rule_id}"\n')
    at = DEFAULT_TEXT.index(old, start)
    return DEFAULT_TEXT[:at] + new + DEFAULT_TEXT[at + len(old) :]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.toml"
    path.write_text(text, encoding="utf-8")
    return path


def load_error(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(RuleConfigError) as raised:
        load_ruleset(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: ")
    return message


class TestDefaultFile:
    def test_loads_every_rule_enabled_with_its_version(self) -> None:
        ruleset, _ = load_ruleset()

        assert ruleset.version == "2026.1"
        assert {rule.rule_id for rule in ruleset.rules} == ALL_RULE_IDS
        assert all(rule.enabled and rule.source for rule in ruleset.rules)

    def test_organization_calendar(self) -> None:
        _, calendar = load_ruleset()

        assert (calendar.country, calendar.subdivision) == ("US", None)
        assert calendar.timezone == ZoneInfo("America/New_York")
        assert not calendar.is_business_day(date(2026, 11, 26))

    def test_windows_and_thresholds_of_the_rule_table(self) -> None:
        ruleset, _ = load_ruleset()
        deadline_rules = {rule.rule_id: rule for rule in ruleset.enabled(DeadlineRule)}
        (readmission,) = ruleset.enabled(ReadmissionRule)
        (high_utilizer,) = ruleset.enabled(HighUtilizerRule)
        (stale,) = ruleset.enabled(StaleEncounterRule)
        face_to_face = deadline_rules["tcm-face-to-face"]

        assert deadline_rules["tcm-interactive-contact"].window == Window(
            2, WindowUnit.BUSINESS_DAYS
        )
        assert face_to_face.window == Window(14, WindowUnit.CALENDAR_DAYS)
        assert face_to_face.high_complexity_window == Window(7, WindowUnit.CALENDAR_DAYS)
        assert deadline_rules["trc-admission-notification"].window.amount == 2
        assert deadline_rules["fua-30"].window == Window(30, WindowUnit.CALENDAR_DAYS)
        assert (readmission.window_days, readmission.direct_transfer_days) == (30, 1)
        assert (high_utilizer.visits, high_utilizer.window_days) == (3, 60)
        assert stale.max_open_hours == 48

    def test_discharge_against_medical_advice_is_high_severity(self) -> None:
        ruleset, _ = load_ruleset()

        assert {rule.rule_id: rule.severity for rule in ruleset.rules}["discharge-ama"] == (
            Severity.HIGH
        )

    def test_organization_settings_are_read(self, tmp_path: Path) -> None:
        text = DEFAULT_TEXT.replace(
            "extra_holidays = []", 'extra_holidays = [2026-11-27]\nholiday_subdivision = "MA"'
        ).replace('timezone = "America/New_York"', 'timezone = "America/Chicago"')

        _, calendar = load_ruleset(write(tmp_path, text))

        assert calendar.extra_holidays == frozenset({date(2026, 11, 27)})
        assert calendar.subdivision == "MA"
        assert calendar.timezone == ZoneInfo("America/Chicago")


class TestValueSets:
    def test_the_default_file_holds_the_hedis_families(self) -> None:
        value_sets = load_ruleset()[0].value_sets

        assert value_sets.mental_illness == (CodeRange("F20", "F48"), CodeRange("F50", "F99"))
        assert value_sets.substance_use_disorder == (CodeRange("F10", "F19"),)

    def test_a_narrower_value_set_is_read(self, tmp_path: Path) -> None:
        text = DEFAULT_TEXT.replace('["F20-F48", "F50-F99"]', '["F30-F39"]')

        value_sets = load_ruleset(write(tmp_path, text))[0].value_sets

        assert value_sets.mental_illness == (CodeRange("F30", "F39"),)

    @pytest.mark.parametrize(
        ("old", "new", "problem"),
        [
            ('["F10-F19"]', '["F10..F19"]', "substance_use_disorder.0"),
            ('["F10-F19"]', '["F19-F10"]', "value_sets: code range F19-F10 runs backwards"),
            ("mental_illness = ", "mental_ilness = ", "mental_ilness"),
        ],
    )
    def test_a_broken_value_set_names_its_field(
        self, tmp_path: Path, old: str, new: str, problem: str
    ) -> None:
        assert problem in load_error(tmp_path, DEFAULT_TEXT.replace(old, new))

    def test_a_file_without_value_sets_is_refused(self, tmp_path: Path) -> None:
        start = DEFAULT_TEXT.index("[value_sets]")
        end = DEFAULT_TEXT.index("[[rules]]")

        message = load_error(tmp_path, DEFAULT_TEXT[:start] + DEFAULT_TEXT[end:])

        assert "field 'value_sets': Field required" in message


class TestBrokenFiles:
    @pytest.mark.parametrize(
        ("rule_id", "old", "new", "expected"),
        [
            pytest.param(
                "fuh-7",
                'severity = "high"',
                'severity = "urgent"',
                "rule 'fuh-7': field 'severity': Input should be 'low', 'medium', 'high' or "
                "'critical' (got 'urgent')",
                id="bad-severity",
            ),
            pytest.param(
                "fuh-30",
                "window = 30",
                "window = -30",
                "rule 'fuh-30': field 'parameters.window': "
                "Input should be greater than or equal to 0 (got -30)",
                id="negative-window",
            ),
            pytest.param(
                "tcm-interactive-contact",
                '"business_days"',
                '"weeks"',
                "rule 'tcm-interactive-contact': field 'parameters.unit': Input should be",
                id="unknown-unit",
            ),
            pytest.param(
                "high-utilizer",
                "visits = 3",
                "visit = 3",
                "rule 'high-utilizer': field 'parameters.visits': Field required; "
                "field 'parameters.visit': Extra inputs are not permitted",
                id="misspelt-parameter",
            ),
            pytest.param(
                "discharge-ama",
                "enabled = true",
                'enabled = "yes"',
                "rule 'discharge-ama': field 'enabled': Input should be a valid boolean",
                id="enabled-not-boolean",
            ),
            pytest.param(
                "readmission-30",
                "direct_transfer_days = 1",
                "direct_transfer_days = 30",
                "rule 'readmission-30': field 'parameters': "
                "Value error, direct_transfer_days must be smaller than window_days",
                id="direct-transfer-not-shorter-than-window",
            ),
        ],
    )
    def test_bad_field_is_named_with_its_rule(
        self, tmp_path: Path, rule_id: str, old: str, new: str, expected: str
    ) -> None:
        assert expected in load_error(tmp_path, edit_rule(rule_id, old, new))

    def test_unknown_rule_id(self, tmp_path: Path) -> None:
        message = load_error(tmp_path, edit_rule("fum-7", 'id = "fum-7"', 'id = "fum-07"'))

        assert "rule 'fum-07': unknown rule id; known ids: admission-open-case," in message

    def test_toml_syntax_error(self, tmp_path: Path) -> None:
        message = load_error(
            tmp_path, DEFAULT_TEXT.replace('version = "2026.1"', "version = 2026.1.")
        )

        assert "not valid TOML" in message
        assert "line 10" in message

    def test_rule_without_id(self, tmp_path: Path) -> None:
        message = load_error(
            tmp_path, DEFAULT_TEXT + '\n[[rules]]\nsource = "x"\nseverity = "low"\n'
        )

        assert "rule #19: field 'id': Field required" in message

    def test_rule_defined_twice(self, tmp_path: Path) -> None:
        again = (
            '\n[[rules]]\nid = "discharge-ama"\nsource = "x"\nseverity = "low"\nenabled = true\n'
        )

        message = load_error(tmp_path, DEFAULT_TEXT + again)

        assert "rule 'discharge-ama': defined more than once" in message

    def test_rule_left_out(self, tmp_path: Path) -> None:
        start = DEFAULT_TEXT.index('[[rules]]\nid = "admission-open-case"')

        message = load_error(tmp_path, DEFAULT_TEXT[:start])

        assert "rules missing: admission-open-case (set enabled = false to turn one off)" in message

    def test_unknown_time_zone(self, tmp_path: Path) -> None:
        text = DEFAULT_TEXT.replace('"America/New_York"', '"Mars/Olympus_Mons"')

        message = load_error(tmp_path, text)

        assert "rule file: field 'organization.timezone': invalid timezone" in message

    def test_unknown_holiday_country(self, tmp_path: Path) -> None:
        message = load_error(tmp_path, DEFAULT_TEXT.replace('"US"', '"XX"'))

        assert "organization: no holiday calendar for 'XX'" in message

    def test_missing_version(self, tmp_path: Path) -> None:
        message = load_error(tmp_path, DEFAULT_TEXT.replace('version = "2026.1"', ""))

        assert "rule file: field 'version': Field required" in message

    def test_missing_file(self, tmp_path: Path) -> None:
        path = tmp_path / "absent.toml"

        with pytest.raises(RuleConfigError, match="cannot read the rule file"):
            load_ruleset(path)
