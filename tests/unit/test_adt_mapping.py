"""From parsed HL7 to `AdtMessage`: the trigger table, the facts taken from each fixture, and the
messages turned away before they reach the record. Pure: no store."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.diagnoses import Diagnosis, DiagnosisType, principal_diagnosis
from domain.encounter import Disposition, PatientClass
from domain.patient import Identifier
from ingest.hl7v2 import AckCode, ErrorCondition, ParsedMessage, Rejection, parse_message
from ingest.mapping import TRIGGER_COMMANDS, content_hash, to_adt_message
from ingest.synthetic import SyntheticFeed
from services.ingestion import AdtCommand, AdtMessage
from tests.adt_support import FIXTURES, fixture_bytes

C = AdtCommand
ISSUE_TRIGGERS = "A01 A02 A03 A04 A05 A06 A07 A08 A11 A12 A13 A21 A22 A28 A31 A40 A34 A36 A39"


def parsed(raw: bytes | str) -> ParsedMessage:
    result = parse_message(raw)
    assert isinstance(result, ParsedMessage), result
    return result


def mapped(raw: bytes | str) -> AdtMessage:
    result = to_adt_message(parsed(raw))
    assert isinstance(result, AdtMessage), result
    return result


def turned_away(raw: bytes | str) -> Rejection:
    result = to_adt_message(parsed(raw))
    assert isinstance(result, Rejection), result
    return result


def at(iso: str) -> datetime:
    moment = datetime.fromisoformat(iso)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def test_every_trigger_of_the_issue_has_a_command() -> None:
    assert set(ISSUE_TRIGGERS.split()) <= set(TRIGGER_COMMANDS)
    assert TRIGGER_COMMANDS["A37"] is C.UNMERGE


COMMAND_OF_FIXTURE = {
    "a01_bom_and_blank_lines": C.ADMIT,
    "a01_missing_evn": C.ADMIT,
    "a01_trigger_in_evn1_only": C.ADMIT,
    "custom_field_separator_star": C.ADMIT,
    "epic_a01_admit_inpatient": C.ADMIT,
    "a02_transfer_to_icu": C.TRANSFER,
    "a03_discharge_ama": C.DISCHARGE,
    "a03_discharge_depression_dg1": C.DISCHARGE,
    "a03_discharge_expired": C.DISCHARGE,
    "a03_discharge_home": C.DISCHARGE,
    "a03_discharge_home_health_crlf": C.DISCHARGE,
    "a03_discharge_hospice_v27_truncation": C.DISCHARGE,
    "a03_discharge_rehab_v28": C.DISCHARGE,
    "a03_discharge_snf": C.DISCHARGE,
    "a03_timezone_offsets_fractional": C.DISCHARGE,
    "meditech_a03_cp1252_name_lf": C.DISCHARGE,
    "a04_trailing_empty_fields": C.ADMIT,
    "cerner_a04_ed_registration_crlf": C.ADMIT,
    "custom_encoding_characters": C.ADMIT,
    "a05_partial_precision_timestamps": C.PREADMIT,
    "meditech_a05_preadmit_lf": C.PREADMIT,
    "a06_outpatient_to_inpatient": C.CHANGE_CLASS,
    "a07_inpatient_to_outpatient": C.CHANGE_CLASS,
    "a08_repeated_pid3_authorities": C.UPDATE_VISIT,
    "a08_update_escaped_name": C.UPDATE_VISIT,
    "cerner_a08_zsegments_lf": C.UPDATE_VISIT,
    "a11_cancel_admit": C.CANCEL_ADMISSION,
    "a12_cancel_transfer": C.CANCEL_TRANSFER,
    "a13_cancel_discharge": C.CANCEL_DISCHARGE,
    "a21_leave_of_absence": C.START_LEAVE,
    "a22_return_from_loa": C.END_LEAVE,
    "a28_add_person_no_pv1": C.RECORD_PERSON,
    "a31_update_person_no_evn_no_pv1": C.RECORD_PERSON,
    "a34_merge_patient_id": C.MERGE,
    "a36_merge_patient_id_and_account": C.MERGE,
    "a39_merge_person": C.MERGE,
    "a40_merge_patient_identifier_list": C.MERGE,
}


def test_the_table_covers_every_fixture_but_the_bed_status_update() -> None:
    fixtures = {path.stem for path in FIXTURES.glob("*.hl7")}
    assert fixtures - set(COMMAND_OF_FIXTURE) == {"a20_bed_status_no_patient"}


@pytest.mark.parametrize(("name", "command"), sorted(COMMAND_OF_FIXTURE.items()))
def test_each_fixture_maps_to_its_command(name: str, command: AdtCommand) -> None:
    message = mapped(fixture_bytes(name))

    assert message.command is command
    assert message.person.identifiers, "every person command has an identifier to match on"
    assert message.actor == f"feed:{message.dedup_key[0]}@{message.dedup_key[1]}"
    assert message.source == "|".join(message.dedup_key)
    assert (message.visit is None) == (command in (C.RECORD_PERSON, C.MERGE))
    assert (message.counterpart is not None) == (command is C.MERGE)


def test_an_admission_carries_the_visit_and_its_clinical_time() -> None:
    message = mapped(fixture_bytes("epic_a01_admit_inpatient"))

    assert message.dedup_key == ("EPIC", "UMCMAIN", "EPC000184721")
    assert message.occurred_at == at("2024-03-12T08:05:00-04:00")
    assert message.visit is not None
    assert message.visit.facility == "UMCMAIN"
    assert message.visit.visit_number == "V3300198"
    assert message.visit.patient_class is PatientClass.INPATIENT
    assert message.visit.location == "4WEST^412^B"
    assert message.visit.attending == "OKAFOR, CHIDI E (1447358839)"
    assert message.visit.admitted_at == at("2024-03-12T08:05:00-04:00")


def test_only_patient_identifiers_are_matched_on() -> None:
    """National and payer numbers are kept, visit-level ones (FIN) dropped, MRNs matched."""
    epic = mapped(fixture_bytes("epic_a01_admit_inpatient")).person
    assert epic.identifiers == (Identifier("E1048823", "EPIC", "MR"),)
    assert epic.other_identifiers == (Identifier("123456789", "SSA", "SS"),)

    cerner = mapped(fixture_bytes("cerner_a04_ed_registration_crlf")).person
    assert cerner.identifiers == (Identifier("889201", "CERNER", "MRN"),)
    assert cerner.other_identifiers == ()

    hie = mapped(fixture_bytes("a08_repeated_pid3_authorities")).person
    assert hie.identifiers == (
        Identifier("E1048823", "EPIC", "MR"),
        Identifier("900012345", "2.16.840.1.113883.3.1234", "PI"),
        Identifier("NG5510982", "NORTHGEN", "MR"),
    )
    assert hie.other_identifiers == (Identifier("1EG4TE5MK73", "CMS", "MB"),)


def test_an_identifier_without_authority_belongs_to_the_sending_facility() -> None:
    raw = fixture_bytes("a01_missing_evn").replace(b"889201^^^CERNER^MRN", b"889201")
    assert mapped(raw).person.identifiers == (Identifier("889201", "STMARYS", "MR"),)


def test_blanks_around_an_identifier_are_padding_not_part_of_it() -> None:
    """Patients are matched on the exact value, and the domain refuses blanks around one."""
    padded = b" 889201 ^^^ CERNER ^MRN~ 4455667^^^STMARYS^MR "
    raw = fixture_bytes("a01_missing_evn").replace(b"889201^^^CERNER^MRN", padded)
    assert mapped(raw).person.identifiers == (
        Identifier("889201", "CERNER", "MRN"),
        Identifier("4455667", "STMARYS", "MR"),
    )


def test_a_preadmission_happens_when_recorded_not_at_the_planned_admission() -> None:
    message = mapped(fixture_bytes("meditech_a05_preadmit_lf"))
    assert message.occurred_at == at("2023-11-07T09:14:55")
    assert message.visit is not None
    assert message.visit.admitted_at == at("2023-11-14T06:30")


@pytest.mark.parametrize(
    ("name", "disposition"),
    [
        ("a03_discharge_home", Disposition.HOME),
        ("a03_discharge_snf", Disposition.SKILLED_NURSING),
        ("a03_discharge_ama", Disposition.AGAINST_MEDICAL_ADVICE),
        ("a03_discharge_expired", Disposition.EXPIRED),
        ("a03_discharge_hospice_v27_truncation", Disposition.HOSPICE),
        ("a03_discharge_rehab_v28", Disposition.REHABILITATION),
        ("a03_discharge_home_health_crlf", Disposition.HOME_HEALTH),
    ],
)
def test_discharge_dispositions(name: str, disposition: Disposition) -> None:
    visit = mapped(fixture_bytes(name)).visit
    assert visit is not None
    assert visit.disposition is disposition


def test_a_missing_disposition_is_other() -> None:
    raw = fixture_bytes("a03_discharge_home").replace(b"|01|", b"||")
    visit = mapped(raw).visit
    assert visit is not None
    assert visit.disposition is Disposition.OTHER


DEPRESSION = fixture_bytes("a03_discharge_depression_dg1")


def test_a_discharge_carries_its_dg1_diagnoses_in_order() -> None:
    visit = mapped(DEPRESSION).visit
    assert visit is not None
    assert visit.diagnoses == (
        Diagnosis("R45.851", "I10", "Suicidal ideations", DiagnosisType.ADMITTING),
        Diagnosis(
            "F32.2",
            "I10",
            "Major depressive disorder, single episode, severe without psychotic features",
            DiagnosisType.FINAL,
            1,
        ),
        Diagnosis(
            "E11.9", "I10", "Type 2 diabetes mellitus without complications", DiagnosisType.FINAL, 2
        ),
    )
    assert principal_diagnosis(visit.diagnoses) == visit.diagnoses[1]


def test_dg1_without_a_coding_system_in_dg1_3_takes_dg1_2_and_a_local_type_is_no_type() -> None:
    raw = DEPRESSION.replace(b"^Suicidal ideations^I10|", b"^Suicidal ideations|").replace(
        b"|20240702|A|", b"|20240702|Z|"
    )
    visit = mapped(raw).visit
    assert visit is not None
    admitting = visit.diagnoses[0]
    assert (admitting.coding_system, admitting.diagnosis_type) == ("I10", None)


def test_a_message_without_dg1_brings_no_diagnoses() -> None:
    visit = mapped(fixture_bytes("a03_discharge_home")).visit
    assert visit is not None
    assert visit.diagnoses == ()


def test_a_transfer_knows_where_the_patient_came_from() -> None:
    visit = mapped(fixture_bytes("a02_transfer_to_icu")).visit
    assert visit is not None
    assert (visit.prior_location, visit.location) == ("4WEST^412^B", "ICU^ICU-07^A")
    assert visit.level_of_care == "CCM"


@pytest.mark.parametrize(
    ("name", "patient_class"),
    [("a06_outpatient_to_inpatient", "I"), ("a07_inpatient_to_outpatient", "O")],
)
def test_a_class_change_without_pv1_2_takes_its_triggers_class(
    name: str, patient_class: str
) -> None:
    raw = fixture_bytes(name).replace(b"PV1|1|I|", b"PV1|1||").replace(b"PV1|1|O|", b"PV1|1||")
    visit = mapped(raw).visit
    assert visit is not None
    assert visit.patient_class == PatientClass(patient_class)


def test_a_merge_names_the_retired_identifiers() -> None:
    message = mapped(fixture_bytes("a40_merge_patient_identifier_list"))
    assert message.counterpart is not None
    assert message.counterpart.identifiers == (
        Identifier("E1099001", "EPIC", "MR"),
        Identifier("E1099002", "EPIC", "MR"),
    )


UNMERGE = (
    "MSH|^~\\&|EMPI|STATEHIE|CARETRAIL|CTHIE|20240601120000||ADT^A37|EMPI9|P|2.5\r"
    "EVN|A37|20240601120000\r"
    "PID|1||E1048823^^^EPIC^MR||RIVERA^MARIA\r"
    "PID|1||E1099001^^^EPIC^MR||RIVERA^MARIA\r"
)


def test_an_unmerge_names_the_record_to_split_off_in_its_second_pid() -> None:
    message = mapped(UNMERGE)
    assert message.command is C.UNMERGE
    assert message.person.identifiers == (Identifier("E1048823", "EPIC", "MR"),)
    assert message.counterpart is not None
    assert message.counterpart.identifiers == (Identifier("E1099001", "EPIC", "MR"),)


@pytest.mark.parametrize(
    ("raw", "code", "condition", "reason"),
    [
        pytest.param(
            fixture_bytes("a20_bed_status_no_patient"),
            AckCode.AR,
            ErrorCondition.UNSUPPORTED_EVENT_CODE,
            "ADT^A20 is not a trigger caretrail acts on",
            id="unsupported trigger",
        ),
        pytest.param(
            fixture_bytes("a03_discharge_home").replace(b"V3300198", b""),
            AckCode.AE,
            ErrorCondition.REQUIRED_FIELD_MISSING,
            "ADT^A03 has no visit number (PV1-19)",
            id="no visit number",
        ),
        pytest.param(
            fixture_bytes("epic_a01_admit_inpatient").replace(b"E1048823^^^EPIC^MR^UMCMAIN~", b""),
            AckCode.AE,
            ErrorCondition.REQUIRED_FIELD_MISSING,
            "PID-3 holds no identifier a patient can be matched on",
            id="only an SSN",
        ),
        pytest.param(
            fixture_bytes("a02_transfer_to_icu").replace(b"ICU^ICU-07^A^UMCMAIN", b""),
            AckCode.AE,
            ErrorCondition.REQUIRED_FIELD_MISSING,
            "ADT^A02 has no new location (PV1-3)",
            id="transfer nowhere",
        ),
        pytest.param(
            UNMERGE.rsplit("PID", 1)[0],
            AckCode.AE,
            ErrorCondition.SEGMENT_SEQUENCE_ERROR,
            "ADT^A37 needs a second PID segment",
            id="unmerge of one record",
        ),
        pytest.param(
            DEPRESSION.replace(b"|I10|E11.9^Type 2", b"|I10|^Type 2"),
            AckCode.AE,
            ErrorCondition.REQUIRED_FIELD_MISSING,
            "DG1 #3 has no diagnosis code (DG1-3)",
            id="diagnosis without a code",
        ),
        pytest.param(
            DEPRESSION.replace(b"|F|||||||||1", b"|F|||||||||first"),
            AckCode.AE,
            ErrorCondition.DATA_TYPE_ERROR,
            "DG1 #2 priority (DG1-15) 'first' is not a positive number",
            id="diagnosis priority not a number",
        ),
        pytest.param(
            "MSH|^~\\&|EMPI|STATEHIE|||||ADT^A31|EMPI1|P|2.5\rPID|1||X1^^^HIE^PI\r",
            AckCode.AE,
            ErrorCondition.REQUIRED_FIELD_MISSING,
            "no clinical time",
            id="no time at all",
        ),
    ],
)
def test_messages_turned_away_after_parsing(
    raw: bytes | str, code: AckCode, condition: ErrorCondition, reason: str
) -> None:
    rejection = turned_away(raw)
    assert (rejection.code, rejection.condition) == (code, condition)
    assert reason in rejection.reason
    assert rejection.control_id, "the ACK still echoes MSH-10"


def test_the_content_hash_ignores_a_restamped_message_time_and_line_ends() -> None:
    original = fixture_bytes("a03_discharge_home")
    restamped = original.replace(b"20240316143005-0400", b"20240316150000-0400")
    crlf = original.replace(b"\r", b"\r\n")
    edited = original.replace(b"RIVERA^MARIA", b"RIVERA^MARTA")

    digest = content_hash(parsed(original))
    assert content_hash(parsed(restamped)) == digest
    assert content_hash(parsed(crlf)) == digest
    assert content_hash(parsed(edited)) != digest


def test_the_synthetic_feed_is_reproducible_and_all_of_it_maps() -> None:
    first = [m.raw for m in SyntheticFeed(seed=7).messages(300)]
    again = [m.raw for m in SyntheticFeed(seed=7).messages(300)]

    assert first == again
    triggers = {mapped(raw).trigger for raw in first}
    assert {"A01", "A02", "A03", "A04", "A05", "A08", "A21", "A22"} <= triggers
