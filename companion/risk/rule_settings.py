"""Per-clinic rule settings: which rules are on, their thresholds, and response targets.

Defaults are clinical.md's (section 9 and the sections it cites); a clinic's admin changes them
without code changes. ``ClinicRuleSettings.from_dict`` reads the clinic's settings JSON and reports
every problem at once, naming the field, so a bad save is refused with a useful message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from companion.risk.findings import RULES, Severity


class RuleSettingsError(ValueError):
    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


class TargetUnit(StrEnum):
    MINUTES = "minutes"  # wall clock: Critical is urgent at 3 a.m. on a Sunday too
    BUSINESS_HOURS = "business_hours"
    BUSINESS_DAYS = "business_days"
    NEXT_REVIEW = "next_review"  # no due time


@dataclass(frozen=True)
class ResponseTarget:
    amount: int
    unit: TargetUnit


# Proposed clinician targets of clinical.md section 9 (clinical lead to approve).
DEFAULT_RESPONSE_TARGETS: Mapping[Severity, ResponseTarget] = {
    Severity.CRITICAL: ResponseTarget(15, TargetUnit.MINUTES),
    Severity.HIGH: ResponseTarget(4, TargetUnit.BUSINESS_HOURS),
    Severity.MEDIUM: ResponseTarget(1, TargetUnit.BUSINESS_DAYS),
    Severity.LOW: ResponseTarget(0, TargetUnit.NEXT_REVIEW),
}
_TARGET_LIMITS = {TargetUnit.MINUTES: 1440, TargetUnit.BUSINESS_HOURS: 72, TargetUnit.BUSINESS_DAYS: 10}

# name -> (lowest, highest) accepted value. The ranges only stop typos; the values are clinical.
THRESHOLD_LIMITS: Mapping[str, tuple[int, int]] = {
    "bp_hold_systolic": (90, 250),
    "bp_hold_diastolic": (50, 150),
    "bp_crisis_systolic": (120, 300),
    "bp_crisis_diastolic": (70, 200),
    "worsening_points": (1, 27),
    "severe_phq9": (1, 27),
    "gad7_high": (1, 21),
    "mood_drop_points": (1, 10),
    "mood_drop_days": (1, 14),
    "mood_average_days": (3, 60),
    "mood_baseline_min_days": (1, 60),
    "induction_sessions": (1, 50),
    "induction_days": (1, 365),
    "persisting_after_hours": (1, 72),
    "pre_session_window_hours": (1, 336),
    "driving_repeat_count": (2, 30),
}


@dataclass(frozen=True)
class ClinicRuleSettings:
    disabled_rules: frozenset[str] = frozenset()
    bp_hold_systolic: int = 140  # C3: PI example >140/90, unconfirmed (section 4)
    bp_hold_diastolic: int = 90
    bp_crisis_systolic: int = 180  # C1/C2: AHA hypertensive crisis >= 180/120
    bp_crisis_diastolic: int = 120
    worsening_points: int = 5  # B1: MCID 5 points (Löwe 2004), derived
    severe_phq9: int = 20  # B2: Kroenke 2001 severe band
    gad7_high: int = 15  # B5: Spitzer 2006 severe band
    mood_drop_points: int = 3  # B6: proposed, unconfirmed
    mood_drop_days: int = 3
    mood_average_days: int = 14
    mood_baseline_min_days: int = 4  # ours: fewer earlier days make the average meaningless
    induction_sessions: int = 8  # B3: end of induction = week 4 / 8 doses (section 6)
    induction_days: int = 28
    # C5: effects normally resolve the same day; 12 h after a session counts as "persisting" so
    # a next-morning report is never missed (ours, erring towards review).
    persisting_after_hours: int = 12
    pre_session_window_hours: int = 72  # C3: a BP this close to the next session is "pre-session"
    driving_repeat_count: int = 2  # C10: this many reports in 30 days (this one included) = repeated
    cssrs_enabled: bool = False  # product decision 2: off unless the clinic has a licence
    response_targets: Mapping[Severity, ResponseTarget] = field(default_factory=lambda: dict(DEFAULT_RESPONSE_TARGETS))

    def enabled(self, rule_id: str) -> bool:
        return rule_id not in self.disabled_rules

    @property
    def followup_instrument(self) -> str:
        """Where the C-SSRS is switched on it replaces the ASQ as the follow-up (decision 2)."""
        return "cssrs" if self.cssrs_enabled else "asq"

    def target(self, severity: Severity) -> ResponseTarget:
        return self.response_targets.get(severity, DEFAULT_RESPONSE_TARGETS[severity])

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ClinicRuleSettings:
        """Build from the clinic settings JSON; raises ``RuleSettingsError`` listing every problem.

        Shape: ``{"rules": {"C3": {"enabled": false}}, "thresholds": {"bp_hold_systolic": 150},
        "response_targets": {"high": {"amount": 4, "unit": "business_hours"}},
        "cssrs_enabled": false}``; every part is optional.
        """
        errors: list[str] = []
        if not isinstance(data, Mapping):
            raise RuleSettingsError(["rule settings must be an object"])
        unknown = set(data) - {"rules", "thresholds", "response_targets", "cssrs_enabled"}
        errors += [f"unknown setting {key!r}" for key in sorted(map(str, unknown))]
        settings = cls(
            disabled_rules=_disabled_rules(data.get("rules", {}), errors),
            cssrs_enabled=_boolean("cssrs_enabled", data.get("cssrs_enabled", False), errors),
            response_targets=_response_targets(data.get("response_targets", {}), errors),
        )
        settings = replace(settings, **_thresholds(data.get("thresholds", {}), errors))
        errors += _cross_checks(settings)
        if errors:
            raise RuleSettingsError(errors)
        return settings

    def to_dict(self) -> dict[str, Any]:
        return {
            "rules": {rule_id: {"enabled": self.enabled(rule_id)} for rule_id in RULES},
            "thresholds": {name: getattr(self, name) for name in THRESHOLD_LIMITS},
            "response_targets": {
                str(severity): {"amount": target.amount, "unit": str(target.unit)}
                for severity, target in self.response_targets.items()
            },
            "cssrs_enabled": self.cssrs_enabled,
        }


def _boolean(name: str, value: Any, errors: list[str]) -> bool:
    if isinstance(value, bool):
        return value
    errors.append(f"{name} must be true or false")
    return False


def _disabled_rules(rules: Any, errors: list[str]) -> frozenset[str]:
    if not isinstance(rules, Mapping):
        errors.append('rules must be an object of rule id -> {"enabled": true|false}')
        return frozenset()
    disabled = set()
    for rule_id, value in rules.items():
        if rule_id not in RULES:
            errors.append(f"unknown rule {rule_id!r}")
            continue
        enabled = value.get("enabled", True) if isinstance(value, Mapping) else value
        if not isinstance(enabled, bool):
            errors.append(f"rules.{rule_id}.enabled must be true or false")
        elif not enabled:
            disabled.add(rule_id)
    return frozenset(disabled)


def _thresholds(thresholds: Any, errors: list[str]) -> dict[str, int]:
    if not isinstance(thresholds, Mapping):
        errors.append("thresholds must be an object")
        return {}
    values = {}
    for name, value in thresholds.items():
        limits = THRESHOLD_LIMITS.get(name)
        if limits is None:
            errors.append(f"unknown threshold {name!r}")
        elif isinstance(value, bool) or not isinstance(value, int):
            errors.append(f"thresholds.{name} must be a whole number")
        elif not limits[0] <= value <= limits[1]:
            errors.append(f"thresholds.{name} must be between {limits[0]} and {limits[1]}, got {value}")
        else:
            values[name] = value
    return values


def _response_targets(targets: Any, errors: list[str]) -> dict[Severity, ResponseTarget]:
    result = dict(DEFAULT_RESPONSE_TARGETS)
    if not isinstance(targets, Mapping):
        errors.append("response_targets must be an object")
        return result
    for name, value in targets.items():
        if name not in {str(severity) for severity in Severity}:
            errors.append(f"unknown severity {name!r} in response_targets")
            continue
        target = _response_target(f"response_targets.{name}", value, errors)
        if target is not None:
            result[Severity(name)] = target
    return result


def _response_target(label: str, value: Any, errors: list[str]) -> ResponseTarget | None:
    if not isinstance(value, Mapping) or value.get("unit") not in {str(unit) for unit in TargetUnit}:
        errors.append(f"{label} needs a unit: one of {', '.join(TargetUnit)}")
        return None
    unit, amount = TargetUnit(value["unit"]), value.get("amount", 0)
    if unit is TargetUnit.NEXT_REVIEW:
        return ResponseTarget(0, unit)
    if isinstance(amount, bool) or not isinstance(amount, int) or not 1 <= amount <= _TARGET_LIMITS[unit]:
        errors.append(f"{label}.amount must be a whole number from 1 to {_TARGET_LIMITS[unit]}")
        return None
    return ResponseTarget(amount, unit)


def _cross_checks(settings: ClinicRuleSettings) -> list[str]:
    errors = []
    if settings.bp_hold_systolic >= settings.bp_crisis_systolic:
        errors.append("the systolic hold threshold must be below the systolic crisis threshold")
    if settings.bp_hold_diastolic >= settings.bp_crisis_diastolic:
        errors.append("the diastolic hold threshold must be below the diastolic crisis threshold")
    return errors
