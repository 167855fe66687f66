"""Enrolling a patient and activating the account through the invitation link."""

from __future__ import annotations

import re
from datetime import timedelta

import time_machine
from sqlalchemy import select

from companion.accounts.invitations import CONSENT_TEXT_VERSION
from companion.accounts.models import CareTeamMember, Consent, Invitation, Patient, User
from companion.db import utcnow

LINK = re.compile(r'id="invitation-url"[^>]*value="http://testserver\.local(/invite/([^"]+))"')
ACTIVATION = {
    "login": "zoe@patient.example",
    "password": "walking by the river",
    "password_confirm": "walking by the river",
    "timezone": "Europe/London",
    "reminder_time": "08:30",
    "consent": "yes",
}


async def enrol(client, personas, name="Zoe Newpatient", email="zoe@patient.example"):
    await client.login(personas.carol)
    response = await client.post_form("/clinic/patients", {"name": name, "email": email})
    assert response.status_code == 201
    found = LINK.search(response.text)
    assert found, "the invitation page shows the link"
    assert "<svg" in response.text, "and a QR code"
    return found.group(1), found.group(2)


async def test_clinician_enrols_and_patient_activates(client_factory, personas, db):
    async with client_factory() as carol, client_factory() as zoe:
        path, token = await enrol(carol, personas)
        assert len(token) >= 22  # 256 bits, urlsafe
        page = await zoe.get(path)
        assert page.status_code == 200 and "Welcome, Zoe Newpatient" in page.text
        assert "not an emergency service" in page.text and "988" in page.text
        response = await zoe.post_form(path, ACTIVATION)
        assert response.status_code == 303 and response.headers["location"].startswith("/today")
        assert (await zoe.get("/today")).status_code == 200
    async with db.reading() as session:
        patient = (await session.execute(select(Patient).where(Patient.name == "Zoe Newpatient"))).scalar_one()
        user = await session.get(User, patient.user_id)
        consent = (await session.execute(select(Consent).where(Consent.patient_id == patient.id))).scalar_one()
        team = (
            (await session.execute(select(CareTeamMember).where(CareTeamMember.patient_id == patient.id)))
            .scalars()
            .all()
        )
        invitation = (await session.execute(select(Invitation).where(Invitation.patient_id == patient.id))).scalar_one()
    assert user.login == "zoe@patient.example" and user.role == "patient"
    assert patient.timezone == "Europe/London" and patient.reminder_time.strftime("%H:%M") == "08:30"
    assert consent.text_version == CONSENT_TEXT_VERSION and consent.given_at is not None
    assert [(m.clinician_id, m.is_primary) for m in team] == [(personas.carol.user_id, True)]
    assert invitation.used_at is not None and invitation.token_hash != token


async def test_used_link_says_so_and_cannot_be_reused(client_factory, personas):
    async with client_factory() as carol, client_factory() as zoe, client_factory() as other:
        path, _ = await enrol(carol, personas)
        assert (await zoe.post_form(path, ACTIVATION)).status_code == 303
        again = await other.get(path)
        assert again.status_code == 410 and "already been used" in again.text
        reuse = await other.post_form(path, ACTIVATION | {"login": "someone@else.example"})
        assert reuse.status_code == 410


async def test_expired_link_says_so(client_factory, personas):
    async with client_factory() as carol, client_factory() as zoe:
        path, _ = await enrol(carol, personas)
        with time_machine.travel(utcnow() + timedelta(days=7, minutes=1), tick=True):
            page = await zoe.get(path)
            assert page.status_code == 410 and "expired" in page.text
            assert (await zoe.post_form(path, ACTIVATION)).status_code == 410


async def test_unknown_link(client):
    page = await client.get("/invite/not-a-real-token")
    assert page.status_code == 404 and "recognise" in page.text


async def test_activation_checks_every_field(client_factory, personas, db):
    async with client_factory() as carol, client_factory() as zoe:
        path, _ = await enrol(carol, personas)
        bad = {
            "login": "a b",
            "password": "password",
            "password_confirm": "different",
            "timezone": "Mars/Olympus",
            "reminder_time": "25:99",
        }
        response = await zoe.post_form(path, bad)
        assert response.status_code == 422
        for message in ("no spaces", "too common", "Choose one of the options", "Enter a time like", "tick the box"):
            assert message in response.text, message
        mismatch = await zoe.post_form(path, ACTIVATION | {"password_confirm": "something else entirely"})
        assert mismatch.status_code == 422 and "not the same" in mismatch.text
        taken = await zoe.post_form(path, ACTIVATION | {"login": personas.alice.login})
        assert taken.status_code == 422 and "taken" in taken.text
    async with db.reading() as session:
        patient = (await session.execute(select(Patient).where(Patient.name == "Zoe Newpatient"))).scalar_one()
    assert patient.user_id is None


async def test_new_link_revokes_the_old_one(client_factory, personas):
    async with client_factory() as carol, client_factory() as zoe:
        old_path, _ = await enrol(carol, personas)
        record = await carol.get("/clinic/patients")
        code = re.search(r'/clinic/patients/([^"]+)">Zoe', record.text).group(1)
        response = await carol.post_form(f"/clinic/patients/{code}/invitation", {})
        assert response.status_code == 201
        new_path = LINK.search(response.text).group(1)
        assert new_path != old_path
        assert (await zoe.get(old_path)).status_code == 410
        assert (await zoe.get(new_path)).status_code == 200


async def test_enrolment_form_validation(client, personas):
    await client.login(personas.carol)
    response = await client.post_form("/clinic/patients", {"name": "", "email": "not an email"})
    assert response.status_code == 422
    assert "the patient&#39;s name" in response.text or "the patient's name" in response.text
    assert "Enter an e-mail address" in response.text


async def test_only_clinicians_enrol(client_factory, personas):
    async with client_factory() as ada, client_factory() as alice:
        await ada.login(personas.ada)
        assert (await ada.post_form("/clinic/patients", {"name": "X"})).status_code == 404
        await alice.login(personas.alice)
        assert (await alice.post_form("/clinic/patients", {"name": "X"})).status_code == 404
