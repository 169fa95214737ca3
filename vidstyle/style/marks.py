"""The marks the exemplars are drawn with: noise, paper, hatching, washes and brush strokes.

Shared by the drawings of :mod:`vidstyle.style.exemplars`. Fields are float32 (size, size)
arrays, "in [0, 1]" unless stated; lengths are in pixels at :data:`DESIGN_SIZE` and scaled with
the picture, and anything whose number of random draws depends on the size draws from a
:func:`fork_rng`, so that a drawing's layout is the same at every size.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

__all__ = [
    "DESIGN_SIZE",
    "dry_brush_strokes",
    "fork_rng",
    "gaussian_blur",
    "hatch_layer",
    "ink_wash",
    "paper_texture",
    "pixel_grid",
    "ridge_mask",
    "smoothstep",
    "style_rng",
    "to_uint8",
    "value_noise",
]

#: The side the drawings were designed at; lengths below are in pixels at this size.
DESIGN_SIZE = 512.0


def style_rng(seed: int, salt: int) -> np.random.Generator:
    """A generator per (seed, style): two styles with the same seed share no random numbers."""
    return np.random.default_rng([seed, salt])


def fork_rng(rng: np.random.Generator) -> np.random.Generator:
    """A child generator that costs its parent exactly one draw.

    Anything whose number of draws depends on ``size`` (pixel-fine noise, one value per hatch
    line) draws from a fork, so the parent's later draws, and with them the layout of the
    picture, are the same at every size.
    """
    return np.random.default_rng(int(rng.integers(0, 2**63)))


def pixel_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates (y, x), each float32 (size, size), in pixels."""
    coords = np.arange(size, dtype=np.float32)
    y, x = np.meshgrid(coords, coords, indexing="ij")
    return y, x


def value_noise(rng: np.random.Generator, size: int, cells: float, octaves: int = 1) -> np.ndarray:
    """Fractal value noise in [0, 1]: random grids of ``cells``, 2x, 4x... across, upsampled.

    ``cells`` counts features across the image, not pixels, which is what makes every drawing
    scale-aware. Octaves halve in weight, so coarse structure dominates and fine detail rides on it.
    """
    rng = fork_rng(rng)
    total = np.zeros((size, size), np.float32)
    weight = 1.0
    for octave in range(octaves):
        n = max(2, int(round(cells * 2**octave)) + 1)
        grid = rng.random((min(n, size), min(n, size)), dtype=np.float32)
        total += weight * cv2.resize(grid, (size, size), interpolation=cv2.INTER_CUBIC)
        weight *= 0.5
    lo, hi = float(total.min()), float(total.max())
    return (total - lo) / max(hi - lo, 1e-6)


def smoothstep(edge0: float | np.ndarray, edge1: float | np.ndarray, x: np.ndarray) -> np.ndarray:
    """Hermite step from 0 at edge0 to 1 at edge1, float32."""
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return (t * t * (3.0 - 2.0 * t)).astype(np.float32)


def gaussian_blur(field: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur with sigma in pixels; a no-op below a tenth of a pixel."""
    if sigma < 0.1:
        return field
    return cv2.GaussianBlur(field, (0, 0), sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT)


def to_uint8(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) float in [0, 255] -> contiguous uint8, rounded and clipped."""
    return np.ascontiguousarray(np.clip(np.rint(rgb), 0, 255).astype(np.uint8))


def paper_texture(
    rng: np.random.Generator, size: int, colour: tuple[int, int, int], grain: float
) -> np.ndarray:
    """Paper of ``colour`` (RGB 0-255), blotchy, with a pixel-fine tooth: (size, size, 3) float32.

    ``grain`` is the tooth's relative amplitude; the blotches are a quarter of it, so paper never
    reads as flat even where no mark falls.
    """
    tooth = value_noise(rng, size, size / 2.5) - 0.5
    blotch = value_noise(rng, size, 6, octaves=3) - 0.5
    shade = 1.0 + grain * tooth + 0.25 * grain * blotch
    return shade[..., None] * np.asarray(colour, np.float32)



def hatch_layer(
    rng: np.random.Generator,
    size: int,
    *,
    angle: float,
    spacing: float,
    width: float,
    stroke: float,
) -> np.ndarray:
    """One layer of parallel pencil strokes, strength in [0, 1], (size, size) float32.

    Lines ``spacing`` px apart at ``angle`` radians, ``width`` px half-width, wobbling gently;
    each line is broken into strokes about ``stroke`` px long, each stroke with its own pressure
    and tapered ends, as a hand lays them down.
    """
    rng = fork_rng(rng)
    y, x = pixel_grid(size)
    ca, sa = math.cos(angle), math.sin(angle)
    wobble = (value_noise(rng, size, 5, octaves=2) - 0.5) * spacing * 2.5
    u = x * ca + y * sa + wobble
    v = -x * sa + y * ca
    line = np.floor(u / spacing)
    offset = u - (line + 0.5) * spacing  # signed px from the line's centre
    lines = line.astype(np.int64)
    lines -= lines.min()
    n = int(lines.max()) + 1
    phase = rng.uniform(0, stroke, n).astype(np.float32)
    length = (stroke * rng.uniform(0.6, 1.4, n)).astype(np.float32)
    pressure = rng.uniform(0.45, 1.0, n).astype(np.float32)
    along = (v + phase[lines]) / length[lines]
    cell = np.floor(along)
    frac = along - cell
    # Every stroke within a line gets a pressure of its own too, hashed from its cell index.
    jitter = 0.75 + 0.25 * np.sin(cell * 12.9898 + lines * 78.233) ** 2
    gap = 0.12
    taper = np.clip(np.sin(np.pi * np.clip(frac / (1 - gap), 0, 1)), 0, 1) ** 0.4 * (frac < 1 - gap)
    profile = np.clip(1.0 - np.abs(offset) / width, 0.0, 1.0)
    return (profile * taper * pressure[lines] * jitter).astype(np.float32)




def ink_wash(
    shape: np.ndarray, *, density: float, rim: float, edge_px: float, rng: np.random.Generator
) -> np.ndarray:
    """Optical density of one dilute-ink wash over the soft mask ``shape`` in [0, 1].

    As a wash dries, pigment flows to its edge and settles there: the wet edge, a darker rim.
    The rim is the mask minus its blur, which is non-zero only inside, near the boundary.
    """
    size = shape.shape[0]
    inner = gaussian_blur(shape, edge_px)
    edge = np.clip(shape - inner, 0.0, 1.0) * 2.5
    variation = 0.45 + 1.1 * value_noise(rng, size, 3, octaves=4)
    return shape * density * variation + rim * edge * shape


def ridge_mask(rng: np.random.Generator, size: int, top: float, roughness: float) -> np.ndarray:
    """Mask in [0, 1] under a mountain ridge whose mean height is ``top`` (fraction of size)."""
    walk = np.cumsum(rng.normal(0, 1, 512)).astype(np.float32)  # fixed length: same at any size
    walk = cv2.GaussianBlur(walk[None, :], (0, 0), sigmaX=512 / 60)
    profile = cv2.resize(walk, (size, 1), interpolation=cv2.INTER_LINEAR)[0]
    profile -= profile.mean()
    profile *= roughness * size / max(float(np.abs(profile).max()), 1e-6)
    waves = np.linspace(0, rng.uniform(2, 5) * np.pi, size) + rng.uniform(0, 6)
    peaks = np.sin(waves) * roughness * size * 0.6
    ridge_y = top * size + profile + peaks.astype(np.float32)
    y, _ = pixel_grid(size)
    return smoothstep(-1.5, 1.5, y - ridge_y[None, :])


def dry_brush_strokes(rng: np.random.Generator, size: int, canvas: np.ndarray, strokes: int) -> None:
    """Add bold dry-brush strokes to the density ``canvas`` in place.

    A stroke is a curved path swept by separate bristles; a dry brush runs out of ink unevenly,
    so each bristle breaks off in gaps that grow along the stroke, and the paper shows through
    in streaks (feibai, "flying white").
    """
    px = size / DESIGN_SIZE
    shift = 4  # cv2 draws at 1/16 px: bristles stay apart instead of snapping to one pixel row
    n = 160
    t = np.linspace(0, 1, n)
    for _ in range(strokes):
        start = rng.uniform(0.1, 0.9, 2) * size
        heading = rng.uniform(0, 2 * np.pi)
        bend = np.cumsum(rng.normal(0, 0.02, n)) + rng.uniform(-0.6, 0.6) * t
        step = size * rng.uniform(0.3, 0.8) / n
        dirs = np.stack([np.cos(heading + bend), np.sin(heading + bend)], 1)
        path = start + np.cumsum(dirs * step, 0)
        normal = np.stack([-dirs[:, 1], dirs[:, 0]], 1)
        # The brush presses down at the start, then lifts: wide and wet first, narrow and dry last.
        pressure = np.clip(t * 12, 0, 1) ** 0.5 * (1.0 - 0.55 * t)
        width = size * rng.uniform(0.04, 0.07)
        bristles = 18
        # Thick enough that wet neighbours merge into solid ink.
        thickness = max(1, int(round(max(1.3 * width / bristles, 2.0 * px))))
        dryness = rng.uniform(0.1, 0.4)
        stroke = np.zeros_like(canvas)
        for b in range(bristles):
            offset = (b / (bristles - 1) - 0.5) * width
            knots = rng.random((1, 8)).astype(np.float32)
            wetness = cv2.resize(knots, (n, 1), interpolation=cv2.INTER_LINEAR)[0]
            # Dries along the stroke, and the outer bristles first.
            inked = wetness > dryness - 0.25 + 0.8 * t + 0.35 * abs(offset / width)
            pts = path + normal * (offset * pressure)[:, None]
            fixed = np.rint(pts * (1 << shift)).astype(np.int32)
            edges = np.flatnonzero(np.diff(np.concatenate([[0], inked.astype(np.int8), [0]])))
            runs = [fixed[lo:hi] for lo, hi in zip(edges[::2], edges[1::2]) if hi - lo >= 2]
            if runs:
                ink = float(rng.uniform(0.6, 1.0))
                cv2.polylines(stroke, runs, False, ink, thickness, cv2.LINE_AA, shift)
        canvas += np.minimum(stroke, 1.0) * 2.2
