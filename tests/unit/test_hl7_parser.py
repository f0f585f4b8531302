"""The HL7 v2 parser against hand-written fixtures and against the inputs it must reject."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import NamedTuple

import pytest

from ingest.hl7v2 import (
    DEFAULT_ENCODING,
    AckCode,
    EncodingCharacters,
    ErrorCondition,
    ParsedMessage,
    PatientIdentifier,
    PatientLocation,
    PersonName,
    Rejection,
    escape,
    format_timestamp,
    parse_message,
    parse_timestamp,
    unescape,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "hl7"


def at(iso: str) -> datetime:
    moment = datetime.fromisoformat(iso)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parsed(raw: bytes | str, default_tz: tzinfo = UTC) -> ParsedMessage:
    result = parse_message(raw, default_tz=default_tz)
    assert isinstance(result, ParsedMessage), result
    return result


def rejected(raw: bytes | str) -> Rejection:
    result = parse_message(raw)
    assert isinstance(result, Rejection), result
    return result


def fixture(name: str) -> ParsedMessage:
    return parsed((FIXTURES / f"{name}.hl7").read_bytes())


class Expected(NamedTuple):
    trigger: str
    control_id: str
    first_identifier: PatientIdentifier | None
    patient_class: str | None
    clinical_time: datetime
    disposition: str | None = None


def mr(value: str, authority: str, kind: str = "MR") -> PatientIdentifier:
    return PatientIdentifier(value, authority, kind)


EXPECTED = {
    "epic_a01_admit_inpatient": Expected(
        "A01", "EPC000184721", mr("E1048823", "EPIC"), "I", at("2024-03-12T08:05:00-04:00")
    ),
    "a01_missing_evn": Expected(
        "A01", "Q2301122205T0001", mr("889201", "CERNER", "MRN"), "I", at("2019-08-12T21:50")
    ),
    "a01_trigger_in_evn1_only": Expected(
        "A01", "OT-180302-0042", mr("OT-0012", "OLDTOWN"), "I", at("2018-03-02T09:30")
    ),
    "a01_bom_and_blank_lines": Expected(
        "A01", "EPC000300001", mr("E6600111", "EPIC"), "I", at("2024-08-20T10:00:00-04:00")
    ),
    "custom_field_separator_star": Expected(
        "A01", "VM-000331", mr("VM771203", "VALLEYMED"), "I", at("2024-03-01T06:45")
    ),
    "a02_transfer_to_icu": Expected(
        "A02", "EPC000185002", mr("E1048823", "EPIC"), "I", at("2024-03-13T02:00:00-04:00")
    ),
    "a03_discharge_home": Expected(
        "A03", "EPC000186510", mr("E1048823", "EPIC"), "I", at("2024-03-16T14:00-04:00"), "01"
    ),
    "a03_discharge_snf": Expected(
        "A03", "NG-77810422", mr("NG5510982", "NORTHGEN"), "I", at("2024-04-02T16:30-05:00"), "03"
    ),
    "a03_discharge_ama": Expected(
        "A03", "RS0119031522001", mr("RS0033481", "RIVERSIDE"), "E", at("2024-01-19T02:45"), "07"
    ),
    "a03_discharge_expired": Expected(
        "A03", "MT20231201.0007", mr("M000391022", "COMMHOSP"), "I", at("2023-12-01T05:40"), "20"
    ),
    "a03_discharge_hospice_v27_truncation": Expected(
        "A03", "EPC000201777", mr("E2201934", "EPIC"), "I", at("2024-05-05T10:00-04:00"), "50"
    ),
    "a03_discharge_rehab_v28": Expected(
        "A03", "EPC000210004", mr("E3300871", "EPIC"), "I", at("2024-06-10T11:30:00.25-04:00"), "62"
    ),
    "a03_discharge_home_health_crlf": Expected(
        "A03", "Q2310022110T4410", mr("901442", "CERNER", "MRN"), "I", at("2024-02-22T10:45"), "06"
    ),
    "a03_discharge_depression_dg1": Expected(
        "A03", "EPC000230412", mr("E5512077", "EPIC"), "I", at("2024-07-09T11:00-04:00"), "01"
    ),
    "a03_timezone_offsets_fractional": Expected(
        "A03",
        "DM-000615-2316",
        mr("DM0099", "DESERTMED"),
        "E",
        at("2024-06-15T23:15:30.25-07:00"),
        "01",
    ),
    "meditech_a03_cp1252_name_lf": Expected(
        "A03", "MT20240204.0201", mr("M000520333", "COMMHOSP"), "I", at("2024-02-04T11:00"), "01"
    ),
    "cerner_a04_ed_registration_crlf": Expected(
        "A04", "Q2294875301T2301", mr("889201", "CERNER", "MRN"), "E", at("2019-05-06T14:12")
    ),
    "a04_trailing_empty_fields": Expected(
        "A04", "ATH-90031015", mr("AT-44012", "ATHENA"), "O", at("2024-09-03T10:00")
    ),
    "custom_encoding_characters": Expected(
        "A04", "HV-2024-0520-0001", mr("HV10042", "HARBORVIEW"), "O", at("2024-05-20T08:15-07:00")
    ),
    "meditech_a05_preadmit_lf": Expected(
        "A05", "MT20231107.0042", mr("M000457781", "COMMHOSP"), "P", at("2023-11-14T06:30")
    ),
    "a05_partial_precision_timestamps": Expected(
        "A05", "MT20240628.0099", mr("M000512001", "COMMHOSP"), "P", at("2024-07-01T13:00")
    ),
    "a06_outpatient_to_inpatient": Expected(
        "A06", "EPC000220100", mr("E4400123", "EPIC"), "I", at("2024-07-01T17:45-04:00")
    ),
    "a07_inpatient_to_outpatient": Expected(
        "A07", "EPC000220177", mr("E4400123", "EPIC"), "O", at("2024-07-02T09:00-04:00")
    ),
    "a08_update_escaped_name": Expected(
        "A08", "RS0120101010004", mr("RS0040012", "RIVERSIDE"), "O", at("2024-01-20T10:10:05")
    ),
    "a08_repeated_pid3_authorities": Expected(
        "A08", "HIE-20240801-000913", mr("E1048823", "EPIC"), "O", at("2024-08-01T11:45-05:00")
    ),
    "cerner_a08_zsegments_lf": Expected(
        "A08", "Q2310010081T5501", mr("901442", "CERNER", "MRN"), "I", at("2024-01-10T08:14:55")
    ),
    "a11_cancel_admit": Expected(
        "A11", "EPC000184790", mr("E1048823", "EPIC"), "I", at("2024-03-12T09:10-04:00")
    ),
    "a12_cancel_transfer": Expected(
        "A12", "MT20231125.0101", mr("M000391022", "COMMHOSP"), "I", at("2023-11-25T10:00")
    ),
    "a13_cancel_discharge": Expected(
        "A13", "EPC000186577", mr("E1048823", "EPIC"), "I", at("2024-03-16T15:55-04:00")
    ),
    "a20_bed_status_no_patient": Expected(
        "A20", "EPC000300077", None, None, at("2024-08-20T11:59:59-04:00")
    ),
    "a21_leave_of_absence": Expected(
        "A21", "NG-77800100", mr("NG5510982", "NORTHGEN"), "I", at("2024-03-30T08:45-05:00")
    ),
    "a22_return_from_loa": Expected(
        "A22", "NG-77800188", mr("NG5510982", "NORTHGEN"), "I", at("2024-03-30T18:30-05:00")
    ),
    "a28_add_person_no_pv1": Expected(
        "A28",
        "EMPI0000451",
        mr("HIE-00981122", "STATEHIE", "PI"),
        None,
        at("2024-01-05T07:59:59-05:00"),
    ),
    "a31_update_person_no_evn_no_pv1": Expected(
        "A31",
        "EMPI0000502",
        mr("HIE-00981122", "STATEHIE", "PI"),
        None,
        at("2024-01-06T09:30-05:00"),
    ),
    "a34_merge_patient_id": Expected(
        "A34", "RS0201120000017", mr("RS0033481", "RIVERSIDE"), None, at("2024-02-01T11:59:59")
    ),
    "a36_merge_patient_id_and_account": Expected(
        "A36", "MT20231215.0333", mr("M000457781", "COMMHOSP"), None, at("2023-12-15T13:59:59")
    ),
    "a39_merge_person": Expected(
        "A39",
        "EMPI0000777",
        mr("HIE-00981122", "STATEHIE", "PI"),
        None,
        at("2024-02-10T10:09:59-05:00"),
    ),
    "a40_merge_patient_identifier_list": Expected(
        "A40", "EPC000199001", mr("E1048823", "EPIC"), None, at("2024-04-15T10:55-04:00")
    ),
}


def test_every_fixture_file_has_expectations() -> None:
    names = {path.stem for path in FIXTURES.glob("*.hl7")}
    assert names == set(EXPECTED)
    assert len(names) >= 30


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_parses_to_the_expected_facts(name: str) -> None:
    expected = EXPECTED[name]
    message = fixture(name)
    first = message.patient_identifiers[0] if message.patient_identifiers else None
    assert message.message_type == "ADT"
    assert message.trigger == expected.trigger
    assert message.control_id == expected.control_id
    assert first == expected.first_identifier
    assert message.patient_class == expected.patient_class
    assert message.clinical_time == expected.clinical_time
    assert message.discharge_disposition == expected.disposition
    assert message.dedup_key == (
        message.sending_application,
        message.sending_facility,
        expected.control_id,
    )
    assert message.raw.startswith("MSH")
    assert message.raw.endswith("\r")
    assert "\n" not in message.raw


def test_epic_admit_extracts_every_field() -> None:
    message = fixture("epic_a01_admit_inpatient")
    eastern = timezone(timedelta(hours=-4))
    assert (message.sending_application, message.sending_facility) == ("EPIC", "UMCMAIN")
    assert (message.receiving_application, message.receiving_facility) == ("CARETRAIL", "CTHIE")
    assert message.structure == "ADT_A01"
    assert message.version == "2.5.1"
    assert message.processing_id == "P"
    assert message.message_time == datetime(2024, 3, 12, 8, 30, 15, tzinfo=eastern)
    assert message.recorded_time == datetime(2024, 3, 12, 8, 30, 10, tzinfo=eastern)
    assert message.event_time == datetime(2024, 3, 12, 8, 5, tzinfo=eastern)
    assert message.patient_identifiers == (
        PatientIdentifier("E1048823", "EPIC", "MR"),
        PatientIdentifier("123456789", "SSA", "SS"),
    )
    assert message.patient_name == PersonName("RIVERA", "MARIA", "LUZ")
    assert message.birth_date == date(1958, 2, 14)
    assert message.sex == "F"
    assert message.location == PatientLocation("4WEST", "412", "B", "UMCMAIN")
    assert message.attending == "OKAFOR, CHIDI E (1447358839)"
    assert message.hospital_service == "MED"
    assert message.visit_number == "V3300198"
    assert message.admit_time == datetime(2024, 3, 12, 8, 5, tzinfo=eastern)
    assert message.discharge_time is None
    assert message.discharge_disposition is None
    assert message.prior_patient_identifiers == ()
    assert message.z_segments == (
        "ZPV|1|HIGH RISK READMIT^Y|LACE^14",
        "ZPD|SPANISH|INTERPRETER^Y",
    )


def test_escape_sequences_in_names_are_resolved() -> None:
    message = fixture("a08_update_escaped_name")
    assert message.patient_name == PersonName("MÜLLER", "ANNE&MARIE", "K")
    assert message.attending == "CHEN, LI^WEI (8812)"


def test_every_pid3_repetition_with_a_value_is_kept() -> None:
    message = fixture("a08_repeated_pid3_authorities")
    assert message.patient_identifiers == (
        PatientIdentifier("E1048823", "EPIC", "MR"),
        PatientIdentifier("900012345", "2.16.840.1.113883.3.1234", "PI"),
        PatientIdentifier("1EG4TE5MK73", "CMS", "MB"),
        PatientIdentifier("NG5510982", "NORTHGEN", "MR"),
    )


def test_merge_carries_the_retired_identifiers_and_visit() -> None:
    message = fixture("a40_merge_patient_identifier_list")
    assert message.prior_patient_identifiers == (
        PatientIdentifier("E1099001", "EPIC", "MR"),
        PatientIdentifier("E1099002", "EPIC", "MR"),
    )
    assert message.prior_visit_number == "V3300001"
    assert message.z_segments == ("ZMG|DUPLICATE REGISTRATION|HIMS^REVIEWED",)


def test_custom_encoding_characters_are_honoured() -> None:
    message = fixture("custom_encoding_characters")
    assert message.encoding == EncodingCharacters("!", "@", "#", "$", "%")
    assert message.structure == "ADT_A01"
    assert message.patient_identifiers[1] == PatientIdentifier("555443333", "SSA", "SS")
    assert message.patient_name == PersonName("O'BRIEN", "SEAN", None)


def test_truncation_character_is_part_of_the_encoding() -> None:
    message = fixture("a03_discharge_hospice_v27_truncation")
    assert message.encoding.truncation == "#"
    assert message.encoding.msh2 == "^~\\&#"


def test_non_utf8_bytes_fall_back_to_cp1252() -> None:
    assert fixture("meditech_a03_cp1252_name_lf").patient_name == PersonName("NUÑEZ", "JOSÉ", None)


def test_reduced_precision_timestamps() -> None:
    message = fixture("a05_partial_precision_timestamps")
    assert message.message_time == datetime(2024, 6, 28, 14, 5, tzinfo=UTC)
    assert message.recorded_time == datetime(2024, 6, 28, 14, tzinfo=UTC)
    assert message.birth_date == date(1992, 1, 1)


SIMPLE_A01 = (
    "MSH|^~\\&|EPIC|UMCMAIN|CARETRAIL|CTHIE|20240312083015||ADT^A01^ADT_A01|CTRL1|P|2.5.1\r"
    "EVN|A01|20240312083010\r"
    "PID|1||E1^^^EPIC^MR||DOE^JANE\r"
    "PV1|1|I|4WEST^412^B\r"
)


@pytest.mark.parametrize("terminator", ["\r", "\n", "\r\n"])
def test_segment_terminators_are_normalized(terminator: str) -> None:
    message = parsed(SIMPLE_A01.replace("\r", terminator))
    assert message.raw == SIMPLE_A01
    assert message.patient_class == "I"


def test_str_and_bytes_input_agree() -> None:
    assert parsed(SIMPLE_A01) == parsed(SIMPLE_A01.encode())


def test_times_without_offset_use_the_senders_zone() -> None:
    eastern = timezone(timedelta(hours=-5), "EST")
    message = parsed(SIMPLE_A01, eastern)
    assert message.message_time == datetime(2024, 3, 12, 8, 30, 15, tzinfo=eastern)
    assert message.clinical_time == datetime(2024, 3, 12, 8, 30, 10, tzinfo=eastern)


def test_hl7_null_reads_as_absent() -> None:
    message = parsed(SIMPLE_A01.replace("PV1|1|I|", 'PV1|1|""|'))
    assert message.patient_class is None


def test_z_segments_are_kept_and_unknown_segments_ignored() -> None:
    message = parsed(SIMPLE_A01 + "OBX|1|TX|||free text\rZXY|1|vendor^data\r")
    assert message.z_segments == ("ZXY|1|vendor^data",)


def test_custom_escape_character_in_values() -> None:
    raw = SIMPLE_A01.replace("MSH|^~\\&|", "MSH|^~!&|").replace("DOE^JANE", "DOE!S!SMITH^JANE")
    assert parsed(raw).patient_name == PersonName("DOE^SMITH", "JANE", None)


def test_rejection_keeps_what_could_be_read_for_the_ack() -> None:
    rejection = rejected(SIMPLE_A01.replace("|2.5.1", "|2.2"))
    assert rejection.control_id == "CTRL1"
    assert (rejection.sending_application, rejection.sending_facility) == ("EPIC", "UMCMAIN")
    assert rejection.receiving_application == "CARETRAIL"
    assert rejection.trigger == "A01"
    assert rejection.version == "2.2"


def test_two_messages_in_one_frame_are_rejected_in_the_senders_terms() -> None:
    raw = (FIXTURES / "custom_encoding_characters.hl7").read_text()
    rejection = rejected(raw + raw)
    assert rejection.control_id == "HV-2024-0520-0001"
    assert rejection.encoding == EncodingCharacters("!", "@", "#", "$", "%")


REJECTIONS: dict[str, tuple[bytes | str, str, AckCode]] = {
    "empty bytes": (b"", "empty message", AckCode.AR),
    "only whitespace": ("  \r\n\n ", "empty message", AckCode.AR),
    "bare MSH": ("MSH", "MSH segment is truncated: no field separator after 'MSH'", AckCode.AR),
    "bare MSH and CR": (
        "MSH\r",
        "MSH segment is truncated: no field separator after 'MSH'",
        AckCode.AR,
    ),
    "non-HL7 text": (
        "Dear interface team, please find attached",
        "not an HL7 v2 message: it does not start with an MSH segment",
        AckCode.AR,
    ),
    "binary garbage": (
        bytes(range(256)),
        "not an HL7 v2 message: it does not start with an MSH segment",
        AckCode.AR,
    ),
    "letter as field separator": (
        "MSHX^~\\&X",
        "MSH-1 field separator 'X' is not allowed",
        AckCode.AR,
    ),
    "three encoding characters": (
        "MSH|^~\\|A|B|C|D|2024||ADT^A01|C9|P|2.5",
        "MSH-2 encoding characters '^~\\\\' must be 4 characters (5 with the truncation character)",
        AckCode.AR,
    ),
    "repeated encoding character": (
        "MSH|^^\\&|A|B",
        "MSH-2 encoding characters '^^\\\\&' must be distinct punctuation different from the"
        " field separator",
        AckCode.AR,
    ),
    "no MSH-10": (
        SIMPLE_A01.replace("|CTRL1|", "||"),
        "MSH-10 message control id is missing",
        AckCode.AR,
    ),
    "blank MSH-10": (
        SIMPLE_A01.replace("|CTRL1|", "|   |"),
        "MSH-10 message control id is missing",
        AckCode.AR,
    ),
    "header only": ("MSH|^~\\&|EPIC", "MSH-10 message control id is missing", AckCode.AR),
    "no version": (
        SIMPLE_A01.replace("|P|2.5.1", "|P|"),
        "MSH-12 version id is missing",
        AckCode.AR,
    ),
    "version 2.1": (
        SIMPLE_A01.replace("|2.5.1", "|2.1"),
        "unsupported HL7 version 2.1",
        AckCode.AR,
    ),
    "version 2.9": (
        SIMPLE_A01.replace("|2.5.1", "|2.9"),
        "unsupported HL7 version 2.9",
        AckCode.AR,
    ),
    "version not a number": (
        SIMPLE_A01.replace("|2.5.1", "|two"),
        "unsupported HL7 version two",
        AckCode.AR,
    ),
    "no message type": (
        SIMPLE_A01.replace("ADT^A01^ADT_A01", ""),
        "MSH-9 message type is missing",
        AckCode.AR,
    ),
    "lab result": (
        SIMPLE_A01.replace("ADT^A01^ADT_A01", "ORU^R01"),
        "unsupported message type ORU: only ADT is accepted",
        AckCode.AR,
    ),
    "no trigger": (
        SIMPLE_A01.replace("ADT^A01^ADT_A01", "ADT").replace("EVN|A01|", "EVN||"),
        "MSH-9 trigger event is missing",
        AckCode.AR,
    ),
    "odd trigger": (
        SIMPLE_A01.replace("ADT^A01^ADT_A01", "ADT^ZZZ"),
        "unsupported ADT trigger event ZZZ",
        AckCode.AR,
    ),
    "two messages in one frame": (
        SIMPLE_A01 + SIMPLE_A01,
        "2 MSH segments found: send one message per frame",
        AckCode.AR,
    ),
    "A01 without PID": (
        SIMPLE_A01.replace("PID|1||E1^^^EPIC^MR||DOE^JANE\r", ""),
        "ADT^A01 has no PID segment",
        AckCode.AE,
    ),
    "A01 with PID but no identifier": (
        SIMPLE_A01.replace("E1^^^EPIC^MR", "^^^EPIC^MR"),
        "ADT^A01 PID-3 holds no patient identifier",
        AckCode.AE,
    ),
    "A40 without MRG": (
        SIMPLE_A01.replace("ADT^A01^ADT_A01", "ADT^A40^ADT_A39"),
        "ADT^A40 has no MRG segment",
        AckCode.AE,
    ),
    "A40 with empty MRG-1": (
        SIMPLE_A01.replace("ADT^A01^ADT_A01", "ADT^A40^ADT_A39") + "MRG|||V1\r",
        "ADT^A40 MRG-1 holds no prior patient identifier",
        AckCode.AE,
    ),
    "bad discharge time": (
        SIMPLE_A01.replace("PV1|1|I|4WEST^412^B", "PV1|1|I|4WEST" + "|" * 42 + "2024136"),
        "PV1-45 discharge time '2024136' is not a valid HL7 timestamp",
        AckCode.AE,
    ),
    "bad admit time": (
        SIMPLE_A01.replace("PV1|1|I|4WEST^412^B", "PV1|1|I|4WEST" + "|" * 41 + "20241301"),
        "PV1-44 admit time '20241301' is not a valid HL7 timestamp",
        AckCode.AE,
    ),
    "bad event time": (
        SIMPLE_A01.replace("EVN|A01|20240312083010", "EVN|A01|20240312083010||||yesterday"),
        "EVN-6 event time 'yesterday' is not a valid HL7 timestamp",
        AckCode.AE,
    ),
}


@pytest.mark.parametrize("case", sorted(REJECTIONS))
def test_rejection_reason(case: str) -> None:
    raw, reason, code = REJECTIONS[case]
    rejection = rejected(raw)
    assert rejection.reason == reason
    assert rejection.code == code


def test_rejection_conditions_follow_hl7_table_0357() -> None:
    assert rejected(b"").condition == ErrorCondition.SEGMENT_SEQUENCE_ERROR
    assert rejected(SIMPLE_A01.replace("|2.5.1", "|2.1")).condition == (
        ErrorCondition.UNSUPPORTED_VERSION_ID
    )
    bad_time = SIMPLE_A01.replace("EVN|A01|20240312083010", "EVN|A01|20240312083010||||x")
    assert rejected(bad_time).condition == ErrorCondition.DATA_TYPE_ERROR


def test_unreadable_encoding_still_echoes_the_control_id() -> None:
    rejection = rejected("MSH|^~|EPIC|UMC|CT|CTHIE|2024||ADT^A01|CTRL9|P|2.5")
    assert rejection.control_id == "CTRL9"
    assert rejection.encoding == DEFAULT_ENCODING


def test_lenient_fields_read_as_absent_when_malformed() -> None:
    raw = SIMPLE_A01.replace("20240312083015", "notatime").replace("DOE^JANE", "DOE^JANE||1958x")
    message = parsed(raw)
    assert message.message_time is None
    assert message.birth_date is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024", datetime(2024, 1, 1, tzinfo=UTC)),
        ("202403", datetime(2024, 3, 1, tzinfo=UTC)),
        ("20240312", datetime(2024, 3, 12, tzinfo=UTC)),
        ("2024031208", datetime(2024, 3, 12, 8, tzinfo=UTC)),
        ("202403120805", datetime(2024, 3, 12, 8, 5, tzinfo=UTC)),
        ("20240312080507", datetime(2024, 3, 12, 8, 5, 7, tzinfo=UTC)),
        ("20240312080507.1", datetime(2024, 3, 12, 8, 5, 7, 100000, tzinfo=UTC)),
        ("20240312080507.1234", datetime(2024, 3, 12, 8, 5, 7, 123400, tzinfo=UTC)),
        (
            "20240312080507-0430",
            datetime(2024, 3, 12, 8, 5, 7, tzinfo=timezone(-timedelta(hours=4.5))),
        ),
        ("2024+0100", datetime(2024, 1, 1, tzinfo=timezone(timedelta(hours=1)))),
        ("2024136", None),
        ("20241301", None),
        ("20240230", None),
        ("2024031225", None),
        ("20240312080507.12345", None),
        ("20240312080507+2400", None),
        ("20240312080507+0060", None),
        ("2024031208050", None),
        ("0000", None),
        ("\uff12\uff10\uff12\uff14", None),  # fullwidth digits
        ("", None),
    ],
)
def test_parse_timestamp(text: str, expected: datetime | None) -> None:
    assert parse_timestamp(text) == expected


def test_format_timestamp() -> None:
    moment = datetime(2024, 3, 12, 8, 5, 7, 999, tzinfo=timezone(-timedelta(hours=4, minutes=30)))
    assert format_timestamp(moment) == "20240312080507-0430"
    assert format_timestamp(moment.replace(tzinfo=None)) == "20240312080507"
    assert parse_timestamp(format_timestamp(moment)) == moment.replace(microsecond=0)


@pytest.mark.parametrize(
    ("escaped", "text"),
    [
        ("A\\F\\B\\S\\C\\T\\D\\R\\E\\E\\", "A|B^C&D~E\\"),
        ("line\\.br\\next", "line\nnext"),
        ("\\XC3A9\\", "é"),
        ("\\XE9\\", "é"),
        ("\\H\\bold\\N\\", "bold"),
        ("\\X4G\\", "\\X4G\\"),
        ("\\Zvendor\\", "\\Zvendor\\"),
        ("open \\ end", "open \\ end"),
        ("\\\\", "\\\\"),
    ],
)
def test_unescape(escaped: str, text: str) -> None:
    assert unescape(escaped, DEFAULT_ENCODING) == text


@pytest.mark.parametrize(
    "text", ["plain", "A|B^C&D~E\\", "tab\tcr\rlf\nvt\x0bfs\x1c", "#trunc", "é ü ☃"]
)
def test_escape_round_trips(text: str) -> None:
    encoding = EncodingCharacters(truncation="#")
    escaped = escape(text, encoding)
    assert not any(char in escaped for char in "|^&~\r\n\x0b\x1c#")
    assert unescape(escaped, encoding) == text
