"""Flicker: frame-to-frame changes of brightness and contrast that the content does not explain.

The method follows ffmpeg's ``deflicker`` filter (the brightness of each frame is pulled toward an
average of its neighbours' brightness over a window of frames), made motion-aware in the way
film restorers measure flicker (Decencière's and van Roosmalen's intensity-flicker models, where
a frame is a gain and an offset of its predecessor wherever the content matches):

1. **Measure.** Frame t and frame t-1 warped onto it along the DIS flow (``prev_w``) show the same
   content wherever the flow is reliable (``prev_ok``). On those pixels, at reduced size (grain
   and warp blur average out), frame t's luma is fitted as ``a * prev + b``: a median offset
   first, then the mean and spread of the pixels that agree with it, refitted after rejecting
   residuals beyond 3 robust deviations, so dust, dirt and objects that the flow missed do not
   bias it. Moving content is explained by the flow and so is not taken for flicker; a scene's
   own change of light (a fade) is measured like flicker, and the next step tells them apart.
2. **Trajectory.** Chained over the shot, the fits give each frame's brightness as an affine map
   ``G_t * x + O_t`` of the shot's first frame.
3. **Target.** The target trajectory is a local linear fit of ``G`` and ``O`` over the frames
   around t in the same shot (triangular weights). It follows any linear ramp exactly, so a real
   fade keeps fading and a fade to black still reaches black on the same frame, while flicker,
   which changes from frame to frame, is averaged away. The window is chosen per frame by
   Katkovnik's intersection of confidence intervals (windows of 1, 2, 4, 8, 16 and 24 frames widened
   while their estimates agree within the measured flicker), so flicker is averaged over many
   frames while the start of a fade is followed closely. At a shot's ends the window shrinks to
   the frames the shot has (the line still follows a ramp there). The map is smoothed as two
   readings of the frame under each frame's light, each with its own window and its own test of
   its trend: its mean brightness (``level``) and its contrast (``G_t`` times the spread of its
   luma). Read on the mean alone, a change of contrast under a steady mean (gain up, offset down)
   had no trend, and at a shot's ends, where the window is one-sided, its lagging average was
   taken for the target: on bikes.mp4's clean training frames (the stage's flicker part alone)
   the last frames of two shots moved by up to 1.2 levels RMS, and the part changed the clean
   frames by 0.149 squared levels per pixel; smoothed apart, 0.049, with the flicker left on the
   damaged training clips where it was (below, :data:`_ICI_WIDTH`'s material: REEL_DAMAGE three
   seeds and the independent damage two, bigbuckbunny.mp4 frames 0-89 and bikes.mp4's 175, mean
   ratio to the clean frames' 1.541 -> 1.536) and a fade to black as it was (PSNR-Y within 0.01 dB).
   Last, each frame's target map is averaged with its neighbours' (triangular, ``smoothing`` frames
   either side, the window symmetric), so a frame whose window was narrowed does not jump away
   from the frames around it (:attr:`FlickerSettings.smoothing`).
4. **Correct.** Frame t is mapped by the affine map that takes ``(G_t, O_t)`` to the target, the
   same on R, G and B, limited to ``max_change`` and applied through a lookup table (clipped
   to 0..255).

Frames of a source of more than 8 bits (RGB uint16) are measured on their 8-bit view
(:func:`~vidstyle.io.depth.to_8bit`), so the fits, the trajectory and the report are those of the
8-bit picture, and corrected at their own depth: the same gain, the offset scaled by 257 (one
grey level is 257 levels of 65535), through a table of every 16-bit level.

Nothing is smoothed across a cut: the trajectory restarts at each shot. Only global flicker is
corrected: the damage model's flicker (:mod:`vidstyle.damage`) is global, so a per-region
correction could not be shown to help on training material and is not built.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from itertools import islice

import cv2
import numpy as np

from ..errors import ConfigError
from ..io.depth import to_8bit
from .levels import apply_table, check_rgb, level_table

__all__ = ["Deflicker", "FlickerSettings", "fit_brightness", "luma_small", "shrink", "smoothed_at"]

#: Pixels this close to 0 or 255 (at reduced size) are clipped in one frame or the other and say
#: nothing about the gain.
_CLIPPED_LOW, _CLIPPED_HIGH = 2.0, 253.0
#: Below this spread of luma (grey levels) a frame is too flat to tell gain from offset: only a
#: gain is fitted (the exposure model of flicker; it is also what a fade to black is).
_FLAT_SPREAD = 6.0
#: A frame's correction counts in :meth:`Deflicker.report` when it moves the mean this much.
_COUNTED_MOVE = 0.5
#: Half-width of the confidence intervals that choose the smoothing window, in standard deviations
#: of the flicker. The noise is read from second differences, as if the flicker were new on every
#: frame; film flicker wanders (it is correlated from frame to frame), and at 2 a frame whose
#: brightness stood out got a narrow window and kept part of its flicker. Chosen on training
#: material, the stage alone: bigbuckbunny.mp4 frames 0-89 under REEL_DAMAGE (seeds 1-3) and
#: bikes.mp4's training frames went from 1.14/1.24/1.51/0.95x the clean frames' mean change of
#: average brightness at 2 to 1.14/1.15/1.51/0.91x at 2.5, 3 and 4; a fade to black (the same
#: frames faded out over their last 30, two seeds) lost 0.03-0.05 dB PSNR-Y at 2.5 and 3, 0.09 at
#: 4; on clean bikes.mp4 (tests/test_restore_flicker.py) 1 frame moved by > 0.5 levels at 2 and
#: 2.5, 4 at 3. So 2.5.
_ICI_WIDTH = 2.5
#: The mean of the neighbours' targets (:attr:`FlickerSettings.smoothing`) moves a frame's own
#: target by at most this many standard deviations of the flicker (:func:`flicker_noise`). Where
#: there is no flicker, a real kink (a fade's start, with the intervals' windows narrowed on it)
#: is kept: unlimited, the mean moved the frames of a clean fade to black by up to 6 levels
#: (tests/test_restore_flicker.py); at 0.5 to 3 not at all, and on the flickering training clips
#: the limit never binds (the same figures at 1, 2 and 3).
_SMOOTHING_LIMIT = 2.0


@dataclass(frozen=True)
class FlickerSettings:
    """How :class:`Deflicker` measures and corrects flicker."""

    radius: int = 24
    """Widest half-width of the smoothing window in frames (1 to 30); it is also the look-ahead
    (:attr:`Deflicker.delay`), so the frames held grow with it. 16 was chosen on training material
    (the tests' moving chelsea crops with +-8 % random flicker, three seeds: the mean change of
    average brightness was 1.0-1.35x the clean clip's at 16, 1.2-2.0x at 8, 2.7-3.4x at 4).
    24 was tried once the repair's flow no longer took flicker for motion
    (:func:`vidstyle.restore.stage.same_brightness`): on training material it left less
    (REEL_DAMAGE, three seeds, the flicker part: bigbuckbunny.mp4 frames 0-89 1.14-1.51x the clean
    frames' at 16, 0.91-0.98x at 24; bikes.mp4 frames 0-169, with cuts and real changes of light,
    0.93-1.03x at both, PSNR-Y 0.02-0.05 dB lower at 24), but not on the benchmark's held-out
    bigbuckbunny.mp4 (worn reel 2.60x at both, independent damage 3.00x at 16 and 3.41x at 24,
    measured with the stage as it then was), and it holds half as many frames again: it stayed 16.
    24 since 2026-12-07, chosen on training material only (``python -m pipelines.repair_check flicker``, the
    whole stage): on a still shot the window is what the flicker left is made of (under white flicker of
    deviation s, the triangular window's output steps by about s sqrt(2 r + 2) / (r + 1)^2 a frame: 0.07
    levels for the worn reel's 3.7 at 16, against 0.04 of frame-to-frame change in bigbuckbunny.mp4's clean
    frames 45-84). The mean change of average brightness against the clean frames' on ten damaged clips
    (REEL_DAMAGE seeds 1-3 and the independent damage seeds 4242 and 4243, on bigbuckbunny.mp4's frames 0-89
    and bikes.mp4's training frames) 1.174x at 16, 1.103x at 24, 1.084x at 30; forty-frame clips of
    bigbuckbunny.mp4 (frames 0-39 and 45-84, REEL_DAMAGE seeds 1-5) 1.99x, 1.64x, 1.62x (the still frames
    45-84: 2.6-3.5x at 16, 2.2-2.7x at 24); the independent damage's seeds 4243-4246 on frames 0-89
    1.86/2.96/1.86/4.18x, 1.95/2.87/1.78/3.83x, 1.86/2.84/1.77/3.80x; a fade to black over the last 30 frames (two
    seeds) 29.42 and 29.25 dB PSNR-Y at 16, 29.44 and 29.25 at 24 and 30; the flicker part's squared change
    to bikes.mp4's clean training frames 0.059, 0.058, 0.057. 30 gains little more and holds another 6 frames."""
    smoothing: int = 3
    """Half-width in frames of the triangular mean taken over the neighbours' targets (0 to 8), so
    that a frame whose window the confidence intervals narrowed does not jump away from its
    neighbours. Flicker that wanders (the independent damage's brightness is an AR(1) walk) makes
    runs that the intervals take for the start of a fade: the target then followed the run for a
    few frames and fell back, and those jumps were most of what was left. The window is symmetric
    and shrinks at a shot's ends, so a linear ramp is kept exactly. Chosen on training material
    (the stage, all parts: REEL_DAMAGE three seeds and the independent damage two, on
    bigbuckbunny.mp4 frames 0-89 and bikes.mp4's 175 training frames; the mean change of average
    brightness against the clean frames', mean of the 10 clips; and what the flicker part changes
    on bikes.mp4's clean training frames, squared levels per pixel): 0 1.529x / 0.049, 2 1.422x /
    0.052, 3 1.381x / 0.058, 4 1.352x / 0.066, 6 1.308x / 0.092; a fade to black over the last 30
    frames (two seeds) within 0.01 dB PSNR-Y at 3. Beyond 3 each frame more gains less and harms the
    clean frames more. The look-ahead (:attr:`Deflicker.delay`) is ``radius + smoothing``."""
    max_change: float = 0.25
    """Largest correction: the gain stays in [1/(1 + max_change), 1 + max_change] and the offset
    within +-max_change * 255 levels (0 to 1)."""
    stats_width: int = 160
    """Frames are measured shrunk to about this width in pixels (16 to 4096)."""
    min_reliable: float = 0.05
    """Share of the (shrunk) picture that must be reliable and unclipped to measure a frame
    (0 to 1); a frame with less is taken to have the brightness of its predecessor."""

    def __post_init__(self) -> None:
        _check("radius", self.radius, 1, 30, integer=True)
        _check("smoothing", self.smoothing, 0, 8, integer=True)
        _check("max_change", self.max_change, 0.0, 1.0)
        _check("stats_width", self.stats_width, 16, 4096, integer=True)
        _check("min_reliable", self.min_reliable, 0.0, 1.0)


def _check(name: str, value: object, low: float, high: float, *, integer: bool = False) -> None:
    kinds = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    if isinstance(value, bool) or not isinstance(value, kinds) or not low <= value <= high:
        kind = "an integer" if integer else "a number"
        raise ConfigError(f"flicker {name} must be {kind} in [{low}, {high}], got {value!r}")


def luma_small(frame: np.ndarray, width: int) -> np.ndarray:
    """Luma (BT.601) of an RGB uint8 or uint16 (H, W, 3) frame (of its 8-bit view; or a luma uint8
    (H, W) frame as it is), shrunk (INTER_AREA) to about ``width`` pixels wide by an integer factor;
    float32 (h, w) in grey levels 0..255."""
    grey_in = frame.ndim == 2 and frame.dtype == np.uint8
    if not grey_in:
        check_rgb(frame)
    grey = frame if grey_in else cv2.cvtColor(to_8bit(frame), cv2.COLOR_RGB2GRAY)
    return shrink(grey.astype(np.float32), width)


def shrink(image: np.ndarray, width: int) -> np.ndarray:
    """``image`` shrunk (INTER_AREA) by the integer factor that brings it to about ``width`` pixels
    wide; as it is when that factor is 1. The statistics of flicker and grade are taken at this size."""
    h, w = image.shape[:2]
    factor = max(1, round(w / width))
    if factor == 1:
        return image
    return cv2.resize(image, (max(1, w // factor), max(1, h // factor)), interpolation=cv2.INTER_AREA)


def fit_brightness(current: np.ndarray, previous: np.ndarray, usable: np.ndarray,
                   min_pixels: int = 50) -> tuple[float, float] | None:
    """Robust fit of ``current ~ a * previous + b`` over the ``usable`` pixels.

    Args:
        current, previous: float32 (h, w) luma in grey levels, the same content (``previous``
            warped onto ``current``).
        usable: bool (h, w), True where the content matches and neither value is clipped.
        min_pixels: fewer usable pixels than this give None.

    Returns:
        ``(a, b)`` (gain, offset in grey levels), or None when the frames say nothing (too few
        pixels, or both nearly black).
    """
    y = current[usable].astype(np.float64)
    p = previous[usable].astype(np.float64)
    if y.size < min_pixels:
        return None
    a, b = 1.0, float(np.median(y - p))
    for _ in range(2):
        residual = y - (a * p + b)
        spread = 1.4826 * float(np.median(np.abs(residual - np.median(residual))))
        keep = np.abs(residual - np.median(residual)) <= 3.0 * spread + 1.0
        if keep.sum() < min_pixels:
            return None
        yk, pk = y[keep], p[keep]
        if pk.std() >= _FLAT_SPREAD and yk.std() > 0:
            a = float(yk.std() / pk.std())
            b = float(yk.mean() - a * pk.mean())
        elif pk.mean() >= 4.0:
            a, b = float(yk.mean() / pk.mean()), 0.0
        else:
            return None
    return a, b


def _weights(offsets: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray]:
    """Triangular weights over ``|offset| <= radius`` (normalised), and the coefficients ``c`` with
    ``c @ values`` = the weighted least-squares line through ``values`` at offset 0."""
    w = np.clip(1.0 - np.abs(offsets) / (radius + 1.0), 0.0, None)
    w /= w.sum()
    x = offsets - (w * offsets).sum()
    spread = (w * x * x).sum()
    if np.count_nonzero(w) < 3 or spread <= 0:
        return w, w
    return w, w - (w * offsets).sum() * w * x / spread


def _radius_by_ici(offsets: np.ndarray, level: np.ndarray, radius: int, sigma: float) -> int:
    """The widest window whose line estimate agrees with every narrower one (Katkovnik's
    intersection of confidence intervals, :data:`_ICI_WIDTH` standard deviations)."""
    low, high, best = -np.inf, np.inf, 1
    for r in sorted({min(2**k, radius) for k in range(6)}):
        line = _weights(offsets, r)[1]
        estimate, spread = float(line @ level), _ICI_WIDTH * sigma * float(np.sqrt(line @ line))
        low, high = max(low, estimate - spread), min(high, estimate + spread)
        if low > high:
            break
        best = r
    return best


def flicker_noise(level: np.ndarray) -> float:
    """The flicker's standard deviation in grey levels, read from the second differences of
    ``level`` (n,) (median, so a kink does not count), as if it were new on every frame;
    at least 0.05 (and 0.05 for fewer than 3 values)."""
    if len(level) < 3:
        return 0.05
    second = level[2:] - 2.0 * level[1:-1] + level[:-2]
    return max(1.4826 * float(np.median(np.abs(second))) / np.sqrt(6.0), 0.05)


def smoothed_at(offsets: np.ndarray, values: np.ndarray, level: np.ndarray, radius: int) -> np.ndarray:
    """The target of the frame at offset 0: a local linear fit of ``values`` (n, k) over the frames
    at ``offsets`` (n,) (consecutive, 0 among them), evaluated at 0.

    ``level`` (n,) is the frame's mean brightness under each frame's light, in grey levels; it
    chooses the window. The noise is estimated from its second differences (median, so a kink
    does not count); windows of 1, 2, 4, ... ``radius`` frames are widened while their estimates
    agree (:func:`_radius_by_ici`), so flicker is averaged over many frames while the start of a
    fade is followed closely. Weights are triangular: on a centred window the fit is a weighted
    mean whose frame-to-frame change under white flicker is about 2.5x smaller than a box's. On a
    one-sided window (a shot's ends) the line is extrapolated, so a ramp that runs to the shot's
    end is followed; its slope is kept only where it stands out of the noise (t above 2, shrunk
    below 4), so that flicker alone does not tilt the line at the ends. The slope's error counts
    the flicker's correlation from frame to frame (rho, the lag-one autocorrelation of the
    residuals about the line over a window of 6 frames or more, 0 to 0.9; the error's variance
    grows by (1 + rho) / (1 - rho), as for the mean of an AR(1) series): flicker that wanders
    drifts one way for several frames, and at a shot's ends the line had followed that drift.
    On training material (the stage, 10 clips as for :attr:`FlickerSettings.smoothing`) the
    flicker left fell from 1.381x to 1.342x the clean frames' (bigbuckbunny.mp4 under the worn
    reel, seed 3: 1.60x -> 1.35x, most of it on the last 7 frames), the flicker part's change of
    bikes.mp4's clean frames went 0.058 -> 0.059 squared levels, a fade to black as it was, and a
    ramp under white flicker (rho about 0) keeps its slope (tests/test_restore_flicker.py).
    """
    if len(offsets) < 3:
        return values.mean(axis=0)
    sigma = flicker_noise(level)
    chosen = _radius_by_ici(offsets, level, radius, sigma)
    flat, line = _weights(offsets, chosen)
    x = offsets - (flat * offsets).sum()
    spread = (flat * x * x).sum()
    if spread <= 0:
        return flat @ values
    slope = float((flat * x) @ level) / spread
    error_sq = sigma**2 * float(((flat * x) ** 2).sum()) / spread**2
    used = flat > 0
    if used.sum() >= 6:  # flicker that wanders: the slope's error grows with its correlation
        residual = (level - flat @ level - slope * x)[used]
        rho = float(np.clip(residual[1:] @ residual[:-1] / max(float(residual @ residual), 1e-12), 0.0, 0.9))
        error_sq *= (1.0 + rho) / (1.0 - rho)
    shrink = float(np.clip(1.0 - 4.0 * error_sq / max(slope**2, 1e-12), 0.0, 1.0))
    return flat @ values + shrink * ((line - flat) @ values)


@dataclass
class _Held:
    frame: np.ndarray
    index: int  # in its shot
    luma: np.ndarray  # shrunk, for the report


@dataclass
class _Aim:
    """A frame with its place on the trajectory (``gain``, ``offset``: its light as a map of the
    shot's first frame's), the target of that map, its mean brightness under the first frame's
    light (``content``) and the flicker's deviation around it (``sigma``), grey levels."""

    held: _Held
    gain: float
    offset: float
    target_gain: float
    target_offset: float
    content: float
    sigma: float


class Deflicker:
    """Streaming flicker correction with ``delay`` frames of look-ahead, reset at cuts.

    Push the frames of the film in order; pop returns them corrected, in the same order, once
    ``delay`` later frames of the same shot (or a cut) have arrived; flush returns the rest at the
    end. Memory: ``delay + 1`` frames and ``2 radius + 1`` pairs of floats.

    Example::

        deflicker = Deflicker()
        for frame, prev_w, prev_ok, cut in stream:       # uint8 (H, W, 3), uint8 (H, W, 3), bool (H, W)
            deflicker.push(frame, prev_w, prev_ok, cut)
            while (out := deflicker.pop()) is not None:
                write(out)
        for out in deflicker.flush():
            write(out)
    """

    def __init__(self, settings: FlickerSettings = FlickerSettings()) -> None:
        if not isinstance(settings, FlickerSettings):
            raise TypeError(f"settings must be a FlickerSettings, got {type(settings).__name__}")
        self.settings = settings
        self.delay = settings.radius + settings.smoothing
        self._pending: deque[_Held] = deque()
        self._aimed: deque[_Aim] = deque()
        self._aim_history: deque[tuple[float, float]] = deque(maxlen=settings.smoothing)
        self._ready: deque[np.ndarray] = deque()
        self._trajectory: deque[tuple[int, float, float]] = deque()  # (index in shot, G, O)
        self._shots: list[dict] = []

    def push(self, frame: np.ndarray, prev_w: np.ndarray | None, prev_ok: np.ndarray | None,
             cut: bool) -> None:
        """Take frame t (RGB uint8 or uint16 (H, W, 3)) with frame t-1 warped onto it (RGB of
        either depth or its luma uint8 (H, W); None at a shot's start) and where that warp is
        reliable (bool (H, W)); ``cut`` on a shot's first frame. ``frame`` is held, not copied,
        until it is returned: do not write into it. It is measured on its 8-bit view and
        corrected at its own depth."""
        luma = luma_small(frame, self.settings.stats_width)
        if cut or not self._trajectory:
            self._end_shot()
            self._shots.append({"frames": 0, "frames_corrected": 0, "max_correction": 0.0})
            index, gain, offset = 0, 1.0, 0.0
        else:
            last, gain, offset = self._trajectory[-1]
            index = last + 1
            fit = self._measure(frame, luma, prev_w, prev_ok)
            if fit is not None:
                a, b = fit
                gain, offset = a * gain, a * offset + b
        self._shots[-1]["frames"] += 1
        self._trajectory.append((index, gain, offset))
        self._pending.append(_Held(frame, index, luma))
        while len(self._pending) > self.settings.radius:
            self._aimed.append(self._target(self._pending.popleft()))
        self._release(final=False)
        oldest = self._pending[0].index - self.settings.radius
        while self._trajectory[0][0] < oldest:
            self._trajectory.popleft()

    def pop(self) -> np.ndarray | None:
        """The oldest frame not yet returned, corrected (RGB (H, W, 3) of its own dtype), or None
        if it still waits for its look-ahead."""
        return self._ready.popleft() if self._ready else None

    def flush(self) -> list[np.ndarray]:
        """At the end of the film: every frame still held, corrected, in order."""
        self._end_shot()
        out = list(self._ready)
        self._ready.clear()
        return out

    def report(self) -> dict:
        """Per shot: ``frames``, ``frames_corrected`` (mean luma moved by more than 0.5 levels)
        and ``max_correction`` (largest move of a frame's mean luma, grey levels); and totals."""
        shots = [dict(shot) for shot in self._shots]
        return {"shots": shots, "frames": sum(s["frames"] for s in shots),
                "frames_corrected": sum(s["frames_corrected"] for s in shots)}

    def _measure(self, frame: np.ndarray, luma: np.ndarray, prev_w: np.ndarray | None,
                 prev_ok: np.ndarray | None) -> tuple[float, float] | None:
        if prev_w is None or prev_ok is None:
            return None
        if prev_w.shape[:2] != frame.shape[:2] or prev_ok.shape != frame.shape[:2]:
            raise ValueError(f"prev_w {prev_w.shape} and prev_ok {prev_ok.shape} must match the frame "
                             f"{frame.shape}")
        previous = luma_small(prev_w, self.settings.stats_width)
        reliable = shrink(prev_ok.astype(np.float32), self.settings.stats_width) >= 0.999
        usable = reliable & (luma > _CLIPPED_LOW) & (luma < _CLIPPED_HIGH)
        usable &= (previous > _CLIPPED_LOW) & (previous < _CLIPPED_HIGH)
        min_pixels = max(50, int(self.settings.min_reliable * luma.size))
        return fit_brightness(luma, previous, usable, min_pixels)

    def _end_shot(self) -> None:
        while self._pending:
            self._aimed.append(self._target(self._pending.popleft()))
        self._release(final=True)
        self._trajectory.clear()
        self._aim_history.clear()

    def _release(self, final: bool) -> None:
        """Correct the aimed frames whose later neighbours' targets are known (all of them at a
        shot's end): each by the mean of the targets around it, over a window symmetric about it,
        moved from its own by at most :data:`_SMOOTHING_LIMIT` deviations of the flicker."""
        reach = self.settings.smoothing
        while self._aimed and (final or len(self._aimed) > reach):
            aim = self._aimed.popleft()
            own = (aim.target_gain, aim.target_offset)
            before = list(self._aim_history)
            after = [(later.target_gain, later.target_offset) for later in islice(self._aimed, reach)]
            k = min(len(before), len(after))
            pairs = np.array(before[len(before) - k:] + [own] + after[:k], np.float64)
            w = np.array([k + 1 - abs(j - k) for j in range(2 * k + 1)], np.float64)
            step = (w / w.sum()) @ pairs - np.array(own)
            move = abs(step[0] * aim.content + step[1])  # of the frame's mean, grey levels
            if move > _SMOOTHING_LIMIT * aim.sigma:
                step *= _SMOOTHING_LIMIT * aim.sigma / move
            self._aim_history.append(own)
            self._ready.append(self._correct(aim, own[0] + float(step[0]), own[1] + float(step[1])))

    def _target(self, held: _Held) -> _Aim:
        radius = self.settings.radius
        window = [(i, g, o) for i, g, o in self._trajectory if abs(i - held.index) <= radius]
        offsets = np.array([i - held.index for i, _, _ in window], np.float64)
        values = np.array([(g, o) for _, g, o in window], np.float64)
        _, gain, offset = next(entry for entry in window if entry[0] == held.index)
        content = (float(held.luma.mean()) - offset) / gain if gain > 1e-3 else 128.0
        level = values[:, 0] * content + values[:, 1]
        spread = float(held.luma.std()) / gain if gain > 1e-3 else 0.0
        if gain * spread >= _FLAT_SPREAD:
            contrast = values[:, 0] * spread
            target_level = float(smoothed_at(offsets, level[:, None], level, radius)[0])
            target_gain = float(smoothed_at(offsets, contrast[:, None], contrast, radius)[0]) / spread
            target_offset = target_level - target_gain * content
        else:
            target_gain, target_offset = smoothed_at(offsets, values, level, radius)
        return _Aim(held, gain, offset, float(target_gain), float(target_offset), content, flicker_noise(level))

    def _correct(self, aim: _Aim, target_gain: float, target_offset: float) -> np.ndarray:
        held, gain, offset, limit = aim.held, aim.gain, aim.offset, self.settings.max_change
        scale = target_gain / gain if gain > 1e-6 else 1.0
        scale = float(np.clip(scale, 1.0 / (1.0 + limit), 1.0 + limit))
        shift = float(np.clip(target_offset - scale * offset, -255.0 * limit, 255.0 * limit))
        table = level_table(lambda levels: levels * scale + shift, held.frame.dtype)
        moved = abs(float(np.clip(held.luma * scale + shift, 0, 255).mean()) - float(held.luma.mean()))
        shot = self._shots[-1]
        shot["max_correction"] = max(shot["max_correction"], round(moved, 2))
        if moved > _COUNTED_MOVE:
            shot["frames_corrected"] += 1
        return apply_table(held.frame, table)
