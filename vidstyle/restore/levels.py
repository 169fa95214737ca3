"""Frames at either depth for the repair's parts: the check of an RGB frame, and lookup tables of
every level.

The parts look at the 8-bit view of a frame (:func:`~vidstyle.io.depth.to_8bit`) and write its
pixels at its own depth: RGB uint8 (H, W, 3), or uint16 in 0..65535 for a source of more than 8
bits. A correction of the brightness (flicker, grade) is a curve of grey levels 0..255; a table of
every level of the frame's dtype applies it, so a uint16 frame is corrected to its own precision
and a uint8 frame goes through OpenCV's LUT as it always did.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from ..io.depth import HIGH_DEPTH_DTYPE, top_level

__all__ = ["LUMA", "apply_table", "check_rgb", "level_table"]

#: BT.601 luma weights of R, G and B (OpenCV's grey).
LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def check_rgb(frame: object, name: str = "frame", *, also: str = "") -> None:
    """Raise ValueError unless ``frame`` is an RGB uint8 or uint16 (H, W, 3) array; ``also`` adds
    what else the caller takes to the message (``" or luma uint8 (H, W)"``)."""
    rgb = isinstance(frame, np.ndarray) and frame.ndim == 3 and frame.shape[2] == 3
    if not rgb or frame.dtype not in (np.uint8, HIGH_DEPTH_DTYPE):
        got = f"{frame.dtype} {frame.shape}" if isinstance(frame, np.ndarray) else type(frame).__name__
        raise ValueError(f"{name} must be an RGB uint8 or uint16 (H, W, 3) frame{also}, got {got}")


def level_table(curve: Callable[[np.ndarray], np.ndarray], dtype: np.dtype | type) -> np.ndarray:
    """The lookup table of ``curve`` for frames of ``dtype``: (256, k) uint8 or (65536, k) uint16.

    ``curve`` maps grey levels to grey levels (0..255 scale, float64): it is given every level of
    ``dtype`` as a column (levels, 1) in grey levels (``v * 255 / top``) and returns (levels, k)
    (k = 1 for one curve on R, G and B, 3 for one per channel). Its values are scaled back to the
    dtype's levels, rounded and clipped. At uint8 both scalings are by exactly 1, so the 8-bit
    table is the one the 8-bit path always made.
    """
    top = top_level(dtype)
    levels = np.arange(top + 1, dtype=np.float64)[:, None] * (255.0 / top)
    return np.clip(curve(levels) * (top / 255.0) + 0.5, 0, top).astype(dtype)


def apply_table(frame: np.ndarray, table: np.ndarray) -> np.ndarray:
    """``frame`` (RGB uint8 or uint16 (H, W, 3)) through a :func:`level_table` of its dtype, (levels,
    k) or OpenCV's (levels, 1, k); a new array. uint8 goes through ``cv2.LUT``; uint16 through
    numpy indexing (OpenCV's LUT takes 8-bit input only)."""
    table = table.reshape(len(table), -1)
    if frame.dtype == np.uint8:
        return cv2.LUT(frame, table.reshape(256, 1, -1))
    if table.shape[1] == 1:
        return table[:, 0][frame]
    out = np.empty_like(frame)
    for channel in range(3):
        out[..., channel] = table[:, channel][frame[..., channel]]
    return out
