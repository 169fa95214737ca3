"""``preview``: remaster a short range, show before | after, and estimate the whole run.

The preview video has the input as decoded (upscaled with bicubic to the output
size) on the left and the output (repaired, then through the model) on the right;
a PNG contact sheet holds a few of those pairs, and on request a second one shows
what the repair stage touched. The pace of the preview's own loop, measured by the clock,
gives an estimate of the time the whole file would take at the same settings.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .config import RangeConfig, RemasterConfig
from .engine import FramePath, ProgressCallback, open_stages, run_stages
from .errors import ConfigError, OutputError
from .io.atomic import atomic_write
from .io.depth import to_8bit
from .io.reader import FrameBatch
from .io.writer import check_output_path
from .models.baseline import Bicubic
from .models.descriptor import ModelDescriptor, run_frames
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
    reader, model, writer, noise = open_stages(src, dst, config, width_factor=2)
    expected = reader.expected_frames or frames
    sides = _SideBySide(ModelDescriptor("bicubic", Bicubic(scale=config.scale), config.scale).to(model.device),
                        expected, repairing=config.repair.active)
    pace = _Pace(started)
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
                         progress=progress, total=expected, compose=compose, on_batch=on_batch)
    pace.end()
    _write_sheet(sheet, sides.pairs)
    if repair_sheet is not None:
        _write_sheet(repair_sheet, sides.touched)
    seconds = time.perf_counter() - started
    done, model_seconds = run.frames, run.stage_seconds["model"]
    stage = {
        "decode": run.stage_seconds["decode"],
        "model": model_seconds,
        "before_side": run.compose_seconds,
        "encode": run.stage_seconds["encode"],
    }
    per_frame = pace.per_frame()
    estimated_fps = 1.0 / per_frame if per_frame > 0 else float("inf")
    total = reader.info.frame_count
    return PreviewResult(
        output=dst,
        sheet=sheet,
        frames=done,
        seconds=seconds,
        model_fps=done / max(model_seconds, 1e-9),
        estimated_fps=estimated_fps,
        total_frames=total,
        estimated_seconds=pace.startup + total * per_frame,
        stage_seconds=stage,
        warping_error_before=sides.steadiness["before"].warping_error,
        warping_error_after=sides.steadiness["after"].warping_error,
        temporal=path.temporal.report(),
        repair=path.repair_report(),
        repair_sheet=repair_sheet,
        damage=run.damage.to_dict(),
        warnings=run.warnings,
    )


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

    def per_frame(self) -> float:
        """Seconds a whole run spends per frame."""
        if self.first_done is None or self.ended is None:
            return 0.0
        if self.frames <= self.first_frames:  # a single batch has no steady pace: all of it counts
            seconds, self.startup = self.ended - self.started, 0.0
            return seconds / max(self.frames, 1)
        seconds = self.ended - self.first_done - self.preview_only
        return max(seconds, 0.0) / (self.frames - self.first_frames)


class _SideBySide:
    """Preview's hooks on the engine's loop: the input (bicubic) beside the output, measured.

    ``compose`` makes the frames written, input | output; ``measure`` adds each pair to the
    steadiness measures and keeps the pairs of the contact sheet (``picks``, frame indices).
    ``observe`` sees each frame as decoded, before the repair stage, with the mask of the pixels
    it replaced: the left side shows the input as it was, and the repair sheet the mask.
    """

    def __init__(self, before: ModelDescriptor, expected: int, *, repairing: bool) -> None:
        self.before = before
        self.repairing = repairing  # the batches hold repaired frames; the decoded ones come by observe
        self.picks = set(np.linspace(0, max(expected - 1, 0), num=min(SHEET_FRAMES, expected)).round().astype(int))
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
        for source, left, right in zip(sources, bicubic, after):
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
