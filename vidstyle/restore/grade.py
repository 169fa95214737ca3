"""Tone correction (``--grade auto``, off by default): levels and colour cast of faded prints, per shot.

Two classic automatic corrections, both measured on the frame shrunk to about 160 pixels wide:

* **Colour cast**: grey world (Buchsbaum, 1980): the three channel means of a scene average to
  grey, so each channel gets the gain that brings its mean to the mean of the three. Scenes that
  really are one colour (a sunset, a lawn) break the assumption, so each gain is limited to
  ``[1 / (1 + max_cast), 1 + max_cast]``.
* **Levels**: robust percentiles (``low_percentile`` and ``high_percentile`` of the balanced luma,
  so a few specks do not count) are stretched to 0 and 255, the "auto levels" of photo editors.
  The stretch is limited to ``max_gain``; when it is, the range is centred in 0..255.

The estimate (three gains and two levels) is a running mean over the shot: the mean of all the
shot's frames so far for its first ``horizon`` frames, then an exponential average with weight
``1 / horizon``. The correction therefore changes slowly within a shot and does not flicker; a
fade of a dozen frames moves it a little. It restarts at each cut. No look-ahead is needed, so
the API is one call per frame: :meth:`Grader.apply`. Frames are full-range RGB (0..255), as the
reader decodes them.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import ConfigError

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
                                ("max_gain", 1.0, 4.0), ("max_cast", 0.0, 1.0)]:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
                raise ConfigError(f"grade {name} must be a number in [{low}, {high}], got {value!r}")
        for name, low, high in [("horizon", 1, 10000), ("stats_width", 16, 4096)]:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ConfigError(f"grade {name} must be an integer in [{low}, {high}], got {value!r}")


def estimate_grade(frame: np.ndarray, settings: GradeSettings = GradeSettings()) -> np.ndarray:
    """One frame's estimate: float64 (5,) = gains of R, G, B (grey world, limited), then the low
    and high percentiles of the balanced luma in grey levels. ``frame`` is RGB uint8 (H, W, 3)."""
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 (H, W, 3) frame, got {frame.dtype} {frame.shape}")
    pixels = _shrink(frame, settings.stats_width).reshape(-1, 3).astype(np.float64)
    means = np.maximum(pixels.mean(axis=0), 1.0)
    limit = 1.0 + settings.max_cast
    gains = np.clip(means.mean() / means, 1.0 / limit, limit)
    luma = (pixels * gains) @ _LUMA
    low, high = np.percentile(luma, [settings.low_percentile, settings.high_percentile])
    return np.array([*gains, low, high])


def _shrink(frame: np.ndarray, width: int) -> np.ndarray:
    h, w = frame.shape[:2]
    factor = max(1, round(w / width))
    if factor == 1:
        return frame
    return cv2.resize(frame, (max(1, w // factor), max(1, h // factor)), interpolation=cv2.INTER_AREA)


def grade_table(estimate: np.ndarray, settings: GradeSettings = GradeSettings()) -> np.ndarray:
    """The lookup table of an estimate (see :func:`estimate_grade`): uint8 (256, 1, 3), for
    ``cv2.LUT`` on an RGB uint8 frame."""
    gains, (low, high) = estimate[:3], estimate[3:]
    span = max(high - low, 1.0)
    stretch = min(255.0 / span, settings.max_gain)
    black = 0.5 * (255.0 - span * stretch)  # 0 unless the stretch was limited
    levels = np.arange(256, dtype=np.float64)[:, None]
    table = (levels * gains[None, :] - low) * stretch + black
    return np.clip(table + 0.5, 0, 255).astype(np.uint8).reshape(256, 1, 3)


class Grader:
    """Per-shot tone correction with a running estimate, reset at cuts.

    Example::

        grader = Grader()
        for frame, cut in stream:              # RGB uint8 (H, W, 3), True on a shot's first frame
            write(grader.apply(frame, cut))
        grader.report()
    """

    def __init__(self, settings: GradeSettings = GradeSettings()) -> None:
        if not isinstance(settings, GradeSettings):
            raise TypeError(f"settings must be a GradeSettings, got {type(settings).__name__}")
        self.settings = settings
        self._estimate: np.ndarray | None = None
        self._shots: list[dict] = []

    def apply(self, frame: np.ndarray, cut: bool) -> np.ndarray:
        """Frame t corrected (RGB uint8 (H, W, 3), a new array); ``cut`` on a shot's first frame."""
        current = estimate_grade(frame, self.settings)
        if cut or self._estimate is None:
            self._estimate = current
            self._shots.append({"frames": 0, "max_change": 0.0})
        shot = self._shots[-1]
        shot["frames"] += 1
        weight = max(1.0 / shot["frames"], 1.0 / self.settings.horizon)
        self._estimate = self._estimate + weight * (current - self._estimate)
        table = grade_table(self._estimate, self.settings)
        small = _shrink(frame, self.settings.stats_width)
        change = float(np.abs(cv2.LUT(small, table).mean(axis=(0, 1)) - small.mean(axis=(0, 1))).max())
        shot["max_change"] = max(shot["max_change"], round(change, 2))
        shot["gains"] = [round(float(g), 3) for g in self._estimate[:3]]
        shot["levels"] = [round(float(v), 1) for v in self._estimate[3:]]
        return cv2.LUT(frame, table)

    def report(self) -> dict:
        """Per shot: ``frames``, ``max_change`` (largest move of a channel's mean, grey levels) and
        the last estimate (``gains`` of R, G, B; ``levels``: black and white points); and totals."""
        shots = [dict(shot) for shot in self._shots]
        return {"shots": shots, "frames": sum(s["frames"] for s in shots)}
