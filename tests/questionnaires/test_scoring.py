from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from companion.questionnaires.instruments import ASQ, CSSRS, DECLINED, GAD7, INSTRUMENTS, NO, PHQ9, YES
from companion.questionnaires.scoring import (
    AsqOutcome,
    CssrsRisk,
    Gad7Band,
    PastScore,
    Phq9Band,
    baseline_phq9,
    lowest_since_start,
    response_status,
    score_asq,
    score_cssrs,
    score_gad7,
    score_phq9,
    validate_answers,
    worsening,
)


def phq9(*values, **extra):
    return {f"q{n}": value for n, value in enumerate(values, start=1)} | extra


# --- PHQ-9 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "total", "band"),
    [
        ([1, 1, 1, 1, 1, 1, 1, 1, 0], 8, Phq9Band.MILD),  # clinical.md section 9 test vector
        ([3, 3, 3, 3, 3, 3, 3, 3, 0], 24, Phq9Band.SEVERE),  # section 9 test vector
        ([0] * 9, 0, Phq9Band.MINIMAL),
        ([1, 1, 1, 1, 0, 0, 0, 0, 0], 4, Phq9Band.MINIMAL),
        ([1, 1, 1, 1, 1, 0, 0, 0, 0], 5, Phq9Band.MILD),
        ([2, 2, 2, 2, 1, 0, 0, 0, 0], 9, Phq9Band.MILD),
        ([2, 2, 2, 2, 2, 0, 0, 0, 0], 10, Phq9Band.MODERATE),
        ([2, 2, 2, 2, 2, 2, 2, 0, 0], 14, Phq9Band.MODERATE),
        ([3, 3, 3, 3, 3, 0, 0, 0, 0], 15, Phq9Band.MODERATELY_SEVERE),
        ([3, 3, 3, 3, 3, 2, 2, 0, 0], 19, Phq9Band.MODERATELY_SEVERE),
        ([3, 3, 3, 3, 3, 3, 2, 0, 0], 20, Phq9Band.SEVERE),
        ([3] * 9, 27, Phq9Band.SEVERE),
    ],
)
def test_phq9_totals_and_bands(values, total, band):
    result = score_phq9(phq9(*values))
    assert (result.total, result.band, result.complete) == (total, band, True)


def test_phq9_item9_positive_with_a_mild_total():
    result = score_phq9(phq9(1, 1, 1, 1, 1, 0, 0, 0, 1))  # section 9: item 9 = 1, total 6
    assert (result.total, result.band, result.item9, result.item9_positive) == (6, Phq9Band.MILD, 1, True)


def test_phq9_missing_item_is_never_scored_as_zero():
    result = score_phq9(phq9(1, 1, None, 1, 1, 1, 1, 1, 0))
    assert (result.total, result.band, result.complete, result.missing) == (None, None, False, ("q3",))
    assert result.item9_unknown is False


def test_phq9_missing_item9_is_unknown_risk():
    result = score_phq9(phq9(0, 0, 0, 0, 0, 0, 0, 0))
    assert result.total is None
    assert result.item9 is None and result.item9_unknown and not result.item9_positive


def test_difficulty_very_difficult_is_stored_as_la6575_and_not_scored():
    plain = score_phq9(phq9(1, 1, 1, 1, 1, 1, 1, 1, 0))
    with_difficulty = score_phq9(phq9(1, 1, 1, 1, 1, 1, 1, 1, 0, difficulty=2))
    assert with_difficulty.total == plain.total == 8
    assert with_difficulty.difficulty_loinc == "LA6575-0"
    assert score_phq9(phq9(0, 0, 0, 0, 0, 0, 0, 0, 0, difficulty=3)).difficulty_loinc == "LA6574-3"
    assert plain.difficulty_loinc is None


@pytest.mark.parametrize("bad", [{"q1": 4}, {"q1": -1}, {"q10": 1}])
def test_scoring_rejects_values_that_validation_would_have_refused(bad):
    with pytest.raises(ValueError):
        score_phq9(bad)


_frequency = st.one_of(st.none(), st.integers(0, 3))


@given(st.fixed_dictionaries({f"q{n}": _frequency for n in range(1, 10)}))
def test_phq9_total_stays_in_range_and_is_only_set_when_complete(answers):
    result = score_phq9(answers)
    complete = None not in answers.values()
    assert result.complete is complete
    if complete:
        assert 0 <= result.total <= 27 and result.total == sum(answers.values())
    assert result.item9 == answers["q9"]


# --- GAD-7 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "band"),
    [(0, Gad7Band.MINIMAL), (4, Gad7Band.MINIMAL), (5, Gad7Band.MILD), (9, Gad7Band.MILD),
     (10, Gad7Band.MODERATE), (14, Gad7Band.MODERATE), (15, Gad7Band.SEVERE), (21, Gad7Band.SEVERE)],
)
def test_gad7_bands(total, band):
    values = [3] * (total // 3) + ([total % 3] if total % 3 else [])
    values += [0] * (7 - len(values))
    result = score_gad7({f"q{n}": v for n, v in enumerate(values, start=1)})
    assert (result.total, result.band) == (total, band)


@given(st.fixed_dictionaries({f"q{n}": _frequency for n in range(1, 8)}))
def test_gad7_total_stays_in_range(answers):
    result = score_gad7(answers)
    assert result.total is None or 0 <= result.total <= 21
    assert result.complete is (None not in answers.values())


# --- ASQ -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answers", "outcome"),
    [
        ({"q1": NO, "q2": NO, "q3": NO, "q4": NO}, AsqOutcome.NEGATIVE),
        ({"q1": YES, "q2": NO, "q3": NO, "q4": NO, "q5": NO}, AsqOutcome.POSITIVE),
        ({"q1": NO, "q2": NO, "q3": NO, "q4": YES, "q5": NO}, AsqOutcome.POSITIVE),
        ({"q1": DECLINED, "q2": NO, "q3": NO, "q4": NO, "q5": NO}, AsqOutcome.POSITIVE),  # declining = positive
        ({"q1": YES, "q2": YES, "q3": YES, "q4": NO, "q5": YES}, AsqOutcome.ACUTE_POSITIVE),
        ({"q1": YES, "q2": NO, "q3": NO, "q4": NO, "q5": DECLINED}, AsqOutcome.POSITIVE),
        ({"q1": NO, "q2": NO, "q3": None, "q4": NO}, AsqOutcome.INCOMPLETE),  # a blank is not a "no"
        ({}, AsqOutcome.INCOMPLETE),
    ],
)
def test_asq_outcomes(answers, outcome):
    assert score_asq(answers).outcome is outcome


def test_asq_positive_without_acuity_answer_is_abandoned():
    result = score_asq({"q1": YES, "q2": NO, "q3": NO, "q4": NO})
    assert result.outcome is AsqOutcome.POSITIVE and result.abandoned and result.missing == ("q5",)


@given(st.fixed_dictionaries({f"q{n}": st.sampled_from([None, YES, NO, DECLINED]) for n in range(1, 5)}))
def test_asq_item5_yes_is_always_acute(answers):
    assert score_asq(answers | {"q5": YES}).outcome is AsqOutcome.ACUTE_POSITIVE


# --- C-SSRS --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answers", "risk"),
    [
        ({"q1": NO, "q2": NO, "q6": NO}, CssrsRisk.NONE),
        ({"q1": YES, "q2": NO, "q6": NO}, CssrsRisk.LOW),  # section 9 vector
        ({"q1": YES, "q2": YES, "q3": NO, "q4": NO, "q5": NO, "q6": NO}, CssrsRisk.LOW),
        ({"q1": YES, "q2": YES, "q3": YES, "q4": NO, "q5": NO, "q6": NO}, CssrsRisk.MODERATE),  # vector
        ({"q2": YES, "q5": YES}, CssrsRisk.HIGH),  # section 9 vector
        ({"q1": NO, "q2": NO, "q6": YES, "q6b": YES}, CssrsRisk.HIGH),  # section 9 vector
        ({"q1": NO, "q2": NO, "q6": YES, "q6b": NO}, CssrsRisk.MODERATE),  # behaviour > 3 months ago
        ({"q1": NO, "q2": NO, "q6": YES}, CssrsRisk.HIGH),  # timing unanswered: the safer reading
        ({"q1": YES, "q2": YES, "q3": YES, "q4": YES, "q5": NO, "q6": NO}, CssrsRisk.HIGH),
    ],
)
def test_cssrs_risk_levels(answers, risk):
    assert score_cssrs(answers).risk is risk


def test_cssrs_abandoned_after_q2_yes():
    result = score_cssrs({"q1": YES, "q2": YES})
    assert result.abandoned and result.missing == ("q3", "q4", "q5", "q6")
    assert result.risk is CssrsRisk.LOW


def test_cssrs_answer_to_a_hidden_question_is_flagged_and_still_counted():
    result = score_cssrs({"q1": NO, "q2": NO, "q4": YES, "q6": NO})
    assert result.skip_violations == ("q4",)
    assert result.risk is CssrsRisk.HIGH


_yes_no = st.sampled_from([None, YES, NO])


@given(st.fixed_dictionaries({key: _yes_no for key in CSSRS.item_keys}))
def test_cssrs_risk_is_monotonic_in_the_high_risk_answers(answers):
    result = score_cssrs(answers)
    if YES in (answers["q4"], answers["q5"]):
        assert result.risk is CssrsRisk.HIGH
    if YES not in answers.values():
        assert result.risk is CssrsRisk.NONE


# --- Change over time ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("baseline", "current", "percent", "response", "remission"),
    [
        (22, 10, -54.5, True, False),  # section 9 vector
        (22, 4, -81.8, True, True),  # section 9 vector
        (20, 10, -50.0, True, False),  # exactly 50% counts
        (21, 11, -47.6, False, False),
        (10, 12, 20.0, False, False),
        (0, 3, None, False, True),
    ],
)
def test_response_status(baseline, current, percent, response, remission):
    status = response_status(baseline, current)
    assert (status.percent_change, status.response, status.remission) == (percent, response, remission)


@pytest.mark.parametrize(
    ("previous", "current", "lowest", "worsened"),
    [(9, 14, None, True), (9, 13, None, False), (13, 14, 9, True), (None, 20, None, False),
     (None, 12, 7, True), (14, 9, 5, False), (14, 10, 5, True)],
)
def test_worsening_plus_five(previous, current, lowest, worsened):
    assert worsening(previous, current, lowest).worsened is worsened


def test_baseline_is_the_last_phq9_before_the_first_session():
    start = datetime(2026, 3, 10, 14, tzinfo=UTC)
    history = [PastScore(start - timedelta(days=30), 18), PastScore(start - timedelta(days=2), 22),
               PastScore(start + timedelta(days=7), 15), PastScore(start + timedelta(days=14), 17)]
    assert baseline_phq9(history, start) == 22
    assert baseline_phq9(list(reversed(history)), start) == 22
    assert lowest_since_start(history, start) == 15
    assert baseline_phq9(history[2:], start) is None
    assert baseline_phq9(history[:2], None) == 22  # before any session: the provisional baseline


# --- Form validation ------------------------------------------------------------------------------


def test_validate_answers_turns_form_strings_into_ints():
    answers, errors = validate_answers(PHQ9, {"q1": "2", "q2": " 0 ", "q9": ""})
    assert errors == []
    assert answers["q1"] == 2 and answers["q2"] == 0 and answers["q9"] is None and answers["q5"] is None


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ({"q1": "7"}, "out of range"),
        ({"q1": "-1"}, "out of range"),
        ({"q1": "two"}, "is not one of the answers"),
        ({"q1": "1.5"}, "is not one of the answers"),
        ({"q42": "1"}, "has no question called 'q42'"),
        ({"q1": None}, "could not be read"),
        ({"q1": "9" * 5000}, "is not one of the answers"),
    ],
)
def test_validate_answers_gives_clear_messages(raw, fragment):
    answers, errors = validate_answers(PHQ9, raw)
    assert len(errors) == 1 and fragment in errors[0]
    assert answers["q1"] is None
    assert len(errors[0]) < 200  # a huge input is not echoed back


def test_validate_answers_accepts_asq_declined_and_rejects_it_on_phq9():
    assert validate_answers(ASQ, {"q1": str(DECLINED)}) == ({**dict.fromkeys(ASQ.item_keys), "q1": DECLINED}, [])
    assert validate_answers(GAD7, {"q1": "9"})[1]


@given(st.sampled_from(list(INSTRUMENTS.values())), st.dictionaries(st.text(max_size=12), st.text(max_size=30)))
def test_validate_answers_never_raises_and_output_always_scores(instrument, raw):
    answers, errors = validate_answers(instrument, raw)
    assert isinstance(errors, list)
    assert set(answers) == set(instrument.item_keys)
    scorer = {"phq9": score_phq9, "gad7": score_gad7, "asq": score_asq, "cssrs": score_cssrs}[instrument.key]
    scorer(answers)
