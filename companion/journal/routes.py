"""Integration journal: page, form submission and JSON API."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.response import Template

from companion.journal import service
from companion.journal.models import JournalEntry
from companion.journal.service import BODY_MAX, PROMPTS, JournalInput
from companion.web.forms import FormData
from companion.web.guards import Access, access
from companion.web.help import card_for, help_json, saved_with_help
from companion.web.idempotent import created, key_from_form, key_from_header, mint_key
from companion.web.render import after_post, db_of, render, user_of


def parse_entry(form: FormData) -> JournalInput | None:
    form.reject_unknown(("body", "visibility", "prompt_key"))
    body = form.text("body", BODY_MAX, required=True, label="what you want to write")
    visibility = form.choice("visibility", ("private", "shared"), label="who can read this entry")
    prompt_key = form.choice("prompt_key", tuple(PROMPTS), required=False)
    if not form.ok or visibility is None:
        return None
    return JournalInput(body=body, shared=visibility == "shared", prompt_key=prompt_key)


async def _page_context(
    request: Request[Any, Any, Any], values: dict[str, str], errors: dict[str, str]
) -> dict[str, Any]:
    user = user_of(request)
    async with db_of(request).reading() as session:
        entries = await service.entries_for_patient(session, user.patient_id or 0, limit=30)
    prompt_key = values.get("prompt_key") or request.query_params.get("prompt") or ""
    return {
        "entries": entries,
        "values": {"visibility": "private"} | values,
        "errors": errors,
        "prompt_key": prompt_key if prompt_key in PROMPTS else "",
        "prompts": PROMPTS,
        "idempotency_key": mint_key(),
    }


@get("/journal", opt=access(Access.PATIENT), include_in_schema=False)
async def journal_page(request: Request[Any, Any, Any]) -> Template:
    return render(request, "pages/patient/journal.html", await _page_context(request, {}, {}))


@post("/journal", opt=access(Access.PATIENT), include_in_schema=False)
async def submit_journal_entry(request: Request[Any, Any, Any]) -> Response[Any]:
    user = user_of(request)
    form = FormData.from_multidict(await request.form())
    data = parse_entry(form)
    if data is None or not form.ok:
        values = {k: v[0] for k, v in form.values.items() if v}
        context = await _page_context(request, values, form.errors)
        return render(request, "pages/patient/journal.html", context, fragment="partials/journal/form.html", status=422)
    key = key_from_form(form, user, "journal", data.fingerprint_payload())
    result = await service.record_entry(db_of(request), user, data, key)
    card = await card_for(request, result.risk, "journal", shared=data.shared)
    if card is not None:
        return saved_with_help(request, card, "Your journal entry is saved.", "/journal?saved=1")
    return after_post(request, "/journal?saved=1")


def entry_json(row: JournalEntry) -> dict[str, Any]:
    return {
        "code": row.code,
        "body": row.body,
        "visibility": "shared" if row.shared else "private",
        "prompt_key": row.prompt_key,
        "local_date": row.local_date.isoformat(),
        "created_at": row.created_at.isoformat(),
    }


@post("/journal-entries", opt=access(Access.PATIENT), summary="Write a journal entry")
async def api_create_entry(request: Request[Any, Any, Any], data: dict[str, Any]) -> Response[Any]:
    """Body: {"body": str, "visibility": "private"|"shared", "prompt_key": optional}. Honours Idempotency-Key."""
    user = user_of(request)
    form = FormData.from_json(data)
    parsed = parse_entry(form)
    if parsed is None:
        return Response({"errors": form.errors}, status_code=422)
    key = key_from_header(request, user, "journal", parsed.fingerprint_payload())
    if isinstance(key, str):
        return Response({"errors": {"Idempotency-Key": key}}, status_code=422)
    result = await service.record_entry(db_of(request), user, parsed, key)
    card = await card_for(request, result.risk, "journal", shared=parsed.shared)
    payload = {"entry": entry_json(result.entry), **help_json(card)}
    return created(payload, replayed=result.replayed)


@get("/journal-entries", opt=access(Access.PATIENT), summary="List my journal entries, newest first")
async def api_list_entries(request: Request[Any, Any, Any]) -> dict[str, Any]:
    user = user_of(request)
    async with db_of(request).reading() as session:
        rows = await service.entries_for_patient(session, user.patient_id or 0, limit=200)
    return {"entries": [entry_json(row) for row in rows]}


handlers = [journal_page, submit_journal_entry]
api_handlers = [api_create_entry, api_list_entries]
