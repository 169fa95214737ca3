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
* :func:`remaster` is the whole-file command built on them, :class:`RemasterResult` its report,
  with the busy seconds of each stage and the slowest of them, which bounds the run.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .config import RemasterConfig
from .errors import ConfigError, StyleError
from .finish.stage import FinishStage, open_finish
from .io.damage import DamageReport
from .io.reader import FrameBatch, VideoReader
from .io.writer import VideoWriter, check_encoder, check_output_path
from .models.descriptor import ModelDescriptor
from .models.precision import DTYPES, resolve_precision
from .models.registry import AUTO_MODELS, load_model, resolve_device
from .models.styles import load_style
from .models.tiles import plan_tiling
from .restore.stage import FrameObserver, RepairStage, open_repair
from .temporal.flow import FlowEstimator
from .temporal.reuse import source_noise
from .temporal.stage import TemporalStage, auto_mode, open_temporal, temporal_mode
from .timecode import TimePoint

__all__ = [
    "STAGES",
    "FramePath",
    "ProgressCallback",
    "RemasterResult",
    "Stage",
    "StageRun",
    "open_model",
    "open_stages",
    "prepare_model",
    "remaster",
    "run_stages",
]

log = logging.getLogger(__name__)

#: Called after each batch with (frames done, frames expected or None).
ProgressCallback = Callable[[int, "int | None"], None]

#: The stages of a run, in the order frames pass them (:attr:`RemasterResult.stage_seconds`).
STAGES = ("decode", "repair", "flow", "model", "blend", "finish", "encode")


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


def prepare_model(model: ModelDescriptor, config: RemasterConfig, *, width: int, height: int, bits: int = 8,
                  source_noise: float | None = None) -> None:
    """Set ``model``'s tiles (``--tile``) and precision (``--precision``) for frames of ``width`` x
    ``height`` with ``bits`` per component, in that order: tiles decide whether feature reuse can
    run (it needs whole frames, :func:`~vidstyle.temporal.stage.temporal_mode`; ``--temporal auto``
    also asks the source's noise, ``source_noise``), and reuse runs in fp32.

    Raises:
        ConfigError, ModelError: a precision the model, its device, the temporal mode or the
            source's depth cannot run.
    """
    model.tiling = plan_tiling(config.tile, model, width=width, height=height, batch=config.batch_size)
    mode, _ = temporal_mode(config.temporal, model, source_noise)
    model.set_precision(DTYPES[resolve_precision(config.precision, model, reuse=mode == "reuse", bits=bits)])


#: ``--temporal auto``'s look at the source before a run (:func:`probe_source_noise`): the frames
#: read at each point, and the points as shares of the run: its start, a third and two thirds into
#: it (a film's first seconds are often black leader or titles, which read clean).
PROBE_FRAMES, PROBE_AT = 5, (0.0, 1 / 3, 2 / 3)


def probe_source_noise(src: Path, config: RemasterConfig, reader: VideoReader,
                       model: ModelDescriptor) -> float | None:
    """How noisy the source is from frame to frame, where ``--temporal auto`` would reuse features
    and the model's card has a ``whole_gate``: the median of :func:`~vidstyle.temporal.reuse.source_noise`
    over :data:`PROBE_FRAMES` frames at each of :data:`PROBE_AT` (the run's start alone when the run
    is too short or of unknown length); None where nothing was read or nothing is asked. The median,
    so that no one look decides: not a grainy film's black leader or clean titles, nor a clean
    film's one burst of fast motion. A probe that cannot read is skipped: the run itself reports the
    source's problems.
    """
    if config.temporal.mode != "auto" or model.temporal.whole_gate is None \
            or auto_mode(model, model.device.type)[0] != "reuse":
        return None
    fps = reader.info.fps
    start = reader.start.to_seconds(fps) if reader.start is not None else Fraction(0)
    total = reader.expected_frames
    shares = PROBE_AT if total is not None and total >= 2 * PROBE_FRAMES * len(PROBE_AT) else PROBE_AT[:1]
    estimator = FlowEstimator(config.temporal.flow_preset, downscale=config.temporal.flow_downscale)
    readings = []
    for share in shares:
        at = TimePoint(seconds=start + Fraction(int(share * (total or 0))) / fps)
        try:
            with VideoReader(src, start=at if share else reader.start, frames=PROBE_FRAMES, batch_size=PROBE_FRAMES,
                             on_damage="conceal", fps=config.fps) as probe:
                frames = [frame for batch in probe for frame in batch.frames]
        except Exception as ex:  # noqa: BLE001 - advisory: the run reads the source itself
            log.debug("temporal probe at %s of %s: %s", at, src, ex)
            continue
        reading = source_noise(frames, estimator)
        if reading is not None:
            readings.append(reading)
    return float(np.median(readings)) if readings else None


def open_stages(
    src: Path, dst: Path, config: RemasterConfig, *, width_factor: int = 1, copy_streams: bool = True,
    model: ModelDescriptor | None = None,
) -> tuple[VideoReader, ModelDescriptor, VideoWriter, float | None]:
    """Check the paths and the encoder, load the model (its tiles and precision set for the input's
    frames: :func:`prepare_model`) and open the reader and writer for a run; and, for
    ``--temporal auto``, read the source's noise (:func:`probe_source_noise`, None where not read),
    which :meth:`FramePath.open` takes.

    The reader reads ``config.range`` (an image sequence at ``config.fps``). ``width_factor``
    widens the output (2 for preview's side-by-side video); without ``copy_streams`` the output
    holds only video (a segment of a long film, whose sound is copied once when the parts are
    joined). Frames of a source of more than 8 bits travel as uint16 (``reader.dtype``) to the
    writer. Encoder options that the encoder does not know are passed on with a warning (the
    command line refuses them first). ``model``, when given, is run instead of the one ``config``
    names (at its own scale and device; its tiles and precision are set here all the same).
    """
    check_output_path(dst, src=src, overwrite=config.overwrite)
    for option in check_encoder(config.encode, allow_unknown=True, output=dst):
        log.warning("%s does not know %s; passed on, libav ignores it", config.encode.codec, option)
    if model is None:
        model = open_model(config, resolve_device(config.device))
    elif model.scale != config.scale:
        raise ConfigError(f"the model {model.name} upscales x{model.scale}, but the run asks for x{config.scale}")
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
        noise = probe_source_noise(src, config, reader, model)
        prepare_model(model, config, width=info.width, height=info.height, bits=info.bit_depth, source_noise=noise)
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
    return reader, model, writer, noise


@dataclass
class FramePath:
    """What the frames of a run go through between the reader and the writer: the repair stage
    (:mod:`vidstyle.restore`), the temporal stage with the model, then the finishing stage
    (:mod:`vidstyle.finish`: a look, grain)."""

    repair: RepairStage | None
    temporal: TemporalStage
    finish: FinishStage | None = None
    finish_seconds: float = 0.0
    """Time in the finishing stage, on the model's thread."""

    @classmethod
    def open(cls, config: RemasterConfig, model: ModelDescriptor, *, observer: FrameObserver | None = None,
             source_noise: float | None = None, bits: int = 8) -> FramePath:
        """The stages of a run of ``model`` on frames of ``bits`` per component (``source_noise``:
        :func:`open_stages`' reading). ``auto``'s frames that run whole inside feature reuse run at
        the precision ``off`` would have (reuse itself keeps the model in float32)."""
        whole = None
        if config.temporal.mode == "auto" and model.temporal.whole_gate is not None:
            whole = DTYPES[resolve_precision(config.precision, model, reuse=False, bits=bits)]
        return cls(open_repair(config.repair, config.temporal, observer=observer),
                   open_temporal(config.temporal, model, source_noise, whole), open_finish(config))

    def batches(self, reader: Iterable[FrameBatch], *, depth: int) -> Iterable:
        """The reader's batches planned and repaired, each on a thread of its own (the plan is
        made on the decoded frames, see :meth:`TemporalStage.batches`)."""
        repair = None if self.repair is None else functools.partial(self.repair.batches, depth=depth)
        return self.temporal.batches(reader, depth=depth, between=repair)

    def run(self, batch) -> np.ndarray:
        """A batch of :meth:`batches` through the model and the finish, (B, sH, sW, 3) of the frames' dtype."""
        out = self.temporal.run(batch)
        if self.finish is None:
            return out
        tick = time.perf_counter()
        out = self.finish(out, batch.pts)
        self.finish_seconds += time.perf_counter() - tick
        return out

    def repair_report(self) -> dict[str, Any]:
        return {"mode": "off"} if self.repair is None else self.repair.report()

    def stage_seconds(self, run: StageRun) -> dict[str, float]:
        """Busy seconds of each of :data:`STAGES` that ``run`` had, by the clocks of their threads.

        ``model`` is the network: the model's thread and reuse's keyframe thread, less the
        blending (``blend``) and the look and grain (``finish``) done on the model's thread.
        ``repair`` and ``flow`` run on threads of their own; ``decode`` and ``encode`` are the
        reader's and the writer's threads.
        """
        parts = self.temporal.busy_seconds()
        network = (run.stage_seconds["model"] - parts.get("blend", 0.0) - self.finish_seconds
                   + parts.get("keyframes", 0.0))
        seconds = {"decode": run.stage_seconds["decode"],
                   "repair": None if self.repair is None else self.repair.stats.seconds,
                   "flow": parts.get("flow"), "model": network, "blend": parts.get("blend"),
                   "finish": None if self.finish is None else self.finish_seconds,
                   "encode": run.stage_seconds["encode"]}
        return {stage: seconds[stage] for stage in STAGES if seconds[stage] is not None}


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
    cooldown: int = 0
    """Frames decoded and run but not written (at or after ``keep_until``)."""
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
    keep_until: int | None = None,
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
        keep_until: frames with a timestamp at or after it are run but not written: the frames
            past a segment's end that the repair's look-ahead reads. None writes all.
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
    written = warmed = cooled = 0
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
        if keep_from is None and keep_until is None:
            writer.write(out_frames, batch.pts)
            written += len(batch)
        else:
            kept, before = _write_kept(writer, out_frames, batch, keep_from, keep_until)
            written += kept
            warmed += before
            cooled += len(batch) - kept - before
        if on_batch is not None:
            on_batch(batch, out, out_frames)
        if progress is not None:
            progress(written, total)
    run = StageRun(frames=written, warmup=warmed, cooldown=cooled, stage_seconds={}, compose_seconds=compose_seconds,
                   damage=reader.damage)
    if before_commit is not None:
        before_commit(run)
    writer.commit()
    run.stage_seconds = {"decode": reader.busy_seconds, "model": model_seconds, "encode": writer.busy_seconds}
    run.warnings += reader.warnings + writer.warnings + run.damage.warnings()
    return run


def _write_kept(
    writer: VideoWriter, frames: np.ndarray, batch: FrameBatch, keep_from: int | None, keep_until: int | None
) -> tuple[int, int]:
    """Write the frames of ``batch`` in ``[keep_from, keep_until)`` (None: no bound); returns how
    many were written and how many fell before ``keep_from``."""
    pts = np.asarray(batch.pts)
    before = pts < keep_from if keep_from is not None else np.zeros(len(pts), bool)
    keep = ~before if keep_until is None else ~before & (pts < keep_until)
    if keep.any():
        writer.write(frames[keep], pts[keep])
    return int(np.count_nonzero(keep)), int(np.count_nonzero(before))


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

    @property
    def slowest_stage(self) -> str | None:
        """The stage of :attr:`stage_seconds` busy longest: the one the others wait for.

        The stages run side by side on threads of their own, joined by bounded queues, so a run
        goes no faster than its busiest stage: speeding up another gains nothing. On a GPU the
        network's kernels run behind the host, and their time lands where the host waits for
        them (the copy of the outputs back, in ``model``).
        """
        if not self.stage_seconds:
            return None
        return max(self.stage_seconds, key=self.stage_seconds.__getitem__)

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
            "slowest_stage": self.slowest_stage,
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
    *,
    model: ModelDescriptor | None = None,
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
        model: a model already loaded, run instead of ``config.model`` (scripts that wrap a
            network, such as the benchmark's); its scale must be ``config.scale``.

    Returns:
        a :class:`RemasterResult` (frames, seconds, fps, settings, damage ...).

    Raises:
        SourceDamageError: the source is damaged and ``config.on_damage`` is ``fail``.
        VidstyleError: a subclass for each kind of bad input or failure.
    """
    config = config or RemasterConfig()
    src, dst = Path(src), Path(dst)
    started = time.perf_counter()
    reader, model, writer, noise = open_stages(src, dst, config, model=model)
    info = reader.info
    with reader, writer:
        path = FramePath.open(config, model, source_noise=noise, bits=info.bit_depth)
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
        stage_seconds=path.stage_seconds(run),
        warnings=run.warnings,
        temporal=path.temporal.report(),
        repair=path.repair_report(),
        damage=run.damage.to_dict(),
    )

