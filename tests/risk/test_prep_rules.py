"""The pre-session checklist's blood pressure through the rules (C2, C3 of clinical.md section 9)."""

from __future__ import annotations

from datetime import date

import pytest

from companion.risk.facts import SessionPrepFacts
from companion.risk.rule_settings import ClinicRuleSettings
from companion.risk.rules import assess

DAY = date(2026, 11, 29)


@pytest.mark.parametrize(
    ("reading", "expected"),
    [
        ((128, 82), []),
        ((None, None), []),
        ((140, 90), []),  # the hold threshold is "above 140/90"
        ((141, 80), [("C3", "low")]),
        ((130, 91), [("C3", "low")]),
        ((180, 100), [("C2", "high"), ("C3", "low")]),
        ((150, 120), [("C2", "high"), ("C3", "low")]),
    ],
)
def test_checklist_reading_is_a_pre_session_reading(reading, expected):
    found = assess(SessionPrepFacts(DAY, *reading)).findings
    assert [(f.rule_id, str(f.severity)) for f in found] == expected
    assert not any(f.show_crisis for f in found)  # no symptoms asked: C1 cannot apply


def test_clinic_threshold_and_switches_apply():
    raised = SessionPrepFacts(DAY, 150, 85)
    assert assess(raised, settings=ClinicRuleSettings.from_dict({"thresholds": {"bp_hold_systolic": 160}})).findings == ()
    off = ClinicRuleSettings.from_dict({"rules": {"C3": {"enabled": False}}})
    assert assess(raised, settings=off).findings == ()


def test_impossible_readings_are_refused():
    with pytest.raises(ValueError, match="bp_systolic"):
        SessionPrepFacts(DAY, 900, 80)
