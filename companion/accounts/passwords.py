"""Argon2id password hashing off the event loop, and the password policy (AUTH-01, AUTH-03, AUTH-04)."""

from __future__ import annotations

from functools import lru_cache

import anyio
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 8
MAX_LENGTH = 128
COMMON_PASSWORDS_CHECKED = 3000
CONTEXT_WORDS = ("companion", "ketamine", "esketamine", "spravato", "password", "clinic")

# argon2-cffi defaults: argon2id, t=3, m=64 MiB, p=4 - above the ASVS 5.0 minimums.
_hasher = PasswordHasher()
# Each hash holds 64 MiB for ~0.1 s: cap how many run at once so a burst of logins cannot exhaust memory.
_hashing_slots: anyio.CapacityLimiter | None = None


def configure_hashing(concurrency: int) -> None:
    global _hashing_slots
    _hashing_slots = anyio.CapacityLimiter(concurrency)


def _limiter() -> anyio.CapacityLimiter:
    global _hashing_slots
    if _hashing_slots is None:
        _hashing_slots = anyio.CapacityLimiter(4)
    return _hashing_slots


def hash_password_sync(password: str) -> str:
    return _hasher.hash(password)


async def hash_password(password: str) -> str:
    return await anyio.to_thread.run_sync(_hasher.hash, password, limiter=_limiter())


async def verify_password(stored_hash: str, password: str) -> bool:
    return await anyio.to_thread.run_sync(_verify, stored_hash, password, limiter=_limiter())


def _verify(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    try:
        return _hasher.check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher.hash("not-a-real-password-used-to-equalise-timing")


async def spend_verify_time() -> None:
    """Verify against a dummy hash so an unknown login takes as long as a wrong password."""
    await verify_password(_dummy_hash(), "wrong")


@lru_cache(maxsize=1)
def _common_passwords() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"][:COMMON_PASSWORDS_CHECKED])


def password_problem(password: str, *, personal_words: tuple[str, ...] = ()) -> str | None:
    """Why a new password is not acceptable, or None. No composition rules (AUTH-03)."""
    if len(password) < MIN_LENGTH:
        return f"Use at least {MIN_LENGTH} characters. A few words together make a strong password."
    if len(password) > MAX_LENGTH:
        return f"Use at most {MAX_LENGTH} characters."
    lowered = password.lower()
    if lowered in _common_passwords():
        return "This password is too common. Choose something less easy to guess."
    words = CONTEXT_WORDS + tuple(w.lower() for w in personal_words if len(w) >= 3)
    if any(lowered == word or lowered.strip("0123456789!") == word for word in words):
        return "This password is too easy to guess from your name or the app. Choose another."
    return None
