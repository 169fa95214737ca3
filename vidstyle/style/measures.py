"""What a person sees of a stylized frame: whether the film's shapes survive, and a grid.

Style distance says how near an output's texture is to the exemplar's, and a picture nobody
wants (a grey texture of diamonds) can meet it. These three measures look at the output against
the clean frame instead (issue 18), on the luma (BT.601 Y, 16-235, :func:`vidstyle.quality.luma`):

* :func:`structure`: SSIM of the two lumas, both blurred with a Gaussian of sigma 2 output
  pixels: the shapes, light and dark a viewer sees from a normal distance, where strokes and
  grain no longer count. Bicubic x2 scores about 0.96 on held-out footage.
* :func:`edge_agreement`: the F-score of the Canny edges of the two blurred lumas, an output
  edge counting as found within 2 pixels of a clean one (precision) and a clean edge within 2
  pixels of an output one (recall): contours kept, and none invented.
* :func:`grid_energy`: the share of the high-pass luma (the luma less its Gaussian blur of
  sigma 3) that is one fixed pattern repeating every ``cell`` pixels, the fingerprint of a
  network's pixel-shuffle cells. The mean over all cells of each position in a cell is that
  pattern; its power against the high-pass power is the share. Clean and bicubic frames
  score about 1e-4.
* :func:`border_line`: a line drawn along an edge of the frame, where a network meets its
  padding: how far the outer rows and columns of the output moved from the clean frame's, each
  of R, G and B once the output's palette is fitted away, beyond what the rows and columns
  inside moved, in levels. The
  shipped ink, engraving and pencil of 2026-12-05 drew a light line over a dark band along the top of every
  frame, which the three measures above did not see (they blur it away, or it is one line in
  hundreds). It looks 32 pixels deep: the styles also drew lines 8 to 25 pixels in, just inside
  the part of a training patch their style terms saw, which a measure of the 3 outermost rows
  (until 2026-12-06) missed.

Each takes RGB uint8 (H, W, 3) frames, or luma (H, W) in 0-255 levels; output and clean frame
have the same size. The benchmark's styles section and ``train-style``'s card both measure with
:func:`picture_measures`.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..quality import luma, ssim

__all__ = [
    "BORDER_DEPTH",
    "BORDER_INTERIOR",
    "CANNY_THRESHOLDS",
    "EDGE_TOLERANCE",
    "FINE_SIGMA",
    "GRID_CELL",
    "GRID_SIGMA",
    "MIDDLE_SIGMA",
    "STRUCTURE_SIGMA",
    "EdgeAgreement",
    "border_line",
    "edge_agreement",
    "edges",
    "fine_bands",
    "grid_energy",
    "middle_chroma",
    "picture_measures",
    "structure",
]

#: Gaussian sigma, in output pixels, of the blur before structure and edges are compared.
STRUCTURE_SIGMA = 2.0
#: An edge is found when one of the other picture lies within this many pixels.
EDGE_TOLERANCE = 2.0
#: Canny's hysteresis thresholds on the blurred luma (8-bit levels, L2 gradient of the 3x3
#: Sobel, which is 8x the slope per pixel): a step of about 20 levels, blurred with sigma 2,
#: starts an edge; one of 10 continues it.
CANNY_THRESHOLDS = (16.0, 32.0)
#: Rows (columns) at each edge that :func:`border_line` looks at, output pixels.
BORDER_DEPTH = 32
#: The rows (columns) beyond this many pixels from the edges are its reference.
BORDER_INTERIOR = 48
#: The high pass of the grid measure: the luma less its Gaussian blur with this sigma.
GRID_SIGMA = 3.0
#: The period of the grid in output pixels: the cell of the generator's pixel shuffle.
GRID_CELL = 4
#: The fine band of :func:`fine_bands`: the picture less its Gaussian blur with this sigma, the
#: detail that the style losses' view (``GaussianHalf`` at sigma 1.5) does not see.
FINE_SIGMA = 1.5
#: The middle band's outer blur (output pixels): the band is the picture blurred with
#: :data:`FINE_SIGMA` less the same blurred with this; colour blotches a few pixels across.
MIDDLE_SIGMA = 4.0


def _luma(image: np.ndarray) -> np.ndarray:
    """Luma in 0-255 levels, float64 (H, W), of RGB uint8 (H, W, 3) or of luma itself."""
    if image.ndim == 3:
        return luma(image)
    if image.ndim == 2:
        return image.astype(np.float64)
    raise ValueError(f"expected an RGB (H, W, 3) or luma (H, W) image, got shape {image.shape}")


def _pair(output: np.ndarray, clean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if output.shape[:2] != clean.shape[:2]:
        raise ValueError(f"output size {output.shape[:2]} differs from clean size {clean.shape[:2]}")
    return _luma(output), _luma(clean)


def _blur(y: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(y, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)


def structure(output: np.ndarray, clean: np.ndarray, *, sigma: float = STRUCTURE_SIGMA) -> float:
    """SSIM (:func:`vidstyle.quality.ssim`) of the two lumas blurred with ``sigma``; 1 for equal
    pictures, near 0 for unrelated ones."""
    y_out, y_clean = _pair(output, clean)
    return ssim(_blur(y_out, sigma), _blur(y_clean, sigma))


def edges(image: np.ndarray, *, sigma: float = STRUCTURE_SIGMA,
          thresholds: tuple[float, float] = CANNY_THRESHOLDS) -> np.ndarray:
    """Canny edges of the luma blurred with ``sigma``, bool (H, W)."""
    blurred = np.clip(np.rint(_blur(_luma(image), sigma)), 0, 255).astype(np.uint8)
    return cv2.Canny(blurred, thresholds[0], thresholds[1], L2gradient=True) > 0


def _distance_to(mask: np.ndarray) -> np.ndarray:
    """Euclidean distance of every pixel to the nearest True of ``mask`` (inf without any)."""
    if not mask.any():
        return np.full(mask.shape, np.inf, np.float32)
    return cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)


@dataclass(frozen=True)
class EdgeAgreement:
    """How the edges of an output match the clean frame's, each share in [0, 1]."""

    precision: float
    """Share of the output's edge pixels with a clean edge within the tolerance."""
    recall: float
    """Share of the clean frame's edge pixels with an output edge within the tolerance."""

    @property
    def f_score(self) -> float:
        """Harmonic mean of precision and recall; 0 when both are 0."""
        total = self.precision + self.recall
        return 0.0 if total == 0 else 2 * self.precision * self.recall / total


def edge_agreement(output: np.ndarray, clean: np.ndarray, *, sigma: float = STRUCTURE_SIGMA,
                   tolerance: float = EDGE_TOLERANCE) -> EdgeAgreement:
    """Precision and recall of the output's edges (:func:`edges`) against the clean frame's.

    Two pictures without any edge agree fully (1, 1); when only one has edges, both are 0.
    """
    out_edges, clean_edges = edges(output, sigma=sigma), edges(clean, sigma=sigma)
    if not out_edges.any() and not clean_edges.any():
        return EdgeAgreement(1.0, 1.0)
    if not out_edges.any() or not clean_edges.any():
        return EdgeAgreement(0.0, 0.0)
    precision = float(np.mean(_distance_to(clean_edges)[out_edges] <= tolerance))
    recall = float(np.mean(_distance_to(out_edges)[clean_edges] <= tolerance))
    return EdgeAgreement(precision, recall)


def grid_energy(image: np.ndarray, *, cell: int = GRID_CELL, sigma: float = GRID_SIGMA) -> float:
    """Share of the high-pass luma's power that is one pattern repeating every ``cell`` pixels.

    The high pass is the luma less its Gaussian blur with ``sigma``, cropped to whole cells.
    Averaging it over all cells leaves the part that repeats with the cell (``cell`` x ``cell``
    values; anything else averages towards 0, as 1 / cells of its power); the mean of the
    squared pattern, its own mean taken out, over the high pass's variance is the share. 0 for
    a flat picture.
    """
    y = _luma(image)
    high = y - _blur(y, sigma)
    h, w = (high.shape[0] // cell) * cell, (high.shape[1] // cell) * cell
    if h == 0 or w == 0:
        raise ValueError(f"an image of {image.shape[1]}x{image.shape[0]} holds no whole {cell}x{cell} cell")
    high = high[:h, :w]
    pattern = high.reshape(h // cell, cell, w // cell, cell).mean(axis=(0, 2))
    variance = float(high.var())
    if variance == 0:
        return 0.0
    return float(np.mean((pattern - pattern.mean()) ** 2)) / variance


def border_line(output: np.ndarray, clean: np.ndarray, *, depth: int = BORDER_DEPTH) -> float:
    """The strongest line along or near an edge of ``output`` that ``clean`` does not have, in levels.

    ``d`` is the output less the clean frame mapped to the output's palette (the affine colour
    transform that fits the frame best, least squares), each of R, G and B (the luma, for luma
    frames). For each side, the mean of ``d`` along each of its ``depth`` outermost rows
    (columns), less the median of the same means over the rows (columns) more than
    :data:`BORDER_INTERIOR` pixels in; the largest magnitude over channels, sides and rows. On
    a small picture both shrink to a third of its shorter side. Strokes, grain and noise average
    out along an edge hundreds of pixels long, and the palette is fitted away (without the fit, a
    recoloured sky along the top differs from the median row by more than any line); a line
    drawn along the edge does neither. The channels, not the luma alone: a line can be a colour
    (the pencil trained on 2026-12-06 against a luma-only term drew a yellow one).
    """
    if output.shape != clean.shape:
        raise ValueError(f"output shape {output.shape} differs from clean shape {clean.shape}")
    h, w = output.shape[:2]
    if depth < 1 or min(h, w) < 16:
        raise ValueError(f"an image of {w}x{h} is too small for a border measure")
    d = _unexplained(output, clean)
    inside = min(BORDER_INTERIOR, min(h, w) // 3)  # a small picture keeps its middle third as the reference
    depth = min(depth, inside)
    worst = 0.0
    for means in (d.mean(axis=1), d.mean(axis=0)):  # (rows, channels), (columns, channels)
        reference = np.median(means[inside : len(means) - inside], axis=0)
        edge = np.concatenate([means[:depth], means[len(means) - depth :]])
        worst = max(worst, float(np.abs(edge - reference).max()))
    return worst


def _unexplained(output: np.ndarray, clean: np.ndarray) -> np.ndarray:
    """``output`` less ``clean`` mapped to it by the best affine colour transform (least
    squares over the frame), float64 (H, W, C); C is 1 for luma frames."""
    y = output.astype(np.float64).reshape(output.shape[0], output.shape[1], -1)
    x = clean.astype(np.float64).reshape(y.shape[0], y.shape[1], -1)
    design = np.concatenate([x.reshape(-1, x.shape[2]), np.ones((x.shape[0] * x.shape[1], 1))], axis=1)
    fit, *_ = np.linalg.lstsq(design, y.reshape(-1, y.shape[2]), rcond=None)
    return y - (design @ fit).reshape(y.shape)


def fine_bands(image: np.ndarray, *, sigma: float = FINE_SIGMA) -> tuple[float, float]:
    """RMS, in levels, of the fine band (the picture less its Gaussian blur of ``sigma``) of the
    luma and of the chroma of an RGB uint8 frame: ``(luma, chroma)``, chroma being the two
    colour-difference channels of OpenCV's YCrCb (BT.601) together.

    Where a style puts its fine detail: a model whose fine chroma is well above its exemplar's
    draws coloured speckle (``pipelines/style_bands.py``).
    """
    planes = cv2.cvtColor(image, cv2.COLOR_RGB2YCrCb).astype(np.float32)
    fine = planes - _blur(planes, sigma)
    return float(np.sqrt(np.mean(fine[..., 0] ** 2))), float(np.sqrt(np.mean(fine[..., 1:] ** 2)))


def middle_chroma(image: np.ndarray, *, inner: float = FINE_SIGMA, outer: float = MIDDLE_SIGMA) -> float:
    """RMS, in levels, of the middle band of the chroma of an RGB uint8 frame: its two
    colour-difference channels (OpenCV's YCrCb) blurred with ``inner`` less the same blurred with
    ``outer``. Colour blotches a few pixels across, coarser than :func:`fine_bands`' speckle."""
    chroma = cv2.cvtColor(image, cv2.COLOR_RGB2YCrCb).astype(np.float32)[..., 1:]
    band = _blur(chroma, inner) - _blur(chroma, outer)
    return float(np.sqrt(np.mean(band**2)))


def picture_measures(output: np.ndarray, clean: np.ndarray, *, cell: int = GRID_CELL) -> dict[str, float]:
    """The measures of one output frame against its clean frame: ``structure``, ``edge_f`` (with
    ``edge_precision`` and ``edge_recall``), the output's ``grid_energy`` and ``border_line``, and
    the output's ``fine_chroma`` (:func:`fine_bands`) and ``middle_chroma`` (:func:`middle_chroma`),
    in levels (no target: coloured speckle and blotches show as chroma in these bands well above
    the style's exemplar's)."""
    agreement = edge_agreement(output, clean)
    return {"structure": structure(output, clean), "edge_f": agreement.f_score,
            "edge_precision": agreement.precision, "edge_recall": agreement.recall,
            "grid_energy": grid_energy(output, cell=cell), "border_line": border_line(output, clean),
            "fine_chroma": fine_bands(output)[1], "middle_chroma": middle_chroma(output)}
