"""The batch driver: many films, crash-safe and resumable, on a process pool or a Ray cluster.

One process, the driver, owns the manifest (:mod:`.manifest`) and makes every decision; workers
(:mod:`.backends`) only turn a film, or a segment of a long film, into a file. The order of
events for a unit of work is what makes a crash at any moment harmless:

1. the manifest marks the unit ``running`` (committed);
2. the worker writes a temporary file and renames it into place when it is complete;
3. the driver checks the file (it opens, and has the frame count of its input, counted from the
   packets, less the frames of a damaged source that failed to decode and were left out) and marks
   the unit ``done`` (committed), with the source's damage when it had some: done with damage.

Killed between 1 and 2, the next run finds the unit ``running``, removes the temporary file and
does it again. Killed between 2 and 3, it finds a complete file, checks it, and marks it done
without redoing it. A long film is split at keyframes into segments (:mod:`.segments`); when the
last of them is done the driver joins them by stream copy, with the sound muxed once from the
source, and the segment files go. An image sequence is one film, counted from its files, changed
when any of its files is, and never split.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import math
import os
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..config import RangeConfig, RemasterConfig
from ..errors import (
    BatchInterrupted,
    ConfigError,
    InputError,
    OutputError,
    VidstyleError,
    signal_number,
    stop_reason,
)
from ..io.atomic import leftover_partials, sweep_partials, write_text_atomic
from ..io.damage import DamageReport, combine_damage
from ..io.probe import probe
from ..io.remux import frame_timestamps, join_segments, keyframe_indices
from ..io.sequence import find_sequence, is_sequence
from ..io.writer import check_output_folder, check_output_path, claim_path
from ..restore import repair_context
from ..version import __version__
from .backends import BACKENDS, Backend, Unit, open_backend, unit_for
from .discover import Job
from .manifest import MANIFEST_NAME, JobRow, JobSpec, Manifest, settings_hash
from .segments import Segment, plan_segments

__all__ = ["BatchConfig", "BatchReport", "REPORT_NAME", "WORK_DIR", "remaster_chunked", "run_batch",
           "segments_for", "write_report"]

log = logging.getLogger(__name__)

#: The JSON report and the folder of segment files, in the output folder.
REPORT_NAME = "vidstyle-batch.json"
WORK_DIR = ".vidstyle-work"
_LOCK_NAME = ".vidstyle-batch.lock"

#: Called with a line of news (a job done or failed) and (frames done, frames expected).
NewsCallback = Callable[[str], None]
ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class BatchConfig:
    """How a batch runs (what each film becomes is the :class:`RemasterConfig`)."""

    jobs: int = 1
    """Films (or segments) processed at once; torch threads per job = cores / jobs."""
    backend: str = "local"
    address: str | None = None
    """Ray cluster to join (``auto``, ``ray://host:port``); None starts a local Ray."""
    retries: int = 1
    """Further attempts at a film or segment that failed, in the same run."""
    chunks: int | None = None
    """Split every film into this many segments; None: only films longer than 1.5 x
    ``chunk_seconds``, into segments of about that length."""
    chunk_seconds: float = 600.0
    warmup: int | None = None
    """Frames run before each segment for the temporal state and dropped; None: the keyframe
    interval of the temporal settings."""
    overwrite: bool = False
    """Replace outputs that exist but were not made by this batch."""

    def __post_init__(self) -> None:
        if self.jobs < 1:
            raise ConfigError(f"--jobs must be 1 or more, got {self.jobs}")
        if self.backend not in BACKENDS:
            raise ConfigError(f"unknown --backend {self.backend!r}; choose {' or '.join(BACKENDS)}")
        if self.retries < 0:
            raise ConfigError(f"--retries must be 0 or more, got {self.retries}")
        if self.chunks is not None and self.chunks < 1:
            raise ConfigError(f"--chunks must be 1 or more, got {self.chunks}")
        if not self.chunk_seconds > 0:
            raise ConfigError(f"--chunk-seconds must be positive, got {self.chunk_seconds}")
        if self.warmup is not None and self.warmup < 0:
            raise ConfigError(f"--warmup must be 0 or more, got {self.warmup}")


@dataclass
class BatchReport:
    """What a run did: a row per film, the counts, and the seconds."""

    output: Path
    rows: list[dict[str, Any]]
    counts: dict[str, int]
    seconds: float
    skipped: list[str] = field(default_factory=list)
    excluded: str | None = None
    earlier_batches: list[str] = field(default_factory=list)
    """Folders of the source left out because they hold an earlier batch's manifest."""
    warmup_frames: int = 0
    frames: int = 0

    @property
    def damaged(self) -> int:
        """Films done with damage."""
        return sum(1 for r in self.rows if r["state"] == "done" and r["damage"])

    @property
    def ok(self) -> bool:
        return self.counts.get("failed", 0) == 0 and self.counts.get("pending", 0) == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "vidstyle": __version__,
            "output": str(self.output),
            "seconds": round(self.seconds, 3),
            "counts": self.counts,
            "damaged": self.damaged,
            "frames": self.frames,
            "warmup_frames": self.warmup_frames,
            "jobs": self.rows,
            "skipped": self.skipped,
            "excluded": self.excluded,
            "earlier_batches": self.earlier_batches,
        }


def job_settings(config: RemasterConfig) -> dict[str, Any]:
    """The settings that decide what a film becomes (a change makes done films pending again)."""
    settings = config.to_dict()
    settings.pop("overwrite", None)
    settings.pop("batch_size", None)
    settings.pop("queue_depth", None)
    settings.pop("device", None)
    # What to do with damage changes nothing for a sound film; a film done with damage under
    # another choice is done again by removing its output.
    settings.pop("on_damage", None)
    if settings.get("fps") is None:  # (a video's own rate: the settings of earlier batches stay the same)
        settings.pop("fps", None)
    return settings


@contextlib.contextmanager
def batch_lock(folder: Path) -> Iterator[None]:
    """One batch at a time per output folder (the lock goes with the process, even on kill -9)."""
    path = folder / _LOCK_NAME
    handle = open(path, "a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as ex:
            raise OutputError(f"another vidstyle batch is working in {folder}; wait for it to finish") from ex
        yield
    finally:
        handle.close()


class _Driver:
    """One run of a batch (see the module docstring)."""

    def __init__(self, manifest: Manifest, jobs: list[Job], config: RemasterConfig, batch: BatchConfig,
                 work: Path, *, news: NewsCallback | None, progress: ProgressCallback | None) -> None:
        self.manifest = manifest
        self.config = config
        self.batch = batch
        self.work = work
        self.news = news or (lambda line: None)
        self.progress = progress
        self.by_input = {str(j.input): j for j in jobs}
        self.ids: list[int] = []
        self.expected: dict[int, int] = {}  # job id -> frames of its input
        self.segments: dict[int, list[Segment]] = {}
        self.parts: dict[int, dict[int, tuple[Path, int]]] = {}  # job id -> idx -> (part, first_pts)
        self.attempts: dict[tuple[int, int | None], int] = {}
        self.frames_total = 0
        self.frames_done = 0
        self.warmup_frames = 0
        self.queue: list[Unit] = []
        self.running: dict[Any, Unit] = {}
        self.partial: dict[tuple[int, int | None], int] = {}  # frames done by running units

    # -- setting up -------------------------------------------------------------------------
    def sync(self) -> None:
        """Bring the manifest up to date with the films found and the settings asked for."""
        before = {row.input for row in self.manifest.jobs()}
        settings = settings_hash(job_settings(self.config))
        specs = []
        for job in self.by_input.values():
            try:
                if is_sequence(job.input):
                    size, mtime = find_sequence(job.input).footprint()
                else:
                    stat = job.input.stat()
                    size, mtime = stat.st_size, stat.st_mtime_ns
            except (OSError, VidstyleError):  # the film fails on its own when it runs
                size, mtime = -1, 0
            specs.append(JobSpec(str(job.input), str(job.output), job.name, size, mtime, settings, None))
        self.manifest.sync(specs)
        # Still running after the sync: interrupted, and asked again with the same settings.
        self.interrupted = {row.id for row in self.manifest.jobs(["running"])}
        if self.interrupted:
            log.info("%d film(s) were interrupted by the last run; they carry on where they can",
                     len(self.interrupted))
        self.manifest.reset_interrupted()
        rows = {row.input: row for row in self.manifest.jobs()}
        for job in self.by_input.values():
            row = rows[str(job.input)]
            self.ids.append(row.id)
            self.remove_temporaries(row)
            if row.state == "done" and not Path(row.output).exists():
                log.info("%s: its output is gone; doing it again", row.name)
                self.manifest.requeue_job(row.id, reset=True)
            elif (str(job.input) not in before and Path(row.output).exists() and row.state != "done"
                  and not self.batch.overwrite):
                self.manifest.fail_job(row.id, f"output exists and was not made by this batch: {row.output} "
                                               f"(move it away, or use --overwrite)")

    def remove_temporaries(self, row: JobRow) -> None:
        """Temporary files a killed run left beside the output and in the job's segment folder
        (those of a live run are its own: :mod:`vidstyle.io.atomic`)."""
        sweep_partials(leftover_partials(claim_path(Path(row.output))))
        folder = self.work / str(row.id)
        if folder.is_dir():
            sweep_partials(folder.glob(".*.partial-*"))

    # -- planning ---------------------------------------------------------------------------
    def plan(self, row: JobRow) -> list[Unit] | None:
        """The units of a film still to do: the whole film, or its segments not done yet (none:
        only the join is left). None when the film turns out to be done."""
        src, dst = Path(row.input), Path(row.output)
        sequence = is_sequence(src)
        if sequence:  # every frame a file, counted without opening one; never split
            keyframes, count = [], find_sequence(src).count
        elif not src.is_file():
            raise VidstyleError(f"input not found: {src}")
        else:
            keyframes, count = keyframe_indices(src)
        if count == 0:
            raise VidstyleError(f"{src.name} has no video frames")
        self.expected[row.id] = count
        self.manifest.set_expected_frames(row.id, count)
        if row.id in self.interrupted and _written_since(dst, row.started) and self.check(dst, count) is None:
            # Killed after the output was renamed into place but before the manifest said so: the
            # film is complete, and it is not done again. (An output from before this attempt,
            # made with other settings, is older than its start, and is made again.)
            self.manifest.start_job(row.id)
            self.manifest.finish_job(row.id, frames=count, seconds=0.0)
            shutil.rmtree(self.work / str(row.id), ignore_errors=True)
            self.news(f"done {row.name}: finished by the last run, checked ({count} frames)")
            return None
        if sequence:
            segments = []
        else:
            info = probe(src)
            segments = self.cut(count, keyframes, float(info.fps) if info.fps else 25.0)
        jobs = self.batch.jobs
        folder = self.work / str(row.id)
        plan = [(s.first_frame, s.frames, s.warmup) for s in segments] if len(segments) > 1 else []
        if self.manifest.set_segments(row.id, plan):
            shutil.rmtree(folder, ignore_errors=True)  # parts of another plan
        if not plan:
            dst.parent.mkdir(parents=True, exist_ok=True)
            return [unit_for(row.id, src, dst, self.config, jobs=jobs)]
        self.segments[row.id] = segments
        folder.mkdir(parents=True, exist_ok=True)
        done = {s.idx: s.first_pts for s in self.manifest.segments(row.id) if s.state == "done"}
        self.parts[row.id] = {}
        units = []
        for segment in segments:
            part = folder / f"part-{segment.index:04d}{dst.suffix}"
            if (segment.index not in done and row.id in self.interrupted
                    and self.check(part, segment.frames) is None):
                # Renamed into place by the last run, which died before recording it.
                first_pts = frame_timestamps(src, segment.first_frame)[segment.first_frame]
                self.manifest.finish_segment(row.id, segment.index, path=str(part), output_frames=segment.frames,
                                             first_pts=first_pts, seconds=0.0)
                done[segment.index] = first_pts
            if segment.index in done and part.is_file():
                self.parts[row.id][segment.index] = (part, done[segment.index])
                self.frames_done += segment.frames
                continue
            self.warmup_frames += segment.warmup
            units.append(unit_for(row.id, src, part, self.config, jobs=jobs, segment=segment))
        return units

    def cut(self, count: int, keyframes: list[int], fps: float) -> list[Segment]:
        return segments_for(count, keyframes, fps, self.batch, self.config.temporal.keyframe_interval,
                            context=repair_context(self.config.repair))

    # -- running ----------------------------------------------------------------------------
    def run(self, backend: Backend) -> None:
        rows = [self.manifest.job(i) for i in self.ids]
        todo = [r for r in rows if r.state in ("pending", "failed")]
        # Films already done count towards the progress; so do films whose output exists already.
        for row in rows:
            if row.state == "done" and row.frames:
                self.frames_total += row.frames
                self.frames_done += row.frames
        for row in todo:
            if row.state == "failed":
                self.manifest.requeue_job(row.id)  # a new run gives failed films another go
            try:
                units = self.plan(row)
            except VidstyleError as ex:
                self.fail(row.id, str(ex))
                continue
            self.frames_total += self.expected[row.id]
            if units is None:
                self.frames_done += self.expected[row.id]
                continue
            if not units:  # every segment done already: only the join is left
                self.join(row.id)
            self.queue.extend(units)
        self.report_progress()
        while self.queue or self.running:
            while self.queue and len(self.running) < backend.slots:
                unit = self.queue.pop(0)
                if self.manifest.job(unit.job_id).state == "failed" and unit.segment is not None:
                    continue  # another segment of this film failed for good
                self.start(unit)
                self.running[backend.submit(unit)] = unit
            for handle, result in backend.wait(list(self.running), timeout=0.5):
                unit = self.running.pop(handle)
                self.partial.pop(unit.key, None)
                self.finished(unit, result)
            running = {u.key for u in self.running.values()}
            moved = {key: done for key, done in backend.progress().items() if key in running}
            if moved:  # (news of units that finished meanwhile is stale: dropped)
                self.partial.update(moved)
                self.report_progress()
            backend.recover()

    def start(self, unit: Unit) -> None:
        if unit.segment is None:
            self.manifest.start_job(unit.job_id)
        else:
            if self.manifest.job(unit.job_id).state != "running":
                self.manifest.start_job(unit.job_id)
            self.manifest.start_segment(unit.job_id, unit.segment.index)

    def finished(self, unit: Unit, result: dict[str, Any]) -> None:
        error = result.get("error")
        damage = result.get("damage")
        if error is None:
            frames = unit.segment.frames if unit.segment else self.expected[unit.job_id]
            error = self.check(Path(unit.output), frames - _left_out(damage))
        if error is not None:
            key = unit.key
            self.attempts[key] = self.attempts.get(key, 0) + 1
            if self.attempts[key] <= self.batch.retries and not result.get("final"):
                log.warning("%s: %s; trying again", self.name(unit.job_id), error)
                self.queue.append(unit)
                return
            if unit.segment is not None:
                self.manifest.fail_segment(unit.job_id, unit.segment.index, error)
            self.fail(unit.job_id, error if unit.segment is None else f"segment {unit.segment.index}: {error}")
            return
        seconds = float(result.get("seconds", 0.0))
        _crash_point("unit-done")
        if unit.segment is None:
            self.manifest.finish_job(unit.job_id, frames=int(result["frames"]), seconds=seconds, damage=damage)
            self.frames_done += int(result["frames"])
            self.news(f"done {self.name(unit.job_id)}: {result['frames']} frames in {seconds:.1f} s"
                      + _damage_note(damage))
            self.report_progress()
            return
        part = Path(unit.output)
        self.manifest.finish_segment(unit.job_id, unit.segment.index, path=str(part),
                                     output_frames=int(result["frames"]), first_pts=int(result["first_pts"]),
                                     seconds=seconds, damage=damage)
        self.parts[unit.job_id][unit.segment.index] = (part, int(result["first_pts"]))
        self.frames_done += int(result["frames"])
        self.report_progress()
        if len(self.parts[unit.job_id]) == len(self.segments[unit.job_id]):
            self.join(unit.job_id)

    def join(self, job_id: int) -> None:
        """All segments of a film are done: join them into its output, then drop them."""
        row = self.manifest.job(job_id)
        parts = [self.parts[job_id][i] for i in sorted(self.parts[job_id])]
        dst = Path(row.output)
        dst.parent.mkdir(parents=True, exist_ok=True)
        if row.state != "running":  # every segment was done by an earlier run
            self.manifest.start_job(job_id)
        tick = time.perf_counter()
        _crash_point("join")
        try:
            join_segments(Path(row.input), parts, dst, overwrite=True)
        except VidstyleError as ex:
            self.fail(job_id, f"joining the segments: {ex}")
            return
        segments = self.manifest.segments(job_id)
        damage = combine_damage([json.loads(s.damage) if s.damage else None for s in segments],
                                Path(row.input).name, frames=self.expected[job_id])
        damage_dict = damage.to_dict() if damage is not None else None
        frames = self.expected[job_id] - _left_out(damage_dict)
        error = self.check(dst, frames)
        if error is not None:
            self.fail(job_id, error)
            return
        _crash_point("joined")
        seconds = sum(s.seconds or 0.0 for s in segments) + time.perf_counter() - tick
        self.manifest.finish_job(job_id, frames=frames, seconds=seconds, damage=damage_dict)
        shutil.rmtree(self.work / str(job_id), ignore_errors=True)
        self.news(f"done {row.name}: {frames} frames, {len(parts)} segments joined"
                  + _damage_note(damage_dict))

    @staticmethod
    def check(path: Path, frames: int) -> str | None:
        """None when ``path`` opens and holds ``frames`` video frames; else what is wrong."""
        if not path.is_file():
            return f"no output was written at {path}"
        try:
            _, count = keyframe_indices(path)
        except VidstyleError as ex:
            return f"the output does not open: {ex}"
        if count != frames:
            return f"the output has {count} frames, the input {frames}"
        return None

    def fail(self, job_id: int, error: str) -> None:
        self.manifest.fail_job(job_id, error)
        self.news(f"failed {self.name(job_id)}: {error}")

    def name(self, job_id: int) -> str:
        row = self.manifest.job(job_id)
        return row.name or Path(row.input).name

    def report_progress(self) -> None:
        if self.progress is not None:
            self.progress(self.frames_done + sum(self.partial.values()), self.frames_total)

    def abandon(self, backend: Backend) -> None:
        """Ctrl-C (or SIGTERM, SIGHUP): stop the workers, put their units back, remove their
        temporary files."""
        backend.abandon(list(self.running))
        for unit in self.running.values():
            if unit.segment is not None:
                self.manifest.requeue_segment(unit.job_id, unit.segment.index)
            if self.manifest.job(unit.job_id).state == "running":
                self.manifest.requeue_job(unit.job_id)
        for job_id in {u.job_id for u in self.running.values()}:
            self.remove_temporaries(self.manifest.job(job_id))
        self.running.clear()


def _left_out(damage: dict[str, Any] | None) -> int:
    """Frames of a damaged source that failed to decode and are not in the output (``warn``)."""
    return DamageReport.from_dict(damage).lost if damage else 0


def _damage_note(damage: dict[str, Any] | None) -> str:
    """``"; done with damage: ..."`` for a film's line of news, or nothing for a sound one."""
    return f"; done with damage: {DamageReport.from_dict(damage).brief()}" if damage else ""


def segments_for(count: int, keyframes: list[int], fps: float, batch: BatchConfig,
                 keyframe_interval: int, *, context: tuple[int, int] = (0, 0)) -> list[Segment]:
    """The segments a film of ``count`` frames is cut into (one when it is not split).

    ``batch.chunks`` segments when given; otherwise one segment up to 1.5 x ``chunk_seconds``,
    and segments of about ``chunk_seconds`` beyond. Each segment warms up on ``batch.warmup``
    frames, by default the keyframe interval, and on at least ``context[0]`` frames; it runs
    ``context[1]`` frames past its end. ``context`` is the repair's reach
    (:func:`vidstyle.restore.repair_context`), so that a film repaired in segments is repaired
    as in one run.
    """
    before, after = context
    warmup = max(batch.warmup if batch.warmup is not None else keyframe_interval, before)
    if batch.chunks is not None:
        return plan_segments(count, keyframes, chunks=batch.chunks, warmup=warmup, cooldown=after)
    target = max(1, math.ceil(batch.chunk_seconds * fps))
    if count <= 1.5 * target:
        return plan_segments(count, keyframes, chunks=1, warmup=warmup, cooldown=after)
    return plan_segments(count, keyframes, target_frames=target, warmup=warmup, cooldown=after)


def _written_since(path: Path, started: float | None) -> bool:
    """Whether ``path`` was last written after ``started`` (a ``time.time()``), give or take the
    coarse clock of file timestamps (a few milliseconds)."""
    try:
        return started is not None and path.stat().st_mtime >= started - 0.02
    except OSError:
        return False


def _crash_point(name: str) -> None:
    """Die here, as kill -9 would, when the tests ask for it (``VIDSTYLE_TEST_CRASH=name``).

    The points are the moments between a file appearing and the manifest recording it, which a
    test cannot hit from outside by timing alone: ``unit-done`` (a film or segment file renamed
    into place, not yet recorded), ``join`` (every segment done, not yet joined) and ``joined``
    (the output joined, not yet recorded).
    """
    if os.environ.get("VIDSTYLE_TEST_CRASH") == name:
        os.kill(os.getpid(), signal.SIGKILL)


def run_batch(
    jobs: list[Job],
    output_root: Path,
    config: RemasterConfig,
    batch: BatchConfig,
    *,
    manifest_path: Path | None = None,
    resume: bool = False,
    news: NewsCallback | None = None,
    progress: ProgressCallback | None = None,
) -> BatchReport:
    """Process ``jobs`` (from :func:`~.discover.discover`) into their outputs.

    Args:
        jobs: the films and their outputs.
        output_root: the output folder: the manifest, the report and the segment files live here.
        config: what each film becomes (range and overwrite are ignored).
        batch: how the work runs.
        manifest_path: the manifest (default ``output_root/vidstyle-batch.sqlite``).
        resume: carry on with a batch whose manifest exists already.
        news: called with a line when a film is done or fails.
        progress: called with (frames done, frames to do) as units finish.

    Returns:
        a :class:`BatchReport`; failed films are in it, they do not raise.

    Raises:
        ConfigError: a manifest exists and ``resume`` is False, or bad settings.
        ManifestError: the manifest is corrupt or from another version.
        OutputError: the output folder cannot be made or written to.
        BatchInterrupted: Ctrl-C, SIGTERM or SIGHUP; the running work was put back, nothing half-done is left.
    """
    tick = time.perf_counter()
    prepare_output_folder(output_root)
    manifest_path = manifest_path or output_root / MANIFEST_NAME
    existed = manifest_path.exists()
    with batch_lock(manifest_path.parent), Manifest.open(manifest_path) as manifest:
        if existed and not resume and manifest.jobs():
            counts = manifest.counts()
            raise ConfigError(
                f"{manifest_path.parent} holds a batch already ({counts['done']} done, "
                f"{counts['pending'] + counts['running'] + counts['failed']} not); add --resume to carry on with it"
            )
        config = replace(config, range=RangeConfig(), overwrite=True)
        driver = _Driver(manifest, jobs, config, batch, manifest_path.parent / WORK_DIR,
                         news=news, progress=progress)
        driver.sync()
        backend = open_backend(batch.backend, batch.jobs, address=batch.address)
        try:
            driver.run(backend)
        except KeyboardInterrupt as ex:  # Ctrl-C, or SIGTERM and SIGHUP (errors.Terminated)
            driver.abandon(backend)
            counts = manifest.counts()
            raise BatchInterrupted(
                f"{stop_reason(signal_number(ex))}: {counts['done']} done, "
                f"{counts['pending'] + counts['running']} left; nothing half-done was kept. "
                f"Run the same command with --resume to carry on", signum=signal_number(ex)
            ) from None
        finally:
            backend.close()
        rows = [manifest.job(i) for i in driver.ids]
        counts = {state: sum(r.state == state for r in rows) for state in ("done", "failed", "pending", "running")}
        work = manifest_path.parent / WORK_DIR
        if work.is_dir() and not any(work.iterdir()):
            work.rmdir()
        return BatchReport(
            output=output_root,
            rows=[row_dict(r) for r in rows],
            counts=counts,
            seconds=time.perf_counter() - tick,
            warmup_frames=driver.warmup_frames,
            frames=sum(r.frames or 0 for r in rows if r.state == "done"),
        )


def prepare_output_folder(folder: Path) -> None:
    """Make the output folder of a batch, or refuse one that cannot be written, before any work.

    Raises:
        OutputError: the folder cannot be made, is a file, or is not writable.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError as ex:
        raise OutputError(f"output folder is a file: {folder}") from ex
    except OSError as ex:
        raise OutputError(f"cannot make the output folder {folder}: {ex.strerror}") from ex
    check_output_folder(folder)


def row_dict(row: JobRow) -> dict[str, Any]:
    """A manifest row for reports."""
    return {
        "name": row.name,
        "input": row.input,
        "output": row.output,
        "state": row.state,
        "attempts": row.attempts,
        "frames": row.frames,
        "seconds": None if row.seconds is None else round(row.seconds, 3),
        "fps": round(row.frames / row.seconds, 3) if row.frames and row.seconds else None,
        "segments": row.segments,
        "error": row.error,
        "expected_frames": row.expected_frames,
        "damage": json.loads(row.damage) if row.damage else None,
    }


def write_report(report: BatchReport, path: Path) -> None:
    """The JSON report, written whole or not at all."""
    write_text_atomic(path, json.dumps(report.to_dict(), indent=2) + "\n")


def remaster_chunked(
    src: Path,
    dst: Path,
    config: RemasterConfig,
    batch: BatchConfig,
    *,
    news: NewsCallback | None = None,
    progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """One film split at keyframes into segments that run in parallel (``remaster --chunks``).

    The manifest and the segment files live in a hidden folder beside ``dst``
    (``.NAME.vidstyle``): the same command run again after a crash keeps the segments that were
    done. The folder goes when the film is done.

    Returns:
        the film's row of the batch report (frames, seconds, segments ...), with ``warnings``:
        a line when the film was cut into fewer segments than ``batch.chunks`` (segments start
        at keyframes, and a short film has few).
    Raises:
        VidstyleError: the film failed (the message says why).
        BatchInterrupted: Ctrl-C, SIGTERM or SIGHUP; the segments done are kept for the next run
            of the same command.
    """
    if not config.range.is_full:
        raise ConfigError("--chunks processes whole files; leave out --start, --end and --frames")
    src, dst = Path(src), Path(dst)
    if is_sequence(src):
        raise ConfigError("--chunks splits a video file at its keyframes; an image sequence runs in one piece "
                          "(leave out --chunks)")
    if not src.is_file():
        raise InputError(f"input not found: {src}")
    check_output_path(dst, src=src, overwrite=config.overwrite)
    work = dst.parent / f".{dst.name}.vidstyle"
    work.mkdir(exist_ok=True)
    job = Job(src.resolve(), dst.resolve(), src.name)
    try:
        report = run_batch([job], work, config, replace(batch, overwrite=config.overwrite),
                           manifest_path=work / MANIFEST_NAME, resume=True, news=news, progress=progress)
    except BatchInterrupted as ex:
        # remaster carries on by itself (there is no --resume to add): say so, and what is kept.
        raise BatchInterrupted(f"{stop_reason(ex.signum)}: {_segments_kept(work)}; nothing half-done was kept. "
                               f"Run the same command again to carry on", signum=ex.signum) from None
    row = report.rows[0]
    if row["state"] != "done":
        raise VidstyleError(row["error"] or f"{src.name} was not finished")
    shutil.rmtree(work, ignore_errors=True)
    made = row["segments"] or 1
    row["warnings"] = []
    if batch.chunks is not None and made < batch.chunks:
        keyframes, count = keyframe_indices(src)
        row["warnings"].append(
            f"--chunks {batch.chunks}: {src.name} was cut into {made} of the {batch.chunks} segments asked: "
            f"segments start at keyframes, and it has keyframes at frames {_listed(keyframes)} of {count}")
    return row


def _segments_kept(work: Path) -> str:
    """How many segments of the one film in ``work`` are done, for the message of an interruption."""
    try:
        with Manifest.open(work / MANIFEST_NAME, create=False, readonly=True) as manifest:
            segments = [s for job in manifest.jobs() for s in manifest.segments(job.id)]
    except VidstyleError:
        return "no segment was done"
    done = sum(s.state == "done" for s in segments)
    return f"{done} of {len(segments)} segments done and kept" if segments else "no segment was done"


def _listed(values: list[int], most: int = 6) -> str:
    """``0, 250`` or ``0, 10, 20, 30, 40, 50 ...``."""
    return ", ".join(map(str, values[:most])) + (" ..." if len(values) > most else "")
