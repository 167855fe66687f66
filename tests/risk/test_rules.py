from __future__ import annotations

import inspect
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from companion.questionnaires.instruments import DECLINED, NO, YES
from companion.questionnaires.scoring import PastScore, score_asq, score_cssrs, score_gad7, score_phq9
from companion.risk.facts import SIDE_EFFECT_CODES, SYMPTOM_FLAGS
from companion.risk.findings import RULE_IDS, RULE_SPECS, Finding, Severity, highest, most_severe
from companion.risk.rule_settings import THRESHOLD_LIMITS, RuleSettingsError, TargetUnit
from companion.risk.rules import (
    CHECKIN_RULES,
    FREE_TEXT_RULES,
    HELP_RULES,
    QUESTIONNAIRE_RULES,
    CheckInFacts,
    ClinicRuleSettings,
    DayMood,
    FollowupTrigger,
    FreeTextFacts,
    HelpRequest,
    History,
    QuestionnaireFacts,
    SafetyAnswer,
    assess,
    evaluate,
)

TODAY = date(2026, 6, 15)
FIRST_SESSION = date(2026, 4, 1)


def phq9_entry(*values, difficulty=None):
    answers = {f"q{n}": value for n, value in enumerate(values, start=1)} | {"difficulty": difficulty}
    return QuestionnaireFacts("phq9", score_phq9(answers), local_date=TODAY)


def cssrs_entry(trigger=None, **answers):
    return QuestionnaireFacts("cssrs", score_cssrs(answers), local_date=TODAY, trigger=trigger)


def asq_entry(trigger=None, **answers):
    return QuestionnaireFacts("asq", score_asq(answers), local_date=TODAY, trigger=trigger)


def gad7_entry(total):
    values = [3] * (total // 3) + ([total % 3] if total % 3 else [])
    values += [0] * (7 - len(values))
    return QuestionnaireFacts("gad7", score_gad7({f"q{n}": v for n, v in enumerate(values, 1)}), local_date=TODAY)


def checkin(**fields):
    return CheckInFacts(**{"local_date": TODAY, "mood": 6} | fields)


def treated(**fields):
    """History of a patient in treatment (first session and sessions attended)."""
    return History(**{"first_session_on": FIRST_SESSION, "sessions_attended": 4} | fields)


def previous(total, **fields):
    return treated(phq9_history=(PastScore(datetime(2026, 6, 8, tzinfo=UTC), total),), **fields)


def by_rule(findings):
    return {finding.rule_id: finding for finding in findings}


# --- clinical.md section 9 test vectors ------------------------------------------------------------

SECTION_9_VECTORS = [
    # (name, entry, history, rule expected or None, its severity, rules that must NOT fire)
    ("phq9 all ones -> 8, mild, no suicide alert", phq9_entry(1, 1, 1, 1, 1, 1, 1, 1, 0), treated(),
     None, None, {"A1", "A2", "A3", "A4", "A5", "A5b", "A8"}),
    ("phq9 24 severe after 15 -> B2", phq9_entry(3, 3, 3, 3, 3, 3, 3, 3, 0), previous(15),
     "B2", Severity.MEDIUM, {"A2", "A3"}),
    ("phq9 24 severe after 22 -> no B2", phq9_entry(3, 3, 3, 3, 3, 3, 3, 3, 0), previous(22), None, None, {"B2"}),
    ("item 9 = 1, total 6 -> A3 High", phq9_entry(1, 1, 1, 1, 1, 0, 0, 0, 1), treated(), "A3", Severity.HIGH, {"A2"}),
    ("baseline 22 -> 10: response, not remission", phq9_entry(2, 2, 1, 1, 1, 1, 1, 1, 0),
     treated(baseline_phq9=22), "B4", Severity.LOW, set()),
    ("baseline 22 -> 4: remission", phq9_entry(1, 1, 1, 1, 0, 0, 0, 0, 0), treated(baseline_phq9=22),
     "B4", Severity.LOW, set()),
    ("previous 9 -> 14: +5 -> B1", phq9_entry(2, 2, 2, 2, 2, 2, 2, 0, 0), previous(9), "B1", Severity.MEDIUM, set()),
    ("C-SSRS Q1 yes, Q2 no, Q6 no -> low -> A5b", cssrs_entry(q1=YES, q2=NO, q6=NO), History(),
     "A5b", Severity.MEDIUM, {"A1", "A4", "A5", "A8"}),
    ("C-SSRS Q2,Q3 yes, Q4,Q5,Q6 no -> moderate -> A4", cssrs_entry(q1=YES, q2=YES, q3=YES, q4=NO, q5=NO, q6=NO),
     History(), "A4", Severity.HIGH, {"A1", "A5"}),
    ("C-SSRS Q2 yes, Q5 yes -> high -> A1", cssrs_entry(q2=YES, q5=YES), History(), "A1", Severity.CRITICAL, {"A4"}),
    ("C-SSRS Q2 no, Q6 yes within 3 months -> A1", cssrs_entry(q1=NO, q2=NO, q6=YES, q6b=YES), History(),
     "A1", Severity.CRITICAL, {"A4"}),
    ("BP 185/100 no symptoms, re-check 182/98 -> C2", checkin(bp_systolic=185, bp_diastolic=100,
     bp_recheck_systolic=182, bp_recheck_diastolic=98), History(), "C2", Severity.HIGH, {"C1"}),
    ("BP 150/95 + sudden severe headache -> C1", checkin(bp_systolic=150, bp_diastolic=95,
     symptoms=frozenset({"severe_headache"})), History(), "C1", Severity.CRITICAL, {"C2"}),
]


@pytest.mark.parametrize(("name", "entry", "history", "rule", "severity", "forbidden"), SECTION_9_VECTORS,
                         ids=[row[0] for row in SECTION_9_VECTORS])
def test_section_9_vectors(name, entry, history, rule, severity, forbidden):
    found = by_rule(evaluate(entry, history))
    if rule is not None:
        assert found[rule].severity is severity
    assert not forbidden & set(found)


def test_vector_item9_launches_the_followup_screener_despite_a_mild_total():
    assessment = assess(phq9_entry(1, 1, 1, 1, 1, 0, 0, 0, 1), treated())
    assert assessment.show_crisis and assessment.launch_followup
    assert assessment.followup_instrument == "asq"


@pytest.mark.parametrize(("values", "word", "absent"), [
    ((2, 2, 1, 1, 1, 1, 1, 1, 0), "response", "remission"),
    ((1, 1, 1, 1, 0, 0, 0, 0, 0), "remission", None),
])
def test_vector_response_and_remission_reasons(values, word, absent):
    reason = by_rule(evaluate(phq9_entry(*values), treated(baseline_phq9=22)))["B4"].reason
    assert word in reason and (absent is None or absent not in reason)


def test_vector_difficulty_answer_is_stored_as_la6575_and_changes_no_finding():
    plain = phq9_entry(1, 1, 1, 1, 1, 1, 1, 1, 0)
    very = phq9_entry(1, 1, 1, 1, 1, 1, 1, 1, 0, difficulty=2)
    assert very.result.difficulty_loinc == "LA6575-0" and very.result.total == 8
    assert evaluate(very, treated()) == evaluate(plain, treated())


# --- A: suicide risk --------------------------------------------------------------------------------


@pytest.mark.parametrize(("entry", "rule", "severity"), [
    (asq_entry(q1=YES, q2=NO, q3=NO, q4=NO, q5=YES), "A1", Severity.CRITICAL),
    (asq_entry(q1=NO, q2=NO, q3=YES, q4=NO, q5=NO), "A4", Severity.HIGH),
    (asq_entry(q1=DECLINED, q2=NO, q3=NO, q4=NO, q5=NO), "A4", Severity.HIGH),
    (cssrs_entry(q1=YES, q2=YES, q3=NO, q4=NO, q5=NO, q6=NO), "A5", Severity.HIGH),
    (cssrs_entry(q1=NO, q2=NO, q6=YES, q6b=NO), "A4", Severity.HIGH),
    (phq9_entry(0, 0, 0, 0, 0, 0, 0, 0, 2), "A2", Severity.HIGH),
    (phq9_entry(0, 0, 0, 0, 0, 0, 0, 0, 3), "A2", Severity.HIGH),
    (phq9_entry(0, 0, 0, 0, 0, 0, 0, 0, None), "A8", Severity.MEDIUM),
    (cssrs_entry(q1=YES, q2=YES), "A8", Severity.HIGH),
    (cssrs_entry(q1=YES), "A8", Severity.MEDIUM),
    (asq_entry(q1=NO, q2=NO), "A8", Severity.MEDIUM),
    (asq_entry(trigger=FollowupTrigger.CHECKIN_ACTIVE, q1=NO), "A8", Severity.HIGH),
    (asq_entry(trigger=FollowupTrigger.CHECKIN_PASSIVE, q1=NO, q2=NO, q3=NO, q4=NO), "A5b", Severity.MEDIUM),
    (checkin(safety=SafetyAnswer.ACTIVE), "A5", Severity.HIGH),
    (checkin(safety=SafetyAnswer.PASSIVE), "A5b", Severity.MEDIUM),
    (HelpRequest(), "A7", Severity.CRITICAL),
    (FreeTextFacts("honestly I want to end it all", shared=True), "A6", Severity.HIGH),
    (checkin(note="Estarían mejor sin mí"), "A6", Severity.HIGH),
])
def test_suicide_rules(entry, rule, severity):
    finding = by_rule(evaluate(entry, History()))[rule]
    assert finding.severity is severity
    assert finding.show_crisis


def test_item9_skipped_shows_help_and_launches_the_followup():
    assessment = assess(phq9_entry(0, 0, 0, 0, 0, 0, 0, 0, None))
    assert assessment.show_crisis and assessment.launch_followup


def test_negative_followup_after_an_active_answer_raises_nothing_new():
    entry = asq_entry(trigger=FollowupTrigger.CHECKIN_ACTIVE, q1=NO, q2=NO, q3=NO, q4=NO)
    assert evaluate(entry) == []


def test_private_journal_match_shows_help_but_creates_no_alert():
    assessment = assess(FreeTextFacts("quiero morirme", shared=False, language="es"))
    (finding,) = assessment.findings
    assert finding.rule_id == "A6" and not finding.creates_alert
    assert assessment.show_crisis and assessment.launch_followup


def test_free_text_reason_never_quotes_the_patient():
    text = "I keep thinking I would be better off dead"
    (finding,) = evaluate(FreeTextFacts(text, shared=True))
    assert "better off" not in finding.reason and text not in repr(finding)


def test_plain_text_raises_nothing():
    assert evaluate(FreeTextFacts("I feel fine today, good session", shared=True)) == []
    assert evaluate(checkin(note="Slept well")) == []


def test_cssrs_switched_on_changes_the_followup_instrument():
    settings = ClinicRuleSettings.from_dict({"cssrs_enabled": True})
    assert assess(checkin(safety="active"), History(), settings).followup_instrument == "cssrs"


# --- B: course of treatment -------------------------------------------------------------------------


def test_b1_falls_back_to_the_baseline_when_no_lowest_is_given():
    history = treated(baseline_phq9=10)
    assert "B1" in by_rule(evaluate(phq9_entry(2, 2, 2, 2, 2, 2, 2, 1, 0), history))  # 10 -> 15


def test_b1_compares_with_the_lowest_score_since_start():
    history = previous(13, lowest_phq9_since_start=8)
    finding = by_rule(evaluate(phq9_entry(2, 2, 2, 2, 2, 1, 1, 1, 0), history))["B1"]  # 13 -> 13, lowest 8
    assert "+5 vs lowest since start" in finding.reason


@pytest.mark.parametrize(("sessions", "first", "now", "fires"), [
    (8, FIRST_SESSION, (2, 2, 2, 2, 2, 2, 2, 1, 0), True),  # 20 -> 15 after 8 sessions
    (8, FIRST_SESSION, (1, 1, 1, 1, 1, 1, 1, 1, 0), False),  # 20 -> 8 is a response
    (3, FIRST_SESSION, (2, 2, 2, 2, 2, 2, 2, 1, 0), True),  # 75 days since the first session
    (3, TODAY - timedelta(days=10), (2, 2, 2, 2, 2, 2, 2, 1, 0), False),  # still in induction
])
def test_b3_end_of_induction_without_response(sessions, first, now, fires):
    history = History(baseline_phq9=20, sessions_attended=sessions, first_session_on=first)
    assert ("B3" in by_rule(evaluate(phq9_entry(*now), history))) is fires


def test_b4_fires_only_when_newly_reached_and_only_in_treatment():
    entry = phq9_entry(1, 1, 1, 1, 1, 1, 1, 1, 0)  # 8 from a baseline of 22
    assert "B4" in by_rule(evaluate(entry, previous(14, baseline_phq9=22)))
    assert "B4" not in by_rule(evaluate(entry, previous(9, baseline_phq9=22)))
    assert "B4" not in by_rule(evaluate(entry, History(baseline_phq9=22)))


@pytest.mark.parametrize(("total", "previous_gad7", "fires"), [(16, 12, True), (16, None, True), (16, 15, False),
                                                               (14, 3, False), (15, 14, True)])
def test_b5_gad7_newly_severe(total, previous_gad7, fires):
    assert ("B5" in by_rule(evaluate(gad7_entry(total), History(previous_gad7=previous_gad7)))) is fires


def moods(*values, end=TODAY - timedelta(days=1)):
    return tuple(DayMood(end - timedelta(days=len(values) - 1 - i), mood) for i, mood in enumerate(values))


@pytest.mark.parametrize(("days", "today_mood", "fires"), [
    (moods(*[7] * 14, 3, 3), 3, True),  # 3 days at 3 vs an average of 7
    (moods(*[7] * 14, 3, 3), 5, False),  # today only 2 below
    (moods(*[7] * 14, 3), 3, False),  # two days are not three
    (moods(*[7] * 14, 3, 3, end=TODAY - timedelta(days=2)), 3, False),  # a missing day breaks the streak
    (moods(7, 7, 3, 3), 3, False),  # too few earlier days for an average
])
def test_b6_sharp_mood_drop(days, today_mood, fires):
    findings = by_rule(evaluate(checkin(mood=today_mood), History(checkins=days)))
    assert ("B6" in findings) is fires
    if fires:
        assert findings["B6"].suggest_questionnaire == "phq9"


# --- C: physical health and treatment safety ----------------------------------------------------------

PHYSICAL_CASES = [
    ({"symptoms": frozenset({"chest_pain"})}, {}, "C1", Severity.CRITICAL),
    ({"bp_systolic": 190, "bp_diastolic": 100, "side_effects": {"headache": 1}}, {}, "C1", Severity.CRITICAL),
    ({"bp_systolic": 190, "bp_diastolic": 100, "symptoms": frozenset({"back_pain"})}, {}, "C1", Severity.CRITICAL),
    ({"bp_systolic": 170, "bp_diastolic": 121}, {}, "C2", Severity.HIGH),  # re-check not recorded
    ({"bp_systolic": 150, "bp_diastolic": 95, "pre_session": True}, {}, "C3", Severity.LOW),
    ({"bp_systolic": 141, "bp_diastolic": 80}, {"hours_until_next_session": 20}, "C3", Severity.LOW),
    ({"symptoms": frozenset({"cannot_stay_awake"})}, {}, "C4", Severity.CRITICAL),
    ({"symptoms": frozenset({"breathing_difficulty"})}, {}, "C4", Severity.CRITICAL),
    ({"side_effects": {"dissociation": 2}, "hours_since_session": 20}, {}, "C5", Severity.HIGH),
    ({"side_effects": {"blurred_vision": 1}}, {}, "C5", Severity.HIGH),  # no recent session: persisting
    ({"symptoms": frozenset({"hallucinations"}), "hours_since_session": 1}, {}, "C5", Severity.HIGH),
    ({"side_effects": {"blood_in_urine": 3}}, {}, "C6", Severity.HIGH),
    ({"symptoms": frozenset({"cannot_pass_urine"})}, {}, "C6", Severity.HIGH),
    ({"side_effects": {"urinary": 1}}, {"previous_side_effects": {"urinary": 0}}, "C7", Severity.MEDIUM),
    ({"symptoms": frozenset({"cannot_keep_fluids_down"})}, {}, "C8", Severity.MEDIUM),
    ({"side_effects": {"cravings": 3}}, {}, "C9", Severity.MEDIUM),
    ({"symptoms": frozenset({"extra_dose_wanted"})}, {}, "C9", Severity.MEDIUM),
    ({"side_effects": {"drove_after_session": 3}}, {}, "C10", Severity.LOW),
    ({"side_effects": {"drove_after_session": 3}}, {"driving_reports_30d": 1}, "C10", Severity.MEDIUM),
    ({"pregnancy": True}, {}, "C11", Severity.MEDIUM),
    ({"side_effects": {"nausea": 2, "dizziness": 1}, "hours_since_session": 3}, {}, "C12", Severity.LOW),
    ({"side_effects": {"blurred_vision": 1}, "hours_since_session": 3}, {}, "C12", Severity.LOW),
]


@pytest.mark.parametrize(("fields", "history_fields", "rule", "severity"), PHYSICAL_CASES)
def test_physical_rules(fields, history_fields, rule, severity):
    findings = by_rule(evaluate(checkin(**fields), History(**history_fields)))
    assert findings[rule].severity is severity


@pytest.mark.parametrize(("fields", "history_fields", "rule"), [
    ({"bp_systolic": 185, "bp_diastolic": 100, "bp_recheck_systolic": 160, "bp_recheck_diastolic": 95}, {}, "C2"),
    ({"bp_systolic": 150, "bp_diastolic": 95}, {}, "C3"),  # not before a session
    ({"bp_systolic": 140, "bp_diastolic": 90, "pre_session": True}, {}, "C3"),  # the threshold is "above"
    ({"side_effects": {"dissociation": 2}, "hours_since_session": 3}, {}, "C5"),  # same-day effect
    ({"side_effects": {"urinary": 2}}, {"previous_side_effects": {"urinary": 1}}, "C7"),  # not new
    ({"side_effects": {"headache": 2}, "symptoms": frozenset({"severe_headache"})}, {}, "C12"),
    ({"side_effects": {"blurred_vision": 1}, "hours_since_session": 30}, {}, "C12"),
])
def test_physical_rules_that_must_not_fire(fields, history_fields, rule):
    assert rule not in by_rule(evaluate(checkin(**fields), History(**history_fields)))


def test_medical_emergencies_show_the_crisis_card():
    assert assess(checkin(symptoms=frozenset({"seizure"}))).show_crisis
    assert not assess(checkin(side_effects={"nausea": 1}, hours_since_session=2)).show_crisis


# --- Settings ----------------------------------------------------------------------------------------


def test_thresholds_come_from_clinic_settings():
    entry = checkin(bp_systolic=145, bp_diastolic=85, pre_session=True)
    assert "C3" in by_rule(evaluate(entry))
    settings = ClinicRuleSettings.from_dict({"thresholds": {"bp_hold_systolic": 150}})
    assert "C3" not in by_rule(evaluate(entry, History(), settings))


def test_settings_round_trip_and_defaults():
    defaults = ClinicRuleSettings()
    assert ClinicRuleSettings.from_dict({}) == defaults
    assert ClinicRuleSettings.from_dict(defaults.to_dict()) == defaults
    assert defaults.target(Severity.CRITICAL).amount == 15 and defaults.target(Severity.HIGH).amount == 4
    assert defaults.target(Severity.MEDIUM).unit is TargetUnit.BUSINESS_DAYS
    assert defaults.target(Severity.LOW).unit is TargetUnit.NEXT_REVIEW
    assert (defaults.bp_hold_systolic, defaults.bp_crisis_diastolic, defaults.mood_drop_days) == (140, 120, 3)


def test_settings_accept_both_rule_switch_spellings():
    settings = ClinicRuleSettings.from_dict({"rules": {"C3": {"enabled": False}, "B6": False, "A1": True}})
    assert settings.disabled_rules == {"C3", "B6"}


@pytest.mark.parametrize(("data", "fragment"), [
    ({"rules": {"Z9": False}}, "unknown rule 'Z9'"),
    ({"rules": {"A1": "no"}}, "rules.A1.enabled must be true or false"),
    ({"thresholds": {"bp_hold_systolic": "150"}}, "must be a whole number"),
    ({"thresholds": {"bp_hold_systolic": True}}, "must be a whole number"),
    ({"thresholds": {"worsening_points": 0}}, "between 1 and 27"),
    ({"thresholds": {"nonsense": 1}}, "unknown threshold"),
    ({"thresholds": {"bp_hold_systolic": 200}}, "hold threshold must be below"),
    ({"response_targets": {"high": {"amount": 4, "unit": "fortnights"}}}, "needs a unit"),
    ({"response_targets": {"urgent": {"amount": 4, "unit": "minutes"}}}, "unknown severity"),
    ({"response_targets": {"critical": {"amount": 0, "unit": "minutes"}}}, "amount must be"),
    ({"cssrs_enabled": "yes"}, "cssrs_enabled must be true or false"),
    ({"colour": "blue"}, "unknown setting"),
])
def test_settings_validation_messages(data, fragment):
    with pytest.raises(RuleSettingsError) as caught:
        ClinicRuleSettings.from_dict(data)
    assert any(fragment in error for error in caught.value.errors)


def test_settings_report_every_problem_at_once():
    with pytest.raises(RuleSettingsError) as caught:
        ClinicRuleSettings.from_dict({"rules": {"Z1": False}, "thresholds": {"gad7_high": 99}})
    assert len(caught.value.errors) == 2


def test_a_disabled_rule_stops_the_alert_but_never_the_crisis_help():
    settings = ClinicRuleSettings.from_dict({"rules": {"A3": False}})
    assessment = assess(phq9_entry(0, 0, 0, 0, 0, 0, 0, 0, 1), History(), settings)
    assert "A3" not in by_rule(assessment.findings)
    assert assessment.show_crisis and assessment.launch_followup


# --- Catalogue, severity, structure ---------------------------------------------------------------------


def test_catalogue_covers_the_rules_of_this_issue():
    expected = {f"A{n}" for n in range(1, 9)} | {"A5b"}
    expected |= {f"B{n}" for n in range(1, 7)} | {f"C{n}" for n in range(1, 13)}
    assert set(RULE_IDS) == expected
    assert all(spec.source and spec.patient_sees for spec in RULE_SPECS)


@pytest.mark.parametrize("rule", [*QUESTIONNAIRE_RULES, *CHECKIN_RULES, *FREE_TEXT_RULES, *HELP_RULES],
                         ids=lambda rule: rule.__name__)
def test_every_rule_function_cites_its_source(rule):
    comment = inspect.getcomments(rule) or ""
    assert comment.startswith("# A") or comment.startswith("# B") or comment.startswith("# C")
    assert "—" in comment  # "ID — source"


def test_severity_ordering_helpers():
    assert [s.rank for s in (Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL)] == [1, 2, 3, 4]
    assert Severity.HIGH.at_least(Severity.MEDIUM) and not Severity.MEDIUM.at_least(Severity.HIGH)
    assert most_severe([Severity.LOW, Severity.HIGH, Severity.MEDIUM]) is Severity.HIGH
    assert most_severe([]) is None
    low, high = Finding("C12", Severity.LOW, "x"), Finding("A3", Severity.HIGH, "y")
    assert highest([low, high]) is high


def test_findings_come_most_severe_first():
    entry = checkin(safety="passive", symptoms=frozenset({"fainting"}), side_effects={"nausea": 1})
    ranks = [finding.severity.rank for finding in evaluate(entry)]
    assert ranks == sorted(ranks, reverse=True) and ranks[0] == 4


# --- Properties ---------------------------------------------------------------------------------------

_dates = st.dates(date(2025, 1, 1), date(2027, 12, 31))
_side_effects = st.dictionaries(st.sampled_from(sorted(SIDE_EFFECT_CODES)), st.integers(0, 3))
_bp = st.one_of(st.none(), st.integers(20, 350))
_maybe = lambda strategy: st.one_of(st.none(), strategy)  # noqa: E731

checkins = st.builds(
    CheckInFacts, local_date=_dates, mood=st.integers(0, 10), anxiety=st.integers(0, 10),
    energy=st.integers(0, 10), safety=st.sampled_from(list(SafetyAnswer)), side_effects=_side_effects,
    symptoms=st.frozensets(st.sampled_from(sorted(SYMPTOM_FLAGS))), bp_systolic=_bp, bp_diastolic=_bp,
    bp_recheck_systolic=_bp, bp_recheck_diastolic=_bp, pre_session=st.booleans(), pregnancy=st.booleans(),
    hours_since_session=_maybe(st.floats(0, 2000)), note=st.text(max_size=60), note_shared=st.booleans(),
)
histories = st.builds(
    History,
    checkins=st.lists(st.builds(DayMood, _dates, st.integers(0, 10)), max_size=40).map(tuple),
    phq9_history=st.lists(st.builds(PastScore, st.datetimes(datetime(2025, 1, 1), datetime(2027, 12, 31),
                                                            timezones=st.just(UTC)), st.integers(0, 27)),
                          max_size=8).map(tuple),
    baseline_phq9=_maybe(st.integers(0, 27)), lowest_phq9_since_start=_maybe(st.integers(0, 27)),
    previous_gad7=_maybe(st.integers(0, 21)), sessions_attended=st.integers(0, 60),
    first_session_on=_maybe(_dates), driving_reports_30d=st.integers(0, 30),
    previous_side_effects=_maybe(_side_effects), hours_until_next_session=_maybe(st.floats(-100, 1000)),
)
rule_settings = st.builds(
    lambda off, thresholds, cssrs: ClinicRuleSettings(disabled_rules=off, cssrs_enabled=cssrs, **thresholds),
    st.frozensets(st.sampled_from(RULE_IDS)),
    st.fixed_dictionaries({}, optional={name: st.integers(*limits) for name, limits in THRESHOLD_LIMITS.items()}),
    st.booleans(),
)
_triggers = _maybe(st.sampled_from(list(FollowupTrigger)))
_frequency = _maybe(st.integers(0, 3))
_yes_no = st.sampled_from([None, YES, NO])
_asq_answer = st.sampled_from([None, YES, NO, DECLINED])


def _questionnaire(key, scorer, answers):
    return st.builds(lambda a, t, d: QuestionnaireFacts(key, scorer(a), local_date=d, trigger=t),
                     answers, _triggers, _maybe(_dates))


phq9_answers = st.fixed_dictionaries({f"q{n}": _frequency for n in range(1, 10)}, optional={"difficulty": _frequency})
questionnaires = st.one_of(
    _questionnaire("phq9", score_phq9, phq9_answers),
    _questionnaire("gad7", score_gad7, st.fixed_dictionaries({f"q{n}": _frequency for n in range(1, 8)})),
    _questionnaire("asq", score_asq, st.fixed_dictionaries({f"q{n}": _asq_answer for n in range(1, 6)})),
    _questionnaire("cssrs", score_cssrs, st.fixed_dictionaries(
        {k: _yes_no for k in ("q1", "q2", "q3", "q4", "q5", "q6", "q6b")})),
)
entries = st.one_of(checkins, questionnaires, st.builds(FreeTextFacts, st.text(max_size=80), st.booleans()),
                    st.just(HelpRequest()))


@given(entries, histories, rule_settings)
@hypothesis_settings(max_examples=300)
def test_no_valid_input_makes_evaluation_raise(entry, history, settings):
    findings = evaluate(entry, history, settings)
    assert all(isinstance(f, Finding) and isinstance(f.severity, Severity) for f in findings)


@given(entries, histories, rule_settings)
def test_a_rule_switched_off_never_fires(entry, history, settings):
    assert not {finding.rule_id for finding in evaluate(entry, history, settings)} & settings.disabled_rules


@given(entries, histories, rule_settings)
def test_switching_rules_off_never_hides_crisis_help(entry, history, settings):
    assert assess(entry, history, settings).show_crisis == assess(entry, history).show_crisis


@given(phq9_answers.filter(lambda a: (a["q9"] or 0) > 0), _triggers, histories)
def test_any_phq9_with_item9_above_zero_yields_at_least_high(answers, trigger, history):
    entry = QuestionnaireFacts("phq9", score_phq9(answers), local_date=TODAY, trigger=trigger)
    top = most_severe(finding.severity for finding in evaluate(entry, history))
    assert top is not None and top.at_least(Severity.HIGH)


@given(st.fixed_dictionaries({f"q{n}": _asq_answer for n in range(1, 5)}), _triggers, histories)
def test_asq_item5_yes_always_yields_critical(answers, trigger, history):
    entry = QuestionnaireFacts("asq", score_asq(answers | {"q5": YES}), trigger=trigger)
    assert by_rule(evaluate(entry, history))["A1"].severity is Severity.CRITICAL


def test_invalid_facts_are_refused_at_construction():
    with pytest.raises(ValueError):
        checkin(mood=11)
    with pytest.raises(ValueError):
        checkin(side_effects={"hiccups": 1})
    with pytest.raises(ValueError):
        checkin(symptoms=frozenset({"sneezing"}))
    with pytest.raises(ValueError):
        QuestionnaireFacts("phq9", score_gad7({}))
