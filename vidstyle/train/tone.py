"""Global tone of a film print: exposure, contrast, fading, colour cast and vignetting.

Which tone a film should have cannot be known from one frame: a faded print, a warm grade and a
dim scene look alike to a network that sees a 64-pixel patch. So the generator is taught to
*keep* the tone it is given: :class:`GlobalTone` is applied to the damaged input and to the
clean target of a training pair alike (:mod:`vidstyle.train.pairs`). Correcting tone, where a
user wants it, is a separate and explicit stage.

The tone is a per-pixel colour transform times a smooth gain field, defined on the unit square
of the picture, so the same tone applied to a picture and to its downscaled copy agrees pixel for
pixel (up to the resampling)::

    x -> lift + (ceiling - lift) * clip(vignette(u, v) * cast * gain * (contrast * (sat(x) - 0.5) + 0.5))

Example::

    >>> tone = GlobalTone(gain=0.9, cast=(1.0, 0.9, 0.7))
    >>> out = tone.apply(np.full((8, 8, 3), 128, np.uint8))
    >>> out[0, 0].tolist()
    [115, 104, 81]
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

__all__ = ["GlobalTone"]

_LUMA = np.array([0.299, 0.587, 0.114], np.float32)
# Per-channel gains of a yellowed or sepia-toned print (R, G, B) at full strength.
_SEPIA = np.array([1.0, 0.84, 0.60], np.float32)


@dataclass(frozen=True)
class GlobalTone:
    """A global tone; ``GlobalTone()`` is the identity.

    Attributes:
        gain: brightness multiplier (exposure, one frame's flicker), > 0.
        contrast: contrast about mid-grey, > 0.
        saturation: 0 (grey) to 1 (unchanged); above 1 saturates.
        cast: per-channel gains (R, G, B), each > 0.
        lift: black level raised to this, in [0, 0.5) (fading).
        ceiling: white level dulled to this, in (lift, 1].
        vignette: brightness lost at distance 1 (in picture diagonals) from the centre, in [0, 1).
        centre: vignette centre (u, v) in picture fractions; may lie outside the picture, since a
            training patch is a piece of a larger frame.
    """

    gain: float = 1.0
    contrast: float = 1.0
    saturation: float = 1.0
    cast: tuple[float, float, float] = (1.0, 1.0, 1.0)
    lift: float = 0.0
    ceiling: float = 1.0
    vignette: float = 0.0
    centre: tuple[float, float] = (0.5, 0.5)

    def __post_init__(self) -> None:
        if not (self.gain > 0 and self.contrast > 0 and self.saturation >= 0):
            raise ValueError(f"gain and contrast must be > 0 and saturation >= 0, got {self}")
        if len(self.cast) != 3 or min(self.cast) <= 0:
            raise ValueError(f"cast must be three gains > 0, got {self.cast}")
        if not 0.0 <= self.lift < 0.5 or not self.lift < self.ceiling <= 1.0:
            raise ValueError(f"need 0 <= lift < 0.5 and lift < ceiling <= 1, got {self.lift}, {self.ceiling}")
        if not 0.0 <= self.vignette < 1.0:
            raise ValueError(f"vignette must be in [0, 1), got {self.vignette}")

    @property
    def is_identity(self) -> bool:
        return self == GlobalTone()

    @classmethod
    def random(cls, rng: np.random.Generator, *, probability: float = 0.65) -> GlobalTone:
        """Draw a plausible tone: with ``1 - probability`` the identity, else each part on with its
        own chance (exposure, contrast, fading, a cast that is sepia or a drift of the dyes,
        vignetting)."""
        if rng.random() >= probability:
            return cls()

        def maybe(chance: float, draw, off):
            return draw() if rng.random() < chance else off

        gain = maybe(0.6, lambda: math.exp(rng.uniform(math.log(0.7), math.log(1.3))), 1.0)
        contrast = maybe(0.5, lambda: float(rng.uniform(0.7, 1.2)), 1.0)
        saturation = maybe(0.4, lambda: float(rng.uniform(0.3, 1.1)), 1.0)
        cast = (1.0, 1.0, 1.0)
        kind = rng.random()
        if kind < 0.25:  # yellowed or sepia print
            strength = float(rng.uniform(0.1, 0.9))
            cast = tuple(float(1.0 + strength * (s - 1.0)) for s in _SEPIA)
        elif kind < 0.55:  # dyes that faded unevenly: a cast of any hue
            cast = tuple(float(g) for g in np.exp(rng.normal(0.0, 0.07, 3)))
        lift = maybe(0.4, lambda: float(rng.uniform(0.01, 0.15)), 0.0)
        ceiling = maybe(0.4, lambda: float(rng.uniform(0.8, 0.98)), 1.0)
        vignette = maybe(0.35, lambda: float(rng.uniform(0.05, 0.5)), 0.0)
        centre = (float(rng.uniform(-0.5, 1.5)), float(rng.uniform(-0.5, 1.5)))
        return cls(gain, contrast, saturation, cast, lift, ceiling, vignette, centre)

    def flickered(self, rng: np.random.Generator, amplitude: float) -> GlobalTone:
        """This tone with its gain jittered by up to ``amplitude`` (relative): one frame's flicker."""
        if amplitude <= 0:
            return self
        return dataclasses.replace(self, gain=self.gain * float(1.0 + rng.uniform(-amplitude, amplitude)))

    def apply(self, image: np.ndarray) -> np.ndarray:
        """The toned picture.

        Args:
            image: RGB uint8 (H, W, 3).
        Returns:
            RGB uint8 (H, W, 3), a new array (``image`` itself for the identity).
        """
        if self.is_identity:
            return image
        x = image.astype(np.float32) * np.float32(1.0 / 255.0)
        if self.saturation != 1.0:
            luma = x @ _LUMA
            x = luma[..., None] + np.float32(self.saturation) * (x - luma[..., None])
        scale = np.asarray(self.cast, np.float32) * np.float32(self.gain * self.contrast)
        offset = np.asarray(self.cast, np.float32) * np.float32(self.gain * 0.5 * (1.0 - self.contrast))
        x = x * scale + offset
        if self.vignette > 0:
            x *= self._vignette_field(*image.shape[:2])[..., None]
        np.clip(x, 0.0, 1.0, out=x)
        if self.lift > 0 or self.ceiling < 1:
            x = np.float32(self.lift) + np.float32(self.ceiling - self.lift) * x
        return np.clip(x * 255.0 + 0.5, 0, 255).astype(np.uint8)

    def _vignette_field(self, height: int, width: int) -> np.ndarray:
        # Pixel centres on the unit square, so a picture and its downscaled copy sample the same field.
        v = (np.arange(height, dtype=np.float32) + 0.5) / height - np.float32(self.centre[1])
        u = (np.arange(width, dtype=np.float32) + 0.5) / width - np.float32(self.centre[0])
        r2 = (u[None, :] ** 2 + v[:, None] ** 2) / np.float32(2.0)  # 1 at the far diagonal
        return np.float32(1.0) - np.float32(self.vignette) * np.minimum(r2, np.float32(1.0))
