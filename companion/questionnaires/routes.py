"""Questionnaire pages: the official wording, large answer targets, a plain-language result."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post

from companion.accounts.models import Clinic, Patient
from companion.db import utcnow
from companion.questionnaires import service
from companion.questionnaires.instruments import INSTRUMENTS, Instrument
from companion.questionnaires.models import QuestionnaireResponse
from companion.questionnaires.scoring import validate_answers
from companion.risk.card import CrisisCard, Followup, crisis_card
from companion.risk.facts import FollowupTrigger
from companion.web.errors import error_response
from companion.web.forms import FormData
from companion.web.guards import Access, access
from companion.web.help import help_json
from companion.web.idempotent import created, key_from_form, key_from_header, mint_key
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


async def _clinic(request: Request[Any, Any, Any]) -> Clinic:
    """The patient's clinic, read only where a page needs it (crisis card, C-SSRS switch)."""
    async with db_of(request).reading() as session:
        return await session.get_one(Clinic, user_of(request).clinic_id)


async def _instrument_or_404(
    request: Request[Any, Any, Any], key: str
) -> tuple[Instrument | None, Response[Any] | None]:
    instrument = INSTRUMENTS.get(key)
    if instrument is not None and key == "cssrs" and not service.cssrs_enabled(await _clinic(request)):
        instrument = None  # the C-SSRS is off unless the clinic switched it on
    if instrument is None:
        shown = key[:20]
        message = f"There is no questionnaire called '{shown}' here. Your questionnaires are listed on Today."
        return None, error_response(request, 404, message)
    return instrument, None


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
    found, missing_response = await _instrument_or_404(request, instrument)
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
    found, missing_response = await _instrument_or_404(request, instrument)
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
            card = crisis_card(await _clinic(request), utcnow(), severity="high", safety_plan=True)
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
    card = await _result_card(request, found, result)
    context = {
        "instrument": found,
        "response": result.response,
        "summary": summary(found, result.response),
        "card": card,
    }
    return render(
        request, "pages/patient/questionnaire_result.html", context, status=201 if not result.replayed else 200
    )  # type: ignore[return-value]


async def _result_card(
    request: Request[Any, Any, Any], instrument: Instrument, result: service.ResponseResult
) -> CrisisCard | None:
    """The crisis card for a risky response (page and API alike), with the follow-up screener to
    open when a PHQ-9's item 9 asked for it."""
    if not result.risk.show_crisis:
        return None
    followup = (
        Followup(result.risk.followup, "phq9_item9") if result.risk.followup and instrument.key == "phq9" else None
    )
    return crisis_card(
        await _clinic(request),
        utcnow(),
        followup=followup,
        severity=result.risk.severity or "high",
        alerted=bool(result.risk.alerts),
        safety_plan=True,
    )


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


# --- JSON API (/api/v1) --------------------------------------------------------------------------

API_FIELDS = frozenset({"answers", "trigger", "incomplete"})
RECENT_RESPONSES = 50


def instrument_json(instrument: Instrument) -> dict[str, Any]:
    """The instrument as data: official wording, answer values with LOINC codes, skip logic."""
    return {
        "key": instrument.key,
        "title": instrument.title,
        "version": instrument.version,
        "recall_period": instrument.recall_period,
        "instructions": instrument.instructions,
        "copyright": instrument.copyright,
        "panel_loinc": instrument.panel_loinc,
        "total_loinc": instrument.total_loinc,
        "max_total": instrument.max_total if instrument.scored_items else None,
        "items": [
            {
                "key": item.key,
                "text": item.text,
                "loinc": item.loinc,
                "scored": item.scored,
                "optional": item.optional,
                "options": [{"value": o.value, "label": o.label, "loinc": o.loinc} for o in item.options],
                "asked_when_any_of": [{"item": key, "values": sorted(values)} for key, values in item.ask_when.any_of]
                if item.ask_when
                else None,
            }
            for item in instrument.items
        ],
    }


def response_json(instrument: Instrument, row: QuestionnaireResponse) -> dict[str, Any]:
    return {
        "code": row.code,
        "instrument": row.instrument,
        "instrument_version": row.instrument_version,
        "answers": row.answers,
        "complete": row.complete,
        "total": row.total,
        "band": row.band,
        "result": row.result,
        "trigger": row.trigger,
        "local_date": row.local_date.isoformat(),
        "created_at": row.created_at.isoformat(),
        "summary": summary(instrument, row),
    }


def _answer_text(value: object) -> object:
    """JSON answer -> the form's string; None is "not answered"; anything else is left for
    ``validate_answers`` to refuse with a message (a boolean is not an answer value)."""
    if value is None:
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _read_body(body: dict[str, Any], instrument: Instrument) -> tuple[dict[str, Any], str | None, bool, dict[str, Any]]:
    """(raw answers, trigger, incomplete, errors by field) from the JSON body; nothing raises."""
    errors: dict[str, Any] = {}
    if unknown := sorted(str(name)[:40] for name in set(body) - API_FIELDS):
        errors["body"] = f"Unknown field(s): {', '.join(unknown)}. Send answers, and optionally trigger and incomplete."
    answers = body.get("answers")
    if not isinstance(answers, dict):
        errors["answers"] = 'answers must be an object of question key to answer value, e.g. {"q1": 2}.'
        answers = {}
    trigger = body.get("trigger")
    if trigger is not None and trigger not in TRIGGERS:
        errors["trigger"] = f"trigger must be one of {', '.join(TRIGGERS)}."
    incomplete = body.get("incomplete", False)
    if not isinstance(incomplete, bool):
        errors["incomplete"] = "incomplete must be true or false."
    raw = {str(key): _answer_text(value) for key, value in answers.items()}
    return raw, trigger if "trigger" not in errors else None, incomplete is True, errors


def _api_not_found(key: str) -> Response[Any]:
    shown = key[:20]
    return Response({"errors": {"instrument": f"There is no questionnaire called '{shown}' here."}}, status_code=404)


@get("/questionnaires", opt=access(Access.PATIENT), summary="Questionnaires due now and my recent answers")
async def api_list_questionnaires(request: Request[Any, Any, Any]) -> dict[str, Any]:
    user = user_of(request)
    async with db_of(request).reading() as session:
        patient = await session.get_one(Patient, user.patient_id)
        clinic = await session.get_one(Clinic, user.clinic_id)
        due = await service.due_questionnaires(session, patient, clinic, utcnow())
        rows = await service.recent_responses(session, patient.id, RECENT_RESPONSES)
    available = [key for key in INSTRUMENTS if key != "cssrs" or service.cssrs_enabled(clinic)]
    return {
        "available": available,
        "due": due,
        "responses": [response_json(INSTRUMENTS[row.instrument], row) for row in rows if row.instrument in INSTRUMENTS],
    }


@get("/questionnaires/{instrument:str}", opt=access(Access.PATIENT), summary="One questionnaire's items")
async def api_instrument(request: Request[Any, Any, Any], instrument: str) -> Response[Any]:
    found, _missing = await _instrument_or_404(request, instrument)
    if found is None:
        return _api_not_found(instrument)
    return Response(instrument_json(found))


@post("/questionnaires/{instrument:str}", opt=access(Access.PATIENT), summary="Answer a questionnaire")
async def api_submit_questionnaire(
    request: Request[Any, Any, Any], instrument: str, data: dict[str, Any]
) -> Response[Any]:
    """Validate -> store -> evaluate risk in one transaction, exactly as the page does. Honours
    Idempotency-Key. A risky response carries ``crisis: true`` with the resources and, when the
    follow-up screener must open, ``followup``. Unanswered required items are refused (422, with
    the crisis card when a safety question is blank) unless ``incomplete`` is true."""
    found, _missing = await _instrument_or_404(request, instrument)
    if found is None:
        return _api_not_found(instrument)
    user = user_of(request)
    raw, trigger, incomplete, errors = _read_body(dict(data), found)
    answers, problems = validate_answers(found, raw)
    if problems:
        errors["answers"] = problems
    if errors:
        return Response({"errors": errors}, status_code=422)
    missing = found.missing_items(answers)
    if missing and not incomplete:
        card = (
            crisis_card(await _clinic(request), utcnow(), severity="high", safety_plan=True)
            if set(missing) & SAFETY_ITEMS.get(found.key, set())
            else None
        )
        body = {"errors": {"missing": list(missing)}, **help_json(card)}
        return Response(body, status_code=422)
    key = key_from_header(request, user, f"questionnaire:{found.key}", {"answers": answers, "trigger": trigger})
    if isinstance(key, str):
        return Response({"errors": {"Idempotency-Key": key}}, status_code=422)
    result = await service.record_response(db_of(request), user, found, answers, trigger, key)
    payload = {
        "response": response_json(found, result.response),
        "followup": result.risk.followup,
        **help_json(await _result_card(request, found, result)),
    }
    return created(payload, replayed=result.replayed)


handlers = [questionnaire_page, submit_questionnaire]
api_handlers = [api_list_questionnaires, api_instrument, api_submit_questionnaire]
