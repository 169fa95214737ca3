"""Procedural "dead leaves" pictures: unlimited training images with natural-image statistics.

The dead leaves model (Matheron 1968; Lee, Mumford and Huang 2001) stacks opaque shapes whose
sizes follow a power law ``p(r) ~ r^-3``: the result is scale invariant, has occlusions and sharp
edges at every scale and a power spectrum close to that of photographs. Achddou et al. (2021,
"Synthetic images as a regularity prior for image restoration neural networks") found that
denoisers trained on such images come within a fraction of a dB of those trained on photographs.
Here they widen a world of about twenty stills and two clips: the network sees edges, corners
and textures in every colour, size and orientation, not the few objects of the bundled pictures.

Each leaf is a disc, an ellipse or a rotated rectangle, drawn with antialiased edges; a leaf may
carry a gradient, and the finished picture may get a fine 1/f texture, as real surfaces do.

Example::

    >>> image = dead_leaves(np.random.default_rng(0), 128)
    >>> image.shape, image.dtype
    ((128, 128, 3), dtype('uint8'))
"""

from __future__ import annotations

import math

import cv2
import numpy as np

__all__ = ["dead_leaves"]


def _colour(rng: np.random.Generator, palette: np.ndarray | None) -> np.ndarray:
    if palette is not None:  # a colour of a real picture, slightly varied
        return np.clip(palette[rng.integers(len(palette))] + rng.normal(0, 6, 3), 0, 255).astype(np.float32)
    # Natural colours are mostly unsaturated: saturation skewed low, value spread wide.
    hsv = np.array([[[rng.uniform(0, 180), 255 * rng.beta(1.2, 2.5), 255 * rng.uniform(0.04, 0.97)]]])
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)


def _pink_noise(rng: np.random.Generator, size: int) -> np.ndarray:
    """Zero-mean noise with a 1/f amplitude spectrum, unit standard deviation, (size, size)."""
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    radius = np.sqrt(fx * fx + fy * fy)
    radius[0, 0] = 1.0
    spectrum = (rng.normal(size=radius.shape) + 1j * rng.normal(size=radius.shape)) / radius
    spectrum[0, 0] = 0.0
    noise = np.fft.irfft2(spectrum, s=(size, size)).astype(np.float32)
    return noise / max(float(noise.std()), 1e-6)


def dead_leaves(
    rng: np.random.Generator,
    size: int,
    *,
    min_radius: float = 2.5,
    max_radius: float | None = None,
    coverage: float = 2.5,
    palette: np.ndarray | None = None,
) -> np.ndarray:
    """A dead leaves picture.

    Args:
        rng: source of randomness; the same state gives the same picture.
        size: side in pixels.
        min_radius, max_radius: range of leaf radii in pixels (``max_radius`` defaults to
            ``size / 2``); radii follow ``p(r) ~ r^-3`` between them.
        coverage: how many times, on average, the leaves cover the picture; above 2 almost
            nothing of the background shows.
        palette: (N, 3) RGB colours to draw the leaves' colours from (the pixels of a photograph
            give natural, coherent colours); None draws them from a wide HSV distribution.
    Returns:
        RGB uint8 (size, size, 3).
    """
    if size < 8:
        raise ValueError(f"size must be 8 or more, got {size}")
    max_radius = size / 2.0 if max_radius is None else max_radius
    if not 0 < min_radius < max_radius:
        raise ValueError(f"need 0 < min_radius < max_radius, got {min_radius}, {max_radius}")
    canvas = np.empty((size, size, 3), np.float32)
    canvas[:] = _colour(rng, palette)
    # Sample r ~ r^-3 by inverting its CDF on [min_radius, max_radius].
    a, b = min_radius**-2, max_radius**-2
    mean_area = math.pi * 2.0 * min_radius**2 * max_radius**2 * math.log(max_radius / min_radius) / (
        max_radius**2 - min_radius**2)
    count = int(coverage * size * size / mean_area) + 1
    radii = (a - rng.uniform(0.0, 1.0, count) * (a - b)) ** -0.5
    shift = 1 << 2  # quarter-pixel positions for cv2 drawing
    for radius in radii:
        x, y = rng.uniform(-radius, size + radius, 2)
        colour = _colour(rng, palette)
        x0, x1 = max(int(x - radius) - 2, 0), min(int(x + radius) + 3, size)
        y0, y1 = max(int(y - radius) - 2, 0), min(int(y + radius) + 3, size)
        if x0 >= x1 or y0 >= y1:
            continue
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)  # drawn in the leaf's box only
        centre = (int((x - x0) * shift), int((y - y0) * shift))
        kind = rng.random()
        if kind < 0.5:
            cv2.circle(mask, centre, int(radius * shift), 255, -1, cv2.LINE_AA, 2)
        elif kind < 0.8:
            axes = (int(radius * shift), int(radius * rng.uniform(0.2, 1.0) * shift))
            cv2.ellipse(mask, centre, axes, rng.uniform(0, 180), 0, 360, 255, -1, cv2.LINE_AA, 2)
        else:
            box = ((x - x0, y - y0), (2 * radius, 2 * radius * rng.uniform(0.2, 1.0)), rng.uniform(0, 180))
            corners = (cv2.boxPoints(box) * shift).astype(np.int32)
            cv2.fillPoly(mask, [corners], 255, cv2.LINE_AA, 2)
        alpha = mask[:, :, None].astype(np.float32) * np.float32(1.0 / 255.0)
        paint = np.broadcast_to(colour, alpha.shape[:2] + (3,))
        if radius > 4 and rng.random() < 0.3:  # a shaded leaf: a linear gradient across it
            angle = rng.uniform(0, 2 * math.pi)
            yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
            ramp = ((xx - x) * math.cos(angle) + (yy - y) * math.sin(angle)) / radius
            paint = paint * (1.0 + rng.uniform(0.1, 0.5) * ramp)[..., None]
        region = canvas[y0:y1, x0:x1]
        region += alpha * (paint - region)
    if rng.random() < 0.5:  # fine texture: real surfaces are rarely flat
        canvas *= (1.0 + rng.uniform(0.03, 0.15) * _pink_noise(rng, size))[..., None]
    return np.clip(canvas + 0.5, 0, 255).astype(np.uint8)
