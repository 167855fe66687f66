"""The safety plan pages: the patient's own, and the same plan from the care team's side."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Template

from companion.accounts.models import Patient
from companion.accounts.service import patient_for_staff
from companion.clinic import audit
from companion.clinic.models import AuditAction
from companion.risk import safety_plan
from companion.web.forms import FormData
from companion.web.guards import Access, access
from companion.web.render import after_post, db_of, render, user_of


async def _context(
    request: Request[Any, Any, Any],
    patient: Patient,
    action: str,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> dict[str, Any]:
    async with db_of(request).reading() as session:
        plan = await safety_plan.current_plan(session, patient.id)
    return {
        "patient": patient,
        "plan": plan,
        "sections": safety_plan.SECTIONS,
        "action": action,
        "values": values if values is not None else dict(plan.sections) if plan else {},
        "errors": errors or {},
        "saved": request.query_params.get("saved"),
    }


def _parse(form: FormData) -> dict[str, str]:
    form.reject_unknown(safety_plan.SECTION_KEYS)
    return {key: form.text(key, safety_plan.SECTION_MAX) for key in safety_plan.SECTION_KEYS}


async def _own_patient(request: Request[Any, Any, Any]) -> Patient:
    async with db_of(request).reading() as session:
        return await session.get_one(Patient, user_of(request).patient_id)


async def _staff_patient(request: Request[Any, Any, Any], code: str) -> Patient:
    async with db_of(request).reading() as session:
        patient = await patient_for_staff(session, user_of(request), code)
    if patient is None:
        raise NotFoundException()
    return patient


async def _save(request: Request[Any, Any, Any], patient: Patient, action: str, page: str) -> Response[Any] | Template:
    form = FormData.from_multidict(await request.form())
    sections = _parse(form)
    if not form.ok:
        values = {k: v[0] for k, v in form.values.items() if v}
        return render(request, page, await _context(request, patient, action, values, form.errors), status=422)
    await safety_plan.save_plan(db_of(request), user_of(request), patient, sections)
    return after_post(request, f"{action}?saved=1")


@get("/safety-plan", opt=access(Access.PATIENT), include_in_schema=False)
async def my_safety_plan(request: Request[Any, Any, Any]) -> Template:
    patient = await _own_patient(request)
    return render(request, "pages/patient/safety_plan.html", await _context(request, patient, "/safety-plan"))


@post("/safety-plan", opt=access(Access.PATIENT), include_in_schema=False)
async def save_my_safety_plan(request: Request[Any, Any, Any]) -> Response[Any] | Template:
    return await _save(request, await _own_patient(request), "/safety-plan", "pages/patient/safety_plan.html")


@get("/clinic/patients/{code:str}/safety-plan", opt=access(Access.CLINICIAN), include_in_schema=False)
async def patient_safety_plan(request: Request[Any, Any, Any], code: str) -> Template:
    patient = await _staff_patient(request, code)
    action = f"/clinic/patients/{patient.code}/safety-plan"
    context = await _context(request, patient, action)
    # Every staff read of a patient's data leaves one audit row (LOG-03).
    await audit.record(db_of(request), user_of(request), AuditAction.VIEW_RECORD, "safety plan", patient_id=patient.id)
    return render(request, "pages/staff/safety_plan.html", context)


@post("/clinic/patients/{code:str}/safety-plan", opt=access(Access.CLINICIAN), include_in_schema=False)
async def save_patient_safety_plan(request: Request[Any, Any, Any], code: str) -> Response[Any] | Template:
    patient = await _staff_patient(request, code)
    action = f"/clinic/patients/{patient.code}/safety-plan"
    return await _save(request, patient, action, "pages/staff/safety_plan.html")


handlers = [my_safety_plan, save_my_safety_plan, patient_safety_plan, save_patient_safety_plan]
