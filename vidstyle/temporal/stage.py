"""The temporal stage of the pipeline: the mode a run asks for, its threads, and its report.

:func:`open_temporal` resolves ``--temporal`` for a model and its device (``auto``, by
:func:`auto_mode`: ``reuse`` where the model can reuse features and reuse was measured faster than
``off`` on that kind of device, unless the source reads clean; else ``off``) and builds a
:class:`TemporalStage`: the :class:`~.plan.KeyframePlanner` beside the decoder, and a runner on
the model's thread,
:class:`~.reuse.ReuseRunner` (``reuse``) or :class:`~.blend.BlendRunner` (``blend``). Two threads:

    decode -> plan (flow, cuts) -> keyframes -> frames between keyframes, blending -> encode

What a model supports and how a style blends come from its descriptor
(:class:`~vidstyle.models.descriptor.TemporalHints`), never from the network itself. At a cut
every runner starts afresh, so the first frame of a shot is exactly the frame-by-frame output.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from ..config import TemporalConfig
from ..errors import ConfigError
from ..models.descriptor import ModelDescriptor, run_frames
from ..threads import on_threads, shared_threads
from .blend import BlendRunner, blend_tolerance
from .flow import FlowEstimator
from .plan import KeyframePlanner, plan_batches
from .reuse import ReuseRunner, supports_reuse

__all__ = ["AUTO_REUSE_MIN_SPEEDUP", "CLEAN_SOURCE", "REUSE_SPEEDUPS", "TemporalStage", "auto_mode", "open_temporal",
           "temporal_mode"]

log = logging.getLogger(__name__)

#: End-to-end fps of ``--temporal reuse`` over ``off`` with remaster-x2, measured on each kind of
#: device (``torch.device.type``), and where. Update a figure when a new run measures it
#: (``pipelines/gpu_check.py`` on CUDA, the benchmark's temporal section on the CPU).
REUSE_SPEEDUPS: dict[str, tuple[float, str]] = {
    "cpu": (1.97, "docs/BENCHMARKS.md: 17.9 against 9.1 fps, 640x272 -> x2 on 2 cores"),
    "cuda": (0.52, "docs/GPU.md: 48 against 86-93 fps, 640x272 -> x2 on an H200, "
                   "frames between keyframes one at a time"),
}
#: ``auto`` runs ``off`` for a model with a ``whole_gate`` when the source's probe
#: (:func:`~.reuse.source_noise`, the median of the engine's three looks) is below this many
#: levels: clean. Chosen on training material (the session note of 2026-12-06): clean frames of
#: bigbuckbunny.mp4 and bikes.mp4 read 0.20-0.48, the same frames under the independent damage
#: (seeds 11-13) 1.49-4.99 and under REEL_DAMAGE 7.7-9.5; scikit-image stills under camera motion
#: 0.00-0.41 clean (brick, rocket, astronaut, coffee; gravel 2.0 and grass 4.0, texture everywhere,
#: read as noisy) and 0.56-6.5 damaged (rocket, whose damage reads 0.56, is also better frame by
#: frame). Low, because a damaged film run frame by frame loses reuse's steadiness, while a clean
#: one that reads noisy still has the whole gate frame by frame.
CLEAN_SOURCE = 1.0
#: ``auto`` picks ``reuse`` on a device where it ran at least this much faster than ``off``:
#: issue 17's bar for reuse on a GPU. Reuse's steadiness alone does not justify a slower run
#: that nobody asked for; ``--temporal reuse`` or ``blend`` ask for it.
AUTO_REUSE_MIN_SPEEDUP = 1.2


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
    asked: str | None = None
    """The mode ``--temporal`` asked for (``auto`` resolved to :attr:`mode`); None: :attr:`mode`."""
    note: str | None = None
    """Why ``mode`` is not the mode asked for (tiles turn ``reuse`` into ``blend``), for the report."""
    why: str | None = None
    """Why ``auto`` chose :attr:`mode` (:func:`auto_mode`), for the report; None: resolved anew."""

    def batches(self, reader: Iterable, *, depth: int,
                between: Callable[[Iterable], Iterable] | None = None) -> Iterator:
        """The reader's batches, planned (and their keyframes run) ahead on threads of their own.

        ``between`` (the repair stage) takes the planned batches and gives them on with their
        frames replaced, before any keyframe runs: the plan (cuts, flow, keyframes) is made on the
        frames as decoded, so that repairing a frame never moves a keyframe."""
        if self.planner is None:
            yield from reader if between is None else between(reader)
            return
        planned = plan_batches(reader, self.planner, depth=depth)
        if between is not None:
            planned = between(planned)
        if not isinstance(self.runner, ReuseRunner):
            yield from planned
            return
        cpu = self.model.device.type == "cpu"
        with shared_threads(self.model.device):
            yield from on_threads(planned, self.runner.keyframes, name="vidstyle-keyframes", depth=depth,
                                  workers=2 if cpu else 1)

    def run(self, batch) -> np.ndarray:
        """A batch of :meth:`batches` through the model, (B, sH, sW, 3) uint8."""
        if self.runner is None:
            return run_frames(self.model, batch.frames)
        return self.runner.run(batch)

    def busy_seconds(self) -> dict[str, float]:
        """Busy seconds of the stage's parts, by the clocks of their threads: ``flow`` (the
        planner), ``keyframes`` (reuse's keyframe thread) and ``blend`` (on the model's thread);
        empty for ``off``."""
        if self.planner is None:
            return {}
        busy = {"flow": self.planner.stats.flow_seconds, "blend": self.runner.blend_seconds}
        if isinstance(self.runner, ReuseRunner):
            busy["keyframes"] = self.runner.keyframe_seconds
        return busy

    def report(self) -> dict:
        choice = {"asked": self.asked or self.mode}
        if self.note is not None:
            choice["note"] = self.note
        if self.asked == "auto":
            choice["why"] = self.note if self.note is not None else (
                self.why if self.why is not None else auto_mode(self.model, self.model.device.type)[1])
        if self.planner is None:
            return {"mode": self.mode, **choice}
        report = {**self.planner.stats.to_dict(), **choice, "blend_strength": self.runner.strength,
                  "blend_tolerance": self.runner.tolerance, "blend_contrast": self.runner.contrast}
        # Whether the batch stayed on the model's device to the blend, or went frame by frame.
        report["batched"] = self.runner.batched
        if isinstance(self.runner, ReuseRunner):
            report["residual_warp"] = "picture" if self.runner.picture_warp else "cells"
            if self.runner.whole_gate is not None:
                # Frames between keyframes that ran the whole generator: the source read as clean.
                report["whole_gate"] = {"level": self.runner.whole_gate,
                                        "whole_frames": self.runner.gate_counts["whole"]}
            if self.runner.grain_gate is not None:
                counts = self.runner.gate_counts
                report["grain_gate"] = {
                    "low": self.runner.grain_gate[0], "high": self.runner.grain_gate[1],
                    "keyframes": counts["keyframes"], "uncorrected_keyframes": counts["uncorrected"],
                    "mean_correction": round(counts["weight_sum"] / max(counts["keyframes"], 1), 3)}
                if self.runner.change_gate is not None:
                    report["grain_gate"]["change_gate"] = list(self.runner.change_gate)
                    # Over the frames between keyframes: the share of the picture the correction reached.
                    report["grain_gate"]["mean_correction_between"] = round(
                        counts["between_sum"] / max(counts["between"], 1), 4)
                if self.runner.blend_gate is not None:
                    # The frames blended, and the mean share of the blend's strength they kept.
                    report["grain_gate"]["blend_gate"] = list(self.runner.blend_gate)
                    report["grain_gate"]["blended_frames"] = counts["blended"]
                    report["grain_gate"]["mean_blend"] = round(counts["blend_sum"] / max(counts["blended"], 1), 3)
        return report


def auto_mode(model: ModelDescriptor, device_type: str, source_noise: float | None = None) -> tuple[str, str]:
    """What ``--temporal auto`` runs ``model`` with on a device of ``device_type`` (``cpu``,
    ``cuda``, ...) for a source whose noise from frame to frame reads ``source_noise`` levels
    (:func:`~.reuse.source_noise`, the engine's probe; None: not read), and why, in words for the
    report.

    ``reuse`` where the model can reuse features and :data:`REUSE_SPEEDUPS` says reuse ran at
    least :data:`AUTO_REUSE_MIN_SPEEDUP` times as fast as ``off`` on that kind of device; ``off``
    everywhere else, also on a device where reuse was never measured. On a GPU the network is
    a small part of a run (docs/GPU.md: 1400 fps alone, under 100 end to end, where decoding
    and x264 take the time), so skipping it on three frames of four saves little, while reuse
    adds the optical flow on the CPU.

    Where reuse would run and the model's card has a ``whole_gate``, a source that reads below
    :data:`CLEAN_SOURCE` (clean: no grain or noise from frame to frame) runs ``off``: there reuse only costs detail (a
    keyframe's warped output misses what the whole network draws afresh) and has no grain to
    steady, while frame by frame runs at the speed and precision ``off`` has. Within a run of
    ``reuse`` the same gate takes over frame by frame (:class:`~.reuse.ReuseRunner`'s
    ``whole_gate``), for the shots of a film that read clean.
    """
    name = model.name
    if not supports_reuse(model):
        return "off", f"{name} cannot reuse features (--temporal blend works with any model)"
    measured = REUSE_SPEEDUPS.get(device_type)
    if measured is None:
        return "off", (f"{name} can reuse features, but reuse was never measured on {device_type}; "
                       "off is the safe speed (--temporal reuse or blend steady the picture)")
    speedup, source = measured
    if speedup >= AUTO_REUSE_MIN_SPEEDUP:
        if model.temporal.whole_gate is not None and source_noise is not None and source_noise < CLEAN_SOURCE:
            return "off", (f"the source reads clean ({source_noise:.2f} levels from frame to frame where the "
                           f"picture is flat, under {CLEAN_SOURCE:g}): frame by frame, as feature reuse would only "
                           "cost detail (--temporal reuse asks for it)")
        read = "" if source_noise is None else f"; the source reads {source_noise:.2f} levels from frame to frame"
        return "reuse", (f"{name} can reuse features, and reuse ran {speedup:.2f}x off's speed on {device_type} "
                         f"({source}){read}")
    return "off", (f"{name} can reuse features, but on {device_type} reuse ran {speedup:.2f}x off's speed "
                   f"({source}), under {AUTO_REUSE_MIN_SPEEDUP:g}x; --temporal reuse or blend steady "
                   "the picture at that cost")


def temporal_mode(config: TemporalConfig, model: ModelDescriptor,
                  source_noise: float | None = None) -> tuple[str, str | None]:
    """The mode a run of ``model`` uses for ``config.mode``, and why it differs, if it does.

    ``auto`` is :func:`auto_mode`'s choice for the model's device and the source's noise
    (``source_noise``). Feature reuse runs the
    generator on whole frames, so on a tiled model (``--tile``, ``model.tiling``) ``reuse``, asked
    for or chosen by ``auto``, becomes ``blend``: every frame through the whole model, tile by
    tile, steadied by blending in the previous output.

    Raises:
        ConfigError: ``reuse`` asked of a model that cannot reuse features.
    """
    mode = config.mode
    if mode == "auto":
        mode = auto_mode(model, model.device.type, source_noise)[0]
    if mode == "reuse" and not supports_reuse(model):
        raise ConfigError(
            f"model {model.name} cannot reuse features between frames; use --temporal blend or off"
        )
    if mode == "reuse" and model.tiling is not None:
        return "blend", (f"--temporal {config.mode} runs as blend: feature reuse needs whole frames, and "
                         f"the frames run in tiles of {model.tiling.size} px (--tile {model.tiling.asked})")
    return mode, None


def open_temporal(config: TemporalConfig, model: ModelDescriptor, source_noise: float | None = None,
                  whole_dtype: torch.dtype | None = None) -> TemporalStage:
    """The temporal stage ``config`` asks for, with ``auto`` resolved for ``model`` and a source of
    ``source_noise`` (:func:`temporal_mode`; a change of mode is logged as a warning and reported).
    ``whole_dtype``: the precision ``off`` would run ``model`` in, for ``auto``'s whole gate (the
    frames of a source that reads clean run whole, as ``off`` runs them; None: the model's own).

    Raises:
        ConfigError: ``reuse`` asked of a model that cannot reuse features.
    """
    mode, note = temporal_mode(config, model, source_noise)
    if note is not None:
        log.warning(note)
    why = auto_mode(model, model.device.type, source_noise)[1] if config.mode == "auto" else None
    if why is not None and note is None:
        log.info("--temporal auto: %s", why)
    if mode == "off":
        return TemporalStage(mode, model, asked=config.mode, note=note, why=why)
    estimator = FlowEstimator(config.flow_preset, downscale=config.flow_downscale)
    planner = KeyframePlanner(mode, config.keyframe_interval, estimator, min_reliable=config.min_reliable)
    runner = ReuseRunner if mode == "reuse" else BlendRunner
    settings = _style_settings(runner, model)
    if runner is ReuseRunner and config.mode == "auto" and model.temporal.whole_gate is not None:
        settings["whole_gate"] = model.temporal.whole_gate
        if whole_dtype is not None and whole_dtype != model.dtype:
            settings["whole_model"] = model.in_precision(whole_dtype)
    return TemporalStage(mode, model, planner,
                         runner(model, strength=config.blend_strength, tolerance=blend_tolerance(config, model),
                                **settings), asked=config.mode, note=note, why=why)


def _style_settings(runner: type, model: ModelDescriptor) -> dict:
    """What a style does differently (:func:`vidstyle.models.styles.load_style` says so in the
    model's :class:`~vidstyle.models.descriptor.TemporalHints`): it keeps its contrast where blends
    meet a fresh drawing and, with ``reuse``, warps the keyframe's residual as a picture."""
    hints = model.temporal
    settings = {"contrast": hints.blend_contrast}
    if runner is ReuseRunner:
        settings["picture_warp"] = hints.residual_warp == "picture"
        settings["grain_gate"] = hints.grain_gate
        settings["change_gate"] = hints.change_gate
        settings["blend_gate"] = hints.blend_gate
    return settings
