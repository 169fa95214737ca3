"""pipelines/repair_missed.py: every drawn speck lands in one class, and the classes say what the stage did."""

from __future__ import annotations

import cv2
import numpy as np
from conftest import moving_crops
from skimage import data as skdata

from pipelines import repair_missed


def dusty(count: int = 5) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """A pan over a photograph with dark specks (radius 2, 25 levels) on every frame, each on one frame only."""
    clean = moving_crops(skdata.astronaut(), count, (1.5, 0.5), 128, 96)
    rng = np.random.default_rng(3)
    low, drawn = [], []
    for frame in clean:
        frame, mask = frame.copy(), np.zeros(frame.shape[:2], bool)
        for _ in range(4):
            y, x = int(rng.integers(12, 84)), int(rng.integers(12, 116))
            mask[y - 2 : y + 3, x - 2 : x + 3] = True
        frame[mask] = 25
        low.append(frame)
        drawn.append(mask)
    return low, clean, drawn


def test_every_speck_is_classed_and_the_ends_are_shot_ends():
    low, clean, drawn = dusty()
    result = repair_missed.classify(low, clean, drawn)
    assert list(result) == list(repair_missed.CLASSES)
    luma = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY).astype(float) for f in (*low, *clean)]
    moved = [np.abs(a - b) for a, b in zip(luma[: len(low)], luma[len(low) :])]
    assert sum(count for count, _ in result.values()) == sum(len(repair_missed.specks(d, m, 30.0))
                                                             for d, m in zip(drawn, moved))
    assert abs(sum(share for _, share in result.values()) - 1.0) < 1e-9
    # the first and the last frame, read from one side: on this small picture most of their specks lie within
    # the margin along its edges that a shot's ends leave alone
    assert result["shot end"][0] >= 6
    middle = sum(count for count, _ in result.values()) - result["shot end"][0]
    assert result["mended"][0] >= 0.6 * middle  # dark specks on a pan: most of the middle frames' are filled


def test_a_guard_that_keeps_a_speck_is_named():
    # The same mark on every frame, held on the screen while the picture pans 8 pixels a frame: a spike against
    # the warped neighbours, which the motion guard keeps (it moves against the picture); on a slow pan it is no
    # spike at all.
    for step, kept_by in (((8.0, 2.0), "moving"), ((1.5, 0.5), "faint")):
        clean = moving_crops(skdata.astronaut(), 5, step, 128, 96)
        low, drawn = [], []
        for frame in clean:
            frame, mask = frame.copy(), np.zeros(frame.shape[:2], bool)
            mask[40:45, 60:65] = True
            frame[mask] = 250
            low.append(frame)
            drawn.append(mask)
        result = repair_missed.classify(low, clean, drawn)
        assert result["shot end"][0] == 2 and result[kept_by][0] == 3, (step, result)


def test_scratches_and_small_or_faint_pieces_are_not_specks():
    drawn = np.zeros((64, 64), bool)
    drawn[2:60, 10] = True  # a scratch
    drawn[20, 30] = True  # one pixel
    drawn[40:43, 40:43] = True  # a speck
    moved = np.full((64, 64), 50.0)
    assert [int(p.sum()) for p in repair_missed.specks(drawn, moved, 30.0)] == [9]
    assert repair_missed.specks(drawn, np.full((64, 64), 10.0), 30.0) == []
