"""Writes the app icons in companion/static/icons (run once: ``python -m companion.pwa.icons``).

No image library: a ring and a dot in white on the brand colour, anti-aliased by supersampling,
written as PNG with zlib and struct. The maskable icon keeps the shape inside the 80 % safe zone.
"""

from __future__ import annotations

import math
import struct
import zlib
from pathlib import Path

BRAND = (0x2F, 0x5D, 0x62)
WHITE = (0xFF, 0xFF, 0xFF)
ICONS = Path(__file__).resolve().parent.parent / "static" / "icons"
SAMPLES = 4


def _coverage(x: float, y: float, size: int, ring: float, width: float, dot: float) -> float:
    hits = 0
    centre = size / 2
    for sx in range(SAMPLES):
        for sy in range(SAMPLES):
            dx = x + (sx + 0.5) / SAMPLES - centre
            dy = y + (sy + 0.5) / SAMPLES - centre
            d = math.hypot(dx, dy)
            if abs(d - ring) <= width / 2 or d <= dot:
                hits += 1
    return hits / (SAMPLES * SAMPLES)


def render(size: int, scale: float) -> bytes:
    ring, width, dot = size * 0.30 * scale, size * 0.09 * scale, size * 0.07 * scale
    rows = []
    for y in range(size):
        row = bytearray([0])  # filter type 0 for each scanline
        for x in range(size):
            a = _coverage(x, y, size, ring, width, dot)
            row += bytes(round(b + (w - b) * a) for b, w in zip(BRAND, WHITE, strict=True))
        rows.append(bytes(row))
    raw = b"".join(rows)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def main() -> None:
    ICONS.mkdir(parents=True, exist_ok=True)
    for name, size, scale in (
        ("icon-192.png", 192, 1.0),
        ("icon-512.png", 512, 1.0),
        ("maskable-512.png", 512, 0.75),
        ("apple-touch-icon.png", 180, 1.0),
    ):
        (ICONS / name).write_bytes(render(size, scale))


if __name__ == "__main__":
    main()
