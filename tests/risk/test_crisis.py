from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from companion.risk.clinic_hours import ClinicHours, ClinicHoursError
from companion.risk.crisis import (
    CRISIS_RESOURCES_VERSION,
    REGIONS,
    CrisisLine,
    UnknownRegionError,
    clinic_lines_from_config,
    monitoring_status,
    resources_for,
    response_target,
)
from companion.risk.findings import Severity
from companion.risk.rule_settings import ClinicRuleSettings

WEEKDAYS = {day: ["09:00", "17:00"] for day in ("mon", "tue", "wed", "thu", "fri")}


def utc(*parts):
    return datetime(*parts, tzinfo=UTC)


# --- Resources ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("region", "emergency", "tel", "sms"), [
    ("US", "911", "tel:988", "sms:988"),
    ("CA", "911", "tel:988", "sms:988"),
    ("UK", "999", "tel:116123", None),
    ("AU", "000", "tel:131114", "sms:0477131114"),
])
def test_region_resources_match_clinical_md_section_7(region, emergency, tel, sms):
    resources = resources_for(region)
    assert resources.emergency_number == emergency and resources.emergency_href == f"tel:{emergency}"
    assert resources.main_line.tel_href == tel and resources.main_line.sms_href == sms
    assert resources.version == CRISIS_RESOURCES_VERSION and isinstance(resources.verified_on, date)


def test_us_text_lines():
    hrefs = {line.name: line.sms_href for line in resources_for("US").lines}
    assert hrefs["Crisis Text Line"] == "sms:741741?body=HOME"
    assert hrefs["Veterans Crisis Line"] == "sms:838255"
    assert "Spanish" in resources_for("US").main_line.description


def test_uk_lines_include_nhs_111_and_shout():
    lines = {line.name: line for line in resources_for("uk").lines}
    assert lines["NHS 111, option 2"].tel_href == "tel:111"
    assert lines["Shout"].sms_href == "sms:85258"
    assert any("Scotland" in note for note in resources_for("UK").notes)


def test_every_line_can_be_reached_in_one_tap():
    for resources in REGIONS.values():
        assert all(line.tel_href or line.sms_href for line in resources.lines)


@pytest.mark.parametrize("region", ["IE", "", "xx"])
def test_unknown_region_is_refused_not_guessed(region):
    with pytest.raises(UnknownRegionError):
        resources_for(region)


def test_clinic_lines_are_merged_after_the_national_ones():
    lines, errors = clinic_lines_from_config([{"name": "Clinic on-call", "phone": "+1 (555) 010-2000"}])
    resources = resources_for("US", lines)
    assert errors == [] and resources.lines[-1].name == "Clinic on-call"
    assert resources.lines[-1].tel_href == "tel:+15550102000" and resources.lines[-1].from_clinic
    assert resources.lines[0].name.startswith("988") and not resources.lines[0].from_clinic
    assert len(REGIONS["US"].lines) == len(resources.lines) - 1  # the shared data is untouched


@pytest.mark.parametrize(("items", "fragment"), [
    ("not a list", "must be a list"),
    ([{"phone": "555"}], "needs a name"),
    ([{"name": "X"}], "at least one of phone, sms or url"),
    ([{"name": "X", "phone": "call me"}], "must be a phone number"),
    ([{"name": "X", "url": "http://example.org"}], "must start with https://"),
    ([{"name": "X" * 200, "phone": "555 0100"}], "at most 80 characters"),
    (["nope"], "must be an object"),
])
def test_clinic_line_validation(items, fragment):
    lines, errors = clinic_lines_from_config(items)
    assert lines == () and any(fragment in error for error in errors)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


@given(_json)
def test_clinic_line_config_never_raises(items):
    lines, errors = clinic_lines_from_config(items)
    assert all(isinstance(line, CrisisLine) for line in lines) and isinstance(errors, list)


# --- Clinic hours ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("hours", "summary"), [
    (WEEKDAYS, "Mon–Fri 9:00–17:00"),
    (WEEKDAYS | {"sat": ["10:00", "12:00"]}, "Mon–Fri 9:00–17:00, Sat 10:00–12:00"),
    ({"mon": [["09:00", "12:00"], ["13:00", "17:30"]]}, "Mon 9:00–12:00 and 13:00–17:30"),
    ({"mon": ["09:00", "17:00"], "wed": ["09:00", "17:00"]}, "Mon 9:00–17:00, Wed 9:00–17:00"),
    ({"sun": ["00:00", "24:00"]}, "Sun 0:00–24:00"),
])
def test_hours_summary(hours, summary):
    assert ClinicHours.parse(hours, "UTC").summary() == summary


@pytest.mark.parametrize(("hours", "zone"), [
    ({"mon": ["9am", "5pm"]}, "UTC"),
    ({"mon": ["25:00", "26:00"]}, "UTC"),
    ({"mon": ["09:60", "17:00"]}, "UTC"),
    ({"mon": ["17:00", "09:00"]}, "UTC"),
    ({"mon": [["09:00", "13:00"], ["12:00", "17:00"]]}, "UTC"),
    ({"funday": ["09:00", "17:00"]}, "UTC"),
    ({"mon": "09:00-17:00"}, "UTC"),
    (["mon"], "UTC"),
    (WEEKDAYS, "Mars/Olympus_Mons"),
    (WEEKDAYS, ""),
])
def test_bad_hours_are_refused_with_a_message(hours, zone):
    with pytest.raises(ClinicHoursError):
        ClinicHours.parse(hours, zone)


# --- Monitoring status, across daylight-saving changes ----------------------------------------------------

CLOSED_US = ("Your clinic reviews entries Mon–Fri 9:00–17:00. Right now nobody is watching: "
             "if you are in danger call 911 or 988.")

DST_CASES = [
    # New York: EST -> EDT on Sun 8 Mar 2026; EDT -> EST on Sun 1 Nov 2026.
    ("America/New_York", utc(2026, 3, 6, 13, 30), False, utc(2026, 3, 6, 14)),  # Fri 8:30 EST
    ("America/New_York", utc(2026, 3, 6, 14, 30), True, None),  # Fri 9:30 EST
    ("America/New_York", utc(2026, 3, 7, 12), False, utc(2026, 3, 9, 13)),  # Sat -> Mon 9:00 EDT
    ("America/New_York", utc(2026, 3, 9, 13, 30), True, None),  # Mon 9:30 EDT (8:30 in EST terms)
    ("America/New_York", utc(2026, 3, 9, 21, 30), False, utc(2026, 3, 10, 13)),  # Mon 17:30 EDT
    ("America/New_York", utc(2026, 10, 30, 13, 30), True, None),  # Fri 9:30 EDT
    ("America/New_York", utc(2026, 11, 2, 13, 30), False, utc(2026, 11, 2, 14)),  # Mon 8:30 EST
    # London: GMT -> BST on Sun 29 Mar 2026; BST -> GMT on Sun 25 Oct 2026.
    ("Europe/London", utc(2026, 3, 27, 17, 30), False, utc(2026, 3, 30, 8)),  # Fri 17:30 GMT -> Mon 9:00 BST
    ("Europe/London", utc(2026, 3, 30, 8, 30), True, None),  # Mon 9:30 BST
    ("Europe/London", utc(2026, 3, 30, 16, 30), False, utc(2026, 3, 31, 8)),  # Mon 17:30 BST
    ("Europe/London", utc(2026, 10, 26, 8, 30), False, utc(2026, 10, 26, 9)),  # Mon 8:30 GMT
    # Sydney: AEDT -> AEST on Sun 5 Apr 2026; AEST -> AEDT on Sun 4 Oct 2026.
    ("Australia/Sydney", utc(2026, 4, 2, 22, 30), True, None),  # Fri 9:30 AEDT
    ("Australia/Sydney", utc(2026, 4, 3, 22, 30), False, utc(2026, 4, 5, 23)),  # Sat -> Mon 9:00 AEST
    ("Australia/Sydney", utc(2026, 4, 5, 22, 30), False, utc(2026, 4, 5, 23)),  # Mon 8:30 AEST
    ("Australia/Sydney", utc(2026, 4, 5, 23, 30), True, None),  # Mon 9:30 AEST
    ("Australia/Sydney", utc(2026, 10, 2, 23), False, utc(2026, 10, 4, 22)),  # Sat -> Mon 9:00 AEDT
]


@pytest.mark.parametrize(("zone", "now", "open_now", "next_open"), DST_CASES)
def test_monitoring_status_is_dst_safe(zone, now, open_now, next_open):
    status = monitoring_status(WEEKDAYS, zone, now)
    assert (status.open_now, status.next_open) == (open_now, next_open)


def test_closed_message_is_honest_about_nobody_watching():
    status = monitoring_status(WEEKDAYS, "America/New_York", utc(2026, 3, 7, 12))
    assert status.message == CLOSED_US


def test_open_message_still_points_to_emergency_help():
    status = monitoring_status(WEEKDAYS, "America/New_York", utc(2026, 3, 9, 15))
    assert status.open_now and "replies are not instant" in status.message and "911 or 988" in status.message


@pytest.mark.parametrize(("region", "fragment"), [
    ("UK", "call 999 or Samaritans on 116 123"),
    ("AU", "call 000 or Lifeline on 13 11 14"),
    ("CA", "call 911 or 9-8-8"),
])
def test_monitoring_message_uses_the_regions_numbers(region, fragment):
    assert fragment in monitoring_status(WEEKDAYS, "UTC", utc(2026, 3, 7, 12), region).message


def test_a_clinic_without_hours_says_it_does_not_watch():
    status = monitoring_status({}, "America/New_York", utc(2026, 3, 9, 15))
    assert not status.open_now and status.next_open is None
    assert "does not watch entries" in status.message


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError):
        monitoring_status(WEEKDAYS, "UTC", datetime(2026, 3, 9, 15))


@pytest.mark.parametrize("zone", ["America/New_York", "Europe/London", "Australia/Sydney"])
@given(moment=st.datetimes(datetime(2026, 1, 1), datetime(2027, 12, 31), timezones=st.just(UTC)))
def test_open_now_matches_the_local_wall_clock(zone, moment):
    local = moment.astimezone(ZoneInfo(zone))
    expected = local.weekday() < 5 and time(9) <= local.time() < time(17)
    status = monitoring_status(WEEKDAYS, zone, moment)
    assert status.open_now is expected
    if not expected:
        opening = status.next_open.astimezone(ZoneInfo(zone))
        assert status.next_open > moment and opening.time() == time(9) and opening.weekday() < 5
        assert status.next_open - moment <= timedelta(days=3, hours=1)


# --- Response targets ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("severity", "created", "zone", "due"), [
    (Severity.CRITICAL, utc(2026, 3, 7, 8), "America/New_York", utc(2026, 3, 7, 8, 15)),  # Saturday night
    (Severity.HIGH, utc(2026, 3, 9, 14), "America/New_York", utc(2026, 3, 9, 18)),  # Mon 10:00 -> 14:00 EDT
    (Severity.HIGH, utc(2026, 3, 6, 21), "America/New_York", utc(2026, 3, 9, 16)),  # Fri 16:00 EST -> Mon 12:00 EDT
    (Severity.HIGH, utc(2026, 3, 7, 12), "America/New_York", utc(2026, 3, 9, 17)),  # weekend -> Mon 13:00 EDT
    (Severity.MEDIUM, utc(2026, 3, 6, 21), "America/New_York", utc(2026, 3, 9, 20)),  # Fri 16:00 -> Mon 16:00 EDT
    (Severity.MEDIUM, utc(2026, 3, 7, 12), "America/New_York", utc(2026, 3, 10, 13)),  # Sat -> Tue 9:00 EDT
    (Severity.MEDIUM, utc(2026, 3, 27, 10), "Europe/London", utc(2026, 3, 30, 9)),  # Fri 10:00 GMT -> Mon 10:00 BST
    (Severity.LOW, utc(2026, 3, 9, 14), "America/New_York", None),
])
def test_response_targets(severity, created, zone, due):
    assert response_target(severity, created, WEEKDAYS, zone) == due


def test_sydney_high_target_counts_hours_across_the_dst_change():
    # Fri 3 Apr 16:00 AEDT: 1 h on Friday, then 3 h from Mon 6 Apr 9:00 AEST -> 12:00 AEST (02:00 UTC).
    assert response_target(Severity.HIGH, utc(2026, 4, 3, 5), WEEKDAYS, "Australia/Sydney") == utc(2026, 4, 6, 2)


def test_business_day_target_is_clamped_into_opening_hours():
    hours = {"mon": ["09:00", "17:00"], "tue": ["09:00", "12:00"]}
    assert response_target(Severity.MEDIUM, utc(2026, 3, 9, 16), hours, "UTC") == utc(2026, 3, 10, 12)


def test_without_clinic_hours_targets_fall_back_to_the_wall_clock():
    created = utc(2026, 3, 7, 12)
    assert response_target(Severity.HIGH, created, {}, "UTC") == created + timedelta(hours=4)
    assert response_target(Severity.MEDIUM, created, None, "UTC") == created + timedelta(days=1)


def test_targets_come_from_clinic_settings():
    settings = ClinicRuleSettings.from_dict({"response_targets": {
        "high": {"amount": 2, "unit": "business_hours"}, "critical": {"amount": 5, "unit": "minutes"},
        "low": {"unit": "business_days", "amount": 3}}})
    created = utc(2026, 3, 9, 14)  # Mon 10:00 EDT
    assert response_target("high", created, WEEKDAYS, "America/New_York", settings) == utc(2026, 3, 9, 16)
    assert response_target("critical", created, WEEKDAYS, "America/New_York", settings) == utc(2026, 3, 9, 14, 5)
    assert response_target("low", created, WEEKDAYS, "America/New_York", settings) == utc(2026, 3, 12, 14)


@given(st.sampled_from([Severity.HIGH, Severity.MEDIUM]),
       st.datetimes(datetime(2026, 1, 1), datetime(2027, 12, 31), timezones=st.just(UTC)),
       st.sampled_from(["America/New_York", "Europe/London", "Australia/Sydney"]))
def test_business_targets_fall_in_opening_hours_after_creation(severity, created, zone):
    due = response_target(severity, created, WEEKDAYS, zone)
    hours = ClinicHours.parse(WEEKDAYS, zone)
    assert due > created
    assert hours.is_open(due) or hours.is_open(due - timedelta(seconds=1))  # at or before a closing
    assert due - created <= timedelta(days=5)
