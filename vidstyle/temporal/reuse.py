"""The temporal stage of the pipeline: keyframes, feature reuse and blending.

Two parts, on two threads:

* :class:`KeyframePlanner` runs beside the decoder (:func:`plan_batches` puts it on a thread of
  its own). For each frame it detects scene cuts, computes the optical flow to the frame the
  model will borrow from, and decides whether the frame is a *keyframe*: the first frame, every
  ``keyframe_interval``-th frame, the first frame of a shot, and any frame whose flow is reliable
  on less than ``min_reliable`` of the picture. OpenCV releases the GIL, so this overlaps with the
  network.
* A runner on the model's thread follows the plan:

  - :class:`ReuseRunner` (``--temporal reuse``, models with a
    :class:`~vidstyle.models.generator.ReuseFusion`): a keyframe runs the whole generator and
    keeps its deep features; a frame between keyframes gets those features warped by its flow to
    the keyframe, corrected by the fusion's light look at the frame, and decoded. This is the
    scheme of Deep Feature Flow (Zhu et al., CVPR 2017): flow from each frame straight to its
    keyframe, so warps do not pile up.
  - :class:`BlendRunner` (``--temporal blend``, any model): every frame runs the whole model,
    then the previous output, warped by the flow, is mixed in where the flow is reliable and the
    two agree, which damps flicker of models we cannot open up.

At a cut both start afresh, so the first frame of a shot is exactly the frame-by-frame output.
"""

from __future__ import annotations

import collections
import contextlib
import copy
import math
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..config import DEFAULT_BLEND_TOLERANCE, TemporalConfig
from ..errors import ConfigError
from ..models.descriptor import ModelDescriptor, frames_to_tensor, run_frames, tensor_to_frames
from .flow import FlowEstimator, FlowPair, resize_flow
from .scenes import SceneCutDetector
from .warp import warp, warp_numpy

__all__ = [
    "BlendRunner",
    "FramePlan",
    "Keyframe",
    "KeyframePlanner",
    "PlannedBatch",
    "ReuseRunner",
    "TemporalStage",
    "TemporalStats",
    "on_thread",
    "on_threads",
    "open_temporal",
    "plan_batches",
    "blend_tolerance",
    "blend_toward",
    "disagreement",
    "supports_reuse",
]

def supports_reuse(model: ModelDescriptor) -> bool:
    """Whether ``model`` can reuse features (our generator, trained with a ReuseFusion)."""
    return bool(getattr(model.module, "supports_reuse", False))


@dataclass
class FramePlan:
    """What the model does with one frame."""

    index: int
    """Frame index among the frames of the run."""
    keyframe: bool
    """Run the whole model; start a new temporal state."""
    cut: bool
    """The frame starts a new shot."""
    flow: FlowPair | None = None
    """What this frame borrows from. Between keyframes (reuse): the flow to the keyframe, whose
    features and output are reused. Otherwise the flow to the previous frame, whose output is
    blended in. None for the first frame, at a cut, and where the flow failed."""


@dataclass
class PlannedBatch:
    """A decoded batch with one plan per frame."""

    frames: np.ndarray
    pts: np.ndarray
    first_index: int
    plans: list[FramePlan]
    keyframes: dict[int, Keyframe] = field(default_factory=dict)
    """Keyframes already run (reuse), by position in the batch; see :meth:`ReuseRunner.keyframes`."""

    def __len__(self) -> int:
        return len(self.frames)


@dataclass
class Keyframe:
    """A keyframe after the whole generator: what the frames up to the next keyframe reuse."""

    features: torch.Tensor
    """Deep features, (1, C, h, w); in channels_last memory on the CPU."""
    residual: torch.Tensor | np.ndarray
    """What the network adds to the skip, as a frame between keyframes warps it. Before the
    pixel shuffle, (1, 3 (2s)^2, h, w), on the CPU in channels_last memory with its channels in
    :func:`_cell_order` (``in_cells``). Or, with ``picture``, after it, over the padded picture
    (4 h, 4 w at x2): on the CPU an (H, W, 3) float32 array in 0-255 levels, elsewhere a
    (1, 3, H, W) tensor in [0, 1]."""
    output: np.ndarray
    """The frame-by-frame output, RGB uint8 (sH, sW, 3), before any blending."""
    in_cells: bool = False
    picture: bool = False


@dataclass
class TemporalStats:
    """What the temporal stage did, for reports."""

    mode: str
    keyframe_interval: int
    frames: int = 0
    keyframes: int = 0
    cuts: list[int] = field(default_factory=list)
    flow_failures: int = 0
    flow_seconds: float = 0.0

    def to_dict(self) -> dict:
        return {
            "mode": self.mode,
            "keyframe_interval": self.keyframe_interval,
            "frames": self.frames,
            "keyframes": self.keyframes,
            "reused_frames": self.frames - self.keyframes if self.mode == "reuse" else 0,
            "scene_cuts": list(self.cuts),
            "flow_failures": self.flow_failures,
            "flow_seconds": round(self.flow_seconds, 3),
        }


class KeyframePlanner:
    """Decides, frame by frame, keyframes and flows (see the module docstring).

    Args:
        mode: ``reuse`` (flow to the last keyframe) or ``blend`` (flow to the previous frame).
        keyframe_interval: a keyframe at least every this many frames (reuse), >= 1.
        estimator: the optical flow.
        min_reliable: below this share of reliable flow the frame becomes a keyframe.
        detector: the scene-cut detector (a fresh default one when None).
    """

    def __init__(
        self,
        mode: str,
        keyframe_interval: int,
        estimator: FlowEstimator,
        *,
        min_reliable: float = 0.5,
        detector: SceneCutDetector | None = None,
    ) -> None:
        if mode not in ("reuse", "blend"):
            raise ValueError(f"planner mode must be reuse or blend, got {mode!r}")
        if keyframe_interval < 1:
            raise ValueError(f"keyframe interval must be 1 or more, got {keyframe_interval}")
        self.mode = mode
        self.interval = keyframe_interval
        self.estimator = estimator
        self.min_reliable = min_reliable
        self.detector = detector or SceneCutDetector()
        self.stats = TemporalStats(mode, keyframe_interval)
        self._previous: np.ndarray | None = None  # prepared grey frames
        self._key: np.ndarray | None = None
        self._since_key = 0
        self._index = 0

    def plan(self, frame: np.ndarray) -> FramePlan:
        """The plan for the next frame (RGB uint8), in order."""
        tick = time.perf_counter()
        gray = self.estimator.prepare(frame)
        index = self._index
        self._index += 1
        first = self._previous is None
        due = self.mode == "reuse" and self._since_key + 1 >= self.interval
        pair = None
        if first:
            cut = self.detector.update(gray)
        else:
            # Between keyframes (reuse): the flow to the keyframe, whose features are reused.
            # Otherwise: the flow to the previous frame, whose output is blended in.
            reference = self._previous if due or self.mode == "blend" else self._key
            pair = self.estimator.pair(gray, reference)
            cut = self.detector.update(gray, pair.reliable)
        failed = pair is not None and not cut and pair.reliable < self.min_reliable
        keyframe = first or due or cut or (failed and self.mode == "reuse")
        if cut or failed:
            pair = None  # nothing to borrow from: the frame stands on its own
        if keyframe:
            self._key = gray
            self._since_key = 0
        else:
            self._since_key += 1
        self._previous = gray
        stats = self.stats
        stats.frames += 1
        stats.keyframes += keyframe
        stats.flow_failures += failed
        if cut:
            stats.cuts.append(index)
        stats.flow_seconds += time.perf_counter() - tick
        return FramePlan(index, keyframe, cut, pair)


_END = object()


def on_thread(items: Iterable, fn: Callable, *, name: str, depth: int = 2) -> Iterator:
    """``fn(item)`` for each of ``items``, computed on a thread of its own, yielded in order.

    The thread runs up to ``depth`` items ahead. Errors raised while iterating ``items`` or in
    ``fn`` come out of the iteration; closing the iterator early stops the thread (and closes
    ``items``).
    """
    out: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in items:
                if not put(fn(item)):
                    return
            put(_END)
        except BaseException as ex:  # handed to the consumer, raised there
            put(ex)
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=work, name=name, daemon=True)
    thread.start()
    try:
        while True:
            item = out.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


def on_threads(items: Iterable, fn: Callable, *, name: str, depth: int = 2, workers: int = 1) -> Iterator:
    """:func:`on_thread` with ``workers`` threads computing ``fn`` side by side; yielded in order.

    Up to ``workers + depth`` items are taken from ``items`` ahead of the consumer (on the
    consumer's thread, so ``items`` should be quick to iterate, e.g. :func:`on_thread` itself).
    """
    if workers <= 1:
        yield from on_thread(items, fn, name=name, depth=depth)
        return
    pool = ThreadPoolExecutor(workers, thread_name_prefix=name)
    pending: collections.deque = collections.deque()
    source = iter(items)
    try:
        exhausted = False
        while True:
            while not exhausted and len(pending) < workers + depth:
                try:
                    pending.append(pool.submit(fn, next(source)))
                except StopIteration:
                    exhausted = True
            if not pending:
                return
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True)
        close = getattr(items, "close", None)
        if close is not None:
            close()


def plan_batches(batches: Iterable, planner: KeyframePlanner, *, depth: int = 2) -> Iterator[PlannedBatch]:
    """Plan each batch of ``batches`` (FrameBatch-like) on a thread of its own; yields in order."""

    def plan(batch) -> PlannedBatch:
        return PlannedBatch(batch.frames, batch.pts, batch.first_index, [planner.plan(f) for f in batch.frames])

    return on_thread(batches, plan, name="vidstyle-flow", depth=depth)


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
    temporal filters have long done. OpenCV on uint8, a few milliseconds for a 1280x544 frame.

    Args:
        current, previous: RGB uint8 (H, W, 3).
        pair: flow from this frame to the frame ``previous`` belongs to, any resolution.
        contrast: give the blend back the contrast of ``current`` (:func:`keep_contrast`): for
            styles, whose strokes two drawings average away.
    Returns:
        RGB uint8 (H, W, 3).
    """
    h, w = current.shape[:2]
    flow, mask = pair.at(h, w)
    warped = warp_numpy(previous, flow)
    difference = cv2.cvtColor(cv2.absdiff(warped, current), cv2.COLOR_RGB2GRAY)
    agree = np.clip(1.0 - difference.astype(np.float32) * np.float32(1.0 / tolerance), 0.0, 1.0)
    weight = agree * (np.float32(strength) * mask)
    blended = cv2.blendLinear(current, warped, 1.0 - weight, weight)
    return keep_contrast(blended, current) if contrast else blended


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
        blended, current: RGB uint8 (H, W, 3).
    Returns:
        RGB uint8 (H, W, 3).
    """
    h, w = blended.shape[:2]
    small = (max(1, w // 4), max(1, h // 4))

    def local_mean(picture: np.ndarray) -> np.ndarray:
        # A Gaussian of about sigma, cheaply: 4x4 block means, blurred at that size.
        shrunk = cv2.resize(picture, small, interpolation=cv2.INTER_AREA)
        return cv2.GaussianBlur(shrunk, (0, 0), sigma / 4.0, borderType=cv2.BORDER_REFLECT)

    def luma_variance(picture: np.ndarray) -> np.ndarray:
        luma = cv2.cvtColor(picture, cv2.COLOR_RGB2GRAY).astype(np.float32)
        mean = local_mean(luma)
        return cv2.subtract(local_mean(cv2.multiply(luma, luma)), cv2.multiply(mean, mean))

    gain = cv2.divide(luma_variance(current) + 1.0, luma_variance(blended) + 1.0)
    np.clip(np.sqrt(gain, out=gain), 1.0, max_gain, out=gain)
    low = cv2.resize(local_mean(blended), (w, h), interpolation=cv2.INTER_LINEAR)
    gain = cv2.resize(gain, (w, h), interpolation=cv2.INTER_LINEAR)
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
    it comes to 26 (:func:`vidstyle.style.train.calibrate_blend_tolerance`), near the 24 chosen
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
        self._cells = _cell_order(model.scale)
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
        output = tensor_to_frames(y[:, :, : h * s, : w * s].clamp_(0.0, 1.0))[0]
        cpu = features.device.type == "cpu"
        if self.picture_warp:
            picture = F.pixel_shuffle(residual, 2 * s)
            if cpu:  # for OpenCV: an (H, W, 3) picture in the levels of the output
                picture = picture[0].permute(1, 2, 0).mul(255.0).contiguous().numpy()
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
        """The frames of ``batch``, (B, H, W, 3) uint8 -> (B, sH, sW, 3) uint8, following its plans.

        Keyframes come from ``batch.keyframes`` (:meth:`keyframes`), or are run here. The other
        frames go one at a time: on the CPU, batching them was slower (a batch of full-size
        outputs no longer fits in the caches), and a frame depends on its keyframe anyway.
        """
        frames, plans = batch.frames, batch.plans
        s = self.model.scale
        h, w = frames.shape[1:3]
        outputs = np.empty((len(frames), h * s, w * s, 3), np.uint8)
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
        (:func:`_shuffle_onto`).
        """
        key = self._key
        _, c, fh, fw = key.features.shape
        h, w = frame.shape[:2]
        s = self.model.scale
        flow, mask = _flow_at(pair, _half(h, w), (fh, fw))
        features = warp_numpy(key.features[0].permute(1, 2, 0).numpy(), flow)  # (fh, fw, C)
        if key.picture:  # the correction alone from the fusion; the picture is added after the shuffle
            big_flow, _ = _flow_at(pair, (h * s, w * s), key.residual.shape[:2], mask=False)
            picture, residual = warp_numpy(key.residual, big_flow), None  # (H, W, 3), 0-255
        else:
            residual = torch.from_numpy(warp_numpy(key.residual[0].permute(1, 2, 0).numpy(), flow)).view(fh * fw, -1)
            picture = None
        if self._fusion_in_cells is None:
            self._fusion_in_cells = _fusion_in_cells(self.generator.reuse, self._cells)
        rows = self._fusion_in_cells.forward_rows(
            torch.from_numpy(features).view(-1, c),
            residual,
            _space_to_depth(frame, fh, fw),
            torch.from_numpy(mask).view(-1, 1),
        )
        base = cv2.resize(self.generator.skip_frame(frame), (w * s, h * s), interpolation=cv2.INTER_LINEAR)
        return _shuffle_onto(rows.view(1, fh, fw, -1).permute(0, 3, 1, 2), base, picture)

    def _reuse_torch(self, frame: np.ndarray, pair: FlowPair) -> np.ndarray:
        """A frame between keyframes with torch alone (any device)."""
        s = self.model.scale
        h, w = frame.shape[:2]
        key = self._key
        x = self.model.pad(frames_to_tensor(frame[None], self.model.device)).contiguous()
        flow, mask = _flow_at(pair, _half(h, w), key.features.shape[-2:])
        device, dtype = key.features.device, key.features.dtype
        flow_t = torch.from_numpy(flow)[None].to(device, dtype)
        mask_t = torch.from_numpy(mask)[None, None].to(device, dtype)
        if key.picture:  # warped as a picture, as warp_shuffled does in training
            picture = key.residual
            if isinstance(picture, np.ndarray):  # a keyframe of the CPU path
                picture = torch.from_numpy(picture).permute(2, 0, 1)[None].div(255.0)
            big_flow, _ = _flow_at(pair, (h * s, w * s), picture.shape[-2:], mask=False)
            big_flow_t = torch.from_numpy(big_flow)[None].to(device, dtype)
            warped_residual = F.pixel_unshuffle(warp(picture, big_flow_t), 2 * s)
        else:
            warped_residual = warp(key.residual[:, self._uncells] if key.in_cells else key.residual, flow_t)
        residual = self.generator.propagate(warp(key.features, flow_t), warped_residual, x, mask_t)
        y = self.generator.finish(residual, x, base=self._base(frame, s))
        return tensor_to_frames(y[:, :, : h * s, : w * s].clamp_(0.0, 1.0))[0]

    def _base(self, frame: np.ndarray, scale: int) -> torch.Tensor:
        """The generator's skip (:meth:`~RemasterGenerator.skip_frame`) upscaled bilinearly by OpenCV
        (half-pixel centres, as F.interpolate), (1, 3, sH, sW)."""
        h, w = frame.shape[:2]
        big = cv2.resize(self.generator.skip_frame(frame), (w * scale, h * scale), interpolation=cv2.INTER_LINEAR)
        return torch.from_numpy(big).to(self.model.device).permute(2, 0, 1)[None].float().div_(255.0)



def _half(h: int, w: int) -> tuple[int, int]:
    """The features' size for an unpadded (h, w) frame: half of it, rounded up."""
    return math.ceil(h / 2), math.ceil(w / 2)


def _flow_at(pair: FlowPair, size: tuple[int, int], padded, *, mask: bool = True):
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


def _space_to_depth(frame: np.ndarray, fh: int, fw: int) -> torch.Tensor:
    """``pixel_unshuffle(pad(frame), 2)`` of an RGB uint8 frame, (1, 12, fh, fw) float in channels_last.

    The frame is padded to (2 fh, 2 fw) by reflection, as :meth:`ModelDescriptor.pad` does.
    """
    h, w = frame.shape[:2]
    if (2 * fh, 2 * fw) != (h, w):
        mode = cv2.BORDER_REFLECT_101 if 2 * fh - h < h and 2 * fw - w < w else cv2.BORDER_REPLICATE
        frame = cv2.copyMakeBorder(frame, 0, 2 * fh - h, 0, 2 * fw - w, mode)
    # Channel k = 4 c + 2 i + j holds colour c of the pixel at (i, j) in each 2x2 cell.
    cells = frame.reshape(fh, 2, fw, 2, 3).transpose(0, 2, 4, 1, 3).reshape(fh, fw, 12)
    return torch.from_numpy(cells).float().div_(255.0)[None].permute(0, 3, 1, 2)


def _cell_order(scale: int) -> torch.Tensor:
    """The order of a pixel-shuffle residual's channels that makes the shuffle a copy of runs.

    ``F.pixel_shuffle`` reads channel ``c f^2 + i f + j`` as colour ``c`` at (i, j) in each f x f
    cell (f = 2 x scale here); reordered to ``(i f + j) 3 + c``, a channels_last residual holds
    each cell's rows as runs of ``3 f`` numbers.
    """
    f = 2 * scale
    return torch.arange(3 * f * f).view(3, f, f).permute(1, 2, 0).reshape(-1)


def _fusion_in_cells(fusion: torch.nn.Module, order: torch.Tensor) -> torch.nn.Module:
    """A copy of a :class:`ReuseFusion` whose output channels come in ``order``."""
    fusion = copy.deepcopy(fusion)
    with torch.no_grad():
        fusion.up.weight.copy_(fusion.up.weight[order])
        fusion.up.bias.copy_(fusion.up.bias[order])
    return fusion


def _shuffle_onto(residual: torch.Tensor, base: np.ndarray, picture: np.ndarray | None = None) -> np.ndarray:
    """``base + pixel_shuffle(residual) (+ picture)`` as RGB uint8 (rounded, saturated).

    Args:
        residual: (1, 3 f^2, fh, fw), channels in :func:`_cell_order` (any memory layout).
        base: RGB uint8 (H, W, 3), H <= f fh and W <= f fw (the unpadded picture).
        picture: float32 (f fh, f fw, 3) in 0-255 levels, added too; not modified.
    """
    _, channels, fh, fw = residual.shape
    f = math.isqrt(channels // 3)
    rows = residual.contiguous(memory_format=torch.channels_last).permute(0, 2, 3, 1)
    out = torch.empty((fh, f, fw, 3 * f), dtype=residual.dtype)
    torch.mul(rows.view(fh, fw, f, 3 * f).permute(0, 2, 1, 3), 255.0, out=out)
    if picture is not None:
        out += torch.from_numpy(picture).view(fh, f, fw, 3 * f)
    picture = out.view(fh * f, fw * f, 3).numpy()[: base.shape[0], : base.shape[1]]
    return cv2.add(base, picture, dtype=cv2.CV_8U)


class BlendRunner:
    """Frame-by-frame model, then the warped previous output mixed in by :func:`blend_toward`."""

    def __init__(self, model: ModelDescriptor, *, strength: float = 0.7,
                 tolerance: float = DEFAULT_BLEND_TOLERANCE, contrast: bool = False) -> None:
        if not 0.0 <= strength < 1.0:
            raise ValueError(f"blend strength must be in [0, 1), got {strength}")
        self.model = model
        self.strength = strength
        self.tolerance = tolerance
        self.contrast = contrast
        self._previous: np.ndarray | None = None

    def run(self, batch: PlannedBatch) -> np.ndarray:
        outputs = run_frames(self.model, batch.frames)
        for i, plan in enumerate(batch.plans):
            if plan.flow is not None and self._previous is not None and self.strength > 0:
                outputs[i] = blend_toward(outputs[i], self._previous, plan.flow, strength=self.strength,
                                          tolerance=self.tolerance, contrast=self.contrast)
            self._previous = outputs[i]
        return outputs


@dataclass
class TemporalStage:
    """The temporal stage of one run: the effective mode, its planner and its runner.

    ``off`` has neither planner nor runner: batches go to the model as they come. Otherwise the
    reader's batches are planned on the flow thread, and in ``reuse`` mode their keyframes are
    then run on a keyframe thread, so that the calling thread only reuses features and blends:

        decode -> plan (flow, cuts) -> keyframes -> frames between keyframes, blending -> encode
    """

    mode: str
    model: ModelDescriptor
    planner: KeyframePlanner | None = None
    runner: ReuseRunner | BlendRunner | None = None

    def batches(self, reader: Iterable, *, depth: int) -> Iterator:
        """The reader's batches, planned (and their keyframes run) ahead on threads of their own."""
        if self.planner is None:
            yield from reader
            return
        planned = plan_batches(reader, self.planner, depth=depth)
        if not isinstance(self.runner, ReuseRunner):
            yield from planned
            return
        cpu = self.model.device.type == "cpu"
        with _shared_threads(self.model.device):
            yield from on_threads(planned, self.runner.keyframes, name="vidstyle-keyframes", depth=depth,
                                  workers=2 if cpu else 1)

    def run(self, batch) -> np.ndarray:
        """A batch of :meth:`batches` through the model, (B, sH, sW, 3) uint8."""
        if self.runner is None:
            return run_frames(self.model, batch.frames)
        return self.runner.run(batch)

    def report(self) -> dict:
        if self.planner is None:
            return {"mode": self.mode}
        report = {**self.planner.stats.to_dict(), "blend_strength": self.runner.strength,
                  "blend_tolerance": self.runner.tolerance, "blend_contrast": self.runner.contrast}
        if isinstance(self.runner, ReuseRunner):
            report["residual_warp"] = "picture" if self.runner.picture_warp else "cells"
        return report


@contextlib.contextmanager
def _shared_threads(device: torch.device) -> Iterator[None]:
    """Halve torch's CPU threads while two threads run the network, then restore them.

    In ``reuse`` mode the keyframe thread and the calling thread both run torch at once; each
    would otherwise start a full team of threads, and on a machine with as many threads as cores
    the teams would wait on each other (measured: slower than one network thread).
    """
    threads = torch.get_num_threads()
    if device.type != "cpu" or threads < 2:
        yield
        return
    torch.set_num_threads(threads // 2)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def open_temporal(config: TemporalConfig, model: ModelDescriptor) -> TemporalStage:
    """The temporal stage ``config`` asks for, with ``auto`` resolved for ``model``.

    Raises:
        ConfigError: ``reuse`` asked of a model that cannot reuse features.
    """
    mode = config.mode
    if mode == "auto":
        mode = "reuse" if supports_reuse(model) else "off"
    if mode == "reuse" and not supports_reuse(model):
        raise ConfigError(
            f"model {model.name} cannot reuse features between frames; use --temporal blend or off"
        )
    if mode == "off":
        return TemporalStage(mode, model)
    estimator = FlowEstimator(config.flow_preset, downscale=config.flow_downscale)
    planner = KeyframePlanner(mode, config.keyframe_interval, estimator, min_reliable=config.min_reliable)
    runner = ReuseRunner if mode == "reuse" else BlendRunner
    return TemporalStage(mode, model, planner,
                         runner(model, strength=config.blend_strength, tolerance=blend_tolerance(config, model),
                                **_style_settings(runner, model)))


def _style_settings(runner: type, model: ModelDescriptor) -> dict:
    """What a style does differently (:func:`vidstyle.style.catalog.load_style` says so in the
    model's meta): it keeps its contrast where blends meet a fresh drawing and, with ``reuse``,
    warps the keyframe's residual as a picture."""
    settings = {"contrast": bool(model.meta.get("blend_contrast", False))}
    if runner is ReuseRunner:
        settings["picture_warp"] = model.meta.get("reuse_warp") == "picture"
    return settings


def blend_tolerance(config: TemporalConfig, model: ModelDescriptor) -> float:
    """The blend tolerance of a run: ``config``'s when set, else the model's (its card's
    ``temporal.blend_tolerance``, which load_style puts in ``meta``), else the default."""
    if config.blend_tolerance is not None:
        return float(config.blend_tolerance)
    return float(model.meta.get("blend_tolerance", DEFAULT_BLEND_TOLERANCE))
