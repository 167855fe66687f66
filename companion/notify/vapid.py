"""The VAPID key pair: loaded once per process, generated once into the data directory when embedded.

Production takes the private key from settings (``COMPANION_VAPID_PRIVATE_KEY[_FILE]``); every
process must use the same key, because rotating it invalidates every subscription (tech-notes 4.2).
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from py_vapid import Vapid02

from companion.settings import Settings

KEY_FILE = "vapid_private_key.pem"


class VapidKeyMissing(RuntimeError):
    """Production without a configured key: push cannot be sent."""


def load_vapid(settings: Settings, *, generate: bool | None = None) -> Vapid02:
    """The configured key, else the data directory's one (created when ``generate`` or embedded)."""
    configured = settings.push.vapid_private_key
    if configured:
        return _from_text(configured)
    path = settings.data_dir / KEY_FILE
    if path.exists():
        return Vapid02.from_file(str(path))
    if generate is None:
        generate = settings.embedded
    if not generate:
        raise VapidKeyMissing(
            "set COMPANION_VAPID_PRIVATE_KEY (or _FILE); run `companion vapid --generate` to make one"
        )
    return generate_key_file(path)


def generate_key_file(path: Path) -> Vapid02:
    """A new key pair written to ``path`` with mode 0600 (refuses to overwrite an existing key)."""
    key = Vapid02()
    key.generate_keys()
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = key.private_pem()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return key


def _from_text(text: str) -> Vapid02:
    if "BEGIN" in text:
        return Vapid02.from_pem(text.encode())
    return Vapid02.from_string(text)


def application_server_key(key: Vapid02) -> str:
    """The browser's ``applicationServerKey``: base64url of the uncompressed P-256 point."""
    raw = key.public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
