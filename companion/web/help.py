"""The crisis card in the response to a risky submission: HTML page or fragment, and JSON."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.response import Template

from companion.accounts.models import Clinic
from companion.db import utcnow
from companion.risk.card import CrisisCard, Followup, crisis_card, crisis_json, followup_trigger
from companion.risk.evaluation import RiskOutcome
from companion.web.render import db_of, render, user_of


async def card_for(
    request: Request[Any, Any, Any], outcome: RiskOutcome, kind: str, *, safety: str | None = None, shared: bool = True
) -> CrisisCard | None:
    """The crisis card when the assessment asks for it, with the follow-up screener to open."""
    if not outcome.show_crisis and not outcome.followup:
        return None
    async with db_of(request).reading() as session:
        clinic = await session.get_one(Clinic, user_of(request).clinic_id)
    followup = (
        Followup(outcome.followup, followup_trigger(kind, safety=safety, shared=shared)) if outcome.followup else None
    )
    return crisis_card(
        clinic,
        utcnow(),
        followup=followup,
        severity=outcome.severity or "high",
        alerted=bool(outcome.alerts),
        safety_plan=True,
    )


def saved_with_help(request: Request[Any, Any, Any], card: CrisisCard, saved: str, back: str) -> Template:
    """The page (or, for htmx, the fragment that replaces the form) shown instead of the redirect."""
    context = {"card": card, "saved_message": saved, "back": back}
    return render(request, "pages/patient/saved_with_help.html", context, fragment="partials/crisis/saved.html")


def help_json(card: CrisisCard | None) -> dict[str, Any]:
    return {"crisis": card is not None, "crisis_card": crisis_json(card) if card else None}
