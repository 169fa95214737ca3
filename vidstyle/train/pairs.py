"""Training pairs that teach restoration, not one damage model: the damage mix.

A model trained on one damage model learns that model (DESIGN.md, "Old-film degradation"). Tried
on footage damaged another way, or on clean footage, the first remaster models lost to bicubic and
moved the colour: every input had been faded, tinted or flickered and every target had not, so
they had learnt to shift the tone of every picture. :class:`PairDamage` draws the damage of one
clip so that the network learns what can be learnt from a frame and leaves the rest alone:

* **clean pairs** (``clean_probability``): the target only resampled to the input's size. The
  network must leave a clean picture as it is, sharpened, never repainted;
* **global tone in both** (:class:`~vidstyle.train.tone.GlobalTone`, with per-frame flicker):
  exposure, contrast, fading, cast and vignetting are applied to the target as well as to the
  input, so the generator keeps the tone it is given;
* **the film damage** of :class:`~vidstyle.damage.degrade.FilmDegrader` (grain, dust, scratches,
  blur, downscale) with its own tone effects off, each effect on with its own probability;
* **a second-order chain** (``second_order_probability``; Real-ESRGAN, Wang et al. 2021): after
  the film damage, blur, a resize down and back, noise and JPEG once more, so the input has
  been through more than one generation of copying, as old film has;
* otherwise a **JPEG** pass (``jpeg_probability``). Video codec round trips (H.264) are added by
  the batch samplers, which code several pictures as one stream;
* **coded clean pairs** (``coded_clean_probability``): a clean pair whose input alone is JPEG
  compressed, so the network learns to take blocks and ringing off a picture that has no other
  damage (the first models gained next to nothing over bicubic on a JPEG'd clean still).

Black-and-white film is half of the damaged clips; its target is the clean picture's luma
(colourising is not the restorer's job).

Example::

    >>> rng = np.random.default_rng(0)
    >>> damage = PairDamage(rng, scale=2, height=128, width=128)
    >>> low, target = damage.pair(np.full((128, 128, 3), 100, np.uint8))
    >>> low.shape, target.shape
    ((64, 64, 3), (128, 128, 3))
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import cv2
import numpy as np

from ..damage.degrade import DOWNSCALE_KERNELS, INTERPOLATION, DegradeSettings, FilmDegrader
from .tone import GlobalTone

__all__ = ["EVALUATION_MIX", "DamageMix", "PairDamage", "grey", "jpeg_round_trip"]

_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


@dataclass(frozen=True)
class DamageMix:
    """How often each part of the damage is drawn; every field is a probability in [0, 1]."""

    clean_probability: float = 0.15
    """Pairs with no damage at all, only the resampling to the input's size."""
    tone_probability: float = 0.65
    """Clips with a global tone (in input and target alike)."""
    flicker_probability: float = 0.5
    """Toned clips whose exposure also flickers from frame to frame."""
    second_order_probability: float = 0.4
    """Damaged clips that go through the second-order chain."""
    jpeg_probability: float = 0.5
    """Damaged clips without the second-order chain that get a JPEG pass."""
    black_and_white_probability: float = 0.5
    """Black-and-white clips."""
    lowest_jpeg_quality: int = 30
    """JPEG qualities are drawn from [this, 95] (an integer in [5, 95])."""
    coded_clean_probability: float = 0.0
    """Clean pairs whose input alone goes through a JPEG pass: an undamaged picture that was
    stored compressed (a DVD or a web copy), whose blocks and ringing are not in the target."""

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name == "lowest_jpeg_quality":
                if not (isinstance(value, int) and 5 <= value <= 95):
                    raise ValueError(f"lowest_jpeg_quality must be an integer in [5, 95], got {value!r}")
            elif not 0.0 <= value <= 1.0:
                raise ValueError(f"{field.name} must be in [0, 1], got {value!r}")


#: The mix for held-out evaluation of the film damage: no clean pairs (clean footage is measured
#: as a condition of its own), everything else as in training.
EVALUATION_MIX = DamageMix(clean_probability=0.0)


@dataclass(frozen=True)
class _SecondOrder:
    blur_sigma: float  # 0: none
    resize: float  # 1: none; else down to this fraction and back
    down_kernel: int
    up_kernel: int
    noise_sigma: float  # levels of 255; 0: none
    grey_noise: bool
    jpeg_quality: int | None

    @classmethod
    def random(cls, rng: np.random.Generator, lowest_jpeg_quality: int) -> _SecondOrder:
        kernels = list(INTERPOLATION.values())
        return cls(
            blur_sigma=float(rng.uniform(0.2, 1.2)) if rng.random() < 0.6 else 0.0,
            resize=float(rng.uniform(0.5, 0.95)) if rng.random() < 0.5 else 1.0,
            down_kernel=kernels[int(rng.integers(len(kernels)))],
            up_kernel=kernels[int(rng.integers(1, len(kernels)))],
            noise_sigma=float(rng.uniform(1.0, 10.0)) if rng.random() < 0.6 else 0.0,
            grey_noise=bool(rng.random() < 0.4),
            jpeg_quality=int(rng.integers(lowest_jpeg_quality, 96)) if rng.random() < 0.7 else None,
        )

    def apply(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        height, width = image.shape[:2]
        if self.blur_sigma > 0:
            image = cv2.GaussianBlur(image, (0, 0), self.blur_sigma)
        if self.resize < 1.0:
            small = (max(1, round(width * self.resize)), max(1, round(height * self.resize)))
            image = cv2.resize(image, small, interpolation=self.down_kernel)
            image = cv2.resize(image, (width, height), interpolation=self.up_kernel)
        if self.noise_sigma > 0:
            shape = (height, width, 1) if self.grey_noise else (height, width, 3)
            noisy = image.astype(np.float32) + rng.normal(0.0, self.noise_sigma, shape).astype(np.float32)
            image = np.clip(noisy + 0.5, 0, 255).astype(np.uint8)
        if self.jpeg_quality is not None:
            image = jpeg_round_trip(image, self.jpeg_quality + int(rng.integers(-3, 4)))
        return image


def jpeg_round_trip(image: np.ndarray, quality: int) -> np.ndarray:
    """RGB uint8 (H, W, 3) through OpenCV's JPEG at ``quality`` (clamped to [5, 100])."""
    quality = int(min(max(quality, 5), 100))
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def grey(image: np.ndarray) -> np.ndarray:
    """Rec. 601 luma of RGB uint8 (H, W, 3) in all three channels."""
    luma = cv2.transform(image.astype(np.float32), _LUMA[None, :])
    return cv2.cvtColor(np.clip(luma + 0.5, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2RGB)


class PairDamage:
    """The damage of one training clip, drawn once; :meth:`pair` applies it frame after frame.

    Args:
        rng: source of randomness for the clip's settings (and, through a child generator, the
            per-frame draws).
        scale: 1, 2 or 4: the input is ``1 / scale`` of the target's size.
        height, width: size of the clean frames, multiples of ``scale``.
        mix: how often each part is drawn.

    Attributes:
        clean, black_and_white: what was drawn.
        settings: the film damage (:class:`DegradeSettings`, its tone effects and weave off), or
            None for a clean pair.
        tone: the clip's global tone.
    """

    def __init__(self, rng: np.random.Generator, *, scale: int, height: int, width: int,
                 mix: DamageMix = DamageMix()) -> None:
        if scale not in (1, 2, 4):
            raise ValueError(f"scale must be 1, 2 or 4, got {scale}")
        if height % scale or width % scale:
            raise ValueError(f"frame size {width}x{height} must be a multiple of the scale {scale}")
        self.scale, self.height, self.width = scale, height, width
        self.clean = bool(rng.random() < mix.clean_probability)
        self.black_and_white = bool(rng.random() < mix.black_and_white_probability)
        self.tone = GlobalTone.random(rng, probability=mix.tone_probability)
        self.flicker = (float(rng.uniform(0.02, 0.15))
                        if not self.tone.is_identity and rng.random() < mix.flicker_probability else 0.0)
        self.resample = INTERPOLATION[DOWNSCALE_KERNELS[int(rng.integers(len(DOWNSCALE_KERNELS)))]]
        self.settings: DegradeSettings | None = None
        self.second_order: _SecondOrder | None = None
        self.jpeg_quality: int | None = None
        self._degrader: FilmDegrader | None = None
        # Drawn only when asked for, so that older recipes draw the same pairs as before.
        if self.clean and mix.coded_clean_probability > 0 and rng.random() < mix.coded_clean_probability:
            self.jpeg_quality = int(rng.integers(mix.lowest_jpeg_quality, 96))
        if not self.clean:
            # Tone is drawn above and applied to input and target alike; weave would misalign the
            # pair (steadying needs the neighbouring frames, not one frame).
            self.settings = dataclasses.replace(
                DegradeSettings.random(rng, scale=scale), weave_amplitude=0.0, vignette=0.0, fade=0.0,
                tint=0.0, flicker_amplitude=0.0, jpeg_quality=None, black_and_white=self.black_and_white)
            self._degrader = FilmDegrader(self.settings, seed=int(rng.integers(2**63 - 1)),
                                          height=height, width=width)
            if rng.random() < mix.second_order_probability:
                self.second_order = _SecondOrder.random(rng, mix.lowest_jpeg_quality)
            elif rng.random() < mix.jpeg_probability:
                self.jpeg_quality = int(rng.integers(mix.lowest_jpeg_quality, 96))
        self._rng = np.random.default_rng(int(rng.integers(2**63 - 1)))

    def pair(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The next frame of the clip as ``(damaged input, target)``.

        Args:
            frame: clean RGB uint8 (height, width, 3).
        Returns:
            RGB uint8 (height / scale, width / scale, 3) and RGB uint8 (height, width, 3).
        """
        if frame.shape != (self.height, self.width, 3) or frame.dtype != np.uint8:
            raise ValueError(f"frame must be uint8 {(self.height, self.width, 3)}, got {frame.dtype} {frame.shape}")
        source = grey(frame) if self.black_and_white else frame
        tone = self.tone.flickered(self._rng, self.flicker)
        target = tone.apply(source)
        size = (self.width // self.scale, self.height // self.scale)
        if self._degrader is None:  # a clean pair (coded or not)
            low = target if self.scale == 1 else cv2.resize(target, size, interpolation=self.resample)
        else:
            low = tone.apply(self._degrader.degrade(np.ascontiguousarray(source)))
            if self.second_order is not None:  # it has its own JPEG pass; jpeg_quality is None then
                low = self.second_order.apply(low, self._rng)
        if self.jpeg_quality is not None:
            low = jpeg_round_trip(np.ascontiguousarray(low), self.jpeg_quality + int(self._rng.integers(-3, 4)))
        return np.ascontiguousarray(low), target
