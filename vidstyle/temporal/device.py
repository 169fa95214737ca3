"""The temporal stage on the model's device: flows, warps and blends with torch, a batch at a time.

On a GPU the frames of a batch stay there from the network to the blend: the flows of a batch
go up in one host-to-device copy (:func:`upload_flows`), are resampled there (:func:`flows_at`),
and the outputs come back in one copy (:func:`levels_to_frames`). Pictures here are float
tensors (N, 3, H, W) in 0-255 levels, rounded after each step as the uint8 pictures of the
CPU's OpenCV path are, so that each function gives that path's result within rounding. Frames
of a source of more than 8 bits (uint16, :mod:`vidstyle.io.depth`) are in 0-65535 levels
(``top``), rounded as the CPU path rounds uint16 pictures, the tolerance still in 8-bit levels:

* :func:`blend_levels` is :func:`~.blend.blend_toward`;
* :func:`keep_contrast_levels` is :func:`~.blend.keep_contrast`;
* :func:`flows_at` is :func:`~.cells.flow_at` (and ``FlowPair.at``) for a stack of flows;
* :func:`luma_levels` is OpenCV's RGB to grey conversion of uint8 pictures, to the level.

What is left between the two paths is OpenCV's warp (positions in 1/32 of a pixel, against
``grid_sample``'s exact ones) and its rounding at halves: a level here and there.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .flow import FlowPair
from .warp import warp

__all__ = [
    "blend_levels",
    "flows_at",
    "keep_contrast_levels",
    "levels_to_frames",
    "luma_levels",
    "to_levels",
    "upload_flows",
]

#: OpenCV's BT.601 weights of R, G and B for uint8 and uint16 pictures, in 1/2^15 (its fixed point).
_LUMA_FIXED = (9798.0, 19235.0, 3735.0)
#: OpenCV's remap places the samples of a map of more than 4 channels on a grid of 1/32 pixel.
_REMAP_STEPS = 32.0
#: cv2.blendLinear divides by the sum of the weights plus this.
_BLEND_EPSILON = 1e-5


def to_levels(y: torch.Tensor, top: int = 255) -> torch.Tensor:
    """(N, 3, H, W) in [0, 1] (clamped already) -> the same in 0-``top`` levels (255, or 65535 for
    uint16 frames), rounded as :func:`~vidstyle.models.descriptor.tensor_to_frames` rounds (so a
    keyframe's levels are the frame-by-frame output's values); ``y`` is scaled in place."""
    return y.mul_(float(top)).add_(0.5).floor_()


def levels_to_frames(levels: torch.Tensor, dtype: type[np.unsignedinteger] = np.uint8) -> np.ndarray:
    """(N, 3, H, W) levels in the range of ``dtype`` -> (N, H, W, 3) RGB of ``dtype`` (uint8 or
    uint16) on the host: one copy (uint16 goes over as int32, which torch converts everywhere)."""
    if np.dtype(dtype) == np.uint8:
        return levels.to(torch.uint8).permute(0, 2, 3, 1).contiguous().cpu().numpy()
    return levels.to(torch.int32).permute(0, 2, 3, 1).contiguous().cpu().numpy().astype(dtype)


def upload_flows(pairs: Sequence[FlowPair], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The flows and masks of ``pairs`` (all of one size) on ``device``, in one copy.

    Returns:
        flows (N, h, w, 2) in pixels of the flow resolution, masks (N, 1, h, w) in [0, 1].
    """
    h, w = pairs[0].flow.shape[:2]
    packed = np.empty((len(pairs), h, w, 3), np.float32)
    for row, pair in zip(packed, pairs):
        row[..., :2] = pair.flow
        row[..., 2] = pair.mask
    on_device = torch.from_numpy(packed).to(device)
    return on_device[..., :2], on_device[..., 2][:, None]


def flows_at(flows: torch.Tensor, masks: torch.Tensor | None, size: tuple[int, int],
             padded: Sequence[int], *, on_remap_grid: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Flows (N, h, w, 2) and masks (N, 1, h, w) resampled to ``size`` (their vectors rescaled),
    then edge-padded to ``padded``, as :func:`~.cells.flow_at` does for one.

    ``on_remap_grid`` rounds the vectors to 1/32 of a pixel, where OpenCV's ``remap`` samples a
    map of more than four channels (it samples a picture of up to four exactly): feature maps and
    residual cells warped by these flows then match the per-frame path's, and outputs a level
    apart become rare.

    Returns:
        flows (N, ph, pw, 2) and masks (N, 1, ph, pw), or None for masks when None was given.
    """
    (uh, uw), (ph, pw) = size, tuple(padded)
    h, w = flows.shape[1:3]
    flows = flows.permute(0, 3, 1, 2)
    if (h, w) != (uh, uw):
        # Bilinear with half-pixel centres, as cv2.resize's INTER_LINEAR.
        flows = F.interpolate(flows, size=(uh, uw), mode="bilinear", align_corners=False)
        flows = flows * torch.tensor([uw / w, uh / h], dtype=flows.dtype, device=flows.device).view(1, 2, 1, 1)
        if masks is not None:
            masks = F.interpolate(masks, size=(uh, uw), mode="bilinear", align_corners=False)
    if (uh, uw) != (ph, pw):
        flows = F.pad(flows, (0, pw - uw, 0, ph - uh), mode="replicate")
        if masks is not None:
            masks = F.pad(masks, (0, pw - uw, 0, ph - uh), mode="replicate")
    if on_remap_grid:
        flows = flows.mul(_REMAP_STEPS).round_().div_(_REMAP_STEPS)
    return flows.permute(0, 2, 3, 1).contiguous(), masks


def luma_levels(picture: torch.Tensor, top: int = 255) -> torch.Tensor:
    """(N, 3, H, W) RGB levels (whole numbers, 0-``top``) -> (N, 1, H, W) BT.601 luma levels, rounded
    as OpenCV's ``COLOR_RGB2GRAY`` rounds uint8 and uint16 pictures (exact: in float32 for 0-255,
    whose sums stay below 2^24; in int64 for 0-65535, whose sums do not)."""
    r, g, b = _LUMA_FIXED
    if top != 255:
        fixed = picture.to(torch.int64)
        fixed = fixed[:, 0:1] * int(r) + fixed[:, 1:2] * int(g) + fixed[:, 2:3] * int(b)
        return fixed.add_(16384).bitwise_right_shift_(15).to(picture.dtype)
    fixed = picture[:, 0:1] * r + picture[:, 1:2] * g + picture[:, 2:3] * b
    return fixed.add_(16384.0).div_(32768.0).floor_()


def blend_levels(current: torch.Tensor, previous: torch.Tensor, flow: torch.Tensor, mask: torch.Tensor, *,
                 strength: float, tolerance: float, top: int = 255) -> torch.Tensor:
    """:func:`~.blend.blend_toward` (without ``contrast``) for a stack of frames on any device.

    Args:
        current: (N, 3, H, W) levels (0-``top``), the frames' own outputs.
        previous: (N, 3, H, W) or (1, 3, H, W) levels: the earlier outputs, each warped onto its
            frame by its flow (one earlier output is shared by all N frames).
        flow: (N, H, W, 2) in output pixels, frame -> earlier output; mask (N, 1, H, W).
        tolerance: in 8-bit levels, whatever ``top``.
    Returns:
        (N, 3, H, W) levels, rounded; the inputs are not modified.
    """
    if previous.shape[0] != current.shape[0]:
        previous = previous.expand(current.shape[0], -1, -1, -1)
    warped = warp(previous, flow).round_()
    difference = luma_levels((warped - current).abs_(), top)
    levels = tolerance * (top // 255)  # 1 or 257 levels per 8-bit level, as blend_toward
    weight = difference.mul_(-1.0 / levels).add_(1.0).clamp_(0.0, 1.0).mul_(mask).mul_(strength)
    return _rounded_mix(torch.lerp(current, warped, weight), top)


def _rounded_mix(mixed: torch.Tensor, top: int) -> torch.Tensor:
    """A mix rounded and saturated as the CPU path's is: cv2.blendLinear's on uint8 (over the sum of
    the weights plus an epsilon, halves to even), :func:`~.blend.mix`'s on uint16 (halves up)."""
    if top == 255:
        return mixed.div_(1.0 + _BLEND_EPSILON).round_().clamp_(0.0, 255.0)
    return mixed.add_(0.5).floor_().clamp_(0.0, float(top))


def keep_contrast_levels(blended: torch.Tensor, current: torch.Tensor, *, sigma: float,
                         max_gain: float, top: int = 255) -> torch.Tensor:
    """:func:`~.blend.keep_contrast` on (N, 3, H, W) levels (0-``top``), on any device: ``blended``'s
    detail (what a Gaussian of about ``sigma`` output pixels takes away) scaled up, locally, by a
    gain from 1 to ``max_gain``, until its luma has the contrast of ``current``'s (see there)."""
    h, w = blended.shape[-2:]
    small = (max(1, h // 4), max(1, w // 4))

    def local_mean(picture: torch.Tensor, *, rounded: bool) -> torch.Tensor:
        # A Gaussian of about sigma, cheaply: 4x4 block means, blurred at that size. OpenCV rounds
        # each step of an integer picture and sizes a uint8 picture's kernel at 3 sigma, not 4.
        shrunk = F.interpolate(picture, size=small, mode="area")
        if rounded:
            shrunk = shrunk.round_()
        mean = _gaussian_blur(shrunk, sigma / 4.0, reach=3 if rounded and top == 255 else 4)
        return mean.round_() if rounded else mean

    def luma_variance(picture: torch.Tensor) -> torch.Tensor:
        luma = luma_levels(picture, top)
        if top != 255:  # variances in 8-bit levels, as the +1 below
            luma.mul_(255.0 / top)
        mean = local_mean(luma, rounded=False)
        return local_mean(luma * luma, rounded=False) - mean * mean

    gain = (luma_variance(current) + 1.0).div_(luma_variance(blended) + 1.0).sqrt_().clamp_(1.0, max_gain)
    low = F.interpolate(local_mean(blended, rounded=True), size=(h, w), mode="bilinear", align_corners=False)
    gain = F.interpolate(gain, size=(h, w), mode="bilinear", align_corners=False)
    return _rounded_mix(torch.lerp(low.round_(), blended, gain), top)  # low + gain (blended - low)


def _gaussian_blur(picture: torch.Tensor, sigma: float, *, reach: int) -> torch.Tensor:
    """cv2.GaussianBlur(picture, (0, 0), sigma, borderType=BORDER_REFLECT) of (N, C, h, w):
    OpenCV's kernel (``reach`` sigmas on either side), mirrored edges (``cba|abc``)."""
    size = int(round(sigma * reach * 2 + 1)) | 1
    kernel = torch.from_numpy(cv2.getGaussianKernel(size, sigma).astype(np.float32).ravel()).to(picture)
    channels = picture.shape[1]
    for dim in (2, 3):
        n = picture.shape[dim]
        index = torch.arange(-(size // 2), n + size // 2, device=picture.device) % (2 * n)
        index = torch.where(index >= n, 2 * n - 1 - index, index)  # mirrored, however small the picture
        padded = picture.index_select(dim, index)
        shape = (1, 1, size, 1) if dim == 2 else (1, 1, 1, size)
        picture = F.conv2d(padded, kernel.view(shape).expand(channels, -1, -1, -1), groups=channels)
    return picture
