"""Warping by a flow field: bring a source-aligned picture (or feature map) onto the target.

``warp(source, flow)[p] = source[p + flow[p]]``, bilinear, edges replicated; ``flow`` follows the
convention of :mod:`vidstyle.temporal.flow` (target -> source, pixels). The torch version runs on
any device and takes features as well as pictures; the NumPy version is OpenCV's ``remap``, for
metrics on uint8 frames.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["flow_grid", "pixel_grid", "upscale_flow", "warp", "warp_numpy", "warp_region", "warp_shuffled"]


def flow_grid(flow: torch.Tensor) -> torch.Tensor:
    """The ``grid_sample`` grid (B, H, W, 2) in [-1, 1] for a flow (B, H, W, 2) in pixels.

    With ``align_corners=False`` pixel ``i`` of a side of ``n`` pixels has its centre at
    ``(2 i + 1) / n - 1``.
    """
    _, h, w, _ = flow.shape
    ys = torch.arange(h, device=flow.device, dtype=flow.dtype)
    xs = torch.arange(w, device=flow.device, dtype=flow.dtype)
    gx = (xs[None, None, :] + flow[..., 0] + 0.5) * (2.0 / w) - 1.0
    gy = (ys[None, :, None] + flow[..., 1] + 0.5) * (2.0 / h) - 1.0
    return torch.stack([gx, gy], dim=-1)


def warp(source: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Warp ``source`` (B, C, H, W) by ``flow`` (B, H, W, 2), target -> source, in pixels."""
    if source.ndim != 4 or flow.ndim != 4 or flow.shape[-1] != 2:
        raise ValueError(f"expected (B, C, H, W) and (B, H, W, 2), got {tuple(source.shape)} and {tuple(flow.shape)}")
    if source.shape[0] != flow.shape[0] or source.shape[-2:] != flow.shape[1:3]:
        raise ValueError(f"source {tuple(source.shape)} and flow {tuple(flow.shape)} differ in size")
    grid = flow_grid(flow.to(source.dtype))
    return F.grid_sample(source, grid, mode="bilinear", padding_mode="border", align_corners=False)


def upscale_flow(flow: torch.Tensor, factor: int) -> torch.Tensor:
    """A flow (B, H, W, 2) in pixels, resampled bilinearly to (B, factor H, factor W, 2) and its
    vectors scaled to the new pixels."""
    if factor == 1:
        return flow
    big = F.interpolate(flow.permute(0, 3, 1, 2), scale_factor=factor, mode="bilinear", align_corners=False)
    return big.mul_(factor).permute(0, 2, 3, 1)


def warp_shuffled(residual: torch.Tensor, flow: torch.Tensor, factor: int) -> torch.Tensor:
    """Warp a pixel-shuffle residual (B, 3 f^2, h, w) as the picture it becomes, (B, 3, f h, f w).

    Warping the residual's channels at (h, w) would mix each f x f cell with its neighbours'
    (bilinear weights over whole cells), smearing any pattern finer than a cell, such as a
    style's strokes; shuffled first, only neighbouring pixels mix. ``flow`` is given at (h, w)
    (it is upscaled) or at (f h, f w).
    """
    if flow.shape[1:3] == residual.shape[-2:]:
        flow = upscale_flow(flow, factor)
    return F.pixel_unshuffle(warp(F.pixel_shuffle(residual, factor), flow), factor)


#: Channels per ``cv2.remap`` call: OpenCV 4 crashes on 192 (it handles 128), so wider
#: feature maps are warped in groups.
_REMAP_CHANNELS = 64


def warp_numpy(source: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Warp an (H, W) or (H, W, C) array by ``flow`` (H, W, 2); same dtype out."""
    h, w = flow.shape[:2]
    if source.shape[:2] != (h, w):
        raise ValueError(f"source {source.shape[:2]} and flow {flow.shape[:2]} differ in size")
    where = pixel_grid(h, w) + flow
    if source.ndim == 2 or source.shape[2] <= _REMAP_CHANNELS:
        return cv2.remap(source, where, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    maps = cv2.convertMaps(where, None, cv2.CV_16SC2)  # converted once for every group
    groups = [cv2.remap(np.ascontiguousarray(source[..., i : i + _REMAP_CHANNELS]), *maps, cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REPLICATE) for i in range(0, source.shape[2], _REMAP_CHANNELS)]
    return np.concatenate(groups, axis=2)


def warp_region(source: np.ndarray, flow: np.ndarray, box: tuple[slice, slice]) -> np.ndarray:
    """``warp_numpy(source, flow)[box]`` (an image of up to 4 channels), computed over ``box`` only."""
    where = pixel_grid(*flow.shape[:2])[box] + flow[box]
    return cv2.remap(source, where, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


@functools.lru_cache(maxsize=8)
def pixel_grid(height: int, width: int) -> np.ndarray:
    """(H, W, 2) float32 of each pixel's (x, y), made once per size (read-only)."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    grid = np.stack([xs, ys], axis=-1)
    grid.flags.writeable = False
    return grid
