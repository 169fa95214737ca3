"""One way to call every model: :class:`ModelDescriptor`.

Whatever the network (a fixed resampler, our generator, an external architecture),
the pipeline sees the same object: its scale, the multiple its input sides must
be, whether it may run in half precision, what the temporal stage may do with it
(:class:`TemporalHints`), and a call that checks, pads, runs, clamps and crops.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..io.depth import top_level

if TYPE_CHECKING:
    from .tiles import Tiling

__all__ = [
    "PRECISION_NAMES", "RESIDUAL_WARPS", "ModelDescriptor", "TemporalHints", "frames_to_tensor", "run_frames",
    "tensor_to_frames",
]

#: The ``--precision`` name of each dtype a model may run in (:meth:`ModelDescriptor.set_precision`).
PRECISION_NAMES = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}

#: How a frame between keyframes may warp its keyframe's residual (:class:`TemporalHints`).
RESIDUAL_WARPS = ("cells", "picture")


@dataclass(frozen=True)
class TemporalHints:
    """What the temporal stage (:mod:`vidstyle.temporal`) may do with a model, and how.

    The loaders fill it (:func:`~vidstyle.models.registry.load_model` from the architecture,
    :func:`~vidstyle.models.styles.load_style` for a style and its strength); the temporal stage
    reads it, never the network. The defaults are those of a model we cannot open up: no feature
    reuse, and the remaster models' blend.
    """

    supports_reuse: bool = False
    """Whether ``--temporal reuse`` can run: the network is our generator with a trained
    :class:`~vidstyle.models.generator.ReuseFusion` (features of a keyframe warped onto the frames
    that follow it)."""
    residual_warp: str = "cells"
    """How a frame between keyframes warps its keyframe's residual: ``cells`` (before the pixel
    shuffle, as the remaster models' fusion was trained) or ``picture`` (after it, as the picture
    it becomes, which keeps a style's strokes finer than the network's pixel cells)."""
    grain_gate: tuple[float, float] | None = None
    """Where the fusion's correction applies, by the input's grain: ``(low, high)`` noise sigmas
    (8-bit levels, :func:`~vidstyle.models.condition.noise_sigma` of a keyframe's input). The
    correction is weighted 0 at or below ``low``, 1 at or above ``high``, linearly between; on a
    clean source a frame between keyframes is the keyframe's residual warped alone. None: the
    correction applies everywhere (how the fusion was trained)."""
    change_gate: tuple[float, float] | None = None
    """Where the correction comes back although the grain gate took it away: ``(low, high)`` luma
    differences (8-bit levels) between the frame and its keyframe's input warped onto it, weight 0
    at ``low``, 1 at ``high``, per 2x2 cell of the input and one cell around (a dust speck, a
    scratch, what the warp missed: what only this frame shows). None: the grain gate alone."""
    blend_gate: tuple[float, float] | None = None
    """How much of the blend ``--temporal reuse`` keeps, by the source's noise from frame to frame:
    ``(low, high)`` levels of :func:`~vidstyle.temporal.reuse.temporal_noise` (the median luma
    difference between a frame and its keyframe's input warped onto it, where the picture is flat;
    a running mean), the blend's strength weighted 0 at or below ``low``, 1 at or above ``high``.
    Read where a keyframe's grain leaves the fusion's correction below 1 (with a ``grain_gate``).
    None: the blend everywhere."""
    whole_gate: float | None = None
    """With ``--temporal auto``: the level of :func:`~vidstyle.temporal.reuse.temporal_noise` (its
    running mean) below which a frame between keyframes runs the whole generator, as ``off`` does.
    On a clean source a keyframe's warped residual costs detail and there is no grain to steady;
    ``--temporal reuse`` reuses regardless. None: frames between keyframes always reuse."""
    blend_contrast: bool = False
    """Whether a blend gives back the contrast of the current output where it meets a fresh
    drawing (:func:`vidstyle.temporal.blend.keep_contrast`): styles, whose strokes two drawings
    average away."""
    blend_tolerance: float | None = None
    """The model's blend tolerance (0-255 luma difference; a style's card names one), or None
    for the default (:data:`vidstyle.config.DEFAULT_BLEND_TOLERANCE`). ``--blend-tolerance``
    overrides it."""

    def __post_init__(self) -> None:
        if self.residual_warp not in RESIDUAL_WARPS:
            raise ValueError(f"residual_warp must be one of {', '.join(RESIDUAL_WARPS)}, "
                             f"got {self.residual_warp!r}")
        for name in ("grain_gate", "change_gate", "blend_gate"):
            gate = getattr(self, name)
            if gate is not None and not 0.0 <= gate[0] < gate[1]:
                raise ValueError(f"{name} must be two levels [low, high] with 0 <= low < high, got {list(gate)!r}")
        if self.whole_gate is not None and not (math.isfinite(self.whole_gate) and self.whole_gate >= 0.0):
            raise ValueError(f"whole_gate must be a level of 0 or more, got {self.whole_gate!r}")


@dataclass
class ModelDescriptor:
    """A model ready to run on batches of frames.

    Attributes:
        name: registry name or file name.
        module: the network; maps (B, 3, H, W) to (B, 3, H*scale, W*scale).
        scale: output size / input size (1, 2 or 4).
        size_multiple: input height and width are padded up to a multiple of this.
        supports_half: whether fp16 keeps the picture (at least 50 dB PSNR against fp32).
        supports_bfloat16: whether bf16 does (its 8-bit mantissa is coarser than fp16's 11; a
            style's sharp strokes may flip, as spandrel keeps the two apart for the same reason).
        meta: free-form facts for reports (architecture, weights card, ...); nothing reads
            them to decide what to do.
        cpu_frames: optional equivalent of the module on frames for the CPU, (B, H, W, 3) ->
            (B, H*scale, W*scale, 3), uint8 or uint16 in and the same out; the fixed resamplers
            use OpenCV here, several times cheaper than float tensors.
        temporal: what the temporal stage may do with the model (feature reuse, how a style
            blends); the default is none of it.
        context: how far (input pixels) an output pixel depends on the input: the radius of
            the receptive field, or where its influence fades out. Tiles reach this far past
            the part of them that is kept (:mod:`vidstyle.models.tiles`). 16 for a network we
            cannot open up, as Real-ESRGAN's ``--tile_pad`` 10 and a margin.
        memory_per_pixel: peak working memory of one input pixel through the network in fp32 at
            batch 1, bytes (an estimate; ``--tile auto`` sizes tiles by it). None: the estimate
            for an ESRGAN-like network (:func:`vidstyle.models.tiles.generic_memory_per_pixel`).
        tiling: run :func:`run_frames` in overlapping tiles (``--tile``); None: whole frames.
        dtype: what the network computes in (``--precision``; :meth:`set_precision`).
    """

    name: str
    module: nn.Module
    scale: int
    size_multiple: int = 1
    supports_half: bool = False
    supports_bfloat16: bool = False
    meta: dict[str, Any] = field(default_factory=dict)
    cpu_frames: Callable[[np.ndarray], np.ndarray] | None = None
    temporal: TemporalHints = field(default_factory=TemporalHints)
    context: int = 16
    memory_per_pixel: float | None = None
    tiling: Tiling | None = None
    dtype: torch.dtype = torch.float32

    def __post_init__(self) -> None:
        self.module.eval()
        for p in self.module.parameters():
            p.requires_grad_(False)

    @property
    def device(self) -> torch.device:
        for t in self.module.parameters():
            return t.device
        for t in self.module.buffers():
            return t.device
        return torch.device("cpu")

    def to(self, device: torch.device | str) -> ModelDescriptor:
        self.module.to(device)
        return self

    def keeps_picture_in(self, precision: str) -> bool:
        """Whether the model keeps its picture in ``precision`` (``fp32``, ``fp16`` or ``bf16``)."""
        return {"fp32": True, "fp16": self.supports_half, "bf16": self.supports_bfloat16}[precision]

    def set_precision(self, dtype: torch.dtype) -> ModelDescriptor:
        """Run the network in ``dtype`` (float32, float16 or bfloat16) from now on.

        Half precision only for a model that keeps its picture in it (:attr:`supports_half`,
        :attr:`supports_bfloat16`); :func:`vidstyle.models.precision.resolve_precision` chooses.
        Inputs and outputs of :meth:`__call__` keep their own dtype.
        """
        if dtype not in PRECISION_NAMES:
            raise ValueError(f"a model runs in float32, float16 or bfloat16, got {dtype}")
        if not self.keeps_picture_in(PRECISION_NAMES[dtype]):
            raise ValueError(f"model {self.name} does not run in {PRECISION_NAMES[dtype]}")
        self.module.to(dtype)
        self.dtype = dtype
        return self

    def in_precision(self, dtype: torch.dtype) -> ModelDescriptor:
        """A copy of this model that runs in ``dtype`` (the network copied; this one is left as it
        is): ``--temporal auto``'s frames run whole inside a run of feature reuse, which keeps the
        model in float32, at the precision ``off`` would have."""
        return replace(self, module=copy.deepcopy(self.module)).set_precision(dtype)

    @torch.inference_mode()
    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        """Run the model.

        Args:
            image: (B, 3, H, W) float in [0, 1].
        Returns:
            (B, 3, H * scale, W * scale) float in [0, 1], same dtype and device (the network
            itself runs in :attr:`dtype`).
        """
        if image.ndim != 4 or image.shape[1] != 3:
            raise ValueError(f"expected a (B, 3, H, W) tensor, instead got shape {tuple(image.shape)}")
        if not image.is_floating_point():
            raise ValueError(f"expected a float tensor in [0, 1], instead got {image.dtype}")
        h, w = image.shape[-2:]
        out = self.module(self.pad(image.to(self.dtype)))
        if out.shape[-2:] != (h * self.scale, w * self.scale):
            out = out[..., : h * self.scale, : w * self.scale]
        return out.to(image.dtype).clamp_(0.0, 1.0)

    def pad(self, image: torch.Tensor) -> torch.Tensor:
        """``image`` (B, C, H, W) padded at the bottom and right to multiples of :attr:`size_multiple`.

        Reflected, or replicated when the picture is smaller than the padding.
        """
        h, w = image.shape[-2:]
        m = self.size_multiple
        pad_h, pad_w = (-h) % m, (-w) % m
        if not (pad_h or pad_w):
            return image
        mode = "reflect" if pad_h < h and pad_w < w else "replicate"
        return F.pad(image, (0, pad_w, 0, pad_h), mode=mode)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "scale": self.scale,
            "size_multiple": self.size_multiple,
            "supports_half": self.supports_half,
            "supports_bfloat16": self.supports_bfloat16,
            "parameters": sum(p.numel() for p in self.module.parameters()),
            "precision": PRECISION_NAMES[self.dtype],
            "tiles": None if self.tiling is None else self.tiling.describe(),
            **self.meta,
        }


def frames_to_tensor(frames: np.ndarray, device: torch.device) -> torch.Tensor:
    """(B, H, W, 3) RGB, uint8 or uint16 -> (B, 3, H, W) float in [0, 1] on ``device``.

    The NHWC storage viewed as NCHW is already channels_last: no copy before the network. uint16
    frames (a source of more than 8 bits, :mod:`vidstyle.io.depth`) go over as int32, which torch
    moves and converts everywhere.
    """
    if frames.dtype == np.uint8:
        return torch.from_numpy(frames).to(device, non_blocking=True).permute(0, 3, 1, 2).float().div_(255.0)
    x = torch.from_numpy(frames.astype(np.int32)).to(device, non_blocking=True)
    return x.permute(0, 3, 1, 2).float().div_(float(top_level(frames.dtype)))


def tensor_to_frames(y: torch.Tensor, dtype: type[np.unsignedinteger] = np.uint8) -> np.ndarray:
    """(B, 3, H, W) float in [0, 1] (clamped already) -> (B, H, W, 3) RGB of ``dtype`` (uint8 or
    uint16); ``y`` is scaled in place."""
    # Adding 0.5 and truncating rounds to nearest.
    if np.dtype(dtype) == np.uint8:
        return y.mul_(255.0).add_(0.5).to(torch.uint8).permute(0, 2, 3, 1).contiguous().cpu().numpy()
    y = y.mul_(float(top_level(dtype))).add_(0.5).to(torch.int32).permute(0, 2, 3, 1)
    return y.contiguous().cpu().numpy().astype(dtype)


@torch.inference_mode()
def run_frames(model: ModelDescriptor, frames: np.ndarray) -> np.ndarray:
    """Run a model on a batch of frames at the I/O edge.

    Args:
        frames: (B, H, W, 3) RGB, uint8 or uint16.
    Returns:
        (B, H*scale, W*scale, 3) RGB of the same dtype.
    """
    if model.tiling is not None:
        return model.tiling.run(model, frames)
    if model.cpu_frames is not None and model.device.type == "cpu":
        return model.cpu_frames(frames)
    return tensor_to_frames(model(frames_to_tensor(frames, model.device)), frames.dtype)
