"""What ``--temporal reuse`` (the default for our models) costs the picture, on TRAINING material only.

The frames between keyframes are not run through the whole generator: the keyframe's features and
residual are warped onto them and the fusion corrects the residual (:mod:`vidstyle.temporal.reuse`).
Nothing in training measured how close that comes to the whole generator: the training's evaluation
runs every frame on its own. This script does, on bikes.mp4 and bigbuckbunny.mp4 frames before their
held-out ranges, under three conditions: ``clean`` (area x2 only: whatever reuse loses is harm),
``reel`` (a FilmDegrader with the benchmark's REEL_DAMAGE and a training seed: the project's own
damage) and ``independent`` (pipelines/independent_damage.py with a training seed: damage training
never uses). Two measurements:

* ``frames``: on each frame between keyframes (the planner's own keyframes, interval 4), PSNR-Y
  against the clean frame of the whole generator (``off``), of the keyframe's residual warped alone
  and of the fusion's output, before any blending; quick, and it isolates the fusion;
* ``end``: the whole pipeline (:func:`vidstyle.remaster`, FFV1), ``--temporal off`` against
  ``reuse``, every frame, with its blending (and ``--repair off``: the network's own share of what a
  user gets); PSNR-Y, and the flicker (mean change of mean luma between frames) as a multiple of the
  clean frames'.

    python -m pipelines.reuse_check frames end --model remaster-x2
    python -m pipelines.reuse_check frames --model /tmp/txp/remaster-x2.safetensors
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import torch

from pipelines import independent_damage
from pipelines.benchmark.footage import decode
from pipelines.benchmark.harness import write_lossless
from pipelines.benchmark.library import HELD_OUT_CLIP_FRAMES
from pipelines.benchmark.temporal import REEL_DAMAGE
from vidstyle import EncodeConfig, RemasterConfig, remaster
from vidstyle.config import RepairConfig, TemporalConfig
from vidstyle.damage.degrade import FilmDegrader
from vidstyle.models.descriptor import frames_to_tensor
from vidstyle.models.registry import load_model
from vidstyle.temporal.cells import half_size
from vidstyle.temporal.device import flows_at, upload_flows
from vidstyle.temporal.flow import FlowEstimator
from vidstyle.temporal.metrics import flicker
from vidstyle.temporal.plan import KeyframePlanner
from vidstyle.temporal.warp import warp, warp_shuffled
from vidstyle.train.data import clip_frames, restoration_target

#: Training frames measured, (clip, first, end): both before the clip's held-out range.
CLIPS = (("bigbuckbunny.mp4", 40, 80), ("bikes.mp4", 100, 140))
#: The FilmDegrader's seed and the independent damage's (the benchmark draws its own).
REEL_SEED, INDEPENDENT_SEED = 7, 11
KEYFRAME_INTERVAL = 4
#: Pixels cropped at each border of the output before PSNR (the warp's edge is not the question).
BORDER = 4
_LUMA = (0.299, 0.587, 0.114)


def conditions(clip: str, first: int, end: int) -> Iterator[tuple[str, list[np.ndarray], list[np.ndarray]]]:
    """(condition, low-resolution frames, clean reference frames) for the clip's ``[first, end)``."""
    held_out = HELD_OUT_CLIP_FRAMES[clip][0]
    if end > held_out:
        raise ValueError(f"{clip} frames [{first}, {end}) reach its held-out range (from {held_out})")
    full = [np.ascontiguousarray(f) for f in clip_frames(clip)[first:end]]
    reference = [restoration_target(f, REEL_DAMAGE) for f in full]
    yield "clean", independent_damage.clean_clip(reference, 2), reference
    degrader = FilmDegrader(REEL_DAMAGE, seed=REEL_SEED, height=full[0].shape[0], width=full[0].shape[1])
    yield "reel", [degrader.degrade(f) for f in full], reference
    yield "independent", independent_damage.damage_clip(full, scale=2, seed=INDEPENDENT_SEED), full


def psnr(mse: float) -> float:
    return float(10.0 * np.log10(255.0**2 / max(mse, 1e-12)))


@torch.inference_mode()
def between_keyframes(model_name: str, low: list[np.ndarray], reference: list[np.ndarray]) -> dict[str, float]:
    """Mean squared luma error (8-bit levels) over the frames between keyframes: the whole generator
    (``off``), the keyframe's residual warped alone (``warped``) and the fusion's output (``fused``)."""
    model = load_model(model_name, scale=2)
    g, s = model.module.eval(), model.scale
    picture = model.temporal.residual_warp == "picture"
    defaults = TemporalConfig()  # the flow a run computes
    planner = KeyframePlanner("reuse", KEYFRAME_INTERVAL, FlowEstimator(defaults.flow_preset, defaults.flow_downscale))
    h, w = low[0].shape[:2]
    luma = torch.tensor(_LUMA).view(1, 3, 1, 1)
    errors: dict[str, list[float]] = {"off": [], "warped": [], "fused": []}
    features = residual = None
    for frame, clean in zip(low, reference):
        plan = planner.plan(frame)
        x = model.pad(frames_to_tensor(np.array(frame[None]), model.device)).contiguous()
        if plan.keyframe:
            features = g.encode(x)
            residual = g.residual(features)
            continue
        flows, masks = upload_flows([plan.flow], model.device)
        flow, mask = flows_at(flows, masks, half_size(h, w), features.shape[-2:], on_remap_grid=True)
        warped = warp_shuffled(residual, flow, 2 * s) if picture else warp(residual, flow)
        target = frames_to_tensor(np.array(clean[None]), model.device)
        fused = g.propagate(warp(features, flow), warped, x, mask)
        for key, res in (("off", g.residual(g.encode(x))), ("warped", warped), ("fused", fused)):
            out = g.finish(res, x).clamp(0, 1)[..., : h * s, : w * s]
            diff = ((out - target) * luma).sum(1) * 255.0
            errors[key].append(float(diff[..., BORDER:-BORDER, BORDER:-BORDER].pow(2).mean()))
    return {k: float(np.mean(v)) for k, v in errors.items()}


def _luma(frame: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(frame, cv2.COLOR_RGB2YCrCb)[BORDER:-BORDER, BORDER:-BORDER, 0].astype(np.float64)


def end_to_end(model_name: str, low: list[np.ndarray], reference: list[np.ndarray],
               tmp: Path) -> dict[str, tuple[float, float]]:
    """PSNR-Y (mean over every frame) and flicker (:func:`~vidstyle.temporal.metrics.flicker`, levels)
    of the whole pipeline, ``--temporal off`` and ``reuse``; the reference's own flicker as ``clean``."""
    src = write_lossless(tmp / "in.mkv", low, Fraction(24))
    result = {"clean": (float("inf"), flicker(reference))}
    for mode in ("off", "reuse"):
        out = tmp / f"{mode}.mkv"
        out.unlink(missing_ok=True)
        # --repair off: the figures are the network's and its reuse's, as before the repair was on by default.
        remaster(src, out, RemasterConfig(scale=2, model=model_name, encode=EncodeConfig(codec="ffv1"),
                                          temporal=TemporalConfig(mode=mode, keyframe_interval=KEYFRAME_INTERVAL),
                                          repair=RepairConfig("off")))
        outputs = decode(out)
        result[mode] = (float(np.mean([psnr(float(np.mean((_luma(o) - _luma(r)) ** 2)))
                                       for o, r in zip(outputs, reference)])), flicker(outputs))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("parts", nargs="+", choices=("frames", "end"))
    parser.add_argument("--model", default="remaster-x2", help="a shipped name or a .safetensors path")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"model: {args.model}; training frames {', '.join(f'{c} [{a}, {b})' for c, a, b in CLIPS)}")
    for clip, first, end in CLIPS:
        for condition, low, reference in conditions(clip, first, end):
            line = f"{clip:17s} {condition:11s}"
            if "frames" in args.parts:
                e = {k: psnr(v) for k, v in between_keyframes(args.model, low, reference).items()}
                line += (f" | between keyframes, PSNR-Y dB: off {e['off']:.2f}, warped {e['warped']:.2f}, "
                         f"fused {e['fused']:.2f} ({e['fused'] - e['off']:+.2f})")
            if "end" in args.parts:
                with tempfile.TemporaryDirectory() as tmp:
                    e = end_to_end(args.model, low, reference, Path(tmp))
                (off, off_flicker), (reuse, reuse_flicker) = e["off"], e["reuse"]
                line += (f" | end to end, PSNR-Y dB: off {off:.2f}, reuse {reuse:.2f} ({reuse - off:+.2f}); "
                         f"flicker / the clean frames': off {off_flicker / e['clean'][1]:.2f}x, "
                         f"reuse {reuse_flicker / e['clean'][1]:.2f}x")
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
