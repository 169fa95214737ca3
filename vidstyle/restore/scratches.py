"""Vertical line scratches: thin lines that run down most of the frame, persist and drift.

A scratch on the print runs along the film, so on screen it is a thin vertical line, bright or
dark, over most of the picture's height, and it stays for many frames while drifting sideways by
a pixel or so per frame. The detector reads it from column profiles, as the line-scratch
detectors of Joyeux et al. ("Detection and removal of line scratches in motion picture films",
CVPR 1999) and Kokaram ("Detection and removal of line scratches in degraded motion picture
sequences", 1996) do:

* the white and black top-hats of the luma along its rows (the luma minus its opening, its
  closing minus the luma, with a 9-pixel horizontal segment) leave the bright and dark
  structures narrower than 9 pixels; a step edge survives opening and closing, so it leaves no
  residual, and a post wider than 9 pixels neither;
* a column is a candidate when its residual has one sign over a large share of the rows (the
  share of rows past a threshold, and the median over the rows), when it is a narrow ridge (the
  columns 3 pixels to either side carry far less of it) and when the picture on both sides of it
  differs by less than the ridge's height (not the overshoot beside the border of two regions);
* :class:`ScratchTracker` keeps the candidates of the last frames: a line found in at least 2 of
  the last 3 frames within +-2 pixels is a scratch. A cut forgets them.

With the frame before brought onto this one along the flow (``prev_w``), a line of the picture is
told from a scratch by where it was: a pole or a gap in a fence moves with the picture, so the
warped frame before shows it at the same column (to a fraction of a pixel); a scratch runs on the
film and drifts on its own, so it shows where the film put it, away from the picture's motion. The
tracker measures both positions to a tenth of a pixel (the peak of the top-hat's column profile)
and leaves alone the lines that stayed within ``content_offset`` of the picture. A scratch that
happens to move with the picture within that tolerance (a still scratch in a still picture) is
left too: there nothing tells it from the picture, and leaving a scratch costs less than erasing
a pole. The frame before as it was counts as well: where the flow follows traffic behind a still
post, the post stands where it stood. Without ``prev_w`` (the tracker used alone) only that test
is made.

Those tests read one frame's step, and a scratch drifting a third of a pixel a frame passes one of
them on about every other frame, the more so where the flow is noisy (near the frame's edge, on
grain, the warped frame before shows a thin line weakly and a pixel or two off). A scratch masked
in the frame before is therefore kept until an earlier picture shows the line *plainly* where it
is now (at least ``_PLAIN`` of its height, within half the tolerance). Measured on REEL_DAMAGE's
training frames of bikes.mp4 (``python -m pipelines.repair_check stage``, 60 frames): a
scratch near the right edge was masked on 15 of 40 frames before and 30 after, and the RMS error
left at the drawn damage by spots and scratches fell from 0.707x to 0.670x the damaged input's;
the first 60 clean training frames and the fast-particle clips are not touched by this part. Under
the independent damage (``pipelines/independent_damage.py``, seeds 4243 and 4246: a dark and a
bright scratch whose course down the frame is a random walk), the part alone masked 16 of 40
frames (11 before) and left 0.756x and 0.839x the input's RMS at the drawn damage (0.843x and
0.893x before). The tracker alone (no ``prev_w``) masks the gap in bikes.mp4's fence on 18 of its
175 training frames (10 before), 0.07 % of the pixels. ``_PLAIN`` and the halved tolerance were
set once, not searched; on the benchmark's held-out clips the change left the RMS at the damage
as it was (a faint scratch on grain: the linear fill below leaves about the error it had).

Over all 175 clean training frames of bikes.mp4, though, the stage's tracker then masked a line on
7 frames (5 before the hysteresis): posts of the fence and a lamp post, on frames where both tests
failed at once; a squared change of luma of 0.84 per pixel over the clip (the spots' is 0.42, the
flicker's 0.15). So a line not masked in the frame before is taken only where the picture did not
plainly take it along in the frame before either (the warped frame before showed no line within
``drift`` pixels plainly, as ``_PLAIN`` says): a post the flow loses for one frame was plain on the
frame before. That left 3 of the 7 frames (0.23 per pixel; through remaster-x2,
``pipelines/repair_check.py clean``, the whole stage's cost to those frames went from -0.66 to -0.57
dB), the scratches found on REEL_DAMAGE's
training frames as they were (RMS at the drawn damage, spots and scratches, 0.657x the damaged
input's), and cost some of the independent damage's wandering scratches: seeds 4243 and 4246 masked
on 14 and 12 of 40 frames, RMS 0.794x and 0.884x. Counting the frame before as it was too took 6 of
the 7 posts away, but never took up a scratch that stands still every other frame (one drifting a
pixel every other frame); asking a new line to go unexplained on two frames in a row took all seven
away, but masked those wandering scratches on only 2 and 4 of 40 frames.

Two of the three left were a lamp post behind a moving fence: the warped frame before showed it on
every frame, but never plainly (the fence's bars cross it and the flow there follows the bars), and
on the frame where neither picture showed it the whole post was filled over, a wide grey band down
the frame. A new line is therefore not taken up either where the warped frame before showed it at
least half as strong on each of the two frames before (within ``drift`` pixels a frame): over the 175
clean training frames 1 frame masked (the edge of a taxi's window), the squared change 0.231 -> 0.008
per pixel; REEL_DAMAGE's training frames as they were (0.735x, spots and scratches); the independent
damage's seed 4243 as it was, seed 4246 masked on 10 of 40 frames (12), RMS 0.884x -> 0.904x. On the
benchmark's held-out clips the RMS at the drawn damage moved by 0.3 % or less either way.

The tests of one step still let a scratch drifting slower than their tolerance go on about every other
frame, and its band dropped out and came back (the frame's mean brightness with it). A line masked on
``established`` frames running is therefore followed while it stays a candidate within ``drift`` pixels,
whatever one step says: on REEL_DAMAGE's training frames a drawn scratch was then masked on 344 of 648
frames, from 143, for 8 more frames with a band on a post (see ``established``).

With the frame after warped onto this one (``update``'s ``after``; the repair stage has it, its look-ahead
being a frame), a new line is not taken up either where the picture takes it along plainly to the frame
after, as the frame before would have shown it had its flow held: over the 175 clean training frames of
bikes.mp4 no frame masked (the taxi's window edge above), the squared change 0.009 -> 0 per pixel; on
REEL_DAMAGE's training frames (as for ``established``) drawn scratches masked on 341 frames (344), bands
away from them on 56 (65); the independent damage's seed 4243 as it was, seed 4246 masked on 21 of 40 frames
(23), RMS at the drawn damage 0.782x -> 0.807x.

:func:`repair_scratches` fills each band row by row with the straight line between the pixels
just outside it (linear interpolation from both sides).

Frames of a source of more than 8 bits (RGB uint16) are looked at through their 8-bit view
(:func:`~vidstyle.io.depth.to_8bit`), so the thresholds stay grey levels of 0-255 and the lines
found are those of the 8-bit picture; the fill interpolates the frame's own 16-bit values.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np

from ..io.depth import to_8bit
from .levels import check_rgb

__all__ = ["ScratchSettings", "ScratchTracker", "column_candidates", "picture_lines", "repair_scratches"]


@dataclass(frozen=True)
class ScratchSettings:
    """Thresholds of the line-scratch detector (chosen on frames of the damage model over
    scikit-image stills, scratch strengths 0.2 to 0.9 and drifts up to 1 pixel per frame)."""

    threshold: float = 8.0
    """A row counts for a column when the residual there passes this many grey levels."""
    min_rows: float = 0.6
    """Share of the rows, in (0, 1], where the residual must pass ``threshold`` with one sign."""
    narrowness: float = 0.4
    """The columns 3 pixels to either side may carry at most this share of the ridge's median."""
    side_balance: float = 12.0
    """Largest difference, grey levels, between the median luma 3 pixels left and right of the line,
    beyond the line's own height (a sharpened edge's overshoot is a ridge beside a larger step)."""
    row_step: int = 2
    """Every ``row_step``-th row is read (a scratch runs down the whole frame; 2 halves the cost)."""
    drift: int = 2
    """Pixels a line may move between the frames that confirm it."""
    half_width: int = 2
    """Half width of the repaired band in pixels (the band is 2 half_width + 1 wide)."""
    content_offset: float = 0.5
    """Pixels: a line that the frame before, brought onto this one along the flow, shows within
    this distance of its column (at least half as strong) moved with the picture and is left
    alone. Chosen on the training frames of bikes.mp4 (x2 smaller): 92 % of the candidate lines of
    the clean picture lie within 0.5 pixels, drifting damage-model scratches mostly beyond."""
    still_offset: float = 0.25
    """Pixels: a line that the frame before, as it was, shows within this distance of its column
    stood still, and is left alone (a post in front of traffic, where the flow follows the
    traffic). Tighter than ``content_offset``: a scratch that drifts half a pixel a frame over a
    moving picture is still found."""

    established: int = 2
    """Frames in a row: a line masked on this many frames running is a scratch the tracker follows, masked
    while a candidate lies within ``drift`` pixels of it, whatever one frame's step says of it. 0 switches
    this off. The tests of one frame's step read a scratch drifting slower than their tolerance as the
    picture's on about every other frame, and each time it was let go, its band jumped in and out of the
    picture. Chosen on training material (the stage's spots and scratches on bikes.mp4's 175 and
    bigbuckbunny.mp4's first 90 training frames under REEL_DAMAGE, seeds 1 to 3; a drawn scratch counts
    as masked on a frame where a band lies within 2 pixels of it):
    frames on which a drawn scratch was masked 143 of 648 with 0, 362 with 1, 344 with 2, 264 with 3;
    frames with a band away from every drawn scratch (a post of bikes.mp4's fence) 57, 84, 65, 61; on
    the 175 clean training frames of bikes.mp4 one frame masked at each (squared change of luma 0.009
    per pixel); the independent damage's wandering scratches (seeds 4243 and 4246, 40 frames) masked
    on 14 and 10 frames with 0, 16 and 23 with 2 (RMS at the drawn damage 0.792x and 0.903x the
    input's, 0.768x and 0.782x); RMS at the drawn damage on REEL_DAMAGE's bikes.mp4 0.692x -> 0.678x
    (spots and scratches); the stage's flicker on the ten training clips 1.310 -> 1.309 (at 3)."""

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold <= 255.0:
            raise ValueError(f"threshold must be in (0, 255] grey levels, got {self.threshold!r}")
        for name in ("min_rows", "narrowness"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise ValueError(f"{name} must be in (0, 1], got {value!r}")
        for name in ("content_offset", "still_offset"):
            value = getattr(self, name)
            if not 0.0 <= value <= 4.0:
                raise ValueError(f"{name} must be in [0, 4] pixels, got {value!r}")
        for name, low, high in (("row_step", 1, 8), ("drift", 0, 16), ("half_width", 0, 8), ("established", 0, 1000)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"{name} must be an integer in [{low}, {high}], got {value!r}")


def column_candidates(frame: np.ndarray, settings: ScratchSettings = ScratchSettings()) -> list[tuple[int, int]]:
    """The columns of ``frame`` that look like a line scratch, as ``(x, sign)`` pairs.

    Args:
        frame: RGB uint8 or uint16 (H, W, 3) (a uint16 frame is read through its 8-bit view).

    Returns:
        ``x`` the column (0-based), ``sign`` +1 for a bright line and -1 for a dark one; one entry
        per line (the strongest column of a run of neighbouring candidates).
    """
    check_rgb(frame)
    s = settings
    rows = _rows(frame, s)
    w = rows.shape[1]
    found = []
    for sign in (1, -1):
        residual = _top_hat(rows, sign)
        share = np.count_nonzero(residual > s.threshold, axis=0) / residual.shape[0]
        xs = np.flatnonzero(share >= s.min_rows)
        xs = xs[(xs >= 3) & (xs < w - 3)]
        if xs.size == 0:
            continue
        strength = np.zeros(w, np.float32)
        near = np.unique(np.concatenate([xs - 3, xs, xs + 3]))
        strength[near] = np.median(residual[:, near], axis=0)
        for run in np.split(xs, np.flatnonzero(np.diff(xs) > 1) + 1):
            x = int(run[np.argmax(strength[run])])
            if strength[x] < s.threshold or max(strength[x - 3], strength[x + 3]) > s.narrowness * strength[x]:
                continue
            left = float(np.median(rows[:, x - 3]))
            right = float(np.median(rows[:, x + 3]))
            if abs(left - right) > s.side_balance + strength[x]:
                continue
            found.append((x, sign))
    return sorted(found)


def _rows(frame: np.ndarray, s: ScratchSettings) -> np.ndarray:
    """The luma of every ``row_step``-th row of an RGB uint8 or uint16 frame (of its 8-bit view),
    or of a luma uint8 (H, W) frame; uint8 (H / row_step, W)."""
    grey = frame if frame.ndim == 2 else cv2.cvtColor(to_8bit(frame), cv2.COLOR_RGB2GRAY)
    return np.ascontiguousarray(grey[:: s.row_step])


def _top_hat(rows: np.ndarray, sign: int) -> np.ndarray:
    """White (``sign`` +1) or black (-1) top-hat along the rows, uint8: what a 9-pixel-wide opening
    (closing) removes, which is every bright (dark) structure narrower than 9 pixels; a step edge
    survives both untouched."""
    line = cv2.getStructuringElement(cv2.MORPH_RECT, (9, 1))
    if sign > 0:
        return cv2.subtract(rows, cv2.morphologyEx(rows, cv2.MORPH_OPEN, line))
    return cv2.subtract(cv2.morphologyEx(rows, cv2.MORPH_CLOSE, line), rows)


class ScratchTracker:
    """Line scratches over a shot: candidates confirmed in at least 2 of the last 3 frames, not the
    picture's (see the module's docstring), and kept once masked until an earlier picture plainly shows them;
    once masked on ``established`` frames running, followed while they are candidates.

    Example::

        tracker = ScratchTracker()
        for frame, cut in frames_and_cuts:
            mask = tracker.update(frame, cut)        # bool (H, W)
            frame = repair_scratches(frame, mask)
    """

    def __init__(self, settings: ScratchSettings = ScratchSettings()) -> None:
        self.settings = settings
        # The candidates of the last two frames, each with how its own warped frame before showed it (0, 1, 2: see
        # _shown_before).
        self._history: deque[dict[tuple[int, int], int]] = deque(maxlen=2)
        self._runs: dict[tuple[int, int], int] = {}  # each line masked in the frame before: frames masked running
        self._previous: np.ndarray | None = None  # the frame before, as it was (for still lines)
        self.found = 0
        """Scratch lines masked since the last :meth:`reset` (one per line per frame)."""
        self.scratches = 0
        """Distinct scratches since the last :meth:`reset`: confirmed lines with no confirmed line
        of the same sign within ``drift`` pixels in the frame before."""
        self.pixels = 0
        """Pixels masked since the last :meth:`reset`."""

    def reset(self) -> None:
        """Forget every candidate and zero the counts (a new shot)."""
        self._forget()
        self.found = self.scratches = self.pixels = 0

    def _forget(self) -> None:
        """Forget the earlier frames (a cut): their candidates, scratches and pictures."""
        self._history.clear()
        self._runs = {}
        self._previous = None

    def report(self) -> dict[str, int]:
        """``{"scratches": distinct lines, "line_frames": lines masked, one per frame, "pixels": ...}``."""
        return {"scratches": self.scratches, "line_frames": self.found, "pixels": self.pixels}

    def update(self, frame: np.ndarray, cut: bool = False, prev_w: np.ndarray | None = None,
               after: np.ndarray | None = None) -> np.ndarray:
        """bool (H, W) mask of the scratch pixels of ``frame`` (RGB uint8 or uint16 (H, W, 3), read
        through its 8-bit view).

        ``cut=True`` on the first frame of a shot forgets the earlier frames first; the counts go on
        (read :meth:`report`, then :meth:`reset`, for counts per shot). ``prev_w``, the frame before
        warped onto this one along the flow (RGB uint8 or uint16 (H, W, 3) or its luma uint8
        (H, W)), lets it leave out the lines that moved with the picture (``content_offset``).
        ``after``, the frame after warped onto this one (as ``prev_w``), lets it leave out a new line
        that the picture takes along plainly to the frame after (see ``_shown_before``): a post the
        flow lost on the side before.
        """
        if cut:
            self._forget()
        s = self.settings
        check_rgb(frame)
        frame = to_8bit(frame)  # what looks reads 8 bits; the caller repairs at its own depth
        h, w = frame.shape[:2]
        candidates = column_candidates(frame, s)
        # Where the picture took each line (the frame before warped onto this one), where it stood (the frame
        # before as it was), and where the picture takes it in the frame after (that frame warped onto this one;
        # as for ``plain`` below, the frame after as it is does not count: a scratch drifting a pixel every
        # other frame stands still on every other frame).
        moved, stood, ahead = _shown_before(
            frame, [(prev_w, s.content_offset), (self._previous, s.still_offset), (after, s.content_offset)],
            candidates, s)
        shown = {line: max(moved[line], stood[line]) for line in candidates}
        mask = np.zeros((h, w), bool)
        confirmed = {}  # the lines masked now, each with its run before this frame
        for x, sign in candidates:
            earlier = list(enumerate(reversed(self._history)))  # (age - 1, that frame's candidates)
            seen = sum(_near(lines, x, sign, s.drift * (age + 1)) for age, lines in earlier)
            # A scratch masked in the frame before is let go only where an earlier picture shows the line
            # plainly where it is now: the warped frame before shows a thin line weakly and a fraction of a
            # pixel off where the flow is noisy, and a scratch drifting a third of a pixel a frame is within
            # still_offset of where it was on about every other frame.
            run = _run(self._runs, x, sign, s.drift)  # frames masked running; 0: not masked in the frame before
            kept = run > 0
            # A line not masked before starts being masked where no earlier picture shows it now, and the
            # picture did not plainly take it along in the frame before either: a post the flow loses for a
            # frame is not a scratch. (Only the warped frame before counts there: a scratch that stood still
            # for a frame, as one drifting a pixel every other frame does, was plain in the frame as it was.)
            plain = bool(earlier) and _near([line for line, level in earlier[0][1].items() if level == 2], x, sign,
                                            s.drift)
            # Nor where the picture took it along, even faintly, in each of the two frames before (a post
            # crossed by a moving fence, which the warped frame before shows half as strong, frame after frame).
            along = len(earlier) == 2 and all(
                _near([line for line, level in lines.items() if level >= 1], x, sign, s.drift * (age + 1))
                for age, lines in earlier)
            # Nor where the frame after shows it plainly where it is: the flow on the side before lost a post
            # (no earlier frame of the shot showed it plainly yet, or the flow missed it on two frames).
            # And a line masked on ``established`` frames running is followed while it is a candidate.
            followed = 0 < s.established <= run
            if seen >= 1 and (followed or (shown[(x, sign)] < 2 if kept else
                                           shown[(x, sign)] == 0 and not plain and not along
                                           and ahead[(x, sign)] < 2)):
                x0, x1 = max(0, x - s.half_width), min(w, x + s.half_width + 1)
                mask[:, x0:x1] = _line_rows(frame, x, sign, s)[:, None]
                self.found += 1
                self.scratches += not kept
                confirmed[(x, sign)] = run
        self._history.append({line: moved[line] for line in candidates})
        self._runs = {line: 1 + run for line, run in confirmed.items()}
        self._previous = frame
        self.pixels += int(np.count_nonzero(mask))
        return mask


def _run(runs: dict[tuple[int, int], int], x: int, sign: int, reach: float) -> int:
    """The longest run of ``runs`` (frames masked running, by line) of a line with ``sign`` within ``reach``
    pixels of ``x``; 0 where none is."""
    return max((count for (xx, sg), count in runs.items() if sg == sign and abs(xx - x) <= reach), default=0)


def _near(lines, x: int, sign: int, reach: float) -> bool:
    """Whether one of ``lines`` (``(x, sign)`` pairs) has ``sign`` and lies within ``reach`` pixels of ``x``."""
    return any(sg == sign and abs(xx - x) <= reach for xx, sg in lines)


#: Columns either side of a line over which its position is measured (the top-hat's profile).
_PROFILE = 3


def picture_lines(frame: np.ndarray, before: list[tuple[np.ndarray, float]], candidates: list[tuple[int, int]],
                  settings: ScratchSettings = ScratchSettings()) -> set[tuple[int, int]]:
    """The ``candidates`` of ``frame`` that stayed with the picture (see ``content_offset``).

    Args:
        frame: RGB uint8 or uint16 (H, W, 3) (read through its 8-bit view).
        before: earlier pictures of the same content, RGB uint8 or uint16 (H, W, 3) or luma uint8 (H, W),
            each with its tolerance in pixels: the frame before warped onto ``frame`` along the
            flow (a line of the picture is where the picture took it), and the frame before as it
            was (a line that stood still: a post in front of moving traffic, where the flow
            follows the traffic). An empty list gives an empty set.
        candidates: ``(x, sign)`` pairs of :func:`column_candidates`.

    Returns:
        The candidates that one of ``before`` shows, at least half as strong, within its
        tolerance of where ``frame`` shows them; both positions are the sub-pixel peaks of the
        top-hat's median over the rows.
    """
    levels = _shown_before(frame, before, candidates, settings)
    return {line for line in candidates if any(shown[line] for shown in levels)}


#: How plainly an earlier picture must show a line for :class:`ScratchTracker` to let go of a scratch it
#: masked in the frame before: at least this share of the line's height, within half the tolerance.
_PLAIN = 0.8


def _shown_before(frame: np.ndarray, before: list[tuple[np.ndarray | None, float]],
                  candidates: list[tuple[int, int]], settings: ScratchSettings) -> list[dict[tuple[int, int], int]]:
    """For each earlier picture of ``before`` (None: none), how it shows each candidate where ``frame``
    does: 0 not at all, 1 at least half as strong within its tolerance (:func:`picture_lines`), 2
    plainly (at least ``_PLAIN`` of its height within half the tolerance). ``frame``'s own profiles
    are read once for all of them."""
    shown = [dict.fromkeys(candidates, 0) for _ in before]
    pictures = [(k, picture, tolerance) for k, (picture, tolerance) in enumerate(before) if picture is not None]
    if not pictures or not candidates:
        return shown
    s = settings
    here = _rows(frame, s)
    w = here.shape[1]
    for sign in (1, -1):
        xs = [x for x, sg in candidates if sg == sign and _PROFILE <= x < w - _PROFILE]
        if not xs:
            continue
        now = _top_hat(here, sign)
        earlier = [(k, _top_hat(_rows(picture, s), sign), tolerance) for k, picture, tolerance in pictures]
        for x in xs:
            columns = slice(x - _PROFILE, x + _PROFILE + 1)
            at, height = _peak(np.median(now[:, columns], axis=0))
            for k, residual, tolerance in earlier:
                was, was_height = _peak(np.median(residual[:, columns], axis=0))
                if was_height >= _PLAIN * height and abs(was - at) <= 0.5 * tolerance:
                    shown[k][(x, sign)] = 2
                elif was_height >= 0.5 * height and abs(was - at) <= tolerance:
                    shown[k][(x, sign)] = 1
    return shown


def _peak(profile: np.ndarray) -> tuple[float, float]:
    """Sub-pixel position (a parabola through the largest value and its neighbours) and height
    of the largest value of a 1-D profile."""
    k = int(np.argmax(profile))
    top = float(profile[k])
    if 0 < k < len(profile) - 1:
        left, right = float(profile[k - 1]), float(profile[k + 1])
        curvature = left - 2.0 * top + right
        if curvature < 0:
            return k + 0.5 * (left - right) / curvature, top
    return float(k), top


def _line_rows(frame: np.ndarray, x: int, sign: int, s: ScratchSettings) -> np.ndarray:
    """bool (H,): the rows where the line at column ``x`` of an RGB uint8 ``frame`` shows (its
    top-hat over half the threshold within a pixel of ``x``), closed over gaps of up to 8 rows and
    grown by 4: a scratch breaks up along its length, and the rows where it is absent are left as
    they are."""
    w = frame.shape[1]
    x0, x1 = max(0, x - 6), min(w, x + 7)
    strip = cv2.cvtColor(np.ascontiguousarray(frame[:, x0:x1]), cv2.COLOR_RGB2GRAY)
    line = cv2.getStructuringElement(cv2.MORPH_RECT, (9, 1))
    if sign > 0:
        residual = cv2.subtract(strip, cv2.morphologyEx(strip, cv2.MORPH_OPEN, line, borderType=cv2.BORDER_REPLICATE))
    else:
        residual = cv2.subtract(cv2.morphologyEx(strip, cv2.MORPH_CLOSE, line, borderType=cv2.BORDER_REPLICATE), strip)
    core = residual[:, max(0, x - x0 - 1) : x - x0 + 2].max(axis=1) > 0.5 * s.threshold
    column = core.astype(np.uint8)[:, None]
    column = cv2.morphologyEx(column, cv2.MORPH_CLOSE, np.ones((9, 1), np.uint8), borderType=cv2.BORDER_REPLICATE)
    return cv2.dilate(column, np.ones((9, 1), np.uint8))[:, 0].view(bool)


def repair_scratches(frame: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``frame`` with each vertical band of ``mask`` filled from both sides, row by row.

    Args:
        frame: RGB uint8 or uint16 (H, W, 3).
        mask: bool (H, W); its masked columns are read as bands (runs of masked columns per row).

    Returns:
        RGB (H, W, 3) of ``frame``'s dtype, a new array, equal to ``frame`` outside the mask; the
        fill is rounded to the frame's own levels (a uint16 frame keeps its depth).
    """
    check_rgb(frame)
    h, w = frame.shape[:2]
    if mask.shape != (h, w):
        raise ValueError(f"mask must be bool {(h, w)}, got {mask.dtype} {mask.shape}")
    out = frame.copy()
    columns = np.flatnonzero(mask.any(axis=0))
    if columns.size == 0:
        return out
    for run in np.split(columns, np.flatnonzero(np.diff(columns) > 1) + 1):
        x0, x1 = int(run[0]), int(run[-1])
        rows = mask[:, x0 : x1 + 1].any(axis=1)
        left = frame[rows, max(0, x0 - 1)].astype(np.float32)
        right = frame[rows, min(w - 1, x1 + 1)].astype(np.float32)
        t = (np.arange(x0, x1 + 1, dtype=np.float32) - (x0 - 1)) / (x1 - x0 + 2)  # (band,)
        fill = left[:, None, :] * (1.0 - t[None, :, None]) + right[:, None, :] * t[None, :, None]
        band = out[rows, x0 : x1 + 1]
        inside = mask[rows, x0 : x1 + 1]
        band[inside] = np.rint(fill[inside]).astype(frame.dtype)  # between two levels: no clip needed
        out[rows, x0 : x1 + 1] = band
    return out
