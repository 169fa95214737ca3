"""A second old-film damage family, written apart from :mod:`vidstyle.damage.degrade`.

The generalization benchmark (``pipelines/generalization.py``, issue 14) damages held-out and
outside footage with this family, which training never sees: a model that has only learnt the
project's own damage model shows it here. Nothing is shared with the training damage: no import
from ``vidstyle.damage`` or ``vidstyle.train``, other tools (libav's own filters through PyAV's
filter graph, libavcodec's MPEG-2 and MJPEG encoders), other shapes (soft elliptical specks, a
scratch that follows a random walk), its own ranges and its own seeds.

One clip is damaged with one set of settings drawn per clip (:class:`ClipDamage`) and jittered
frame by frame, in this order, all but the last step in one libav filter graph per frame:

1. optical blur at full resolution: ``gblur`` (sigma jittered per frame);
2. the scan: ``scale`` down by ``scale`` with a per-clip libav kernel (bicubic, lanczos, area);
3. tone: a ``lutrgb`` curve (gamma, contrast, brightness; the brightness wanders frame to frame
   as flicker), ``hue`` saturation (fading), ``colorchannelmixer`` (a colour cast),
   ``vignette`` (in some clips);
4. grain: ``noise`` with ``allf=t+u`` (uniform, temporal), a new seed every frame;
5. dirt, drawn with numpy on the low-resolution frame: dust specks as soft-edged ellipses of
   random size, orientation and darkness (a few bright ones, dirt on the negative), and in some
   clips one vertical line scratch, 1 to 2 px wide, whose course down the frame is a random walk
   and whose position drifts from frame to frame;
6. a lossy codec round trip of the whole clip through MPEG-2 or MJPEG at a fixed low-quality
   quantiser (``qmin = qmax``).

The global tone damage (step 3) is part of it: the benchmark scores a restoration against the
clean frames, so a model that shifts colour blindly is not rewarded, and one that keeps the tone
it is given loses no more than bicubic does.

Example::

    >>> low = damage_clip(frames, scale=2, seed=7)     # list of (H/2, W/2, 3) uint8
    >>> same = clean_clip(frames, 2)                   # area downscale only ("do no harm")
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from fractions import Fraction

import av
import av.filter
import cv2
import numpy as np

__all__ = ["DRAWN_ALPHA", "STEPS", "ClipDamage", "clean_clip", "damage_clip", "damage_clip_with_masks",
           "draw_clip_damage", "settings_for", "tone_only"]

#: Mixed into every seed, so that a seed given here never draws what the same number draws in
#: any other random generator of the project.
DAMAGE_TAG = 0x1D4A6E
#: libav scalers of the scan step, one drawn per clip.
SCALERS = ("bicubic", "lanczos", "area")
#: Codecs of the round trip, one drawn per clip, and their fixed quantiser ranges (inclusive).
CODEC_QUANTISERS = {"mpeg2video": (5, 14), "mjpeg": (6, 18)}
#: Frame rate the codecs are told (MPEG-2 accepts only standard rates); it changes nothing else.
CODEC_RATE = 25
#: The steps of the damage that can be left out (:func:`damage_clip_with_masks`); the optical blur and
#: the scan are always done.
STEPS = ("tone", "grain", "dirt", "codec")
#: :func:`damage_clip_with_masks` counts a pixel as dirt where a speck or the scratch was
#: blended in with more than this opacity.
DRAWN_ALPHA = 0.1


@dataclass(frozen=True)
class ClipDamage:
    """The settings of one damaged clip; frames jitter around them.

    Attributes:
        blur_sigma: ``gblur`` sigma in full-resolution pixels (0.25 to 1.3).
        scaler: libav kernel of the downscale (:data:`SCALERS`).
        gamma: exponent of the tone curve (0.95 to 1.05; above 1 darkens the mid-tones).
        contrast: slope of the tone curve about mid-grey (0.95 to 1.05).
        brightness: offset of the tone curve, in [0, 1] units (-0.015 to 0.015).
        flicker: standard deviation of the per-frame brightness wander, [0, 1] units (0 to 0.015).
        saturation: ``hue`` saturation (0.75 to 1.0; fading toward grey).
        cast: gains of R, G, B of ``colorchannelmixer`` (each 0.96 to 1.04).
        vignette: ``vignette`` angle in radians (0.12 to 0.28: the corners lose about 3% to 15%),
            or None (no vignette; half the clips).
        grain: ``noise`` strength ``alls`` (4 to 16 on libav's 0..100 scale).
        dust: mean dust specks per frame per 100,000 low-resolution pixels (0 to 30).
        scratch: whether the clip has a line scratch.
        scratch_bright: a bright scratch (emulsion scraped off), else a dark one.
        scratch_width: its width in low-resolution pixels (1 to 2).
        scratch_opacity: its strength (0.3 to 0.7).
        codec: ``mpeg2video`` or ``mjpeg``.
        quantiser: the codec's fixed quantiser (:data:`CODEC_QUANTISERS`).
    """

    blur_sigma: float
    scaler: str
    gamma: float
    contrast: float
    brightness: float
    flicker: float
    saturation: float
    cast: tuple[float, float, float]
    vignette: float | None
    grain: float
    dust: float
    scratch: bool
    scratch_bright: bool
    scratch_width: float
    scratch_opacity: float
    codec: str
    quantiser: int


def draw_clip_damage(rng: np.random.Generator) -> ClipDamage:
    """Settings of one clip, drawn from ``rng``."""
    codec = str(rng.choice(tuple(CODEC_QUANTISERS)))
    low, high = CODEC_QUANTISERS[codec]
    return ClipDamage(
        blur_sigma=float(rng.uniform(0.25, 1.3)),
        scaler=str(rng.choice(SCALERS)),
        gamma=float(rng.uniform(0.95, 1.05)),
        contrast=float(rng.uniform(0.95, 1.05)),
        brightness=float(rng.uniform(-0.015, 0.015)),
        flicker=float(rng.uniform(0.0, 0.015)),
        saturation=float(rng.uniform(0.75, 1.0)),
        cast=tuple(float(g) for g in rng.uniform(0.96, 1.04, 3)),
        vignette=float(rng.uniform(0.12, 0.28)) if rng.random() < 0.5 else None,
        grain=float(rng.uniform(4.0, 16.0)),
        dust=float(rng.uniform(0.0, 30.0)),
        scratch=bool(rng.random() < 0.7),
        scratch_bright=bool(rng.random() < 0.6),
        scratch_width=float(rng.uniform(1.0, 2.0)),
        scratch_opacity=float(rng.uniform(0.3, 0.7)),
        codec=codec,
        quantiser=int(rng.integers(low, high + 1)),
    )


def _check_frames(frames: list[np.ndarray], scale: int) -> tuple[int, int]:
    if scale not in (1, 2, 4):
        raise ValueError(f"scale must be 1, 2 or 4, got {scale}")
    if not frames:
        raise ValueError("expected at least one frame, got none")
    shape = frames[0].shape
    for index, frame in enumerate(frames):
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"frame {index} must be RGB uint8 (H, W, 3), got {frame.dtype} "
                             f"{frame.shape}")
        if frame.shape != shape:
            raise ValueError(f"frame {index} is {frame.shape}, frame 0 is {shape}; a clip has one size")
    height, width = shape[:2]
    if height % scale or width % scale:
        raise ValueError(f"frame sides must be divisible by the scale {scale}, got {width}x{height}")
    return height, width


def clean_clip(frames: list[np.ndarray], scale: int) -> list[np.ndarray]:
    """The "clean" condition: each frame downscaled by ``scale`` with area averaging, no damage.

    Args:
        frames: RGB uint8 (H, W, 3), H and W divisible by ``scale``.
    Returns:
        RGB uint8 (H / scale, W / scale, 3) frames, as many.
    """
    height, width = _check_frames(frames, scale)
    size = (width // scale, height // scale)
    return [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames]


# -- the filter graph ---------------------------------------------------------------------------
def _tone_curve(gamma: float, contrast: float, brightness: float) -> str:
    """A ``lutrgb`` expression: ((val/255)^gamma - 0.5) * contrast + 0.5 + brightness, clipped."""
    return (f"clip(((pow(val/255,{gamma:.5f})-0.5)*{contrast:.5f}+0.5+{brightness:.5f})*255,"
            "0,255)")


def _tone_sequence(d: ClipDamage, seed: int, count: int) -> list[tuple[float, float]]:
    """(contrast, brightness) of each frame: the clip's, jittered, the brightness wandering as
    flicker (an AR(1) process). From a random stream of its own, so that :func:`tone_only`
    gives the same tone as :func:`damage_clip`."""
    rng = np.random.default_rng([DAMAGE_TAG, seed, 1])
    wander, tones = 0.0, []
    for _ in range(count):
        wander = 0.6 * wander + rng.normal(0.0, d.flicker)
        tones.append((d.contrast * rng.uniform(0.98, 1.02), d.brightness + wander))
    return tones


def _tone_filters(d: ClipDamage, tone: tuple[float, float]) -> list[tuple[str, str]]:
    """The global tone damage of one frame: curve, fading, cast, vignette."""
    curve = _tone_curve(d.gamma, *tone)
    red, green, blue = d.cast
    filters = [
        ("lutrgb", f"r='{curve}':g='{curve}':b='{curve}'"),
        ("hue", f"s={d.saturation:.4f}"),
        ("colorchannelmixer", f"rr={red:.4f}:gg={green:.4f}:bb={blue:.4f}"),
    ]
    if d.vignette is not None:
        filters.append(("vignette", f"angle={d.vignette:.4f}"))
    return filters


def _frame_filters(d: ClipDamage, rng: np.random.Generator, size: tuple[int, int],
                   tone: tuple[float, float], steps: frozenset[str] = frozenset(STEPS)) -> list[tuple[str, str]]:
    """The libav filters of one frame: settings jittered with ``rng``; ``size`` (w, h) is the
    low-resolution size. The blur and the scan always; the tone and the grain when in ``steps``
    (their random draws are made either way, so the other steps draw the same)."""
    sigma = d.blur_sigma * rng.uniform(0.85, 1.15)
    filters = [
        ("gblur", f"sigma={sigma:.4f}"),
        ("scale", f"w={size[0]}:h={size[1]}:flags={d.scaler}"),
    ]
    if "tone" in steps:
        filters += _tone_filters(d, tone)
    grain = d.grain * rng.uniform(0.85, 1.15)
    seed = int(rng.integers(1, 2**31 - 1))
    if "grain" in steps:
        filters.append(("noise", f"alls={grain:.3f}:allf=t+u:all_seed={seed}"))
    return filters


def _run_graph(frame: np.ndarray, filters: list[tuple[str, str]]) -> np.ndarray:
    """``frame`` (RGB uint8) through a fresh libav filter graph of ``filters``; RGB uint8 out."""
    height, width = frame.shape[:2]
    graph = av.filter.Graph()
    nodes = [graph.add_buffer(width=width, height=height, format="rgb24",
                              time_base=Fraction(1, CODEC_RATE))]
    nodes += [graph.add(name, args) for name, args in filters]
    nodes += [graph.add("format", "rgb24"), graph.add("buffersink")]
    graph.link_nodes(*nodes).configure()
    picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
    picture.pts = 0
    graph.push(picture)
    return graph.pull().to_ndarray(format="rgb24")


# -- dirt ---------------------------------------------------------------------------------------
def _draw_dust(frame: np.ndarray, d: ClipDamage, rng: np.random.Generator, drawn: np.ndarray) -> None:
    """Soft-edged elliptical specks of random size, orientation and tone, drawn in place;
    ``drawn`` (bool (H, W)) is set where one was blended in above :data:`DRAWN_ALPHA`."""
    height, width = frame.shape[:2]
    count = rng.poisson(d.dust * height * width / 100_000)
    for _ in range(count):
        a = rng.uniform(0.5, 2.8)  # semi-major axis, px
        b = a * rng.uniform(0.3, 1.0)
        angle = rng.uniform(0.0, math.pi)
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        bright = rng.random() < 0.2
        tone = rng.uniform(205, 250) if bright else rng.uniform(5, 55)
        opacity = rng.uniform(0.55, 1.0)
        reach = int(math.ceil(a + 1.5))
        y0, y1 = max(0, int(cy) - reach), min(height, int(cy) + reach + 1)
        x0, x1 = max(0, int(cx) - reach), min(width, int(cx) + reach + 1)
        if y0 >= y1 or x0 >= x1:
            continue
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        dy, dx = yy + 0.5 - cy, xx + 0.5 - cx
        u = dx * math.cos(angle) + dy * math.sin(angle)
        v = -dx * math.sin(angle) + dy * math.cos(angle)
        radius = np.sqrt((u / a) ** 2 + (v / b) ** 2)
        # (radius - 1) * b: roughly the distance outside the rim, in px; a one-pixel soft edge.
        alpha = opacity * np.clip(0.5 - (radius - 1.0) * b, 0.0, 1.0)
        drawn[y0:y1, x0:x1] |= alpha > DRAWN_ALPHA
        patch = frame[y0:y1, x0:x1].astype(np.float32)
        patch += alpha[..., None] * (tone - patch)
        frame[y0:y1, x0:x1] = np.clip(patch + 0.5, 0, 255).astype(np.uint8)


class _Scratch:
    """One vertical line scratch: its course down the frame is a random walk, its position
    drifts from frame to frame, and it now and then fades out for a frame."""

    def __init__(self, d: ClipDamage, rng: np.random.Generator, height: int, width: int) -> None:
        self.d = d
        self.x = rng.uniform(0.1, 0.9) * width
        self.velocity = rng.uniform(-0.5, 0.5)  # px per frame
        self.height, self.width = height, width

    def draw(self, frame: np.ndarray, rng: np.random.Generator, drawn: np.ndarray) -> None:
        self.x = float(np.clip(self.x + self.velocity + rng.normal(0, 0.6), 1, self.width - 2))
        if rng.random() < 0.1:  # the scratch skips a frame now and then
            return
        walk = np.cumsum(rng.normal(0.0, 0.15, self.height))
        course = self.x + walk - walk.mean()  # x of the centre on each row
        xs = np.arange(self.width, dtype=np.float64)
        half = self.d.scratch_width / 2
        distance = np.abs(xs[None, :] - course[:, None])
        # Flat core of the scratch's width, a half-pixel soft edge either side.
        alpha = np.clip(half + 0.5 - distance, 0.0, 1.0)
        alpha *= self.d.scratch_opacity * rng.uniform(0.8, 1.2)
        drawn |= alpha > DRAWN_ALPHA
        tone = 235.0 if self.d.scratch_bright else 25.0
        picture = frame.astype(np.float64)
        picture += alpha[..., None] * (tone - picture)
        frame[:] = np.clip(picture + 0.5, 0, 255).astype(np.uint8)


# -- the codec ----------------------------------------------------------------------------------
def codec_round_trip(frames: list[np.ndarray], codec: str, quantiser: int) -> list[np.ndarray]:
    """Encode ``frames`` with ``codec`` at the fixed ``quantiser`` (in memory) and decode them.

    Odd sides are padded by one replicated row or column for the 4:2:0 encoders and cropped back.
    """
    height, width = frames[0].shape[:2]
    pad_h, pad_w = height % 2, width % 2
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="avi") as container:
        stream = container.add_stream(codec, rate=CODEC_RATE,
                                      options={"qmin": str(quantiser), "qmax": str(quantiser)})
        stream.width, stream.height = width + pad_w, height + pad_h
        stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        for index, frame in enumerate(frames):
            if pad_h or pad_w:
                frame = np.pad(frame, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
            picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            picture.pts = index
            for packet in stream.encode(picture):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    buffer.seek(0)
    with av.open(buffer) as container:
        decoded = [f.to_ndarray(format="rgb24")[:height, :width] for f in container.decode(video=0)]
    if len(decoded) != len(frames):
        raise RuntimeError(f"{codec} round trip gave {len(decoded)} frames, expected {len(frames)}")
    return decoded


# -- the clip -----------------------------------------------------------------------------------
def damage_clip(frames: list[np.ndarray], *, scale: int, seed: int) -> list[np.ndarray]:
    """Damage a clip as an old film print scanned at ``1 / scale`` of its resolution.

    Args:
        frames: the clean clip, RGB uint8 (H, W, 3), H and W divisible by ``scale``.
        scale: 1, 2 or 4.
        seed: the same seed gives the same damage, bit for bit.
    Returns:
        as many RGB uint8 (H / scale, W / scale, 3) frames.
    """
    return damage_clip_with_masks(frames, scale=scale, seed=seed)[0]


def damage_clip_with_masks(frames: list[np.ndarray], *, scale: int, seed: int,
                           steps: tuple[str, ...] = STEPS) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """:func:`damage_clip`, and where each frame got dust or the scratch.

    ``steps`` (a subset of :data:`STEPS`) leaves steps out, to see what each costs a restorer: the
    rest is drawn as with all of them (the same blur, grain, specks and quantiser), bit for bit
    where nothing left out came before it.

    Returns:
        the damaged frames (as :func:`damage_clip` gives them, bit for bit) and as many bool
        (H / scale, W / scale) masks, True where a speck or the scratch was blended in with
        opacity above :data:`DRAWN_ALPHA` (before the codec, which may smear it a little).
    """
    height, width = _check_frames(frames, scale)
    unknown = set(steps) - set(STEPS)
    if unknown:
        raise ValueError(f"unknown damage steps {sorted(unknown)}; the steps are {', '.join(STEPS)}")
    chosen = frozenset(steps)
    rng = np.random.default_rng([DAMAGE_TAG, seed])
    d = draw_clip_damage(rng)
    size = (width // scale, height // scale)
    scratch = _Scratch(d, rng, size[1], size[0]) if d.scratch else None
    damaged, masks = [], []
    for frame, tone in zip(frames, _tone_sequence(d, seed, len(frames))):
        low = _run_graph(frame, _frame_filters(d, rng, size, tone, chosen))
        drawn = np.zeros(low.shape[:2], bool)
        # Left out, the dirt is drawn on a copy and dropped, so the frames after draw the same.
        target = low if "dirt" in chosen else low.copy()
        _draw_dust(target, d, rng, drawn)
        if scratch is not None:
            scratch.draw(target, rng, drawn)
        damaged.append(low)
        masks.append(drawn if "dirt" in chosen else np.zeros_like(drawn))
    if "codec" not in chosen:
        return damaged, masks
    return codec_round_trip(damaged, d.codec, d.quantiser), masks


def tone_only(frames: list[np.ndarray], *, seed: int) -> list[np.ndarray]:
    """Only the global tone damage that :func:`damage_clip` gives for ``seed`` (curve with its
    flicker, fading, cast, vignette), at full resolution.

    Scored against the clean frames, it is roughly the ceiling of a restorer that keeps the tone
    it is given and repairs everything else (roughly, as :func:`damage_clip` applies the tone
    after the downscale).
    """
    _check_frames(frames, 1)
    d = settings_for(seed)
    return [_run_graph(frame, _tone_filters(d, tone))
            for frame, tone in zip(frames, _tone_sequence(d, seed, len(frames)))]


def settings_for(seed: int) -> ClipDamage:
    """The settings :func:`damage_clip` draws for ``seed`` (for reports)."""
    return draw_clip_damage(np.random.default_rng([DAMAGE_TAG, seed]))
