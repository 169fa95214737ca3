"""Tone correction (``--grade auto``, off by default): levels and colour cast of faded prints, per shot.

Two classic automatic corrections, both measured on the frame shrunk to about 160 pixels wide:

* **Colour cast**: grey world (Buchsbaum, 1980): the three channel means of a scene average to
  grey, so each channel gets the gain that brings its mean to the mean of the three. Scenes that
  really are one colour (a sunset, a lawn) break the assumption, so each gain is limited to
  ``[1 / (1 + max_cast), 1 + max_cast]``.
* **Levels**: robust percentiles (``low_percentile`` and ``high_percentile`` of the balanced luma,
  so a few specks do not count) are the black and white points, the "auto levels" of photo
  editors. A black point above ``black`` (raised blacks) is brought down to it and a white point
  below ``white`` (dulled whites) up to it; a picture already spanning ``black..white`` keeps its
  levels. The stretch is limited to ``max_gain``; when it is, the range is centred.

The estimate (three gains and two levels) is a running mean over the shot: the mean of all the
shot's frames so far for its first ``horizon`` frames, then an exponential average with weight
``1 / horizon``. Each frame counts in proportion to its range of luma (up to half the full
range), and a frame whose range is wider than the estimate's discounts the frames before it (by
the ratio of ranges to the 8th power), so the dark frames of a fade-in do not set the levels of
the shot that follows. The correction therefore changes slowly within a shot and does not
flicker; a fade-out of a dozen frames moves it a little. It restarts at each cut. No look-ahead is needed, so
the API is one call per frame: :meth:`Grader.apply`. Frames are full-range RGB (0..255), as the
reader decodes them.

Frames of a source of more than 8 bits (RGB uint16, 0..65535) are measured on their 8-bit view
(:func:`~vidstyle.io.depth.to_8bit`), so the estimate and the report are those of the 8-bit
picture, and graded at their own depth through a table of every 16-bit level.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import ConfigError
from ..io.depth import to_8bit
from .flicker import shrink
from .levels import apply_table, check_rgb, level_table

__all__ = ["GradeSettings", "Grader", "estimate_grade", "grade_table"]

#: BT.601 luma weights of R, G, B.
_LUMA = np.array([0.299, 0.587, 0.114])


@dataclass(frozen=True)
class GradeSettings:
    """How :class:`Grader` estimates and applies the tone correction."""

    low_percentile: float = 0.5
    """Percentile of luma taken as black, in [0, 10]."""
    high_percentile: float = 99.5
    """Percentile of luma taken as white, in [90, 100]."""
    black: float = 12.0
    """Black level, in [0, 64]: a black point above it is brought down to it; one below is kept."""
    white: float = 240.0
    """White level, in [192, 255]: a white point below it is brought up to it; one above is kept.
    Between the two a print that was not faded is left as it is."""
    max_shift: float = 32.0
    """Largest move of the black or the white point, grey levels in [0, 128]. A bright scene
    without blacks (high key) looks like raised blacks; this bounds what it costs. The damage
    model's strongest fade raises blacks by 38 levels at most."""
    max_gain: float = 1.6
    """Largest stretch of the levels, in [1, 4] (a print faded to 60 % of its range comes back
    whole)."""
    max_cast: float = 0.25
    """Largest correction of one channel by the grey-world balance, relative, in [0, 1]."""
    horizon: int = 48
    """Frames over which the running estimate averages, in [1, 10000]."""
    stats_width: int = 160
    """Frames are measured shrunk to about this width in pixels, in [16, 4096]."""

    def __post_init__(self) -> None:
        for name, low, high in [("low_percentile", 0.0, 10.0), ("high_percentile", 90.0, 100.0),
                                ("black", 0.0, 64.0), ("white", 192.0, 255.0), ("max_shift", 0.0, 128.0),
                                ("max_gain", 1.0, 4.0),
                                ("max_cast", 0.0, 1.0)]:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
                raise ConfigError(f"grade {name} must be a number in [{low}, {high}], got {value!r}")
        for name, low, high in [("horizon", 1, 10000), ("stats_width", 16, 4096)]:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ConfigError(f"grade {name} must be an integer in [{low}, {high}], got {value!r}")


def estimate_grade(frame: np.ndarray, settings: GradeSettings = GradeSettings()) -> np.ndarray:
    """One frame's estimate: float64 (5,) = gains of R, G, B (grey world, limited), then the low
    and high percentiles of the balanced luma in grey levels. ``frame`` is RGB uint8 or uint16
    (H, W, 3), measured on its 8-bit view."""
    check_rgb(frame)
    pixels = shrink(to_8bit(frame), settings.stats_width).reshape(-1, 3).astype(np.float64)
    means = np.maximum(pixels.mean(axis=0), 1.0)
    limit = 1.0 + settings.max_cast
    gains = np.clip(means.mean() / means, 1.0 / limit, limit)
    luma = (pixels * gains) @ _LUMA
    low, high = np.percentile(luma, [settings.low_percentile, settings.high_percentile])
    return np.array([*gains, low, high])


def grade_table(estimate: np.ndarray, settings: GradeSettings = GradeSettings(), *,
                dtype: np.dtype | type = np.uint8) -> np.ndarray:
    """The lookup table of an estimate (see :func:`estimate_grade`) for frames of ``dtype``: uint8
    (256, 1, 3), for ``cv2.LUT`` on an RGB uint8 frame, or uint16 (65536, 1, 3), the same curves
    at every 16-bit level (:func:`~vidstyle.restore.levels.apply_table` applies either)."""
    gains, (low, high) = estimate[:3], estimate[3:]
    span = max(high - low, 1.0)
    black = max(min(low, settings.black), low - settings.max_shift)
    white = min(max(high, settings.white), high + settings.max_shift)
    stretch = min((white - black) / span, settings.max_gain)
    black += 0.5 * ((white - black) - span * stretch)  # centred when the stretch was limited
    table = level_table(lambda levels: (levels * gains[None, :] - low) * stretch + black, dtype)
    return table.reshape(-1, 1, 3)


class Grader:
    """Per-shot tone correction with a running estimate, reset at cuts.

    Example::

        grader = Grader()
        for frame, cut in stream:              # RGB uint8 or uint16 (H, W, 3), True on a shot's first frame
            write(grader.apply(frame, cut))
        grader.report()
    """

    def __init__(self, settings: GradeSettings = GradeSettings()) -> None:
        if not isinstance(settings, GradeSettings):
            raise TypeError(f"settings must be a GradeSettings, got {type(settings).__name__}")
        self.settings = settings
        self._estimate: np.ndarray | None = None
        self._weight = 0.0  # frames of evidence in the running estimate, up to the horizon
        self._shots: list[dict] = []

    def apply(self, frame: np.ndarray, cut: bool) -> np.ndarray:
        """Frame t corrected (RGB uint8 or uint16 (H, W, 3), a new array of the frame's dtype);
        ``cut`` on a shot's first frame. Measured on the frame's 8-bit view, graded at its depth."""
        check_rgb(frame)
        view = to_8bit(frame)  # what is measured; the frame is graded at its own depth
        current = estimate_grade(view, self.settings)
        if cut or self._estimate is None:
            self._estimate, self._weight = current, 0.0
            self._shots.append({"frames": 0, "max_change": 0.0})
        shot = self._shots[-1]
        shot["frames"] += 1
        # A dark or flat frame (the black of a fade) says little about the print's levels: it
        # counts in proportion to its range of luma, and a frame whose range is wider than the
        # estimate's (the end of a fade-in) discounts the evidence gathered so far.
        weight = float(np.clip((current[4] - current[3]) / 128.0, 0.01, 1.0))
        narrower = max(self._estimate[4] - self._estimate[3], 1.0) / max(current[4] - current[3], 1.0)
        self._weight *= min(1.0, narrower) ** 8
        self._weight = min(self._weight + weight, float(self.settings.horizon))
        self._estimate = self._estimate + (weight / self._weight) * (current - self._estimate)
        table = grade_table(self._estimate, self.settings)
        small = shrink(view, self.settings.stats_width)
        change = float(np.abs(cv2.LUT(small, table).mean(axis=(0, 1)) - small.mean(axis=(0, 1))).max())
        shot["max_change"] = max(shot["max_change"], round(change, 2))
        shot["gains"] = [round(float(g), 3) for g in self._estimate[:3]]
        shot["levels"] = [round(float(v), 1) for v in self._estimate[3:]]
        if frame.dtype != np.uint8:
            table = grade_table(self._estimate, self.settings, dtype=frame.dtype)
        return apply_table(frame, table)

    def report(self) -> dict:
        """Per shot: ``frames``, ``max_change`` (largest move of a channel's mean, grey levels) and
        the last estimate (``gains`` of R, G, B; ``levels``: black and white points); and totals."""
        shots = [dict(shot) for shot in self._shots]
        return {"shots": shots, "frames": sum(s["frames"] for s in shots)}
