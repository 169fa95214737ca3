"""Film grain put back after restoration, as restorers do after denoising.

The grain of a frame is white Gaussian noise shaped by a Gaussian of sigma ``size`` output
pixels (so its power spectrum is a Gaussian of sigma 1 / (2 pi size) cycles per pixel, and its
autocorrelation one of sigma sqrt(2) size pixels), scaled to unit variance, then to
``strength`` levels of 255 where it is strongest. Like the grain of a print, it is strongest in
the mid-tones and fades towards black and white (where the emulsion is either clear or fully
developed): its amplitude at luma ``y`` in [0, 1] is ``strength * (0.25 + 3 y (1 - y))``, full
at mid-grey, a quarter at the ends. It is one field for the three channels, as the eye reads the
grain of a colour print mostly in its luminance.

Grain is new in every frame and unrelated from one frame to the next, as on film: each frame's
noise is drawn from a generator seeded with the run's seed and the frame's timestamp (its pts in
the source's time base). A frame therefore gets the same grain whether it is processed in a
whole run, a range, or one segment of a long film cut into parts (``--chunks``), and two runs
with the same seed give the same film.

Frames of a source of more than 8 bits (uint16, :mod:`vidstyle.io.depth`) get the same grain,
``strength`` still in levels of 255 (257 levels of 65535 each), weighed by their own luma, and
rounded to 16 bits.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from ..config import GrainConfig
from ..io.depth import top_level

__all__ = ["FilmGrain", "grain_field", "midtone_weight"]


def _kernel(size: float) -> np.ndarray:
    """The 1D Gaussian of sigma ``size``, 3 sigma each side, summing to 1 (float64)."""
    radius = max(1, math.ceil(3 * size))
    return cv2.getGaussianKernel(2 * radius + 1, size, cv2.CV_64F)


def grain_field(rng: np.random.Generator, height: int, width: int, size: float) -> np.ndarray:
    """Zero-mean, unit-variance noise of grain ``size`` (Gaussian sigma, pixels), float32 (H, W).

    White noise is drawn on a margin as wide as the kernel and filtered, and only the inside is
    kept, so the grain is as fine and as strong at the borders as in the middle.
    """
    kernel = _kernel(size)
    radius = len(kernel) // 2
    white = rng.standard_normal((height + 2 * radius, width + 2 * radius), dtype=np.float32)
    shaped = cv2.sepFilter2D(white, cv2.CV_32F, kernel, kernel)[radius : radius + height, radius : radius + width]
    # The variance of filtered unit white noise is the sum of the squared 2D kernel.
    return shaped / np.float32(np.sum(kernel**2))


def midtone_weight(levels: np.ndarray) -> np.ndarray:
    """The share of the grain's strength at luma ``levels`` (0-255): 1 at mid-grey, 0.25 at 0
    and 255. Float32."""
    y = np.clip(np.asarray(levels, np.float32) / np.float32(255), 0, 1)
    return np.float32(0.25) + np.float32(3) * y * (1 - y)


_WEIGHT_OF_LEVEL = midtone_weight(np.arange(256))


class FilmGrain:
    """``grain(frames, pts)``: RGB uint8 or uint16 (B, H, W, 3) with grain, a new array of the same
    dtype; ``pts`` (B,) the frames' timestamps, which with :attr:`GrainConfig.seed` pick each
    frame's grain."""

    def __init__(self, config: GrainConfig) -> None:
        self.config = config

    def field(self, pts: int, height: int, width: int) -> np.ndarray:
        """The grain of the frame at ``pts``: unit variance, float32 (H, W)."""
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([self.config.seed, pts % 2**64])))
        return grain_field(rng, height, width, self.config.size)

    def __call__(self, frames: np.ndarray, pts: np.ndarray) -> np.ndarray:
        if frames.dtype != np.uint8:
            return self._deep(frames, pts)
        out = np.empty_like(frames)
        height, width = frames.shape[1:3]
        strength = np.float32(self.config.strength)
        for i, (frame, stamp) in enumerate(zip(frames, pts)):
            # The weight follows the picture's light and dark: BT.601 luma, 0-255, in whole levels.
            weight = _WEIGHT_OF_LEVEL[cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)]
            grain = np.rint(strength * weight * self.field(int(stamp), height, width)).astype(np.int16)
            out[i] = np.clip(frame.astype(np.int16) + grain[..., None], 0, 255)
        return out

    def _deep(self, frames: np.ndarray, pts: np.ndarray) -> np.ndarray:
        """uint16 frames: the same grain in 16-bit levels, weighed by the luma in 8-bit levels."""
        out = np.empty_like(frames)
        height, width = frames.shape[1:3]
        top = top_level(frames.dtype)
        per_level = np.float32(top / 255)
        strength = np.float32(self.config.strength) * per_level
        for i, (frame, stamp) in enumerate(zip(frames, pts)):
            weight = midtone_weight(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float32) / per_level)
            grain = np.rint(strength * weight * self.field(int(stamp), height, width)).astype(np.int32)
            out[i] = np.clip(frame.astype(np.int32) + grain[..., None], 0, top)
        return out
