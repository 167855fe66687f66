"""Questionnaire pages: the official wording, large answer targets, a plain-language result."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post

from companion.accounts.models import Clinic
from companion.db import utcnow
from companion.questionnaires import service
from companion.questionnaires.instruments import INSTRUMENTS, Instrument
from companion.questionnaires.models import QuestionnaireResponse
from companion.questionnaires.scoring import validate_answers
from companion.risk.card import Followup, crisis_card
from companion.risk.facts import FollowupTrigger
from companion.web.errors import error_response
from companion.web.forms import FormData
from companion.web.guards import Access, access
from companion.web.idempotent import key_from_form, mint_key
from companion.web.render import db_of, render, user_of

TRIGGERS = tuple(trigger.value for trigger in FollowupTrigger)
# Items whose blank answer means unknown suicide risk: the 422 page shows the crisis card too.
SAFETY_ITEMS = {"phq9": {"q9"}, "asq": {"q1", "q2", "q3", "q4", "q5"}, "cssrs": {"q1", "q2", "q3", "q4", "q5", "q6"}}
BAND_WORDS = {
    "minimal": "minimal",
    "mild": "mild",
    "moderate": "moderate",
    "moderately_severe": "moderately severe",
    "severe": "severe",
}


async def _instrument_or_404(
    request: Request[Any, Any, Any], key: str
) -> tuple[Instrument | None, Clinic, Response[Any] | None]:
    async with db_of(request).reading() as session:
        clinic = await session.get_one(Clinic, user_of(request).clinic_id)
    instrument = INSTRUMENTS.get(key)
    if instrument is None or (key == "cssrs" and not service.cssrs_enabled(clinic)):
        shown = key[:20]
        message = f"There is no questionnaire called '{shown}' here. Your questionnaires are listed on Today."
        return None, clinic, error_response(request, 404, message)
    return instrument, clinic, None


def _context(
    instrument: Instrument,
    trigger: str | None,
    values: dict[str, str],
    errors: list[str],
    missing: tuple[str, ...] = (),
    card: Any = None,
) -> dict[str, Any]:
    return {
        "instrument": instrument,
        "trigger": trigger if trigger in TRIGGERS else None,
        "values": values,
        "errors": errors,
        "missing": missing,
        "card": card,
        "idempotency_key": mint_key(),
    }


@get("/questionnaires/{instrument:str}", opt=access(Access.PATIENT), include_in_schema=False)
async def questionnaire_page(
    request: Request[Any, Any, Any], instrument: str, trigger: str | None = None
) -> Response[Any]:
    found, _clinic, missing_response = await _instrument_or_404(request, instrument)
    if found is None:
        return missing_response  # type: ignore[return-value]
    return render(request, "pages/patient/questionnaire.html", _context(found, trigger, {}, []))  # type: ignore[return-value]


def _read_form(form: FormData, instrument: Instrument) -> tuple[dict[str, str], str | None, bool]:
    form.reject_unknown((*instrument.item_keys, "trigger", "incomplete"))
    raw = {key: value for key in instrument.item_keys if (value := form.raw(key)) is not None}
    trigger = form.choice("trigger", TRIGGERS, required=False)
    return raw, trigger, form.boolean("incomplete")


@post("/questionnaires/{instrument:str}", opt=access(Access.PATIENT), include_in_schema=False)
async def submit_questionnaire(request: Request[Any, Any, Any], instrument: str) -> Response[Any]:
    """Validate -> store with the instrument version -> evaluate risk, in one transaction.

    Out-of-range or unknown answers: 422 with messages, nothing saved. Unanswered questions: 422
    naming them (with the crisis card when a safety question is blank), unless the patient chose
    to leave it unfinished, which is stored and treated as unknown risk (A8).
    """
    found, clinic, missing_response = await _instrument_or_404(request, instrument)
    if found is None:
        return missing_response  # type: ignore[return-value]
    user = user_of(request)
    form = FormData.from_multidict(await request.form())
    raw, trigger, incomplete = _read_form(form, found)
    answers, errors = validate_answers(found, raw)
    errors = [*errors, *(message for name, message in form.errors.items() if name not in found.item_keys)]
    if errors:
        return render(request, "pages/patient/questionnaire.html", _context(found, trigger, raw, errors), status=422)  # type: ignore[return-value]
    missing = found.missing_items(answers)
    if missing and not incomplete:
        messages = [f"Please answer question {key.removeprefix('q')}." for key in missing]
        card = None
        if set(missing) & SAFETY_ITEMS.get(found.key, set()):
            card = crisis_card(clinic, utcnow(), severity="high", safety_plan=True)
        context = _context(found, trigger, raw, messages, missing, card)
        return render(request, "pages/patient/questionnaire.html", context, status=422)  # type: ignore[return-value]
    key = key_from_form(form, user, f"questionnaire:{found.key}", {"answers": answers, "trigger": trigger})
    if not form.ok:
        return render(
            request,
            "pages/patient/questionnaire.html",
            _context(found, trigger, raw, list(form.errors.values())),
            status=422,
        )  # type: ignore[return-value]
    result = await service.record_response(db_of(request), user, found, answers, trigger, key)
    card = None
    if result.risk.show_crisis:
        followup = (
            Followup(result.risk.followup, "phq9_item9") if result.risk.followup and found.key == "phq9" else None
        )
        card = crisis_card(
            clinic,
            utcnow(),
            followup=followup,
            severity=result.risk.severity or "high",
            alerted=bool(result.risk.alerts),
            safety_plan=True,
        )
    context = {
        "instrument": found,
        "response": result.response,
        "summary": summary(found, result.response),
        "card": card,
    }
    return render(
        request, "pages/patient/questionnaire_result.html", context, status=201 if not result.replayed else 200
    )  # type: ignore[return-value]


def summary(instrument: Instrument, row: QuestionnaireResponse) -> str:
    """A plain-language result for the patient (never a diagnosis)."""
    if not row.complete:
        return "Thank you. Some questions were left unanswered; you can answer them another time."
    if instrument.key in ("phq9", "gad7"):
        return (
            f"Your answers add up to {row.total} out of {instrument.max_total}, which is in the "
            f"{BAND_WORDS.get(row.band or '', row.band)} range. This is not a diagnosis: your care team "
            "will look at it with you."
        )
    return {
        "negative": "Thank you for answering. Your answers do not suggest you are at risk right now. "
        "If that changes, get help now.",
        "none": "Thank you for answering. Your answers do not suggest you are at risk right now. "
        "If that changes, get help now.",
        "low": "Thank you for answering honestly. Your care team will follow up with you; the numbers "
        "below are there any time you need them.",
        "positive": "Thank you for answering honestly. Your answers mean your care team should talk "
        "with you about your safety soon. Please keep the numbers below close.",
        "moderate": "Thank you for answering honestly. Your answers mean your care team should talk "
        "with you about your safety today. Please keep the numbers below close.",
        "acute_positive": "Your answers mean you need support right now. Please call one of the numbers "
        "below now; your care team has been told.",
        "high": "Your answers mean you need support right now. Please call one of the numbers below now; "
        "your care team has been told.",
    }.get(row.result or "", "Thank you for answering.")


handlers = [questionnaire_page, submit_questionnaire]
