"""Film grain and noise, averaged with the motion-compensated neighbours.

Grain is new on every frame of film, while the picture under it moves on along the motion: the
same point seen in the frames before and after, brought onto the current frame along the flow,
is the same picture under other grain. Averaging the three reduces the grain's variance up to
threefold where the motion compensation holds, with no loss of detail, which a spatial filter
cannot promise. This is the principle of motion-compensated temporal filtering (Brailean,
Kleihorst, Efstratiadis, Katsaggelos and Lagendijk 1995, "Noise reduction filters for dynamic
image sequences: a review"; Kokaram 1998, "Motion Picture Restoration", ch. 8; the MDegrain
filters of AviSynth and VapourSynth's MVTools), with the non-local means rule for how much each
neighbour may count (Buades, Coll and Morel 2005/2008): a pixel takes a neighbour in with the
weight ``exp(-max(P - 2 sigma^2, 0) / (strength * sigma^2))``, where ``P`` is the mean squared
luma difference to the warped neighbour over a ``patch`` x ``patch`` window and ``2 sigma^2`` is
what two independent grains alone give it. Where the flow is wrong (an occlusion, a fast thing,
a misregistered edge), the structure makes ``P`` large and the neighbour drops out; where it
failed its forward-backward check, it counts for nothing.

The noise ``sigma`` is read from the frames themselves, per frame and neighbour: the median
absolute difference to the warped neighbour over the flattest ``flat_share`` of the pixels whose
flow holds (flat, so that a misregistration of texture does not read as noise), as the sigma of
one frame's noise (``/ 0.6745 / sqrt(2)``). It is the grain's own strength whatever its size and
however the codec softened it, where a spatial estimate from one frame reads clumped film grain
low (on the project's worn reel, 12.7 levels of grain at the input's size read 5.5 by Immerkaer's
estimate on the flattest blocks, 9 here). A slow brightness difference between the frames (flicker,
a light that changes) is taken out before comparing and before averaging, over ``offset_window``
pixels, so the averaged frame keeps its own brightness and the deflicker after it sees the same
frame brightness as before. A frame whose sigma is under ``least_sigma`` levels (clean footage, a
digital master) is returned as it is, bit for bit.

Fine texture everywhere (grass, gravel) is where the flow cannot register the frames to a
fraction of a pixel, and there the differences between frames read as grain (clean grass, panned:
7 levels); averaged, such a picture loses its texture (clean grass came out 6.5 levels RMS off).
So a pixel takes its neighbours in less the more its neighbourhood varies beyond the grain
(``texture``): the clean grass then comes out 1.9 levels off, and a flat or smoothly shaded area,
where grain shows most, is averaged fully. Edges and texture are left to the network.

Settings were chosen on training material only: bikes.mp4's first 40 training frames, clean and
damaged by the project's worn reel (``REEL_DAMAGE``, grain read at 7-10 levels), the benchmark's
generator of fast particles with seeds 7 and 11 (rain and discs over a textured background, read
at 2.2 levels with no grain at all: hence ``least_sigma`` 2.5), and scikit-image stills panned
with and without grain. Through remaster-x2, ``--repair auto`` against ``--repair off`` on the
damaged frames went from +0.96 dB without this part to +1.18 dB with it (+1.28 without the
texture guard, which the grass forbids; ``strength`` 2, 4 and 8 within 0.05 dB of each other),
and the clean clips came out as without it. On the held-out clips of the benchmark (its repair
section): the worn reel +0.41 -> +0.85 dB on bikes.mp4 and +0.86 -> +1.75 dB on bigbuckbunny.mp4.
The independent damage family's grain goes through MJPEG at a low quality, which flattens it
in the flat areas where it is read (0.9-2.0 levels): there this part does nothing.

Frames of a source of more than 8 bits (RGB uint16) are read by their 8-bit view (the luma the
weights and the sigma come from) and averaged at their own depth.

Example, one frame and its two neighbours already registered (zero flow)::

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> clean = np.full((64, 64, 3), 120.0)
    >>> grainy = [np.clip(clean + rng.normal(0, 8, (64, 64, 1)), 0, 255).astype(np.uint8) for _ in range(3)]
    >>> still, holds = np.zeros((64, 64, 2), np.float32), np.ones((64, 64), bool)
    >>> out, sigma = average_grain(grainy[1], [GrainNeighbour(grainy[0], still, holds),
    ...                                        GrainNeighbour(grainy[2], still, holds)])
    >>> round(sigma), bool((out - clean).std() < 0.7 * (grainy[1] - clean).std())  # grain of 8 levels, read as 7
    (7, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from ..io.depth import to_8bit, top_level
from ..temporal.warp import warp_numpy, warp_region
from .levels import check_rgb

__all__ = ["GrainNeighbour", "GrainSettings", "average_grain", "grain_sigma"]

#: Luma weights (BT.601), as the rest of the repair reads a frame.
#: Rows of the frame averaged at a time (beside the halo the windows need), so that a 4K frame
#: costs a few float copies of a band, not of itself.
_BAND = 256
#: The median of |N(0, 1)|: a median absolute value over this is a standard deviation.
_MAD = 0.6745


@dataclass(frozen=True)
class GrainSettings:
    """How the grain is read and how far a neighbour is trusted."""

    patch: int = 5
    """Side in pixels of the window over which a neighbour's difference is judged (odd)."""
    strength: float = 4.0
    """How far, in units of the noise variance, a window may differ beyond what the grain alone
    explains and still count half as much (``exp(-excess / (strength * sigma^2))``)."""
    least_sigma: float = 2.5
    """Grey levels: below this noise the frame is left as it is (no grain worth the risk)."""
    flat_share: float = 0.25
    """The share of the reliable pixels, the flattest, that the noise is read on."""
    offset_window: int = 31
    """Side in pixels of the window of the slow brightness difference taken out before comparing."""
    step: int = 2
    """The noise is read on every ``step``-th pixel of every ``step``-th row."""
    texture: float = 1.0
    """Structure guard: a pixel whose neighbourhood varies (after a light blur that takes most of
    the grain out) by ``v`` takes its neighbours in at ``exp(-v / (texture * sigma^2))`` of their
    weight, so fine texture that the flow cannot register to a fraction of a pixel (grass,
    gravel) is left alone. 0 switches the guard off."""

    def __post_init__(self) -> None:
        if self.patch < 1 or self.patch % 2 == 0:
            raise ValueError(f"patch must be an odd number of pixels, got {self.patch}")
        if self.offset_window < 1 or self.offset_window % 2 == 0:
            raise ValueError(f"offset_window must be an odd number of pixels, got {self.offset_window}")
        if not self.strength > 0:
            raise ValueError(f"strength must be positive, got {self.strength}")
        if not 0 < self.flat_share <= 1:
            raise ValueError(f"flat_share must be in (0, 1], got {self.flat_share}")
        if self.step < 1:
            raise ValueError(f"step must be 1 or more, got {self.step}")


@dataclass
class GrainNeighbour:
    """A neighbouring frame, as the current one is to take it in.

    Attributes:
        frame: the neighbour as decoded, RGB of the current frame's dtype (H, W, 3).
        flow: float32 (H, W, 2): for each pixel of the current frame, where it lies in the
            neighbour (``warp_numpy``'s convention).
        ok: bool (H, W): where that flow passed its forward-backward check.
        luma: the neighbour's 8-bit luma warped onto the current frame, uint8 (H, W); None to
            compute it here.
    """

    frame: np.ndarray
    flow: np.ndarray
    ok: np.ndarray
    luma: np.ndarray | None = None


def _luma8(frame: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(to_8bit(frame), cv2.COLOR_RGB2GRAY)


def grain_sigma(grey: np.ndarray, warped: np.ndarray, ok: np.ndarray,
                settings: GrainSettings = GrainSettings()) -> float:
    """The noise of one frame, grey levels, read against one warped neighbour (module docstring).

    Args:
        grey: the frame's 8-bit luma, uint8 (H, W).
        warped: the neighbour's 8-bit luma warped onto it, uint8 (H, W).
        ok: bool (H, W), where the flow held.
    Returns:
        The sigma of one frame's noise; 0.0 where too few pixels are reliable to tell.
    """
    s = settings.step
    g = grey[::s, ::s].astype(np.float32)
    d = warped[::s, ::s].astype(np.float32) - g
    reliable = ok[::s, ::s]
    if np.count_nonzero(reliable) < 64:
        return 0.0
    offset = cv2.blur(d, (settings.offset_window // s | 1,) * 2, borderType=cv2.BORDER_REFLECT)
    smooth = cv2.GaussianBlur(g, (0, 0), 1.0)
    gradient = np.abs(cv2.Sobel(smooth, cv2.CV_32F, 1, 0)) + np.abs(cv2.Sobel(smooth, cv2.CV_32F, 0, 1))
    flat = reliable & (gradient <= np.quantile(gradient[reliable], settings.flat_share))
    if np.count_nonzero(flat) < 32:
        return 0.0
    return float(np.median(np.abs((d - offset)[flat]))) / _MAD / math.sqrt(2.0)


def _structure_guard(grey: np.ndarray, sigma: float, settings: GrainSettings) -> np.ndarray:
    """float32 of ``grey``'s shape: how much a pixel may take its neighbours in, by its structure."""
    smooth = cv2.GaussianBlur(grey, (0, 0), 1.0)
    window = (settings.patch,) * 2
    mean = cv2.blur(smooth, window, borderType=cv2.BORDER_REFLECT)
    variance = np.maximum(cv2.blur(smooth * smooth, window, borderType=cv2.BORDER_REFLECT) - mean * mean, 0.0)
    return np.exp(-variance / (settings.texture * sigma * sigma))


def average_grain(frame: np.ndarray, neighbours: list[GrainNeighbour],
                  settings: GrainSettings = GrainSettings(), *,
                  grey: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """``frame`` averaged with its neighbours where they show the same picture (module docstring).

    Args:
        frame: RGB uint8 or uint16 (H, W, 3).
        neighbours: one or two (the frames either side), each a :class:`GrainNeighbour`.
        grey: the frame's 8-bit luma, uint8 (H, W), when the caller has it.
    Returns:
        ``(averaged, sigma)``: a new frame of ``frame``'s dtype (``frame`` itself when nothing was
        averaged) and the noise read, grey levels (the lower of the neighbours' readings; 0.0
        without any).
    """
    check_rgb(frame)
    h, w = frame.shape[:2]
    grey = _luma8(frame) if grey is None else grey
    usable, readings = [], []
    for n in neighbours:
        if n.frame.shape != frame.shape or n.frame.dtype != frame.dtype:
            raise ValueError(f"a neighbour must match the frame ({frame.dtype} {frame.shape}), got "
                             f"{n.frame.dtype} {n.frame.shape}")
        luma = n.luma if n.luma is not None else warp_numpy(_luma8(n.frame), n.flow)
        usable.append((n, luma))
        readings.append(grain_sigma(grey, luma, n.ok, settings))
    if not usable:
        return frame, 0.0
    # The noise is the frame's own: the lower reading is taken (a misregistration or an occlusion
    # on one side only raises that side's), and both neighbours are judged by it.
    sigma = min(readings)
    if sigma < settings.least_sigma:
        return frame, sigma
    to_depth = top_level(frame.dtype) / 255.0
    out = np.empty_like(frame)
    halo = settings.offset_window // 2 + settings.patch // 2
    for r0 in range(0, h, _BAND):
        r1 = min(h, r0 + _BAND)
        lo, hi = max(0, r0 - halo), min(h, r1 + halo)
        own = slice(r0 - lo, r1 - lo)
        g = grey[lo:hi].astype(np.float32)
        total = frame[r0:r1].astype(np.float32)
        count = np.ones((r1 - r0, w), np.float32)
        guard = _structure_guard(g, sigma, settings)[own] if settings.texture > 0 else 1.0
        for n, luma in usable:
            d = luma[lo:hi].astype(np.float32) - g
            offset = cv2.blur(d, (settings.offset_window,) * 2, borderType=cv2.BORDER_REFLECT)
            d -= offset
            excess = cv2.blur(d * d, (settings.patch,) * 2, borderType=cv2.BORDER_REFLECT)[own] - 2 * sigma * sigma
            weight = np.exp(-np.maximum(excess, 0.0) / (settings.strength * sigma * sigma)) * guard * n.ok[r0:r1]
            colour = warp_region(n.frame, n.flow, (slice(r0, r1), slice(None))).astype(np.float32)
            colour -= (offset[own] * to_depth)[..., None]
            total += weight[..., None] * colour
            count += weight
        top = top_level(frame.dtype)
        out[r0:r1] = np.clip(total / count[..., None] + 0.5, 0, top).astype(frame.dtype)
    return out, sigma
