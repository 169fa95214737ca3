"""Synthetic old-film degradation: clean RGB frames in, damaged "old film" frames out.

The model is used to make training pairs for the restoration network and to measure it. Its public
reference is the synthetic pipeline of "Bringing Old Films Back to Life" (Wan et al., CVPR 2022):
scratch and dust damage, blur, noise, JPEG, rescaling and brightness/contrast flicker, with settings
drawn once per clip and jittered per frame. On top of that we model film grain whose strength
depends on the brightness of the image, vertical line scratches that persist over many frames,
drift sideways and fade in and out, gate weave (sub-pixel jitter of the whole picture), fading of
the stock (lost saturation and contrast, a yellow/sepia cast), vignetting and black-and-white film.

Effects are applied in this order, in float32 RGB in [0, 1] (one luminance channel for
black-and-white film, which is cheaper and keeps the three output channels equal)::

    weave -> fading / tint / B&W -> flicker -> vignette -> scratches -> dust -> blur
          -> downscale -> grain -> (toning of B&W prints) -> JPEG

Distances are in input pixels except for ``grain_size``, which is in output pixels because the
grain is added after the downscale. Video codec artefacts (an H.264 round trip) are not part of
this model: they belong to the training data loader, which encodes whole clips.

Example::

    >>> settings = DegradeSettings(grain_strength=0.05, scratch_count=2, black_and_white=True)
    >>> frames = [np.full((96, 128, 3), 128, np.uint8)] * 3
    >>> damaged = list(degrade_clip(frames, settings, seed=7))
    >>> damaged[0].shape, damaged[0].dtype
    ((96, 128, 3), dtype('uint8'))
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator

import cv2
import numpy as np

from .settings import DOWNSCALE_KERNELS, INTERPOLATION, WORN_PRINT, DegradeSettings, check_int

# The settings live in .settings; they are named here too, where the damage model is used from.
__all__ = ["DAMAGE_MASK_ALPHA", "DOWNSCALE_KERNELS", "INTERPOLATION", "WORN_PRINT", "DegradeSettings", "FilmDegrader",
           "degrade_clip"]

# Rec. 601 luma, the weights old telecine transfers and JPEG use.
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)
# Per-channel gains of a fully yellowed / sepia-toned print (R, G, B).
_SEPIA = np.array([1.0, 0.84, 0.60], np.float32)
_BRIGHT_DAMAGE = 0.96  # value a bright speck or scratch tends to (clear base showing through)
_DARK_DAMAGE = 0.04  # value a dark speck or scratch tends to (opaque dirt on the print)
_SUBPIXEL_BITS = 2  # fixed-point fraction bits for OpenCV drawing (quarter-pixel positions)
_CHROMA_GRAIN = 0.35  # weight of the per-channel grain of colour stock against the shared grain
#: A pixel counts as damaged (:meth:`FilmDegrader.damage_mask`) where a speck or a scratch was
#: blended in with at least this opacity: below it the change is under 10% of the way to the
#: speck's tone, lost in the grain.
DAMAGE_MASK_ALPHA = 0.1


def _grain_taps(sigma: float) -> int:
    """Odd kernel size for a Gaussian of ``sigma`` pixels, out to three sigma."""
    return 2 * math.ceil(3.0 * sigma) + 1


class _Wander:
    """A value in (-1, 1) that wanders smoothly from frame to frame, plus some per-frame jitter."""

    def __init__(self, rng: np.random.Generator, *, correlation: float, jitter: float) -> None:
        self._rng = rng
        self._correlation = correlation
        self._innovation = math.sqrt(1.0 - correlation * correlation)
        self._jitter = jitter
        self._state = float(rng.standard_normal())

    def next(self) -> float:
        # AR(1) keeps the state standard normal; tanh bounds it without a hard clip.
        noise = float(self._rng.standard_normal())
        self._state = self._correlation * self._state + self._innovation * noise
        jitter = float(self._rng.uniform(-1.0, 1.0))
        return (1.0 - self._jitter) * math.tanh(0.6 * self._state) + self._jitter * jitter


class _Scratch:
    """One vertical line scratch: where it is, how it moves and how it looks along its length."""

    def __init__(self, rng: np.random.Generator, s: DegradeSettings, height: int, width: int,
                 *, age: int) -> None:
        self.life = max(1, int(round(s.scratch_persistence * rng.uniform(0.5, 1.5))))
        self.age = min(age, self.life - 1)
        self.fade_frames = max(1, min(8, self.life // 4))
        self.x = float(rng.uniform(2.0, width - 3.0)) if width > 5 else (width - 1) / 2
        self.velocity = float(rng.uniform(-s.scratch_drift, s.scratch_drift))
        self.bright = bool(rng.random() < s.bright_fraction)
        self.sigma = float(rng.uniform(0.4, 1.2))
        self.strength = s.scratch_strength * float(rng.uniform(0.7, 1.0))
        # Strength along the line: low-frequency noise, so long scratches break up in places.
        knots = rng.normal(0.9, 0.45, size=height // 24 + 2).clip(0.0, 1.0)
        self.profile = np.interp(
            np.linspace(0.0, knots.size - 1.0, height), np.arange(knots.size), knots
        ).astype(np.float32)

    def opacity(self) -> float:
        ramp = min(self.age + 1, self.life - self.age) / self.fade_frames
        return self.strength * min(1.0, ramp)

    def move(self, rng: np.random.Generator, drift: float, width: int) -> None:
        self.velocity = float(np.clip(self.velocity + rng.normal(0.0, 0.2 * drift), -drift, drift))
        x = self.x + self.velocity
        if not 2.0 <= x <= width - 3.0:  # bounce off the frame edges
            self.velocity = -self.velocity
            x = min(max(self.x + self.velocity, 0.0), width - 1.0)
        self.x = x
        self.age += 1



class FilmDegrader:
    """Turns a clean clip into old film, one frame at a time.

    The degrader keeps state between calls: scratches persist and drift, weave and flicker wander
    smoothly. Two degraders with the same settings, seed and size give identical output for the
    same frames. Each effect draws from its own random stream, so switching one effect on or off
    does not change the random choices of the others (where scratches run, how the weave moves).

    Args:
        settings: clip-level settings.
        seed: integer >= 0 that fixes every random choice.
        height: height H of the input frames in pixels, divisible by ``settings.scale``.
        width: width W of the input frames in pixels, divisible by ``settings.scale``.

    Example::

        >>> degrader = FilmDegrader(DegradeSettings(scale=2), seed=0, height=96, width=128)
        >>> degrader.degrade(np.zeros((96, 128, 3), np.uint8)).shape
        (48, 64, 3)
    """

    def __init__(self, settings: DegradeSettings, *, seed: int, height: int, width: int) -> None:
        if not isinstance(settings, DegradeSettings):
            raise TypeError(f"settings must be a DegradeSettings, got {type(settings).__name__}")
        check_int("seed", seed, 0, 2**63 - 1)
        check_int("height", height, 1, 1 << 16)
        check_int("width", width, 1, 1 << 16)
        if height % settings.scale or width % settings.scale:
            raise ValueError(
                f"frame size must be divisible by scale {settings.scale}, got {width}x{height}"
            )
        self.settings = settings
        self.seed = seed
        self.height = height
        self.width = width
        self.frame_index = 0  # frames degraded so far
        self._buffers: dict[str, np.ndarray] = {}
        #: Where the last frame got dust or dirt ("dust") and line scratches ("scratches"):
        #: bool (H / scale, W / scale) each; see :meth:`damage_mask`. Empty before the first frame.
        self.last_damage: dict[str, np.ndarray] = {}

        streams = np.random.SeedSequence(seed).spawn(7)
        setup, weave, flicker, scratch, dust, grain, jpeg = map(np.random.default_rng, streams)
        self._rng_scratch = scratch
        self._rng_dust = dust
        self._rng_grain = grain
        self._rng_jpeg = jpeg
        self._weave = (
            _Wander(weave, correlation=0.85, jitter=0.3),
            _Wander(weave, correlation=0.85, jitter=0.3),
        )
        self._flicker = (
            _Wander(flicker, correlation=0.5, jitter=0.5),
            _Wander(flicker, correlation=0.5, jitter=0.5),
        )
        self._colour_matrix = self._make_colour_matrix()
        self._toning = (1.0 - settings.tint * (1.0 - _SEPIA)).astype(np.float32)
        self._vignette = self._make_vignette(setup)
        self._blur_kernel = self._make_blur_kernel()
        self._grain_norm = self._grain_normaliser()
        # Scratch slots: None while the slot waits for its next scratch, counted by the gaps.
        self._scratches: list[_Scratch | None] = []
        self._gaps: list[int] = []
        for i in range(settings.scratch_count):
            # The first scratch is already running when the clip begins; the others may be.
            running = i == 0 or scratch.random() < 0.5
            if running:
                age = int(scratch.integers(0, max(1, int(settings.scratch_persistence) // 2)))
                self._scratches.append(_Scratch(scratch, settings, height, width, age=age))
                self._gaps.append(0)
            else:
                self._scratches.append(None)
                self._gaps.append(self._draw_gap())

    # -- set-up ---------------------------------------------------------------------------------

    def _make_colour_matrix(self) -> np.ndarray | None:
        """3x4 (colour) or 1x4 (B&W) affine matrix for cv2.transform, None when it is identity."""
        s = self.settings
        if not s.black_and_white and s.fade == 0 and s.tint == 0:
            return None
        low = 0.15 * s.fade  # raised blacks
        high = 1.0 - 0.08 * s.fade  # dulled whites
        if s.black_and_white:
            linear = (high - low) * _LUMA[None, :]
            offset = np.array([low], np.float32)
        else:
            saturation = 1.0 - 0.85 * s.fade
            desaturate = saturation * np.eye(3) + (1.0 - saturation) * np.outer(np.ones(3), _LUMA)
            gains = 1.0 - s.tint * (1.0 - _SEPIA)
            linear = gains[:, None] * (high - low) * desaturate
            offset = gains * low
        return np.hstack([linear, offset[:, None]]).astype(np.float32)

    def _make_vignette(self, rng: np.random.Generator) -> np.ndarray | None:
        s = self.settings
        if s.vignette == 0:
            return None
        centre_x = 0.5 + rng.uniform(-0.05, 0.05)
        centre_y = 0.5 + rng.uniform(-0.05, 0.05)
        x = (np.arange(self.width, dtype=np.float32) + 0.5) / self.width - centre_x
        y = (np.arange(self.height, dtype=np.float32) + 0.5) / self.height - centre_y
        radius2 = (4.0 * x[None, :] ** 2 + 4.0 * y[:, None] ** 2) / 2.0  # ~1 in the corners
        mask = 1.0 - s.vignette * np.minimum(radius2, 1.0) ** 1.5
        mask = mask.astype(np.float32)
        return mask if s.black_and_white else cv2.merge([mask, mask, mask])

    def _make_blur_kernel(self) -> np.ndarray | None:
        """2-D kernel for anisotropic blur; None when the blur is off or isotropic."""
        s = self.settings
        if s.blur_sigma == 0 or s.blur_aspect == 1:
            return None
        major = s.blur_sigma
        minor = max(s.blur_sigma * s.blur_aspect, 0.05)
        radius = max(1, math.ceil(3.0 * major))
        yy, xx = np.mgrid[-radius:radius + 1, -radius:radius + 1].astype(np.float64)
        angle = math.radians(s.blur_angle)
        # Image rows grow downwards, so counter-clockwise on screen is -angle in (x, y) here.
        along = xx * math.cos(angle) - yy * math.sin(angle)
        across = xx * math.sin(angle) + yy * math.cos(angle)
        kernel = np.exp(-0.5 * ((along / major) ** 2 + (across / minor) ** 2))
        return (kernel / kernel.sum()).astype(np.float32)

    def _grain_normaliser(self) -> float:
        """Factor that brings grain blurred by ``grain_size`` back to unit standard deviation."""
        size = self.settings.grain_size
        if size == 0:
            return 1.0
        kernel = cv2.getGaussianKernel(_grain_taps(size), size)
        return float(1.0 / np.sum(kernel**2))  # std of separably blurred white noise is sum(k^2)

    def _draw_gap(self) -> int:
        persistence = self.settings.scratch_persistence
        return 1 + int(persistence * self._rng_scratch.uniform(0.1, 1.0))

    # -- per frame ------------------------------------------------------------------------------

    def degrade(self, frame: np.ndarray) -> np.ndarray:
        """Degrade the next frame of the clip.

        Args:
            frame: clean RGB frame, uint8 (H, W, 3) in [0, 255], H and W as given to the
                constructor.

        Returns:
            Damaged RGB frame, uint8 (H / scale, W / scale, 3) in [0, 255], a new array.
        """
        expected = (self.height, self.width, 3)
        if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.shape != expected:
            got = (
                f"{frame.dtype} {frame.shape}" if isinstance(frame, np.ndarray)
                else type(frame).__name__
            )
            raise ValueError(f"frame must be uint8 {expected}, got {got}")
        s = self.settings
        image = np.multiply(frame, np.float32(1.0 / 255.0), out=self._buffer("input", expected))
        drawn = {"dust": np.zeros(expected[:2], bool), "scratches": np.zeros(expected[:2], bool)}

        if s.weave_amplitude > 0:
            image = self._apply_weave(image)
        if self._colour_matrix is not None:
            shape = expected[:2] if s.black_and_white else expected
            image = cv2.transform(image, self._colour_matrix, dst=self._buffer("colour", shape))
        if s.flicker_amplitude > 0:
            self._apply_flicker(image)
        if self._vignette is not None:
            cv2.multiply(image, self._vignette, dst=image)
        if s.scratch_count > 0:
            self._apply_scratches(image, drawn["scratches"])
        if s.dust_density > 0:
            self._apply_dust(image, drawn["dust"])
        if s.blur_sigma > 0:
            image = self._apply_blur(image)
        if s.scale > 1:
            size = (self.width // s.scale, self.height // s.scale)
            small = self._buffer("downscaled", (size[1], size[0]) + image.shape[2:])
            kernel = INTERPOLATION[s.downscale_kernel]
            image = cv2.resize(image, size, dst=small, interpolation=kernel)
        if s.grain_strength > 0:
            self._apply_grain(image)
        if s.black_and_white and s.tint > 0:
            toned = self._buffer("toned", image.shape + (3,))
            image = np.multiply(image[:, :, None], self._toning, out=toned)  # a toned print

        cv2.max(image, 0.0, dst=image)
        out = cv2.convertScaleAbs(image, alpha=255.0)  # rounds and saturates to uint8
        if s.jpeg_quality is not None:
            out = self._apply_jpeg(out)
        if out.ndim == 2:
            out = cv2.cvtColor(out, cv2.COLOR_GRAY2RGB)
        self.last_damage = {name: _downscale_mask(mask, s.scale) for name, mask in drawn.items()}
        self.frame_index += 1
        return out

    def damage_mask(self) -> np.ndarray:
        """Where the last degraded frame got dust, dirt or a line scratch.

        A pixel counts where a speck or a scratch was blended in with opacity above
        :data:`DAMAGE_MASK_ALPHA`; after the downscale, an output pixel counts if any of the
        ``scale x scale`` input pixels it averages does (blur, grain and JPEG can spread the
        damage a pixel further; they are not counted). Reading it changes nothing of the output
        or the random streams.

        Returns:
            bool (H / scale, W / scale), a new array; all False before the first frame.
        """
        if not self.last_damage:
            s = self.settings
            return np.zeros((self.height // s.scale, self.width // s.scale), bool)
        return self.last_damage["dust"] | self.last_damage["scratches"]

    def _buffer(self, name: str, shape: tuple[int, ...], dtype=np.float32) -> np.ndarray:
        # Working arrays are kept between frames: a fresh multi-megabyte array per step costs
        # more in page faults than the arithmetic itself.
        array = self._buffers.get(name)
        if array is None or array.shape != shape or array.dtype != dtype:
            array = self._buffers[name] = np.empty(shape, dtype)
        return array

    def _apply_weave(self, image: np.ndarray) -> np.ndarray:
        amplitude = self.settings.weave_amplitude
        dx = amplitude * self._weave[0].next()
        dy = 0.5 * amplitude * self._weave[1].next()
        shift = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]], np.float32)
        return cv2.warpAffine(
            image, shift, (self.width, self.height), dst=self._buffer("weave", image.shape),
            flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE,
        )

    def _apply_flicker(self, image: np.ndarray) -> None:
        amplitude = self.settings.flicker_amplitude
        gain = 1.0 + amplitude * self._flicker[0].next()
        contrast = 1.0 + 0.5 * amplitude * self._flicker[1].next()
        # gain * ((x - 0.5) * contrast + 0.5), in place
        image *= np.float32(gain * contrast)
        image += np.float32(0.5 * gain * (1.0 - contrast))

    def _apply_scratches(self, image: np.ndarray, drawn: np.ndarray) -> None:
        s = self.settings
        rng = self._rng_scratch
        for i, scratch in enumerate(self._scratches):
            if scratch is None:
                self._gaps[i] -= 1
                if self._gaps[i] > 0:
                    continue
                scratch = self._scratches[i] = _Scratch(rng, s, self.height, self.width, age=0)
            opacity = scratch.opacity() * float(rng.uniform(0.75, 1.0))
            self._draw_scratch(image, scratch, opacity, drawn)
            scratch.move(rng, s.scratch_drift, self.width)
            if scratch.age >= scratch.life:
                self._scratches[i] = None
                self._gaps[i] = self._draw_gap()

    def _draw_scratch(self, image: np.ndarray, scratch: _Scratch, opacity: float,
                      drawn: np.ndarray) -> None:
        half = math.ceil(3.0 * scratch.sigma) + 1
        centre = int(round(scratch.x))
        first, last = max(0, centre - half), min(self.width, centre + half + 1)
        columns = np.arange(first, last, dtype=np.float32)
        across = np.exp(-0.5 * ((columns - scratch.x) / scratch.sigma) ** 2)
        alpha = (opacity * scratch.profile)[:, None] * across[None, :]  # (H, w)
        drawn[:, first:last] |= alpha > DAMAGE_MASK_ALPHA
        region = image[:, first:last]
        if region.ndim == 3:
            alpha = alpha[:, :, None]
        target = _BRIGHT_DAMAGE if scratch.bright else _DARK_DAMAGE
        region += alpha * (target - region)

    def _apply_dust(self, image: np.ndarray, drawn: np.ndarray) -> None:
        s = self.settings
        rng = self._rng_dust
        count = int(rng.poisson(s.dust_density * self.height * self.width / 1e6))
        if count == 0:
            return
        one = 1 << _SUBPIXEL_BITS
        centres = rng.uniform(0.0, 1.0, size=(count, 2)) * (self.width, self.height) * one
        bright = rng.random(count) < s.bright_fraction
        opacity = rng.uniform(0.5, 1.0, count)
        is_hair = rng.random(count) < 0.2
        # Mostly small specks, a few large: the radius is skewed towards its lower bound.
        radius = 0.6 + (s.dust_size - 0.6) * rng.random(count) ** 3
        elongation = rng.uniform(0.4, 1.0, count)
        angle = rng.uniform(0.0, 180.0, count)
        masks = {}  # bright (True) and dark (False) speck opacity, uint8 (H, W)
        for k in range(count):
            mask = masks.get(bool(bright[k]))
            if mask is None:
                name = "dust_bright" if bright[k] else "dust_dark"
                mask = masks[bool(bright[k])] = self._buffer(name, image.shape[:2], np.uint8)
                mask.fill(0)
            colour = int(255 * opacity[k])
            centre = (int(centres[k, 0]), int(centres[k, 1]))
            if is_hair[k]:
                # A hair or fibre: a short wobbly polyline, about three blob radii per step.
                steps = rng.normal(0.0, 1.0, size=(int(rng.integers(3, 7)), 2)) * radius[k] * 3
                points = (np.cumsum(steps, axis=0) * one + centre).astype(np.int32)
                thickness = 1 if s.dust_size < 8 else 2
                cv2.polylines(mask, [points], False, colour, thickness, cv2.LINE_AA, _SUBPIXEL_BITS)
            else:
                axes = (int(radius[k] * one), int(radius[k] * elongation[k] * one))
                cv2.ellipse(mask, centre, axes, angle[k], 0, 360, colour, -1, cv2.LINE_AA,
                            _SUBPIXEL_BITS)
        alpha = self._buffer("dust_alpha", image.shape[:2])
        change = self._buffer("dust_change", image.shape)
        for is_bright, mask in masks.items():
            drawn |= mask > int(255 * DAMAGE_MASK_ALPHA)
            np.multiply(mask, np.float32(1.0 / 255.0), out=alpha)
            if image.ndim == 3:
                alpha3 = self._buffer("dust_alpha3", image.shape)
                cv2.merge([alpha, alpha, alpha], dst=alpha3)
            target = _BRIGHT_DAMAGE if is_bright else _DARK_DAMAGE
            np.subtract(np.float32(target), image, out=change)
            change *= alpha3 if image.ndim == 3 else alpha
            image += change

    def _apply_blur(self, image: np.ndarray) -> np.ndarray:
        blurred = self._buffer("blur", image.shape)
        if self._blur_kernel is None:
            sigma = self.settings.blur_sigma
            return cv2.GaussianBlur(image, (0, 0), sigma, dst=blurred,
                                    borderType=cv2.BORDER_REFLECT_101)
        return cv2.filter2D(image, -1, self._blur_kernel, dst=blurred,
                            borderType=cv2.BORDER_REFLECT_101)

    def _apply_grain(self, image: np.ndarray) -> None:
        s = self.settings
        rng = self._rng_grain
        height, width = image.shape[:2]
        noise = rng.standard_normal(dtype=np.float32, out=self._buffer("grain", (height, width)))
        if s.grain_size > 0:
            taps = _grain_taps(s.grain_size)
            noise = cv2.GaussianBlur(noise, (taps, taps), s.grain_size,
                                     dst=self._buffer("grain_blur", noise.shape))
            noise *= np.float32(self._grain_norm)
        if image.ndim == 3:
            # Colour stock: the dye clouds of the three layers mostly agree, so a weaker and
            # coarser chroma component (drawn at half resolution) is added to shared grain.
            half = self._buffer("grain_chroma_half", ((height + 1) // 2, (width + 1) // 2, 3))
            chroma = cv2.resize(rng.standard_normal(dtype=np.float32, out=half), (width, height),
                                dst=self._buffer("grain_chroma", image.shape),
                                interpolation=cv2.INTER_LINEAR)
            noise = cv2.merge([noise, noise, noise], dst=self._buffer("grain3", image.shape))
            chroma *= np.float32(_CHROMA_GRAIN)
            noise += chroma
            noise *= np.float32(1.0 / math.sqrt(1.0 + (_CHROMA_GRAIN * 0.625) ** 2))
        strength = s.grain_strength * float(rng.uniform(0.9, 1.1))
        # Grain shows most in the mid-tones: amplitude 1 at mid-grey, 0.25 at black and white.
        level = np.clip(image, 0.0, 1.0, out=self._buffer("grain_level", image.shape))
        amplitude = np.multiply(level, level, out=self._buffer("grain_amplitude", image.shape))
        np.subtract(level, amplitude, out=amplitude)
        amplitude *= np.float32(3.0 * strength)
        amplitude += np.float32(0.25 * strength)
        noise *= amplitude
        image += noise

    def _apply_jpeg(self, image: np.ndarray) -> np.ndarray:
        quality = self.settings.jpeg_quality + int(self._rng_jpeg.integers(-5, 6))
        quality = min(max(quality, 5), 100)
        params = [cv2.IMWRITE_JPEG_QUALITY, quality]
        if image.ndim == 2:
            ok, data = cv2.imencode(".jpg", image, params)
            decoded = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE) if ok else None
        else:
            ok, data = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), params)
            decoded = cv2.imdecode(data, cv2.IMREAD_COLOR) if ok else None
            if decoded is not None:
                decoded = cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)
        if decoded is None:
            raise RuntimeError(f"OpenCV failed to round-trip a frame through JPEG q={quality}")
        return decoded


def _downscale_mask(mask: np.ndarray, scale: int) -> np.ndarray:
    """bool (H, W) -> bool (H / scale, W / scale): True where any pixel of the block is."""
    if scale == 1:
        return mask
    height, width = mask.shape
    return mask.reshape(height // scale, scale, width // scale, scale).any(axis=(1, 3))


def degrade_clip(
    frames: Iterable[np.ndarray], settings: DegradeSettings, seed: int
) -> Iterator[np.ndarray]:
    """Degrade a clip lazily with one :class:`FilmDegrader` sized from the first frame.

    Args:
        frames: clean RGB frames, uint8 (H, W, 3), all of the same size.
        settings: clip-level settings.
        seed: integer >= 0 that fixes every random choice.

    Yields:
        Damaged RGB frames, uint8 (H / scale, W / scale, 3).
    """
    degrader = None
    for frame in frames:
        if degrader is None:
            if not isinstance(frame, np.ndarray) or frame.ndim != 3:
                got = getattr(frame, "shape", type(frame).__name__)
                raise ValueError(f"frames must be uint8 (H, W, 3) arrays, got {got}")
            degrader = FilmDegrader(settings, seed=seed, height=frame.shape[0],
                                    width=frame.shape[1])
        yield degrader.degrade(frame)
