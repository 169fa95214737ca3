"""Blending an earlier output into the current one along the motion, and its calibration.

* :func:`blend_toward`: mix the previous output, warped by the flow, into the current one where
  the flow is reliable and the two agree; :func:`keep_contrast` gives a style's blend back the
  contrast of its strokes. :func:`blend_toward_levels` is the same on the model's device, for
  a stack of frames (:mod:`.device`).
* :class:`BlendRunner` (``--temporal blend``, any model): every frame runs the whole model, then
  the previous output is blended in, which damps flicker of models we cannot open up.
* :func:`blend_tolerance`: the tolerance of a run (the option, else the model's hint, else the
  default); :func:`disagreement` measures a model's own frame-to-frame differences, from which
  style training sets a style's tolerance.
"""

from __future__ import annotations

import time

import cv2
import numpy as np
import torch

from ..config import DEFAULT_BLEND_TOLERANCE, TemporalConfig
from ..io.depth import top_level
from ..models.descriptor import ModelDescriptor, frames_to_tensor, run_frames
from .device import blend_levels, flows_at, keep_contrast_levels, levels_to_frames, to_levels, upload_flows
from .flow import FlowEstimator, FlowPair
from .plan import PlannedBatch
from .warp import warp_numpy

__all__ = [
    "CONTRAST_MAX_GAIN",
    "CONTRAST_SIGMA",
    "BlendRunner",
    "blend_tolerance",
    "blend_toward",
    "blend_toward_levels",
    "disagreement",
    "keep_contrast",
    "mix",
]

#: :func:`keep_contrast`: the scale (output pixels, a Gaussian's sigma) below which a blend's
#: detail is brought back to the current output's contrast, and the most it is amplified.
CONTRAST_SIGMA = 8.0
CONTRAST_MAX_GAIN = 2.0


def blend_toward(
    current: np.ndarray, previous: np.ndarray, pair: FlowPair, *, strength: float, tolerance: float,
    contrast: bool = False,
) -> np.ndarray:
    """Mix ``previous`` (an earlier output, warped onto this frame by ``pair``) into ``current``.

    The weight is ``strength`` where the flow is reliable and the two agree, falling linearly to
    0 as their difference (BT.601 luma of the absolute colour difference, 0-255) reaches
    ``tolerance``: where something moved that the flow missed, or the picture really changed,
    the current output stands. A recursive filter along the motion, as motion-compensated
    temporal filters have long done. OpenCV on uint8, a few milliseconds for a 1280x544 frame;
    uint16 frames (a source of more than 8 bits) mix in float32, the tolerance still in 8-bit levels.

    Args:
        current, previous: RGB (H, W, 3), both uint8 or both uint16.
        pair: flow from this frame to the frame ``previous`` belongs to, any resolution.
        contrast: give the blend back the contrast of ``current`` (:func:`keep_contrast`): for
            styles, whose strokes two drawings average away.
    Returns:
        RGB (H, W, 3), of the frames' dtype.
    """
    h, w = current.shape[:2]
    flow, mask = pair.at(h, w)
    warped = warp_numpy(previous, flow)
    difference = cv2.cvtColor(cv2.absdiff(warped, current), cv2.COLOR_RGB2GRAY)
    levels = tolerance * (top_level(current.dtype) // 255)  # 1 or 257 levels per 8-bit level
    agree = np.clip(1.0 - difference.astype(np.float32) * np.float32(1.0 / levels), 0.0, 1.0)
    weight = agree * (np.float32(strength) * mask)
    blended = mix(current, warped, weight)
    return keep_contrast(blended, current) if contrast else blended


def blend_toward_levels(current: torch.Tensor, previous: torch.Tensor, flow: torch.Tensor, mask: torch.Tensor, *,
                        strength: float, tolerance: float, contrast: bool = False, top: int = 255) -> torch.Tensor:
    """:func:`blend_toward` for a stack of frames on the model's device, within rounding.

    Args:
        current: (N, 3, H, W) float in 0-``top`` levels (whole numbers): 255, or 65535 for the
            frames of a source of more than 8 bits.
        previous: (N or 1, 3, H, W) levels, the earlier outputs (one may serve all N frames).
        flow: (N, H, W, 2) at the output's size, in its pixels; mask (N, 1, H, W).
        tolerance: in 8-bit levels, whatever ``top``.
    Returns:
        (N, 3, H, W) levels; the inputs are not modified.
    """
    blended = blend_levels(current, previous, flow, mask, strength=strength, tolerance=tolerance, top=top)
    if not contrast:
        return blended
    return keep_contrast_levels(blended, current, sigma=CONTRAST_SIGMA, max_gain=CONTRAST_MAX_GAIN, top=top)


def mix(a: np.ndarray, b: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """``a (1 - weight) + b weight`` per pixel, rounded and saturated.

    Args:
        a, b: RGB (H, W, 3), both uint8 or both uint16.
        weight: float32 (H, W).
    Returns:
        RGB (H, W, 3) of their dtype. OpenCV's ``blendLinear`` for uint8 (it takes no uint16).
    """
    if a.dtype == np.uint8:
        return cv2.blendLinear(a, b, 1.0 - weight, weight)
    base = a.astype(np.float32)
    out = base + (b.astype(np.float32) - base) * weight[..., None]
    return np.clip(out + 0.5, 0, top_level(a.dtype)).astype(a.dtype)


def keep_contrast(blended: np.ndarray, current: np.ndarray, *, sigma: float = CONTRAST_SIGMA,
                  max_gain: float = CONTRAST_MAX_GAIN) -> np.ndarray:
    """``blended`` with its detail (what a Gaussian of about ``sigma`` pixels takes away) scaled
    up, locally, until its luma has the contrast of ``current``'s, by a gain from 1 to
    ``max_gain``.

    Mixing two drawings of a texture whose strokes do not line up lowers its contrast (two
    independent patterns mixed 0.3 : 0.7 keep 76% of it), so blending alone fades a style.
    Texture advection in graphics meets the same loss and answers it by restoring the blend's
    variance (Yu et al., "Lagrangian texture advection", TVCG 2011; Heitz and Neyret, HPG 2018).
    Here the variance to restore is measured on ``current``, the frame's own output, over a
    neighbourhood of ``sigma``: the blend keeps where the earlier strokes lie, and the frame's
    contrast. Where nothing was mixed in, the gain is 1. About 11 ms for a 1280x720 frame on
    one core: statistics at a quarter of the size, OpenCV throughout.

    Args:
        blended, current: RGB (H, W, 3), both uint8 or both uint16.
    Returns:
        RGB (H, W, 3) of their dtype.
    """
    h, w = blended.shape[:2]
    in_8bit = np.float32(255.0 / top_level(blended.dtype))  # variances in 8-bit levels, as the +1 below
    small = (max(1, w // 4), max(1, h // 4))

    def local_mean(picture: np.ndarray) -> np.ndarray:
        # A Gaussian of about sigma, cheaply: 4x4 block means, blurred at that size.
        shrunk = cv2.resize(picture, small, interpolation=cv2.INTER_AREA)
        return cv2.GaussianBlur(shrunk, (0, 0), sigma / 4.0, borderType=cv2.BORDER_REFLECT)

    def luma_variance(picture: np.ndarray) -> np.ndarray:
        luma = cv2.cvtColor(picture, cv2.COLOR_RGB2GRAY).astype(np.float32)
        if in_8bit != 1:
            luma *= in_8bit
        mean = local_mean(luma)
        return cv2.subtract(local_mean(cv2.multiply(luma, luma)), cv2.multiply(mean, mean))

    gain = cv2.divide(luma_variance(current) + 1.0, luma_variance(blended) + 1.0)
    np.clip(np.sqrt(gain, out=gain), 1.0, max_gain, out=gain)
    low = cv2.resize(local_mean(blended), (w, h), interpolation=cv2.INTER_LINEAR)
    gain = cv2.resize(gain, (w, h), interpolation=cv2.INTER_LINEAR)
    if blended.dtype != np.uint8:
        return mix(low, blended, gain)
    return cv2.blendLinear(blended, low, gain, 1.0 - gain)  # low + gain (blended - low), saturated


def disagreement(outputs: np.ndarray, inputs: np.ndarray, *, quantile: float,
                 estimator: FlowEstimator | None = None) -> float:
    """How much a model's successive outputs differ where the flow holds: the ``quantile`` of
    the difference :func:`blend_toward` weighs (BT.601 luma of the absolute colour difference,
    0-255), between each output and the one before it warped onto it by the flow of the inputs,
    over the pixels where that flow is reliable (mask above 0.5).

    A model's blend tolerance is set from it (the 95th percentile): over the differences that
    the model itself makes from frame to frame within a shot, the earlier output is mixed
    in; a larger difference is taken for a real change. For remaster-x2 on worn training footage
    it comes to 26 (:func:`vidstyle.train.style_eval.calibrate_blend_tolerance`), near the 24 chosen
    for it by hand.

    Args:
        outputs: (T, sH, sW, 3) RGB uint8, every frame run on its own (``--temporal off``).
        inputs: (T, H, W, 3) RGB uint8, the frames they were made from, T >= 2, one shot.
        quantile: in (0, 1).
        estimator: the optical flow (the pipeline's default, DIS medium at half size, if None).
    """
    if len(outputs) != len(inputs) or len(inputs) < 2:
        raise ValueError(f"expected as many outputs as inputs, at least 2, "
                         f"got {len(outputs)} and {len(inputs)}")
    default = TemporalConfig()
    estimator = estimator or FlowEstimator(default.flow_preset, downscale=default.flow_downscale)
    grays = [estimator.prepare(frame) for frame in inputs]
    h, w = outputs.shape[1:3]
    values = []
    for t in range(1, len(inputs)):
        flow, mask = estimator.pair(grays[t], grays[t - 1]).at(h, w)
        warped = warp_numpy(outputs[t - 1], flow)
        difference = cv2.cvtColor(cv2.absdiff(warped, outputs[t]), cv2.COLOR_RGB2GRAY)
        values.append(difference[mask > 0.5])
    return float(np.quantile(np.concatenate(values), quantile))


class BlendRunner:
    """Frame-by-frame model, then the warped previous output mixed in by :func:`blend_toward`.

    ``batched`` (the default off the CPU) keeps a batch on the model's device from the network
    to the blend (:func:`blend_toward_levels`), with one copy of the flows up and one of the
    outputs down; on the CPU the blend is OpenCV's on the frames (uint8, or uint16 in float32),
    frame by frame.
    ``blend_seconds`` adds up the time spent blending (see :meth:`run`).
    """

    def __init__(self, model: ModelDescriptor, *, strength: float = 0.7,
                 tolerance: float = DEFAULT_BLEND_TOLERANCE, contrast: bool = False,
                 batched: bool | None = None) -> None:
        if not 0.0 <= strength < 1.0:
            raise ValueError(f"blend strength must be in [0, 1), got {strength}")
        self.model = model
        self.strength = strength
        self.tolerance = tolerance
        self.contrast = contrast
        # A tiled model runs through run_frames, which tiles; the batched path calls the network on
        # whole frames.
        self.batched = (model.device.type != "cpu" if batched is None else batched) and model.tiling is None
        self.blend_seconds = 0.0
        self._previous: np.ndarray | torch.Tensor | None = None  # levels (3, H, W) when batched

    def run(self, batch: PlannedBatch) -> np.ndarray:
        """The frames of ``batch`` through the model, each blended towards the output before it,
        (B, H, W, 3) -> (B, sH, sW, 3), uint8 or uint16 (the frames' dtype).

        ``blend_seconds`` is host time: on a GPU, whose kernels run behind the host, the blend's
        work mostly lands in the copy of the outputs back.
        """
        if self.batched:
            return self._run_batched(batch)
        outputs = run_frames(self.model, batch.frames)
        tick = time.perf_counter()
        for i, plan in enumerate(batch.plans):
            if plan.flow is not None and self._previous is not None and self.strength > 0:
                outputs[i] = blend_toward(outputs[i], self._previous, plan.flow, strength=self.strength,
                                          tolerance=self.tolerance, contrast=self.contrast)
            self._previous = outputs[i]
        self.blend_seconds += time.perf_counter() - tick
        return outputs

    @torch.inference_mode()
    def _run_batched(self, batch: PlannedBatch) -> np.ndarray:
        top = top_level(batch.frames.dtype)
        levels = to_levels(self.model(frames_to_tensor(batch.frames, self.model.device)), top)
        tick = time.perf_counter()
        blended = [i for i, plan in enumerate(batch.plans) if plan.flow is not None and self.strength > 0]
        row = {i: r for r, i in enumerate(blended)}
        if blended:
            flows, masks = upload_flows([batch.plans[i].flow for i in blended], levels.device)
            flows, masks = flows_at(flows, masks, levels.shape[-2:], levels.shape[-2:])
        for i in range(len(levels)):
            if i in row and self._previous is not None:  # each frame waits for the one before it
                r = row[i]
                levels[i] = blend_toward_levels(levels[i : i + 1], self._previous[None], flows[r : r + 1],
                                                masks[r : r + 1], strength=self.strength, tolerance=self.tolerance,
                                                contrast=self.contrast, top=top)[0]
            self._previous = levels[i]
        self._previous = self._previous.clone()  # not the whole batch's memory
        self.blend_seconds += time.perf_counter() - tick
        return levels_to_frames(levels, batch.frames.dtype)


def blend_tolerance(config: TemporalConfig, model: ModelDescriptor) -> float:
    """The blend tolerance of a run: ``config``'s when set, else the model's (its card's
    ``temporal.blend_tolerance``, which load_style puts in the descriptor's
    :class:`~vidstyle.models.descriptor.TemporalHints`), else the default."""
    if config.blend_tolerance is not None:
        return float(config.blend_tolerance)
    tolerance = model.temporal.blend_tolerance
    return float(DEFAULT_BLEND_TOLERANCE if tolerance is None else tolerance)
