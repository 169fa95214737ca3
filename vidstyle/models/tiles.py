"""Large frames in overlapping tiles (``--tile``), blended without seams.

A network holds several feature maps of its whole input at once, so its memory grows with the
frame: a 3840x2160 frame through remaster-x2 needs about 3.5 GB in fp32. Tiling runs it on
squares of the input instead, each with enough of its neighbours around the part that is kept
that the kept pixels never see the tile's edge. Along each axis, two neighbouring tiles overlap
by ``2 context + ramp`` pixels::

    tile k    ... kept (weight 1) ...|<- ramp ->|<- context ->|
    tile k+1                |<- context ->|<- ramp ->|... kept (weight 1) ...
                                          ^ the seam: a raised-cosine cross-fade

* ``context`` is the model's reach (:attr:`ModelDescriptor.context`): the pixels a tile sees but
  never keeps, so what it keeps is computed as if the frame went on.
* Over ``ramp`` pixels (:data:`RAMP`) in the middle of the overlap the two tiles cross-fade with
  weights ``(1 - cos)/2`` and ``(1 + cos)/2``: at every output pixel the weights of all tiles sum
  to exactly 1, and a model whose influence reaches farther than ``context`` (an outside model)
  leaves no step at the seam.
* Tiles start at multiples of the model's ``size_multiple``, so a network with strided layers or
  space-to-depth sees every tile on the grid it sees the whole frame on.

A network whose output depends on nothing farther than ``context`` pixels (ours, whose reach is
computed from its layers) gives the untiled picture up to float rounding. The output is put
together one row of tiles at a time in a float strip as wide as the output frame, so the working
memory is one tile through the network plus one strip, whatever the height of the frame.

``--tile auto`` (:func:`plan_tiling`) tiles only when the whole frame would not fit in a quarter
of the free memory (:func:`free_memory`); the tile is then the largest square that does, by the
model's :attr:`~ModelDescriptor.memory_per_pixel` (its fp32 estimate, times the batch size).
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .condition import whole_frame_estimates
from .descriptor import ModelDescriptor, frames_to_tensor, tensor_to_frames

__all__ = [
    "AUTO_MEMORY_SHARE",
    "RAMP",
    "Span",
    "Tiling",
    "fade_weights",
    "free_memory",
    "generic_memory_per_pixel",
    "least_tile",
    "plan_tiling",
    "tile_spans",
]

log = logging.getLogger(__name__)

#: Input pixels over which two neighbouring tiles cross-fade (rounded up to the size multiple).
RAMP = 16
#: ``--tile auto`` gives the network at most this share of the free memory: the rest is for the
#: queues of frames, the encoder and the other programs of the machine.
AUTO_MEMORY_SHARE = 0.25
#: Free memory assumed where the system does not say (neither CUDA nor /proc/meminfo).
FALLBACK_FREE_BYTES = 4 << 30


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


@dataclass(frozen=True)
class Span:
    """One tile along one axis, in input pixels: ``[start, stop)`` goes through the network and
    ``[keep_start, keep_stop)`` has a weight above 0, fading in over the first :data:`RAMP`
    pixels when ``fade_in`` and out over the last ones when ``fade_out`` (not at the frame's edge).
    """

    start: int
    stop: int
    keep_start: int
    keep_stop: int
    fade_in: bool
    fade_out: bool


def tile_spans(length: int, tile: int, *, context: int, ramp: int, multiple: int = 1) -> list[Span]:
    """The tiles along an axis of ``length`` pixels.

    Tiles are ``tile`` pixels long (the last one up to ``multiple - 1`` more, to end at the
    frame's edge) and start at multiples of ``multiple``; neighbours overlap by at least
    ``2 context + ramp`` and cross-fade in the middle of their overlap.

    Raises:
        ValueError: ``tile`` below :func:`least_tile` (the fades of one tile would meet), or
            ``tile``, ``context`` or ``ramp`` not multiples of ``multiple``, or ``ramp`` odd.
    """
    for name, value in (("tile", tile), ("context", context), ("ramp", ramp)):
        if value % multiple:
            raise ValueError(f"{name} must be a multiple of {multiple}, got {value}")
    if ramp % 2 or ramp <= 0:
        raise ValueError(f"ramp must be even and above 0, got {ramp}")
    if tile < 2 * context + 3 * ramp:
        raise ValueError(f"tile must be at least 2 context + 3 ramp = {2 * context + 3 * ramp}, got {tile}")
    if length <= tile:
        return [Span(0, length, 0, length, False, False)]
    step = tile - (2 * context + ramp)
    starts = list(range(0, length - tile, step))
    # The last tile ends at the frame's edge. Its start, rounded down to the multiple, is at or
    # after the start before it and keeps their overlap at least 2 context + ramp.
    last = (length - tile) // multiple * multiple
    if last > starts[-1]:
        starts.append(last)
    stops = [start + tile for start in starts[:-1]] + [length]
    seams = [(starts[k + 1] + stops[k]) // 2 for k in range(len(starts) - 1)]
    spans = []
    for k, (start, stop) in enumerate(zip(starts, stops)):
        keep_start = seams[k - 1] - ramp // 2 if k > 0 else 0
        keep_stop = seams[k] + ramp // 2 if k < len(seams) else length
        spans.append(Span(start, stop, keep_start, keep_stop, k > 0, k < len(seams)))
    return spans


def least_tile(model: ModelDescriptor) -> int:
    """The smallest tile ``model`` can be run in: twice its context and three ramps."""
    context, ramp = _margins(model)
    return 2 * context + 3 * ramp


def _margins(model: ModelDescriptor) -> tuple[int, int]:
    """(context, ramp) of ``model`` in input pixels, rounded up to its size multiple (and the ramp to
    an even number)."""
    m = model.size_multiple
    return _round_up(model.context, m), _round_up(_round_up(RAMP, m), 2)


def fade_weights(span: Span, scale: int, ramp: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Weights of ``span`` over its kept output pixels, (scale * (keep_stop - keep_start),) float32:
    1, rising from near 0 over the first ``scale * ramp`` pixels if it fades in, falling over the
    last ones if it fades out."""
    weights = torch.ones(scale * (span.keep_stop - span.keep_start), device=device)
    n = scale * ramp
    rising = 0.5 - 0.5 * torch.cos(math.pi * (torch.arange(n, device=device) + 0.5) / n)
    if span.fade_in:
        weights[:n] = rising
    if span.fade_out:
        weights[-n:] = rising.flip(0)  # = 1 - rising: the neighbour's fade-in over the same pixels
    return weights


@dataclass(frozen=True)
class Tiling:
    """How :func:`~vidstyle.models.descriptor.run_frames` tiles a model's frames.

    ``size`` is the side of the square of input a tile sends through the network; ``context`` and
    ``ramp`` are the model's margins (module docstring). ``asked`` is what ``--tile`` said
    (pixels or ``auto``) and ``note`` why ``size`` differs from it, if it does.
    """

    size: int
    context: int
    ramp: int
    multiple: int = 1
    asked: int | str = 0
    note: str | None = None

    @property
    def overlap(self) -> int:
        """Input pixels shared by two neighbouring tiles (at least)."""
        return 2 * self.context + self.ramp

    def describe(self) -> dict[str, Any]:
        facts: dict[str, Any] = {"size": self.size, "overlap": self.overlap, "context": self.context,
                                 "ramp": self.ramp, "asked": self.asked}
        if self.note:
            facts["note"] = self.note
        return facts

    def spans(self, length: int) -> list[Span]:
        return tile_spans(length, self.size, context=self.context, ramp=self.ramp, multiple=self.multiple)

    @torch.inference_mode()
    def run(self, model: ModelDescriptor, frames: np.ndarray) -> np.ndarray:
        """``model`` on ``frames`` tile by tile, (B, H, W, 3) -> (B, sH, sW, 3), uint8 or uint16 (the
        same out).

        One row of tiles at a time: its tiles, weighted, add up in a float strip of the output's
        width; the rows of the strip that the next row of tiles does not reach are final and
        rounded into the output, the rest (the cross-fade band) is carried over.
        """
        b, h, w, _ = frames.shape
        s = model.scale
        rows, cols = self.spans(h), self.spans(w)
        out = np.empty((b, h * s, w * s, 3), frames.dtype)
        carry: torch.Tensor | None = None
        with whole_frame_estimates(model.module, frames):
            for i, row in enumerate(rows):
                strip = self._strip(model, frames, row, cols)
                if carry is not None:
                    strip[:, :, : carry.shape[2]] += carry
                done = (rows[i + 1].keep_start if i + 1 < len(rows) else h) - row.keep_start
                rows_done = tensor_to_frames(strip[:, :, : s * done], frames.dtype)
                out[:, s * row.keep_start : s * (row.keep_start + done)] = rows_done
                carry = strip[:, :, s * done :]
        return out

    def _strip(self, model: ModelDescriptor, frames: np.ndarray, row: Span, cols: list[Span]) -> torch.Tensor:
        """The weighted sum of the tiles of one row over the rows it keeps, (B, 3, s rows, sW) float32."""
        b, _, w, _ = frames.shape
        s, device = model.scale, model.device
        strip = torch.zeros((b, 3, s * (row.keep_stop - row.keep_start), s * w), device=device)
        fade_y = fade_weights(row, s, self.ramp, device)[:, None]
        for col in cols:
            tile = np.ascontiguousarray(frames[:, row.start : row.stop, col.start : col.stop])
            y = _tile_output(model, tile)
            y = y[:, :, s * (row.keep_start - row.start) : s * (row.keep_stop - row.start),
                  s * (col.keep_start - col.start) : s * (col.keep_stop - col.start)]
            weights = fade_y * fade_weights(col, s, self.ramp, device)
            strip[..., s * col.keep_start : s * col.keep_stop].addcmul_(y, weights)
        return strip


def _tile_output(model: ModelDescriptor, tile: np.ndarray) -> torch.Tensor:
    """One tile through the model, (B, h, w, 3) uint8 or uint16 -> (B, 3, sh, sw) float32 in [0, 1]: by
    its CPU function on frames where :func:`~vidstyle.models.descriptor.run_frames` would use it, else
    the network."""
    if model.cpu_frames is not None and model.device.type == "cpu":
        return frames_to_tensor(model.cpu_frames(tile), model.device)
    return model(frames_to_tensor(tile, model.device))


def generic_memory_per_pixel(scale: int) -> float:
    """An fp32 estimate of the working memory of one input pixel (bytes) for a network we cannot open
    up: eight 64-channel feature maps at the input's size and two at the output's, as an ESRGAN
    (RRDBNet) holds inside a dense block and while it upsamples."""
    return 4.0 * (8 * 64 + 2 * 64 * scale * scale)


def free_memory(device: torch.device) -> int:
    """Bytes free for the network on ``device``: the CUDA device's free memory
    (``torch.cuda.mem_get_info``), else the system's available memory (``MemAvailable`` of
    /proc/meminfo, or the free pages), else :data:`FALLBACK_FREE_BYTES`."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return FALLBACK_FREE_BYTES


def plan_tiling(asked: int | str, model: ModelDescriptor, *, width: int, height: int, batch: int = 1,
                free_bytes: int | None = None) -> Tiling | None:
    """The tiling ``--tile`` asks for on frames of ``width`` x ``height``, or None for whole frames.

    Args:
        asked: 0 (no tiling), the side of a tile in input pixels, or ``auto``.
        batch: frames per network call (each tile runs on all of them at once).
        free_bytes: the free memory ``auto`` sizes by; None asks :func:`free_memory`.

    A tile below :func:`least_tile` becomes the least tile, with a warning (and the reason in
    :attr:`Tiling.note`); a side not a multiple of the model's size multiple is rounded down to
    one. A frame that fits in one tile is not tiled.
    """
    if asked == 0:
        return None
    context, ramp = _margins(model)
    m, least = model.size_multiple, least_tile(model)
    note = None
    if asked == "auto":
        per_pixel = batch * (model.memory_per_pixel or generic_memory_per_pixel(model.scale))
        budget = AUTO_MEMORY_SHARE * (free_memory(model.device) if free_bytes is None else free_bytes)
        if width * height * per_pixel <= budget:
            return None
        size = max(int(math.sqrt(budget / per_pixel)) // m * m, least)
    elif not isinstance(asked, int) or isinstance(asked, bool) or asked < 0:
        raise ValueError(f"tile must be 0, a size in pixels or 'auto', got {asked!r}")
    else:
        size = asked // m * m
        if size < least:
            note = (f"--tile {asked} is below the least tile {model.name} can be blended in without seams "
                    f"({least} px: twice its reach of {context} px and three {ramp}-px ramps); "
                    f"tiles of {least} px are used")
            log.warning(note)
            size = least
    if width <= size and height <= size:
        return None
    return Tiling(size, context, ramp, m, asked, note)
