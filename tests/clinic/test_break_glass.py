"""Break-glass (AC-06): a same-clinic clinician opens a non-assigned patient only by stating a reason;
the access is read-only, time-limited, audited with the reason and reviewed by the clinic's admins."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from companion.accounts.models import Clinic, Role
from companion.clinic import audit
from companion.clinic.models import AuditEvent, BreakGlassGrant
from companion.db import utcnow
from tests.clinic.helpers import audit_rows
from tests.factories import make_staff

REASON = "Covering for Carol: Alice phoned the clinic in distress"


async def grants(db) -> list[BreakGlassGrant]:
    async with db.reading() as session:
        return list((await session.execute(select(BreakGlassGrant).order_by(BreakGlassGrant.id))).scalars())


async def break_glass(client, code: str, reason: str = REASON):
    key = await client.form_key(f"/clinic/patients/{code}/break-glass")
    return await client.post_form(f"/clinic/patients/{code}/break-glass", {"reason": reason, "idempotency_key": key})


async def test_dave_states_a_reason_then_reads_alice_until_the_grant_expires(client_factory, personas, db):
    alice = personas.alice.patient_code
    record = f"/clinic/patients/{alice}"
    async with client_factory() as dave:
        await dave.login(personas.dave)
        assert (await dave.get(record)).status_code == 404
        before = len(await audit_rows(db))

        opened = await break_glass(dave, alice)
        assert opened.status_code == 303 and opened.headers["location"] == record
        page = await dave.get(record)
        assert page.status_code == 200
        assert "Alice Patient" in page.text and "Emergency access, read-only" in page.text
        assert f'action="{record}/plan"' not in page.text and f'action="{record}/sessions"' not in page.text
        assert (await dave.get(record)).status_code == 200

        # Read-only: the write routes keep their care-team check.
        plan = await dave.post_form(f"{record}/plan", {"phase": "induction"})
        assert plan.status_code == 404

        rows = (await audit_rows(db))[before:]
        assert [r.action for r in rows] == ["break_glass", "view_record", "view_record"]
        assert all(r.why == f"break-glass: {REASON}" for r in rows)
        assert all((r.actor_id, r.patient_id) == (personas.dave.user_id, personas.alice.patient_id) for r in rows)
        (grant,) = await grants(db)
        assert grant.reason == REASON and grant.reviewed_at is None
        assert timedelta(minutes=59) < grant.expires_at - grant.created_at <= timedelta(minutes=60)

        async with db.writing() as session:
            await session.execute(
                update(BreakGlassGrant).values(
                    created_at=utcnow() - timedelta(hours=2), expires_at=utcnow() - timedelta(seconds=1)
                )
            )
        assert (await dave.get(record)).status_code == 404
    async with db.reading() as session:
        assert (await audit.verify_chain(session, personas.north_id)).ok


async def test_a_double_submit_opens_one_grant(client_factory, personas, db):
    alice = personas.alice.patient_code
    async with client_factory() as dave:
        await dave.login(personas.dave)
        key = await dave.form_key(f"/clinic/patients/{alice}/break-glass")
        for _ in range(2):
            sent = await dave.post_form(
                f"/clinic/patients/{alice}/break-glass", {"reason": REASON, "idempotency_key": key}
            )
            assert sent.status_code == 303
    assert len(await grants(db)) == 1
    assert [r.action for r in await audit_rows(db)].count("break_glass") == 1


async def test_an_empty_short_or_long_reason_is_refused_and_nothing_is_granted(client_factory, personas, db):
    alice = personas.alice.patient_code
    async with client_factory() as dave:
        await dave.login(personas.dave)
        for reason, message in (
            ("", "Please enter the reason"),
            ("   ", "Please enter the reason"),
            ("urgent", "at least"),
        ):
            refused = await break_glass(dave, alice, reason)
            assert refused.status_code == 422 and message in refused.text
        too_long = await break_glass(dave, alice, "x" * 301)
        assert too_long.status_code == 422 and "under 300 characters" in too_long.text
        assert (await dave.get(f"/clinic/patients/{alice}")).status_code == 404
    assert await grants(db) == []
    assert [r.action for r in await audit_rows(db)] == []


async def test_no_break_glass_across_clinics_for_admins_or_for_patients(client_factory, personas, db):
    alice = personas.alice.patient_code
    for who in ("erin", "ada", "bob"):
        async with client_factory() as c:
            await c.login(getattr(personas, who))
            assert (await c.get(f"/clinic/patients/{alice}/break-glass")).status_code == 404
            sent = await c.post_form(f"/clinic/patients/{alice}/break-glass", {"reason": REASON})
            assert sent.status_code == 404
            assert (await c.get(f"/clinic/patients/{alice}")).status_code == 404
    # A grant row for erin written behind the app's back still opens nothing: the patient lookup is
    # scoped to erin's own clinic in SQL.
    async with db.writing() as session:
        session.add(
            BreakGlassGrant(
                clinic_id=personas.north_id,
                clinician_id=personas.erin.user_id,
                patient_id=personas.alice.patient_id,
                reason=REASON,
                created_at=utcnow(),
                expires_at=utcnow() + timedelta(hours=1),
            )
        )
    async with client_factory() as erin:
        await erin.login(personas.erin)
        assert (await erin.get(f"/clinic/patients/{alice}")).status_code == 404


async def test_carol_needs_no_grant_for_her_own_patient(client_factory, personas, db):
    async with client_factory() as carol:
        await carol.login(personas.carol)
        sent = await carol.post_form(f"/clinic/patients/{personas.alice.patient_code}/break-glass", {"reason": REASON})
        assert sent.status_code == 303
    assert await grants(db) == []


async def test_the_clinic_sets_how_long_access_lasts(client_factory, personas, db):
    async with db.writing() as session:
        (await session.get_one(Clinic, personas.north_id)).settings = {"break_glass": {"minutes": 15}}
    async with client_factory() as dave:
        await dave.login(personas.dave)
        assert (await break_glass(dave, personas.alice.patient_code)).status_code == 303
    (grant,) = await grants(db)
    assert timedelta(minutes=14) < grant.expires_at - grant.created_at <= timedelta(minutes=15)


async def test_ada_reviews_the_grant_from_the_audit_page(client_factory, personas, db):
    async with client_factory() as dave:
        await dave.login(personas.dave)
        await break_glass(dave, personas.alice.patient_code)
    (grant,) = await grants(db)
    review = f"/clinic/admin/break-glass/{grant.code}/review"
    # An admin of another clinic cannot see or review it.
    south_admin = await make_staff(db, await _clinic(db, personas.south_id), "sam@south.example", "Sam", Role.ADMIN)
    async with client_factory() as sam:
        await sam.login(south_admin)
        assert REASON not in (await sam.get("/clinic/admin/audit")).text
        assert (await sam.post_form(review, {"outcome": "appropriate"})).status_code == 404
    async with client_factory() as ada:
        await ada.login(personas.ada)
        assert "1 emergency access to review" in (await ada.get("/clinic")).text  # the admin's home says so
        page = await ada.get("/clinic/admin/audit")
        assert page.status_code == 200
        section = page.text.split('id="break-glass"', 1)[1].split("</section>", 1)[0]
        assert REASON in section and "Dave Doctor" in section and "Alice Patient" in section and review in section
        assert (await ada.post_form(review, {})).status_code == 422
        done = await ada.post_form(review, {"outcome": "appropriate"})
        assert done.status_code == 303
        again = await ada.post_form(review, {"outcome": "follow_up"})  # a double submit changes nothing
        assert again.status_code == 303
        section = (await ada.get("/clinic/admin/audit")).text.split('id="break-glass"', 1)[1].split("</section>")[0]
        assert "Nothing to review" in section
        assert "emergency access to review" not in (await ada.get("/clinic")).text
    (grant,) = await grants(db)
    assert (grant.reviewed_by_id, grant.review_outcome) == (personas.ada.user_id, "appropriate")
    reviews = [r for r in await audit_rows(db) if r.action == "break_glass_review"]
    assert len(reviews) == 1 and reviews[0].patient_id == personas.alice.patient_id


async def test_alice_sees_the_emergency_access_and_its_reason(client_factory, personas, db):
    async with client_factory() as dave:
        await dave.login(personas.dave)
        await break_glass(dave, personas.alice.patient_code)
        assert (await dave.get(f"/clinic/patients/{personas.alice.patient_code}")).status_code == 200
    async with client_factory() as alice:
        await alice.login(personas.alice)
        today = await alice.get("/today")
        assert 'href="/my-record/views"' in today.text  # linked from the patient's navigation
        page = await alice.get("/my-record/views")
        assert page.status_code == 200
        assert "Dave Doctor" in page.text and "Emergency access" in page.text and REASON in page.text
        assert "opened emergency access to your record" in page.text and "viewed record" in page.text
    async with client_factory() as bob:
        await bob.login(personas.bob)
        assert REASON not in (await bob.get("/my-record/views")).text


async def _clinic(db, clinic_id: int) -> Clinic:
    async with db.reading() as session:
        return await session.get_one(Clinic, clinic_id)


async def test_every_break_glass_audit_row_names_the_patient(client_factory, personas, db):
    async with client_factory() as dave:
        await dave.login(personas.dave)
        await break_glass(dave, personas.alice.patient_code)
    async with db.reading() as session:
        rows = list((await session.execute(select(AuditEvent).where(AuditEvent.why.like("break-glass:%")))).scalars())
    assert rows and all(r.patient_id == personas.alice.patient_id for r in rows)


async def test_the_clinics_admins_are_notified_by_push_and_email_without_patient_details(
    client_factory, personas, db, settings, push, sink
):
    """AC-06: using emergency access notifies the clinic admin for review. The rows are written
    with the grant; the push service and the SMTP server receive a notice naming no patient and
    no reason; erin's clinic's admins hear nothing."""
    from companion.notify.delivery_models import Delivery
    from companion.notify.models import OutboxMessage
    from tests.notify.helpers import FORBIDDEN, Clock, add_subscription, all_rows, close, make_sender, wired

    phone = push.subscription("ada-phone")
    await add_subscription(db, personas.ada, phone)
    async with client_factory() as dave:
        await dave.login(personas.dave)
        assert (await break_glass(dave, personas.alice.patient_code)).status_code == 303
    (grant,) = await grants(db)
    queued = await all_rows(db, OutboxMessage)
    ada = personas.ada.user_id
    assert sorted((m.kind, m.channel, m.recipient_id, m.dedupe_key) for m in queued) == [
        ("access_review", "email", ada, f"access_review:{grant.code}:email:{ada}"),
        ("access_review", "push", ada, f"access_review:{grant.code}:push:{ada}"),
    ]
    sender = make_sender(db, wired(settings, sink), Clock())
    try:
        await sender.drain()
    finally:
        await close(sender)
    [mail] = sink.wait_for(1)
    [message] = push.messages("ada-phone")
    assert mail.subject == "Emergency access to review" and "/clinic/admin/audit#break-glass" in mail.text
    for text in (mail.subject, mail.text, mail.html, message.data.decode()):
        assert not FORBIDDEN.search(text), text
        assert "Alice" not in text and "Covering for Carol" not in text
    assert sorted((d.channel, d.outcome) for d in await all_rows(db, Delivery)) == [("email", "sent"), ("push", "sent")]
