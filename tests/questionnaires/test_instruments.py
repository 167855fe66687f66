from __future__ import annotations

import pytest

from companion.questionnaires.instruments import (
    ASQ,
    CSSRS,
    DECLINED,
    GAD7,
    INSTRUMENTS,
    LOINC_SYSTEM,
    NO,
    PHQ9,
    YES,
    get_instrument,
)


def test_registry_holds_the_four_instruments_by_key():
    assert set(INSTRUMENTS) == {"phq9", "gad7", "asq", "cssrs"}
    assert all(INSTRUMENTS[key].key == key for key in INSTRUMENTS)
    assert get_instrument("phq9") is PHQ9
    assert get_instrument("nope") is None


@pytest.mark.parametrize("instrument", list(INSTRUMENTS.values()), ids=list(INSTRUMENTS))
def test_every_instrument_is_versioned_and_carries_its_copyright(instrument):
    assert instrument.version.startswith(instrument.key + "-")
    assert instrument.verified_on is not None
    assert instrument.copyright
    assert instrument.recall_period
    assert len(set(instrument.item_keys)) == len(instrument.items)


def test_pfizer_line_on_phq_and_gad():
    for instrument in (PHQ9, GAD7):
        assert "Pfizer" in instrument.copyright
        assert "No permission required to reproduce, translate, display or distribute" in instrument.copyright


def test_asq_and_cssrs_copyright_notes():
    assert "NIMH" in ASQ.copyright
    assert "Research Foundation for Mental Hygiene" in CSSRS.copyright
    assert "licensed" in CSSRS.licence_note


def test_cssrs_is_off_by_default_and_the_others_on():
    assert CSSRS.enabled_by_default is False
    assert all(i.enabled_by_default for i in (PHQ9, GAD7, ASQ))


@pytest.mark.parametrize(
    ("key", "loinc"),
    [("q1", "44250-9"), ("q2", "44255-8"), ("q3", "44259-0"), ("q4", "44254-1"), ("q5", "44251-7"),
     ("q6", "44258-2"), ("q7", "44252-5"), ("q8", "44253-3"), ("q9", "44260-8"), ("difficulty", "69722-7")],
)
def test_phq9_item_loinc_codes(key, loinc):
    assert PHQ9.item(key).loinc == loinc


def test_phq9_panel_and_total_codes():
    assert (PHQ9.panel_loinc, PHQ9.total_loinc) == ("44249-1", "44261-6")
    assert PHQ9.max_total == 27
    assert LOINC_SYSTEM == "http://loinc.org"


@pytest.mark.parametrize(
    ("value", "label", "loinc"),
    [(0, "Not at all", "LA6568-5"), (1, "Several days", "LA6569-3"),
     (2, "More than half the days", "LA6570-1"), (3, "Nearly every day", "LA6571-9")],
)
def test_frequency_options_scores_and_answer_codes(value, label, loinc):
    for instrument in (PHQ9, GAD7):
        option = instrument.item("q1").option(value)
        assert (option.label, option.loinc) == (label, loinc)


@pytest.mark.parametrize(
    ("label", "loinc"),
    [("Not difficult at all", "LA6572-7"), ("Somewhat difficult", "LA6573-5"),
     # The codes are out of order on purpose (clinical.md section 1): Very = 5750, Extremely = 5743.
     ("Very difficult", "LA6575-0"), ("Extremely difficult", "LA6574-3")],
)
def test_phq9_difficulty_code_mapping(label, loinc):
    options = {option.label: option.loinc for option in PHQ9.item("difficulty").options}
    assert options[label] == loinc


def test_difficulty_question_is_not_scored_and_optional():
    item = PHQ9.item("difficulty")
    assert not item.scored and item.optional
    assert [i.key for i in PHQ9.scored_items] == [f"q{n}" for n in range(1, 10)]


def test_phq9_uses_the_official_wording():
    assert PHQ9.item("q1").text == "Little interest or pleasure in doing things"
    assert PHQ9.item("q9").text == "Thoughts that you would be better off dead or of hurting yourself in some way"
    assert PHQ9.instructions.startswith("Over the last 2 weeks, how often have you been bothered")


@pytest.mark.parametrize(
    ("key", "loinc"),
    [("q1", "69725-0"), ("q2", "68509-9"), ("q3", "69733-4"), ("q4", "69734-2"), ("q5", "69735-9"),
     ("q6", "69689-8"), ("q7", "69736-7")],
)
def test_gad7_item_loinc_codes(key, loinc):
    assert GAD7.item(key).loinc == loinc


def test_gad7_panel_total_and_range():
    assert (GAD7.panel_loinc, GAD7.total_loinc, GAD7.max_total) == ("69737-5", "70274-6", 21)
    assert GAD7.item("difficulty").loinc is None  # unconfirmed in clinical.md


@pytest.mark.parametrize(
    ("key", "loinc"),
    [("q1", "93246-7"), ("q2", "93247-5"), ("q3", "93248-3"), ("q4", "93249-1"), ("q5", "93250-9"),
     ("q6", "93267-3"), ("q6b", "93269-9")],
)
def test_cssrs_item_loinc_codes(key, loinc):
    assert CSSRS.item(key).loinc == loinc


@pytest.mark.parametrize(
    ("answers", "asked"),
    [
        ({}, ["q1", "q2", "q6"]),
        ({"q1": YES, "q2": NO}, ["q1", "q2", "q6"]),  # Q3-Q5 not asked even though Q1 = yes
        ({"q1": YES, "q2": YES}, ["q1", "q2", "q3", "q4", "q5", "q6"]),
        ({"q2": NO, "q6": YES}, ["q1", "q2", "q6", "q6b"]),
        ({"q2": YES, "q6": NO}, ["q1", "q2", "q3", "q4", "q5", "q6"]),
    ],
)
def test_cssrs_skip_logic(answers, asked):
    assert [item.key for item in CSSRS.asked_items(answers)] == asked


@pytest.mark.parametrize(
    ("answers", "q5_asked"),
    [
        ({"q1": NO, "q2": NO, "q3": NO, "q4": NO}, False),
        ({"q1": NO, "q2": NO, "q3": NO, "q4": YES}, True),
        ({"q1": DECLINED, "q2": NO, "q3": NO, "q4": NO}, True),
        ({}, False),
    ],
)
def test_asq_acuity_question_only_after_yes_or_declined(answers, q5_asked):
    assert ("q5" in [item.key for item in ASQ.asked_items(answers)]) is q5_asked


def test_asq_wording_and_options():
    assert ASQ.item("q1").text == "In the past few weeks, have you wished you were dead?"
    assert ASQ.item("q5").text == "Are you having thoughts of killing yourself right now?"
    assert ASQ.item("q1").values == {YES, NO, DECLINED}


def test_missing_items_respect_skip_logic_and_optional_items():
    assert CSSRS.missing_items({"q1": NO, "q2": NO, "q6": NO}) == ()
    assert CSSRS.missing_items({"q1": NO, "q2": YES, "q6": NO}) == ("q3", "q4", "q5")
    assert CSSRS.missing_items({"q1": NO, "q2": NO, "q6": YES}) == ()  # q6b is optional
    assert PHQ9.missing_items({f"q{n}": 0 for n in range(1, 9)}) == ("q9",)
