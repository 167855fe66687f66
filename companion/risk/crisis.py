"""Crisis resources by region, the honest monitoring line, and alert response targets.

Numbers are copied from clinical.md section 7 and versioned (product decision 7): re-verify them on
a schedule (quarterly is proposed), then bump ``CRISIS_RESOURCES_VERSION`` and ``VERIFIED_ON``.
The crisis card never waits on anything (decision 5), so everything here is pure and offline.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from urllib.parse import quote

from companion.risk.clinic_hours import ClinicHours
from companion.risk.findings import Severity
from companion.risk.rule_settings import ClinicRuleSettings, TargetUnit

CRISIS_RESOURCES_VERSION = "crisis-2026.11.1"
# The date these entries were last checked against clinical.md section 7 (its sources are listed
# there). Clinical sign-off and a check against each service's own site are still due before release.
VERIFIED_ON = date(2026, 11, 29)

_DIALLABLE = re.compile(r"[^0-9+*#]")
_PHONE_TEXT = re.compile(r"^\+?[0-9][0-9 ()\-.]{1,30}$")


class UnknownRegionError(ValueError):
    pass


@dataclass(frozen=True)
class CrisisLine:
    name: str
    description: str = ""
    phone: str | None = None  # as people read it: "13 11 14"
    sms: str | None = None
    sms_body: str | None = None  # e.g. "HOME" for Crisis Text Line
    url: str | None = None
    hours: str = "24/7"
    note: str = ""
    from_clinic: bool = False

    @property
    def tel_href(self) -> str | None:
        return f"tel:{_DIALLABLE.sub('', self.phone)}" if self.phone else None

    @property
    def sms_href(self) -> str | None:
        if not self.sms:
            return None
        body = f"?body={quote(self.sms_body)}" if self.sms_body else ""  # RFC 5724 sms: URI
        return f"sms:{_DIALLABLE.sub('', self.sms)}{body}"


@dataclass(frozen=True)
class RegionResources:
    region: str
    name: str
    emergency_number: str
    emergency_note: str
    lines: tuple[CrisisLine, ...]
    notes: tuple[str, ...] = ()
    version: str = CRISIS_RESOURCES_VERSION
    verified_on: date = VERIFIED_ON

    @property
    def emergency_href(self) -> str:
        return f"tel:{self.emergency_number}"

    @property
    def main_line(self) -> CrisisLine:
        return self.lines[0]


REGIONS: Mapping[str, RegionResources] = {
    "US": RegionResources(
        region="US",
        name="United States",
        emergency_number="911",
        emergency_note="Call 911 if you are in immediate danger.",
        lines=(
            CrisisLine(
                "988 Suicide & Crisis Lifeline",
                "Call or text. Press 1 for Veterans, 2 for Spanish.",
                phone="988",
                sms="988",
                url="https://988lifeline.org",
            ),
            CrisisLine("Crisis Text Line", "Text HOME to 741741.", sms="741741", sms_body="HOME"),
            CrisisLine(
                "Veterans Crisis Line",
                "Call 988 and press 1, or text 838255.",
                phone="988",
                sms="838255",
                note="Press 1 after calling 988.",
            ),
        ),
        notes=("988 has been live since 16 July 2022; the old number 1-800-273-8255 still connects.",),
    ),
    "CA": RegionResources(
        region="CA",
        name="Canada",
        emergency_number="911",
        emergency_note="Call 911 if you are in immediate danger.",
        lines=(
            CrisisLine(
                "9-8-8 Suicide Crisis Helpline", "Call or text, in English or French.", phone="9-8-8", sms="9-8-8"
            ),
        ),
        notes=(
            "9-8-8 has been live since 30 November 2023.",
            "Crisis Text Line Canada (text 686868) was historically for youth; current routing unconfirmed.",
        ),
    ),
    "UK": RegionResources(
        region="UK",
        name="United Kingdom",
        emergency_number="999",
        emergency_note="Call 999 if your life is at risk or you are injured.",
        lines=(
            CrisisLine("Samaritans", "Free to call, any time.", phone="116 123"),
            CrisisLine(
                "NHS 111, option 2",
                "Urgent mental-health help (England and Wales).",
                phone="111",
                hours="24/7",
                note="Choose option 2 for mental health.",
            ),
            CrisisLine("Shout", "Text 85258.", sms="85258"),
        ),
        notes=("Scotland and Northern Ireland routes differ (unconfirmed): check NHS 24 or local services.",),
    ),
    "AU": RegionResources(
        region="AU",
        name="Australia",
        emergency_number="000",
        emergency_note="Call 000 if you are in immediate danger.",
        lines=(CrisisLine("Lifeline", "Call, text or chat online.", phone="13 11 14", sms="0477 13 11 14"),),
    ),
}
SUPPORTED_REGIONS = tuple(REGIONS)


def resources_for(region: str, clinic_lines: Sequence[CrisisLine] = ()) -> RegionResources:
    """The region's resources with the clinic's own lines after the national ones."""
    try:
        base = REGIONS[region.upper()]
    except (KeyError, AttributeError):
        # Never fall back to another country's numbers: a wrong emergency number is worse than none.
        message = f"no crisis resources for region {region!r}; choose one of {', '.join(SUPPORTED_REGIONS)}"
        raise UnknownRegionError(message) from None
    extra = tuple(replace(line, from_clinic=True) for line in clinic_lines)
    return replace(base, lines=base.lines + extra)


def _text_field(item: Mapping[str, object], name: str, limit: int, errors: list[str], label: str) -> str | None:
    value = item.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > limit:
        errors.append(f"{label}: {name} must be text of at most {limit} characters")
        return None
    return value.strip()


def _clinic_line(item: object, label: str, errors: list[str]) -> CrisisLine | None:
    if not isinstance(item, Mapping):
        errors.append(f"{label} must be an object")
        return None
    count = len(errors)
    values = {
        name: _text_field(item, name, limit, errors, label)
        for name, limit in (
            ("name", 80),
            ("description", 200),
            ("phone", 32),
            ("sms", 32),
            ("sms_body", 40),
            ("url", 200),
            ("hours", 80),
            ("note", 200),
        )
    }
    for name in ("phone", "sms"):
        if values[name] and not _PHONE_TEXT.match(values[name]):  # type: ignore[arg-type]
            errors.append(f"{label}: {name} must be a phone number (digits, spaces, + - ( ))")
    if values["url"] and not values["url"].startswith("https://"):
        errors.append(f"{label}: url must start with https://")
    if not values["name"] or not (values["phone"] or values["sms"] or values["url"]):
        errors.append(f"{label} needs a name and at least one of phone, sms or url")
    if len(errors) > count:
        return None
    given = {name: value for name, value in values.items() if value is not None}
    return CrisisLine(**given, from_clinic=True)  # type: ignore[arg-type]


def clinic_lines_from_config(items: object) -> tuple[tuple[CrisisLine, ...], list[str]]:
    """The clinic's extra lines from its settings JSON -> (lines, error messages). Never raises."""
    if not isinstance(items, Sequence) or isinstance(items, str):
        return (), ["extra crisis lines must be a list"]
    errors: list[str] = []
    lines = [_clinic_line(item, f"extra line {index + 1}", errors) for index, item in enumerate(items)]
    return tuple(line for line in lines if line is not None), errors


# --- Monitoring status --------------------------------------------------------------------------


@dataclass(frozen=True)
class MonitoringStatus:
    open_now: bool
    message: str
    next_open: datetime | None  # UTC; None while open or when the clinic keeps no hours


def _danger_line(region: str) -> str:
    resources = resources_for(region)
    main = resources.main_line
    number = main.phone or main.sms or ""
    line = number if main.name.startswith(number) else f"{main.name} on {number}"
    return f"if you are in danger call {resources.emergency_number} or {line}."


def _require_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime (UTC)")


def monitoring_status(
    clinic_hours: Mapping[str, object] | None, clinic_timezone: str, now_utc: datetime, region: str = "US"
) -> MonitoringStatus:
    """The honest line on whether anyone at the clinic is watching entries right now (decision 5)."""
    _require_aware(now_utc, "now_utc")
    hours = ClinicHours.parse(clinic_hours, clinic_timezone)
    danger = _danger_line(region)
    if not hours.has_hours:
        return MonitoringStatus(False, f"Your clinic does not watch entries in this app: {danger}", None)
    schedule = f"Your clinic reviews entries {hours.summary()}."
    if hours.is_open(now_utc):
        message = f"{schedule} Someone is reviewing entries now, but replies are not instant: {danger}"
        return MonitoringStatus(True, message, None)
    return MonitoringStatus(False, f"{schedule} Right now nobody is watching: {danger}", hours.next_open(now_utc))


# --- Response targets (clinical.md section 9, severity definitions) -------------------------------


def response_target(
    severity: Severity,
    created_at_utc: datetime,
    clinic_hours: Mapping[str, object] | None,
    tz: str,
    settings: ClinicRuleSettings | None = None,
) -> datetime | None:
    """When a clinician should have acted on an alert; None for "next scheduled review".

    Critical counts wall-clock minutes (nights and weekends included). High and Medium count
    business hours / business days of the clinic; a clinic with no hours falls back to the wall
    clock, because a due time that never arrives would hide the alert.
    """
    _require_aware(created_at_utc, "created_at_utc")
    target = (settings or ClinicRuleSettings()).target(Severity(severity))
    hours = ClinicHours.parse(clinic_hours, tz)
    if target.unit is TargetUnit.NEXT_REVIEW:
        return None
    if target.unit is TargetUnit.MINUTES:
        return created_at_utc + timedelta(minutes=target.amount)
    if not hours.has_hours:
        per_unit = timedelta(hours=1) if target.unit is TargetUnit.BUSINESS_HOURS else timedelta(days=1)
        return created_at_utc + per_unit * target.amount
    if target.unit is TargetUnit.BUSINESS_HOURS:
        return hours.add_business_time(created_at_utc, timedelta(hours=target.amount))
    return hours.add_business_days(created_at_utc, target.amount)
