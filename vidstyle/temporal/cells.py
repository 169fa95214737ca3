"""The CPU's memory layout for frames between keyframes (``--temporal reuse``).

On the CPU, :class:`~vidstyle.temporal.reuse.ReuseRunner` keeps a keyframe's features and
residual in channels_last memory, so OpenCV warps them as pictures and the fusion's 1x1
convolutions are matrix products on pixel rows. These kernels lay frames and residuals out for it:
the flow over a padded feature map (:func:`flow_at`), a frame's space-to-depth
(:func:`space_to_depth`), the residual's channels in the order that makes the pixel shuffle a copy
of runs (:func:`cell_order`), and that shuffle (and a style's output blur) added onto the skip
(:func:`shuffle_onto`).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch

from ..io.depth import top_level
from .flow import FlowPair, resize_flow

__all__ = ["cell_order", "flow_at", "half_size", "picture_onto", "shuffle_onto", "space_to_depth"]


def half_size(h: int, w: int) -> tuple[int, int]:
    """The features' size for an unpadded (h, w) frame: half of it, rounded up."""
    return math.ceil(h / 2), math.ceil(w / 2)


def flow_at(pair: FlowPair, size: tuple[int, int], padded, *, mask: bool = True):
    """Flow and mask (None when ``mask`` is false) over a padded picture: resampled to ``size``,
    the unpadded picture at that resolution, then edge-padded to ``padded``."""
    (uh, uw), (ph, pw) = size, tuple(padded)
    if mask:
        flow, reliable = pair.at(uh, uw)
    else:
        flow, reliable = resize_flow(pair.flow, uh, uw), None
    if (uh, uw) != (ph, pw):
        flow = np.pad(flow, ((0, ph - uh), (0, pw - uw), (0, 0)), mode="edge")
        if reliable is not None:
            reliable = np.pad(reliable, ((0, ph - uh), (0, pw - uw)), mode="edge")
    return np.ascontiguousarray(flow), None if reliable is None else np.ascontiguousarray(reliable)


def space_to_depth(frame: np.ndarray, fh: int, fw: int) -> torch.Tensor:
    """``pixel_unshuffle(pad(frame), 2)`` of an RGB frame (uint8 or uint16), (1, 12, fh, fw) float in
    [0, 1], channels_last.

    The frame is padded to (2 fh, 2 fw) by reflection, as :meth:`ModelDescriptor.pad` does.
    """
    h, w = frame.shape[:2]
    if (2 * fh, 2 * fw) != (h, w):
        mode = cv2.BORDER_REFLECT_101 if 2 * fh - h < h and 2 * fw - w < w else cv2.BORDER_REPLICATE
        frame = cv2.copyMakeBorder(frame, 0, 2 * fh - h, 0, 2 * fw - w, mode)
    # Channel k = 4 c + 2 i + j holds colour c of the pixel at (i, j) in each 2x2 cell.
    cells = frame.reshape(fh, 2, fw, 2, 3).transpose(0, 2, 4, 1, 3).reshape(fh, fw, 12)
    if cells.dtype != np.uint8:
        cells = cells.astype(np.int32)  # torch converts int32 everywhere
    return torch.from_numpy(cells).float().div_(float(top_level(frame.dtype)))[None].permute(0, 3, 1, 2)


def cell_order(scale: int) -> torch.Tensor:
    """The order of a pixel-shuffle residual's channels that makes the shuffle a copy of runs.

    ``F.pixel_shuffle`` reads channel ``c f^2 + i f + j`` as colour ``c`` at (i, j) in each f x f
    cell (f = 2 x scale here); reordered to ``(i f + j) 3 + c``, a channels_last residual holds
    each cell's rows as runs of ``3 f`` numbers.
    """
    f = 2 * scale
    return torch.arange(3 * f * f).view(3, f, f).permute(1, 2, 0).reshape(-1)


def shuffle_onto(residual: torch.Tensor, base: np.ndarray, picture: np.ndarray | None = None,
                 blur: np.ndarray | None = None, dtype: type[np.unsignedinteger] | None = None) -> np.ndarray:
    """``base + blur(pixel_shuffle(residual) (+ picture))`` as RGB of ``dtype`` (rounded,
    saturated).

    Args:
        residual: (1, 3 f^2, fh, fw), channels in :func:`cell_order` (any memory layout).
        base: RGB (H, W, 3), H <= f fh and W <= f fw (the unpadded picture): uint8 or uint16, or
            float32 in the levels of ``dtype``.
        picture: float32 (f fh, f fw, 3) in the levels of ``dtype`` (0-255 or 0-65535), added too;
            not modified.
        blur: the generator's output blur (:meth:`~vidstyle.models.generator.OutputBlur.kernel`),
            a float32 (k, k) kernel applied to the padded residual, zeros beyond it, as the
            generator's ``finish`` does; None: none.
        dtype: np.uint8 or np.uint16, the output's; None: ``base``'s.
    """
    dtype = base.dtype if dtype is None else np.dtype(dtype)
    _, channels, fh, fw = residual.shape
    f = math.isqrt(channels // 3)
    rows = residual.contiguous(memory_format=torch.channels_last).permute(0, 2, 3, 1)
    out = torch.empty((fh, f, fw, 3 * f), dtype=residual.dtype)
    torch.mul(rows.view(fh, fw, f, 3 * f).permute(0, 2, 1, 3), float(top_level(dtype)), out=out)
    if picture is not None:
        out += torch.from_numpy(picture).view(fh, f, fw, 3 * f)
    return picture_onto(base, out.view(fh * f, fw * f, 3).numpy(), blur, dtype)


def picture_onto(base: np.ndarray, picture: np.ndarray, blur: np.ndarray | None = None,
                 dtype: type[np.unsignedinteger] | None = None) -> np.ndarray:
    """``base + blur(picture)`` as RGB of ``dtype`` (rounded, saturated): the end of
    :func:`shuffle_onto`, and all of it when there is no residual to shuffle.

    Args:
        base: RGB (H, W, 3): uint8 or uint16, or float32 in the levels of ``dtype``.
        picture: float32 (H', W', 3), H' >= H and W' >= W (the padded picture), in the levels of
            ``dtype``; blurred over its whole size, then cropped to ``base``'s. Not modified.
        blur: as in :func:`shuffle_onto`.
        dtype: np.uint8 or np.uint16, the output's; None: ``base``'s.
    """
    dtype = base.dtype if dtype is None else np.dtype(dtype)
    if blur is not None:
        picture = cv2.filter2D(picture, -1, blur, borderType=cv2.BORDER_CONSTANT)
    picture = picture[: base.shape[0], : base.shape[1]]
    return cv2.add(base, picture, dtype=cv2.CV_8U if dtype == np.uint8 else cv2.CV_16U)
