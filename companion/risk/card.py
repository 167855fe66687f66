"""What the crisis card shows: the region's lines, the clinic's contact and an honest monitoring line.

Built from pure data (``crisis.resources_for``, ``crisis.monitoring_status``) and the clinic row;
no query and no network, so the card is in the response to the risky submission whatever happens
to notifications (product decision 5).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from companion.accounts.models import Clinic
from companion.questionnaires.instruments import INSTRUMENTS
from companion.risk.clinic_hours import ClinicHoursError
from companion.risk.crisis import (
    SUPPORTED_REGIONS,
    MonitoringStatus,
    RegionResources,
    UnknownRegionError,
    clinic_lines_from_config,
    monitoring_status,
    resources_for,
)

DEFAULT_REGION = "US"


@dataclass(frozen=True)
class Followup:
    instrument: str
    trigger: str | None

    @property
    def title(self) -> str:
        return INSTRUMENTS[self.instrument].short_title

    @property
    def url(self) -> str:
        query = f"?{urlencode({'trigger': self.trigger})}" if self.trigger else ""
        return f"/questionnaires/{self.instrument}{query}"


@dataclass(frozen=True)
class CrisisCard:
    resources: RegionResources
    monitoring: MonitoringStatus
    clinic: Clinic | None
    followup: Followup | None = None
    severity: str | None = None  # the most severe finding, when the card answers an entry
    alerted: bool = False  # an alert went to the care team
    safety_plan: bool = False  # link the patient's safety plan
    regions: tuple[str, ...] = SUPPORTED_REGIONS

    @property
    def emergency_now(self) -> bool:
        return self.severity == "critical"


def _region_of(clinic: Clinic | None, region: str | None) -> str:
    wanted = (region or (clinic.region if clinic else None) or DEFAULT_REGION).upper()
    return wanted if wanted in SUPPORTED_REGIONS else DEFAULT_REGION


def crisis_card(
    clinic: Clinic | None,
    now: datetime,
    *,
    region: str | None = None,
    followup: Followup | None = None,
    severity: str | None = None,
    alerted: bool = False,
    safety_plan: bool = False,
) -> CrisisCard:
    chosen = _region_of(clinic, region)
    extra, _errors = clinic_lines_from_config((clinic.settings or {}).get("crisis_lines", [])) if clinic else ((), [])
    try:
        resources = resources_for(chosen, extra)
    except UnknownRegionError:  # pragma: no cover - _region_of only returns supported regions
        resources = resources_for(DEFAULT_REGION, extra)
    return CrisisCard(resources, _monitoring(clinic, now, chosen), clinic, followup, severity, alerted, safety_plan)


def _monitoring(clinic: Clinic | None, now: datetime, region: str) -> MonitoringStatus:
    if clinic is None:
        return monitoring_status(None, "UTC", now, region)
    try:
        return monitoring_status(clinic.hours, clinic.timezone, now, region)
    except (ClinicHoursError, ValueError):
        # Unreadable hours: say nobody is watching rather than promise what may not be true.
        return monitoring_status(None, "UTC", now, region)


def followup_trigger(kind: str, *, safety: str | None = None, shared: bool = True) -> str:
    """Why the follow-up screener opens (risk.facts.FollowupTrigger values)."""
    if kind == "checkin" and safety in ("active", "passive"):
        return f"checkin_{safety}"
    if kind == "questionnaire":
        return "phq9_item9"
    if kind in ("checkin", "journal", "reflection"):
        return "shared_text" if shared else "private_text"
    return "patient_choice"


def crisis_json(card: CrisisCard) -> dict[str, Any]:
    """The card for the JSON API: numbers and links as data, the same content as the HTML card."""
    resources = card.resources
    return {
        "region": resources.region,
        "emergency": {
            "number": resources.emergency_number,
            "href": resources.emergency_href,
            "note": resources.emergency_note,
        },
        "lines": [
            {
                "name": line.name,
                "description": line.description,
                "phone": line.phone,
                "tel": line.tel_href,
                "sms": line.sms,
                "sms_href": line.sms_href,
                "url": line.url,
                "hours": line.hours,
                "from_clinic": line.from_clinic,
            }
            for line in resources.lines
        ],
        "monitoring": {"open_now": card.monitoring.open_now, "message": card.monitoring.message},
        "clinic": {"name": card.clinic.name, "phone": card.clinic.phone} if card.clinic else None,
        "followup": {"instrument": card.followup.instrument, "url": card.followup.url} if card.followup else None,
        "version": resources.version,
        "verified_on": resources.verified_on.isoformat(),
    }
