"""Feature reuse between keyframes (``--temporal reuse``), for models with a
:class:`~vidstyle.models.generator.ReuseFusion`.

:class:`ReuseRunner` follows the plan of :mod:`.plan` on the model's thread: a keyframe runs the
whole generator and keeps its deep features (a :class:`Keyframe`); a frame between keyframes gets
those features warped by its flow to the keyframe, corrected by the fusion's light look at the
frame, and decoded. This is the scheme of Deep Feature Flow (Zhu et al., CVPR 2017): flow from
each frame straight to its keyframe, so warps do not pile up. At a cut the runner starts afresh,
so the first frame of a shot is exactly the frame-by-frame output.

The frames between keyframes take one of two paths. Off the CPU they go through the fusion as
one batch, each warping its own keyframe's features by its own flow, and the batch stays on the
model's device until it is blended (:mod:`.device`): one copy of the frames and flows up, one of
the outputs down. On the CPU, where that batch was slower (:meth:`ReuseRunner.run` says by how
much), they go one at a time through OpenCV and matrix products laid out by :mod:`.cells`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..config import DEFAULT_BLEND_TOLERANCE
from ..io.depth import to_8bit, top_level
from ..models.condition import noise_sigma
from ..models.descriptor import ModelDescriptor, frames_to_tensor, run_frames, tensor_to_frames
from .blend import blend_toward, blend_toward_levels
from .cells import cell_order, flow_at, half_size, picture_onto, shuffle_onto, space_to_depth
from .device import flows_at, levels_to_frames, luma_levels, to_levels, upload_flows
from .flow import FlowEstimator, FlowPair
from .plan import PlannedBatch
from .warp import warp, warp_numpy

__all__ = ["Keyframe", "ReuseRunner", "blend_weight", "change_map", "change_map_levels", "correction_weight",
           "source_noise", "supports_reuse", "temporal_noise"]


def supports_reuse(model: ModelDescriptor) -> bool:
    """Whether ``model`` can reuse features, as its descriptor says
    (``model.temporal.supports_reuse``: our generator, trained with a ReuseFusion)."""
    return model.temporal.supports_reuse


@dataclass
class Keyframe:
    """A keyframe after the whole generator: what the frames up to the next keyframe reuse."""

    features: torch.Tensor
    """Deep features, (1, C, h, w); in channels_last memory on the per-frame (CPU) path."""
    residual: torch.Tensor | np.ndarray
    """What the network adds to the skip, as a frame between keyframes warps it. Before the
    pixel shuffle, (1, 3 (2s)^2, h, w), on the per-frame path in channels_last memory with its
    channels in :func:`~.cells.cell_order` (``in_cells``). Or, with ``picture``, after it, over the
    padded picture (4 h, 4 w at x2), before a style's output blur (a frame between keyframes
    blurs it with the fusion's correction, as training does): on the per-frame path an (H, W, 3) float32 array in the
    levels of the frames (0-255, or 0-65535 for uint16 frames), on the batched path a
    (1, 3, H, W) tensor in [0, 1]."""
    output: np.ndarray | torch.Tensor
    """The frame-by-frame output before any blending: RGB (sH, sW, 3) of the frames' dtype on the
    per-frame path, (3, sH, sW) float levels (the same whole numbers) on the model's device on the
    batched one."""
    in_cells: bool = False
    picture: bool = False
    correction: float = 1.0
    """The weight of the fusion's correction on the frames that reuse this keyframe (the grain
    gate, :func:`correction_weight`): 0 skips the fusion, 1 is how it was trained."""
    source: np.ndarray | torch.Tensor | None = None
    """The keyframe's input, for the change gate (:func:`change_map`): the RGB frame on the
    per-frame path, the padded (1, 3, H, W) tensor in [0, 1] on the batched one; None without it."""
    noise_source: np.ndarray | None = None
    """The keyframe as decoded (before a repair stage; the RGB frame, on the host on both paths),
    for the blend gate (:func:`temporal_noise`); None without it: the frames after it blend in full."""


def correction_weight(frame: np.ndarray, gate: tuple[float, float] | None) -> float:
    """The weight of the fusion's correction for frames like ``frame`` (a keyframe's input, RGB
    uint8 or uint16): by its grain (:func:`~vidstyle.models.condition.noise_sigma`), 0 at or below
    ``gate``'s low noise level, 1 at or above its high one, linear between; 1 without a gate.

    Why: the fusion learnt to mend a new frame's own damage (grain, specks) that the keyframe's
    warped residual does not cover, and on film it must (on the project's reel, the warped residual
    alone was 1.8-2.1 dB below the fused frame between keyframes). On a clean source it has nothing
    to mend, and its correction only cost detail: 1.9-2.0 dB below the warped residual alone on
    training frames of bikes.mp4 and bigbuckbunny.mp4 (``python -m pipelines.reuse_check frames``).
    """
    if gate is None:
        return 1.0
    low, high = gate
    return float(min(1.0, max(0.0, (noise_sigma(frame) - low) / (high - low))))


def change_map(difference: np.ndarray, cells: tuple[int, int], gate: tuple[float, float]) -> np.ndarray:
    """Where a frame shows what its keyframe did not, as weights of the fusion's correction per cell.

    Args:
        difference: float32 (h, w), the luma of the absolute difference between the frame and its
            keyframe's input warped onto it, in 8-bit levels.
        cells: (fh, fw), the fusion's grid: 2x2 input pixels a cell, over the padded frame
            (zeros beyond the frame).
        gate: ``(low, high)`` levels: a cell's largest difference maps to 0 at ``low``, 1 at ``high``.
    Returns:
        float32 (fh, fw) in [0, 1], spread to the 8 neighbouring cells (the correction's 3x3
        convolutions reach that far, and a speck's edge lies there).

    Why: the grain gate takes the correction away from a grainless source, but the correction also
    mends the dust specks and the scratch that only this frame has. With ``(16, 32)`` on training
    frames (bigbuckbunny.mp4, bikes.mp4; independent damage, seed 11), the RMS error at the specks'
    pixels of the frames between keyframes went back from 45.2 and 35.3 levels (no correction) to
    39.1 and 31.6 (the correction everywhere: 39.1 and 31.5), while clean frames kept 1.35 and 0.89
    dB of the 1.85 and 1.98 dB that dropping the correction gained them (before blending).
    """
    fh, fw = cells
    h, w = difference.shape
    padded = np.zeros((2 * fh, 2 * fw), np.float32)
    padded[:h, :w] = difference[: 2 * fh, : 2 * fw]
    largest = padded.reshape(fh, 2, fw, 2).max(axis=(1, 3))
    low, high = gate
    ramp = np.clip((largest - np.float32(low)) * np.float32(1.0 / (high - low)), 0.0, 1.0)
    return cv2.dilate(ramp, np.ones((3, 3), np.uint8))


def change_map_levels(x: torch.Tensor, warped_source: torch.Tensor, size: tuple[int, int],
                      gate: tuple[float, float]) -> torch.Tensor:
    """:func:`change_map` on the model's device: frames ``x`` and their keyframes' inputs warped
    onto them, (N, 3, H, W) padded, in [0, 1]; ``size`` the unpadded (h, w). Returns (N, 1, H/2, W/2)."""
    # The luma of the difference in 8-bit levels, rounded as the per-frame path's OpenCV rounds it.
    difference = luma_levels((x - warped_source).abs_().mul_(255.0).round_())
    h, w = size
    difference[..., h:, :] = 0.0
    difference[..., :, w:] = 0.0
    low, high = gate
    ramp = F.max_pool2d(difference, 2).sub_(low).mul_(1.0 / (high - low)).clamp_(0.0, 1.0)
    return F.max_pool2d(ramp, 3, stride=1, padding=1)


#: :func:`temporal_noise`: the Gaussian (sigma, pixels) that smooths a frame's luma before its
#: gradient is read, the gradient (levels a pixel) below which a pixel counts as flat, and the share
#: of the frame that must be flat for a reading.
NOISE_SMOOTHING, FLAT_GRADIENT, MIN_FLAT = 1.0, 2.0, 0.02
#: How much of the running noise level a new reading replaces (an exponential mean over the frames
#: between keyframes: one frame's reading moves with its motion, a source's noise does not).
NOISE_UPDATE = 0.25


def temporal_noise(difference: np.ndarray, luma: np.ndarray) -> float | None:
    """How much a frame differs from its keyframe where the picture is flat: the (lower) median of
    ``difference`` over the pixels where ``luma``, smoothed (Gaussian, :data:`NOISE_SMOOTHING`),
    changes by less than :data:`FLAT_GRADIENT` levels a pixel; None when fewer than
    :data:`MIN_FLAT` of the pixels are flat.

    Args:
        difference: float32 (H, W), the luma of the absolute difference between the frame and its
            keyframe's input warped onto it, 8-bit levels (:func:`_luma_difference`).
        luma: float32 or uint8 (H, W), the frame's luma in 8-bit levels.

    Why flat pixels: there a warp a fraction of a pixel off changes nothing, so what differs is the
    source's own noise from frame to frame (grain, a codec's), which the blend is there to average.
    The smoothing is light so that fine texture (a 2-pixel check) does not pass for flat. On training
    frames (bigbuckbunny.mp4 [0, 40) and [40, 80), bikes.mp4 [100, 140); every frame between keyframes
    of interval 4, against its keyframe) the clips' mean readings were 0.70, 0.70 and 1.63 levels
    clean, 2.85, 2.63 and 4.00 under the independent damage (seed 11) and 8.6, 8.4 and 9.7 under
    REEL_DAMAGE; single frames stray (0-10 clean, where bikes.mp4's riders blur past, 1-11 independent).
    """
    smooth = cv2.GaussianBlur(np.asarray(luma, np.float32), (0, 0), NOISE_SMOOTHING)
    gx = cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=3)
    flat = cv2.magnitude(gx, gy) < np.float32(8.0 * FLAT_GRADIENT)  # Sobel's 3x3 sums 8 steps
    values = difference[flat]
    if values.size < MIN_FLAT * difference.size or values.size == 0:
        return None
    return float(np.partition(values, (values.size - 1) // 2)[(values.size - 1) // 2])


def source_noise(frames: Sequence[np.ndarray], estimator: FlowEstimator, *,
                 min_reliable: float = 0.5) -> float | None:
    """The source's noise from frame to frame over consecutive ``frames`` (RGB uint8 or uint16):
    the median of :func:`temporal_noise` over the pairs whose flow (``estimator``'s, as the planner
    computes it) holds on at least ``min_reliable`` of the picture, each frame against the one
    before it warped onto it; None without a reading (fewer than two frames, a cut, flat pixels
    missing). What ``--temporal auto``'s probe reads before a run (:func:`.stage.auto_mode`)."""
    readings = []
    previous = previous_gray = None
    for frame in frames:
        gray = estimator.prepare(frame)
        if previous is not None:
            pair = estimator.pair(gray, previous_gray)
            if pair.reliable >= min_reliable:
                h, w = frame.shape[:2]
                flow, _ = flow_at(pair, (h, w), (h, w), mask=False)
                luma = _luma_float(frame)
                reading = temporal_noise(np.abs(luma - _luma_float(warp_numpy(previous, flow))), luma)
                if reading is not None:
                    readings.append(reading)
        previous, previous_gray = frame, gray
    return float(np.median(readings)) if readings else None


def blend_weight(noise: float | None, gate: tuple[float, float] | None) -> float:
    """The share of ``--temporal reuse``'s blend kept for a source whose frames differ from their
    keyframes by ``noise`` levels where flat (:func:`temporal_noise`, as a running mean): 0 at or
    below ``gate``'s low level, 1 at or above its high one, linear between; 1 without a gate or a
    reading.

    Why: the blend is a temporal filter along the motion. On grain, dust or a codec's noise it
    averages the damage away and steadies the picture (training frames under the independent damage:
    +0.44 to +0.55 dB and a warping error of 0.50-0.57x ``off``'s with it, 0.87-0.89x without). On a
    clean source there is nothing to average, and mixing in the keyframe's output, warped at the
    output's size, only softens detail (clean training frames: 34.46 and 39.16 dB without it, 33.88
    and 38.13 with it, ``off`` 34.89 and 40.50).
    """
    if gate is None or noise is None:
        return 1.0
    low, high = gate
    return float(min(1.0, max(0.0, (noise - low) / (high - low))))


def _decoded(batch: PlannedBatch, i: int, frames: np.ndarray | None = None) -> np.ndarray | None:
    """Frame ``i`` of ``batch`` as decoded, where a repair stage replaced the batch's frames; else
    None, or ``frames[i]`` when ``frames`` is given."""
    if batch.decoded is not None:
        return batch.decoded[i]
    return None if frames is None else frames[i]


def _luma_float(frame: np.ndarray) -> np.ndarray:
    """float32 (H, W): BT.601 luma of an RGB frame in 8-bit levels, unrounded."""
    return cv2.cvtColor(frame.astype(np.float32) * np.float32(255.0 / top_level(frame.dtype)), cv2.COLOR_RGB2GRAY)


def _luma_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """float32 (H, W): BT.601 luma of the absolute difference of two RGB frames, in 8-bit levels."""
    difference = cv2.cvtColor(cv2.absdiff(a, b), cv2.COLOR_RGB2GRAY).astype(np.float32)
    return difference if a.dtype == np.uint8 else difference * np.float32(255.0 / top_level(a.dtype))


class ReuseRunner:
    """Runs our generator along a plan (see the module docstring).

    A keyframe goes through exactly the computation of ``--temporal off`` (same layout, same
    operations; a batch of one gives the same result as a larger one), so at a cut, where there
    is nothing to blend with, the output equals the frame-by-frame one to the bit when both run
    with the same torch threads (another thread count can move a convolution's float sums and
    flip the rounding of a value here and there by one level). With
    ``strength`` > 0 the output is then steadied by :func:`blend_toward`: a frame between
    keyframes towards its keyframe's output, a keyframe towards the previous output.

    ``grain_gate`` (the model's :class:`~vidstyle.models.descriptor.TemporalHints`) weights the
    fusion's correction by each keyframe's grain (:func:`correction_weight`), and ``change_gate``
    brings it back where a frame differs from its keyframe (:func:`change_map`); ``blend_gate``
    weights the blend's strength by how much the frames differ from their keyframes where the
    picture is flat (:func:`temporal_noise`, :func:`blend_weight`), so a clean source is not blended
    and a noisy one is; ``gate_counts`` adds up their weights for the report.

    ``batched`` chooses the path of the frames between keyframes (see the module docstring): by
    default batched off the CPU, one at a time on it. ``keyframe_seconds`` and ``blend_seconds``
    add up the host time spent on keyframes (:meth:`keyframes`, on its own thread) and blending;
    on a GPU, whose kernels run behind the host, work is counted where the host waits for it.
    """

    def __init__(self, model: ModelDescriptor, *, strength: float = 0.7,
                 tolerance: float = DEFAULT_BLEND_TOLERANCE, contrast: bool = False,
                 picture_warp: bool = False, grain_gate: tuple[float, float] | None = None,
                 change_gate: tuple[float, float] | None = None, blend_gate: tuple[float, float] | None = None,
                 whole_gate: float | None = None, whole_model: ModelDescriptor | None = None,
                 batched: bool | None = None) -> None:
        if not supports_reuse(model):
            raise ValueError(f"model {model.name} has no feature reuse")
        if model.dtype != torch.float32 or model.tiling is not None:
            # Between keyframes the features are warped as float32 maps of the whole frame.
            raise ValueError(f"feature reuse runs in fp32 on whole frames; {model.name} is set to "
                             f"{model.dtype}" + (" in tiles" if model.tiling is not None else ""))
        cpu = model.device.type == "cpu"
        if batched is False and not cpu:
            raise ValueError(f"the per-frame path of feature reuse runs on the CPU, not on {model.device}")
        self.batched = not cpu if batched is None else batched
        self.keyframe_seconds = 0.0
        self.blend_seconds = 0.0
        self.model = model
        self.generator = model.module
        self.strength = strength
        self.tolerance = tolerance
        self.contrast = contrast
        self.picture_warp = picture_warp
        self.grain_gate = grain_gate
        self.change_gate = change_gate if grain_gate is not None else None
        self.blend_gate = blend_gate if grain_gate is not None else None
        self.whole_gate = whole_gate
        #: The model that runs the whole gate's frames on the per-frame path, at ``off``'s precision
        #: (:meth:`ModelDescriptor.in_precision`); None: this runner's float32 model.
        self.whole_model = whole_model
        #: The keyframes run, the sum of their correction weights, and those of weight 0; the frames
        #: between keyframes, and the sum of their mean correction weights; the frames blended and
        #: the sum of the blend weights they got (:func:`blend_weight`).
        self.gate_counts = {"keyframes": 0, "weight_sum": 0.0, "uncorrected": 0, "between": 0, "between_sum": 0.0,
                            "blended": 0, "blend_sum": 0.0, "whole": 0}
        self._noise: float | None = None  # the running temporal noise (:func:`temporal_noise`)
        self._key: Keyframe | None = None  # the last keyframe
        # Its output after blending, and the last output: uint8 frames, or levels when batched.
        self._key_output: np.ndarray | torch.Tensor | None = None
        self._previous: np.ndarray | torch.Tensor | None = None
        self._cells = cell_order(model.scale)
        self._fusion_in_cells = None  # the fusion with its output channels in that order (CPU)
        self._blur = self.generator.output_kernel()  # a style's output blur, for OpenCV (CPU)

    @torch.inference_mode()
    def keyframes(self, batch: PlannedBatch) -> PlannedBatch:
        """Run the whole generator on the keyframes of ``batch``, into ``batch.keyframes``.

        Nothing here depends on earlier frames, so :class:`TemporalStage` calls it on a thread of
        its own, a batch ahead of :meth:`run`: on the CPU the keyframes of the next batch are
        computed while this batch's frames between keyframes reuse features.
        """
        tick = time.perf_counter()
        for i, plan in enumerate(batch.plans):
            if plan.keyframe and i not in batch.keyframes:
                batch.keyframes[i] = self._keyframe(batch.frames[i], _decoded(batch, i))
        self.keyframe_seconds += time.perf_counter() - tick
        return batch

    def _keyframe(self, frame: np.ndarray, decoded: np.ndarray | None = None) -> Keyframe:
        """One frame through encode and decode, exactly as ``--temporal off`` runs it (``decoded``:
        the frame before a repair stage replaced it, for the blend gate)."""
        s = self.model.scale
        x, features, residual, y = self._forward(frame)
        top = top_level(frame.dtype)
        weight = correction_weight(frame, self.grain_gate)
        self.gate_counts["keyframes"] += 1
        self.gate_counts["weight_sum"] += weight
        self.gate_counts["uncorrected"] += weight == 0.0
        # The frames after it will compare with it: what changed (the change gate), and how noisy
        # the source is from frame to frame as decoded (the blend gate).
        gated = self.change_gate is not None and weight < 1.0
        noise_source = None
        if (self.blend_gate is not None and weight < 1.0) or self.whole_gate is not None:
            noise_source = (frame if decoded is None else decoded).copy()
        if self.batched:  # everything stays on the device, in the layout grid_sample likes
            picture = F.pixel_shuffle(residual, 2 * s) if self.picture_warp else residual
            return Keyframe(features.contiguous(), picture.contiguous(), to_levels(y, top)[0],
                            picture=self.picture_warp, correction=weight, source=x.contiguous() if gated else None,
                            noise_source=noise_source)
        source = None
        if gated:  # the same array serves both gates when nothing repaired the frame
            source = noise_source if noise_source is not None and decoded is None else frame.copy()
        output = tensor_to_frames(y, frame.dtype)[0]
        if self.picture_warp:
            # For OpenCV: an (H, W, 3) picture in the levels of the output.
            picture = F.pixel_shuffle(residual, 2 * s)[0].permute(1, 2, 0).mul(float(top)).contiguous().numpy()
            return Keyframe(features.contiguous(memory_format=torch.channels_last), picture, output, picture=True,
                            correction=weight, source=source, noise_source=noise_source)
        # The CPU path between keyframes works on channels_last rows, the residual's channels
        # in the order that makes the pixel shuffle a copy of runs.
        cells = residual[:, self._cells].contiguous(memory_format=torch.channels_last)
        return Keyframe(features.contiguous(memory_format=torch.channels_last), cells, output, in_cells=True,
                        correction=weight, source=source, noise_source=noise_source)

    @torch.inference_mode()
    def run(self, batch: PlannedBatch) -> np.ndarray:
        """The frames of ``batch``, (B, H, W, 3) -> (B, sH, sW, 3) of their dtype (uint8 or uint16),
        following its plans.

        Keyframes come from ``batch.keyframes`` (:meth:`keyframes`), or are run here. On the CPU
        the other frames go one at a time: batched, remaster-x2 on bikes.mp4 (640x272 -> x2,
        100 frames end to end, 3 interleaved rounds on 2 shared cores) ran at 0.53-0.80x the
        speed of this path, median 0.66x (a batch of full-size outputs no longer fits in the
        caches, and grid_sample is slower there than OpenCV's remap).
        """
        if self.batched:
            return self._run_batched(batch)
        frames, plans = batch.frames, batch.plans
        s = self.model.scale
        h, w = frames.shape[1:3]
        outputs = np.empty((len(frames), h * s, w * s, 3), frames.dtype)
        for i, plan in enumerate(plans):
            keyframe = plan.keyframe or self._key is None
            if keyframe:
                self._key = batch.keyframes.get(i) or self._keyframe(frames[i], _decoded(batch, i))
                out = self._key.output
            else:
                whole, read = self._runs_whole(_decoded(batch, i, frames), plan.flow)
                out = (self._whole(frames[i]) if whole
                       else self._reuse_cpu(frames[i], plan.flow, _decoded(batch, i), read))
            anchor = self._previous if keyframe else self._key_output
            strength = self._blend_strength(self._key, plan.flow is not None and anchor is not None)
            if strength > 0:
                # Contrast is kept where two drawings meet: at a keyframe, whose strokes were
                # drawn afresh. A frame between keyframes is drawn from its keyframe's warped
                # features and residual, and its strokes line up with the keyframe's already.
                tick = time.perf_counter()
                out = blend_toward(out, anchor, plan.flow, strength=strength, tolerance=self.tolerance,
                                   contrast=self.contrast and keyframe)
                self.blend_seconds += time.perf_counter() - tick
            if keyframe:
                self._key_output = out
            self._previous = outputs[i] = out
        return outputs

    def _runs_whole(self, frame: np.ndarray, pair: FlowPair) -> tuple[bool, np.ndarray | None]:
        """Whether a frame between keyframes (``frame`` as decoded) runs the whole generator: with a
        ``whole_gate``, while the source's running temporal noise, this frame's reading included,
        is below it (a clean source, where reuse would only cost detail). And the luma difference
        the reading was taken on (:meth:`_noise_difference`; None without the gate), which the
        change gate can use again."""
        if self.whole_gate is None:
            return False, None
        difference = self._noise_difference(frame, self._key, pair)
        self._observe(self._reading(frame, self._key, pair, difference))
        whole = self._noise is not None and self._noise < self.whole_gate
        self.gate_counts["whole"] += whole
        return whole, difference

    def _whole(self, frame: np.ndarray) -> np.ndarray:
        """``frame`` through the whole generator, as ``--temporal off`` runs it (at its precision with
        a ``whole_model``; else as a keyframe, in float32)."""
        if self.whole_model is not None:
            return run_frames(self.whole_model, frame[None])[0]
        return tensor_to_frames(self._forward(frame)[3], frame.dtype)[0]

    def _whole_levels(self, frame: np.ndarray) -> torch.Tensor:
        """:meth:`_whole` on the batched path: (3, sH, sW) float levels on the model's device."""
        return to_levels(self._forward(frame)[3], top_level(frame.dtype))[0]

    def _forward(self, frame: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``frame`` through encode and decode, exactly as ``--temporal off`` runs it: the padded
        input (channels_last), the features, the residual and the output (1, 3, sH, sW) in [0, 1]."""
        h, w = frame.shape[:2]
        s = self.model.scale
        x = self.model.pad(frames_to_tensor(frame[None], self.model.device))  # channels_last
        features = self.generator.encode(x)
        residual = self.generator.residual(features)
        y = self.generator.finish(residual, x)[:, :, : h * s, : w * s].clamp_(0.0, 1.0)  # = off's
        return x, features, residual, y

    def _observe(self, reading: float | None) -> None:
        """A frame's :func:`temporal_noise` into the running mean (a frame without one leaves it)."""
        if reading is not None:
            self._noise = reading if self._noise is None else self._noise + NOISE_UPDATE * (reading - self._noise)

    def _reading(self, frame: np.ndarray, key: Keyframe, pair: FlowPair,
                 difference: np.ndarray | None = None) -> float | None:
        """:func:`temporal_noise` of ``frame`` (as decoded) against ``key``'s input as decoded, warped
        onto it by ``pair`` (``difference``: that luma difference, when the caller has it); None
        where the keyframe kept no input for it."""
        if key.noise_source is None:
            return None
        if difference is None:
            difference = self._noise_difference(frame, key, pair)
        return temporal_noise(difference, cv2.cvtColor(to_8bit(frame), cv2.COLOR_RGB2GRAY))

    @staticmethod
    def _noise_difference(frame: np.ndarray, key: Keyframe, pair: FlowPair) -> np.ndarray | None:
        """The luma difference (8-bit levels) between ``frame`` and ``key``'s input as decoded, warped
        onto it by ``pair``: what :meth:`_reading` reads; None where the keyframe kept no input."""
        if key.noise_source is None:
            return None
        h, w = frame.shape[:2]
        flow, _ = flow_at(pair, (h, w), (h, w), mask=False)
        return _luma_difference(frame, warp_numpy(key.noise_source, flow))

    def _blend_strength(self, key: Keyframe, blends: bool) -> float:
        """The strength of the blend of a frame whose keyframe is ``key``: 0 when it ``blends`` not,
        else the runner's strength weighted by the blend gate (:func:`blend_weight` of the running
        noise). A keyframe that kept no input for it (its grain opened the fusion's correction fully)
        blends in full, and the running noise starts again after it."""
        if key.noise_source is None:
            self._noise = None
        if not blends or self.strength <= 0:
            return 0.0
        if self.blend_gate is None:
            return self.strength
        weight = blend_weight(self._noise, self.blend_gate) if key.noise_source is not None else 1.0
        self.gate_counts["blended"] += 1
        self.gate_counts["blend_sum"] += weight
        return self.strength * weight

    def _run_batched(self, batch: PlannedBatch) -> np.ndarray:
        """:meth:`run` with the frames between keyframes as one batch on the model's device.

        Every frame's plan is followed as on the per-frame path; only the order of the work
        differs: first the keyframes, then every frame between keyframes through the fusion at
        once, then the blends in frame order (a keyframe's blend needs the output before it,
        the frames after it need the keyframe's blended output), then one copy to the host.
        """
        frames, plans = batch.frames, batch.plans
        keys: list[Keyframe] = []  # the keyframe of each frame (its own for a keyframe)
        between: list[int] = []  # the frames between keyframes
        whole: list[int] = []  # those of them that run the whole generator (the whole gate)
        noise: list[float | None] = []  # the running noise at each frame, read here for the whole gate
        for i, plan in enumerate(plans):
            if plan.keyframe or self._key is None:
                self._key = batch.keyframes.get(i) or self._keyframe(frames[i], _decoded(batch, i))
            else:
                between.append(i)
                if self._runs_whole(_decoded(batch, i, frames), plan.flow)[0]:
                    whole.append(i)
            keys.append(self._key)
            noise.append(self._noise)
        s, (h, w), top = self.model.scale, frames.shape[1:3], top_level(frames.dtype)
        device = keys[0].features.device
        levels = torch.empty((len(frames), 3, h * s, w * s), device=device)
        for i, key in enumerate(keys):
            if i not in between:
                levels[i] = key.output
        for i in whole:
            levels[i] = self._whole_levels(frames[i])
        borrow = [i for i, plan in enumerate(plans) if plan.flow is not None]  # every frame between keyframes
        row = {i: r for r, i in enumerate(borrow)}
        flows = masks = None
        if borrow:
            flows, masks = upload_flows([plans[i].flow for i in borrow], device)
        reused = [i for i in between if i not in whole]
        if reused:
            rows = [row[i] for i in reused]
            levels[reused] = self._reuse_batch(frames[reused], [keys[i] for i in reused], flows[rows], masks[rows])
        tick = time.perf_counter()
        strengths = []  # in frame order, as the per-frame path weighs them (its readings, on the host)
        for i, key in enumerate(keys):
            if self.whole_gate is not None:  # :meth:`_runs_whole` read it, in this order
                self._noise = noise[i]
            elif i in between:
                self._observe(self._reading(_decoded(batch, i, frames), key, plans[i].flow))
            strengths.append(self._blend_strength(key, i in row))
        if flows is not None and any(strengths):
            flows, masks = flows_at(flows, masks, (h * s, w * s), (h * s, w * s))
        else:
            flows = masks = None
        self._blend_in_order(levels, set(between), row, flows, masks, strengths, top)
        self.blend_seconds += time.perf_counter() - tick
        return levels_to_frames(levels, frames.dtype)

    def _blend_in_order(self, levels: torch.Tensor, between: set[int], row: dict[int, int],
                        flows: torch.Tensor | None, masks: torch.Tensor | None, strengths: list[float],
                        top: int) -> None:
        """Blend ``levels`` (B, 3, sH, sW, in 0-``top`` levels) in place, as the per-frame path does,
        in frame order.

        A run of frames between keyframes is blended at once towards its keyframe's blended
        output; a keyframe alone, towards the output before it. ``row`` gives a frame's place
        in ``flows`` and ``masks`` (at the output's size; None: nothing is blended), ``strengths``
        each frame's blend strength (0: not blended).
        """
        i, count = 0, len(levels)
        while i < count:
            if i in between:
                end = i
                while end < count and end in between:
                    end += 1
                if flows is not None and any(strengths[i:end]):
                    rows = [row[k] for k in range(i, end)]
                    strength = levels.new_tensor(strengths[i:end]).view(-1, 1, 1, 1)
                    levels[i:end] = blend_toward_levels(levels[i:end], self._key_output[None], flows[rows], masks[rows],
                                                        strength=strength, tolerance=self.tolerance, top=top)
                self._previous, i = levels[end - 1], end
                continue
            if flows is not None and i in row and self._previous is not None and strengths[i] > 0:
                # Contrast is kept where two drawings meet, at a keyframe (see the per-frame path).
                r = row[i]
                levels[i] = blend_toward_levels(levels[i : i + 1], self._previous[None], flows[r : r + 1],
                                                masks[r : r + 1], strength=strengths[i], tolerance=self.tolerance,
                                                contrast=self.contrast, top=top)[0]
            self._key_output = self._previous = levels[i]
            i += 1
        # Kept for the next batch, without holding on to this one's memory.
        self._key_output, self._previous = self._key_output.clone(), self._previous.clone()

    def _reuse_cpu(self, frame: np.ndarray, pair: FlowPair, decoded: np.ndarray | None = None,
                   read: np.ndarray | None = None) -> np.ndarray:
        """A frame between keyframes on the CPU: the same network as :meth:`_reuse_batch`, laid out
        for it.

        The keyframe's features and residual stay in channels_last memory, so each is an
        (h, w, C) picture (or, ``picture_warp``, the residual an (H, W, 3) one) that OpenCV's
        ``remap`` warps, several times faster than ``grid_sample``; the fusion's 1x1 convolutions
        are matrix products on their rows (:meth:`ReuseFusion.forward_rows`); and the pixel
        shuffle, the skip and the conversion to the frames' dtype are one copy and one ``cv2.add``
        (:func:`~.cells.shuffle_onto`; a style's output blur is one ``cv2.filter2D`` before the add,
        over the residual and the warped picture together, as the generator's ``finish`` blurs them).
        """
        key = self._key
        _, c, fh, fw = key.features.shape
        h, w = frame.shape[:2]
        s = self.model.scale
        flow, mask = flow_at(pair, half_size(h, w), (fh, fw))
        cells = None  # the correction's weight per cell, where the change gate gives one
        difference = None
        same = decoded is None and key.source is key.noise_source  # one difference serves both gates
        if key.source is not None:
            if same and read is not None:  # the whole gate's reading was taken on it
                difference = read
            else:
                source_flow, _ = flow_at(pair, (h, w), (h, w), mask=False)
                difference = _luma_difference(frame, warp_numpy(key.source, source_flow))
            cells = change_map(difference, (fh, fw), self.change_gate)
            if key.correction > 0.0:
                np.maximum(cells, np.float32(key.correction), out=cells)
        if self.whole_gate is None:  # else :meth:`_runs_whole` read it (``read``)
            self._observe(self._reading(frame if decoded is None else decoded, key, pair, difference if same else None))
        uncorrected = key.correction == 0.0 and (cells is None or not cells.any())
        self.gate_counts["between"] += 1
        self.gate_counts["between_sum"] += key.correction if cells is None else float(cells.mean())
        base = self._base(frame)
        if key.picture:  # the correction alone from the fusion; the picture is added after the shuffle
            big_flow, _ = flow_at(pair, (h * s, w * s), key.residual.shape[:2], mask=False)
            picture, residual = warp_numpy(key.residual, big_flow), None  # (H, W, 3), in the frames' levels
            if uncorrected:  # the gates: no fusion, no features to warp
                return picture_onto(base, picture, self._blur, frame.dtype)
        else:
            residual = torch.from_numpy(warp_numpy(key.residual[0].permute(1, 2, 0).numpy(), flow)).view(fh * fw, -1)
            picture = None
        if uncorrected:
            rows = residual
        else:
            if self._fusion_in_cells is None:
                self._fusion_in_cells = self.generator.fusion_in_order(self._cells)
            features = warp_numpy(key.features[0].permute(1, 2, 0).numpy(), flow)  # (fh, fw, C)
            weighted = cells is not None or key.correction != 1.0
            rows = self._fusion_in_cells.forward_rows(
                torch.from_numpy(features).view(-1, c),
                None if weighted else residual,
                space_to_depth(frame, fh, fw),
                torch.from_numpy(mask).view(-1, 1),
                centred=True,
            )
            if weighted:  # the correction alone came back
                rows.mul_(key.correction if cells is None else torch.from_numpy(cells).view(-1, 1))
                if residual is not None:
                    rows.add_(residual)
        return shuffle_onto(rows.view(1, fh, fw, -1).permute(0, 3, 1, 2), base, picture, self._blur, frame.dtype)

    def _base(self, frame: np.ndarray) -> np.ndarray:
        """The generator's skip of ``frame`` upscaled bilinearly, float32 (sH, sW, 3) in the frame's
        levels: what a keyframe's output adds its residual to (``finish``), to a float's precision.
        OpenCV's bilinear resize of a uint8 picture works in fixed point and comes out 0.05-0.06 of
        a level darker on average (bigbuckbunny.mp4's frames, a x2 upscale): the frames between
        keyframes were that much darker than their keyframes, a step of brightness every
        ``keyframe_interval`` frames that a still scene shows as flicker."""
        h, w = frame.shape[:2]
        s = self.model.scale
        skip = self.generator.skip_frame(frame).astype(np.float32)
        return skip if s == 1 else cv2.resize(skip, (w * s, h * s), interpolation=cv2.INTER_LINEAR)

    def _reuse_batch(self, frames: np.ndarray, keys: list[Keyframe], flows: torch.Tensor,
                     masks: torch.Tensor) -> torch.Tensor:
        """Frames between keyframes through the fusion as one batch, on the model's device.

        Args:
            frames: (N, H, W, 3) uint8 or uint16, copied to the device at once.
            keys: the keyframe of each frame (batched-path keyframes, on the device).
            flows: (N, h, w, 2) each frame's flow to its keyframe at the flow's resolution, on the
                device; masks (N, 1, h, w) its reliability.
        Returns:
            (N, 3, sH, sW) float levels (0-255, or 0-65535 for uint16 frames), before blending.
        """
        s = self.model.scale
        h, w = frames.shape[1:3]
        first = keys[0]
        x = self.model.pad(frames_to_tensor(frames, first.features.device)).to(first.features.dtype)
        flow, mask = flows_at(flows, masks, half_size(h, w), first.features.shape[-2:], on_remap_grid=True)
        # Each frame warps its own keyframe's features: the keyframes' tensors, one per frame.
        distinct: dict[int, Keyframe] = {}
        for key in keys:
            distinct.setdefault(id(key), key)
        order = {ident: n for n, ident in enumerate(distinct)}
        place = torch.tensor([order[id(key)] for key in keys], device=x.device)
        features = torch.cat([key.features for key in distinct.values()]).index_select(0, place)
        residuals = torch.cat([key.residual for key in distinct.values()]).index_select(0, place)
        if first.picture:  # warped as a picture, as warp_shuffled does in training
            big_flow, _ = flows_at(flows, None, (h * s, w * s), residuals.shape[-2:])
            warped_residual = F.pixel_unshuffle(warp(residuals, big_flow), 2 * s)
        else:
            warped_residual = warp(residuals, flow)
        weight = self._weights_batch(x, keys, distinct, place, flows, (h, w))
        if weight is not None and not bool(weight.any()):  # the gates: the warped residual alone
            residual = warped_residual
        else:
            residual = self.generator.propagate(warp(features, flow), warped_residual, x, mask, weight, centred=True)
        top = top_level(frames.dtype)
        y = self.generator.finish(residual, x, base=self._skip_in_levels(x[:, :, :h, :w], top))
        return to_levels(y.clamp_(0.0, 1.0), top)

    def _weights_batch(self, x: torch.Tensor, keys: list[Keyframe], distinct: dict[int, Keyframe],
                       place: torch.Tensor, flows: torch.Tensor, size: tuple[int, int]) -> torch.Tensor | None:
        """The weights of the fusion's correction for frames ``x`` (N, 3, H, W, padded) between
        keyframes: None (1 everywhere, how the fusion was trained), (N,) per frame from the grain
        gate, or (N, 1, H/2, W/2) per cell where the change gate adds to it (:func:`change_map_levels`)."""
        grain = torch.tensor([key.correction for key in keys], device=x.device)
        self.gate_counts["between"] += len(keys)
        if bool((grain == 1.0).all()):
            self.gate_counts["between_sum"] += float(len(keys))
            return None
        if all(key.source is None for key in keys):
            self.gate_counts["between_sum"] += float(grain.sum())
            return grain
        # Keyframes of weight 1 kept no input: a stand-in serves, as their frames' weight is 1 anyway.
        sources = torch.cat([x[:1] if key.source is None else key.source for key in distinct.values()])
        source_flow, _ = flows_at(flows, None, size, x.shape[-2:])
        warped = warp(sources.index_select(0, place), source_flow)
        cells = torch.maximum(change_map_levels(x, warped, size, self.change_gate), grain.view(-1, 1, 1, 1))
        self.gate_counts["between_sum"] += float(cells.flatten(1).mean(dim=1).sum())
        return cells

    def _skip_in_levels(self, x: torch.Tensor, top: int = 255) -> torch.Tensor:
        """The generator's skip of ``x`` (N, 3, H, W), unpadded, rounded to whole levels (0-``top``)
        as the per-frame path's OpenCV skip (in the frames' dtype) is, then upscaled bilinearly
        (in float, as that path's :meth:`_base`): (N, 3, sH, sW) in [0, 1]."""
        skip = self.generator.skip_input(x).mul(float(top)).round_()
        if self.model.scale != 1:
            skip = F.interpolate(skip, scale_factor=self.model.scale, mode="bilinear", align_corners=False)
        return skip.div_(float(top))
