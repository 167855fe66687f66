"""The fakes against real clients: pywebpush (sync and async) and aiosmtplib.

If these pass, a sender that gets through the fake push service would get through a real one: the
VAPID JWT is checked, the payload decrypted with the browser-side key, the status codes are the ones
push services use. Tests wait on conditions (``wait_for``) and on client timeouts, never on sleeps.
"""

from __future__ import annotations

import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from typing import Any

import aiohttp
import aiosmtplib
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from py_vapid import Vapid02
from py_vapid.jwt import sign as sign_jwt
from pywebpush import WebPushException, webpush, webpush_async

from tests.fakes import (
    HANG,
    BrowserSubscription,
    FakePushService,
    Reply,
    SmtpSink,
    b64url_decode,
    b64url_encode,
    throttled,
)

SUBJECT = "mailto:alerts@companion.example.org"
REMINDER = {"title": "Time for your check-in", "body": "It takes a minute.", "url": "/today"}
TTL = 4 * 3600
TIMEOUT = 10.0  # generous: the machine may be busy; a hang is tested with its own short timeout
PUSH_HEADERS = {"Urgency": "normal", "Topic": "checkin-reminder"}


@pytest.fixture(scope="module")
def vapid() -> Vapid02:
    key = Vapid02()
    key.generate_keys()
    return key


def claims(**extra: Any) -> dict[str, Any]:
    """A fresh claims dict per call: pywebpush writes aud and exp into the one it is given."""
    return {"sub": SUBJECT, **extra}


def send(subscription: BrowserSubscription, vapid: Vapid02 | None, **overrides: Any) -> requests.Response:
    """pywebpush's blocking client, run in a worker thread as the app must (never on an event loop)."""
    arguments = {
        "subscription_info": subscription.info,
        "data": json.dumps(REMINDER),
        "vapid_private_key": vapid,
        "vapid_claims": claims() if vapid else None,
        "ttl": TTL,
        "timeout": TIMEOUT,
        "headers": dict(PUSH_HEADERS),
    }
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(webpush, **(arguments | overrides)).result()


async def send_async(
    session: aiohttp.ClientSession,
    subscription: BrowserSubscription,
    vapid: Vapid02,
    payload: Any = REMINDER,
    **overrides: Any,
) -> aiohttp.ClientResponse:
    """pywebpush's async client on one shared session, as the app's transport uses it."""
    arguments = {
        "subscription_info": subscription.info,
        "data": json.dumps(payload),
        "vapid_private_key": vapid,
        "vapid_claims": claims(),
        "ttl": TTL,
        "timeout": TIMEOUT,
        "headers": dict(PUSH_HEADERS),
        "aiohttp_session": session,
    }
    return await webpush_async(**(arguments | overrides))


def send_with_async_client(subscription: BrowserSubscription, vapid: Vapid02, **overrides: Any) -> Any:
    async def main() -> Any:
        async with aiohttp.ClientSession() as session:
            return await send_async(session, subscription, vapid, **overrides)

    return asyncio.run(main())


def authorization(signer: Vapid02, token_claims: dict[str, Any], *, announced_key: Vapid02 | None = None) -> str:
    """A hand-made ``vapid t=…,k=…`` header, for credentials pywebpush would never produce."""
    public = (announced_key or signer).public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return f"vapid t={sign_jwt(token_claims, signer.private_key)},k={b64url_encode(public)}"


def other_key() -> Vapid02:
    key = Vapid02()
    key.generate_keys()
    return key


# --- Subscriptions ----------------------------------------------------------------------------------


def test_subscription_looks_like_a_browser_one(push: FakePushService) -> None:
    subscription = push.subscription("alice-phone")

    assert subscription.info["endpoint"] == f"http://127.0.0.1:{push.port}/push/alice-phone"
    assert subscription.endpoint_id == "alice-phone"
    p256dh = b64url_decode(subscription.info["keys"]["p256dh"])
    assert len(p256dh) == 65 and p256dh[0] == 0x04  # uncompressed P-256 point
    assert len(subscription.auth_secret) == 16
    assert push.subscription().endpoint_id != push.subscription().endpoint_id
    with pytest.raises(ValueError, match="already exists"):
        push.subscription("alice-phone")


# --- Accepted messages ------------------------------------------------------------------------------


def test_sync_client_payload_is_decrypted_and_headers_recorded(push: FakePushService, vapid: Vapid02) -> None:
    subscription = push.subscription("alice-phone")

    response = send(subscription, vapid)

    assert response.status_code == 201
    assert response.headers["Location"].startswith(push.origin + "/message/")
    [message] = push.wait_for(1)
    assert message.endpoint_id == "alice-phone"
    assert message.payload == REMINDER
    assert (message.ttl, message.urgency, message.topic) == (TTL, "normal", "checkin-reminder")
    assert [(a.status, a.reason) for a in push.attempts()] == [(201, "accepted")]


def test_async_client_with_one_shared_session(push: FakePushService, vapid: Vapid02) -> None:
    subscriptions = [push.subscription(f"device-{n}") for n in range(40)]

    async def main() -> list[int]:
        async with aiohttp.ClientSession() as session:
            responses = await asyncio.gather(
                *(send_async(session, s, vapid, {"title": "Check-in", "n": n}) for n, s in enumerate(subscriptions))
            )
        return [r.status for r in responses]

    statuses = asyncio.run(main())

    assert statuses == [201] * 40
    messages = push.wait_for(40)
    assert {m.endpoint_id: m.payload["n"] for m in messages} == {f"device-{n}": n for n in range(40)}
    assert {m.urgency for m in messages} == {"normal"}


def test_pywebpush_writes_aud_and_exp_into_the_claims_it_is_given(push: FakePushService, vapid: Vapid02) -> None:
    """Why every call gets a fresh claims dict: a reused one carries this origin's aud to the next service."""
    given = claims()

    send(push.subscription(), vapid, vapid_claims=given)

    assert given["aud"] == push.origin
    assert given["exp"] > time.time()


def test_urgency_and_topic_are_optional(push: FakePushService, vapid: Vapid02) -> None:
    send(push.subscription("plain"), vapid, headers={}, ttl=60)

    [message] = push.wait_for(1)
    assert (message.ttl, message.urgency, message.topic) == (60, None, None)


def test_largest_payload_fits_and_one_more_byte_is_refused(push: FakePushService, vapid: Vapid02) -> None:
    subscription = push.subscription()

    send(subscription, vapid, data="x" * 3993)
    with pytest.raises(WebPushException) as refused:
        send(subscription, vapid, data="x" * 3994)

    assert push.wait_for(1)[0].data == b"x" * 3993
    assert refused.value.status_code == 413


# --- Refused credentials ----------------------------------------------------------------------------


def test_missing_vapid_is_refused(push: FakePushService) -> None:
    with pytest.raises(WebPushException) as refused:
        send(push.subscription(), None)

    assert refused.value.status_code == 401
    assert [a.reason for a in push.attempts()] == ["missing_authorization"]
    assert push.messages() == []


@pytest.mark.parametrize(
    ("case", "status", "reason"),
    [
        ("signed by another key", 401, "bad_signature"),
        ("claims changed after signing", 401, "bad_signature"),
        ("expired", 401, "expired"),
        ("no sub", 403, "bad_subject"),
    ],
)
def test_forged_or_stale_tokens_are_refused(
    push: FakePushService, vapid: Vapid02, case: str, status: int, reason: str
) -> None:
    good = {"sub": SUBJECT, "aud": push.origin, "exp": int(time.time()) + 3600}
    header = {
        "signed by another key": lambda: authorization(other_key(), good, announced_key=vapid),
        "claims changed after signing": lambda: _swap_claims(
            authorization(vapid, good), good | {"sub": "mailto:someone@else.example.org"}
        ),
        "expired": lambda: authorization(vapid, good | {"exp": int(time.time()) - 60}),
        "no sub": lambda: authorization(vapid, {"aud": push.origin, "exp": good["exp"]}),
    }[case]()

    with pytest.raises(WebPushException) as refused:
        send(push.subscription(), None, headers=PUSH_HEADERS | {"Authorization": header})

    assert refused.value.status_code == status
    assert [a.reason for a in push.attempts()] == [reason]
    assert push.messages() == []


def _swap_claims(header: str, new_claims: dict[str, Any]) -> str:
    prefix, token_and_key = header.split(" t=", 1)
    token, key = token_and_key.split(",k=")
    head, _, signature = token.split(".")
    forged = b64url_encode(json.dumps(new_claims).encode())
    return f"{prefix} t={head}.{forged}.{signature},k={key}"


@pytest.mark.parametrize(
    ("given_claims", "status", "reason"),
    [
        ({"aud": "https://fcm.googleapis.com"}, 403, "wrong_audience"),
        ({"exp": int(time.time()) + 25 * 3600}, 403, "exp_too_far"),
        ({"sub": "mailto:admin@localhost"}, 403, "bad_subject"),
        ({"sub": "https://companion.invalid"}, 403, "bad_subject"),
    ],
)
def test_claims_that_do_not_fit_are_refused(
    push: FakePushService, vapid: Vapid02, given_claims: dict[str, Any], status: int, reason: str
) -> None:
    """pywebpush signs these faithfully; the service refuses them as real ones do."""
    with pytest.raises(WebPushException) as refused:
        send(push.subscription(), vapid, vapid_claims=claims() | given_claims)

    assert refused.value.status_code == status
    assert [a.reason for a in push.attempts()] == [reason]


def test_token_judged_by_the_service_clock(vapid: Vapid02) -> None:
    """pywebpush's default token lives 12 hours; a service whose clock is 13 hours ahead finds it expired."""
    with FakePushService(clock=lambda: time.time() + 13 * 3600) as push:
        with pytest.raises(WebPushException) as refused:
            send(push.subscription(), vapid)

        assert refused.value.status_code == 401
        assert [a.reason for a in push.attempts()] == ["expired"]


def test_only_the_subscribed_application_server_key_may_push(push: FakePushService, vapid: Vapid02) -> None:
    subscription = push.subscription(application_server_key=b64url_encode(_raw_public(vapid)))

    send(subscription, vapid)
    with pytest.raises(WebPushException) as refused:
        send(subscription, other_key())

    assert refused.value.status_code == 403
    assert [a.reason for a in push.attempts()] == ["accepted", "key_mismatch"]


def _raw_public(key: Vapid02) -> bytes:
    return key.public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


@pytest.mark.parametrize(
    ("headers", "ttl", "reason"),
    [
        ({"Urgency": "urgent"}, TTL, "bad_urgency"),
        ({"Topic": "a topic with spaces"}, TTL, "bad_topic"),
        ({"Topic": "t" * 33}, TTL, "bad_topic"),
    ],
)
def test_malformed_push_headers_are_refused(
    push: FakePushService, vapid: Vapid02, headers: dict[str, str], ttl: int, reason: str
) -> None:
    with pytest.raises(WebPushException) as refused:
        send(push.subscription(), vapid, headers=headers, ttl=ttl)

    assert refused.value.status_code == 400
    assert [a.reason for a in push.attempts()] == [reason]


# --- Scripted answers -------------------------------------------------------------------------------

SCRIPTED = [
    (Reply(404), 404, None),
    (Reply(410), 410, None),
    (throttled(30), 429, "30"),
    (Reply(500), 500, None),
    (Reply(503, retry_after=120), 503, "120"),
]


@pytest.mark.parametrize(("reply", "status", "retry_after"), SCRIPTED)
def test_scripted_answer_reaches_the_sync_client(
    push: FakePushService, vapid: Vapid02, reply: Reply, status: int, retry_after: str | None
) -> None:
    subscription = push.subscription("phone")
    push.script("phone", [reply])

    with pytest.raises(WebPushException) as refused:
        send(subscription, vapid)
    after_script = send(subscription, vapid)

    assert (refused.value.status_code, refused.value.retry_after) == (status, retry_after)
    assert after_script.status_code == 201, "answers 201 once the script is used up"
    assert [a.status for a in push.attempts("phone")] == [status, 201]
    assert len(push.wait_for(1, endpoint_id="phone")) == 1


@pytest.mark.parametrize(("reply", "status", "retry_after"), SCRIPTED)
def test_scripted_answer_reaches_the_async_client(
    push: FakePushService, vapid: Vapid02, reply: Reply, status: int, retry_after: str | None
) -> None:
    subscription = push.subscription("phone")
    push.script("phone", [reply])

    with pytest.raises(WebPushException) as refused:
        send_with_async_client(subscription, vapid)

    assert (refused.value.status_code, refused.value.retry_after) == (status, retry_after)
    assert [(a.status, a.reason) for a in push.attempts("phone")] == [(status, "scripted")]
    assert push.attempts("phone")[0].payload == REMINDER, "refused answers still came with a valid payload"
    assert push.messages() == []


def test_a_retry_sequence_is_counted(push: FakePushService, vapid: Vapid02) -> None:
    subscription = push.subscription("phone")
    push.script("phone", [500, throttled(1), 201])
    outcomes = []

    for _ in range(3):  # a sender's retry loop, minus the backoff
        try:
            outcomes.append(send(subscription, vapid).status_code)
        except WebPushException as error:
            outcomes.append(error.status_code)

    assert outcomes == [500, 429, 201]
    assert len(push.attempts("phone")) == 3
    assert len(push.messages("phone")) == 1


def test_script_then_keeps_answering(push: FakePushService, vapid: Vapid02) -> None:
    subscription = push.subscription("gone")
    push.script("gone", [], then=410)

    statuses = []
    for _ in range(3):
        with pytest.raises(WebPushException) as refused:
            send(subscription, vapid)
        statuses.append(refused.value.status_code)

    assert statuses == [410, 410, 410]


def test_unknown_and_unsubscribed_endpoints(push: FakePushService, vapid: Vapid02) -> None:
    subscription = push.subscription("old-phone")
    unknown = BrowserSubscription(
        subscription.info | {"endpoint": f"{push.origin}/push/never-issued"}, subscription.private_key
    )
    push.unsubscribe("old-phone")

    with pytest.raises(WebPushException) as not_found:
        send(unknown, vapid)
    with pytest.raises(WebPushException) as gone:
        send(subscription, vapid)

    assert (not_found.value.status_code, gone.value.status_code) == (404, 410)


# --- Hanging --------------------------------------------------------------------------------------


def test_hang_is_a_timeout_for_the_sync_client(push: FakePushService, vapid: Vapid02) -> None:
    subscription = push.subscription("slow")
    push.script("slow", [HANG])

    with pytest.raises(requests.exceptions.Timeout):
        send(subscription, vapid, timeout=0.5)
    [attempt] = push.wait_for_attempts(1, endpoint_id="slow")
    push.release()

    assert (attempt.status, attempt.reason) == (None, "hang")
    assert push.messages() == []
    assert send(subscription, vapid).status_code == 201, "the service still answers others"


def test_hang_is_a_timeout_for_the_async_client(push: FakePushService, vapid: Vapid02) -> None:
    subscription = push.subscription("slow")
    push.script("slow", [HANG, HANG])

    async def main() -> None:
        async with aiohttp.ClientSession() as session:
            for _ in range(2):
                with pytest.raises(asyncio.TimeoutError):
                    await send_async(session, subscription, vapid, timeout=0.5)
            response = await send_async(session, subscription, vapid)
            assert response.status == 201

    asyncio.run(main())

    assert [a.reason for a in push.attempts("slow")] == ["hang", "hang", "accepted"]


def test_released_hang_answers_its_scripted_status(push: FakePushService, vapid: Vapid02) -> None:
    subscription = push.subscription("slow")
    push.script("slow", [Reply(500, hang=True)])

    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(
            webpush,
            subscription.info,
            json.dumps(REMINDER),
            vapid_private_key=vapid,
            vapid_claims=claims(),
            ttl=TTL,
            timeout=TIMEOUT,
        )
        push.wait_for_attempts(1, endpoint_id="slow")
        assert not pending.done()
        push.release()
        with pytest.raises(WebPushException) as refused:
            pending.result()

    assert refused.value.status_code == 500


def test_stop_releases_a_hanging_request(vapid: Vapid02) -> None:
    push = FakePushService().start()
    subscription = push.subscription("slow")
    push.script("slow", [HANG])
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(
            webpush,
            subscription.info,
            json.dumps(REMINDER),
            vapid_private_key=vapid,
            vapid_claims=claims(),
            ttl=TTL,
            timeout=TIMEOUT,
        )
        push.wait_for_attempts(1)
        push.stop()
        with pytest.raises(WebPushException) as refused:
            pending.result()

    assert refused.value.status_code == 503


def test_wait_for_gives_up_with_a_clear_error(push: FakePushService) -> None:
    with pytest.raises(TimeoutError, match="1 messages"):
        push.wait_for(1, timeout=0.05)


# --- SMTP sink ------------------------------------------------------------------------------------


def test_smtp_sink_receives_a_message_sent_with_aiosmtplib() -> None:
    message = EmailMessage()
    message["From"] = "Companion <alerts@companion.example.org>"
    message["To"] = "carol@clinic.example.org"
    message["Subject"] = "New alert for a patient in your care"
    message.set_content("Open Companion to see it: https://companion.example.org/alerts\n")
    message.add_alternative(
        '<p><a href="https://companion.example.org/alerts">Open Companion</a></p>\n', subtype="html"
    )

    with SmtpSink() as sink:
        asyncio.run(aiosmtplib.send(message, hostname=sink.hostname, port=sink.port, timeout=TIMEOUT))
        [mail] = sink.wait_for(1)

    assert mail.mail_from == "alerts@companion.example.org"
    assert mail.rcpt_tos == ("carol@clinic.example.org",)
    assert mail.subject == "New alert for a patient in your care"
    assert mail.text == "Open Companion to see it: https://companion.example.org/alerts\n"
    assert mail.html == '<p><a href="https://companion.example.org/alerts">Open Companion</a></p>\n'


def test_two_smtp_sinks_get_different_ports() -> None:
    with SmtpSink() as first, SmtpSink() as second:
        assert first.port != second.port
        with pytest.raises(TimeoutError):
            first.wait_for(1, timeout=0.05)
