"""Planning the temporal stage: which frames are keyframes, and the flow each frame borrows along.

:class:`KeyframePlanner` runs beside the decoder (:func:`plan_batches` puts it on a thread of its
own). For each frame it detects scene cuts, computes the optical flow to the frame the model will
borrow from, and decides whether the frame is a *keyframe*: the first frame, every
``keyframe_interval``-th frame, the first frame of a shot, and any frame whose flow is reliable on
less than ``min_reliable`` of the picture. OpenCV releases the GIL, so this overlaps with the
network. The runners (:mod:`.reuse`, :mod:`.blend`) then follow the plan on the model's thread.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..threads import on_thread
from .flow import FlowEstimator, FlowPair
from .scenes import SceneCutDetector

if TYPE_CHECKING:
    from .reuse import Keyframe

__all__ = ["FramePlan", "KeyframePlanner", "PlannedBatch", "TemporalStats", "plan_batches"]


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
    decoded: np.ndarray | None = None
    """The frames as decoded, where a stage before the model replaced ``frames`` (the repair
    stage); reuse's blend gate reads the source's noise on them (None: ``frames`` are as decoded)."""

    def __len__(self) -> int:
        return len(self.frames)


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


def plan_batches(batches: Iterable, planner: KeyframePlanner, *, depth: int = 2) -> Iterator[PlannedBatch]:
    """Plan each batch of ``batches`` (FrameBatch-like) on a thread of its own; yields in order."""

    def plan(batch) -> PlannedBatch:
        return PlannedBatch(batch.frames, batch.pts, batch.first_index, [planner.plan(f) for f in batch.frames])

    return on_thread(batches, plan, name="vidstyle-flow", depth=depth)

