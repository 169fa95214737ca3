"""The settings of the synthetic old-film damage: what to draw, how strongly, and at random.

:class:`DegradeSettings` holds every knob of :class:`~vidstyle.damage.degrade.FilmDegrader`,
checked on construction; :meth:`DegradeSettings.random` draws a plausible print for training.
:data:`WORN_PRINT` is one fixed, moderately worn print for measuring.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["DOWNSCALE_KERNELS", "INTERPOLATION", "WORN_PRINT", "DegradeSettings", "check_int"]


DOWNSCALE_KERNELS = ("area", "bilinear", "bicubic", "lanczos")
"""Names accepted by ``DegradeSettings.downscale_kernel``."""

INTERPOLATION = {
    "area": cv2.INTER_AREA,
    "bilinear": cv2.INTER_LINEAR,
    "bicubic": cv2.INTER_CUBIC,
    "lanczos": cv2.INTER_LANCZOS4,
}
"""OpenCV interpolation flag of each name of ``DOWNSCALE_KERNELS``."""
def _check_number(name: str, value: object, low: float, high: float, *, high_open=False) -> None:
    closing = ")" if high_open else "]"
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number in [{low}, {high}{closing}, got {value!r}")
    in_range = low <= value < high if high_open else low <= value <= high
    if not in_range:  # also rejects NaN
        raise ValueError(f"{name} must be in [{low}, {high}{closing}, got {value!r}")


def check_int(name: str, value: object, low: int, high: int) -> None:
    """ValueError (one line, naming ``name``) unless ``value`` is an integer in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer in [{low}, {high}], got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be in [{low}, {high}], got {value!r}")


@dataclass(frozen=True)
class DegradeSettings:
    """Clip-level settings of the old-film model; every effect is off by default.

    ``DegradeSettings()`` leaves frames unchanged. Each field is checked on construction and a bad
    value raises ``ValueError`` naming the field, the allowed range and the value given. Use
    :meth:`random` to draw a plausible setting for training.
    """

    grain_strength: float = 0.0
    """Film grain: standard deviation of the grain on a mid-grey pixel, as a fraction of the full
    intensity range, in [0, 0.3]. Grain is weaker in deep shadows and highlights, new every frame,
    and its strength jitters by up to 10 % from frame to frame."""

    grain_size: float = 0.0
    """Size of grain clumps: Gaussian sigma in output pixels, in [0, 3]; 0 gives one-pixel grain."""

    dust_density: float = 0.0
    """Dust and dirt: mean number of specks per frame per megapixel of input, in [0, 5000].
    Each speck (a blob or, one time in five, a hair) lasts a single frame."""

    dust_size: float = 4.0
    """Radius of the largest dust blob in input pixels, in [1, 30]; most specks are much smaller."""

    bright_fraction: float = 0.5
    """Fraction of specks and scratches that are bright (damage on the negative, printed as white)
    rather than dark (dirt on the print), in [0, 1]."""

    scratch_count: int = 0
    """Vertical line scratches: how many can be on screen at once, an integer in [0, 20]."""

    scratch_persistence: float = 50.0
    """Mean lifetime of one scratch in frames, in [1, 10000]. A scratch fades in and out over up
    to 8 frames; after a gap of up to the same mean lifetime a new one starts elsewhere."""

    scratch_drift: float = 0.5
    """Fastest sideways drift of a scratch, in input pixels per frame, in [0, 10]. A scratch never
    moves more than this between two consecutive frames."""

    scratch_strength: float = 0.6
    """Opacity of a scratch at its core, in [0, 1]; it also flickers by up to 25 % per frame."""

    weave_amplitude: float = 0.0
    """Gate weave: largest horizontal shift of the picture in input pixels, in [0, 10] (the
    vertical shift is at most half of it). Sub-pixel, smooth over frames with per-frame jitter."""

    flicker_amplitude: float = 0.0
    """Flicker: largest relative change of brightness, in [0, 0.5]; contrast flickers by up to half
    of it. Varies quickly but not independently from frame to frame."""

    blur_sigma: float = 0.0
    """Blur: Gaussian sigma along the major axis, in input pixels, in [0, 8]; 0 is no blur."""

    blur_aspect: float = 1.0
    """Ratio of minor to major blur sigma, in (0, 1]; 1 is isotropic blur."""

    blur_angle: float = 0.0
    """Direction of the blur's major axis in degrees, counter-clockwise on screen from the x axis,
    in [0, 180). Unused when ``blur_aspect`` is 1."""

    scale: int = 1
    """Downscale factor, 1, 2 or 4: frames of (H, W) come out as (H / scale, W / scale)."""

    downscale_kernel: str = "area"
    """Resampling kernel of the downscale: one of ``DOWNSCALE_KERNELS``."""

    jpeg_quality: int | None = None
    """JPEG compression quality, an integer in [5, 100] jittered by up to 5 per frame, or None for
    no JPEG."""

    fade: float = 0.0
    """Fading of the stock, in [0, 1]: saturation and contrast lost, blacks raised and whites
    dulled."""

    tint: float = 0.0
    """Warm yellow/sepia cast, in [0, 1]. On black-and-white film it is a toned print, so the three
    output channels are then no longer equal."""

    vignette: float = 0.0
    """Vignetting: fraction of brightness lost in the corners, in [0, 1]."""

    black_and_white: bool = False
    """Black-and-white film: colour is reduced to luminance and the output channels are equal
    (unless ``tint`` is above 0)."""

    def __post_init__(self) -> None:
        _check_number("grain_strength", self.grain_strength, 0.0, 0.3)
        _check_number("grain_size", self.grain_size, 0.0, 3.0)
        _check_number("dust_density", self.dust_density, 0.0, 5000.0)
        _check_number("dust_size", self.dust_size, 1.0, 30.0)
        _check_number("bright_fraction", self.bright_fraction, 0.0, 1.0)
        check_int("scratch_count", self.scratch_count, 0, 20)
        _check_number("scratch_persistence", self.scratch_persistence, 1.0, 10000.0)
        _check_number("scratch_drift", self.scratch_drift, 0.0, 10.0)
        _check_number("scratch_strength", self.scratch_strength, 0.0, 1.0)
        _check_number("weave_amplitude", self.weave_amplitude, 0.0, 10.0)
        _check_number("flicker_amplitude", self.flicker_amplitude, 0.0, 0.5)
        _check_number("blur_sigma", self.blur_sigma, 0.0, 8.0)
        _check_number("blur_aspect", self.blur_aspect, 0.0, 1.0)
        if self.blur_aspect == 0:
            raise ValueError(f"blur_aspect must be in (0, 1], got {self.blur_aspect!r}")
        _check_number("blur_angle", self.blur_angle, 0.0, 180.0, high_open=True)
        if isinstance(self.scale, bool) or self.scale not in (1, 2, 4):
            raise ValueError(f"scale must be 1, 2 or 4, got {self.scale!r}")
        if self.downscale_kernel not in DOWNSCALE_KERNELS:
            raise ValueError(
                f"downscale_kernel must be one of {', '.join(DOWNSCALE_KERNELS)}, "
                f"got {self.downscale_kernel!r}"
            )
        if self.jpeg_quality is not None:
            check_int("jpeg_quality", self.jpeg_quality, 5, 100)
        _check_number("fade", self.fade, 0.0, 1.0)
        _check_number("tint", self.tint, 0.0, 1.0)
        _check_number("vignette", self.vignette, 0.0, 1.0)
        if not isinstance(self.black_and_white, (bool, np.bool_)):
            raise ValueError(f"black_and_white must be True or False, got {self.black_and_white!r}")

    @classmethod
    def random(cls, rng: np.random.Generator, *, scale: int = 1) -> DegradeSettings:
        """Draw a plausible clip-level setting, from nearly clean to heavily damaged.

        Each effect is switched on with its own probability and then drawn over a wide range, so
        a model trained on the results sees mild and heavy damage in many combinations; half of
        the settings are black-and-white.

        Args:
            rng: source of randomness; the same generator state gives the same settings.
            scale: downscale factor of the result, 1, 2 or 4; the kernel is drawn at random.

        Returns:
            A validated ``DegradeSettings``.
        """

        def maybe(probability: float, draw, off=0.0):
            return draw() if rng.random() < probability else off

        def log_uniform(low: float, high: float) -> float:
            return float(math.exp(rng.uniform(math.log(low), math.log(high))))

        black_and_white = bool(rng.random() < 0.5)
        anisotropic = rng.random() < 0.3
        return cls(
            grain_strength=maybe(0.9, lambda: float(rng.uniform(0.01, 0.12))),
            grain_size=float(rng.uniform(0.0, 1.5)),
            dust_density=maybe(0.8, lambda: log_uniform(10.0, 800.0)),
            dust_size=float(rng.uniform(2.0, 12.0)),
            bright_fraction=float(rng.uniform(0.0, 1.0)),
            scratch_count=maybe(0.7, lambda: int(rng.integers(1, 7)), off=0),
            scratch_persistence=log_uniform(5.0, 300.0),
            scratch_drift=float(rng.uniform(0.0, 3.0)),
            scratch_strength=float(rng.uniform(0.2, 0.9)),
            weave_amplitude=maybe(0.7, lambda: float(rng.uniform(0.2, 3.0))),
            flicker_amplitude=maybe(0.8, lambda: float(rng.uniform(0.02, 0.25))),
            blur_sigma=maybe(0.8, lambda: float(rng.uniform(0.3, 2.5))),
            blur_aspect=float(rng.uniform(0.3, 1.0)) if anisotropic else 1.0,
            blur_angle=float(rng.uniform(0.0, 180.0)) if anisotropic else 0.0,
            scale=scale,
            downscale_kernel=str(rng.choice(DOWNSCALE_KERNELS)),
            jpeg_quality=maybe(0.6, lambda: int(rng.integers(30, 96)), off=None),
            fade=maybe(0.6, lambda: float(rng.uniform(0.05, 0.8))),
            tint=maybe(0.5, lambda: float(rng.uniform(0.05, 0.7))),
            vignette=maybe(0.6, lambda: float(rng.uniform(0.05, 0.6))),
            black_and_white=black_and_white,
        )


#: A moderately worn print, the same every time: grain, dust, two drifting scratches, flicker,
#: softness and a little fading (no weave, tint or vignette). Set ``scale`` with
#: :func:`dataclasses.replace`. The benchmark damages its held-out clips with it, and a style's
#: blend tolerance is measured on training frames damaged by it.
WORN_PRINT = DegradeSettings(
    grain_strength=0.05, grain_size=0.6, dust_density=200.0, dust_size=5.0, scratch_count=2,
    scratch_persistence=60.0, scratch_drift=0.8, scratch_strength=0.5, flicker_amplitude=0.08,
    blur_sigma=0.8, downscale_kernel="area", fade=0.1,
)
