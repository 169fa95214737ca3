"""What the input says of its own damage: two classic no-reference estimates that steer the network.

A blind restoration network sees a clean frame and a damaged one through the same weights, so it
must settle for one strength: trained mostly on damage it repaints clean film (smoother, the
texture gone), trained mostly on clean pairs it leaves blocks and grain in place. Issue 14
measured exactly that trade on footage from outside the project. Telling the network how damaged
its input looks lets it be gentle on the one and firm on the other. Two estimates, each cheap and
each known for decades, are computed from the input frame itself inside the model (so every
caller, tiles and batches included, gets them with no change):

* **noise**: Immerkaer's fast noise variance estimate (Immerkaer 1996, "Fast noise variance
  estimation"): the luma convolved with the difference of two Laplacians, which cancels smooth
  ramps and leaves noise, as a mean absolute value; grain and sensor noise raise it. Texture
  raises it too: over the whole picture, clean grass, gravel or a printed page read as 6 to 13
  levels of noise, as much as heavy grain. The second kind of conditioning (``condition=2``,
  :data:`FLAT`) reads the same response only where the picture is flattest, in the manner of
  the block-based estimators (Shin et al. 2005; Liu et al. 2013 pick the weakest-textured patches):
  the mean response of each 8x8 block, the 10th percentile over the blocks, scaled so that pure
  Gaussian noise reads its own sigma. Grain lies over the flat blocks too, texture does not: on
  scikit-image's training stills, clean, it reads 0.3-1.5 levels where the whole-picture mean read
  0.5-9 (grass and gravel, textured everywhere, stay high), and 2.4-3.3 with 3 levels of grain;
* **blocking**: the mean luma step across the columns (rows) of the 8-pixel grid from the
  picture's corner against the mean step elsewhere (in the manner of Wang, Bovik and Evans 2000, "Blind
  measurement of blocking artifacts in images"); JPEG, MJPEG and MPEG-2 at a low quality raise it,
  and clean pictures sit near 1 at every phase.

:class:`DamageConditioning` maps the two, as a small vector per frame, to a scale and a shift of
each feature channel (FiLM, Perez et al. 2018). Its last layer starts at zero, so a model that
gains it starts as exactly the model it was fine-tuned from.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["BLOCK", "ESTIMATES", "DamageConditioning", "damage_estimates", "frame_estimates", "noise_sigma",
           "whole_frame_estimates"]

#: The block size of the codecs whose blocking is measured (JPEG, MJPEG, MPEG-2; H.264's 8x8 transform).
BLOCK = 8
#: Luma weights (BT.601), as the quality measures use.
_LUMA = (0.299, 0.587, 0.114)
#: Immerkaer's mask: a difference of two Laplacians, zero on any plane or ramp.
_MASK = ((1.0, -2.0, 1.0), (-2.0, 4.0, -2.0), (1.0, -2.0, 1.0))
#: Immerkaer's factor from the mean absolute mask response to the noise's standard deviation.
_IMMERKAER = math.sqrt(math.pi / 2.0) / 6.0
#: Number of estimates per frame.
ESTIMATES = 2
#: Rows of frames made float at a time by :func:`frame_estimates`.
_ROWS = 256
#: ``condition`` of a model whose noise estimate is read on its flattest blocks (see the module docstring).
FLAT = 2
#: The flat estimate's blocks (pixels of the mask's response), the percentile over them, and its
#: gain: pure Gaussian noise (sigma 2 to 20 levels) reads its own sigma, within 2%.
_FLAT_BLOCK = 8
_FLAT_QUANTILE = 0.1
_FLAT_GAIN = 1.25


def _luma(x: torch.Tensor) -> torch.Tensor:
    weights = x.new_tensor(_LUMA).view(1, 3, 1, 1)
    return (x * weights).sum(dim=1, keepdim=True)


def _noise(y: torch.Tensor, flat: bool = False) -> torch.Tensor:
    """Immerkaer's noise standard deviation of luma ``y`` (B, 1, H, W) in [0, 1], per frame (B,):
    over the whole picture, or (``flat``) over its flattest blocks (:func:`_flat_blocks`)."""
    if y.shape[-1] < 3 or y.shape[-2] < 3:  # no interior to measure
        return y.new_zeros(y.shape[0])
    mask = y.new_tensor(_MASK).view(1, 1, 3, 3)
    response = F.conv2d(y, mask).abs()
    if flat and min(response.shape[-2:]) >= _FLAT_BLOCK:
        blocks = F.avg_pool2d(response, _FLAT_BLOCK).flatten(1)
        return _flat_blocks(blocks)
    return response.mean(dim=(1, 2, 3)) * _IMMERKAER


def _flat_blocks(blocks: torch.Tensor) -> torch.Tensor:
    """(B, N) mean mask responses of N blocks -> the flat noise sigma of each frame (B,)."""
    return torch.quantile(blocks.double(), _FLAT_QUANTILE, dim=1).to(blocks.dtype) * (_IMMERKAER * _FLAT_GAIN)


def _grid_ratio(steps: torch.Tensor) -> torch.Tensor:
    """``steps`` (B, N): mean absolute luma step between positions i and i + 1. The mean step
    across the boundaries of the 8-position grid that starts at the picture's first pixel, over the
    mean step elsewhere, per frame (B,); 1 without a profile long enough to hold two blocks.

    Codecs lay their blocks from the picture's corner, and the training pairs are coded after the
    crop, so the grid's phase is known; the best of the eight phases would be a biased estimate
    on small patches (the largest of eight noisy ratios), high on clean ones.
    """
    b, n = steps.shape
    if n < 2 * BLOCK:
        return steps.new_ones(b)
    usable = n - n % BLOCK
    by_phase = steps[:, :usable].reshape(b, usable // BLOCK, BLOCK).mean(dim=1)  # (B, 8)
    across = by_phase[:, BLOCK - 1]  # the step from the last pixel of a block to the next block's first
    within = by_phase[:, : BLOCK - 1].mean(dim=1)
    return across / (within + 1e-4)


def _blocking(y: torch.Tensor) -> torch.Tensor:
    """The blocking ratio of luma ``y`` (B, 1, H, W), per frame (B,): the larger of the across-columns
    and across-rows ratios (:func:`_grid_ratio`)."""
    across_columns = (y[..., :, 1:] - y[..., :, :-1]).abs().mean(dim=(1, 2))
    across_rows = (y[..., 1:, :] - y[..., :-1, :]).abs().mean(dim=(1, 3))
    return torch.maximum(_grid_ratio(across_columns), _grid_ratio(across_rows))


@torch.no_grad()
def damage_estimates(x: torch.Tensor, kind: int = 1) -> torch.Tensor:
    """(B, 2): the noise and blocking estimates of frames ``x`` (B, 3, H, W) in [0, 1], each on a
    scale where clean pictures sit near 0: log2(1 + noise sigma in 8-bit levels) / 4, and the log
    of the blocking ratio. Computed in fp32 whatever the model's precision. ``kind`` is the
    model's ``condition``: 1 reads the noise over the whole picture, :data:`FLAT` on its flattest
    blocks."""
    return _from_luma(_luma(x.float()), flat=kind == FLAT)


def _from_luma(y: torch.Tensor, flat: bool = False) -> torch.Tensor:
    return _scaled(_noise(y, flat), _blocking(y))


def _scaled(sigma: torch.Tensor, ratio: torch.Tensor) -> torch.Tensor:
    """(B, 2) from noise sigmas and blocking ratios (B,): the scales :func:`damage_estimates` gives."""
    return torch.stack([torch.log2(1.0 + 255.0 * sigma) / 4.0, torch.log(ratio.clamp_min(1e-3))], dim=1)


@torch.no_grad()
def frame_estimates(frames: np.ndarray, kind: int = 1) -> torch.Tensor:
    """:func:`damage_estimates` of RGB frames (B, H, W, 3), uint8 or uint16, computed a band of rows
    at a time, so that a 4K frame costs a few MB rather than a float copy of itself: what a tiled
    run gives every tile, so that the tiles of one frame are conditioned alike."""
    return torch.stack([_one_frame_estimates(frame, kind == FLAT) for frame in frames])


def noise_sigma(frame: np.ndarray) -> float:
    """The flat-block noise estimate of one RGB frame (H, W, 3), uint8 or uint16, as a standard
    deviation in 8-bit levels: what a model with ``condition = 2`` reads. Clean video frames read
    about 0.2-0.6 levels, grainy film 2-5 (module docstring)."""
    sigma, _ = _one_frame_raw(frame, flat=True)
    return float(sigma[0]) * 255.0


def _one_frame_estimates(frame: np.ndarray, flat: bool = False) -> torch.Tensor:
    return _scaled(*_one_frame_raw(frame, flat))[0]


def _one_frame_raw(frame: np.ndarray, flat: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(1,) noise sigma (in [0, 1] units) and (1,) blocking ratio of one frame, computed a band of
    rows at a time (:func:`frame_estimates`)."""
    h, w = frame.shape[:2]
    top = 65535.0 if frame.dtype == np.uint16 else 255.0
    weights = np.asarray(_LUMA, np.float32) / np.float32(top)
    mask = np.asarray(_MASK, np.float32)
    response = 0.0  # sum of |mask * luma| over the valid centres, rows 1 .. h - 2
    groups = max(w - 2, 0) // _FLAT_BLOCK
    # For the flat estimate: per row of centres, the sums of |response| over each group of 8 columns.
    row_sums = np.zeros((max(h - 2, 0), groups), np.float64) if flat else None
    across_columns = np.zeros(max(w - 1, 0))  # sums over rows of the step from column x to x + 1
    across_rows = np.zeros(max(h - 1, 0))  # mean over columns of the step from row r to r + 1
    for r0 in range(0, h, _ROWS):
        r1 = min(h, r0 + _ROWS)
        first = max(0, r0 - 2)  # two rows of the band before: the centres and steps that straddle it
        y = frame[first:r1].astype(np.float32) @ weights
        if w >= 3 and y.shape[0] >= 3:
            centres = cv2.filter2D(y, cv2.CV_32F, mask, anchor=(1, 1), borderType=cv2.BORDER_CONSTANT)
            lo, hi = max(1, r0 - 1) - first, min(h - 1, r1 - 1) - first  # this band's centres
            if hi > lo:
                magnitude = np.abs(centres[lo:hi, 1:-1])
                response += float(magnitude.sum(dtype=np.float64))
                if row_sums is not None and groups:
                    start = lo + first - 1  # the first centre row of the band, counted from row 1
                    grouped = magnitude[:, : groups * _FLAT_BLOCK].reshape(hi - lo, groups, _FLAT_BLOCK)
                    row_sums[start : start + hi - lo] = grouped.sum(axis=2, dtype=np.float64)
        own = y[r0 - first:]
        across_columns += np.abs(np.diff(own, axis=1)).sum(axis=0, dtype=np.float64)
        lo = max(0, r0 - 1) - first
        steps = np.abs(np.diff(y[lo:], axis=0)).mean(axis=1, dtype=np.float64)
        across_rows[lo + first : lo + first + len(steps)] = steps
    sigma = torch.tensor([response / max((h - 2) * (w - 2), 1) * _IMMERKAER])
    if row_sums is not None and min(h - 2, w - 2) >= _FLAT_BLOCK:
        rows = (h - 2) // _FLAT_BLOCK * _FLAT_BLOCK
        blocks = row_sums[:rows].reshape(rows // _FLAT_BLOCK, _FLAT_BLOCK, groups).sum(axis=1) / _FLAT_BLOCK**2
        sigma = _flat_blocks(torch.from_numpy(blocks).reshape(1, -1)).float()
    columns, rows = (torch.from_numpy(p).float()[None] for p in (across_columns / max(h, 1), across_rows))
    return sigma, torch.maximum(_grid_ratio(columns), _grid_ratio(rows))


@contextmanager
def whole_frame_estimates(module: torch.nn.Module, frames: np.ndarray) -> Iterator[None]:
    """Within the block, ``module`` (a :class:`~vidstyle.models.generator.RemasterGenerator` with the
    conditioning; anything else is left alone) conditions every input on the estimates of the
    whole ``frames`` instead of its own: for tiles, whose own estimates differ from tile to tile
    and would show as steps of a level or more at the seams."""
    if getattr(module, "condition_head", None) is None:
        yield
        return
    module.fixed_estimates = frame_estimates(frames, module.condition_kind)
    try:
        yield
    finally:
        module.fixed_estimates = None


class DamageConditioning(nn.Module):
    """A scale and a shift of ``channels`` feature channels from the input's damage estimates.

    ``forward(features, estimates)``: ``features * (1 + gamma) + beta``, with ``gamma`` and ``beta``
    (B, C) from ``estimates`` (B, 2) (:func:`damage_estimates` of the input) through a small MLP
    whose last layer starts at zero.
    """

    def __init__(self, channels: int, hidden: int = 16) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(ESTIMATES, hidden), nn.LeakyReLU(0.1), nn.Linear(hidden, 2 * channels))
        nn.init.zeros_(self.mlp[2].weight)
        nn.init.zeros_(self.mlp[2].bias)

    def forward(self, features: torch.Tensor, estimates: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.mlp(estimates.to(self.mlp[0].weight.dtype)).to(features.dtype).chunk(2, dim=1)
        return features * (1.0 + gamma[..., None, None]) + beta[..., None, None]
