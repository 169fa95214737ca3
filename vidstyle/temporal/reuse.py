"""Feature reuse between keyframes (``--temporal reuse``), for models with a
:class:`~vidstyle.models.generator.ReuseFusion`.

:class:`ReuseRunner` follows the plan of :mod:`.plan` on the model's thread: a keyframe runs the
whole generator and keeps its deep features (a :class:`Keyframe`); a frame between keyframes gets
those features warped by its flow to the keyframe, corrected by the fusion's light look at the
frame, and decoded. This is the scheme of Deep Feature Flow (Zhu et al., CVPR 2017): flow from
each frame straight to its keyframe, so warps do not pile up. At a cut the runner starts afresh,
so the first frame of a shot is exactly the frame-by-frame output. On the CPU the frames between
keyframes take a faster path laid out by :mod:`.cells`.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..config import DEFAULT_BLEND_TOLERANCE
from ..io.depth import top_level
from ..models.descriptor import ModelDescriptor, frames_to_tensor, tensor_to_frames
from .blend import blend_toward
from .cells import cell_order, flow_at, half_size, shuffle_onto, space_to_depth
from .flow import FlowPair
from .plan import PlannedBatch
from .warp import warp, warp_numpy

__all__ = ["Keyframe", "ReuseRunner", "supports_reuse"]


def supports_reuse(model: ModelDescriptor) -> bool:
    """Whether ``model`` can reuse features, as its descriptor says
    (``model.temporal.supports_reuse``: our generator, trained with a ReuseFusion)."""
    return model.temporal.supports_reuse


@dataclass
class Keyframe:
    """A keyframe after the whole generator: what the frames up to the next keyframe reuse."""

    features: torch.Tensor
    """Deep features, (1, C, h, w); in channels_last memory on the CPU."""
    residual: torch.Tensor | np.ndarray
    """What the network adds to the skip, as a frame between keyframes warps it. Before the
    pixel shuffle, (1, 3 (2s)^2, h, w), on the CPU in channels_last memory with its channels in
    :func:`~.cells.cell_order` (``in_cells``). Or, with ``picture``, after it, over the padded picture
    (4 h, 4 w at x2): on the CPU an (H, W, 3) float32 array in the levels of the frames (0-255,
    or 0-65535 for uint16 frames), elsewhere a (1, 3, H, W) tensor in [0, 1]."""
    output: np.ndarray
    """The frame-by-frame output, RGB (sH, sW, 3) of the frames' dtype, before any blending."""
    in_cells: bool = False
    picture: bool = False


class ReuseRunner:
    """Runs our generator along a plan (see the module docstring).

    A keyframe goes through exactly the computation of ``--temporal off`` (same layout, same
    operations; a batch of one gives the same result as a larger one), so at a cut, where there
    is nothing to blend with, the output equals the frame-by-frame one to the bit. With
    ``strength`` > 0 the output is then steadied by :func:`blend_toward`: a frame between
    keyframes towards its keyframe's output, a keyframe towards the previous output.
    """

    def __init__(self, model: ModelDescriptor, *, strength: float = 0.7,
                 tolerance: float = DEFAULT_BLEND_TOLERANCE, contrast: bool = False,
                 picture_warp: bool = False) -> None:
        if not supports_reuse(model):
            raise ValueError(f"model {model.name} has no feature reuse")
        self.model = model
        self.generator = model.module
        self.strength = strength
        self.tolerance = tolerance
        self.contrast = contrast
        self.picture_warp = picture_warp
        self._key: Keyframe | None = None  # the last keyframe
        self._key_output: np.ndarray | None = None  # its output after blending
        self._previous: np.ndarray | None = None
        self._cells = cell_order(model.scale)
        self._uncells = torch.argsort(self._cells)  # back to F.pixel_shuffle's order
        self._fusion_in_cells = None  # the fusion with its output channels in that order (CPU)

    @torch.inference_mode()
    def keyframes(self, batch: PlannedBatch) -> PlannedBatch:
        """Run the whole generator on the keyframes of ``batch``, into ``batch.keyframes``.

        Nothing here depends on earlier frames, so :class:`TemporalStage` calls it on a thread of
        its own, a batch ahead of :meth:`run`: on the CPU the keyframes of the next batch are
        computed while this batch's frames between keyframes reuse features.
        """
        for i, plan in enumerate(batch.plans):
            if plan.keyframe and i not in batch.keyframes:
                batch.keyframes[i] = self._keyframe(batch.frames[i])
        return batch

    def _keyframe(self, frame: np.ndarray) -> Keyframe:
        """One frame through encode and decode, exactly as ``--temporal off`` runs it."""
        h, w = frame.shape[:2]
        s = self.model.scale
        x = self.model.pad(frames_to_tensor(frame[None], self.model.device))  # channels_last
        features = self.generator.encode(x)
        residual = self.generator.residual(features)
        y = self.generator.finish(residual, x)  # = decode(features, x), as off runs it
        output = tensor_to_frames(y[:, :, : h * s, : w * s].clamp_(0.0, 1.0), frame.dtype)[0]
        cpu = features.device.type == "cpu"
        if self.picture_warp:
            picture = F.pixel_shuffle(residual, 2 * s)
            if cpu:  # for OpenCV: an (H, W, 3) picture in the levels of the output
                picture = picture[0].permute(1, 2, 0).mul(float(top_level(frame.dtype))).contiguous().numpy()
                return Keyframe(features.contiguous(memory_format=torch.channels_last), picture, output, picture=True)
            return Keyframe(features.contiguous(), picture.contiguous(), output, picture=True)
        if cpu:
            # The CPU path between keyframes works on channels_last rows, the residual's channels
            # in the order that makes the pixel shuffle a copy of runs.
            cells = residual[:, self._cells].contiguous(memory_format=torch.channels_last)
            return Keyframe(features.contiguous(memory_format=torch.channels_last), cells, output, in_cells=True)
        # Elsewhere grid_sample and the pixel shuffle are faster on plain NCHW.
        return Keyframe(features.contiguous(), residual.contiguous(), output)

    @torch.inference_mode()
    def run(self, batch: PlannedBatch) -> np.ndarray:
        """The frames of ``batch``, (B, H, W, 3) -> (B, sH, sW, 3) of their dtype (uint8 or uint16),
        following its plans.

        Keyframes come from ``batch.keyframes`` (:meth:`keyframes`), or are run here. The other
        frames go one at a time: on the CPU, batching them was slower (a batch of full-size
        outputs no longer fits in the caches), and a frame depends on its keyframe anyway.
        """
        frames, plans = batch.frames, batch.plans
        s = self.model.scale
        h, w = frames.shape[1:3]
        outputs = np.empty((len(frames), h * s, w * s, 3), frames.dtype)
        cpu = self.model.device.type == "cpu"
        for i, plan in enumerate(plans):
            keyframe = plan.keyframe or self._key is None
            if keyframe:
                self._key = batch.keyframes.get(i) or self._keyframe(frames[i])
                out = self._key.output
            elif cpu:
                out = self._reuse_cpu(frames[i], plan.flow)
            else:
                out = self._reuse_torch(frames[i], plan.flow)
            anchor = self._previous if keyframe else self._key_output
            if self.strength > 0 and plan.flow is not None and anchor is not None:
                # Contrast is kept where two drawings meet: at a keyframe, whose strokes were
                # drawn afresh. A frame between keyframes is drawn from its keyframe's warped
                # features and residual, and its strokes line up with the keyframe's already.
                out = blend_toward(out, anchor, plan.flow, strength=self.strength, tolerance=self.tolerance,
                                   contrast=self.contrast and keyframe)
            if keyframe:
                self._key_output = out
            self._previous = outputs[i] = out
        return outputs

    def _reuse_cpu(self, frame: np.ndarray, pair: FlowPair) -> np.ndarray:
        """A frame between keyframes on the CPU: the same network as :meth:`_reuse_torch`, laid out
        for it.

        The keyframe's features and residual stay in channels_last memory, so each is an
        (h, w, C) picture (or, ``picture_warp``, the residual an (H, W, 3) one) that OpenCV's
        ``remap`` warps, several times faster than ``grid_sample``; the fusion's 1x1 convolutions
        are matrix products on their rows (:meth:`ReuseFusion.forward_rows`); and the pixel
        shuffle, the skip and the conversion to uint8 are one copy and one ``cv2.add``
        (:func:`~.cells.shuffle_onto`).
        """
        key = self._key
        _, c, fh, fw = key.features.shape
        h, w = frame.shape[:2]
        s = self.model.scale
        flow, mask = flow_at(pair, half_size(h, w), (fh, fw))
        features = warp_numpy(key.features[0].permute(1, 2, 0).numpy(), flow)  # (fh, fw, C)
        if key.picture:  # the correction alone from the fusion; the picture is added after the shuffle
            big_flow, _ = flow_at(pair, (h * s, w * s), key.residual.shape[:2], mask=False)
            picture, residual = warp_numpy(key.residual, big_flow), None  # (H, W, 3), in the frames' levels
        else:
            residual = torch.from_numpy(warp_numpy(key.residual[0].permute(1, 2, 0).numpy(), flow)).view(fh * fw, -1)
            picture = None
        if self._fusion_in_cells is None:
            self._fusion_in_cells = self.generator.fusion_in_order(self._cells)
        rows = self._fusion_in_cells.forward_rows(
            torch.from_numpy(features).view(-1, c),
            residual,
            space_to_depth(frame, fh, fw),
            torch.from_numpy(mask).view(-1, 1),
        )
        base = cv2.resize(self.generator.skip_frame(frame), (w * s, h * s), interpolation=cv2.INTER_LINEAR)
        return shuffle_onto(rows.view(1, fh, fw, -1).permute(0, 3, 1, 2), base, picture)

    def _reuse_torch(self, frame: np.ndarray, pair: FlowPair) -> np.ndarray:
        """A frame between keyframes with torch alone (any device)."""
        s = self.model.scale
        h, w = frame.shape[:2]
        key = self._key
        x = self.model.pad(frames_to_tensor(frame[None], self.model.device)).contiguous()
        flow, mask = flow_at(pair, half_size(h, w), key.features.shape[-2:])
        device, dtype = key.features.device, key.features.dtype
        flow_t = torch.from_numpy(flow)[None].to(device, dtype)
        mask_t = torch.from_numpy(mask)[None, None].to(device, dtype)
        if key.picture:  # warped as a picture, as warp_shuffled does in training
            picture = key.residual
            if isinstance(picture, np.ndarray):  # a keyframe of the CPU path
                picture = torch.from_numpy(picture).permute(2, 0, 1)[None].div(float(top_level(frame.dtype)))
            big_flow, _ = flow_at(pair, (h * s, w * s), picture.shape[-2:], mask=False)
            big_flow_t = torch.from_numpy(big_flow)[None].to(device, dtype)
            warped_residual = F.pixel_unshuffle(warp(picture, big_flow_t), 2 * s)
        else:
            warped_residual = warp(key.residual[:, self._uncells] if key.in_cells else key.residual, flow_t)
        residual = self.generator.propagate(warp(key.features, flow_t), warped_residual, x, mask_t)
        y = self.generator.finish(residual, x, base=self._base(frame, s))
        return tensor_to_frames(y[:, :, : h * s, : w * s].clamp_(0.0, 1.0), frame.dtype)[0]

    def _base(self, frame: np.ndarray, scale: int) -> torch.Tensor:
        """The generator's skip (:meth:`~RemasterGenerator.skip_frame`) upscaled bilinearly by OpenCV
        (half-pixel centres, as F.interpolate), (1, 3, sH, sW)."""
        h, w = frame.shape[:2]
        big = cv2.resize(self.generator.skip_frame(frame), (w * scale, h * scale), interpolation=cv2.INTER_LINEAR)
        if big.dtype != np.uint8:
            big = big.astype(np.int32)  # torch converts int32 everywhere
        return torch.from_numpy(big).to(self.model.device).permute(2, 0, 1)[None].float().div_(
            float(top_level(frame.dtype)))
