"""Parse and format the points in time that select a range of frames.

A point is given as a timecode ``HH:MM:SS(.mmm)`` or ``MM:SS(.mmm)``, as seconds
(``90``, ``12.5``, ``12.5s``), or as a frame number ``f1200`` (the 1201st frame,
counting from ``f0``). Times are exact fractions, so ``00:00:01.04`` at 25 fps is
frame 26 and not a float that rounds to either side of it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction

from .errors import RangeError

__all__ = ["TimePoint", "parse_frame_rate", "parse_timepoint", "format_seconds"]

_CLOCK = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:\.\d+)?)$")
_SECONDS = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)s?$")
_FRAME = re.compile(r"^f(\d+)$")
_RATE = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)(?:/(\d+))?$")
#: The longest time text taken; ``HH:MM:SS.mmm`` has 12 characters, a frame number of a week at 1000 fps 10.
_LONGEST = 40


@dataclass(frozen=True)
class TimePoint:
    """A point in a video: either ``seconds`` from the first frame or a ``frame`` index.

    Exactly one of the two is set. ``text`` keeps what the user typed, for messages.
    """

    seconds: Fraction | None = None
    frame: int | None = None
    text: str = ""

    def __post_init__(self) -> None:
        if (self.seconds is None) == (self.frame is None):
            raise ValueError("a TimePoint has either seconds or a frame, not both or neither")
        if self.seconds is not None and self.seconds < 0:
            raise RangeError(f"a time must not be negative, got {self.text or self.seconds}")
        if self.frame is not None and self.frame < 0:
            raise RangeError(f"a frame number must not be negative, got {self.text or self.frame}")

    def to_seconds(self, fps: Fraction) -> Fraction:
        """The time of this point, in seconds from the first frame.

        A frame number ``fN`` maps to the middle of the gap before frame N at the
        nominal rate, ``(N - 1/2) / fps``, so a frame whose timestamp was rounded to
        the container's time base still falls on the right side of the boundary.
        """
        if self.seconds is not None:
            return self.seconds
        assert self.frame is not None
        if self.frame == 0:
            return Fraction(0)
        return (Fraction(self.frame) - Fraction(1, 2)) / fps

    def __str__(self) -> str:
        if self.text:
            return self.text
        return f"f{self.frame}" if self.frame is not None else format_seconds(self.seconds)


def parse_timepoint(text: str | float | int | TimePoint) -> TimePoint:
    """Parse ``HH:MM:SS.mmm``, ``MM:SS``, seconds (``12.5`` or ``12.5s``) or ``f1200``.

    >>> parse_timepoint("00:01:02.5").seconds
    Fraction(125, 2)
    >>> parse_timepoint("f48").frame
    48

    Raises:
        RangeError: the text is none of these forms.
    """
    if isinstance(text, TimePoint):
        return text
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        if isinstance(text, float) and not math.isfinite(text):
            raise RangeError(f"a time must be a finite number, got {text}")
        if text < 0:
            raise RangeError(f"a time must not be negative, got {text}")
        if text >= 10**_LONGEST:
            raise RangeError(f"a time must be below 1e{_LONGEST} seconds")
        return TimePoint(seconds=Fraction(str(text)), text=str(text))
    raw = str(text).strip()
    if len(raw) > _LONGEST:  # (and Python converts at most 4300 digits to a number)
        raise RangeError(f"malformed time {raw[:_LONGEST]!r}...: longer than {_LONGEST} characters")
    if m := _FRAME.match(raw):
        return TimePoint(frame=int(m.group(1)), text=raw)
    if m := _SECONDS.match(raw):
        return TimePoint(seconds=Fraction(m.group(1)), text=raw)
    if m := _CLOCK.match(raw):
        hours = int(m.group(1) or 0)
        minutes = int(m.group(2))
        seconds = Fraction(m.group(3))
        if minutes >= 60 or seconds >= 60:
            raise RangeError(f"malformed timecode {raw!r}: minutes and seconds must be below 60")
        return TimePoint(seconds=hours * 3600 + minutes * 60 + seconds, text=raw)
    raise RangeError(
        f"malformed time {raw!r}: expected HH:MM:SS(.mmm), seconds such as 12.5, "
        f"or a frame number such as f1200"
    )


def format_seconds(seconds: float | Fraction | None) -> str:
    """Format seconds as ``HH:MM:SS.mmm`` (``--:--:--`` when unknown)."""
    if seconds is None:
        return "--:--:--"
    millis = round(float(seconds) * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def parse_frame_rate(text: str | float | int | Fraction) -> Fraction:
    """A frame rate as an exact fraction: ``24``, ``25``, ``24000/1001``, or a decimal.

    A decimal within 0.001 of an NTSC rate (``23.976``, ``29.97``, ``59.94``) is taken for it,
    ``24000/1001`` and so on, as a scanner's or a DPX header's rounded value means.

    >>> parse_frame_rate("23.976")
    Fraction(24000, 1001)

    Raises:
        RangeError: not a positive number or ratio, or above 1000.
    """
    if isinstance(text, int) and not isinstance(text, bool) and not 0 < text <= 1000:
        text = Fraction(text)  # (said as a fraction below: Python writes at most 4300 digits)
    if isinstance(text, Fraction):
        rate, shown = text, str(text) if abs(text) < 10**_LONGEST else f"a number of over {_LONGEST} digits"
    else:
        shown = str(text).strip()
        m = _RATE.match(shown) if len(shown) <= _LONGEST else None  # (and int() takes 4300 digits at most)
        if m is None or (m.group(2) is not None and int(m.group(2)) == 0):
            raise RangeError(f"malformed frame rate {shown[:_LONGEST]!r}: expected a number such as 24 or 23.976, "
                             f"or a ratio such as 24000/1001")
        rate = Fraction(m.group(1)) / (int(m.group(2)) if m.group(2) else 1)
        if m.group(2) is None and rate.denominator != 1:
            ntsc = Fraction(round(rate * Fraction(1001, 1000)) * 1000, 1001)
            if ntsc and abs(rate - ntsc) < Fraction(1, 1000):
                rate = ntsc
    if not 0 < rate <= 1000:
        raise RangeError(f"a frame rate must be above 0 and at most 1000 fps, got {shown}")
    return rate
