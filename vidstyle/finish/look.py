"""A LUT applied to video frames: every 8-bit colour's output computed once, then looked up.

A 3D LUT of N^3 entries is interpolated trilinearly, the usual default of grading tools: the
output at an input colour is the weighted mean of the 8 grid points around it, each weighed by
the product of its closeness along red, green and blue. Frames here are 8-bit RGB, so there are
only 256^3 inputs: :class:`Look` interpolates all of them once (48 MiB, about a second) and a
frame is then one table lookup per pixel, well above the network's pace at HD (figures in the
README). It is the same output as interpolating frame by frame, because trilinear interpolation
is separable: it is done along red for the 256 red levels, then along green, then along blue,
one axis at a time, rounding once at the end.

A 1D LUT is a curve per channel, interpolated linearly, and becomes a (256, 3) table. Inputs
outside the LUT's domain are clamped to it and outputs to [0, 1] before rounding to 8 bits. A
look depends on the colour alone, so it is steady from frame to frame by construction.

Frames of a source of more than 8 bits (uint16, :mod:`vidstyle.io.depth`) keep their depth: a 1D
LUT becomes a (65536, 3) table the same way, and a 3D LUT is interpolated trilinearly at each
pixel (65536^3 colours are too many to tabulate), a block of pixels at a time, and rounded to 16
bits. Both give the 8-bit table's output within a level of 255 for the same colours.
"""

from __future__ import annotations

import numpy as np

from ..io.depth import HIGH_DEPTH_DTYPE, top_level
from .cube import CubeLut

__all__ = ["Look", "grid_coordinates"]

#: Red values interpolated at a time while the 3D table is built (bounds its working memory).
_BLOCK = 16
#: Pixels of uint16 frames interpolated at a time through a 3D LUT (bounds the working memory).
_PIXELS = 1 << 18


def grid_coordinates(size: int, low: float, high: float, levels: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """For each level (of 256, or 65536 for uint16 frames), the grid cell below it and its position
    within the cell.

    Returns ``(index, weight)``, each (levels,): level ``v`` (value ``v / (levels - 1)``) lies at
    grid coordinate ``index + weight`` of a grid of ``size`` points spanning ``[low, high]``,
    clamped to the grid; ``index`` in [0, size - 2] and ``weight`` in [0, 1].
    """
    return _cells(np.arange(levels, dtype=np.float64) / (levels - 1), size, low, high)


def _cells(values: np.ndarray, size: int, low: float, high: float) -> tuple[np.ndarray, np.ndarray]:
    """:func:`grid_coordinates` of ``values`` in [0, 1]."""
    position = (values - low) / (high - low) * (size - 1)
    position = np.clip(position, 0.0, size - 1)
    index = np.minimum(np.floor(position).astype(np.int64), size - 2)
    return index, (position - index).astype(np.float32)


def _lerp(table: np.ndarray, axis: int, index: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """``table`` interpolated along ``axis`` at the 256 positions ``index + weight``."""
    shape = [1] * table.ndim
    shape[axis] = -1
    w = weight.reshape(shape)
    return np.take(table, index, axis=axis) * (1 - w) + np.take(table, index + 1, axis=axis) * w


def _to_levels(values: np.ndarray, dtype: type[np.unsignedinteger] = np.uint8) -> np.ndarray:
    top = top_level(dtype)
    return np.rint(np.clip(values, 0.0, 1.0) * np.float32(top)).astype(dtype)


class Look:
    """A ``.cube`` LUT ready for frames: ``look(frames)`` maps RGB uint8 or uint16 (..., 3) to the
    same shape and dtype, a new array (the input is not changed).

    Example::

        >>> look = Look(identity_cube(17))
        >>> frame = np.random.default_rng(0).integers(0, 256, (4, 6, 3), dtype=np.uint8)
        >>> bool((look(frame) == frame).all())
        True
    """

    def __init__(self, lut: CubeLut, name: str = "") -> None:
        self.name = name or lut.title
        self.lut = lut
        self._table = self._table_3d(lut) if lut.is_3d else self._table_1d(lut)
        self._table_deep: np.ndarray | None = None  # the 1D table of uint16 frames, made when first needed

    @staticmethod
    def _table_3d(lut: CubeLut) -> np.ndarray:
        """The output of every 8-bit RGB, (256^3, 3) uint8, row ``(r << 16) | (g << 8) | b``."""
        size = lut.size
        (ri, rw), (gi, gw), (bi, bw) = (grid_coordinates(size, lo, hi)
                                        for lo, hi in zip(lut.domain_min, lut.domain_max))
        table = np.empty((256, 256, 256, 3), np.uint8)
        along_red = _lerp(lut.table.astype(np.float32), 0, ri, rw)  # (256, N, N, 3)
        for start in range(0, 256, _BLOCK):
            along_green = _lerp(along_red[start : start + _BLOCK], 1, gi, gw)  # (B, 256, N, 3)
            table[start : start + _BLOCK] = _to_levels(_lerp(along_green, 2, bi, bw))
        return table.reshape(-1, 3)

    @staticmethod
    def _table_1d(lut: CubeLut, dtype: type[np.unsignedinteger] = np.uint8) -> np.ndarray:
        """The output of every level of ``dtype``, per channel: (256, 3) uint8 or (65536, 3) uint16."""
        columns = []
        for channel, (lo, hi) in enumerate(zip(lut.domain_min, lut.domain_max)):
            index, weight = grid_coordinates(lut.size, lo, hi, top_level(dtype) + 1)
            curve = lut.table[:, channel].astype(np.float32)
            columns.append(curve[index] * (1 - weight) + curve[index + 1] * weight)
        return _to_levels(np.stack(columns, axis=1), dtype)

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        if frames.dtype not in (np.uint8, HIGH_DEPTH_DTYPE) or frames.shape[-1] != 3:
            raise ValueError(f"a look takes RGB uint8 or uint16 (..., 3) frames, got {frames.dtype} {frames.shape}")
        if frames.dtype != np.uint8:
            return self._deep(frames)
        if self.lut.is_3d:
            index = frames[..., 0].astype(np.uint32) << 16
            index |= frames[..., 1].astype(np.uint32) << 8
            index |= frames[..., 2]
            return np.take(self._table, index, axis=0)
        out = np.empty_like(frames)
        for channel in range(3):
            out[..., channel] = self._table[frames[..., channel], channel]
        return out

    def _deep(self, frames: np.ndarray) -> np.ndarray:
        """uint16 frames through the LUT: a 1D table of every 16-bit level, or the 3D LUT
        interpolated at each pixel."""
        out = np.empty_like(frames)
        if not self.lut.is_3d:
            if self._table_deep is None:
                self._table_deep = self._table_1d(self.lut, HIGH_DEPTH_DTYPE)
            for channel in range(3):
                out[..., channel] = self._table_deep[frames[..., channel], channel]
            return out
        pixels, done = frames.reshape(-1, 3), out.reshape(-1, 3)
        for start in range(0, len(pixels), _PIXELS):
            done[start : start + _PIXELS] = self._trilinear(pixels[start : start + _PIXELS])
        return out

    def _trilinear(self, pixels: np.ndarray) -> np.ndarray:
        """(P, 3) uint16 colours through the 3D LUT: the 8 grid points around each, weighed by the
        product of their closeness along red, green and blue; (P, 3) uint16."""
        lut, top = self.lut, top_level(HIGH_DEPTH_DTYPE)
        (ri, rw), (gi, gw), (bi, bw) = (_cells(pixels[:, c].astype(np.float64) / top, lut.size, lo, hi)
                                        for c, (lo, hi) in enumerate(zip(lut.domain_min, lut.domain_max)))
        result = np.zeros((len(pixels), 3), np.float32)
        for dr, wr in ((0, 1 - rw), (1, rw)):
            for dg, wg in ((0, 1 - gw), (1, gw)):
                for db, wb in ((0, 1 - bw), (1, bw)):
                    result += lut.table[ri + dr, gi + dg, bi + db] * (wr * wg * wb)[:, None]
        return _to_levels(result, HIGH_DEPTH_DTYPE)
