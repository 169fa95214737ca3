"""Style exemplars drawn here, procedurally, so that vidstyle may redistribute them.

A feed-forward style model (Johnson et al., ECCV 2016) learns one image's texture statistics:
the Gram matrices of its features at several scales. Whatever that image lacks, the model cannot
learn, and a large flat area teaches it to paint flat areas. So each exemplar here is dense with
the marks and the palette of its style, at fine, middle and coarse scales, and has no empty
regions. Nothing is downloaded: every exemplar is numpy and OpenCV from a seed.

    from vidstyle.style.exemplars import draw_exemplar
    rgb = draw_exemplar("pencil", size=512, seed=0)  # (512, 512, 3) uint8 RGB

Every drawing is deterministic for a given ``(size, seed)`` and scale-aware: its features are
laid out in fractions of the image, so a 1024 drawing is the 512 one with more detail, not a
different picture. Marks that would fall below a pixel (hatch spacing, halftone cells) are held
at a legible minimum on small sizes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .marks import (
    DESIGN_SIZE,
    dry_brush_strokes,
    fork_rng,
    gaussian_blur,
    hatch_layer,
    ink_wash,
    paper_texture,
    pixel_grid,
    ridge_mask,
    smoothstep,
    style_rng,
    to_uint8,
    value_noise,
)

__all__ = ["EXEMPLARS", "Exemplar", "draw_exemplar", "save_exemplars", "MIN_SIZE", "MAX_SIZE"]

#: Smallest and largest side, in pixels, an exemplar can be drawn at.
MIN_SIZE = 128
MAX_SIZE = 1024


DrawFn = Callable[[int, int], np.ndarray]


@dataclass(frozen=True)
class Exemplar:
    """One style's exemplar: how to draw it and how to describe it."""

    name: str
    """Registry key and file stem, e.g. ``"pencil"``."""
    description: str
    """One line for ``vidstyle styles``."""
    draw: DrawFn
    """``draw(size, seed)`` -> (size, size, 3) uint8 RGB; checks its arguments."""


# ---------------------------------------------------------------------------------------------
# Arguments: every drawing checks its size and seed. The marks it draws with are in
# vidstyle.style.marks.


def _check_args(size: int, seed: int) -> None:
    """Raise ValueError for a size outside [MIN_SIZE, MAX_SIZE] or a negative seed."""
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
        raise ValueError(f"size must be an int, got {size!r}")
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"size must be between {MIN_SIZE} and {MAX_SIZE}, got {size}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")


def _checked(draw: DrawFn) -> DrawFn:
    """Wrap a drawing function so every caller, not only draw_exemplar, gets the argument check."""

    def checked(size: int, seed: int) -> np.ndarray:
        _check_args(size, seed)
        return draw(int(size), int(seed))

    checked.__name__ = draw.__name__
    checked.__doc__ = draw.__doc__
    return checked



# ---------------------------------------------------------------------------------------------
# pencil


def _lit_spheres(rng: np.random.Generator, size: int, count: int) -> np.ndarray:
    """Darkness in [0, 1] of a still life: Lambert-shaded spheres with soft cast shadows.

    Light comes from the upper left, so each sphere spans the whole tonal range, from highlight to
    core shadow, which is what a hatching exemplar needs: every density of strokes, side by side.
    """
    y, x = pixel_grid(size)
    light = np.array([-0.55, -0.6, 0.58], np.float32)
    light /= np.linalg.norm(light)
    # A wall in half-tone behind a lighter table whose far edge runs across the picture.
    edge_y = size * rng.uniform(0.35, 0.55) + (x - size / 2) * rng.uniform(-0.15, 0.15)
    table = smoothstep(-1.0, 1.0, y - edge_y)
    dark = (0.5 - 0.15 * y / size) * (1 - table) + (0.1 + 0.25 * y / size) * table
    shadows = np.zeros((size, size), np.float32)
    spheres = []
    for _ in range(count):
        r = size * rng.uniform(0.11, 0.22)
        cx, cy = size * rng.uniform(0.1, 0.9), size * rng.uniform(0.15, 0.9)
        spheres.append((cx, cy, r))
        sx, sy = cx + 0.45 * r, cy + 0.75 * r
        shadow = ((x - sx) / (1.25 * r)) ** 2 + ((y - sy) / (0.55 * r)) ** 2
        shadows = np.maximum(shadows, 0.85 * smoothstep(1.0, 0.2, shadow))
    dark = np.maximum(dark, gaussian_blur(shadows, size * 0.02))
    for cx, cy, r in sorted(spheres, key=lambda s: s[1]):  # nearer (lower) spheres drawn last
        nx, ny = (x - cx) / r, (y - cy) / r
        rr = nx * nx + ny * ny
        inside = rr < 1.0
        nz = np.sqrt(np.clip(1.0 - rr, 0.0, 1.0))
        lambert = np.clip(nx * light[0] + ny * light[1] + nz * light[2], 0.0, 1.0)
        bounce = 0.12 * np.clip(-ny, 0.0, 1.0) * (1.0 - nz)  # reflected light on the underside
        tone = 0.08 + 0.92 * (1.0 - lambert) ** 1.3 - bounce  # only a small highlight stays bare
        dark = np.where(inside, tone, dark)
    return np.clip(dark, 0.0, 1.0).astype(np.float32)


def _draw_pencil(size: int, seed: int) -> np.ndarray:
    """Graphite hatching over a still life of spheres, on off-white paper."""
    rng = style_rng(seed, 1)
    px = size / DESIGN_SIZE
    tone = _lit_spheres(rng, size, int(rng.integers(4, 7)))
    tone = np.clip(tone + 0.16 * (value_noise(rng, size, 4, octaves=3) - 0.5), 0.0, 1.0)
    # Denser layers cover darker tones: one direction in the half-tones, up to four in the shadows.
    base = rng.uniform(0, np.pi)
    cross = base + np.pi / 2 + rng.uniform(-0.3, 0.3)
    angles = [base, cross, base + np.pi / 4, base - np.pi / 4 + 0.2]
    thresholds = [0.15, 0.35, 0.55, 0.72]
    spacing = max(2.6, 5.0 * px)
    width = max(0.75, 1.0 * px)
    pressures = [0.55, 0.7, 0.85, 1.0]
    ragged = value_noise(rng, size, 24, octaves=2) - 0.5  # hatching ends raggedly, not along an isoline
    light = np.ones((size, size), np.float32)
    for i, (angle, threshold) in enumerate(zip(angles, thresholds)):
        layer = hatch_layer(
            rng,
            size,
            angle=angle,
            spacing=spacing * (1.0 - 0.08 * i),
            width=width * (1.0 + 0.25 * i),
            stroke=size * rng.uniform(0.06, 0.12),
        )
        reach = smoothstep(threshold - 0.1, threshold + 0.06, tone + 0.12 * ragged)
        light *= 1.0 - pressures[i] * layer * reach
    # Soft smudged graphite under the strokes, and loose contour lines around each form.
    smudge = 0.4 * gaussian_blur(tone, 2 * px) ** 1.6
    dark = 1.0 - light * (1.0 - smudge)
    contours = np.zeros((size, size), np.float32)
    edges = cv2.Canny((tone * 255).astype(np.uint8), 40, 90)
    contours[edges > 0] = 1.0
    contours = gaussian_blur(contours, 0.6 * px) * 1.6
    dark = 1.0 - (1.0 - dark) * (1.0 - np.clip(contours, 0, 0.8))
    # Graphite skips the valleys of the paper's tooth: that grain is what makes it read as pencil.
    tooth = value_noise(rng, size, size / 2.2)
    dark *= 0.7 + 0.3 * tooth
    paper = paper_texture(rng, size, (244, 241, 232), grain=0.05)
    graphite = np.array([52, 54, 60], np.float32)
    return to_uint8(paper * (1.0 - dark[..., None]) + graphite * dark[..., None])


# ---------------------------------------------------------------------------------------------
# ink


def _draw_ink(size: int, seed: int) -> np.ndarray:
    """Sumi-e: misty mountain washes with wet edges, moss dots and dry-brush strokes."""
    rng = style_rng(seed, 2)
    px = size / DESIGN_SIZE
    density = np.zeros((size, size), np.float32)
    # Distant ridges are pale, near ones dark; each fades downwards into mist (graded wash).
    y, _ = pixel_grid(size)
    tops = np.linspace(0.08, 0.66, 5) + rng.uniform(-0.04, 0.04, 5)
    for i, top in enumerate(tops):
        mask = ridge_mask(rng, size, float(top), roughness=rng.uniform(0.06, 0.12))
        ragged = value_noise(rng, size, 60, octaves=2)  # ink bleeds into the paper fibres at the edge
        mask = np.clip(mask * (0.8 + 0.4 * ragged), 0, 1)
        foreground = i == len(tops) - 1
        fade = size * (0.5 if foreground else rng.uniform(0.12, 0.25))  # the foreground stays dark
        mist = 1.0 - smoothstep(top * size, top * size + fade, y) * 0.92
        shade, rim = 0.1 + 0.11 * i, 0.3 + 0.1 * i
        density += ink_wash(mask * mist, density=shade, rim=rim, edge_px=5 * px, rng=rng)
    # Free washes: blots of dilute ink laid wet, some over others.
    for _ in range(int(rng.integers(2, 5))):
        field = value_noise(rng, size, rng.uniform(2, 4), octaves=4)
        cut = rng.uniform(0.7, 0.8)
        blob = smoothstep(cut, cut + 0.02, field)
        shade, rim = rng.uniform(0.06, 0.2), rng.uniform(0.3, 0.6)
        density += ink_wash(blob, density=shade, rim=rim, edge_px=6 * px, rng=rng)
    # Moss dots (dian): short dabs clustered along the ridges.
    dots = np.zeros((size, size), np.float32)
    for top in tops[1:]:
        for _ in range(int(40 * rng.uniform(0.6, 1.4))):
            cx, cy = rng.uniform(0, size), top * size + rng.normal(0, size * 0.035)
            axes = (max(1, int(rng.uniform(2, 5) * px)), max(1, int(rng.uniform(1, 3) * px)))
            tilt, load = rng.uniform(0, 180), rng.uniform(0.6, 1.2)
            cv2.ellipse(dots, (int(cx), int(cy)), axes, tilt, 0, 360, load, -1, cv2.LINE_AA)
    density += gaussian_blur(dots, 0.6 * px) * 1.5
    dry_brush_strokes(rng, size, density, strokes=int(rng.integers(3, 6)))
    # Rice paper: long fibres, some of which catch ink, and a warm, uneven tone.
    fibres = np.zeros((size, size), np.float32)
    fibre_rng = fork_rng(rng)  # their count grows with the area
    for _ in range(int(900 * px * px) + 200):
        x0, y0 = fibre_rng.uniform(0, size, 2)
        a = fibre_rng.uniform(0, np.pi)
        ln = size * fibre_rng.uniform(0.01, 0.05)
        x1, y1 = x0 + ln * math.cos(a), y0 + ln * math.sin(a)
        strength = float(fibre_rng.uniform(0.3, 1.0))
        cv2.line(fibres, (int(x0), int(y0)), (int(x1), int(y1)), strength, 1, cv2.LINE_AA)
    paper = paper_texture(rng, size, (241, 233, 214), grain=0.06)
    fibres = gaussian_blur(fibres, 0.5 * px)
    paper *= (1.0 - 0.05 * fibres)[..., None]
    density *= 1.0 + 0.12 * fibres  # fibres wick a little more ink
    density = density * (0.85 + 0.3 * value_noise(rng, size, size / 3))  # granulation of the ink
    ink = np.array([1.08, 1.0, 0.94], np.float32)  # carbon ink: a faintly cool grey, not brown
    transmit = np.exp(-density[..., None] * 1.35 * ink)
    return to_uint8(paper * transmit)


# ---------------------------------------------------------------------------------------------
# halftone

#: Process inks as printed on white (RGB 0-255), with their classic screen angles in degrees.
_PROCESS_INKS: tuple[tuple[str, tuple[int, int, int], float], ...] = (
    ("cyan", (0, 160, 225), 15.0),
    ("magenta", (225, 30, 130), 75.0),
    ("yellow", (250, 225, 20), 0.0),
    ("black", (30, 28, 30), 45.0),
)


def _colour_field(rng: np.random.Generator, size: int) -> np.ndarray:
    """A smooth, saturated picture in RGB [0, 1]: swirling hues with comic-style flat shapes.

    The flat shapes give uniform dot fields and hard edges; the swirls give every tone between.
    """
    hue = (value_noise(rng, size, 2.0, octaves=3) * 1.1 + rng.uniform(0, 1)) % 1.0
    sat = 0.35 + 0.6 * value_noise(rng, size, 3, octaves=2)
    val = 0.55 + 0.45 * value_noise(rng, size, 4, octaves=3) ** 0.7
    hsv = np.stack([hue * 180, sat * 255, val * 255], -1).astype(np.uint8)
    rgb = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB).astype(np.float32) / 255
    px = size / DESIGN_SIZE
    outline = np.zeros((size, size), np.float32)
    # Flat comic colours, each close to one or two process inks so their dots stay clean.
    palette = np.array(
        [[1.0, 0.2, 0.1], [0.2, 0.55, 1.0], [1.0, 0.92, 0.15], [0.3, 0.8, 0.35], [1.0, 0.6, 0.75]]
    )
    for _ in range(int(rng.integers(4, 7))):
        mask = np.zeros((size, size), np.uint8)
        cx, cy = (rng.uniform(0.1, 0.9, 2) * size).astype(int)
        r = int(size * rng.uniform(0.07, 0.17))
        if rng.random() < 0.5:
            cv2.circle(mask, (int(cx), int(cy)), r, 255, -1, cv2.LINE_AA)
        else:  # a star burst, the comic "POW" balloon
            k = int(rng.integers(7, 12))
            ang = np.linspace(0, 2 * np.pi, 2 * k, endpoint=False) + rng.uniform(0, 1)
            rad = np.where(np.arange(2 * k) % 2 == 0, r, r * 0.55)
            pts = np.stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang)], 1).astype(np.int32)
            cv2.fillPoly(mask, [pts], 255, cv2.LINE_AA)
        m = mask.astype(np.float32)[..., None] / 255
        colour = palette[rng.integers(len(palette))]
        # A comic's cel shade: the lower half of each shape a step darker.
        shading = 1.0 - 0.25 * smoothstep(-1.0, 1.0, (pixel_grid(size)[0] - cy) / r)[..., None]
        rgb = rgb * (1 - m) + m * colour * shading
        ring = cv2.morphologyEx(mask, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
        ring = cv2.dilate(ring, np.ones((max(1, int(2 * px)), max(1, int(2 * px))), np.uint8))
        outline = np.maximum(outline, ring.astype(np.float32) / 255)
    return np.clip(rgb * (1 - outline[..., None]), 0, 1)


def _screen(
    tone: np.ndarray, *, angle_deg: float, cell: float, shift: tuple[float, float]
) -> np.ndarray:
    """Ink coverage in [0, 1] of an amplitude-modulated dot screen for ``tone`` in [0, 1].

    The spot function is the classic Euclidean one: round dots in the highlights that grow, touch
    in a checkerboard at 50 % and leave round holes in the shadows. Anti-aliased over about a pixel.
    """
    size = tone.shape[0]
    y, x = pixel_grid(size)
    x, y = x + shift[0], y + shift[1]
    a = math.radians(angle_deg)
    u = (x * math.cos(a) + y * math.sin(a)) / cell
    v = (-x * math.sin(a) + y * math.cos(a)) / cell
    spot = 0.5 - 0.25 * (np.cos(2 * np.pi * u) + np.cos(2 * np.pi * v))
    soft = 1.4 / cell  # the spot function's slope is about pi/cell per pixel
    return np.clip((tone - spot) / soft + 0.5, 0.0, 1.0).astype(np.float32)


def _draw_halftone(size: int, seed: int) -> np.ndarray:
    """Old comic print: CMYK dot screens at 15/75/0/45 degrees, misregistered, on yellowed paper."""
    rng = style_rng(seed, 3)
    px = size / DESIGN_SIZE
    rgb = _colour_field(rng, size)
    # Process separation with grey-component replacement: black carries the shared darkness.
    cmy = 1.0 - rgb
    k = smoothstep(0.25, 0.9, cmy.min(axis=-1)) * 0.9  # black only where it is really dark
    cmy = (cmy - k[..., None]) / np.maximum(1.0 - k[..., None], 1e-3)
    plates = [cmy[..., 0], cmy[..., 1], cmy[..., 2], k]
    cell = max(3.2, 7.0 * px)
    paper = paper_texture(rng, size, (236, 224, 192), grain=0.07)
    # Yellowed towards the edges, and foxing: small rust-brown spots.
    y, x = pixel_grid(size)
    edge = np.maximum(np.abs(x / size - 0.5), np.abs(y / size - 0.5)) * 2
    yellowing = np.array([1.0, 0.98, 0.92], np.float32)
    paper *= (1.0 - 0.12 * smoothstep(0.6, 1.0, edge))[..., None] * yellowing
    foxing = smoothstep(0.8, 0.9, value_noise(rng, size, 14, octaves=2))
    paper *= (1.0 - 0.22 * foxing[..., None] * np.array([0.2, 0.5, 0.9], np.float32))
    uneven = 0.82 + 0.18 * value_noise(rng, size, 30, octaves=2)  # ink starved on a rough press
    out = paper
    for (name, ink, angle), plate in zip(_PROCESS_INKS, plates):
        shift = tuple(rng.uniform(-2.0, 2.0, 2) * px)
        floor = 0.0 if name == "black" else 0.03  # even white paper gets specks of colour
        plate = np.clip(plate * 0.85 + floor, 0, 1)  # thin inks on newsprint
        cover = _screen(plate, angle_deg=angle, cell=cell, shift=shift) * uneven
        filt = 1.0 - cover[..., None] * (1.0 - np.asarray(ink, np.float32) / 255)
        out = out * filt
    return to_uint8(out)


# ---------------------------------------------------------------------------------------------
# glass

#: Jewel tones of pot-metal glass, RGB 0-255.
_JEWELS = np.array(
    [
        [170, 18, 32],  # ruby
        [20, 70, 190],  # sapphire
        [0, 125, 70],  # emerald
        [235, 160, 10],  # amber
        [115, 35, 150],  # amethyst
        [0, 130, 150],  # teal
        [210, 70, 20],  # flashed orange
        [40, 30, 120],  # cobalt
        [235, 220, 150],  # pale amber cathedral, for relief
    ],
    np.float32,
)


def _draw_glass(size: int, seed: int) -> np.ndarray:
    """Stained glass: warped Voronoi panes in jewel colours, leaded, each pane lit from within."""
    rng = style_rng(seed, 4)
    px = size / DESIGN_SIZE
    # Pane centres on a jittered grid, some cells split again: big and small panes mixed.
    grid_n = 9
    seeds = []
    for gy in range(grid_n):
        for gx in range(grid_n):
            count = 1 if rng.random() < 0.7 else 3
            for _ in range(count):
                jx, jy = rng.random(2)
                seeds.append(((gx + jx) / grid_n * size, (gy + jy) / grid_n * size))
    points = np.clip(np.asarray(seeds), 0, size - 1).astype(int)
    marks = np.full((size, size), 255, np.uint8)
    marks[points[:, 1], points[:, 0]] = 0
    _, labels = cv2.distanceTransformWithLabels(
        marks, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL
    )
    label_of_seed = labels[points[:, 1], points[:, 0]]
    n_labels = int(labels.max()) + 1
    # Curve the straight Voronoi edges: glaziers cut glass along flowing lines.
    y, x = pixel_grid(size)
    amp = size * 0.04
    map_x = x + (value_noise(rng, size, 4, octaves=2) - 0.5) * 2 * amp
    map_y = y + (value_noise(rng, size, 4, octaves=2) - 0.5) * 2 * amp
    labels = cv2.remap(
        labels.astype(np.float32), map_x, map_y, cv2.INTER_NEAREST, borderMode=cv2.BORDER_REFLECT
    ).astype(np.int32)
    # Colours and streak angles belong to the pane's seed point, not to its label, whose numbering
    # (raster order of the seed pixels, merged where two seeds share a pixel) changes with size.
    count = len(points)
    seed_colours = _JEWELS[rng.integers(0, len(_JEWELS), count)] * rng.uniform(0.8, 1.1, (count, 1))
    seed_colours = np.clip(seed_colours + rng.normal(0, 12, (count, 3)), 0, 255).astype(np.float32)
    seed_angles = rng.uniform(0, np.pi, count).astype(np.float32)
    colours = np.zeros((n_labels, 3), np.float32)
    angles = np.zeros(n_labels, np.float32)
    colours[label_of_seed] = seed_colours
    angles[label_of_seed] = seed_angles
    # Lead lines: where a label meets another, widened by a width that varies along the came.
    edges = np.zeros((size, size), bool)
    edges[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    edges[1:, :] |= labels[1:, :] != labels[:-1, :]
    dist = cv2.distanceTransform((~edges).astype(np.uint8), cv2.DIST_L2, 5)
    half = (1.6 + 2.6 * value_noise(rng, size, 6, octaves=2)) * px + 0.6
    lead = smoothstep(half + 0.8, half - 0.8, dist)
    # Each pane: a jewel colour, brightest at its heart and darker into the lead, with the streaks
    # and seeds (bubbles) of hand-made glass.
    pane = colours[labels]
    depth = np.clip(dist - half, 0, None) / (size * 0.05)
    glow = 0.6 + 0.8 * (1.0 - np.exp(-depth))
    angle = angles[labels]
    streak_u = x * np.cos(angle) + y * np.sin(angle)
    streaks = 0.92 + 0.08 * np.sin(streak_u / (4.0 * px) + 12 * value_noise(rng, size, 12, octaves=2))
    mottle = 0.8 + 0.4 * value_noise(rng, size, 40, octaves=3)
    bubbles = smoothstep(0.88, 0.94, value_noise(rng, size, size / 6))
    light = (glow * streaks * mottle + 0.35 * bubbles)[..., None]
    backlight = 0.85 + 0.3 * value_noise(rng, size, 1.5)[..., None]  # the sky behind is uneven
    glass = pane * light * backlight
    # Lead came is dark grey with a dull highlight along its crown.
    crown = np.exp(-((dist / np.maximum(half, 1e-3)) ** 2) * 4.0)
    patina = (0.8 + 0.4 * value_noise(rng, size, 50))[..., None]
    lead_rgb = (np.array([18, 18, 20], np.float32) + 22 * crown[..., None]) * patina
    out = glass * (1 - lead[..., None]) + lead_rgb * lead[..., None]
    return to_uint8(out)


# ---------------------------------------------------------------------------------------------
# engraving


def _relief(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """A bas-relief to engrave: (height, unitless, about 0 to 2; darkness in [0, 1]), (size, size).

    Domes and folds of a smooth height field, lit from the upper left; the engraved lines follow
    its height, so they bend over the forms as a banknote portrait's do.
    """
    y, x = pixel_grid(size)
    height = (value_noise(rng, size, 2.0, octaves=2) - 0.5) * 0.3
    for _ in range(int(rng.integers(3, 6))):
        cx, cy = rng.uniform(0.15, 0.85, 2) * size
        r = size * rng.uniform(0.15, 0.3)
        rr = ((x - cx) ** 2 + (y - cy) ** 2) / (r * r)
        # Smooth domes: a hemisphere's steep rim would crowd the lines into a moire.
        height += np.clip(1 - rr, 0, 1) ** 2 * rng.uniform(0.6, 1.0)
    gy, gx = np.gradient(gaussian_blur(height, size * 0.004))
    slope = size * 0.3
    nx, ny = -gx * slope, -gy * slope
    nz = np.ones_like(nx)
    norm = np.sqrt(nx * nx + ny * ny + nz * nz)
    lit = np.clip((-0.5 * nx - 0.6 * ny + 0.62 * nz) / norm, 0, 1)
    dark = np.clip(1.15 - 1.2 * lit, 0.0, 1.0) ** 1.2
    return height.astype(np.float32), dark.astype(np.float32)


def _engraved_lines(u: np.ndarray, spacing: float, tone: np.ndarray, soft: float) -> np.ndarray:
    """Coverage in [0, 1] of lines ``spacing`` px apart across ``u``, ``tone`` of that wide."""
    dist = np.abs((u / spacing) % 1.0 - 0.5) * 2  # 0 on the line's centre, 1 midway between lines
    return np.clip((tone - dist) / soft + 0.5, 0, 1).astype(np.float32)


def _draw_engraving(size: int, seed: int) -> np.ndarray:
    """Banknote engraving: swelling lines that follow a relief, crossed in the shadows."""
    rng = style_rng(seed, 5)
    px = size / DESIGN_SIZE
    height, dark = _relief(rng, size)
    y, x = pixel_grid(size)
    spacing = max(2.8, 4.5 * px)
    soft = 1.2 / spacing
    angle = rng.uniform(-0.5, 0.5)
    bend = height * size * 0.035
    u = x * math.sin(angle) + y * math.cos(angle) + bend
    tone = np.clip(dark * 0.75 + 0.08, 0, 0.85)  # paper always shows between lines
    cover = _engraved_lines(u, spacing, tone, soft)
    # Second system of lines across the first, only in the shadows, then dots in the deepest.
    v = x * math.cos(angle) - y * math.sin(angle) + bend * 0.5
    cross = _engraved_lines(v, spacing * 1.1, np.clip((dark - 0.55) * 1.6, 0, 0.8), soft)
    cover = np.maximum(cover, cross)
    # A guilloche band: interlaced sine rosettes, the engraver's anti-forgery ornament.
    cx, cy = rng.uniform(0.3, 0.7, 2) * size
    r = np.sqrt((x - cx) ** 2 + (y - cy) ** 2)
    theta = np.arctan2(y - cy, x - cx)
    lobes = int(rng.integers(9, 15))
    band = np.zeros((size, size), np.float32)
    ring_r = size * rng.uniform(0.32, 0.42)
    strands = 12
    for k in range(strands):
        for direction in (1, -1):  # two families crossing, the interlaced mesh of a guilloche
            phase = direction * lobes * theta + k * 2 * np.pi / strands
            wave = ring_r + size * 0.04 * np.sin(phase)
            band = np.maximum(band, np.clip(1.0 - np.abs(r - wave) / max(0.7, 0.8 * px), 0, 1))
    outer = smoothstep(ring_r + size * 0.06, ring_r + size * 0.05, r)
    inside = outer * smoothstep(ring_r - size * 0.06, ring_r - size * 0.05, r)
    cover = cover * (1 - inside) + band * inside
    paper = paper_texture(rng, size, (240, 234, 214), grain=0.05)
    ink = np.array([28, 52, 44], np.float32)  # banknote green-black
    cover = cover * (0.85 + 0.15 * value_noise(rng, size, size / 3))
    return to_uint8(paper * (1 - cover[..., None]) + ink * cover[..., None])


# ---------------------------------------------------------------------------------------------
# registry


def _registry(*exemplars: Exemplar) -> dict[str, Exemplar]:
    """Name -> exemplar, refusing duplicates so that no style silently replaces another."""
    table: dict[str, Exemplar] = {}
    for exemplar in exemplars:
        if exemplar.name in table:
            raise ValueError(f"duplicate exemplar name {exemplar.name!r}")
        table[exemplar.name] = exemplar
    return table


EXEMPLARS: dict[str, Exemplar] = _registry(
    Exemplar(
        "pencil",
        "graphite cross-hatching on off-white paper, denser where darker",
        _checked(_draw_pencil),
    ),
    Exemplar(
        "ink",
        "sumi-e ink wash: graded washes with wet edges and dry-brush strokes on rice paper",
        _checked(_draw_ink),
    ),
    Exemplar(
        "halftone",
        "old comic print: misregistered CMYK dot screens on yellowed newsprint",
        _checked(_draw_halftone),
    ),
    Exemplar(
        "glass",
        "stained glass: jewel-coloured panes lit from behind, held in dark lead",
        _checked(_draw_glass),
    ),
    Exemplar(
        "engraving",
        "banknote engraving: swelling parallel lines over a relief, green-black on cream",
        _checked(_draw_engraving),
    ),
)
"""Every bundled style's exemplar, by name, in the order ``vidstyle styles`` lists them."""


def draw_exemplar(name: str, size: int = 512, seed: int = 0) -> np.ndarray:
    """Draw the exemplar of style ``name``: (size, size, 3) uint8 RGB, the same for the same seed.

    ``size`` must be in [MIN_SIZE, MAX_SIZE] and ``seed`` a non-negative int. An unknown name
    raises ValueError listing the known ones.
    """
    exemplar = EXEMPLARS.get(name)
    if exemplar is None:
        raise ValueError(f"unknown style {name!r}; known styles: {', '.join(EXEMPLARS)}")
    return exemplar.draw(size, seed)


def save_exemplars(folder: Path, size: int = 512, seed: int = 0) -> list[Path]:
    """Write ``<name>.png`` for every exemplar into ``folder`` (made if missing); return the paths.

    Raises OSError when OpenCV cannot write a file, since cv2.imwrite only returns False.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in EXEMPLARS:
        path = folder / f"{name}.png"
        rgb = draw_exemplar(name, size=size, seed=seed)
        if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
            raise OSError(f"cannot write exemplar {name!r} to {path}")
        paths.append(path)
    return paths
