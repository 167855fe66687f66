"""The VAPID Authorization header is signed once per push service (audience) and reused for a few
minutes, with a fresh claims dict per audience: two push services never see each other's ``aud``."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import replace

from py_vapid import Vapid02

from companion.notify.messages import reminder_notice
from companion.notify.webpush import HEADER_REUSE_SECONDS, JWT_LIFETIME_SECONDS, WebPushTransport
from companion.settings import PushSettings
from tests.fakes import FakePushService
from tests.notify.helpers import vapid_pem


def claims_of(headers: dict[str, str]) -> dict:
    token = headers["Authorization"].split("t=", 1)[1].split(",", 1)[0]
    body = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


class CountingKey:
    """The real key, counting signatures."""

    def __init__(self) -> None:
        self.key = Vapid02.from_pem(vapid_pem().encode())
        self.signed: list[dict] = []

    def sign(self, claims: dict) -> dict:
        self.signed.append(dict(claims))
        return self.key.sign(claims)

    def __getattr__(self, name: str):
        return getattr(self.key, name)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def transport(key, clock) -> WebPushTransport:
    settings = replace(PushSettings(timeout_seconds=2.0), subject="mailto:alerts@clinic.example.org")
    return WebPushTransport(settings, key, clock=clock)  # type: ignore[arg-type]


def test_one_signature_per_audience_until_it_is_due_again():
    key, clock = CountingKey(), FakeClock()
    push = transport(key, clock)
    fcm = push.vapid_headers("https://fcm.googleapis.com/fcm/send/abc")
    assert push.vapid_headers("https://fcm.googleapis.com/fcm/send/def") is fcm
    mozilla = push.vapid_headers("https://updates.push.services.mozilla.com/wpush/v2/xyz")
    assert claims_of(fcm)["aud"] == "https://fcm.googleapis.com"
    assert claims_of(mozilla)["aud"] == "https://updates.push.services.mozilla.com"
    assert claims_of(fcm)["sub"] == "mailto:alerts@clinic.example.org"
    assert claims_of(fcm)["exp"] == int(clock.now) + JWT_LIFETIME_SECONDS <= int(clock.now) + 24 * 3600
    assert len(key.signed) == 2 and key.signed[0] is not key.signed[1]

    clock.now += HEADER_REUSE_SECONDS - 1
    assert push.vapid_headers("https://fcm.googleapis.com/other") is fcm and len(key.signed) == 2
    clock.now += 2
    renewed = push.vapid_headers("https://fcm.googleapis.com/other")
    assert renewed is not fcm and claims_of(renewed)["exp"] > claims_of(fcm)["exp"] and len(key.signed) == 3


async def test_two_push_services_each_verify_their_own_audience():
    key, clock = CountingKey(), FakeClock()
    clock.now = time.time()  # the fakes check ``exp`` against the real clock
    push = transport(key, clock)
    with FakePushService() as first, FakePushService() as second:
        browsers = [service.subscription(f"b{i}") for service in (first, second) for i in range(3)]
        try:
            for browser in browsers:
                assert await push.send(browser.info, reminder_notice("checkin"), ttl=60) == 201
        finally:
            await push.close()
        assert len(first.messages()) == 3 and len(second.messages()) == 3
        assert all(a.status == 201 for a in first.attempts() + second.attempts())
        assert sorted(c["aud"] for c in key.signed) == sorted([first.origin, second.origin])  # 2 for 6 messages
