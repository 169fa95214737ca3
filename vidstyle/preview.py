"""``preview``: remaster a short range, show before | after, and estimate the whole run.

The preview video has the input as decoded (upscaled with bicubic to the output
size) on the left and the output (repaired, then through the model) on the right;
a PNG contact sheet holds a few of those pairs, and on request a second one shows
what the repair stage touched. The pace of the preview's own loop, measured by the clock,
gives an estimate of the time the whole file would take at the same settings.

The repair stage reads frames before and after each frame it mends (a scratch it follows from
earlier frames, the flicker's window, the spots' neighbours). So that the range comes out as it
would in a run of the whole film, a preview of a video file or an image sequence also decodes and repairs the frames
the repair reads around it (:func:`vidstyle.restore.repair_context`, as a segment of a chunked
film does) and shows, measures and writes only the range's own; the repair's report counts those
frames too.
"""

from __future__ import annotations

import bisect
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from .config import RangeConfig, RemasterConfig
from .engine import FramePath, ProgressCallback, StageRun, open_stages, run_stages
from .errors import ConfigError, OutputError, VidstyleError
from .io.atomic import atomic_write
from .io.depth import to_8bit
from .io.probe import probe
from .io.reader import FrameBatch
from .io.remux import frame_time_point, frame_timestamps
from .io.sequence import is_sequence
from .io.writer import check_output_path
from .models.baseline import Bicubic
from .models.descriptor import ModelDescriptor, run_frames
from .restore import repair_context
from .temporal.metrics import MetricsAccumulator

__all__ = ["PreviewResult", "preview"]

log = logging.getLogger(__name__)

#: Pairs shown in the contact sheet.
SHEET_FRAMES = 4


@dataclass
class PreviewResult:
    """What a preview measured. ``estimated_seconds`` is for the whole input file."""

    output: Path
    sheet: Path
    frames: int
    seconds: float
    model_fps: float
    estimated_fps: float
    total_frames: int
    estimated_seconds: float
    stage_seconds: dict[str, float]
    warping_error_before: float
    """Warping error (Lai et al. 2018) of the bicubic side; flow on the input. NaN under 2 frames."""
    warping_error_after: float
    """The same for the model's output: lower is steadier."""
    temporal: dict[str, Any]
    repair: dict[str, Any]
    """What the repair stage did (:meth:`vidstyle.restore.stage.RepairStage.report`)."""
    repair_sheet: Path | None = None
    """The contact sheet of the pixels the repair replaced (``show_repair``)."""
    damage: dict[str, Any] = field(default_factory=dict)
    """What was wrong with the range's frames (:meth:`vidstyle.io.damage.DamageReport.to_dict`)."""
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "output": str(self.output),
            "sheet": str(self.sheet),
            "frames": self.frames,
            "seconds": round(self.seconds, 3),
            "model_fps": round(self.model_fps, 3),
            "estimated_fps": round(self.estimated_fps, 3),
            "total_frames": self.total_frames,
            "estimated_seconds": round(self.estimated_seconds, 1),
            "stage_seconds": {k: round(v, 3) for k, v in self.stage_seconds.items()},
            "warping_error_before": _finite(self.warping_error_before),
            "warping_error_after": _finite(self.warping_error_after),
            "temporal": self.temporal,
            "repair": self.repair,
            "repair_sheet": str(self.repair_sheet) if self.repair_sheet else None,
            "damage": self.damage,
            "warnings": self.warnings,
        }


def _finite(value: float) -> float | None:
    return None if value != value else value  # NaN (fewer than 2 frames) -> null


def preview(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    config: RemasterConfig | None = None,
    *,
    start: str | None = None,
    frames: int = 48,
    sheet: str | os.PathLike[str] | None = None,
    show_repair: bool = False,
    progress: ProgressCallback | None = None,
) -> PreviewResult:
    """Remaster ``frames`` frames from ``start`` into a side-by-side video and a contact sheet.

    Args:
        src: input video.
        dst: the side-by-side video (input | output, twice the output width).
        config: model and encoding settings; its range is replaced by start/frames.
        start: where to begin (``HH:MM:SS.mmm``, seconds or ``f123``); the beginning if None.
        frames: how many frames to process.
        sheet: the PNG contact sheet; ``dst`` with a .png extension if None.
        show_repair: also write ``SHEET-repair.png``: the same frames as decoded, the pixels the
            repair stage replaced (dust, dirt, scratches) drawn over them in red.
    """
    config = config or RemasterConfig()
    config = replace(config, range=RangeConfig(start=start, frames=frames))
    src, dst = Path(src), Path(dst)
    sheet = Path(sheet) if sheet is not None else dst.with_suffix(".png")
    if sheet.suffix.lower() != ".png":
        raise OutputError(f"the contact sheet must be a .png file, got {sheet.name}")
    check_output_path(sheet, src=src, overwrite=config.overwrite)
    if show_repair and not config.repair.active:
        raise ConfigError("--show-repair needs the repair stage: --repair auto (the default), with a part or more")
    repair_sheet = sheet.with_name(f"{sheet.stem}-repair.png") if show_repair else None
    if repair_sheet is not None:
        check_output_path(repair_sheet, src=src, overwrite=config.overwrite)

    started = time.perf_counter()
    window = _Context.around(src, config, frames)
    with _each_message_once():  # a range run twice would say twice what is wrong with the file
        try:
            run, sides, pace, path, info = _run(src, dst, config, window, frames, started, progress)
        except _ContextMismatch as ex:  # the file's packets and its decoded frames disagree: a damaged file
            log.info("preview: %s; the range is run without the repair's context", ex)
            window = None
            run, sides, pace, path, info = _run(src, dst, config, window, frames, started, progress)
    pace.end()
    if run.warmup + run.cooldown:
        # The repair's context was run but not encoded; a run of the whole file encodes every frame.
        pace.unencoded(run.warmup + run.cooldown, run.stage_seconds["encode"] / max(run.frames, 1))
    _write_sheet(sheet, sides.pairs)
    if repair_sheet is not None:
        _write_sheet(repair_sheet, sides.touched)
    seconds = time.perf_counter() - started
    done, model_seconds = run.frames, run.stage_seconds["model"]
    processed = run.frames + run.warmup + run.cooldown  # the model ran on the repair's context too
    stage = {
        "decode": run.stage_seconds["decode"],
        "model": model_seconds,
        "before_side": run.compose_seconds,
        "encode": run.stage_seconds["encode"],
    }
    per_frame = pace.per_frame()
    estimated_fps = 1.0 / per_frame if per_frame > 0 else float("inf")
    total = info.frame_count
    return PreviewResult(
        output=dst,
        sheet=sheet,
        frames=done,
        seconds=seconds,
        model_fps=processed / max(model_seconds, 1e-9),
        estimated_fps=estimated_fps,
        total_frames=total,
        estimated_seconds=pace.startup + total * per_frame,
        stage_seconds=stage,
        warping_error_before=sides.steadiness["before"].warping_error,
        warping_error_after=sides.steadiness["after"].warping_error,
        temporal=path.temporal.report(),
        repair=_with_context(path.repair_report(), run.warmup + run.cooldown),
        repair_sheet=repair_sheet,
        damage=run.damage.to_dict(),
        warnings=run.warnings,
    )


@contextmanager
def _each_message_once() -> Iterator[None]:
    """While it lasts, a log message already shown (the same logger, level and text) is not shown again: the
    handlers of the root and ``vidstyle`` loggers get a filter, taken off after."""
    seen: set[tuple[str, int, str]] = set()

    def once(record: logging.LogRecord) -> bool:
        key = (record.name, record.levelno, record.getMessage())
        if key in seen:
            return False
        seen.add(key)
        return True

    handlers = [h for name in (None, "vidstyle") for h in logging.getLogger(name).handlers]
    for handler in handlers:
        handler.addFilter(once)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(once)


def _with_context(report: dict[str, Any], frames: int) -> dict[str, Any]:
    """The repair's report, with ``context_frames``: the frames it read around the range and counted too."""
    return {**report, "context_frames": frames} if frames else report


class _Pace:
    """The clock of preview's loop, for the estimate of a whole run.

    The stages overlap, but on a CPU they also share the cores with each other and with the
    keyframe threads of ``--temporal reuse``, whose work no stage's busy time shows: the
    slowest stage's busy time, which the estimate used to be, came out about twice too
    optimistic on two cores. So the wall clock is read instead, from the end of the first batch
    (model loading, warm-up and the pipeline filling up are ``startup``, paid once) to the end of
    the encode, less the time the calling thread spent on work only a preview does (the bicubic
    side, the steadiness measures). The preview also encodes frames twice as wide as a run;
    that is left in, so the estimate errs on the long side (measured on two loaded cores: 1.0x
    to 1.4x the time the run took).
    """

    def __init__(self, started: float) -> None:
        self.started = started
        self.startup = 0.0
        self.frames = 0
        self.first_frames = 0
        self.first_done: float | None = None
        self.ended: float | None = None
        self.encode_owed = 0.0  # encoder seconds a whole run would spend on frames run here but not encoded
        self.preview_only = 0.0  # seconds of the calling thread in preview-only work, after the first batch

    @contextmanager
    def preview_work(self) -> Iterator[None]:
        """Time a block of preview-only work on the calling thread (counted after the first batch)."""
        tick = time.perf_counter()
        try:
            yield
        finally:
            if self.first_done is not None:
                self.preview_only += time.perf_counter() - tick

    def batch(self, frames: int) -> None:
        """A batch of ``frames`` was written."""
        self.frames += frames
        if self.first_done is None:
            self.first_done = time.perf_counter()
            self.first_frames = frames
            self.startup = self.first_done - self.started

    def end(self) -> None:
        self.ended = time.perf_counter()

    def unencoded(self, frames: int, encode_seconds: float) -> None:
        """``frames`` of those run were not encoded (the repair's context around the range), where a whole
        run spends ``encode_seconds`` a frame encoding: their share of that is added to the pace."""
        self.encode_owed += frames * encode_seconds

    def per_frame(self) -> float:
        """Seconds a whole run spends per frame."""
        if self.first_done is None or self.ended is None:
            return 0.0
        owed = self.encode_owed / max(self.frames, 1)
        if self.frames <= self.first_frames:  # a single batch has no steady pace: all of it counts
            seconds, self.startup = self.ended - self.started, 0.0
            return seconds / max(self.frames, 1) + owed
        seconds = self.ended - self.first_done - self.preview_only
        return max(seconds, 0.0) / (self.frames - self.first_frames) + owed


class _ContextMismatch(Exception):
    """The frames a preview kept are not those its context promised (a file whose timestamps are damaged)."""


def _run(src: Path, dst: Path, config: RemasterConfig, window: _Context | None, frames: int, started: float,
         progress: ProgressCallback | None):
    """The preview's run of the engine's loop: ``(run, sides, pace, path, info)``. With ``window``, the repair's
    context around the range is run, not written; :class:`_ContextMismatch` (nothing written) where the frames
    kept are not the range's."""
    if window is not None:
        config = replace(config, range=window.range)
    reader, model, writer, noise = open_stages(src, dst, config, width_factor=2)
    expected = window.frames if window is not None else reader.expected_frames or frames
    sides = _SideBySide(ModelDescriptor("bicubic", Bicubic(scale=config.scale), config.scale).to(model.device),
                        expected, repairing=config.repair.active, offset=window.before if window else 0)
    pace = _Pace(started)

    def check(run: StageRun) -> None:
        if window is not None and (run.warmup, run.frames) != (window.before, window.frames):
            raise _ContextMismatch(f"{run.warmup} frames before the range and {run.frames} in it, expected "
                                   f"{window.before} and {window.frames}")

    with reader, writer:
        path = FramePath.open(config, model, observer=sides.observe, source_noise=noise,
                              bits=reader.info.bit_depth)

        def compose(batch: FrameBatch, after: np.ndarray) -> np.ndarray:
            with pace.preview_work():
                return sides.compose(batch, after)

        def on_batch(batch: FrameBatch, after: np.ndarray, side: np.ndarray) -> None:
            with pace.preview_work():
                sides.measure(batch, after, side)
            pace.batch(len(batch))

        run = run_stages(reader, path.run, writer, batches=path.batches(reader, depth=config.queue_depth),
                         progress=progress, total=expected, compose=compose, on_batch=on_batch,
                         keep_from=window.keep_from if window else None,
                         keep_until=window.keep_until if window else None, before_commit=check)
    return run, sides, pace, path, reader.info


@dataclass(frozen=True)
class _Context:
    """A preview's range widened by the frames the repair reads around it."""

    range: RangeConfig  # what is decoded
    before: int  # frames decoded before the range's first
    frames: int  # the range's own frames
    keep_from: int  # source pts of the range's first frame
    keep_until: int | None  # source pts of the first frame after it; None at the end of the file

    @classmethod
    def around(cls, src: Path, config: RemasterConfig, frames: int) -> _Context | None:
        """The context of ``config.range`` (a start and ``frames``) in the video file or image sequence ``src``;
        None when the repair is off or reads no frame around, or where the file's packets (the sequence's files)
        do not say where the range lies (the reader then reports what is wrong with it)."""
        before, after = repair_context(config.repair) if config.repair.active else (0, 0)
        if (before, after) == (0, 0):
            return None
        sequence = is_sequence(src)
        try:
            info = probe(src, fps=config.fps) if sequence else probe(src)
            start = config.range.start
            by_time = start is not None and start.frame is None
            if by_time:
                rate = float(info.fps) if info.fps else 25.0
                upto = int(float(start.seconds) * rate * 1.1) + frames + after + 16
            else:
                first = start.frame if start is not None else 0
                upto = first + frames + after
            # libav's image2 demuxer stamps a sequence's frames 0, 1, 2 ... at its rate (io.sequence)
            timestamps = list(range(info.frame_count or 0)) if sequence else frame_timestamps(src, upto=upto)
            if by_time:
                times = [(t - info.start_pts) * info.time_base for t in timestamps]
                first = bisect.bisect_left(times, start.seconds)
        except (VidstyleError, av.FFmpegError, OSError, ValueError, ArithmeticError) as ex:
            log.info("preview: no repair context (%s)", ex)
            return None
        if first >= len(timestamps) or first + frames > len(timestamps):
            return None
        end = first + frames
        decode_start, decode_end = max(0, first - before), min(len(timestamps), end + after)
        return cls(range=RangeConfig(start=frame_time_point(info, timestamps, decode_start),
                                     end=frame_time_point(info, timestamps, decode_end)
                                     if decode_end < len(timestamps) else None),
                   before=first - decode_start, frames=frames, keep_from=timestamps[first],
                   keep_until=timestamps[end] if end < len(timestamps) else None)


class _SideBySide:
    """Preview's hooks on the engine's loop: the input (bicubic) beside the output, measured.

    ``compose`` makes the frames written, input | output; ``measure`` adds each pair to the
    steadiness measures and keeps the pairs of the contact sheet (``picks``, frame indices).
    ``observe`` sees each frame as decoded, before the repair stage, with the mask of the pixels
    it replaced: the left side shows the input as it was, and the repair sheet the mask.
    """

    def __init__(self, before: ModelDescriptor, expected: int, *, repairing: bool, offset: int = 0) -> None:
        self.before = before
        self.repairing = repairing  # the batches hold repaired frames; the decoded ones come by observe
        # The range's own frames are run frames offset .. offset + expected - 1 (before them, the repair's context).
        self.shown = range(offset, offset + expected)
        picks = np.linspace(0, max(expected - 1, 0), num=min(SHEET_FRAMES, expected)).round().astype(int)
        self.picks = {offset + int(k) for k in picks}
        self.pairs: list[np.ndarray] = []
        self.steadiness = {"before": MetricsAccumulator(), "after": MetricsAccumulator()}
        self.decoded: dict[int, np.ndarray] = {}  # frames as decoded, until composed
        self.touched: list[np.ndarray] = []

    def observe(self, index: int, frame: np.ndarray, mask: np.ndarray) -> None:
        self.decoded[index] = frame
        if index in self.picks:
            seen = to_8bit(frame)  # the sheet is drawn at 8 bits, whatever the frames' depth
            shown = seen.copy()
            shown[mask] = (255, 0, 0)
            self.touched.append(np.concatenate([seen, shown], axis=1))

    def inputs(self, batch: FrameBatch) -> np.ndarray:
        """The batch's frames as decoded (without repair, the batch's own frames)."""
        if not self.repairing:
            return batch.frames
        return np.stack([self.decoded.pop(batch.first_index + i) for i in range(len(batch))])

    def compose(self, batch: FrameBatch, after: np.ndarray) -> np.ndarray:
        return np.concatenate([run_frames(self.before, self.inputs(batch)), after], axis=2)

    def measure(self, batch: FrameBatch, after: np.ndarray, side: np.ndarray) -> None:
        # Measured and shown at 8 bits, whatever the frames' depth.
        after, side, sources = to_8bit(after), to_8bit(side), to_8bit(batch.frames)
        bicubic = np.ascontiguousarray(side[:, :, : after.shape[2]])  # the left half, as computed
        for i, (source, left, right) in enumerate(zip(sources, bicubic, after)):
            if batch.first_index + i in self.shown:
                self.steadiness["before"].add(left, guide=source)
                self.steadiness["after"].add(right, guide=source)
        for i in range(len(batch)):
            if batch.first_index + i in self.picks:
                self.pairs.append(side[i].copy())


def _write_sheet(path: Path, pairs: list[np.ndarray], max_width: int = 1600) -> None:
    """Stack before | after pairs into one PNG, each row at most ``max_width`` wide."""
    rows = []
    for pair in pairs:
        h, w = pair.shape[:2]
        if w > max_width:
            pair = cv2.resize(pair, (max_width, round(h * max_width / w)), interpolation=cv2.INTER_AREA)
        rows.append(pair)
    sheet = np.concatenate(rows, axis=0)
    with atomic_write(path) as tmp:
        if not cv2.imwrite(str(tmp), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR)):
            raise OutputError(f"cannot write the contact sheet {path}")
