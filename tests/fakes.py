"""Fakes at the app's outer seams that are real protocol peers, for tests and benchmarks.

``FakePushService`` is a Web Push service on loopback (RFC 8030): it checks the sender's VAPID JWT
(RFC 8292) and decrypts the aes128gcm payload (RFC 8291) with the private key of a subscription it
created like a browser would, so a test sees exactly what a phone would display. ``SmtpSink`` is a
real SMTP server (aiosmtpd) that keeps what it receives.

Both run their own event loop in a background thread, so tests drive them from plain synchronous
code or from another event loop, and every accessor is thread-safe.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import os
import re
import secrets
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from functools import lru_cache
from typing import Any, NamedTuple, Self

import http_ece
from aiohttp import web
from aiosmtpd.controller import Controller
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

MAX_BODY_BYTES = 4096  # what push services accept (RFC 8030 section 7.2): 3993 bytes of plaintext
MAX_JWT_LIFETIME_SECONDS = 24 * 3600  # RFC 8292 section 2: exp no more than 24 hours ahead
URGENCIES = frozenset({"very-low", "low", "normal", "high"})  # RFC 8030 section 5.3
TOPIC = re.compile(r"[A-Za-z0-9_-]{1,32}")  # RFC 8030 section 5.4: URL-safe base64 alphabet, 32 chars
ENDPOINT_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")
# Apple's push service refuses placeholder subjects (tech-notes 4.2); so does this one, so a
# misconfigured ``sub`` fails in tests rather than in production.
PLACEHOLDER_HOST = re.compile(r"(^|\.)(localhost|local|invalid)$", re.IGNORECASE)


# --- Records and replies ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PushMessage:
    """A message the service accepted (201), decrypted."""

    endpoint_id: str
    payload: Any  # the plaintext parsed as JSON; None when empty or not JSON
    data: bytes  # the plaintext
    ttl: int
    urgency: str | None
    topic: str | None
    received_at: datetime
    monotonic: float  # time.monotonic() on receipt: system-wide on Linux, for latency figures


@dataclass(frozen=True)
class PushAttempt:
    """One POST to an endpoint, whatever the answer."""

    endpoint_id: str
    status: int | None  # None: the request was made to hang and got no answer in time
    reason: str  # "accepted", "scripted", "hang", or why it was refused ("expired", "wrong_audience", ...)
    ttl: int | None
    urgency: str | None
    topic: str | None
    payload: Any
    received_at: datetime
    monotonic: float


@dataclass(frozen=True)
class Reply:
    """How the service answers one request that passed its checks.

    ``hang`` keeps the request open until ``FakePushService.release()`` (or ``stop()``), then answers
    ``status``; the sender normally gives up first, which is the point.
    """

    status: int = 201
    retry_after: int | str | None = None
    hang: bool = False


ACCEPT = Reply(201)
HANG = Reply(503, hang=True)


def throttled(retry_after: int | str = 30) -> Reply:
    return Reply(429, retry_after=retry_after)


class BrowserSubscription(NamedTuple):
    """What ``PushManager.subscribe()`` gives a browser: the JSON the app stores, and the private key."""

    info: dict[str, Any]
    private_key: ec.EllipticCurvePrivateKey

    @property
    def endpoint_id(self) -> str:
        return self.info["endpoint"].rsplit("/", 1)[1]

    @property
    def auth_secret(self) -> bytes:
        return b64url_decode(self.info["keys"]["auth"])


class _Refusal(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass
class _Endpoint:
    endpoint_id: str
    private_key: ec.EllipticCurvePrivateKey
    auth_secret: bytes
    application_server_key: bytes | None
    replies: deque[Reply] = field(default_factory=deque)
    then: Reply = ACCEPT

    def next_reply(self) -> Reply:
        return self.replies.popleft() if self.replies else self.then


# --- The push service -------------------------------------------------------------------------------


class FakePushService:
    """A Web Push service on 127.0.0.1 that verifies, decrypts and records what senders post.

    Refusals, checked in this order: unknown endpoint 404; unsubscribed 410; missing or bad ``TTL``,
    ``Urgency`` or ``Topic`` 400; VAPID credentials missing, malformed, badly signed or expired 401;
    valid credentials whose claims do not fit (``aud`` not this origin, ``exp`` more than 24 h ahead,
    ``sub`` not a real ``mailto:``/``https:`` URL, key other than the subscription's
    applicationServerKey) 403; body over 4096 bytes 413; not aes128gcm or undecryptable 400. A request
    that passes gets the endpoint's next scripted ``Reply`` (201 when nothing is scripted).

    Use as a context manager, or call ``start()`` and ``stop()``.
    """

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock  # for exp checks; tests may pass a fixed clock
        self._records = threading.Condition()
        self._endpoints: dict[str, _Endpoint] = {}
        self._gone: set[str] = set()
        self._messages: list[PushMessage] = []
        self._attempts: list[PushAttempt] = []
        self._hung: set[asyncio.Future[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    # Lifecycle

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def origin(self) -> str:
        if self.port is None:
            raise RuntimeError("the push service is not running; call start() first")
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))  # the kernel picks a free port; the socket is handed to aiohttp
        self.port = sock.getsockname()[1]
        self._loop = asyncio.new_event_loop()
        started = threading.Event()
        failure: list[Exception] = []
        self._thread = threading.Thread(
            target=self._serve, args=(sock, started, failure), name="fake-push", daemon=True
        )
        self._thread.start()
        started.wait()
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        self.release()
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()
        self._loop = self._thread = None

    def _serve(self, sock: socket.socket, started: threading.Event, failure: list[Exception]) -> None:
        assert self._loop is not None
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._open(sock))
        except Exception as error:  # noqa: BLE001 - handed to start(), which raises it in the caller's thread
            failure.append(error)
            return
        finally:
            started.set()
        self._loop.run_forever()

    async def _open(self, sock: socket.socket) -> None:
        app = web.Application()
        app.router.add_post("/push/{endpoint_id}", self._receive)
        # access_log=None: a benchmark posts thousands of requests; their log lines are noise.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=5.0)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()

    async def _close(self) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    # Subscriptions and scripts

    def subscription(
        self, name: str | None = None, *, application_server_key: bytes | str | None = None
    ) -> BrowserSubscription:
        """A new subscription, made like a browser: a P-256 key pair and a 16-byte auth secret.

        ``name`` becomes the endpoint id (``/push/<name>``); a random one is used without it.
        With ``application_server_key`` (raw or base64url), only that VAPID key may push to it.
        """
        endpoint_id = name or secrets.token_urlsafe(12)
        if not ENDPOINT_ID.fullmatch(endpoint_id):
            raise ValueError(f"endpoint id must be URL-safe, got {endpoint_id!r}")
        private_key = ec.generate_private_key(ec.SECP256R1())
        auth_secret = os.urandom(16)
        endpoint = _Endpoint(endpoint_id, private_key, auth_secret, _raw_key(application_server_key))
        with self._records:
            if endpoint_id in self._endpoints:
                raise ValueError(f"endpoint {endpoint_id!r} already exists")
            self._endpoints[endpoint_id] = endpoint
        info = {
            "endpoint": f"{self.origin}/push/{endpoint_id}",
            "keys": {"p256dh": b64url_encode(_public_bytes(private_key)), "auth": b64url_encode(auth_secret)},
        }
        return BrowserSubscription(info, private_key)

    def script(
        self, endpoint_id: str, replies: Iterable[int | Reply], *, then: int | Reply = ACCEPT
    ) -> None:
        """Answer the next requests to ``endpoint_id`` with ``replies`` in order, then with ``then``.

        Each item is a status code or a ``Reply`` (``throttled(30)``, ``HANG``, ``Reply(500)``).
        Replaces any script not yet used up.
        """
        with self._records:
            endpoint = self._endpoints[endpoint_id]
            endpoint.replies = deque(_as_reply(reply) for reply in replies)
            endpoint.then = _as_reply(then)

    def unsubscribe(self, endpoint_id: str) -> None:
        """The browser dropped the subscription: from now on its endpoint answers 410 Gone."""
        with self._records:
            self._gone.add(endpoint_id)

    def release(self) -> None:
        """Let every hanging request answer."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._release_hung)

    def _release_hung(self) -> None:
        for waiter in self._hung:
            if not waiter.done():
                waiter.set_result(None)
        self._hung.clear()

    # Records

    def messages(self, endpoint_id: str | None = None) -> list[PushMessage]:
        with self._records:
            return [m for m in self._messages if endpoint_id in (None, m.endpoint_id)]

    def attempts(self, endpoint_id: str | None = None) -> list[PushAttempt]:
        with self._records:
            return [a for a in self._attempts if endpoint_id in (None, a.endpoint_id)]

    def wait_for(self, count: int, timeout: float = 10.0, *, endpoint_id: str | None = None) -> list[PushMessage]:
        """Block until at least ``count`` messages were accepted (for ``endpoint_id``), and return them."""
        self._wait_until(lambda: len(self.messages(endpoint_id)) >= count, timeout, f"{count} messages")
        return self.messages(endpoint_id)

    def wait_for_attempts(
        self, count: int, timeout: float = 10.0, *, endpoint_id: str | None = None
    ) -> list[PushAttempt]:
        """Block until at least ``count`` requests arrived (for ``endpoint_id``), and return them."""
        self._wait_until(lambda: len(self.attempts(endpoint_id)) >= count, timeout, f"{count} attempts")
        return self.attempts(endpoint_id)

    def clear(self) -> None:
        """Forget recorded messages and attempts (subscriptions and scripts stay)."""
        with self._records:
            self._messages.clear()
            self._attempts.clear()

    def _wait_until(self, condition: Callable[[], bool], timeout: float, wanted: str) -> None:
        with self._records:
            if not self._records.wait_for(condition, timeout):
                raise TimeoutError(
                    f"push service: waited {timeout}s for {wanted}; have "
                    f"{len(self._messages)} messages, {len(self._attempts)} attempts"
                )

    def _record(self, attempt: PushAttempt, message: PushMessage | None = None) -> None:
        with self._records:
            self._attempts.append(attempt)
            if message is not None:
                self._messages.append(message)
            self._records.notify_all()

    # The protocol

    async def _receive(self, request: web.Request) -> web.Response:
        endpoint_id = request.match_info["endpoint_id"]
        body = await request.read()
        arrived = _Arrival(endpoint_id, datetime.now(UTC), time.monotonic())
        try:
            endpoint = self._known_endpoint(endpoint_id)
            headers = _push_headers(request)
            arrived.headers = headers
            self._check_vapid(request.headers.get("Authorization"), endpoint)
            data = _decrypt(body, endpoint, request.headers.get("Content-Encoding"))
        except _Refusal as refusal:
            self._record(arrived.attempt(refusal.status, refusal.reason))
            return web.json_response({"reason": refusal.reason}, status=refusal.status)
        with self._records:
            reply = endpoint.next_reply()
        if reply.hang:
            return await self._hang(arrived, reply, data)
        return self._answer(arrived, reply, data)

    def _known_endpoint(self, endpoint_id: str) -> _Endpoint:
        with self._records:
            endpoint = self._endpoints.get(endpoint_id)
            if endpoint is None:
                raise _Refusal(404, "unknown_endpoint")
            if endpoint_id in self._gone:
                raise _Refusal(410, "unsubscribed")
            return endpoint

    def _check_vapid(self, authorization: str | None, endpoint: _Endpoint) -> None:
        token, key = _parse_vapid_authorization(authorization)
        claims = _verified_claims(token, key)
        now = self._clock()
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            raise _Refusal(401, "bad_exp")
        if exp <= now:
            raise _Refusal(401, "expired")
        if exp > now + MAX_JWT_LIFETIME_SECONDS:
            raise _Refusal(403, "exp_too_far")
        if claims.get("aud") != self.origin:
            raise _Refusal(403, "wrong_audience")
        if not _valid_subject(claims.get("sub")):
            raise _Refusal(403, "bad_subject")
        if endpoint.application_server_key not in (None, b64url_decode(key)):
            raise _Refusal(403, "key_mismatch")

    async def _hang(self, arrived: _Arrival, reply: Reply, data: bytes) -> web.Response:
        self._record(arrived.attempt(None, "hang", data))
        waiter = asyncio.get_running_loop().create_future()
        self._hung.add(waiter)
        await waiter
        return web.json_response({"reason": "released"}, status=reply.status)

    def _answer(self, arrived: _Arrival, reply: Reply, data: bytes) -> web.Response:
        accepted = reply.status == 201
        message = arrived.message(data) if accepted else None
        self._record(arrived.attempt(reply.status, "accepted" if accepted else "scripted", data), message)
        headers = {"Retry-After": str(reply.retry_after)} if reply.retry_after is not None else {}
        if accepted:
            headers["Location"] = f"{self.origin}/message/{secrets.token_urlsafe(9)}"
        return web.Response(status=reply.status, headers=headers)


@dataclass
class _Arrival:
    """What is known about a request so far, to build its records."""

    endpoint_id: str
    received_at: datetime
    monotonic: float
    headers: tuple[int, str | None, str | None] | None = None

    def attempt(self, status: int | None, reason: str, data: bytes | None = None) -> PushAttempt:
        ttl, urgency, topic = self.headers or (None, None, None)
        payload = _json_or_none(data)
        return PushAttempt(
            self.endpoint_id, status, reason, ttl, urgency, topic, payload, self.received_at, self.monotonic
        )

    def message(self, data: bytes) -> PushMessage:
        assert self.headers is not None
        ttl, urgency, topic = self.headers
        return PushMessage(
            self.endpoint_id, _json_or_none(data), data, ttl, urgency, topic, self.received_at, self.monotonic
        )


def _push_headers(request: web.Request) -> tuple[int, str | None, str | None]:
    """TTL (required, RFC 8030 section 5.2), Urgency and Topic, validated."""
    ttl = request.headers.get("TTL")
    if ttl is None or not ttl.isdigit():
        raise _Refusal(400, "bad_ttl")
    urgency = request.headers.get("Urgency")
    if urgency is not None and urgency not in URGENCIES:
        raise _Refusal(400, "bad_urgency")
    topic = request.headers.get("Topic")
    if topic is not None and not TOPIC.fullmatch(topic):
        raise _Refusal(400, "bad_topic")
    return int(ttl), urgency, topic


def _parse_vapid_authorization(authorization: str | None) -> tuple[str, str]:
    """``vapid t=<jwt>,k=<key>`` (RFC 8292 section 3) -> (jwt, key)."""
    if not authorization:
        raise _Refusal(401, "missing_authorization")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() != "vapid":
        raise _Refusal(401, "not_vapid")
    params = dict(part.strip().partition("=")[::2] for part in credentials.split(","))
    if not params.get("t") or not params.get("k"):
        raise _Refusal(401, "malformed_authorization")
    return params["t"], params["k"]


@lru_cache(maxsize=4096)
def _verified_claims(token: str, key: str) -> dict[str, Any]:
    """The JWT's claims once its ES256 signature checks out against ``key``.

    Cached because senders may reuse a token until it expires (tech-notes 4.5); a cached result is
    only the signature check, the claims are judged again on every request.
    """
    try:
        header_part, claims_part, signature_part = token.split(".")
        header = json.loads(b64url_decode(header_part))
        public_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(key))
        signature = b64url_decode(signature_part)
        claims = json.loads(b64url_decode(claims_part))
    except (ValueError, binascii.Error):
        raise _Refusal(401, "malformed_token") from None
    if not isinstance(header, dict) or header.get("alg") != "ES256" or not isinstance(claims, dict):
        raise _Refusal(401, "malformed_token")
    if len(signature) != 64:
        raise _Refusal(401, "bad_signature")
    # JWS carries ES256 signatures as raw r || s (RFC 7518 section 3.4); cryptography wants DER.
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    try:
        public_key.verify(der, f"{header_part}.{claims_part}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise _Refusal(401, "bad_signature") from None
    return claims


def _valid_subject(sub: object) -> bool:
    if not isinstance(sub, str):
        return False
    if sub.startswith("mailto:"):
        host = sub.partition("@")[2]
        return bool(re.fullmatch(r"mailto:[^@\s]+@[^@\s]+\.[^@\s]+", sub)) and not PLACEHOLDER_HOST.search(host)
    match = re.fullmatch(r"https://([^/:\s]+)(:\d+)?(/\S*)?", sub)
    return match is not None and not PLACEHOLDER_HOST.search(match.group(1))


def _decrypt(body: bytes, endpoint: _Endpoint, content_encoding: str | None) -> bytes:
    if not body:
        return b""  # a push without payload is legal (RFC 8030 section 5)
    if len(body) > MAX_BODY_BYTES:
        raise _Refusal(413, "payload_too_large")
    if content_encoding != "aes128gcm":
        raise _Refusal(400, "not_aes128gcm")
    try:
        return http_ece.decrypt(
            body, private_key=endpoint.private_key, auth_secret=endpoint.auth_secret, version="aes128gcm"
        )
    except (http_ece.ECEException, InvalidTag, ValueError):
        raise _Refusal(400, "undecryptable") from None


# --- Helpers ----------------------------------------------------------------------------------------


def b64url_encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _public_bytes(private_key: ec.EllipticCurvePrivateKey) -> bytes:
    return private_key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def _raw_key(key: bytes | str | None) -> bytes | None:
    return b64url_decode(key) if isinstance(key, str) else key


def _as_reply(reply: int | Reply) -> Reply:
    return reply if isinstance(reply, Reply) else Reply(reply)


def _json_or_none(data: bytes | None) -> Any:
    try:
        return json.loads(data) if data else None
    except ValueError:
        return None


def free_port() -> int:
    """A port free right now on 127.0.0.1 (another process could still take it: callers retry)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- The SMTP sink ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedMail:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    subject: str | None
    text: str | None
    html: str | None
    message: EmailMessage
    raw: bytes
    received_at: datetime


class SmtpSink:
    """A real SMTP server on 127.0.0.1 (aiosmtpd) that accepts every message and keeps it.

    Use as a context manager, or call ``start()`` and ``stop()``; send to ``hostname``:``port``.
    """

    hostname = "127.0.0.1"

    def __init__(self) -> None:
        self._received = threading.Condition()
        self._mails: list[ReceivedMail] = []
        self._controller: Controller | None = None
        self.port: int | None = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self, attempts: int = 5) -> Self:
        # Controller(port=0) cannot work: it connects to its own port to see the server is up
        # (tech-notes 8.21). So pick a free port first, and retry if another process took it.
        for attempt in range(attempts):
            port = free_port()
            controller = Controller(_SinkHandler(self), hostname=self.hostname, port=port)
            try:
                controller.start()
            except OSError:
                if attempt == attempts - 1:
                    raise
                continue
            self._controller, self.port = controller, port
            return self
        raise AssertionError("unreachable")  # pragma: no cover

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def messages(self) -> list[ReceivedMail]:
        with self._received:
            return list(self._mails)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedMail]:
        """Block until at least ``count`` messages arrived, and return them."""
        with self._received:
            if not self._received.wait_for(lambda: len(self._mails) >= count, timeout):
                raise TimeoutError(f"SMTP sink: waited {timeout}s for {count} messages, have {len(self._mails)}")
            return list(self._mails)

    def clear(self) -> None:
        with self._received:
            self._mails.clear()

    def _keep(self, mail: ReceivedMail) -> None:
        with self._received:
            self._mails.append(mail)
            self._received.notify_all()


class _SinkHandler:
    def __init__(self, sink: SmtpSink) -> None:
        self._sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        # SMTP carries CRLF line ends; parse with the local convention so parts read as they were written.
        message = message_from_bytes(raw.replace(b"\r\n", b"\n"), policy=policy.default)
        assert isinstance(message, EmailMessage)
        self._sink._keep(
            ReceivedMail(
                mail_from=envelope.mail_from,
                rcpt_tos=tuple(envelope.rcpt_tos),
                subject=str(message["Subject"]) if message["Subject"] is not None else None,
                text=_body_part(message, "plain"),
                html=_body_part(message, "html"),
                message=message,
                raw=raw,
                received_at=datetime.now(UTC),
            )
        )
        return "250 Message accepted for delivery"


def _body_part(message: EmailMessage, subtype: str) -> str | None:
    part = message.get_body(preferencelist=(subtype,))
    return part.get_content() if part is not None else None
