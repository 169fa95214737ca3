"""The engine: decode -> stage -> encode, the one loop every command runs frames through.

The reader decodes on its thread and the writer encodes on its thread; the calling thread moves
batches through the stage (the model, with its temporal stage, or the damage model) in between.
Bounded queues join the three, so memory is queue depth x batch size frames whatever the length
of the film, and decoding and encoding hide behind the network.

* :func:`open_model` loads the model a :class:`~vidstyle.config.RemasterConfig` asks for.
* :func:`open_stages` checks the paths and opens the model, the reader and the writer of a run.
* :func:`run_stages` is the loop. Its options cover what the commands do differently: preview
  writes a side-by-side picture (``compose``) and measures each batch (``on_batch``); a segment
  of a long film decodes warm-up frames before its first one and writes none of them
  (``keep_from``).
* :func:`remaster` is the whole-file command built on them, :class:`RemasterResult` its report.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .config import RemasterConfig
from .errors import ConfigError, StyleError
from .io.damage import DamageReport
from .io.reader import FrameBatch, VideoReader
from .io.writer import VideoWriter, check_output_path
from .models.descriptor import ModelDescriptor
from .models.registry import AUTO_MODELS, load_model, resolve_device
from .models.styles import load_style
from .restore.stage import FrameObserver, RepairStage, open_repair
from .temporal.stage import TemporalStage, open_temporal

__all__ = [
    "FramePath",
    "ProgressCallback",
    "RemasterResult",
    "Stage",
    "StageRun",
    "open_model",
    "open_stages",
    "remaster",
    "run_stages",
]

log = logging.getLogger(__name__)

#: Called after each batch with (frames done, frames expected or None).
ProgressCallback = Callable[[int, "int | None"], None]


def open_model(config: RemasterConfig, device: torch.device) -> ModelDescriptor:
    """The model a :class:`~vidstyle.config.RemasterConfig` asks for: its style, else its model.

    Raises:
        StyleError: ``--style`` combined with an explicit ``--model``, or a bad style.
        ModelError: the model cannot be loaded.
    """
    if getattr(config, "style", None):
        if config.model not in ("auto", AUTO_MODELS.get(config.scale)):
            raise StyleError("--style and --model cannot be combined: a style is its own model "
                             "(it restores and upscales too)")
        return load_style(config.style, scale=config.scale, strength=config.style_strength, device=device)
    return load_model(config.model, scale=config.scale, device=device)


def open_stages(
    src: Path, dst: Path, config: RemasterConfig, *, width_factor: int = 1, copy_streams: bool = True
) -> tuple[VideoReader, ModelDescriptor, VideoWriter]:
    """Check the paths, load the model and open the reader and writer for a run.

    The reader reads ``config.range`` (an image sequence at ``config.fps``). ``width_factor``
    widens the output (2 for preview's side-by-side video); without ``copy_streams`` the output
    holds only video (a segment of a long film, whose sound is copied once when the parts are
    joined). Frames of a source of more than 8 bits travel as uint16 (``reader.dtype``) to the
    writer.

    Raises:
        ConfigError: the repair stage asked for on a source of more than 8 bits.
    """
    check_output_path(dst, src=src, overwrite=config.overwrite)
    device = resolve_device(config.device)
    model = open_model(config, device)
    rng = config.range
    reader = VideoReader(
        src,
        start=rng.start,
        end=rng.end,
        frames=rng.frames,
        batch_size=config.batch_size,
        queue_depth=config.queue_depth,
        on_damage=config.on_damage,
        fps=config.fps,
    )
    info = reader.info
    try:
        if config.repair.active and reader.dtype != np.uint8:
            raise ConfigError(f"the repair stage works on 8-bit frames, and {src.name} has {info.bit_depth} bits "
                              f"per component; leave out --repair auto (its default is off)")
        writer = VideoWriter(
            dst,
            source=info,
            width=info.width * config.scale * width_factor,
            height=info.height * config.scale,
            encode=config.encode,
            trim=reader.is_range,
            copy_streams=copy_streams,
            overwrite=config.overwrite,
            queue_depth=config.queue_depth,
            dtype=reader.dtype,
        )
    except BaseException:
        reader.close()
        raise
    return reader, model, writer


@dataclass
class FramePath:
    """What the frames of a run go through between the reader and the writer: the repair stage
    (:mod:`vidstyle.restore`), then the temporal stage with the model."""

    repair: RepairStage | None
    temporal: TemporalStage

    @classmethod
    def open(cls, config: RemasterConfig, model: ModelDescriptor, *,
             observer: FrameObserver | None = None) -> FramePath:
        return cls(open_repair(config.repair, config.temporal, observer=observer),
                   open_temporal(config.temporal, model))

    def batches(self, reader: Iterable[FrameBatch], *, depth: int) -> Iterable:
        """The reader's batches repaired and planned, each on a thread of its own."""
        source = reader if self.repair is None else self.repair.batches(reader, depth=depth)
        return self.temporal.batches(source, depth=depth)

    def run(self, batch) -> np.ndarray:
        """A batch of :meth:`batches` through the model, (B, sH, sW, 3) of the frames' dtype."""
        return self.temporal.run(batch)

    def repair_report(self) -> dict[str, Any]:
        return {"mode": "off"} if self.repair is None else self.repair.report()


@dataclass
class StageRun:
    """What :func:`run_stages` did. Times in seconds, each the busy time of one stage."""

    frames: int
    """Frames written."""
    warmup: int
    """Frames decoded and run but not written (before ``keep_from``)."""
    stage_seconds: dict[str, float]
    """``decode``, ``model`` (the stage) and ``encode``."""
    compose_seconds: float = 0.0
    """Time in the ``compose`` hook (preview's side-by-side)."""
    warnings: list[str] = field(default_factory=list)
    damage: DamageReport | None = None
    """What was wrong with the source's frames (:mod:`vidstyle.io.damage`)."""


#: The stage: a batch in, its output frames out, (B, H', W', 3) of the batch's dtype (uint8, or
#: uint16 for a source of more than 8 bits).
Stage = Callable[[FrameBatch], np.ndarray]


def run_stages(
    reader: VideoReader,
    stage: Stage,
    writer: VideoWriter,
    *,
    batches: Iterable[FrameBatch] | None = None,
    progress: ProgressCallback | None = None,
    total: int | None = None,
    keep_from: int | None = None,
    compose: Callable[[FrameBatch, np.ndarray], np.ndarray] | None = None,
    on_batch: Callable[[FrameBatch, np.ndarray, np.ndarray], None] | None = None,
    before_commit: Callable[[StageRun], None] | None = None,
) -> StageRun:
    """Decode, run ``stage`` and encode every batch, then commit the writer.

    The caller opens ``reader`` and ``writer`` (and closes them, ``with reader, writer:``): a
    failure anywhere leaves no output behind.

    Args:
        stage: maps a batch to its output frames (the model, the temporal stage, the damage).
        batches: what to iterate instead of ``reader`` itself (the temporal stage's planned
            batches, read from ``reader`` ahead on threads of their own).
        progress: called after each batch with (frames written, ``total``).
        keep_from: frames with a timestamp below it are run but not written: warm-up frames that
            give the temporal state its history (a segment of a long film). None writes all.
        compose: turns a batch and the stage's output into the frames written (preview's
            input | output picture); timed apart from the stage.
        on_batch: sees each batch, the stage's output and the frames written, after the write
            (preview's steadiness measure and contact sheet).
        before_commit: sees the run before the writer commits; may raise to write nothing.

    Returns:
        a :class:`StageRun`; its ``damage`` says what was wrong with the source, and its warnings
        say it in a line per damaged stream (and one when the file ends early), after what the
        reader and the writer had to say (an ``--fps`` a video ignores, a sequence's lost sound).
    """
    model_seconds = compose_seconds = 0.0
    written = warmed = 0
    for batch in reader if batches is None else batches:
        tick = time.perf_counter()
        out = stage(batch)
        model_seconds += time.perf_counter() - tick
        if compose is not None:
            tick = time.perf_counter()
            out_frames = compose(batch, out)
            compose_seconds += time.perf_counter() - tick
        else:
            out_frames = out
        if keep_from is None:
            writer.write(out_frames, batch.pts)
            written += len(batch)
        else:
            warmed, written = _write_kept(writer, out_frames, batch, keep_from, warmed, written)
        if on_batch is not None:
            on_batch(batch, out, out_frames)
        if progress is not None:
            progress(written, total)
    run = StageRun(frames=written, warmup=warmed, stage_seconds={}, compose_seconds=compose_seconds,
                   damage=reader.damage)
    if before_commit is not None:
        before_commit(run)
    writer.commit()
    run.stage_seconds = {"decode": reader.busy_seconds, "model": model_seconds, "encode": writer.busy_seconds}
    run.warnings += reader.warnings + writer.warnings + run.damage.warnings()
    return run


def _write_kept(
    writer: VideoWriter, frames: np.ndarray, batch: FrameBatch, keep_from: int, warmed: int, written: int
) -> tuple[int, int]:
    """Write the frames of ``batch`` at or after ``keep_from``; returns the updated (warmed, written)."""
    keep = np.asarray(batch.pts) >= keep_from
    warmed += int(np.count_nonzero(~keep))
    if keep.any():
        writer.write(frames[keep], np.asarray(batch.pts)[keep])
        written += int(np.count_nonzero(keep))
    return warmed, written


@dataclass
class RemasterResult:
    """What a run did, for reports. Times in seconds; fps = frames / seconds."""

    input: Path
    output: Path
    frames: int
    seconds: float
    fps: float
    model: dict[str, Any]
    settings: dict[str, Any]
    input_size: tuple[int, int]
    output_size: tuple[int, int]
    stage_seconds: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    temporal: dict[str, Any] = field(default_factory=dict)
    repair: dict[str, Any] = field(default_factory=dict)
    damage: dict[str, Any] = field(default_factory=dict)
    """What was wrong with the source (:meth:`vidstyle.io.damage.DamageReport.to_dict`)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "input": str(self.input),
            "output": str(self.output),
            "frames": self.frames,
            "seconds": round(self.seconds, 3),
            "fps": round(self.fps, 3),
            "input_size": list(self.input_size),
            "output_size": list(self.output_size),
            "model": self.model,
            "settings": self.settings,
            "stage_seconds": {k: round(v, 3) for k, v in self.stage_seconds.items()},
            "warnings": self.warnings,
            "temporal": self.temporal,
            "repair": self.repair,
            "damage": self.damage,
        }


def remaster(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    config: RemasterConfig | None = None,
    progress: ProgressCallback | None = None,
) -> RemasterResult:
    """Remaster ``src`` into ``dst``: decode, repair, run the model, encode with the sound copied.

    The output has the frames and timestamps of the selected range of the input,
    its colour tags, pixel aspect ratio and rotation, and its audio and subtitle
    streams. It appears at ``dst`` only when complete. A damaged source (frames that fail to
    decode or decode with errors, a file that ends early) is handled as ``config.on_damage`` says:
    the result's ``damage`` counts it, with the frame indices.

    Args:
        src: input video file; never modified.
        dst: output file; the extension picks the container (.mp4, .mkv, .mov ...).
        config: settings; the defaults upscale x2.
        progress: called after each batch with (frames done, frames expected).

    Returns:
        a :class:`RemasterResult` (frames, seconds, fps, settings, damage ...).

    Raises:
        SourceDamageError: the source is damaged and ``config.on_damage`` is ``fail``.
        VidstyleError: a subclass for each kind of bad input or failure.
    """
    config = config or RemasterConfig()
    src, dst = Path(src), Path(dst)
    started = time.perf_counter()
    reader, model, writer = open_stages(src, dst, config)
    info = reader.info
    with reader, writer:
        path = FramePath.open(config, model)
        run = run_stages(reader, path.run, writer, batches=path.batches(reader, depth=config.queue_depth),
                         progress=progress, total=reader.expected_frames)
    seconds = time.perf_counter() - started
    done = run.frames
    log.info("wrote %s: %d frames in %.1f s (%.2f fps)", dst, done, seconds, done / max(seconds, 1e-9))
    return RemasterResult(
        input=src,
        output=dst,
        frames=done,
        seconds=seconds,
        fps=done / max(seconds, 1e-9),
        model=model.describe(),
        settings=config.to_dict(),
        input_size=(info.width, info.height),
        output_size=(writer.width, writer.height),
        stage_seconds=run.stage_seconds,
        warnings=run.warnings,
        temporal=path.temporal.report(),
        repair=path.repair_report(),
        damage=run.damage.to_dict(),
    )

