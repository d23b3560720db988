"""What a stored MP4 is: its duration (``moov/mvhd``) and picture size (the video track's
``tkhd``), read from the box headers alone (ISO/IEC 14496-12), without decoding anything.

Only the top-level boxes are walked on disk (``mdat`` is skipped, never read); ``moov`` is read
whole, which is small next to the media.
"""

import struct
from dataclasses import dataclass

MAX_MOOV_BYTES = 64 * 1024 * 1024  # a moov larger than this is not read (not a video we made)
CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl"}


class NotMP4(ValueError):
    """The file is not an MP4 this reader understands (no moov, no mvhd, truncated boxes)."""


@dataclass(frozen=True)
class Measured:
    seconds: float
    width: int | None
    height: int | None

    def record(self):
        """JSON-safe, for the task's params ("produced")."""
        measured = {"seconds": round(self.seconds, 3), "width": self.width, "height": self.height}
        return {key: value for key, value in measured.items() if value}


def _boxes(data, start=0, end=None):
    """(type, payload start, payload end) of each box in ``data[start:end]``."""
    end = len(data) if end is None else end
    while start + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, start)
        header = 8
        if size == 1:
            if start + 16 > end:
                raise NotMP4("truncated box header")
            (size,) = struct.unpack_from(">Q", data, start + 8)
            header = 16
        elif size == 0:
            size = end - start
        if size < header or start + size > end:
            raise NotMP4(f"box {kind!r} overruns its parent")
        yield kind, start + header, start + size
        start += size


def _find(data, path, start=0, end=None):
    """The payloads of the boxes at ``path`` (a list of types), depth first."""
    for kind, body, stop in _boxes(data, start, end):
        if kind == path[0]:
            if len(path) == 1:
                yield body, stop
            elif kind in CONTAINERS:
                yield from _find(data, path[1:], body, stop)


def _moov(file):
    """The moov box's payload (its child boxes), walking the file's top-level boxes."""
    file.seek(0)
    while True:
        header = file.read(8)
        if len(header) < 8:
            raise NotMP4("no moov box")
        size, kind = struct.unpack(">I4s", header)
        consumed = 8
        if size == 1:
            (size,) = struct.unpack(">Q", file.read(8))
            consumed = 16
        if kind == b"moov":
            if size == 0 or size > MAX_MOOV_BYTES:
                raise NotMP4("moov box too large")
            body = file.read(size - consumed)
            if len(body) < size - consumed:
                raise NotMP4("truncated moov box")
            return body
        if size == 0 or size < consumed:
            raise NotMP4("no moov box")
        file.seek(size - consumed, 1)


def measure(path):
    """The duration and picture size of the MP4 at ``path``; NotMP4 when it cannot be read."""
    with open(path, "rb") as file:
        moov = _moov(file)
    mvhd = next(_find(moov, [b"mvhd"]), None)
    if mvhd is None:
        raise NotMP4("no mvhd box")
    body = mvhd[0]
    version = moov[body]
    if version == 1:
        timescale, duration = struct.unpack_from(">IQ", moov, body + 20)
    else:
        timescale, duration = struct.unpack_from(">II", moov, body + 12)
    if not timescale:
        raise NotMP4("mvhd has no timescale")
    width = height = None
    for trak, stop in _find(moov, [b"trak"]):
        handler = next(_find(moov, [b"mdia", b"hdlr"], trak, stop), None)
        tkhd = next(_find(moov, [b"tkhd"], trak, stop), None)
        if handler is None or tkhd is None or moov[handler[0] + 8 : handler[0] + 12] != b"vide":
            continue
        # tkhd ends with width and height as 16.16 fixed point.
        w, h = struct.unpack_from(">II", moov, tkhd[1] - 8)
        width, height = w >> 16, h >> 16
        break
    return Measured(seconds=duration / timescale, width=width or None, height=height or None)
