"""Headless Chromium, for the report's tests and benchmark: the DOM after the page's scripts
ran, a screenshot, and the pixels of a PNG (stdlib only, to look at a screenshot in a test).

Chromium comes from Debian's ``chromium`` package (``./setup`` installs it). It runs with
``--no-sandbox`` because tests run as root, and with networking pointed nowhere (a proxy that
does not exist), so a page that tried to load anything from the network would fail to.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Png", "chromium", "dump_dom", "read_png", "screenshot", "write_png"]

_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--hide-scrollbars",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--mute-audio",
    # nothing listens there, so no page reaches the network; loopback (the report server)
    # bypasses proxies by default
    "--proxy-server=127.0.0.1:9",
]


def chromium() -> str | None:
    """The Chromium executable, or None if it is not installed."""
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def dump_dom(
    url: str,
    *,
    timeout: float = 60.0,
    size: tuple[int, int] = (1400, 1000),
    virtual_time_ms: int | None = None,
) -> str:
    """The serialized DOM of ``url`` after its load event (so after its scripts ran). With
    ``virtual_time_ms``, after that much virtual time too, so timers and animation frames the
    page scheduled have run."""
    extra = [] if virtual_time_ms is None else [f"--virtual-time-budget={virtual_time_ms}"]
    return _run(["--dump-dom", f"--window-size={size[0]},{size[1]}", *extra, url], timeout).stdout


def screenshot(
    url: str, path: Path, *, size: tuple[int, int] = (1400, 1000), timeout: float = 60.0
) -> Path:
    """A PNG of the first ``size`` pixels of ``url`` once it has loaded."""
    _run([f"--screenshot={path}", f"--window-size={size[0]},{size[1]}", url], timeout)
    if not Path(path).is_file():
        raise RuntimeError(f"chromium wrote no screenshot of {url}")
    return Path(path)


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    exe = chromium()
    if exe is None:
        raise FileNotFoundError("chromium is not installed (./setup installs Debian's chromium)")
    with tempfile.TemporaryDirectory(prefix="sb-chromium-") as profile:
        env = {**os.environ, "HOME": profile}
        argv = [exe, *_FLAGS, f"--user-data-dir={profile}", *args]
        t = time.monotonic()
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)
        if r.returncode != 0:
            raise RuntimeError(
                f"chromium exited {r.returncode} after "
                f"{time.monotonic() - t:.1f}s: {r.stderr[-2000:]}"
            )
        return r


@dataclass
class Png:
    """Decoded pixels: ``rows[y][x]`` is an (r, g, b) tuple."""

    width: int
    height: int
    rows: list[list[tuple[int, int, int]]]

    def crop(self, x: int, y: int, w: int, h: int) -> Png:
        rows = [r[x : x + w] for r in self.rows[y : y + h]]
        return Png(len(rows[0]) if rows else 0, len(rows), rows)

    def count(self, rgb: tuple[int, int, int], tolerance: int = 12) -> int:
        """How many pixels are within ``tolerance`` of ``rgb`` in every channel."""
        r0, g0, b0 = rgb
        return sum(
            1
            for row in self.rows
            for r, g, b in row
            if abs(r - r0) <= tolerance and abs(g - g0) <= tolerance and abs(b - b0) <= tolerance
        )


def read_png(path: Path) -> Png:
    """Decode an 8-bit, non-interlaced RGB or RGBA PNG (what Chromium writes)."""
    data = Path(path).read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG")
    pos, idat = 8, b""
    width = height = depth = color = interlace = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    if depth != 8 or color not in (2, 6) or interlace:
        raise ValueError(f"{path}: only 8-bit RGB / RGBA, non-interlaced PNGs are read here")
    bpp = 3 if color == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    prev = bytearray(stride)
    rows: list[list[tuple[int, int, int]]] = []
    i = 0
    for _ in range(height):
        ftype = raw[i]
        line = bytearray(raw[i + 1 : i + 1 + stride])
        i += 1 + stride
        _unfilter(ftype, line, prev, bpp)
        rows.append([(line[x], line[x + 1], line[x + 2]) for x in range(0, stride, bpp)])
        prev = line
    return Png(width, height, rows)


def write_png(png: Png, path: Path) -> Path:
    """Write ``png`` as an RGB PNG (to save a crop of a screenshot)."""
    raw = b"".join(b"\x00" + bytes(c for px in row for c in px) for row in png.rows)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    head = struct.pack(">IIBBBBB", png.width, png.height, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", head) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")
    Path(path).write_bytes(b"\x89PNG\r\n\x1a\n" + body)
    return Path(path)


def _unfilter(ftype: int, line: bytearray, prev: bytearray, bpp: int) -> None:
    n = len(line)
    if ftype == 0:
        return
    if ftype == 1:
        for x in range(bpp, n):
            line[x] = (line[x] + line[x - bpp]) & 0xFF
    elif ftype == 2:
        for x in range(n):
            line[x] = (line[x] + prev[x]) & 0xFF
    elif ftype == 3:
        for x in range(n):
            left = line[x - bpp] if x >= bpp else 0
            line[x] = (line[x] + ((left + prev[x]) >> 1)) & 0xFF
    elif ftype == 4:
        for x in range(n):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
            line[x] = (line[x] + pred) & 0xFF
    else:
        raise ValueError(f"unknown PNG filter {ftype}")
