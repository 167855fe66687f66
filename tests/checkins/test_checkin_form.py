"""Property-based tests of the check-in form parser: any input gives a valid check-in or messages."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from companion.checkins.forms import FIELDS, parse_checkin
from companion.checkins.side_effects import SIDE_EFFECTS
from companion.web.forms import FormData

field_names = st.sampled_from(list(FIELDS) + ["other", "_csrf_token", "idempotency_key"])
field_values = st.one_of(
    st.integers(-50, 300).map(str),
    st.sampled_from(["none", "passive", "active", "", " ", "7.5", "1e3", "nan", "0x1", "٣"]),
    st.text(max_size=60),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(field_names, field_values), max_size=25))
def test_any_submission_is_either_valid_or_explained(pairs):
    form = FormData({})
    for name, value in pairs:
        form.values.setdefault(name, []).append(value)
    parsed = parse_checkin(form)
    if parsed is None:
        assert form.errors, "a refused check-in always says why"
        return
    assert not form.errors
    assert all(0 <= v <= 10 for v in (parsed.mood, parsed.anxiety, parsed.energy))
    assert parsed.safety in ("none", "passive", "active")
    assert parsed.sleep_hours is None or 0 <= parsed.sleep_hours <= 24
    assert parsed.sleep_quality is None or 0 <= parsed.sleep_quality <= 4
    assert (parsed.bp_systolic is None) == (parsed.bp_diastolic is None)
    if parsed.bp_systolic is not None:
        assert 60 <= parsed.bp_systolic <= 260 and 30 <= parsed.bp_diastolic <= 160
        assert parsed.bp_systolic > parsed.bp_diastolic
    assert len(parsed.note) <= 2000
    known = {e.code: e for e in SIDE_EFFECTS}
    assert all(
        code in known and severity in known[code].choices and severity > 0 for code, severity in parsed.side_effects
    )


@settings(max_examples=200, deadline=None)
@given(
    mood=st.integers(0, 10),
    anxiety=st.integers(0, 10),
    energy=st.integers(0, 10),
    safety=st.sampled_from(["none", "passive", "active"]),
    sleep=st.one_of(st.none(), st.integers(0, 48).map(lambda n: n / 2)),
)
def test_every_valid_combination_is_accepted(mood, anxiety, energy, safety, sleep):
    values = {"mood": [str(mood)], "anxiety": [str(anxiety)], "energy": [str(energy)], "safety": [safety]}
    if sleep is not None:
        values["sleep_hours"] = [str(sleep)]
    parsed = parse_checkin(FormData(values))
    assert parsed is not None
    assert (parsed.mood, parsed.anxiety, parsed.energy, parsed.safety, parsed.sleep_hours) == (
        mood,
        anxiety,
        energy,
        safety,
        sleep,
    )
